"""What travels between processors per mini-batch: the one data-flow model of the pipeline.

Consumed by `Schedule.boundary_bytes`, by the discrete-event simulator (which moves exactly
these bytes) and by the functional executor (which computes the values they carry). Items,
per mini-batch (byte figures from `simulator.cost`):

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
  tiles uses only its filters; IG columns are input channels). FP and IG read the version
  their delay allows (`Schedule.delays`); the others are of the slice's own mini-batch.

A slice of a split task produces its share of the task's output in proportion to its tiles
and sends it to every other processor that reads the item; a transfer crosses every
processor boundary between its source and destination. The dataset input of layer 0 comes
from the host and crosses no boundary.

Overhead is what a schedule moves beyond its *home placement*, the same layers with all
their tasks whole on their home processor (there only `act` and `grad` cross, exactly
`NetworkCost.boundary_bytes()` per layer boundary): per boundary, the bytes above that
baseline. Weight copies alone are what the paper counts as overhead (Section V-D:
splits cost "communicating appropriate weights") and are reported separately.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Mapping, NamedTuple

from simulator.cost import NetworkCost, TaskKind

from .slices import TaskSlice

FP, WG, IG = TaskKind.FP, TaskKind.WG, TaskKind.IG


class ItemKind(str, Enum):
    """What a slice sends or keeps for other slices (see the module docstring)."""

    ACT = "act"
    STATE = "state"
    GRAD = "grad"
    WEIGHTS = "weights"


class Item(NamedTuple):
    """Item `kind` of compute layer `layer` (of one mini-batch, or one weight version)."""

    kind: ItemKind
    layer: int


ACT, STATE, GRAD, WEIGHTS = ItemKind.ACT, ItemKind.STATE, ItemKind.GRAD, ItemKind.WEIGHTS


def backward_input(layer: int, last: int) -> Item:
    """What the backward (WG, IG) of `layer` starts from: `grad layer`; the output layer's own `act`."""
    return Item(ACT, layer) if layer == last else Item(GRAD, layer)


def needs(layer: int, kind: TaskKind, last: int) -> tuple[Item, ...]:
    """Items of the same mini-batch a slice of (layer, kind) reads (weights: `weights_read`)."""
    if kind is FP:
        return (Item(ACT, layer - 1),) if layer > 0 else ()
    inputs = (Item(ACT, layer - 1),) if kind is WG and layer > 0 else ()
    state = (Item(STATE, layer),) if layer != last else ()
    return inputs + (backward_input(layer, last),) + state


def weights_read(layer: int, kind: TaskKind) -> Item | None:
    """The weights a slice of (layer, kind) reads, in the version its delay allows: FP and IG."""
    return None if kind is WG else Item(WEIGHTS, layer)


def made(layer: int, kind: TaskKind, last: int) -> tuple[Item, ...]:
    """Items a slice of (layer, kind) produces a share of."""
    if kind is FP:
        return (Item(ACT, layer),) if layer == last else (Item(ACT, layer), Item(STATE, layer))
    if kind is IG:
        return (Item(GRAD, layer - 1),) if layer > 0 else ()
    return (Item(WEIGHTS, layer),)


@dataclass(frozen=True)
class Output:
    """A share of an item produced by one slice, and where it goes."""

    item: Item
    local: bool  # the producer's own processor reads it too
    remote: tuple[tuple[int, int], ...]  # (processor, bytes) for every other reading processor
    nbytes: int  # the share's size as produced (what the local readers keep)


@dataclass(frozen=True)
class Flow:
    """The data flow of one placement of slices on processors (`Schedule.flow`)."""

    outputs: tuple[tuple[tuple[Output, ...], ...], ...]  # per processor, per slice (chain order)
    parts: Mapping[Item, int]  # arrivals that complete an item at a reader: its shares (weights come whole: 1)
    readers: Mapping[tuple[Item, int], int]  # (item, processor) -> slices there that read it

    def total_readers(self, item: Item) -> int:
        """Slices reading `item`, on all processors."""
        return sum(n for (it, _), n in self.readers.items() if it == item)


def build_flow(cost: NetworkCost, processors: tuple[tuple[TaskSlice, ...], ...]) -> Flow:
    """Who reads and makes what, and per slice the outputs it sends and keeps."""
    last = len(cost.network.compute_layers()) - 1
    tasks = {(t.layer, t.kind): t for t in cost.tasks}
    readers: Counter[tuple[Item, int]] = Counter()
    parts: Counter[Item] = Counter()
    weight_share: dict[tuple[int, int], list[float]] = {}  # (layer, proc) -> [FP share, IG share]
    for p, slices in enumerate(processors):
        for s in slices:
            weights = weights_read(s.layer, s.kind)
            for item in needs(s.layer, s.kind, last) + ((weights,) if weights is not None else ()):
                readers[item, p] += 1
            for item in made(s.layer, s.kind, last):
                parts[item] = 1 if item.kind is WEIGHTS else parts[item] + 1
            if weights is not None:
                shares = weight_share.setdefault((s.layer, p), [0.0, 0.0])
                k = 0 if s.kind is FP else 1
                shares[k] = min(1.0, shares[k] + tasks[s.layer, s.kind].grid.column_share(s.tile_start, s.tile_stop))

    def size(item: Item) -> int:
        if item.kind is ACT:
            return tasks[item.layer, FP].output_bytes
        if item.kind is STATE:
            return cost.state_bytes(item.layer)
        return tasks[item.layer + 1, IG].output_bytes  # GRAD

    out = []
    for p, slices in enumerate(processors):
        per_slice = []
        for s in slices:
            outputs = []
            for item in made(s.layer, s.kind, last):
                dests = [q for q in range(len(processors)) if readers[item, q]]
                if not dests:
                    continue
                if item.kind is WEIGHTS:
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
    return Flow(tuple(out), dict(parts), dict(readers))


class Traffic(NamedTuple):
    """Bytes per mini-batch crossing each processor boundary p|p+1."""

    total: tuple[int, ...]
    overhead: tuple[int, ...]  # the bytes above the home placement
    weights: tuple[int, ...]  # the weight copies within `total`


def boundary_traffic(flow: Flow, cost: NetworkCost, homes: tuple[int, ...]) -> Traffic:
    """What crosses each boundary of the placement `flow` was built for, `homes` its layers' homes."""
    procs = len(flow.outputs)
    total = [0] * (procs - 1)
    weights = [0] * (procs - 1)
    for p, per_slice in enumerate(flow.outputs):
        for outputs in per_slice:
            for out in outputs:
                for q, nbytes in out.remote:
                    for b in range(min(p, q), max(p, q)):
                        total[b] += nbytes
                        if out.item.kind is WEIGHTS:
                            weights[b] += nbytes
    base = [0] * (procs - 1)
    for layer, nbytes in enumerate(cost.boundary_bytes()):
        for b in range(min(homes[layer], homes[layer + 1]), max(homes[layer], homes[layer + 1])):
            base[b] += nbytes
    extra = tuple(max(0, t - b) for t, b in zip(total, base))
    return Traffic(tuple(total), extra, tuple(weights))
