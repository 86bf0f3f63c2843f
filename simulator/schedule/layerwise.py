"""Layer-wise scheduling (Section V-A): whole layers as tasks, the best contiguous split of the layers."""
from __future__ import annotations

from simulator.cost import NetworkCost, TaskKind

from .bounds import layerwise_bound
from .chain import fixed_chain
from .partition import partition
from .types import Schedule


def layerwise(cost: NetworkCost, procs: int) -> Schedule:
    """Each layer (FP, WG, IG together) on one processor; minimal max load."""
    chain = fixed_chain(cost, ((TaskKind.FP, TaskKind.WG, TaskKind.IG),))
    return Schedule("layerwise", cost, partition(chain, procs), layerwise_bound(cost))
