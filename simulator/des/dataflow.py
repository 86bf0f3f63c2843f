"""What each task slice of a schedule needs, produces and sends: the data-flow of training.

Pure functions over a `Schedule`; the discrete-event model only executes the result.

Items, per mini-batch (bytes from `simulator.cost`):
- `act l`: what FP of layer l sends (its spikes after pooling; the logits for the output
  layer). Needed by FP and WG of layer l + 1; for the output layer by its own WG and IG,
  which start from the loss gradient (eq. 19-20).
- `state l`: what FP of layer l keeps for its backward pass (2-bit state). Needed by WG and
  IG of layer l, whose gradient filter (eq. 17, 23) it gates.
- `grad l`: dL/dv_sp of what layer l sends, written by IG of layer l + 1. Needed by WG and
  IG of layer l.
- `weights l`: layer l's weights after an update, written by its WG (where the update
  happens) and sent to the processors holding its FP or IG.

A split task's slices each produce their share of the task's output (in proportion to
their tiles); a consumer waits for every share.

Timing (the retimed DFG of Fig. 9): processors run in steps; in step s processor p runs its
forward slices for mini-batch s - p and its backward slices for mini-batch
s - (2P - 2 - p), forward slices first, each group in data-flow order. Every cross-processor
dependency then points to an earlier step, so the pipeline never deadlocks and, with free
transfers, settles at the most loaded processor's cycles per update. FP and IG of layer l
for mini-batch b use the weights updated with the gradients of mini-batches up to
b - 1 - D_l (`Schedule.delays`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from simulator.cost import TaskKind

FP, WG, IG = TaskKind.FP, TaskKind.WG, TaskKind.IG

Item = tuple[str, int]  # ("act" | "state" | "grad" | "weights", layer)


@dataclass(frozen=True)
class Output:
    """A share of an item produced by one slice and where it must go."""

    item: Item
    nbytes: int
    remote: tuple[int, ...]  # processors other than the producer that consume it
    local: bool  # the producer's own processor consumes it too


@dataclass(frozen=True)
class SliceStep:
    """One slice on one processor, with its place in the step order and its data-flow."""

    proc: int
    label: str
    layer: int
    kind: TaskKind
    cycles: int
    offset: int  # runs for mini-batch `step - offset`
    needs: tuple[Item, ...]  # data items of the same mini-batch
    weights: int | None  # layer whose weights (version b - 1 - D) it needs, or None
    outputs: tuple[Output, ...]


@dataclass(frozen=True)
class Dataflow:
    """The per-processor step programs and the item bookkeeping of one schedule."""

    procs: int
    programs: tuple[tuple[SliceStep, ...], ...]
    parts: dict[Item, int]  # how many shares make up an item
    consumers: dict[tuple[Item, int], int]  # (item, proc) -> slices on proc that consume it
    weight_bytes: tuple[int, ...]  # per layer: the weights a processor holding the layer keeps
    delays: tuple[int, ...]
    wg_slices: int  # WG slices per mini-batch (one update completes when all are done)


def _share(total: int, start: int, stop: int, n: int) -> int:
    """Bytes of tiles [start, stop) of n when `total` bytes are spread over the tiles."""
    return total * stop // n - total * start // n


def build_dataflow(schedule) -> Dataflow:
    """Derive the data-flow of `schedule` (a `simulator.schedule.Schedule`)."""
    cost = schedule.cost
    layers = cost.network.compute_layers()
    last = len(layers) - 1
    procs = schedule.procs
    holders: dict[tuple[int, TaskKind], list[int]] = defaultdict(list)
    for p, slices in enumerate(schedule.processors):
        for sl in slices:
            if p not in holders[sl.layer, sl.kind]:
                holders[sl.layer, sl.kind].append(p)

    def consumers_of(item: Item) -> list[tuple[int, TaskKind]]:
        kind, l = item
        if kind == "act":
            return [(l, WG), (l, IG)] if l == last else [(l + 1, FP), (l + 1, WG)]
        if kind in ("state", "grad"):
            return [(l, WG), (l, IG)]
        return [(l, FP), (l, IG)]  # weights

    def item_bytes(item: Item) -> int:
        kind, l = item
        if kind == "act":
            return cost.task(l, FP).output_bytes
        if kind == "state":
            return cost.state_bytes(l)
        if kind == "grad":
            return cost.task(l + 1, IG).output_bytes
        return cost.task(l, FP).weight_bytes

    consumers: dict[tuple[Item, int], int] = defaultdict(int)
    for p, slices in enumerate(schedule.processors):
        for sl in slices:
            for item in _needs(sl.layer, sl.kind, last):
                consumers[item, p] += 1

    def outputs(p: int, sl) -> tuple[Output, ...]:
        task = cost.task(sl.layer, sl.kind)
        outs = []
        for item in _made(sl.layer, sl.kind, last):
            dests = sorted({q for key in consumers_of(item) for q in holders.get(key, ())})
            if not dests:
                continue
            nbytes = item_bytes(item)
            if item[0] != "weights":
                nbytes = _share(nbytes, sl.tile_start, sl.tile_stop, task.tiles)
            outs.append(Output(item, nbytes, tuple(q for q in dests if q != p), p in dests))
        return tuple(outs)

    programs = []
    for p, slices in enumerate(schedule.processors):
        fwd = sorted((sl for sl in slices if sl.kind is FP), key=lambda s: (s.layer, s.tile_start))
        bwd = sorted((sl for sl in slices if sl.kind is not FP),
                     key=lambda s: (-s.layer, s.kind is WG, s.tile_start))
        program = []
        for sl, offset in [(s, p) for s in fwd] + [(s, 2 * procs - 2 - p) for s in bwd]:
            program.append(SliceStep(
                proc=p, label=sl.label, layer=sl.layer, kind=sl.kind, cycles=sl.cycles, offset=offset,
                needs=_needs(sl.layer, sl.kind, last),
                weights=sl.layer if sl.kind in (FP, IG) else None,
                outputs=outputs(p, sl)))
        programs.append(tuple(program))
    parts: dict[Item, int] = defaultdict(int)
    for p, slices in enumerate(schedule.processors):
        for sl in slices:
            for out in _made(sl.layer, sl.kind, last):
                parts[out] += 1
    weight_bytes = tuple(cost.task(l.index, FP).weight_bytes for l in layers)
    wg_slices = sum(1 for slices in schedule.processors for sl in slices if sl.kind is WG)
    return Dataflow(procs, tuple(programs), dict(parts), dict(consumers), weight_bytes,
                    tuple(schedule.delays), wg_slices)


def _needs(layer: int, kind: TaskKind, last: int) -> tuple[Item, ...]:
    """Data items of the same mini-batch a slice of (layer, kind) waits for."""
    if kind is FP:
        return (("act", layer - 1),) if layer > 0 else ()
    own = (("act", layer),) if layer == last else (("grad", layer),)
    inputs = (("act", layer - 1),) if kind is WG and layer > 0 else ()
    state = (("state", layer),) if layer != last else ()
    return inputs + own + state


def _made(layer: int, kind: TaskKind, last: int) -> tuple[Item, ...]:
    """Items a slice of (layer, kind) produces a share of."""
    if kind is FP:
        return (("act", layer),) if layer == last else (("act", layer), ("state", layer))
    if kind is IG:
        return (("grad", layer - 1),) if layer > 0 else ()
    return (("weights", layer),)
