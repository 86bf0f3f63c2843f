"""The one `Schedule` type every scheduler returns (made of `TaskSlice`s), and the pipeline's step offset.

A schedule maps the training tasks of one weight update onto `P` processors
that form a pipeline: the forward pass flows from processor 0 towards `P - 1`,
the backward pass returns (Section V). Read processor by processor, the slices
form one *chain*: layers never go backwards, and each task is one contiguous
run of slices whose tiles ascend from 0 to `TaskCost.tiles` along the
processors. Within a layer a scheduler chooses the order of its tasks (FP,
WG, IG); the order of slices on a processor is that chain order, not an
execution order (the DES decides when each slice runs).

Speedup is `cost.total / cycles_per_update` (Section V), `cycles_per_update`
the load of the most loaded processor. Idle processors (empty tuples) are not
pipeline stages: the delays and step offsets follow the pipeline of the
`procs_used` processors that hold work, in their order (a schedule padded with
empty processors has the same delays and the same simulated throughput).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from simulator.cost import NetworkCost, TaskKind
from workloads import ConfigError

from .dataflow import Flow, Traffic, boundary_traffic, build_flow
from .slices import TaskSlice


def step_offset(kind: TaskKind, proc: int, procs: int) -> int:
    """In step s of the retimed pipeline (Fig. 9) a slice of `kind` on `proc` runs mini-batch s - offset.

    The offset is p for forward slices and 2P - 2 - p for backward ones (WG, IG).
    """
    return proc if kind is TaskKind.FP else 2 * procs - 2 - proc


@dataclass(frozen=True)
class Schedule:
    """Task slices per processor, validated to allocate every task exactly once in chain order."""

    scheduler: str
    cost: NetworkCost
    processors: tuple[tuple[TaskSlice, ...], ...]
    bound: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "processors", tuple(tuple(p) for p in self.processors))
        if not self.processors:
            raise ConfigError(f"schedule {self.scheduler}: needs at least one processor")
        _validate_chain(self)

    def __repr__(self) -> str:
        return (f"Schedule({self.scheduler}, {self.cost.network.name} on {self.procs} x {self.cost.array} "
                f"batch {self.cost.batch}, {self.cycles_per_update:,} cycles per update, "
                f"speedup {self.speedup:.2f} of bound {self.bound:.2f}, delays {self.delays})")

    @property
    def procs(self) -> int:
        """Processors of the machine, idle ones included."""
        return len(self.processors)

    @cached_property
    def stages(self) -> tuple[int | None, ...]:
        """Per processor, its stage in the pipeline of used processors (None when idle)."""
        ranks = iter(range(self.procs))
        return tuple(next(ranks) if slices else None for slices in self.processors)

    @property
    def procs_used(self) -> int:
        """Processors holding work: the pipeline's depth."""
        return sum(1 for slices in self.processors if slices)

    def offset(self, kind: TaskKind, proc: int) -> int:
        """The step offset of a `kind` slice on `proc` (`step_offset` over the used processors)."""
        return step_offset(kind, self.stages[proc], self.procs_used)

    @cached_property
    def loads(self) -> tuple[int, ...]:
        """Cycles per weight update on each processor (the sum of its slices)."""
        return tuple(sum(s.cycles for s in slices) for slices in self.processors)

    @property
    def cycles_per_update(self) -> int:
        """Steady-state cycles per weight update: the most loaded processor (Section V)."""
        return max(self.loads)

    @property
    def speedup(self) -> float:
        """N_total over cycles per update; idle processors do not change it."""
        return self.cost.total / self.cycles_per_update

    @property
    def idle_share(self) -> tuple[float, ...]:
        """Per processor, the share of each update it waits for the bottleneck."""
        top = self.cycles_per_update
        return tuple(1.0 - load / top for load in self.loads)

    def holders(self, layer: int, kind: TaskKind) -> tuple[int, ...]:
        """Processors holding slices of the task, ascending."""
        return tuple(p for p, slices in enumerate(self.processors)
                     if any(s.layer == layer and s.kind is kind for s in slices))

    @cached_property
    def homes(self) -> tuple[int, ...]:
        """Per compute layer, the processor holding its weight gradient (the lowest, if split).

        The layer's weights are updated there; its neuron state and gradient
        filter live there too (see `dataflow`).
        """
        home: dict[int, int] = {}
        for p, slices in enumerate(self.processors):
            for s in slices:
                if s.kind is TaskKind.WG:
                    home.setdefault(s.layer, p)
        return tuple(home[layer.index] for layer in self.cost.network.compute_layers())

    @property
    def delays(self) -> tuple[int, ...]:
        """Per compute layer, gradient delay in mini-batches.

        The paper's `2 * (P - 1 - q)`, q the processor of the layer's WG (Section V), assumes
        the layer's FP starts on q or later. In the retimed pipeline the update of mini-batch
        b' completes in step b' + 2P - 2 - q and FP of mini-batch b runs in step b + p (p the
        lowest processor holding the FP), so the weights FP needs are there in time only if
        the delay is at least 2P - 2 - p - q; schedules that put FP on an earlier processor
        than WG (PipeDream-based, split-backward) need that larger delay, else every FP
        stalls (see docs/simulation.md). Both are the WG's step offset less FP's, FP taken on
        q or p, whichever is lower; P, p and q count used processors only (`stages`).
        """
        return tuple(self.offset(TaskKind.WG, q) - self.offset(TaskKind.FP, min(q, self.holders(layer, TaskKind.FP)[0]))
                     for layer, q in enumerate(self.homes))

    @cached_property
    def flow(self) -> Flow:
        """Who reads and makes which item, and what each slice sends (see `dataflow`)."""
        return build_flow(self.cost, self.processors)

    @cached_property
    def _traffic(self) -> Traffic:
        return boundary_traffic(self.flow, self.cost, self.homes)

    @property
    def boundary_bytes(self) -> tuple[int, ...]:
        """Bytes per mini-batch crossing each processor boundary p|p+1 (see `dataflow`; overhead included)."""
        return self._traffic.total

    @property
    def boundary_overhead_bytes(self) -> tuple[int, ...]:
        """Per boundary, the bytes beyond the home placement (every task whole on its layer's WG processor)."""
        return self._traffic.overhead

    @property
    def overhead_bytes(self) -> int:
        """Total splitting overhead per mini-batch; a part of `sum(boundary_bytes)`."""
        return sum(self._traffic.overhead)

    @property
    def weight_overhead_bytes(self) -> int:
        """The weight copies crossing boundaries (the paper's notion of overhead)."""
        return sum(self._traffic.weights)


def _validate_chain(schedule: Schedule) -> None:
    """Every task allocated exactly once, tiles contiguous and complete, chain order kept."""
    name = f"schedule {schedule.scheduler}"
    tasks = {(t.layer, t.kind): t for t in schedule.cost.tasks}
    done: set[tuple[int, TaskKind]] = set()
    current: tuple[int, TaskKind] | None = None
    next_tile = 0
    last_layer = -1
    for p, slices in enumerate(schedule.processors):
        for s in slices:
            key = (s.layer, s.kind)
            task = tasks.get(key)
            if task is None:
                raise ConfigError(f"{name}: processor {p} holds {s.task_label}, which is not a task of this cost")
            if s.layer < last_layer:
                raise ConfigError(f"{name}: processor {p}: {s.task_label} breaks chain order (after layer {last_layer})")
            last_layer = s.layer
            if s.task_tiles != task.tiles:
                raise ConfigError(f"{name}: {s.task_label} claims {s.task_tiles} tiles, the task has {task.tiles}")
            if s.cycles != s.tiles * task.cycles_per_tile:
                raise ConfigError(f"{name}: {s.task_label} has {s.cycles} cycles for {s.tiles} tiles "
                                  f"of {task.cycles_per_tile}")
            if key != current:
                if current is not None and next_tile != tasks[current].tiles:
                    raise ConfigError(f"{name}: {tasks[current].label} stops at tile {next_tile} "
                                      f"of {tasks[current].tiles}")
                if key in done:
                    raise ConfigError(f"{name}: {s.task_label} is not one contiguous run of slices")
                done.add(key)
                current, next_tile = key, 0
            if s.tile_start != next_tile:
                raise ConfigError(f"{name}: {s.task_label} tiles jump from {next_tile} to {s.tile_start}")
            next_tile = s.tile_stop
    if current is not None and next_tile != tasks[current].tiles:
        raise ConfigError(f"{name}: {tasks[current].label} stops at tile {next_tile} of {tasks[current].tiles}")
    missing = [tasks[k].label for k in tasks if k not in done]
    if missing:
        raise ConfigError(f"{name}: tasks not allocated: {', '.join(missing)}")
