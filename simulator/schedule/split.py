"""Split-backward scheduling (Section V-C): FP, WG and IG of every layer as separate whole tasks."""
from __future__ import annotations

from simulator.cost import NetworkCost, TaskKind

from .bounds import split_bound
from .chain import fixed_chain
from .partition import partition
from .types import Schedule


def split(cost: NetworkCost, procs: int) -> Schedule:
    """Optimal contiguous partition of FP_0, WG_0, IG_0, FP_1, ... (no task split)."""
    chain = fixed_chain(cost, ((TaskKind.FP,), (TaskKind.WG,), (TaskKind.IG,)))
    return Schedule("split", cost, partition(chain, procs), split_bound(cost))
