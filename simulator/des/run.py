"""Execute a `Schedule` on a physical machine for N mini-batches: `simulate`.

The machine (`simulator.machine.Machine`) is the one source of the interconnect, the SRAM, the
DRAM, the clock and the energy table. The run is that of a statically scheduled machine: every
processor walks its step program (see `steps`), and every link and DRAM channel serves its
bookings in an order fixed by the schedule (step, then the slice's place in its step), not in
the order they become ready. A slice waits until the data items it needs have arrived on its
processor and the weight version its delay allows is there, reads back from DRAM what the static
residency plan (see `memory`) keeps there, computes for the slice's cycles on its array (from
`simulator.cost`), then hands its outputs to the interconnect, whose routes are booked by
arithmetic (see `machine`). The slices are evaluated once each, in that static order (no event
queue: every dependency points to an earlier step or an earlier slice of the order); the cost
grows with slices, transfers and DRAM accesses, never with cycles. Every time is a max-plus
expression of durations that never grow with a resource, so neither does any time
(docs/machine.md, "Why time is monotone in every resource").
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

from simulator.cost import TaskKind
from simulator.energy import Activity, dram_energy, link_energy, static_energy, task_density, task_energy
from simulator.machine import Channels, Machine, load_machine
from simulator.schedule import Schedule
from simulator.schedule.dataflow import Item, ItemKind
from workloads import ConfigError, Network

from .machine import DRAM_END, Fabric, Link, Processor, TransferRecord
from .memory import Plan
from .result import EnergyBreakdown, Limit, LinkStats, ProcessorStats, Resource, SimResult, SliceRecord, SramSample
from .steps import SliceStep, build_programs


def simulate(schedule: Schedule, minibatches: int = 64, machine: Machine | None = None, overlap: bool = True,
             trace: bool = False, network: Network | None = None, executor: Executor | None = None,
             activity: Activity | None = None) -> SimResult:
    """Run `schedule` for `minibatches` mini-batches on `machine`.

    `machine` defaults to the paper's: the `ideal` preset built of the schedule's arrays (free
    transfers, unbounded SRAM, no DRAM), on which the simulated throughput is the schedule's.
    A machine's default array must be the one the schedule was costed on (processors it
    overrides may differ: `simulator.schedule.machine_load.slice_cycles`). With `overlap` (double buffering) a processor
    computes while its results are sent; without it, it waits until its outgoing data has left
    before its next slice (DRAM writes are posted: it never waits for them). With `network`, the schedule must
    have been made for that network. With `executor` (functional mode, `simulator.functional`),
    every slice also computes its values, which travel with the items it produces; the timing
    is the same with or without it.

    `activity` (measured spike densities, `simulator.energy.Activity`) prices the spike-gated
    accumulates of FP and WG by density, and on a machine whose arrays skip zero spikes
    (`processors.zero_skip`) shortens their cycles (`simulator.cost.zero_skip_cycles`); without
    it they are dense. In functional mode without `activity`, the energy uses the densities the
    executor measured on the real spikes (`Executor.activity`); cycles, fixed before the run,
    then need `activity` on a zero-skipping machine.
    """
    if not isinstance(schedule, Schedule):
        raise ConfigError(f"schedule: expected a Schedule, got {type(schedule).__name__}")
    if network is not None and network != schedule.cost.network:
        raise ConfigError(f"schedule: made for network {schedule.cost.network.name!r}, "
                          f"not for {network.name!r}")
    if isinstance(minibatches, bool) or not isinstance(minibatches, int) or minibatches < 1:
        raise ConfigError(f"minibatches: must be a positive integer, got {minibatches!r}")
    if not isinstance(overlap, bool):
        raise ConfigError(f"overlap: must be True or False, got {overlap!r}")
    array = schedule.cost.array
    if machine is None:
        machine = load_machine("ideal").with_overrides(array=array)
    elif not isinstance(machine, Machine):
        raise ConfigError(f"machine: expected a Machine (simulator.machine.load_machine), got {type(machine).__name__}")
    elif machine.processors.array != array:
        raise ConfigError(f"machine {machine.name}: its processors are {machine.processors.array} arrays but the "
                          f"schedule was costed on {array}: cost the network on the machine's array or override "
                          f"it (Machine.with_overrides(array=...), --array)")
    if activity is not None:
        if not isinstance(activity, Activity):
            raise ConfigError(f"activity: expected a simulator.energy.Activity, got {type(activity).__name__}")
        activity.check(schedule.cost)
    elif executor is not None and machine.processors.zero_skip:
        raise ConfigError(f"machine {machine.name}: its arrays skip zero spikes, and in functional mode the cycles "
                          f"are fixed before the spikes are known: give the densities (--activity FILE)")
    machine = machine.with_processors(schedule.procs)
    return _Simulation(schedule, machine, minibatches, overlap, trace, executor, activity).run()


def step_period(ends: list[int], first: int, full: tuple[int, int]) -> float | None:
    """Cycles per step of one processor in the steady state; None if the run never reached one.

    `ends[i]` is when the processor finished step `first + i`. `full` are the first and last
    steps in which every slice of every processor has a mini-batch; the second half of them is
    measured, away from the fill. Every booking of those steps precedes, in the static order,
    those of the drain, so the drain cannot shorten them. Too short a run (no two full steps)
    has no steady state to measure.
    """
    if full[1] - full[0] >= 2:
        a, b = full[0] + (full[1] - full[0]) // 2 - first, full[1] - first
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

    def activity(self) -> Activity | None:
        """The spike densities of the run so far (None: none measured)."""


class _Op(NamedTuple):
    """A slice step compiled for the run: items by id, with what the loop needs at hand."""

    step: SliceStep
    offset: int
    cycles: int
    needs: tuple[tuple[int, int, int], ...]  # (item, shares that complete it, readers on this processor)
    weights: int  # the weights item it reads, -1 if none
    lag: int  # it reads weight version batch - lag (1 + D)
    weight_readers: int
    weight_parts: int
    outputs: tuple[tuple[int, bool, tuple[tuple[int, int], ...], bool], ...]  # (item, local, remote, weights)
    label: int  # the item its DRAM reads are labelled with
    wg: bool
    record: tuple  # (label, kind, layer) for the slice records


class _Buffer:
    """The shares of one item of one mini-batch (or weight version) that reached one processor."""

    __slots__ = ("count", "time", "consumed", "payloads", "feeds")

    def __init__(self) -> None:
        self.count = self.time = self.consumed = 0
        self.payloads: list | None = None
        self.feeds: list | None = None


class _Simulation:
    """The static machine: every processor runs its step program, every link and DRAM channel
    serves its bookings in the order of the schedule (step, then each slice's place in its step,
    processor, slice), never in the order they become ready. Every time is then a max-plus
    expression of durations, each non-increasing in every resource (docs/machine.md)."""

    def __init__(self, schedule: Schedule, machine: Machine, minibatches: int, overlap: bool, trace: bool,
                 executor: Executor | None = None, activity: Activity | None = None) -> None:
        self.schedule, self.machine, self.flow, self.n = schedule, machine, schedule.flow, minibatches
        self.overlap, self.executor, self.activity = overlap, executor, activity
        specs = [machine.processor(p) for p in range(schedule.procs)]
        arrays = tuple(s.array for s in specs)
        cost = schedule.cost
        densities = {(t.layer, t.kind): task_density(cost, t, activity) for t in cost.tasks} \
            if machine.processors.zero_skip else None
        self.steps = steps = build_programs(schedule, None if set(arrays) == {cost.array} else arrays, densities)
        self.items = tuple(Item(kind, layer) for layer in range(len(steps.delays)) for kind in ItemKind)
        self.ids = ids = {item: i for i, item in enumerate(self.items)}
        self.names = [(item.kind.value, item.layer) for item in self.items]
        self.trace: list | None = [] if trace else None
        self.records: list[SliceRecord] | None = [] if trace else None
        self.sram: list[SramSample] | None = [] if trace else None
        self.procs = [Processor(p, s.array, s.sram_bytes) for p, s in enumerate(specs)]
        self.plan = Plan(steps, self.procs, self.items, minibatches, machine)
        self.fabric = Fabric(machine, None, None, self.names, self.trace)
        n, dram = minibatches, machine.dram
        if dram is None:
            self.channels: list[Link] = []
        elif dram.channels is Channels.SHARED:
            self.channels = [Link("dram", busy_by_batch=[0] * n, bytes_by_batch=[0] * n)]
        else:
            self.channels = [Link(f"dram p{p}", busy_by_batch=[0] * n, bytes_by_batch=[0] * n)
                             for p in range(len(self.procs))]
        self.channel = [self.channels[0 if len(self.channels) == 1 else p] if self.channels else None
                        for p in range(len(self.procs))]
        self.dram_durations: dict[int, int] = {}
        parts, readers = self.flow.parts, self.flow.readers
        self.parts = [parts.get(item, 0) for item in self.items]

        def label(st: SliceStep) -> int:
            return ids[(st.needs or (st.weights,) if st.weights else st.needs or (st.outputs[0].item,))[0]] \
                if st.needs or st.weights or st.outputs else 0

        self.programs = [tuple(_Op(
            st, st.offset, st.cycles, tuple((ids[i], parts[i], readers[i, p]) for i in st.needs),
            -1 if st.weights is None else ids[st.weights], 1 + steps.delays[st.layer],
            0 if st.weights is None else readers[st.weights, p], 0 if st.weights is None else parts[st.weights],
            tuple((ids[o.item], o.local, o.remote, o.item.kind is ItemKind.WEIGHTS) for o in st.outputs),
            label(st), st.kind is TaskKind.WG, (st.label, st.kind.value, st.layer)) for st in program)
            for p, program in enumerate(steps.programs)]
        # the order every channel serves its bookings in: by step, then the slice's nominal start
        # within its step (the cycles of the slices before it on its processor), processor, index
        nominal = [(sum(st.cycles for st in program[:i]), p, i)
                   for p, program in enumerate(steps.programs) for i in range(len(program))]
        self.order = [(p, i) for _, p, i in sorted(nominal)]
        self.buffers: dict[tuple[int, int, int], _Buffer] = {}
        self.events = 0
        self.step_ends: list[list[int]] = [[] for _ in steps.programs]
        self.updates = [0] * minibatches

    def run(self) -> SimResult:
        self._run()
        return self._result()

    # -- items ---------------------------------------------------------------------------
    def _deliver(self, item: int, batch: int, dest: int, time: int, payload: object = None, record: int = -1) -> None:
        """A share of `item` of `batch` (a weight version) reaches `dest` at `time` (traced: by `record`)."""
        key = (batch, item, dest)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = _Buffer()
        buf.count += 1
        if time > buf.time:
            buf.time = time
        if record >= 0:
            if buf.feeds is None:
                buf.feeds = []
            buf.feeds.append(record)
        if payload is not None:
            if buf.payloads is None:
                buf.payloads = []
            buf.payloads.append(payload)

    def _consume(self, key: tuple[int, int, int], buf: _Buffer, consumers: int) -> None:
        buf.consumed += 1
        if buf.consumed == consumers:
            del self.buffers[key]

    def _dram(self, p: int, ready: int, nbytes: int, item: int, batch: int, read: bool) -> int:
        """Book an access of `nbytes` for p on its DRAM channel, behind everything booked before; its end."""
        channel = self.channel[p]
        duration = self.dram_durations.get(nbytes)
        if duration is None:
            duration = self.dram_durations[nbytes] = self.machine.dram.cycles(nbytes)
        start = channel.free if channel.free > ready else ready
        channel.free = end = start + duration
        channel.busy += duration
        channel.nbytes += nbytes
        channel.transfers += 1
        b = min(max(batch, 0), self.n - 1)
        channel.busy_by_batch[b] += duration
        channel.bytes_by_batch[b] += nbytes
        self.events += 1
        if self.trace is not None:
            self.trace.append(TransferRecord(channel.name, *self.names[item], batch, DRAM_END if read else p,
                                             p if read else DRAM_END, start, end, nbytes))
        return end

    def _sample(self, p: int, time: int, point: int) -> None:
        """Traced runs: processor p's SRAM occupancy from `time`, at `point` of its timeline."""
        self.sram.append(SramSample(p, time, self.plan.occupancy(p, point)))

    # -- the run -------------------------------------------------------------------------
    def _run(self) -> None:
        """Every slice of every step, in the static order; each waits for its processor, its data,
        its weight version and its DRAM reads, then sends its outputs."""
        n, plan, buffers, fabric, programs = self.n, self.plan, self.buffers, self.fabric, self.programs
        procs, overlap, deliver = self.procs, self.overlap, self._deliver
        count = len(procs)
        free = [0] * count  # when each processor has finished its last slice (and, without overlap, sent its outputs)
        started = [0] * count  # per processor: when it began the current step (its credits: a transfer
        # of step s leaves for its receiver once that has begun step s, so what a processor holds is static)
        spans = [(min((op.offset for op in program), default=0), max((op.offset for op in program), default=-1) + n)
                 for program in programs]
        deferred: dict[int, list] = {}  # step -> weight versions to send then: (maker, reader, bytes, item, version, ready, payload)
        send_step = plan.send_step
        if self.sram is not None:
            for p in range(count):
                self._sample(p, 0, 0)
        last = plan.first + plan.steps

        def send_deferred(step: int) -> None:
            for h, q, nbytes, item, version, ready, payload in deferred.pop(step, ()):
                _, _, arrival, record = fabric.book(h, q, nbytes, max(ready, started[q]), item, version)
                self.events += 1
                deliver(item, version, q, arrival, payload, record)

        for step in range(plan.first, last):
            for p in range(count):
                started[p] = free[p]
            send_deferred(step)
            for p, i in self.order:
                op = programs[p][i]
                batch = step - op.offset
                k = plan.position(p, step, i)
                access = plan.access[p].get(k)
                if batch < 0 or batch >= n:  # no slice here: only the traffic of what the others made it hold
                    if access is not None:
                        if access.write:
                            self._dram(p, free[p], access.write, access.write_item, batch, False)
                        if access.read:
                            self._dram(p, free[p], access.read, op.label, batch, True)
                    if self.sram is not None:
                        self._sample(p, free[p], 2 * k)
                        self._sample(p, free[p], 2 * k + 1)
                    continue
                self.events += 1
                t0 = ready = free[p]
                bufs = []
                for item, need, _ in op.needs:
                    key = (batch, item, p)
                    buf = buffers.get(key)
                    if buf is None or buf.count < need:
                        raise RuntimeError(f"static order: {self.items[item]} of mini-batch {batch} not sent to p{p} "
                                           f"before step {step}")
                    if buf.time > ready:
                        ready = buf.time
                    bufs.append((key, buf))
                t1 = ready
                wkey, wbuf, version = None, None, batch - op.lag
                if op.weights >= 0 and version >= 0:
                    wkey = (version, op.weights, p)
                    wbuf = buffers.get(wkey)
                    if wbuf is None or wbuf.count < op.weight_parts:
                        raise RuntimeError(f"static order: weights {op.step.layer} version {version} not on p{p} "
                                           f"before step {step}")
                    if wbuf.time > ready:
                        ready = wbuf.time
                t2 = t3 = ready
                reads = -1
                if access is not None:
                    if access.write:  # posted: the processor does not wait for it
                        self._dram(p, t0, access.write, access.write_item, batch, False)
                    if access.read:
                        reads = len(self.trace) if self.trace is not None else 0
                        t3 = self._dram(p, t2, access.read, op.label, batch, True)
                if self.sram is not None:
                    self._sample(p, t0, 2 * k)
                produced = None if self.executor is None else self._execute(op.step, batch, p, t3)
                end = t3 + op.cycles
                proc = procs[p]
                proc.wait_data += t1 - t0
                proc.wait_weights += t2 - t1
                proc.wait_memory += t3 - t2
                proc.busy += op.cycles
                for (key, buf), (_, _, readers) in zip(bufs, op.needs):
                    self._consume(key, buf, readers)
                if wbuf is not None:
                    self._consume(wkey, wbuf, op.weight_readers)
                if self.sram is not None:
                    self._sample(p, end, 2 * k + 1)
                left = end
                for item, local, remote, weights in op.outputs:
                    payload = None if produced is None else produced.get(self.items[item])
                    if local:
                        deliver(item, batch, p, end, payload)
                    for q, share in remote:
                        if weights:
                            send = send_step[p, q, op.step.layer] + batch
                            if send > step:  # just in time: one step before its first reader on q
                                deferred.setdefault(send, []).append((p, q, share, item, batch, end, payload))
                                continue
                        _, he, arrival, record = fabric.book(p, q, share, max(end, started[q]), item, batch)
                        self.events += 1
                        if he > left:
                            left = he
                        deliver(item, batch, q, arrival, payload, record)
                released = end if overlap else left
                proc.wait_bus += released - end
                free[p] = released
                if self.records is not None:
                    fed = [r for _, buf in bufs + ([(wkey, wbuf)] if wbuf is not None else []) for r in buf.feeds or ()]
                    if reads >= 0:  # its DRAM read
                        fed.append(reads)
                    self.records.append(SliceRecord(p, *op.record, batch, t3, end, t1, t2, t0, released, tuple(fed)))
                if op.wg and released > self.updates[batch]:  # the update is complete once its last WG slice is
                    self.updates[batch] = released
            for p in range(count):
                if spans[p][0] <= step < spans[p][1]:
                    self.step_ends[p].append(free[p])
        for step in sorted(deferred):  # the last versions, which no slice of the run reads
            started[:] = free
            send_deferred(step)

    def _execute(self, st: SliceStep, batch: int, p: int, now: int) -> dict[Item, object]:
        """Functional mode: hand the slice's arrived payloads to the executor (it starts at `now`)."""
        buffers, ids = self.buffers, self.ids
        inputs = {item: buffers[batch, ids[item], p].payloads or [] for item in st.needs}

        def weights(version: int) -> object | None:
            buf = buffers.get((version, ids[st.weights], p))
            if buf is None or buf.count < 1 or buf.time > now or not buf.payloads:
                return None
            return buf.payloads[0]

        return self.executor.run(st, batch, inputs, weights)

    # -- result --------------------------------------------------------------------------
    def _result(self) -> SimResult:
        machine, n, programs = self.machine, self.n, self.steps.programs
        # the run ends when the last processor has finished and the last transfer or DRAM access has ended
        total = max([ends[-1] for ends in self.step_ends if ends] + [c.free for c in self.fabric.links + self.channels])
        offsets = [st.offset for program in programs for st in program]
        full = (max(offsets), min(offsets) + n - 1)
        periods = [step_period(self.step_ends[p], min(st.offset for st in program), full)
                   for p, program in enumerate(programs) if program]
        used = sum(1 for program in programs if program)
        work = [sum(st.cycles for st in program) for program in programs]  # per update, on its array
        # DRAM traffic changes with what is resident: average it over the mini-batches that run
        # entirely in full steps (away from the fill and the drain, after the first stashed weight
        # version is read); every mini-batch moves the same bytes over the links
        fill = max(offsets) - min(offsets)
        steady = range(fill + 1, n - fill) if n - fill > fill + 1 else range(n)
        links = [(l, l.busy / n) for l in self.fabric.links]
        dram = [(c, sum(c.busy_by_batch[b] for b in steady) / len(steady)) for c in self.channels]
        dram_bytes = sum(sum(c.bytes_by_batch[b] for b in steady) for c in self.channels) / len(steady)
        # every processor's steady state, or none; a resource cannot do more than one update's
        # work per update: a run too short to saturate it (gradient-delay slack) is held to that bound
        cycles = None if None in periods else max(periods + work + [busy for _, busy in links + dram])
        limits = [(Resource.PROCESSOR, f"p{p}", w) for p, w in enumerate(work)]
        limits += [(Resource.LINK, l.name, busy) for l, busy in links]
        limits += [(Resource.DRAM, c.name, busy) for c, busy in dram]
        kind, name, busy = max(limits, key=lambda l: l[2])  # the first of equals: a processor
        limited_by = Limit(kind, name, busy, None if cycles is None else busy / cycles)
        loads = self.schedule.loads
        procs = tuple(ProcessorStats(
            index=p.index, load=loads[p.index], work=work[p.index], busy=p.busy, wait_data=p.wait_data,
            wait_weights=p.wait_weights, wait_memory=p.wait_memory, wait_bus=p.wait_bus, total=total,
            peak_sram=self.plan.peak[p.index], sram_bytes=p.capacity,
            kept=self.plan.kept[p.index]) for p in self.procs)
        cost = self.schedule.cost
        activity = self.activity if self.activity is not None or self.executor is None else self.executor.activity()
        return SimResult(
            scheduler=self.schedule.scheduler, network=cost.network.name, array=cost.array, batch=cost.batch,
            procs=self.steps.procs, minibatches=n, machine=machine, overlap=self.overlap, delays=self.steps.delays,
            analytic_cycles_per_update=self.schedule.cycles_per_update, simulated_cycles_per_update=cycles,
            fill_latency=self.updates[0], total_cycles=total, events=self.events,
            update_times=tuple(self.updates), processors=procs,
            links=tuple(LinkStats.within(l, total, busy, cycles) for l, busy in links),
            dram=tuple(LinkStats.within(c, total, busy, cycles) for c, busy in dram),
            dram_bytes_per_update=dram_bytes, processors_used=used, limited_by=limited_by,
            energy=None if cycles is None else self._energy(cycles, used, dram_bytes, activity), activity=activity,
            slices=tuple(self.records) if self.records is not None else None,
            transfers=tuple(self.trace) if self.trace is not None else None,
            sram=None if self.sram is None else tuple(sorted(self.sram, key=lambda s: s.time)))

    def _energy(self, cycles: float, used: int, dram_bytes: float, activity: Activity | None) -> EnergyBreakdown:
        """Joules per update: every slice's share of its task's dynamic energy (at `activity`'s
        densities), the link bytes times the hops they cross, the DRAM bytes, and the leakage of
        the processors used."""
        table, cost = self.machine.energy, self.schedule.cost
        per_task = {(t.layer, t.kind): task_energy(cost, t, table, activity) for t in cost.tasks}
        shares = [per_task[s.layer, s.kind].share(s.tiles) for slices in self.schedule.processors for s in slices]
        return EnergyBreakdown(
            compute=sum(e.compute_pj for e in shares) * 1e-12, iir=sum(e.iir_pj for e in shares) * 1e-12,
            sram=sum(e.sram_pj for e in shares) * 1e-12, dram=dram_energy(dram_bytes, table) * 1e-12,
            link=link_energy(sum(l.nbytes for l in self.fabric.links) / self.n, 1, table) * 1e-12,
            static=static_energy(self.machine.seconds(cycles), used, table) * 1e-12)
