"""Fine-grained scheduling, the paper's Algorithm 1 (Section V-D), both directions, best kept.

Our reading of the pseudo-code (its lines 22-40 are garbled; NOTES.md):
- first-to-last visits layer 0 to L-1, each in the order IG, WG, FP, and fills
  processors 0, 1, ...; last-to-first visits layer L-1 to 0, each in the order
  FP, IG, WG, and fills processors P-1, P-2, ... (so along the pipeline a
  layer reads WG, IG, FP);
- every processor is filled up to `N_ideal = N_total / P`: a task that fits
  is placed whole; FP and IG are otherwise split at a tile boundary, as many
  tiles as fit staying, the rest going to the next processor; a WG is placed
  whole if at least half of it fits (the processor may then exceed
  `N_ideal`), otherwise it goes whole to the next processor;
- the last processor (in allocation order) is bounded like the others, except
  that it takes whatever remains of the last layer visited: lines 35-37 end
  the allocation when the last processor is reached in the last layer. If
  tasks of an earlier layer do not fit on it, `N_ideal` grows by
  `alpha = 1.1` and the allocation restarts (lines 38-40).
Bounding the last processor for every layer instead gives 12,908 cycles for
MNIST at P = 4 (paper: 11,900); this reading gives 11,766. docs/scheduling.md
compares the readings over Table VII.
"""
from __future__ import annotations

from simulator.cost import NetworkCost, TaskCost, TaskKind

from .bounds import finegrained_bound
from .chain import layer_tasks
from .slices import TaskSlice
from .types import Schedule

ALPHA = 1.1
FIRST_TO_LAST = (TaskKind.IG, TaskKind.WG, TaskKind.FP)
LAST_TO_FIRST = (TaskKind.FP, TaskKind.IG, TaskKind.WG)


def _allocate(seq: list[TaskCost], procs: int, n_ideal: float) -> list[list[tuple[TaskCost, int]]] | None:
    """Tiles of each task per processor (in allocation order), or None if the processors run out."""
    out: list[list[tuple[TaskCost, int]]] = [[] for _ in range(procs)]
    alloc = [0] * procs
    last_layer = seq[-1].layer
    p = 0
    for task in seq:
        left = task.tiles
        while left:
            room = n_ideal - alloc[p]
            rest = p == procs - 1 and task.layer == last_layer
            if rest or left * task.cycles_per_tile <= room or (task.kind is TaskKind.WG and task.cycles / 2 <= room):
                out[p].append((task, left))
                alloc[p] += left * task.cycles_per_tile
                break
            if task.kind is not TaskKind.WG:
                fit = int(room // task.cycles_per_tile) if room > 0 else 0
                if fit:
                    out[p].append((task, fit))
                    alloc[p] += fit * task.cycles_per_tile
                    left -= fit
            p += 1
            if p == procs:
                return None
    return out


def _run(cost: NetworkCost, procs: int, reverse: bool) -> tuple[tuple[TaskSlice, ...], ...]:
    """One direction of Algorithm 1, relaxing N_ideal by ALPHA until everything is allocated."""
    layers = layer_tasks(cost)
    if reverse:
        seq = [tasks[k] for tasks in reversed(layers) for k in LAST_TO_FIRST if k in tasks]
    else:
        seq = [tasks[k] for tasks in layers for k in FIRST_TO_LAST if k in tasks]
    n_ideal = cost.total / procs
    while (alloc := _allocate(seq, procs, n_ideal)) is None:
        n_ideal *= ALPHA
    if reverse:  # allocation order runs from the last processor; lay it out along the pipeline
        alloc = [list(reversed(p)) for p in reversed(alloc)]
    done: dict[tuple[int, TaskKind], int] = {}
    out = []
    for placed in alloc:
        slices = []
        for task, tiles in placed:
            start = done.get((task.layer, task.kind), 0)
            slices.append(TaskSlice.of(task, start, start + tiles))
            done[(task.layer, task.kind)] = start + tiles
        out.append(tuple(slices))
    return tuple(out)


def finegrained(cost: NetworkCost, procs: int) -> Schedule:
    """Algorithm 1: the better of first-to-last and last-to-first (ties: first-to-last)."""
    bound = finegrained_bound(cost)
    forward = Schedule("finegrained", cost, _run(cost, procs, False), bound)
    backward = Schedule("finegrained", cost, _run(cost, procs, True), bound)
    return backward if backward.cycles_per_update < forward.cycles_per_update else forward
