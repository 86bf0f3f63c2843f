"""Scheduling the training tasks of one weight update onto P pipelined processors (Section V).

Every scheduler is a function `(NetworkCost, procs) -> Schedule`; `make_schedule`
validates the name and `procs` first.
"""
from __future__ import annotations

from typing import Callable

from simulator.cost import NetworkCost, TaskKind
from workloads import ConfigError

from .finegrained import finegrained
from .layerwise import layerwise
from .optimal import optimal
from .pipedream import pipedream
from .slices import TaskSlice
from .split import split
from .types import Schedule

SCHEDULERS: dict[str, Callable[[NetworkCost, int], Schedule]] = {
    "layerwise": layerwise,
    "pipedream": pipedream,
    "split": split,
    "finegrained": finegrained,
    "optimal": optimal,
}


def max_slices(cost: NetworkCost) -> int:
    """The most task slices a schedule can have: every FP/IG tile apart, every WG whole."""
    return sum(1 if t.kind is TaskKind.WG else t.tiles for t in cost.tasks)


def make_schedule(name: str, cost: NetworkCost, procs: int) -> Schedule:
    """Run scheduler `name` for `procs` processors; bad input raises ConfigError."""
    if name not in SCHEDULERS:
        raise ConfigError(f"scheduler: unknown {name!r}; choose from {', '.join(SCHEDULERS)}")
    if isinstance(procs, bool) or not isinstance(procs, int) or procs < 1:
        raise ConfigError(f"procs: must be a positive integer, got {procs!r}")
    limit = max_slices(cost)
    if procs > limit:
        raise ConfigError(f"procs: {procs} processors but network {cost.network.name} on {cost.array} "
                          f"at batch {cost.batch} has at most {limit} task slices")
    return SCHEDULERS[name](cost, procs)


__all__ = ["SCHEDULERS", "Schedule", "TaskSlice", "make_schedule", "max_slices"]
