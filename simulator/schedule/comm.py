"""What travels between processors per mini-batch: the data-flow of a schedule.

One model, consumed by `Schedule.boundary_bytes` and by the discrete-event simulator (which
moves exactly these bytes). Items, per mini-batch (byte figures from `simulator.cost`):

- `act l`: what FP of layer l sends (its spikes after pooling; the logits for the output
  layer). Needed by FP and WG of layer l + 1; for the output layer by its own WG and IG,
  which start from the loss gradient (eq. 19-20).
- `state l`: what FP of a spiking layer l keeps for its backward pass (2-bit state per neuron
  and timestep). Needed by WG and IG of layer l, whose gradient filter (eq. 17, 23) it gates.
- `grad l`: dL/dv_sp of what layer l sends, written by IG of layer l + 1. Needed by WG and IG
  of layer l.
- `weights l`: layer l's weights after an update, written by its WG (where the update
  happens: the layer's *home*) and copied to the other processors holding its FP or IG
  slices -- as much of them as those slices' column tiles use (an FP slice within one row of
  tiles uses only its filters; IG columns are input channels).

A slice of a split task produces its share of the task's output in proportion to its tiles
and sends it to every other processor that consumes the item; a transfer crosses every
processor boundary between its source and destination. The dataset input of layer 0 comes
from the host and crosses no boundary.

Overhead is what a schedule moves beyond its *home placement*, the same layers with all
their tasks whole on their home processor (there only `act` and `grad` cross, exactly
`NetworkCost.boundary_bytes()` per layer boundary): per boundary, the bytes above that
baseline. Weight copies alone are what the paper counts as overhead (Section V-D:
splits cost "communicating appropriate weights") and are reported separately.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.cost import TaskKind

if TYPE_CHECKING:
    from .slices import TaskSlice
    from .types import Schedule

FP, WG, IG = TaskKind.FP, TaskKind.WG, TaskKind.IG

Item = tuple[str, int]  # ("act" | "state" | "grad" | "weights", layer)


@dataclass(frozen=True)
class Output:
    """A share of an item produced by one slice, and where it goes."""

    item: Item
    local: bool  # the producer's own processor consumes it too
    remote: tuple[tuple[int, int], ...]  # (processor, bytes) for every other consumer processor
    nbytes: int  # the share's size as produced (what the local consumers keep)


def needs(layer: int, kind: TaskKind, last: int) -> tuple[Item, ...]:
    """Data items of the same mini-batch a slice of (layer, kind) waits for (weights aside)."""
    if kind is FP:
        return (("act", layer - 1),) if layer > 0 else ()
    own = (("act", layer),) if layer == last else (("grad", layer),)
    inputs = (("act", layer - 1),) if kind is WG and layer > 0 else ()
    state = (("state", layer),) if layer != last else ()
    return inputs + own + state


def made(layer: int, kind: TaskKind, last: int) -> tuple[Item, ...]:
    """Items a slice of (layer, kind) produces a share of."""
    if kind is FP:
        return (("act", layer),) if layer == last else (("act", layer), ("state", layer))
    if kind is IG:
        return (("grad", layer - 1),) if layer > 0 else ()
    return (("weights", layer),)


def _consumers(item: Item, last: int) -> tuple[tuple[int, TaskKind], ...]:
    kind, l = item
    if kind == "act":
        return ((l, WG), (l, IG)) if l == last else ((l + 1, FP), (l + 1, WG))
    if kind in ("state", "grad"):
        return ((l, WG), (l, IG))
    return ((l, FP), (l, IG))


def column_share(s: TaskSlice, col_tiles: int) -> float:
    """Share of the task's columns a slice covers: all of them once it spans a row of tiles."""
    first_row, last_row = s.tile_start // col_tiles, (s.tile_stop - 1) // col_tiles
    return 1.0 if first_row != last_row else s.tiles / col_tiles


def slice_outputs(schedule: Schedule) -> tuple[tuple[tuple[Output, ...], ...], ...]:
    """Per processor, per slice (in chain order), the outputs it sends and keeps."""
    cost = schedule.cost
    last = len(cost.network.compute_layers()) - 1
    tasks = {(t.layer, t.kind): t for t in cost.tasks}
    holders: dict[tuple[int, TaskKind], set[int]] = {}
    weight_share: dict[tuple[int, int], list[float]] = {}  # (layer, proc) -> [FP share, IG share]
    for p, slices in enumerate(schedule.processors):
        for s in slices:
            holders.setdefault((s.layer, s.kind), set()).add(p)
            if s.kind is not WG:
                shares = weight_share.setdefault((s.layer, p), [0.0, 0.0])
                k = 0 if s.kind is FP else 1
                shares[k] = min(1.0, shares[k] + column_share(s, tasks[s.layer, s.kind].col_tiles))

    def size(item: Item) -> int:
        kind, l = item
        if kind == "act":
            return tasks[l, FP].output_bytes
        if kind == "state":
            return cost.state_bytes(l)
        return tasks[l + 1, IG].output_bytes  # grad

    out = []
    for p, slices in enumerate(schedule.processors):
        per_slice = []
        for s in slices:
            outputs = []
            for item in made(s.layer, s.kind, last):
                dests = sorted({q for key in _consumers(item, last) for q in holders.get(key, ())})
                if not dests:
                    continue
                if item[0] == "weights":
                    full = tasks[s.layer, FP].weight_bytes
                    remote = []
                    for q in dests:
                        if q != p:
                            a, b = weight_share[s.layer, q]
                            remote.append((q, round(full * (1.0 - (1.0 - a) * (1.0 - b)))))
                    outputs.append(Output(item, p in dests, tuple(remote), full))
                    continue
                task = tasks[s.layer, s.kind]
                total = size(item)
                share = total * s.tile_stop // task.tiles - total * s.tile_start // task.tiles
                outputs.append(Output(item, p in dests, tuple((q, share) for q in dests if q != p), share))
            per_slice.append(tuple(outputs))
        out.append(tuple(per_slice))
    return tuple(out)


def boundary_traffic(schedule: Schedule) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Per boundary p|p+1 and mini-batch: all bytes, the overhead within them, and the weight copies."""
    total = [0] * (schedule.procs - 1)
    weights = [0] * (schedule.procs - 1)
    for p, per_slice in enumerate(slice_outputs(schedule)):
        for outputs in per_slice:
            for out in outputs:
                for q, nbytes in out.remote:
                    for b in range(min(p, q), max(p, q)):
                        total[b] += nbytes
                        if out.item[0] == "weights":
                            weights[b] += nbytes
    base = [0] * (schedule.procs - 1)
    homes = schedule.homes
    for layer, nbytes in enumerate(schedule.cost.boundary_bytes()):
        for b in range(min(homes[layer], homes[layer + 1]), max(homes[layer], homes[layer + 1])):
            base[b] += nbytes
    extra = tuple(max(0, t - b) for t, b in zip(total, base))
    return tuple(total), extra, tuple(weights)
