"""Execute a `Schedule` on the virtual multiprocessor for N mini-batches: `simulate`.

Each processor is one SimPy process that walks its step program (see `steps`): for each
slice of each mini-batch it waits until the data items it needs have arrived on this
processor and the weight version its delay allows is there, computes for the slice's cycles
(from `simulator.cost`), then hands its outputs to the bus. Dependencies are plain records
plus one `Event` per waiting slice; cost grows with slices and transfers, never with cycles.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import simpy

from simulator.cost import TaskKind
from simulator.schedule import Schedule
from simulator.schedule.dataflow import Item, ItemKind
from workloads import ConfigError, Network

from .machine import Bus, BusConfig, Processor
from .result import LinkStats, ProcessorStats, SimResult, SliceRecord
from .steps import Programs, SliceStep, build_programs


@dataclass
class _Arrival:
    """Shares of one item for one mini-batch that have reached one processor."""

    count: int = 0
    time: int = 0
    nbytes: int = 0
    consumed: int = 0
    waiters: list = field(default_factory=list)
    payloads: list | None = None  # functional mode: the shares' values, in arrival order


class _CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it schedules (for the benchmark's events/s)."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule(self, event, priority=simpy.core.NORMAL, delay=0) -> None:
        self.scheduled += 1
        super().schedule(event, priority, delay)


def simulate(schedule: Schedule, minibatches: int = 64, bus: BusConfig = BusConfig(), trace: bool = False,
             network: Network | None = None, executor: Executor | None = None) -> SimResult:
    """Run `schedule` for `minibatches` mini-batches on P processors joined by `bus`.

    With `network`, the schedule must have been made for that network. With `executor`
    (functional mode, `simulator.functional`), every slice also computes its values, which
    travel with the items it produces; the timing is the same with or without it.
    """
    if not isinstance(schedule, Schedule):
        raise ConfigError(f"schedule: expected a Schedule, got {type(schedule).__name__}")
    if network is not None and network != schedule.cost.network:
        raise ConfigError(f"schedule: made for network {schedule.cost.network.name!r}, "
                          f"not for {network.name!r}")
    if isinstance(minibatches, bool) or not isinstance(minibatches, int) or minibatches < 1:
        raise ConfigError(f"minibatches: must be a positive integer, got {minibatches!r}")
    if not isinstance(bus, BusConfig):
        raise ConfigError("bus: expected a BusConfig")
    return _Simulation(schedule, build_programs(schedule), minibatches, bus, trace, executor).run()


def step_period(ends: list[int], offsets: list[int], minibatches: int) -> float | None:
    """Cycles per step of one processor in its steady state; None if it never reached one.

    `ends[i]` is when the processor finished step `min(offsets) + i`. Full steps (every
    slice has a mini-batch) are `max(offsets) .. min(offsets) + N - 1`; the second half of
    them is measured, away from the fill and from the drain at the end of the run.
    Too short a run (no two full steps) has no steady state to measure.
    """
    first = min(offsets)
    full = (max(offsets) - first, min(offsets) + minibatches - 1 - first)
    if full[1] - full[0] >= 2:
        a, b = full[0] + (full[1] - full[0]) // 2, full[1]
        return (ends[b] - ends[a]) / (b - a)
    return None


class Executor(Protocol):
    """Functional mode: computes each slice's values when the slice starts.

    `inputs` maps each item the slice needs to the payloads of its shares (arrival order);
    `weights(version)` is the payload of that weight version of the slice's layer if it
    has reached the slice's processor by now, else None. Returns a payload per item the
    slice produces. Payloads are shared between receivers and must be treated as read-only.
    """

    def run(self, step: SliceStep, batch: int, inputs: dict[Item, list],
            weights: Callable[[int], object | None]) -> dict[Item, object]: ...


class _Simulation:
    def __init__(self, schedule: Schedule, steps: Programs, minibatches: int, bus: BusConfig, trace: bool,
                 executor: Executor | None = None) -> None:
        self.schedule, self.steps, self.flow, self.n = schedule, steps, schedule.flow, minibatches
        self.executor = executor
        self.env = _CountingEnvironment()
        self.bus = Bus(self.env, bus, steps.procs, trace=[] if trace else None)
        self.records: list[SliceRecord] | None = [] if trace else None
        self.procs = [Processor(p, schedule.cost.array) for p in range(steps.procs)]
        for p, program in enumerate(steps.programs):
            held = {st.layer for st in program}
            self.procs[p].static_sram = sum(steps.weight_bytes[l] for l in held)
            self.procs[p].allocate(self.procs[p].static_sram)
        self.arrivals: dict[tuple[Item, int, int], _Arrival] = {}
        self.step_ends: list[list[int]] = [[] for _ in steps.programs]
        self.wg_done = [0] * minibatches
        self.updates = [0] * minibatches

    def run(self) -> SimResult:
        for p, program in enumerate(self.steps.programs):
            if program:
                self.env.process(self._processor(p, program))
        self.env.run()
        return self._result()

    # -- items ---------------------------------------------------------------------------
    def _deliver(self, item: Item, batch: int, dest: int, time: int, nbytes: int, parts: int,
                 payload: object = None) -> None:
        rec = self.arrivals.get((item, batch, dest))
        if rec is None:
            rec = self.arrivals[item, batch, dest] = _Arrival()
        rec.count += 1
        if payload is not None:
            if rec.payloads is None:
                rec.payloads = []
            rec.payloads.append(payload)
        rec.time = max(rec.time, time)
        if item.kind is not ItemKind.WEIGHTS:  # weights live in the static SRAM
            rec.nbytes += nbytes
            self.procs[dest].allocate(nbytes)
        if rec.count == parts:
            for event in rec.waiters:
                event.succeed()
            rec.waiters.clear()

    def _await(self, item: Item, batch: int, proc: int, parts: int):
        """Generator: wait until every share of `item` for `batch` has arrived at `proc`."""
        rec = self.arrivals.get((item, batch, proc))
        if rec is None:
            rec = self.arrivals[item, batch, proc] = _Arrival()
        if rec.count < parts:
            event = self.env.event()
            rec.waiters.append(event)
            yield event
        if rec.time > self.env.now:
            yield self.env.timeout(rec.time - self.env.now)

    def _consume(self, item: Item, batch: int, proc: int, consumers: int) -> None:
        rec = self.arrivals[item, batch, proc]
        rec.consumed += 1
        if rec.consumed == consumers:
            self.procs[proc].release(rec.nbytes)
            del self.arrivals[item, batch, proc]

    # -- processors ----------------------------------------------------------------------
    def _processor(self, p: int, program):
        env, proc, n, arrivals = self.env, self.procs[p], self.n, self.arrivals
        parts, readers, delays = self.flow.parts, self.flow.readers, self.steps.delays
        overlap = self.bus.config.overlap
        first = min(st.offset for st in program)
        last = max(st.offset for st in program) + n
        for step in range(first, last):
            for st in program:
                batch = step - st.offset
                if batch < 0 or batch >= n:
                    continue
                t0 = env.now
                for item in st.needs:
                    rec = arrivals.get((item, batch, p))
                    if rec is None or rec.count < parts[item] or rec.time > t0:  # not here yet
                        yield from self._await(item, batch, p, parts[item])
                t1 = env.now
                version = -1
                if st.weights is not None:
                    version = batch - 1 - delays[st.weights.layer]
                    if version >= 0:
                        rec = arrivals.get((st.weights, version, p))
                        if rec is None or rec.count < parts[st.weights] or rec.time > t1:
                            yield from self._await(st.weights, version, p, parts[st.weights])
                t2 = env.now
                produced = None if self.executor is None else self._execute(st, batch, p)
                yield env.timeout(st.cycles)
                proc.wait_data += t1 - t0
                proc.wait_weights += t2 - t1
                proc.busy += st.cycles
                if self.records is not None:
                    self.records.append(SliceRecord(p, st.label, st.kind.value, st.layer, batch, t2, env.now, t1, t2))
                for item in st.needs:
                    self._consume(item, batch, p, readers[item, p])
                if version >= 0:
                    self._consume(st.weights, version, p, readers[st.weights, p])
                left = env.now
                for out in st.outputs:
                    item, need = out.item, parts[out.item]
                    payload = None if produced is None else produced.get(item)
                    named = (item.kind.value, item.layer)  # how the trace names it
                    if out.local:
                        self._deliver(item, batch, p, env.now, out.nbytes, need, payload)
                    for q, share in out.remote:
                        def arrived(time: int, item=item, q=q, share=share, need=need, batch=batch,
                                    payload=payload) -> None:
                            self._deliver(item, batch, q, time, share, need, payload)
                        left = max(left, self.bus.send(p, q, share, (named, batch, p, q), arrived))
                if not overlap and left > env.now:
                    waited = left - env.now
                    yield env.timeout(waited)
                    proc.wait_bus += waited
                if st.kind is TaskKind.WG:
                    self.wg_done[batch] += 1
                    if self.wg_done[batch] == self.steps.wg_slices:
                        self.updates[batch] = env.now
            self.step_ends[p].append(env.now)

    def _execute(self, st, batch: int, p: int) -> dict[Item, object]:
        """Functional mode: hand the slice's arrived payloads to the executor."""
        arrivals, now = self.arrivals, self.env.now
        inputs = {item: arrivals[item, batch, p].payloads or [] for item in st.needs}

        def weights(version: int) -> object | None:
            rec = arrivals.get((st.weights, version, p))
            if rec is None or rec.count < 1 or rec.time > now or not rec.payloads:
                return None
            return rec.payloads[0]

        return self.executor.run(st, batch, inputs, weights)

    # -- result --------------------------------------------------------------------------
    def _result(self) -> SimResult:
        total = int(self.env.now)
        periods = [step_period(self.step_ends[p], [st.offset for st in program], self.n)
                   for p, program in enumerate(self.steps.programs) if program]
        steady = None if None in periods else max(periods)  # every processor's steady state, or none
        loads = self.schedule.loads
        procs = tuple(ProcessorStats(
            index=p.index, load=loads[p.index], busy=p.busy, wait_data=p.wait_data, wait_weights=p.wait_weights,
            wait_bus=p.wait_bus, total=total, peak_sram=p.peak_sram) for p in self.procs)
        links = tuple(LinkStats.within(l, total) for l in self.bus.channels)
        return SimResult(
            scheduler=self.schedule.scheduler, network=self.schedule.cost.network.name,
            array=self.schedule.cost.array, batch=self.schedule.cost.batch, procs=self.steps.procs,
            minibatches=self.n, bus=self.bus.config, delays=self.steps.delays,
            analytic_cycles_per_update=self.schedule.cycles_per_update,
            simulated_cycles_per_update=steady, fill_latency=self.updates[0], total_cycles=total,
            events=self.env.scheduled, update_times=tuple(self.updates), processors=procs, links=links,
            slices=tuple(self.records) if self.records is not None else None,
            transfers=tuple(self.bus.trace) if self.bus.trace is not None else None)
