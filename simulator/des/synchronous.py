"""Execute a synchronous schedule (`SyncSchedule`) in SimPy for N mini-batches: `simulate_sync`.

One process per stage walks the stage's program (`SyncSchedule.programs`) for every
mini-batch. An op waits for what it needs: F_i on stage s for F_i's activations from stage
s - 1, B_i (or BW_i) for B_i's gradient from stage s + 1 (on the last stage, for F_i, which
the program runs earlier); W_i follows B_i on the same stage by program order. A stage sends
while it computes (no wait for the bus). After its last op of a mini-batch a stage's weights
are updated (at no cost: the cost model has no separate update op), and it starts the next
mini-batch once the `Flush` allows: GLOBAL, when every stage is done; PER_STAGE, at once.

Transfers go between adjacent stages over the chain's directed links of a `link_machine`
(`Machine.route`, `Machine.link_cycles`: `ceil(bytes / bandwidth) + latency` cycles), FIFO,
booked by arithmetic on a `Fabric` (whose routes `simulate` uses too). All of the link model is
`_Run.send`, one call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import simpy

from simulator.machine import Machine
from simulator.schedule.synchronous import Flush, Op, OpKind, SyncSchedule
from workloads import ConfigError

from .machine import DeferringClock, Fabric, TransferRecord, link_machine
from .result import LinkStats


class OpRecord(NamedTuple):
    """One executed op: stage, op, mini-batch, start and end (its input was there at the start)."""

    stage: int
    op: Op
    minibatch: int
    start: int
    end: int


@dataclass(frozen=True)
class StageStats:
    """Where one stage's (processor's) cycles went, and the most micro-batches it held.

    `peak_in_flight`: micro-batches whose F ran and whose B (input gradient) has not, the
    activations B needs (Qi et al.'s unit M_B). `peak_weight_pending`: B ran, W has not.
    """

    index: int
    load: int  # cycles of work per mini-batch (SyncSchedule.loads)
    busy: int
    wait_data: int
    wait_flush: int
    total: int
    peak_in_flight: int
    peak_weight_pending: int

    @property
    def idle(self) -> int:
        """Cycles with nothing to do: after its last op, or between ops with their input there."""
        return self.total - self.busy - self.wait_data - self.wait_flush

    @property
    def utilization(self) -> float:
        return self.busy / self.total if self.total else 0.0


@dataclass(frozen=True)
class SyncResult:
    """The outcome of `simulate_sync`; field names as in `SimResult` where they mean the same.

    `update_times[b]`: when every stage has updated its weights with mini-batch b.
    `simulated_cycles_per_update`: the mean interval between updates over the second half of
    the run (with one mini-batch, its time, and `steady_state` False).
    """

    schedule: SyncSchedule
    flush: Flush
    minibatches: int
    machine: Machine  # the links (`link_machine`)
    delays: tuple[int, ...]
    analytic_cycles_per_update: int
    simulated_cycles_per_update: float
    steady_state: bool
    fill_latency: int
    total_cycles: int
    update_times: tuple[int, ...]
    processors: tuple[StageStats, ...]
    links: tuple[LinkStats, ...]
    ops: tuple[OpRecord, ...] | None = None
    transfers: tuple[TransferRecord, ...] | None = None

    def __repr__(self) -> str:
        return (f"SyncResult({self.scheduler}, {self.procs} stages x {self.schedule.micro_batches} micro-batches, "
                f"{self.minibatches} mini-batches, flush {self.flush.value}: {self.simulated_cycles_per_update:,.0f} "
                f"simulated vs {self.analytic_cycles_per_update:,} analytic cycles per update)")

    @property
    def scheduler(self) -> str:
        return self.schedule.kind.value

    @property
    def procs(self) -> int:
        return self.schedule.procs

    @property
    def bubble_fraction(self) -> float:
        """The share of an update the most loaded stage idles: 1 - max load / cycles per update."""
        return 1.0 - self.schedule.lower_bound / self.simulated_cycles_per_update


def simulate_sync(schedule: SyncSchedule, minibatches: int = 4, bandwidth: float = math.inf, latency: int = 0,
                  flush: Flush | str = Flush.GLOBAL, trace: bool = False) -> SyncResult:
    """Run `schedule` for `minibatches` mini-batches; links of `bandwidth` bytes/cycle and `latency` cycles."""
    if not isinstance(schedule, SyncSchedule):
        raise ConfigError(f"schedule: expected a SyncSchedule, got {type(schedule).__name__}")
    if isinstance(minibatches, bool) or not isinstance(minibatches, int) or minibatches < 1:
        raise ConfigError(f"minibatches: must be a positive integer, got {minibatches!r}")
    try:
        flush = Flush(flush)
    except ValueError:
        raise ConfigError(f"flush: must be one of {', '.join(f.value for f in Flush)}, got {flush!r}") from None
    machine = link_machine(bandwidth, latency).with_processors(schedule.procs)
    return _Run(schedule, minibatches, machine, flush, trace).run()


class _Input(NamedTuple):
    """What an op waits for: F's activations (kind F) or B's gradient (kind B) arriving at `stage`."""

    kind: OpKind
    stage: int
    minibatch: int
    micro: int


class _Stage:
    """A stage's counters while running."""

    def __init__(self) -> None:
        self.busy = self.wait_data = self.wait_flush = 0
        self.in_flight = self.peak_in_flight = 0
        self.pending = self.peak_pending = 0


class _Run:
    def __init__(self, schedule: SyncSchedule, n: int, machine: Machine, flush: Flush, trace: bool) -> None:
        self.schedule, self.n, self.flush, self.machine = schedule, n, flush, machine
        self.env = DeferringClock()
        self.trace: list | None = [] if trace else None
        self.names: list[tuple[str, int]] = []  # what transfers carry: (label, layer), by id
        self.fabric = Fabric(machine, self.env, self._delivered, self.names, self.trace)
        self.ops: list[OpRecord] | None = [] if trace else None
        self.stages = [_Stage() for _ in schedule.stages]
        self.arrived: dict[_Input, int] = {}  # -> the cycle it is there
        self.waiting: dict[_Input, simpy.Event] = {}
        self.done = [0] * n  # stages done with each mini-batch
        self.updates = [0] * n
        self.flushed = [self.env.event() for _ in range(n)]

    def run(self) -> SyncResult:
        for s in range(self.schedule.procs):
            self.env.process(self._stage(s))
        self.env.run()
        assert self.done[-1] == self.schedule.procs, f"{self.schedule.kind.value}: the stage programs deadlock"
        return self._result()

    # -- data ------------------------------------------------------------------------------
    def send(self, src: int, dst: int, nbytes: int, key: _Input, label: str) -> None:
        """The link model: book `nbytes` from `src` to the adjacent `dst`; input `key` is there on arrival.

        Traced as `(label, layer)` of micro-batch `minibatch * m + micro`."""
        name = (label, self.schedule.stages[src].layers[-1 if dst > src else 0])
        if name not in self.names:
            self.names.append(name)
        self.fabric.send(src, dst, nbytes, self.names.index(name),
                         key.minibatch * self.schedule.micro_batches + key.micro, key)

    def _delivered(self, item: int, batch: int, dst: int, time: int, nbytes: int, key: _Input, record: int) -> None:
        """The fabric's delivery: the transfer carrying input `key` arrives at `time` (its trace
        `record` is not needed: `OpRecord`s name their inputs)."""
        self._arrive(key, time)

    def _arrive(self, key: _Input, time: int) -> None:
        self.arrived[key] = time
        event = self.waiting.pop(key, None)
        if event is not None:
            event.succeed()

    def _await(self, key: _Input):
        """Generator: wait until input `key` has arrived."""
        if key not in self.arrived:
            event = self.waiting[key] = self.env.event()
            yield event
        time = self.arrived.pop(key)
        if time > self.env.now:
            yield self.env.timeout(time - self.env.now)

    def _input(self, s: int, op: Op, b: int) -> _Input | None:
        """The input op `op` of mini-batch `b` on stage `s` waits for, or None."""
        if op.kind is OpKind.F and s > 0:
            return _Input(OpKind.F, s, b, op.micro)
        if op.kind in (OpKind.B, OpKind.BW) and s + 1 < self.schedule.procs:
            return _Input(OpKind.B, s, b, op.micro)
        return None

    # -- stages ----------------------------------------------------------------------------
    def _stage(self, s: int):
        env, st, cost = self.env, self.stages[s], self.schedule.stages[s]
        last = self.schedule.procs - 1
        for b in range(self.n):
            if b > 0 and self.flush is Flush.GLOBAL and not self.flushed[b - 1].triggered:
                t = env.now
                yield self.flushed[b - 1]
                st.wait_flush += env.now - t
            for op in self.schedule.programs[s]:
                t0 = env.now
                key = self._input(s, op, b)
                if key is not None:
                    yield from self._await(key)
                t1 = env.now
                st.wait_data += t1 - t0
                cycles = cost.op_cycles(op.kind)
                yield env.timeout(cycles)
                st.busy += cycles
                if self.ops is not None:
                    self.ops.append(OpRecord(s, op, b, t1, env.now))
                self._count(st, op.kind)
                if op.kind is OpKind.F and s < last:
                    self.send(s, s + 1, cost.activation_bytes, _Input(OpKind.F, s + 1, b, op.micro), "activations")
                if op.kind in (OpKind.B, OpKind.BW) and s > 0:
                    self.send(s, s - 1, cost.gradient_bytes, _Input(OpKind.B, s - 1, b, op.micro), "gradient")
            self.done[b] += 1
            if self.done[b] == self.schedule.procs:
                self.updates[b] = env.now
                self.flushed[b].succeed()

    @staticmethod
    def _count(st: _Stage, kind: OpKind) -> None:
        if kind is OpKind.F:
            st.in_flight += 1
            st.peak_in_flight = max(st.peak_in_flight, st.in_flight)
        elif kind is OpKind.B:
            st.in_flight -= 1
            st.pending += 1
            st.peak_pending = max(st.peak_pending, st.pending)
        elif kind is OpKind.W:
            st.pending -= 1
        else:
            st.in_flight -= 1

    # -- result ----------------------------------------------------------------------------
    def _result(self) -> SyncResult:
        total, n, sched = int(self.env.now), self.n, self.schedule
        if n >= 2:
            half = max(1, n // 2)
            steady, reached = (self.updates[-1] - self.updates[half - 1]) / (n - half), True
        else:
            steady, reached = float(self.updates[0]), False
        stats = tuple(StageStats(i, sched.loads[i], st.busy, st.wait_data, st.wait_flush, total,
                                 st.peak_in_flight, st.peak_pending) for i, st in enumerate(self.stages))
        links = tuple(LinkStats(l.name, l.busy, l.nbytes, l.transfers, total) for l in self.fabric.links)
        return SyncResult(
            schedule=sched, flush=self.flush, minibatches=n, machine=self.machine, delays=sched.delays,
            analytic_cycles_per_update=sched.analytic_cycles(self.flush), simulated_cycles_per_update=steady,
            steady_state=reached, fill_latency=self.updates[0], total_cycles=total,
            update_times=tuple(self.updates), processors=stats, links=links,
            ops=tuple(self.ops) if self.ops is not None else None,
            transfers=tuple(self.trace) if self.trace is not None else None)
