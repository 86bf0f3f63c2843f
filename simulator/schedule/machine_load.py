"""The steady-state time per update of a schedule on a physical machine, analytically.

In the steady state every resource serves one update's work per update, so the time per
update is at least the busiest resource's occupancy per update (`MachineLoad.bottleneck`):

- a processor: the cycles of its slices on its own array (`slice_cycles`: on a heterogeneous
  machine a slice takes its share of the task's cycles on that array, eq. 26-29);
- a link: every transfer of `Schedule.flow` whose route (`Machine.route`) crosses it costs
  `ceil(bytes / bandwidth) + latency` cycles there, as the discrete-event model books it;
- a DRAM channel: the weights a processor cannot keep in its SRAM (layers in order of first
  use, resident while they fit, as the DES places them) are read from DRAM by every slice that
  uses them, and written back by the WG that updates them.

Not counted: spills of activations, states and gradients (they depend on timing) and waits
between resources; the DES (`simulator.des.simulate`) has them. On the ideal machine the
bottleneck is `Schedule.cycles_per_update`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from simulator.cost import ArrayConfig, NetworkCost, TaskKind, network_cost, zero_skip_cycles, zero_skip_cycles_per_tile
from simulator.machine import Channels, LinkId, Machine

from .dataflow import ItemKind
from .slices import TaskSlice
from .types import Schedule


class MachineLoad(NamedTuple):
    """Occupancy per update, in cycles, of every resource of the machine."""

    compute: tuple[int, ...]  # per processor
    links: dict[LinkId, int]
    dram: tuple[int, ...]  # per DRAM channel (empty without DRAM)

    @property
    def bottleneck(self) -> int:
        """The busiest resource: a lower bound on the steady-state cycles per update."""
        return max((*self.compute, *self.links.values(), *self.dram))


def slice_cycles(s: TaskSlice, cost: NetworkCost, array: ArrayConfig, costs: dict[ArrayConfig, NetworkCost],
                 density: float | None = None) -> int:
    """Cycles of slice `s` (of a schedule costed as `cost`) on a processor with `array`: its own
    cycles on the schedule's array, else its share of the task's cycles on `array` (eq. 26-29),
    split like the bytes of its outputs so that the slices of a task add up to the task. With a
    `density`, on an array that skips zero spikes (`zero_skip_cycles_per_tile`)."""
    if array == cost.array:
        if density is None:
            return s.cycles
        return (s.tile_stop - s.tile_start) * zero_skip_cycles_per_tile(cost.task(s.layer, s.kind).gemm, array,
                                                                         density)
    if array not in costs:
        costs[array] = network_cost(cost.network, array, cost.batch, cost.include_first_ig, cost.bytes_model)
    task = costs[array].task(s.layer, s.kind)
    total = task.cycles if density is None else zero_skip_cycles(task, array, density)
    return total * s.tile_stop // s.task_tiles - total * s.tile_start // s.task_tiles


def _weight_shares(schedule: Schedule) -> list[dict[int, int]]:
    """Per processor and layer, the bytes of the layer's weights it keeps (all of them at home)."""
    shares: list[dict[int, int]] = [{} for _ in schedule.processors]
    for p, per_slice in enumerate(schedule.flow.outputs):
        for outputs in per_slice:
            for out in outputs:
                if out.item.kind is ItemKind.WEIGHTS:
                    if out.local:
                        shares[p][out.item.layer] = out.nbytes
                    for q, nbytes in out.remote:
                        shares[q][out.item.layer] = nbytes
    return shares


def _dram_bytes(schedule: Schedule, machine: Machine) -> list[list[int]]:
    """Per processor, the DRAM accesses (bytes each) per update for weights beyond its SRAM."""
    cost = schedule.cost
    full = {t.layer: t.weight_bytes for t in cost.tasks if t.kind is TaskKind.FP}
    shares = _weight_shares(schedule)
    accesses: list[list[int]] = []
    for p, slices in enumerate(schedule.processors):
        capacity = machine.processor(p).sram_bytes
        first_use = [s.layer for s in sorted(slices, key=lambda s: s.kind is not TaskKind.FP)]
        resident, outside = 0, set()
        for layer in dict.fromkeys(first_use):
            if resident + full[layer] <= capacity:
                resident += full[layer]
            else:
                outside.add(layer)
        row = []
        for s in slices:
            if s.layer in outside:
                if s.kind is TaskKind.WG:
                    row += [full[s.layer], full[s.layer]]  # read and write back the master copy
                else:
                    row.append(shares[p].get(s.layer, full[s.layer]))
        accesses.append(row)
    return accesses


def machine_load(schedule: Schedule, machine: Machine) -> MachineLoad:
    """Every resource's occupancy per update when `schedule` runs on `machine`."""
    machine = machine.with_processors(schedule.procs)
    cost, costs = schedule.cost, {}
    compute = tuple(sum(slice_cycles(s, cost, machine.processor(p).array, costs) for s in slices)
                    for p, slices in enumerate(schedule.processors))
    links: dict[LinkId, int] = {}
    if not machine.interconnect.free:
        for p, per_slice in enumerate(schedule.flow.outputs):
            for outputs in per_slice:
                for out in outputs:
                    for q, nbytes in out.remote:
                        busy = machine.link_cycles(nbytes)
                        for link in machine.route(p, q):
                            links[link] = links.get(link, 0) + busy
    dram: tuple[int, ...] = ()
    if machine.dram is not None and not all(math.isinf(machine.processor(p).sram_bytes)
                                            for p in range(schedule.procs)):
        per_proc = [sum(machine.dram.cycles(n) for n in row) for row in _dram_bytes(schedule, machine)]
        dram = (sum(per_proc),) if machine.dram.channels is Channels.SHARED else tuple(per_proc)
    return MachineLoad(compute, links, dram)
