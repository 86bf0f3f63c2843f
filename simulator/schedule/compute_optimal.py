"""Optimal fine-grained scheduling: the fewest cycles per update under Algorithm 1's rules.

Rules: FP and IG may be split, only at tile boundaries; WG is never split;
the slices keep chain order (layers never go backwards along the pipeline).
Within a layer any order of its tasks is allowed, which covers both of
Algorithm 1's directions (IG, WG, FP and WG, IG, FP along the pipeline) and
the orders of the whole-task schedulers, so this is never worse than any of
them. The minimum is found exactly (see `partition`).
"""
from __future__ import annotations

from simulator.cost import NetworkCost

from .bounds import finegrained_bound
from .chain import free_chain
from .partition import partition
from .types import Schedule


def compute_optimal(cost: NetworkCost, procs: int) -> Schedule:
    """Minimal max load over `procs` processors with FP/IG split at tile boundaries."""
    return Schedule("compute-optimal", cost, partition(free_chain(cost), procs), finegrained_bound(cost))
