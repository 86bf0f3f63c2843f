"""The step programs of a schedule: when each slice runs and what it waits for.

What travels (items, readers, shares, destinations, bytes) is `Schedule.flow`, the one
data-flow model (`simulator.schedule.dataflow`); this module only adds timing. Pure functions
over a `Schedule`; the discrete-event model executes the result.

Timing (the retimed DFG of Fig. 9): processors run in steps; in step s processor p runs each
slice for mini-batch s - `step_offset`, forward slices first, each group in data-flow order
(IG of a layer before its WG, so the gradient goes upstream early). Every cross-processor
dependency then points to an earlier step, so the pipeline never deadlocks and, with free
transfers, settles at the most loaded processor's cycles per update. FP and IG of layer l for
mini-batch b use the weights updated with the gradients of mini-batches up to b - 1 - D_l
(`Schedule.delays`).

On a heterogeneous machine a slice runs on its processor's array: a processor whose array is not
the one the schedule was costed on takes, for a slice of tiles `[start, stop)` of `tiles`, the
same share of the task's cycles on its own array (`simulator.schedule.machine_load.slice_cycles`): tile counts differ between
arrays, so the schedule's tiles cannot be priced with the other array's cycles per tile.

On arrays that skip zero spikes (`processors.zero_skip`) the spike-gated tasks take
`simulator.cost.zero_skip_cycles` at their layer's density: a slice of `k` tiles on the schedule's
array takes `k` zero-skip tiles, elsewhere its share of the task's zero-skip cycles.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator.cost import ArrayConfig, NetworkCost, TaskKind
from simulator.schedule import Schedule
from simulator.schedule.dataflow import Item, Output, needs, weights_read
from simulator.schedule.machine_load import slice_cycles

FP, WG = TaskKind.FP, TaskKind.WG


@dataclass(frozen=True)
class SliceStep:
    """One slice on one processor, with its place in the step order and its data-flow."""

    proc: int
    label: str
    layer: int
    kind: TaskKind
    cycles: int  # on its processor's array
    offset: int  # runs for mini-batch `step - offset`
    needs: tuple[Item, ...]  # data items of the same mini-batch
    weights: Item | None  # the weights it reads (version b - 1 - D), or None
    outputs: tuple[Output, ...]


@dataclass(frozen=True)
class Programs:
    """The per-processor step programs of one schedule."""

    procs: int
    programs: tuple[tuple[SliceStep, ...], ...]
    delays: tuple[int, ...]


def build_programs(schedule: Schedule, arrays: tuple[ArrayConfig, ...] | None = None,
                   densities: dict[tuple[int, TaskKind], float] | None = None) -> Programs:
    """Derive the step programs of `schedule`, with slice cycles on `arrays` (per processor;
    default: the schedule's array everywhere); with `densities` (per task: layer, kind), on arrays
    that skip zero spikes."""
    cost = schedule.cost
    costs: dict[ArrayConfig, NetworkCost] = {}
    layers = cost.network.compute_layers()
    last = len(layers) - 1
    procs = schedule.procs
    outputs = schedule.flow.outputs
    programs = []
    for p, slices in enumerate(schedule.processors):
        with_outputs = list(zip(slices, outputs[p]))
        fwd = sorted((x for x in with_outputs if x[0].kind is FP), key=lambda x: (x[0].layer, x[0].tile_start))
        bwd = sorted((x for x in with_outputs if x[0].kind is not FP),
                     key=lambda x: (-x[0].layer, x[0].kind is WG, x[0].tile_start))
        programs.append(tuple(SliceStep(
            proc=p, label=sl.label, layer=sl.layer, kind=sl.kind,
            cycles=sl.cycles if arrays is None and densities is None else
            slice_cycles(sl, cost, cost.array if arrays is None else arrays[p], costs,
                         None if densities is None else densities[sl.layer, sl.kind]),
            offset=schedule.offset(sl.kind, p), needs=needs(sl.layer, sl.kind, last),
            weights=weights_read(sl.layer, sl.kind), outputs=outs)
            for sl, outs in fwd + bwd))
    return Programs(procs, tuple(programs), tuple(schedule.delays))
