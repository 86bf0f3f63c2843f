"""Upper bounds on the speedup of each scheduling scheme (eq. 30-33).

Each is `N_total` over the largest unit the scheme cannot split; none depends
on `P` (the speedup is also at most `P`).
"""
from __future__ import annotations

from simulator.cost import NetworkCost, TaskKind

from .chain import layer_tasks


def _cycles(cost: NetworkCost, kinds: tuple[TaskKind, ...]) -> list[int]:
    """Per layer, the cycles of its tasks of the given kinds together."""
    return [sum(t.cycles for k, t in tasks.items() if k in kinds) for tasks in layer_tasks(cost)]


def layerwise_bound(cost: NetworkCost) -> float:
    """eq. 30: N_total / max_l (N_FP + N_WG + N_IG)."""
    return cost.total / max(_cycles(cost, tuple(TaskKind)))


def pipedream_bound(cost: NetworkCost) -> float:
    """eq. 31: N_total / max(max_l N_FP, max_l (N_WG + N_IG))."""
    return cost.total / max(max(_cycles(cost, (TaskKind.FP,))), max(_cycles(cost, (TaskKind.WG, TaskKind.IG))))


def split_bound(cost: NetworkCost) -> float:
    """eq. 32: N_total / the longest task."""
    return cost.total / max(t.cycles for t in cost.tasks)


def finegrained_bound(cost: NetworkCost) -> float:
    """eq. 33: N_total / max_l N_WG (weight gradients are never split)."""
    return cost.total / max(_cycles(cost, (TaskKind.WG,)))


def optimal_bound(cost: NetworkCost) -> float:
    """eq. 33 tightened by the tile granularity: no load is below one FP or IG tile either."""
    largest = max(t.cycles if t.kind is TaskKind.WG else t.cycles_per_tile for t in cost.tasks)
    return cost.total / largest
