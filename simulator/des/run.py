"""Execute a `Schedule` on a physical machine for N mini-batches: `simulate`.

The machine (`simulator.machine.Machine`) is the one source of the interconnect, the SRAM, the
DRAM, the clock and the energy table. Each processor is one SimPy process that walks its step
program (see `steps`): for each slice of each mini-batch it waits until the data items it needs
have arrived on this processor and the weight version its delay allows is there, reads back
from DRAM what it had to spill (see `memory`), computes for the slice's cycles on its array
(from `simulator.cost`), then hands its outputs to the interconnect, whose routes are booked by
arithmetic when they are sent (see `machine`). Dependencies are plain records plus one `Event`
per waiting slice; cost grows with slices and transfers, never with cycles.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Protocol

from simulator.cost import TaskKind
from simulator.energy import Activity, dram_energy, link_energy, static_energy, task_density, task_energy
from simulator.machine import Machine, load_machine
from simulator.schedule import Schedule
from simulator.schedule.dataflow import Item, ItemKind
from workloads import ConfigError, Network

from .machine import DRAM_END, Clock, Fabric, Processor
from .memory import PINNED, Buffer, Memory
from .result import EnergyBreakdown, Limit, LinkStats, ProcessorStats, Resource, SimResult, SliceRecord, SramSample
from .steps import SliceStep, build_programs

WEIGHTS = ItemKind.WEIGHTS


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

    def activity(self) -> Activity | None:
        """The spike densities of the run so far (None: none measured)."""


class _Op(NamedTuple):
    """A slice step compiled for the event loop: items by id, with what the loop needs at hand."""

    step: SliceStep
    offset: int
    cycles: int
    needs: tuple[tuple[int, int, int], ...]  # (item, shares that complete it, readers on this processor)
    weights: int  # the weights item it reads, -1 if none
    lag: int  # it reads weight version batch - lag (1 + D)
    weight_readers: int
    weight_parts: int
    outputs: tuple[tuple[int, bool, int, tuple[tuple[int, int], ...]], ...]  # (item, local, bytes kept, remote)
    dram_weights: int  # bytes of weights it reads from DRAM (layers that do not fit in SRAM)
    writeback: int  # WG of such a layer whose update no slice here reads: bytes written back
    wg: bool
    record: tuple  # (label, kind, layer) for the slice records


class _Simulation:
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
        self.env = Clock()
        self.trace: list | None = [] if trace else None
        self.records: list[SliceRecord] | None = [] if trace else None
        self.sram: list[SramSample] | None = [] if trace else None
        self.procs = [Processor(p, s.array, s.sram_bytes) for p, s in enumerate(specs)]
        self.memory = Memory(machine, schedule, steps, self.procs, self.items, minibatches, self.env, self.trace)
        self.fabric = Fabric(machine, self.env, self._deliver, self.memory.names, self.trace)
        if self.sram is not None:  # the weights placed at the start
            for p in range(len(self.procs)):
                self._sample(p)
        parts, readers = self.flow.parts, self.flow.readers
        self.parts = [parts.get(item, 0) for item in self.items]
        self.programs = [tuple(_Op(
            st, st.offset, st.cycles, tuple((ids[i], parts[i], readers[i, p]) for i in st.needs),
            -1 if st.weights is None else ids[st.weights], 1 + steps.delays[st.layer],
            0 if st.weights is None else readers[st.weights, p], 0 if st.weights is None else parts[st.weights],
            tuple((ids[o.item], o.local, o.nbytes, o.remote) for o in st.outputs), self.memory.dram_weights(st),
            self.memory.dram_weights(st) if st.kind is TaskKind.WG and not any(o.local for o in st.outputs) else 0,
            st.kind is TaskKind.WG, (st.label, st.kind.value, st.layer)) for st in program)
            for p, program in enumerate(steps.programs)]
        self.weights_id = [ids[Item(ItemKind.WEIGHTS, layer)] for layer in range(len(steps.delays))]
        self.is_weights = [item.kind is ItemKind.WEIGHTS for item in self.items]
        self.n_items, self.n_procs = len(self.items), len(self.procs)  # buffer slots: (batch, item, proc)
        self.arrivals: dict[int, Buffer] = {}
        self.step_ends: list[list[int]] = [[] for _ in steps.programs]
        self.wg_done = [0] * minibatches
        self.updates = [0] * minibatches

    def run(self) -> SimResult:
        for p, program in enumerate(self.programs):
            if program:
                self.env.process(self._processor(p, program))
        self.env.run()
        return self._result()

    # -- items ---------------------------------------------------------------------------
    def _deliver(self, item: int, batch: int, dest: int, time: int, nbytes: int, payload: object = None,
                 record: int = -1) -> None:
        """A share of `item` reaches `dest` at `time` (traced: by the transfer `record`, -1 none)."""
        slot = (batch * self.n_items + item) * self.n_procs + dest
        buf = self.arrivals.get(slot)
        if buf is None:
            buf = self.arrivals[slot] = self.memory.new_buffer(dest, item, batch, slot)
        buf.count += 1
        if record >= 0:
            if buf.feeds is None:
                buf.feeds = []
            buf.feeds.append(record)
        if payload is not None:
            if buf.payloads is None:
                buf.payloads = []
            buf.payloads.append(payload)
        if time > buf.time:
            buf.time = time
        if self.is_weights[item]:
            self.memory.weights_arrived(dest, self.items[item].layer, buf, nbytes, time)
        elif self.memory.spills:
            self.memory.place(dest, buf, nbytes, time)
        else:  # unbounded SRAM: only count
            proc = self.procs[dest]
            proc.sram += nbytes
            if proc.sram > proc.peak_sram:
                proc.peak_sram = proc.sram
            buf.sram += nbytes
        if self.sram is not None:
            self._sample(dest)
        if buf.waiter is not None and buf.count == self.parts[item]:
            buf.waiter.succeed()
            buf.waiter = None

    def _sample(self, p: int) -> None:
        """Traced runs: processor p's SRAM occupancy now."""
        self.sram.append(SramSample(p, self.env._now, self.procs[p].sram))

    def _consume(self, buf: Buffer, proc: int, consumers: int) -> None:
        buf.consumed += 1
        if buf.consumed == consumers:
            self.memory.release(proc, buf)
            if self.is_weights[buf.item]:
                self.memory.version_done(proc, self.items[buf.item].layer)
            del self.arrivals[buf.slot]
        else:
            self.memory.read_once(proc, buf)
        if self.sram is not None:
            self._sample(proc)

    # -- processors ----------------------------------------------------------------------
    def _processor(self, p: int, program: tuple[_Op, ...]):
        """The processor's SimPy process. A slice waits (one event) only for shares not yet sent;
        once all are on their way it knows when its data will be there, books the DRAM reads of
        what it spilled (prefetch: its buffers are then pinned in SRAM or DRAM) and sleeps once,
        until its end. In functional mode it wakes at its start to compute its values then."""
        env, proc, n, arrivals, memory = self.env, self.procs[p], self.n, self.arrivals, self.memory
        items, procs, new_buffer = len(self.items), len(self.procs), memory.new_buffer
        overlap, send, deliver, consume = self.overlap, self.fabric.send, self._deliver, self._consume
        timeout, event = env.timeout, env.event
        fetching = proc.capacity < math.inf  # something may be in DRAM
        first = min(op.offset for op in program)
        last = max(op.offset for op in program) + n
        for step in range(first, last):
            for op in program:
                batch = step - op.offset
                if batch < 0 or batch >= n:
                    continue
                t0 = ready = env._now
                bufs = []
                for item, need, _ in op.needs:
                    slot = (batch * items + item) * procs + p
                    buf = arrivals.get(slot)
                    if buf is None:
                        buf = arrivals[slot] = new_buffer(p, item, batch, slot)
                    if buf.count < need:  # shares not sent yet
                        buf.waiter = event()
                        yield buf.waiter
                    if buf.time > ready:
                        ready = buf.time
                    bufs.append(buf)
                t1 = ready = ready if ready > env._now else env._now
                wbuf = None
                version = batch - op.lag
                if op.weights >= 0 and version >= 0:
                    slot = (version * items + op.weights) * procs + p
                    wbuf = arrivals.get(slot)
                    if wbuf is None:
                        wbuf = arrivals[slot] = new_buffer(p, op.weights, version, slot)
                    if wbuf.count < op.weight_parts:
                        wbuf.waiter = event()
                        yield wbuf.waiter
                    if env._now > ready:
                        ready = env._now
                    if wbuf.time > ready:
                        ready = wbuf.time
                t2 = t3 = ready
                if fetching:
                    spilled = op.dram_weights or (wbuf is not None and wbuf.dram)
                    for buf in bufs:
                        buf.key = PINNED  # its reader is committed: it stays where it is until read
                        spilled = spilled or buf.dram
                    if wbuf is not None:
                        wbuf.key = PINNED
                    if spilled:
                        reads = 0 if self.trace is None else len(self.trace)
                        end = yield from self._fetch(p, op, batch, bufs, wbuf, version, ready)
                        if end > t3:
                            t3 = end
                if self.executor is None:
                    produced = None
                    yield timeout(t3 + op.cycles - env._now)
                else:
                    if t3 > env._now:
                        yield env.timeout(t3 - env._now)
                    produced = self._execute(op.step, batch, p)
                    yield env.timeout(op.cycles)
                proc.wait_data += t1 - t0
                proc.wait_weights += t2 - t1
                proc.wait_memory += t3 - t2
                proc.busy += op.cycles
                now = env._now
                if self.records is not None:
                    fed = [r for buf in bufs + ([wbuf] if wbuf is not None else []) for r in buf.feeds or ()]
                    if fetching and spilled:  # its DRAM reads (the channel records them with the slice's p as dst)
                        fed += [i for i in range(reads, len(self.trace))
                                if self.trace[i].dst == p and self.trace[i].src == DRAM_END]
                    record = len(self.records)
                    self.records.append(SliceRecord(p, *op.record, batch, t3, now, t1, t2, t0, now, tuple(fed)))
                for buf, (_, _, readers) in zip(bufs, op.needs):
                    consume(buf, p, readers)
                if wbuf is not None:
                    consume(wbuf, p, op.weight_readers)
                elif op.weights >= 0:
                    memory.initial_used(p, op.step.layer, op.weight_readers)
                if op.writeback:  # the update of weights kept in DRAM (else: the local version's spill)
                    memory.spill(p, None, op.writeback, now, self.weights_id[op.step.layer], batch)
                left = now
                for item, local, nbytes, remote in op.outputs:
                    payload = None if produced is None else produced.get(self.items[item])
                    if local:
                        deliver(item, batch, p, now, nbytes, payload)
                    for q, share in remote:
                        left = max(left, send(p, q, share, item, batch, payload))
                if not overlap and left > now:
                    yield env.timeout(left - now)
                    proc.wait_bus += left - now
                    if self.records is not None:
                        self.records[record] = self.records[record]._replace(released=left)
                if op.wg:
                    self.wg_done[batch] += 1
                    if self.wg_done[batch] == self.steps.wg_slices:
                        self.updates[batch] = env._now
            self.step_ends[p].append(env._now)

    def _fetch(self, p: int, op: _Op, batch: int, bufs: list[Buffer], wbuf: Buffer | None, version: int,
               ready: int):
        """Generator: read back from DRAM what slice `op` of `batch` (its inputs there at `ready`)
        spilled, and the weights it keeps there; the cycle the reads end (0: none)."""
        memory, env = self.memory, self.env
        spilled = [(buf, item) for buf, (item, _, _) in zip(bufs, op.needs) if buf.dram]
        if wbuf is not None and wbuf.dram:
            spilled.append((wbuf, op.weights))
        if ready > env._now and any(buf.time > env._now for buf, _ in spilled):  # written once there
            yield env.timeout(ready - env._now)
        end = 0
        for buf, item in spilled:
            end = memory.read(p, buf.dram, item, batch, buf)
        if op.wg or (op.weights >= 0 and version < 0):  # the master copy WG updates, or the initial weights
            if op.dram_weights:
                end = memory.read(p, op.dram_weights, self.weights_id[op.step.layer], batch)
        return end

    def _execute(self, st: SliceStep, batch: int, p: int) -> dict[Item, object]:
        """Functional mode: hand the slice's arrived payloads to the executor."""
        arrivals, now, items, procs, ids = self.arrivals, self.env.now, len(self.items), len(self.procs), self.ids
        inputs = {item: arrivals[(batch * items + ids[item]) * procs + p].payloads or [] for item in st.needs}

        def weights(version: int) -> object | None:
            buf = arrivals.get((version * items + ids[st.weights]) * procs + p)
            if buf is None or buf.count < 1 or buf.time > now or not buf.payloads:
                return None
            return buf.payloads[0]

        return self.executor.run(st, batch, inputs, weights)

    # -- result --------------------------------------------------------------------------
    def _result(self) -> SimResult:
        machine, n, programs = self.machine, self.n, self.steps.programs
        total = int(self.env.now)
        self.memory.flush()
        periods = [step_period(self.step_ends[p], [st.offset for st in program], n)
                   for p, program in enumerate(programs) if program]
        used = sum(1 for program in programs if program)
        work = [sum(st.cycles for st in program) for program in programs]  # per update, on its array
        # DRAM traffic changes with what is resident: average it over the mini-batches that run
        # entirely in full steps (away from the fill and the drain, after the first stashed weight
        # version is read); every mini-batch moves the same bytes over the links
        offsets = [st.offset for program in programs for st in program]
        fill = max(offsets) - min(offsets)
        steady = range(fill + 1, n - fill) if n - fill > fill + 1 else range(n)
        links = [(l, l.busy / n) for l in self.fabric.links]
        dram = [(c, sum(c.busy_by_batch[b] for b in steady) / len(steady)) for c in self.memory.channels]
        dram_bytes = sum(sum(c.bytes_by_batch[b] for b in steady) for c in self.memory.channels) / len(steady)
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
            peak_sram=p.peak_sram, sram_bytes=p.capacity) for p in self.procs)
        cost = self.schedule.cost
        activity = self.activity if self.activity is not None or self.executor is None else self.executor.activity()
        return SimResult(
            scheduler=self.schedule.scheduler, network=cost.network.name, array=cost.array, batch=cost.batch,
            procs=self.steps.procs, minibatches=n, machine=machine, overlap=self.overlap, delays=self.steps.delays,
            analytic_cycles_per_update=self.schedule.cycles_per_update, simulated_cycles_per_update=cycles,
            fill_latency=self.updates[0], total_cycles=total, events=self.env.scheduled,
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
