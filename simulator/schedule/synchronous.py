"""Synchronous (flush-based) pipeline schedules: GPipe, 1F1B, ZB-H1, ZB-H2 (docs/scheduling.md).

SpikePipe's own schedulers pipeline mini-batches with delayed gradients (Section V). These
baselines need no delay: a mini-batch of `B` samples is split into `m` micro-batches, the
stages run every micro-batch's ops in a fixed per-stage order, and the weights are updated
once all of the mini-batch's gradients are in (a flush). They pay in pipeline bubbles.

A stage holds whole layers (the layer-wise partition of Section V-A, computed at the
micro-batch's cost). Per micro-batch it runs three ops, named as in the papers:
F = the FP tasks of its layers, B = their IG tasks (the input gradient), W = their WG tasks.
GPipe and 1F1B do not split the backward pass: their op `BW` is B then W as one op, whose
gradient leaves for the previous stage at its end. The zero-bubble schedules split it.

Per-stage op orders (`SyncSchedule.program`), for p stages, stage s, m micro-batches:
- GPipe (Huang et al., NeurIPS 2019): F_0..F_{m-1}, then BW_0..BW_{m-1};
- 1F1B (PipeDream-Flush, Narayanan et al., ICML 2021): min(p-1-s, m) warm-up F, then F, BW
  alternating, then the remaining BW (cool-down);
- ZB-H1 (Qi et al., ICLR 2024, Section 2.1): 1F1B's warm-up; then F, B and, once p
  micro-batches are held (F done, W not), the oldest pending W; cool-down B, W; the rest W;
- ZB-H2 (Qi et al., Section 2.2): min(2(p-1-s)+1, m) warm-up F; then B, F alternating; then
  B, W alternating; the rest W (the "parallelogram").

Published time per mini-batch on uniform stages (every stage F, B, W cycles), the bubble
beyond the work m(F + B + W): GPipe and 1F1B (p-1)(F+B+W); ZB-H1 (p-1)(F+B-W); ZB-H2
(p-1)(F+B-2W), zero when F = B = W. The DES (`simulator.des.synchronous`) reproduces them
exactly where `formula_holds` says (measured in tests/test_synchronous.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import NamedTuple

from simulator.cost import ArrayConfig, NetworkCost, TaskKind, network_cost
from workloads import ConfigError, Network

from . import make_schedule


class SyncKind(str, Enum):
    """The synchronous schedules."""

    GPIPE = "gpipe"
    ONE_F_ONE_B = "1f1b"
    ZB_H1 = "zb-h1"
    ZB_H2 = "zb-h2"


class Flush(str, Enum):
    """When a stage may start the next mini-batch (its weights updated with this one's gradients).

    GLOBAL: once every stage has finished the mini-batch (a pipeline flush, as GPipe and
    1F1B do). PER_STAGE: once the stage itself has: a stage's weights are used on it alone,
    so this is still synchronous training, without a global step across stages (Qi et al.
    Section 4 replace theirs by a post-update validation).
    """

    GLOBAL = "global"
    PER_STAGE = "per-stage"


class OpKind(str, Enum):
    """An op of a stage for one micro-batch: F = FP, B = IG, W = WG, BW = IG then WG as one op."""

    F = "F"
    B = "B"
    W = "W"
    BW = "BW"


class Op(NamedTuple):
    """Op `kind` of micro-batch `micro` (0 .. m-1 within the mini-batch)."""

    kind: OpKind
    micro: int


@dataclass(frozen=True)
class StageCost:
    """One stage's layers and, per micro-batch, the cycles of its ops and the bytes it sends.

    `activation_bytes` go to the next stage after F (the FP output of its last layer);
    `gradient_bytes` go to the previous stage after B (the IG output of its first layer).
    """

    layers: tuple[int, ...]
    fp: int
    ig: int
    wg: int
    activation_bytes: int = 0
    gradient_bytes: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers or not all(isinstance(l, int) and not isinstance(l, bool) and l >= 0 for l in self.layers):
            raise ConfigError(f"stage cost: field 'layers' must be a non-empty sequence of layer indices, "
                              f"got {self.layers!r}")
        for name in ("fp", "ig", "wg", "activation_bytes", "gradient_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"stage cost: field '{name}' must be a non-negative integer, got {value!r}")

    @property
    def cycles(self) -> int:
        """F + B + W: the stage's work per micro-batch."""
        return self.fp + self.ig + self.wg

    def op_cycles(self, kind: OpKind) -> int:
        return {OpKind.F: self.fp, OpKind.B: self.ig, OpKind.W: self.wg, OpKind.BW: self.ig + self.wg}[kind]


def _gpipe(p: int, s: int, m: int) -> list[Op]:
    return [Op(OpKind.F, i) for i in range(m)] + [Op(OpKind.BW, i) for i in range(m)]


def _one_f_one_b(p: int, s: int, m: int) -> list[Op]:
    warm = min(p - 1 - s, m)
    ops = [Op(OpKind.F, i) for i in range(warm)]
    for i in range(warm, m):
        ops += [Op(OpKind.F, i), Op(OpKind.BW, i - warm)]
    return ops + [Op(OpKind.BW, i) for i in range(m - warm, m)]


def _zb_h1(p: int, s: int, m: int) -> list[Op]:
    warm = min(p - 1 - s, m)
    ops = [Op(OpKind.F, i) for i in range(warm)]
    w = 0
    for i in range(warm, m):
        ops += [Op(OpKind.F, i), Op(OpKind.B, i - warm)]
        if i + 1 - w >= p:  # p micro-batches held: run the oldest deferred W
            ops.append(Op(OpKind.W, w))
            w += 1
    for b in range(m - warm, m):
        ops += [Op(OpKind.B, b), Op(OpKind.W, w)]
        w += 1
    return ops + [Op(OpKind.W, i) for i in range(w, m)]


def _zb_h2(p: int, s: int, m: int) -> list[Op]:
    warm = min(2 * (p - 1 - s) + 1, m)
    ops = [Op(OpKind.F, i) for i in range(warm)]
    for i in range(warm, m):
        ops += [Op(OpKind.B, i - warm), Op(OpKind.F, i)]
    ops.append(Op(OpKind.B, m - warm))
    for b in range(m - warm + 1, m):
        ops += [Op(OpKind.W, b - (m - warm + 1)), Op(OpKind.B, b)]
    return ops + [Op(OpKind.W, i) for i in range(warm - 1, m)]


_PROGRAMS = {SyncKind.GPIPE: _gpipe, SyncKind.ONE_F_ONE_B: _one_f_one_b,
             SyncKind.ZB_H1: _zb_h1, SyncKind.ZB_H2: _zb_h2}


@dataclass(frozen=True)
class SyncSchedule:
    """A synchronous schedule: its kind, its stages' costs per micro-batch, `micro_batches` (m).

    `cost` is the micro-batch cost the stages come from (`make_sync_schedule`); None when the
    stage costs were given directly.
    """

    kind: SyncKind
    stages: tuple[StageCost, ...]
    micro_batches: int
    cost: NetworkCost | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, SyncKind):
            raise ConfigError(f"sync schedule: field 'kind' must be one of "
                              f"{', '.join(k.value for k in SyncKind)}, got {self.kind!r}")
        object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages or not all(isinstance(s, StageCost) for s in self.stages):
            raise ConfigError(f"sync schedule: field 'stages' must be a non-empty sequence of StageCost, "
                              f"got {self.stages!r}")
        m = self.micro_batches
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError(f"sync schedule: field 'micro_batches' must be a positive integer, got {m!r}")

    def __repr__(self) -> str:
        return (f"SyncSchedule({self.kind.value}, {self.procs} stages, {self.micro_batches} micro-batches: formula "
                f"{self.analytic_cycles():,} cycles per update, bubble {self.bubble_fraction:.1%}, "
                f"lower bound {self.lower_bound:,})")

    @property
    def procs(self) -> int:
        """p: the pipeline's stages, one per processor."""
        return len(self.stages)

    @cached_property
    def programs(self) -> tuple[tuple[Op, ...], ...]:
        """Per stage, its ops for one mini-batch in execution order."""
        build = _PROGRAMS[self.kind]
        return tuple(tuple(build(self.procs, s, self.micro_batches)) for s in range(self.procs))

    @property
    def delays(self) -> tuple[int, ...]:
        """Per layer, the gradient delay in mini-batches: none, the update precedes the next forward pass."""
        return tuple(0 for stage in self.stages for _ in stage.layers)

    @property
    def loads(self) -> tuple[int, ...]:
        """Per stage, its cycles of work per mini-batch: m (F_s + B_s + W_s)."""
        return tuple(self.micro_batches * s.cycles for s in self.stages)

    @property
    def lower_bound(self) -> int:
        """No order runs a mini-batch faster than its most loaded stage: max_s m (F_s + B_s + W_s)."""
        return max(self.loads)

    @property
    def op_cycles(self) -> tuple[int, int, int]:
        """(F, B, W) of the formulas: each the largest over the stages (the stages' own if uniform)."""
        return (max(s.fp for s in self.stages), max(s.ig for s in self.stages), max(s.wg for s in self.stages))

    @property
    def uniform(self) -> bool:
        """Every stage has the same F, B and W."""
        return len({(s.fp, s.ig, s.wg) for s in self.stages}) == 1

    @property
    def bubble(self) -> int:
        """The published bubble per mini-batch (Qi et al. Table 2; GPipe, 1F1B: (p-1)(F+B+W))."""
        f, b, w = self.op_cycles
        n = self.procs - 1
        return {SyncKind.GPIPE: n * (f + b + w), SyncKind.ONE_F_ONE_B: n * (f + b + w),
                SyncKind.ZB_H1: n * (f + b - w), SyncKind.ZB_H2: max(0, n * (f + b - 2 * w))}[self.kind]

    @property
    def published_flush(self) -> Flush:
        """The flush the published time assumes: ZB-H2's zero bubble needs no global flush (Qi et al. Section 4)."""
        return Flush.PER_STAGE if self.kind is SyncKind.ZB_H2 else Flush.GLOBAL

    def analytic_cycles(self, flush: Flush | None = None) -> int:
        """Cycles per mini-batch: m (F + B + W) plus the bubble (`op_cycles`, `bubble`).

        Exact on uniform stages where `formula_holds`; else, where it holds for `op_cycles`,
        an upper bound: the stage orders are fixed, so every op's finish time is a max-plus
        expression of the op cycles, monotone in them. For ZB-H2 under a global flush the
        stages' skew adds up: its bubble is then (p-1) max(F, F+B-2W) (ours, measured; with
        F = B = W that is (p-1) F, not zero). Other kinds: the same under both flushes.
        """
        flush = self.published_flush if flush is None else Flush(flush)
        f, b, w = self.op_cycles
        bubble = self.bubble
        if self.kind is SyncKind.ZB_H2 and flush is Flush.GLOBAL:
            bubble = (self.procs - 1) * max(f, f + b - 2 * w)
        return self.micro_batches * (f + b + w) + bubble

    @property
    def bubble_fraction(self) -> float:
        """The share of the published time per mini-batch a stage of `op_cycles` idles."""
        total = self.analytic_cycles()
        return self.bubble / total if total else 0.0

    @property
    def formula_holds(self) -> bool:
        """Where the published time is exact for uniform stages of `op_cycles` (measured, all flushes).

        GPipe, 1F1B: always. ZB-H1: m >= p and W <= min(F, B) (the deferred W fit the gaps).
        ZB-H2: m >= 2p - 1 (warm-up long enough), B <= F and 2W <= F + B.
        """
        f, b, w = self.op_cycles
        m, p = self.micro_batches, self.procs
        if self.kind is SyncKind.ZB_H1:
            return m >= p and w <= min(f, b)
        if self.kind is SyncKind.ZB_H2:
            return m >= 2 * p - 1 and b <= f and 2 * w <= f + b
        return True


def stage_costs(cost: NetworkCost, procs: int) -> tuple[StageCost, ...]:
    """The stages of the layer-wise partition (Section V-A) of `cost` over `procs` processors.

    Idle processors are not stages. F, B, W sum the FP, IG, WG tasks of the stage's layers.
    """
    used = [slices for slices in make_schedule("layerwise", cost, procs).processors if slices]
    stages = []
    for k, slices in enumerate(used):
        layers = tuple(sorted({s.layer for s in slices}))
        cycles = {kind: sum(s.cycles for s in slices if s.kind is kind) for kind in TaskKind}
        stages.append(StageCost(
            layers, cycles[TaskKind.FP], cycles[TaskKind.IG], cycles[TaskKind.WG],
            activation_bytes=cost.task(layers[-1], TaskKind.FP).output_bytes if k + 1 < len(used) else 0,
            gradient_bytes=cost.task(layers[0], TaskKind.IG).output_bytes if k > 0 else 0))
    return tuple(stages)


def make_sync_schedule(kind: SyncKind | str, net: Network, array: ArrayConfig | str, batch: int, procs: int,
                       micro_batches: int) -> SyncSchedule:
    """Schedule `kind` for `net` on `procs` processors: mini-batch `batch` in `micro_batches` micro-batches.

    Costs are those of one micro-batch (`network_cost(net, array, batch // micro_batches)`).
    """
    try:
        kind = SyncKind(kind)
    except ValueError:
        raise ConfigError(f"sync schedule: unknown kind {kind!r}; choose from "
                          f"{', '.join(k.value for k in SyncKind)}") from None
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch: must be a positive integer, got {batch!r}")
    if isinstance(micro_batches, bool) or not isinstance(micro_batches, int) or micro_batches < 1 \
            or batch % micro_batches:
        raise ConfigError(f"micro_batches: must be a positive divisor of batch {batch}, got {micro_batches!r}")
    cost = network_cost(net, array, batch // micro_batches)
    return SyncSchedule(kind, stage_costs(cost, procs), micro_batches, cost)
