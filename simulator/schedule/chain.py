"""The task chain the schedulers partition: per layer its tasks, in the units each scheme keeps whole."""
from __future__ import annotations

from itertools import permutations

from simulator.cost import NetworkCost, TaskCost, TaskKind

from .partition import Item


def layer_tasks(cost: NetworkCost) -> list[dict[TaskKind, TaskCost]]:
    """Per compute layer, its tasks that training performs (no first-layer IG unless included)."""
    layers: list[dict[TaskKind, TaskCost]] = [{} for _ in cost.network.compute_layers()]
    for t in cost.tasks:
        layers[t.layer][t.kind] = t
    return layers


def fixed_chain(cost: NetworkCost, groups: tuple[tuple[TaskKind, ...], ...]) -> list[list[tuple[Item, ...]]]:
    """One order per layer: the `groups` of task kinds, each group one unsplittable item."""
    chain = []
    for tasks in layer_tasks(cost):
        kept = (tuple(tasks[k] for k in g if k in tasks) for g in groups)
        chain.append([tuple(Item(g) for g in kept if g)])
    return chain


def free_chain(cost: NetworkCost) -> list[list[tuple[Item, ...]]]:
    """Every order of each layer's tasks; FP and IG split at tile boundaries, WG whole."""
    chain = []
    for tasks in layer_tasks(cost):
        items = [Item((t,), splittable=k is not TaskKind.WG) for k, t in tasks.items()]
        chain.append(sorted(set(permutations(items)), key=lambda o: [i.tasks[0].kind.value for i in o]))
    return chain
