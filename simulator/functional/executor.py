"""`PipelineExecutor`: the numerics of every slice the discrete-event model runs (functional mode).

The DES (`simulator.des.simulate(..., executor=)`) calls `run` when a slice starts, with the
payloads of the items the slice waited for; what `run` returns travels with the items the
slice produces (over the bus model, to the processors that consume them).

- FP slice of mini-batch b: the layer's FP on weight version `b - 1 - D_l` (whole task:
  `models.snn.layer_fp`; split: its tiles' rows, `shares`).
- WG slice (never split): joins its inputs, computes dL/dW and dL/db (eq. 13) and applies the
  optimizer to the layer's master weights, which live on its processor; the new weights are
  its payload (version b), sent to the processors holding the layer's FP or IG.
- IG slice: the transposed GEMM (eq. 12) of its rows; the gradient filter of the layer below
  runs where that layer's state is (its WG and IG), on the joined dL/ds.

Every FP also counts the ones among the spikes its layer reads (once per layer and mini-batch):
`activity()` is their density per layer over the run so far, which the DES prices the energy
of spike-gated accumulates with (a layer fed with real values, currents, counts as dense).

Weight versions (`weights`): with ``"stash"`` FP and IG of mini-batch b both use version
`b - 1 - D_l` (the version the DES waits for; the processor keeps every version still to be
used: weight stashing). With ``"latest"`` each processor keeps one copy, overwritten when a
new version arrives: FP and IG use the newest version there when they start, so the backward
pass of a delayed mini-batch sees newer weights than its forward pass did.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from models import snn
from models.layers import softmax_cross_entropy
from models.neuron import accumulator_backward
from models.optim import Adam, SGD, update_layer
from models.train import MAX_LOSS, TrainingDiverged, loss_diverged
from simulator.cost import TaskKind
from simulator.energy import Activity
from simulator.des.steps import SliceStep
from simulator.schedule import Schedule
from simulator.schedule.dataflow import ACT, GRAD, STATE, Item, backward_input, made
from workloads import ConfigError

from . import shares as S
from .emulate import EmulationRecord, emulate_fp, emulate_ig

WEIGHT_POLICIES = ("stash", "latest")
Batch = tuple[np.ndarray, bool, np.ndarray]  # network input, static?, labels


@dataclass
class PipelineExecutor:
    """Slice numerics for one functional run; collects losses, weight snapshots and emulation checks.

    `data(b)` gives mini-batch b's input and labels; `snapshots` lists, per layer, the weight
    versions to keep a copy of (for evaluation); `emulate` the task labels (e.g. "FP0") to run
    through the cycle-level array emulation for the first `emulate_batches` mini-batches.
    """

    schedule: Schedule
    params: snn.Params  # initial weights (version -1); never modified
    optimizer: SGD | Adam
    data: Callable[[int], Batch]
    weights: str = "stash"
    snapshots: tuple[frozenset[int], ...] = ()
    emulate: frozenset[str] = frozenset()
    emulate_batches: int = 2
    max_loss: float = MAX_LOSS
    losses: dict[int, tuple[float, int]] = field(default_factory=dict)
    kept: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    emulated: list[EmulationRecord] = field(default_factory=list)
    spikes: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (layer, batch) -> ones, spikes

    def __post_init__(self) -> None:
        if self.weights not in WEIGHT_POLICIES:
            raise ConfigError(f"functional: field 'weights' must be one of {', '.join(WEIGHT_POLICIES)}, "
                              f"got {self.weights!r}")
        cost = self.schedule.cost
        self.net = cost.network
        self.layers = self.net.compute_layers()
        self.batch = cost.batch
        for p, slices in enumerate(self.schedule.processors):
            for sl in slices:
                if sl.kind is TaskKind.WG and not sl.whole:
                    raise ConfigError(f"functional: {sl.label} on processor {p} splits a weight gradient; "
                                      "the master weights need the whole gradient")
        labels = {t.label for t in cost.tasks}
        unknown = sorted(set(self.emulate) - labels)
        if unknown or any(lbl.startswith("WG") for lbl in self.emulate):
            raise ConfigError(f"functional: --emulate takes FP or IG tasks of this schedule ({', '.join(sorted(labels))})"
                              f", got {', '.join(sorted(self.emulate))}")
        self.master = [(w.copy(), b.copy()) for w, b in self.params]
        self.delays = self.schedule.delays
        self._inputs: dict[int, Batch] = {}
        self._geometry: dict[tuple[int, TaskKind, int], S.Geometry] = {}
        self._slices = {(p, sl.label): sl for p, slices in enumerate(self.schedule.processors) for sl in slices}
        # Joins are memoised per mini-batch (identical wherever computed) and dropped after their last
        # use, counted from the data flow: layer l's FP output (key `act l`) by the readers of `act l`
        # in layer l + 1 and once by layer l's backward, which joins it (as `state l`, or the output
        # layer's `act l`) for all its slices; its dL/di_in (key `grad l`, filtered) by every reader
        # of the layer's backward input.
        flow, last = self.schedule.flow, len(self.layers) - 1
        self._uses: dict[Item, int] = {}
        for layer in range(last + 1):
            back = backward_input(layer, last)
            self._uses[Item(GRAD, layer)] = flow.total_readers(back)
            self._uses[Item(ACT, layer)] = 1 + (flow.total_readers(Item(ACT, layer)) if back.kind is not ACT else 0)
        self._joins: dict[tuple[Item, int], list] = {}

    # -- helpers -----------------------------------------------------------------------------
    def _input(self, batch: int) -> Batch:
        if batch not in self._inputs:
            self._inputs[batch] = self.data(batch)
        return self._inputs[batch]

    def _weights(self, step: SliceStep, batch: int, lookup: Callable[[int], object]) -> tuple[np.ndarray, np.ndarray]:
        version = batch - 1 - self.delays[step.layer]
        if self.weights == "latest":
            while lookup(version + 1) is not None:
                version += 1
        if version < 0:
            return self.params[step.layer]
        found = lookup(version)
        if found is None:
            raise RuntimeError(f"weights {step.layer} version {version} missing on processor {step.proc}")
        return found

    def _geo(self, step: SliceStep, start: int, stop: int) -> S.Geometry:
        key = (step.layer, step.kind, start)
        if key not in self._geometry:
            task = self.schedule.cost.task(step.layer, step.kind)
            self._geometry[key] = S.geometry(self.layers[step.layer], task, self.net.timesteps, self.batch,
                                             start, stop)
        return self._geometry[key]

    def _layer_input(self, layer: int, batch: int, inputs: dict) -> tuple[np.ndarray, bool]:
        if layer == 0:
            x, static, _ = self._input(batch)
            return x, static
        return self._join_fp(Item(ACT, layer - 1), batch, inputs).sent, False

    def _memo(self, item: Item, batch: int, make: Callable[[], object]):
        key = (item, batch)
        entry = self._joins.get(key)
        if entry is None:
            entry = self._joins[key] = [make(), self._uses[item]]
        entry[1] -= 1
        if entry[1] == 0:
            del self._joins[key]
        return entry[0]

    def _join_fp(self, item: Item, batch: int, inputs: dict) -> snn.LayerState:
        """The FP output of `item.layer` from the shares of `item` (its act or state: the same payloads)."""
        return self._memo(Item(ACT, item.layer), batch,
                          lambda: S.join_fp(self.layers[item.layer], inputs[item], self.net.timesteps, self.batch,
                                            self.net.neuron))

    def _g_current(self, layer: int, batch: int, inputs: dict) -> np.ndarray:
        """dL/di_in of `layer` for its WG and IG slices."""
        return self._memo(Item(GRAD, layer), batch, lambda: self._filtered(layer, batch, inputs))

    def _filtered(self, layer: int, batch: int, inputs: dict) -> np.ndarray:
        lay, t = self.layers[layer], self.net.timesteps
        if layer == len(self.layers) - 1:
            logits = self._join_fp(Item(ACT, layer), batch, inputs).v_m[-1]
            y = self._input(batch)[2]
            loss, g_logits = softmax_cross_entropy(logits, y)  # eq. 7, 20
            self.losses[batch] = (loss, int((logits.argmax(1) == y).sum()))
            what = loss_diverged(loss, self.max_loss)
            if what is not None:  # stop as the trainer does (`models.train`)
                raise TrainingDiverged(f"loss {what} at mini-batch {batch + 1} of the functional simulation; "
                                       "try a smaller --lr")
            return accumulator_backward(g_logits.reshape(-1), t).reshape((t, self.batch) + tuple(lay.out_shape))  # eq. 19
        state = self._join_fp(Item(STATE, layer), batch, inputs)
        g_sent = S.join_ig(self.layers[layer + 1], inputs[Item(GRAD, layer)], t, self.batch)
        return snn.grad_filter(lay, state, g_sent, self.net.neuron)  # eq. 17, 22, 23

    def activity(self) -> Activity | None:
        """Density of the spikes each compute layer read over the mini-batches run so far (1.0:
        a layer fed with real values); None before any FP ran."""
        if not self.spikes:
            return None
        totals = [[0, 0] for _ in self.layers]
        for (layer, _), (ones, size) in self.spikes.items():
            totals[layer][0] += ones
            totals[layer][1] += size
        return Activity(tuple(ones / size if size else 1.0 for ones, size in totals),
                        f"measured on the fly ({len(self.spikes)} layer mini-batches of the functional run)")

    # -- the hook --------------------------------------------------------------------------
    def run(self, step: SliceStep, batch: int, inputs: dict, weights: Callable[[int], object]) -> dict:
        layer, kind = self.layers[step.layer], step.kind
        sl = self._slices[step.proc, step.label]
        n, t = self.net.neuron, self.net.timesteps
        emulate = sl.task_label in self.emulate and batch < self.emulate_batches
        outputs = made(step.layer, kind, len(self.layers) - 1)
        if kind is TaskKind.FP:
            w, b = self._weights(step, batch, weights)
            x, static = self._layer_input(step.layer, batch, inputs)
            if not static and (step.layer, batch) not in self.spikes:
                self.spikes[step.layer, batch] = (int(np.count_nonzero(x)), int(x.size))
            if sl.whole and not emulate:
                st = snn.layer_fp(layer, w, b, x, t, n, static=static)
                return dict.fromkeys(outputs, st)
            geo = self._geo(step, sl.tile_start, sl.tile_stop)
            b0, b1 = geo.samples
            current = S.fp_currents(layer, w, b, x[b0:b1] if static else x[:, b0:b1], t, static)
            share = S.fp_share(layer, geo, current, n)
            if emulate:
                share = emulate_fp(layer, geo, sl, batch, self.schedule.cost.array, x, static, w, b, t, n,
                                   share, current, self.emulated)
            return dict.fromkeys(outputs, share)
        g = self._g_current(step.layer, batch, inputs)
        if kind is TaskKind.IG:
            w, _ = self._weights(step, batch, weights)
            if sl.whole and not emulate:
                return dict.fromkeys(outputs, snn.ig_gemm(layer, w, g)) if outputs else {}  # IG0 makes nothing
            geo = self._geo(step, sl.tile_start, sl.tile_stop)
            share = S.ig_share(layer, geo, w, g)
            if emulate:
                share = emulate_ig(layer, geo, sl, batch, self.schedule.cost.array, w, g, t, share, self.emulated)
            return dict.fromkeys(outputs, share)
        x, static = self._layer_input(step.layer, batch, inputs)
        if step.layer == 0:
            del self._inputs[batch]  # WG0 is the input's last user
        gw, gb = snn.layer_wg(layer, x, g, static=static)  # eq. 13
        mw, mb = self.master[step.layer]
        update_layer(self.optimizer, step.layer, mw, mb, gw, gb)  # eq. 24 / 25
        new = (mw.copy(), mb.copy())
        if self.snapshots and batch in self.snapshots[step.layer]:
            self.kept[step.layer, batch] = new
        return dict.fromkeys(outputs, new)
