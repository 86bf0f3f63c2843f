"""Machine-aware scheduling: the fewest cycles per update on a given physical machine.

The objective is `machine_load(...).bottleneck`: the busiest of the processors (their slices
on their own arrays), the links (every transfer charged to each link of its route) and the
DRAM channels (weights beyond a processor's SRAM). Same rules as `compute-optimal`: FP and IG
split at tile boundaries, WG whole, one contiguous chain.

Link loads depend on where the chain is cut, so the bottleneck search of `partition` is not
exact here; the search is over candidates (see docs/scheduling.md): the compute-optimal
partition on every number of used processors 1..P, greedy packings of the chain at compute
bounds from the compute optimum up to twice it, and every machine-blind scheduler's schedule.
The analytic load misses the DES's waits (a weight copy that must return before the next
forward pass, a transfer that starts late), so candidates are ranked by it and the best
`SHORTLIST` of them, together with every machine-blind scheduler's schedule, are executed in
the discrete-event model for `des_minibatches(P)` mini-batches: the simulated fastest is kept
(ties: the analytic order). So in that run machine-optimal is never slower than any other
scheduler. On the ideal machine (or `machine=None`) it is the compute-optimal schedule.
"""
from __future__ import annotations

from simulator.cost import NetworkCost
from simulator.machine import Machine

from .bounds import finegrained_bound
from .chain import free_chain
from .compute_optimal import compute_optimal
from .finegrained import finegrained
from .layerwise import layerwise
from .machine_load import machine_load
from .partition import partition, partition_at
from .pipedream import pipedream
from .slices import TaskSlice
from .split import split
from .types import Schedule

SHORTLIST = 4  # analytically best candidates executed in the DES
RELAXATIONS = 16  # greedy packings at compute bounds B* (1 + k / RELAXATIONS), k = 1..RELAXATIONS


def _homogeneous(machine: Machine, procs: int) -> bool:
    return all(machine.processor(p).array == machine.processors.array for p in range(procs))


def des_minibatches(procs: int) -> int:
    """Mini-batches of the DES runs that choose among the shortlist: past the pipeline's fill."""
    return 4 * procs + 8


def blind_placements(cost: NetworkCost, procs: int) -> list[tuple[tuple[TaskSlice, ...], ...]]:
    """The machine-blind schedulers' placements (compute-optimal first)."""
    return [f(cost, procs).processors for f in (compute_optimal, layerwise, pipedream, split, finegrained)]


def candidates(cost: NetworkCost, procs: int) -> list[tuple[tuple[TaskSlice, ...], ...]]:
    """The placements machine-optimal ranks: the machine-blind ones, the compute optimum on fewer
    processors, greedy packings at relaxed compute bounds."""
    chain = free_chain(cost)
    out = blind_placements(cost, procs)
    for used in range(procs - 1, 0, -1):
        out.append(partition(chain, used) + ((),) * (procs - used))
    top = max(sum(s.cycles for s in p) for p in out[0])
    for k in range(1, RELAXATIONS + 1):
        packed = partition_at(chain, procs, top + top * k // RELAXATIONS)
        if packed is not None:
            out.append(packed)
    return list(dict.fromkeys(out))


def machine_optimal(cost: NetworkCost, procs: int, machine: Machine | None = None) -> Schedule:
    """The simulated fastest of the analytic shortlist and the machine-blind schedules on `machine`."""
    bound = finegrained_bound(cost)
    if machine is None or (machine.ideal and _homogeneous(machine.with_processors(procs), procs)):
        return Schedule("machine-optimal", cost, compute_optimal(cost, procs).processors, bound)
    from simulator.des import simulate  # the DES executes Schedules: it imports this package

    machine = machine.with_processors(procs)
    ranked = []
    for placement in candidates(cost, procs):
        s = Schedule("machine-optimal", cost, placement, bound)
        load = machine_load(s, machine)
        ranked.append(((load.bottleneck, s.procs_used, sum(load.links.values())), len(ranked), s))
    ranked.sort()
    blind = set(blind_placements(cost, procs))
    shortlist = [s for i, (_, _, s) in enumerate(ranked) if i < SHORTLIST or s.processors in blind]
    n = des_minibatches(procs)
    return min(shortlist, key=lambda s: simulate(s, n, machine).simulated_cycles_per_update)
