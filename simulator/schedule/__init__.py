"""Scheduling the training tasks of one weight update onto P pipelined processors (Section V).

Every scheduler is a function `(NetworkCost, procs) -> Schedule`; the machine-aware ones
(`MACHINE_AWARE`) also take the `Machine` the schedule will run on. `make_schedule` validates
the name and `procs` first and passes the machine to those that use it.
"""
from __future__ import annotations

from typing import Callable

from simulator.cost import NetworkCost, TaskKind
from simulator.machine import Machine
from workloads import ConfigError

from .finegrained import finegrained
from .layerwise import layerwise
from .machine_optimal import machine_optimal
from .compute_optimal import compute_optimal
from .pipedream import pipedream
from .slices import TaskSlice
from .split import split
from .types import Schedule

SCHEDULERS: dict[str, Callable[..., Schedule]] = {
    "layerwise": layerwise,
    "pipedream": pipedream,
    "split": split,
    "finegrained": finegrained,
    "compute-optimal": compute_optimal,
    "machine-optimal": machine_optimal,
}
MACHINE_AWARE = frozenset({"machine-optimal"})  # called as (cost, procs, machine)
MACHINE_BLIND = tuple(name for name in SCHEDULERS if name not in MACHINE_AWARE)


def max_slices(cost: NetworkCost) -> int:
    """The most task slices a schedule can have: every FP/IG tile apart, every WG whole."""
    return sum(1 if t.kind is TaskKind.WG else t.tiles for t in cost.tasks)


def make_schedule(name: str, cost: NetworkCost, procs: int, machine: Machine | None = None) -> Schedule:
    """Run scheduler `name` for `procs` processors on `machine` (None: the paper's ideal machine;
    machine-blind schedulers ignore it); bad input raises ConfigError."""
    if name not in SCHEDULERS:
        raise ConfigError(f"scheduler: unknown {name!r}; choose from {', '.join(SCHEDULERS)}")
    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ConfigError(f"procs: must be a positive integer, got {procs!r}")
    limit = max_slices(cost)
    if procs > limit:
        raise ConfigError(f"procs: {procs} processors but network {cost.network.name} on {cost.array} "
                          f"at batch {cost.batch} has at most {limit} task slices")
    if machine is not None and not isinstance(machine, Machine):
        raise ConfigError(f"machine: expected a Machine (simulator.machine.load_machine), got {type(machine).__name__}")
    if name in MACHINE_AWARE:
        return SCHEDULERS[name](cost, procs, machine)
    return SCHEDULERS[name](cost, procs)


__all__ = ["MACHINE_AWARE", "MACHINE_BLIND", "SCHEDULERS", "Schedule", "TaskSlice", "make_schedule", "max_slices"]
