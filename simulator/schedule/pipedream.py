"""PipeDream-based scheduling (Section V-B).

Tasks are a layer's forward pass and its backward pass (WG + IG together);
the chain FP_0, BP_0, FP_1, BP_1, ... is cut into P contiguous stages with the
smallest possible bottleneck. This reading reproduces Table VII's PipeDream
column for MNIST and N-MNIST to two decimals (docs/scheduling.md).
"""
from __future__ import annotations

from simulator.cost import NetworkCost, TaskKind

from .bounds import pipedream_bound
from .chain import fixed_chain
from .partition import partition
from .types import Schedule


def pipedream(cost: NetworkCost, procs: int) -> Schedule:
    """Optimal contiguous partition of FP_0, BP_0, FP_1, BP_1, ... over `procs` processors."""
    chain = fixed_chain(cost, ((TaskKind.FP,), (TaskKind.WG, TaskKind.IG)))
    return Schedule("pipedream", cost, partition(chain, procs), pipedream_bound(cost))
