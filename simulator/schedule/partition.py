"""Exact minimal-bottleneck partition of a task chain over P pipeline processors.

The chain is a list of layers; each layer offers one or more orders of its
*items*. An item is `n` equal chunks of `size` cycles: a task split only at
tile boundaries is `tiles` chunks of `cycles_per_tile`; an unsplittable unit
(a whole layer, a PipeDream backward pass, a weight gradient) is one chunk.
Processors are filled in chain order; chunks of one item may continue on the
next processor, a chunk never is cut.

Feasibility of a bottleneck `B` is decided greedily, layer by layer: from the
state `(processor, load)` every allowed order of the layer is packed greedily
(fill the processor with as many chunks as fit, then move on) and the
lexicographically smallest end state is kept. That is exact: a smaller state
dominates (whatever fits after the larger state fits after it), and greedy
packing of a fixed sequence reaches the smallest state.

Search: the answer lies in `[lower, total]`. A failed probe at `B` also says
how far `B` must grow before any processor can take one more chunk (the
smallest `load + size` of a chunk that was pushed to the next processor), so
every `B` below that is infeasible too; a successful probe gives the max load
it reached as a new upper end. Binary search with these jumps needs a handful
of O(items) probes.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator.cost import TaskCost

from .slices import TaskSlice

Order = tuple[tuple[int, int, int], ...]  # per item: (item id, chunk size, chunks)


@dataclass(frozen=True)
class Item:
    """Tasks placed as one unit; a single-task item may be `splittable` at tile boundaries."""

    tasks: tuple[TaskCost, ...]
    splittable: bool = False

    def __post_init__(self) -> None:
        assert self.tasks and (not self.splittable or len(self.tasks) == 1)

    @property
    def chunk(self) -> tuple[int, int]:
        """(chunk size in cycles, number of chunks)."""
        if self.splittable:
            return self.tasks[0].cycles_per_tile, self.tasks[0].tiles
        return sum(t.cycles for t in self.tasks), 1


@dataclass(frozen=True)
class Placement:
    """`chunks` consecutive chunks of item `item` placed on processor `proc`."""

    proc: int
    item: int
    chunks: int


def _probe(layers: list[list[Order]], procs: int, bound: int) -> tuple[bool, int, int, list[int]]:
    """Greedy feasibility of `bound`: (feasible, max load, next candidate bound, chosen order per layer)."""
    big = 1 << 62
    p, load, top = 0, 0, 0
    jump = big
    chosen: list[int] = []
    for orders in layers:
        best: tuple[int, int, int] | None = None
        best_k = -1
        for k, order in enumerate(orders):
            q, ld, mx = p, load, top
            ok = True
            for _, size, n in order:
                while True:
                    fit = (bound - ld) // size
                    if fit >= n:
                        ld += n * size
                        break
                    if fit > 0:
                        ld += fit * size
                        n -= fit
                    if ld + size < jump:
                        jump = ld + size
                    if ld > mx:
                        mx = ld
                    q += 1
                    ld = 0
                    if q >= procs:
                        ok = False
                        break
                if not ok:
                    break
            if ok and (best is None or (q, ld, mx) < best):
                best, best_k = (q, ld, mx), k
        if best is None:
            return False, 0, jump, chosen
        p, load, top = best
        chosen.append(best_k)
    return True, max(top, load), jump, chosen


def _place(layers: list[list[Order]], chosen: list[int], bound: int) -> list[Placement]:
    """The placements of the greedy packing at `bound` with the given order per layer."""
    out: list[Placement] = []
    p, load = 0, 0
    for orders, k in zip(layers, chosen):
        for item, size, n in orders[k]:
            while True:
                fit = min((bound - load) // size, n)
                if fit > 0:
                    out.append(Placement(p, item, fit))
                    load += fit * size
                    n -= fit
                if n == 0:
                    break
                p += 1
                load = 0
    return out


def min_bottleneck(layers: list[list[Order]], procs: int) -> tuple[int, list[Placement]]:
    """The minimal max load over `procs` processors and the placements that reach it."""
    total = sum(sum(size * n for _, size, n in orders[0]) for orders in layers)
    largest = max((size for orders in layers for order in orders for _, size, _ in order), default=1)
    lo = max(-(-total // procs), largest, 1)
    hi = max(total, 1)
    best_chosen: list[int] | None = None
    probe_at = lo
    while True:
        ok, reached, jump, chosen = _probe(layers, procs, probe_at)
        if ok:
            hi, best_chosen = reached, chosen
        else:
            lo = max(jump, probe_at + 1)
        if lo >= hi:
            break
        probe_at = (lo + hi) // 2
    if best_chosen is None:  # lo reached the trivially feasible total
        ok, hi, _, best_chosen = _probe(layers, procs, hi)
        assert ok
    return hi, _place(layers, best_chosen, hi)


def _numeric(layers: list[list[tuple[Item, ...]]]) -> tuple[list[Item], list[list[Order]]]:
    """The chain as item ids with (chunk size, chunks), and the items by id."""
    items: list[Item] = []
    numeric: list[list[Order]] = []
    ids: dict[int, int] = {}
    for orders in layers:
        rows = []
        for order in orders:
            row = []
            for item in order:
                key = ids.setdefault(id(item), len(items))
                if key == len(items):
                    items.append(item)
                row.append((key, *item.chunk))
            rows.append(tuple(row))
        numeric.append(rows)
    return items, numeric


def _slices(items: list[Item], placements: list[Placement], procs: int) -> tuple[tuple[TaskSlice, ...], ...]:
    out: list[list[TaskSlice]] = [[] for _ in range(procs)]
    done = [0] * len(items)
    for pl in placements:
        item = items[pl.item]
        if item.splittable:
            start = done[pl.item]
            out[pl.proc].append(TaskSlice.of(item.tasks[0], start, start + pl.chunks))
            done[pl.item] = start + pl.chunks
        else:
            out[pl.proc].extend(TaskSlice.of(t) for t in item.tasks)
    return tuple(tuple(p) for p in out)


def partition(layers: list[list[tuple[Item, ...]]], procs: int) -> tuple[tuple[TaskSlice, ...], ...]:
    """Per processor the slices of the optimal partition of the chain `layers` (orders per layer)."""
    items, numeric = _numeric(layers)
    _, placements = min_bottleneck(numeric, procs)
    return _slices(items, placements, procs)


def partition_at(layers: list[list[tuple[Item, ...]]], procs: int,
                 bound: int) -> tuple[tuple[TaskSlice, ...], ...] | None:
    """The greedy packing of the chain with at most `bound` cycles per processor (None: infeasible).

    Used processors come first; a larger `bound` packs onto fewer processors with fewer cuts."""
    items, numeric = _numeric(layers)
    ok, _, _, chosen = _probe(numeric, procs, bound)
    return _slices(items, _place(numeric, chosen, bound), procs) if ok else None
