"""Execute a `Schedule` on a physical machine for N mini-batches: `simulate`.

The machine (`simulator.machine.Machine`) is the one source of the interconnect, the SRAM, the
DRAM, the clock and the energy table. The run is that of a statically scheduled machine: every
processor walks its step program (see `steps`), and every link and DRAM channel serves its
bookings in an order fixed by the schedule (step, then the slice's place in its step), not in
the order they become ready. A slice waits until the data items it needs have arrived on its
processor and the weight version its delay allows is there, reads back from DRAM what the static
residency plan (see `memory`) keeps there, computes for the slice's cycles on its array (from
`simulator.cost`), then hands its outputs to the interconnect (see `machine`).

A SimPy model (`machine.Clock`): a walk of the static order books every hop and DRAM access
on its channel's queue and wires what each slice waits for (no times), step by step just ahead
of the processors (what it books does not depend on when); one process per processor walks its
slices, waiting for plain events triggered once each, with one `timeout` per slice, and one
process per channel serves its queue in order, each booking from max(ready, free) for its
closed-form duration. The cost grows with slices, transfers and DRAM accesses, never with
cycles, and the memory with the steps in flight, not with the run. Every time is a max-plus
expression of durations that never grow with a resource, so neither does any time
(docs/machine.md, "Why time is monotone in every resource").
"""
from __future__ import annotations

import gc
from collections import deque
from typing import Callable, NamedTuple, Protocol

from heapq import heappush

from simpy import Event, Timeout
from simpy.core import NORMAL

from simulator.cost import TaskKind
from simulator.energy import Activity, dram_energy, link_energy, static_energy, task_density, task_energy
from simulator.machine import Channels, Machine, load_machine
from simulator.schedule import Schedule
from simulator.schedule.dataflow import Item, ItemKind
from workloads import ConfigError, Network

from .machine import DRAM_END, Clock, Fabric, Link, Processor, TransferRecord
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
    collecting = gc.isenabled() and executor is None  # functional runs make garbage of their own
    if collecting:
        gc.disable()  # a run builds hundreds of thousands of small lists, none of them in a cycle
    try:
        return _Simulation(schedule, machine, minibatches, overlap, trace, executor, activity).run()
    finally:
        if collecting:
            gc.enable()


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


class _Share(NamedTuple):
    """A share of an output sent to another processor, with the channels it crosses."""

    dest: int
    nbytes: int
    route: tuple[tuple[Link, _Queue], ...]  # the channels of its route and their queues
    duration: int  # cycles on each of them (0 on a free interconnect)


class _Op(NamedTuple):
    """A slice step compiled for the run: items by id, with what the loop needs at hand."""

    step: SliceStep
    offset: int
    cycles: int
    needs: tuple[tuple[int, int, bool], ...]  # (item, shares that complete it, whether the last to read it)
    weights: int  # the weights item it reads, -1 if none
    lag: int  # it reads weight version batch - lag (1 + D)
    weight_parts: int
    weights_last: bool  # whether the last to read each version (functional runs keep every version)
    outputs: tuple[tuple[int, bool, tuple[_Share, ...], bool], ...]  # (item, local, remote, weights)
    label: int  # the item its DRAM reads are labelled with
    wg: bool
    record: tuple  # (label, kind, layer) for the slice records


# The joins the processes wait for are lists (the hot path builds hundreds of thousands of them):
# a join is [pending, time, waiter, then]: complete once its `pending` contributions are in, at the
# latest of their times; `waiter` is the event of the process waiting for it (triggered at that
# time), `then` the joins it contributes to once complete (or None). A buffer (the shares of one
# item of one mini-batch, or of one weight version, that reach one processor) adds [count,
# payloads, feeds]: its shares, their payloads (functional mode) and trace records, in booking
# order. A booking (one service of a channel: a link hop or a DRAM access) adds [done, duration,
# record, info]: the join its end contributes to (None: none; a hop whose sender waits for it to
# have left contributes to that join, which hands its end on), its cycles, its `TransferRecord`'s
# index and fields (traced runs).
PENDING, TIME, WAITER, THEN = range(4)
COUNT, PAYLOADS, FEEDS = 4, 5, 6
DONE, DURATION, RECORD, INFO = 4, 5, 6, 7


class _Slice(NamedTuple):
    """One slice of a processor's program for one mini-batch, with the joins it waits for and
    those its end contributes to (a position without a slice has `op` None)."""

    op: _Op | None
    batch: int
    position: int
    rank: int  # its place in the static order (records and samples of a time keep it)
    write: list | None  # the booking of its posted DRAM write (ready when the processor turns to it)
    read: list | None  # that of its DRAM read (ready once its data and weights are there)
    read_done: list | None
    needs: tuple[list, ...]  # the buffers of its data
    weights: list | None  # that of its weight version
    ends: list[list]  # local deliveries and the first hops of its transfers: ready at its end
    sent: tuple[list, ...]  # when its transfers of this step have left it (without overlap)
    payloads: list[list[tuple[list, int]]] | None  # functional: the buffers and slots of each output
    reads: int  # the trace index of its DRAM read (-1: none)


class _Queue(deque):
    """A channel's bookings not yet served, in the static order; `idle`, the event its process
    waits on once it has served all of them, handed to the next booking (`book`)."""

    __slots__ = ("idle",)

    def __init__(self) -> None:
        super().__init__()
        self.idle: Event | None = None

    def book(self, booking: list) -> None:
        """Append `booking` (not yet ready); the idle channel waits for it to be ready."""
        self.append(booking)
        if self.idle is not None:
            booking[WAITER], self.idle = self.idle, None


class _Simulation:
    """The static machine as SimPy processes: one per processor walking its step program, one per
    link direction or DRAM channel serving its bookings in the order of the schedule (step, then
    each slice's nominal place in its step, processor, slice), never in the order they become
    ready. Every time is then a max-plus expression of durations, each non-increasing in every
    resource (docs/machine.md)."""

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
        self.records: list | None = [] if trace else None
        self.sram: list | None = [] if trace else None
        self.procs = [Processor(p, s.array, s.sram_bytes) for p, s in enumerate(specs)]
        self.plan = Plan(steps, self.procs, self.items, minibatches, machine)
        self.fabric = Fabric(machine, None, None, self.names)
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
        # the channels' queues, each processor's route to every other (the queues of its hops)
        # and DRAM queue
        self.queues = [_Queue() for _ in self.fabric.links + self.channels]
        queue = {id(c): q for c, q in zip(self.fabric.links + self.channels, self.queues)}
        routes = [[tuple((link, queue[id(link)]) for link in path) for path in paths] for paths in self.fabric.paths]
        self.dram_queue = [None if c is None else queue[id(c)] for c in self.channel]
        parts, fabric = self.flow.parts, self.fabric

        def share(p: int, q: int, nbytes: int) -> _Share:
            return _Share(q, nbytes, routes[p][q], 0 if fabric.free else fabric.cycles(nbytes))

        def label(st: SliceStep) -> int:
            return ids[(st.needs or (st.weights,) if st.weights else st.needs or (st.outputs[0].item,))[0]] \
                if st.needs or st.weights or st.outputs else 0

        # the order every channel serves its bookings in: by step, then the slice's nominal start
        # within its step (the cycles of the slices before it on its processor), processor, index
        nominal = [(sum(st.cycles for st in program[:i]), p, i)
                   for p, program in enumerate(steps.programs) for i in range(len(program))]
        self.order = [(p, i) for _, p, i in sorted(nominal)]
        # the walk reads a buffer of mini-batch b (version v) on p in step b + offset (v + lag +
        # offset), at its slice's place in the order: the last of its readers there drops it
        place = {pi: k for k, pi in enumerate(self.order)}

        def read_at(p: int, i: int, st: SliceStep, item: Item) -> tuple[int, int]:
            """When the walk reads `item` for slice i of p: (steps after its mini-batch or version, place)."""
            return (1 + steps.delays[st.layer] if item == st.weights else 0) + st.offset, place[p, i]

        last_read: dict[tuple[int, Item], tuple[int, int]] = {}
        for p, program in enumerate(steps.programs):
            for i, st in enumerate(program):
                for item in st.needs + ((st.weights,) if st.weights else ()):
                    last_read[p, item] = max(last_read.get((p, item), (-1, -1)), read_at(p, i, st, item))

        def last(p: int, i: int, st: SliceStep, item: Item) -> bool:
            return last_read[p, item] == read_at(p, i, st, item)

        self.programs = [tuple(_Op(
            st, st.offset, st.cycles, tuple((ids[item], parts[item], last(p, i, st, item)) for item in st.needs),
            -1 if st.weights is None else ids[st.weights], 1 + steps.delays[st.layer],
            0 if st.weights is None else parts[st.weights],
            st.weights is not None and executor is None and last(p, i, st, st.weights),
            tuple((ids[o.item], o.local, tuple(share(p, q, nbytes) for q, nbytes in o.remote),
                   o.item.kind is ItemKind.WEIGHTS) for o in st.outputs),
            label(st), st.kind is TaskKind.WG, (st.label, st.kind.value, st.layer)) for i, st in enumerate(program))
            for p, program in enumerate(steps.programs)]
        self.buffers: dict[tuple[int, int, int], list] = {}
        self.step_ends: list[list[int]] = [[] for _ in steps.programs]
        self.updates = [0] * minibatches
        self.clock = Clock()
        # per processor and step the slices, and the transfers that wait for it to begin the step
        # (its credits; the last entry: the weight versions sent once the run is over)
        count, nsteps = len(self.procs), self.plan.steps
        self.slices: list[list[list[_Slice] | None]] = [[[] for _ in range(nsteps)] for _ in range(count)]
        self.credits: list[list[list[list] | None]] = [[[] for _ in range(nsteps + 1)] for _ in range(count)]
        self.walk = self._book()
        # the most steps a weight version is sent after the step that made it (just in time)
        self.ahead = max((self.plan.send_step[p, q, op.step.layer] - op.offset for p, program in enumerate(self.programs)
                          for op in program for _, _, remote, weights in op.outputs if weights for q, *_ in remote),
                         default=0)
        self.booked = 0  # the steps booked so far (all of them and the last sends: `booked` > steps)

    def run(self) -> SimResult:
        clock = self.clock
        for link, queue in zip(self.fabric.links + self.channels, self.queues):
            clock.process(self._serve(link, queue))
        processes = [clock.process(self._processor(p)) for p in range(len(self.procs))]
        clock.run()
        if not all(process.triggered for process in processes):
            raise RuntimeError("static order: a processor waits for data that never comes")
        if self.records is not None:
            self.records = [r for _, r in sorted(self.records, key=lambda r: r[0])]
            self.sram = [s for _, _, s in sorted(self.sram, key=lambda s: s[:2])]
        return self._result()

    # -- the static order ----------------------------------------------------------------
    def _deliver(self, item: int, batch: int, dest: int, record: int = -1) -> tuple[list, int]:
        """A share of `item` of `batch` (a weight version) is booked to reach `dest` (traced: by
        `record`); its buffer and its place among the buffer's shares."""
        key = (batch, item, dest)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = [0, 0, None, None, 0, None, None]
        buf[PENDING] += 1
        buf[COUNT] += 1
        if record >= 0:
            if buf[FEEDS] is None:
                buf[FEEDS] = []
            buf[FEEDS].append(record)
        return buf, buf[COUNT] - 1

    def _transfer(self, src: int, share: _Share, item: int, batch: int, sent: bool
                  ) -> tuple[list, list | None, list, int]:
        """Book `share` of `item` of `batch` from `src` on every hop of its route, behind everything
        booked before on each channel: (the join ready once the data is made and the receiver has
        credited it, the first hop's end if `sent`, the receiving buffer, the share's place)."""
        trace, dst, nbytes, duration = self.trace, share.dest, share.nbytes, share.duration
        if self.fabric.free:  # nothing to wait for: it arrives when it is ready
            for link, _ in share.route:
                link.nbytes += nbytes
                link.transfers += 1
            buf, slot = self._deliver(item, batch, dst)
            ready = [2, 0, None, [buf]]
            return ready, ready if sent else None, buf, slot
        first = prev = None
        for link, queue in share.route:
            if trace is None:
                hop = [1, 0, None, None, None, duration, -1, None]
            else:
                hop = [1, 0, None, None, None, duration, len(trace), (link.name, *self.names[item], batch, src, dst,
                                                                     nbytes)]
                trace.append(None)
            queue.append(hop)  # _Queue.book, inlined
            if queue.idle is not None:
                hop[WAITER], queue.idle = queue.idle, None
            link.busy += duration
            link.nbytes += nbytes
            link.transfers += 1
            if prev is None:
                first = hop
                hop[PENDING] = 2  # the data made, the receiver's credit
            else:
                prev[DONE] = hop
            prev = hop
        buf, slot = self._deliver(item, batch, dst, prev[RECORD])
        prev[DONE] = buf
        left = None
        if sent:  # the first hop's end reaches what follows it through the join of its leaving
            left = first[DONE] = [1, 0, None, [first[DONE]]]
        return first, left, buf, slot

    def _dram(self, p: int, nbytes: int, item: int, batch: int, read: bool) -> list:
        """Book an access of `nbytes` for p on its DRAM channel, behind everything booked before."""
        channel = self.channel[p]
        duration = self.dram_durations.get(nbytes)
        if duration is None:
            duration = self.dram_durations[nbytes] = self.machine.dram.cycles(nbytes)
        channel.busy += duration
        channel.nbytes += nbytes
        channel.transfers += 1
        b = batch if 0 <= batch < self.n else 0 if batch < 0 else self.n - 1  # counted in the run's mini-batches
        channel.busy_by_batch[b] += duration
        channel.bytes_by_batch[b] += nbytes
        if self.trace is None:
            booking = [1, 0, None, None, None, duration, -1, None]
        else:
            booking = [1, 0, None, None, None, duration, len(self.trace),
                       (channel.name, *self.names[item], batch, DRAM_END if read else p, p if read else DRAM_END,
                        nbytes)]
            self.trace.append(None)
        self.dram_queue[p].book(booking)
        return booking

    def _book(self):
        """Walk the run in the static order (every slice of every step) and book every link hop and
        DRAM access on its channel's queue; what each slice waits for and feeds is wired as joins.
        No time is computed here: the processes do that. A generator: it books one step each time
        it is resumed (`_book_through`), then the last weight versions."""
        n, plan, programs = self.n, self.plan, self.programs
        overlap, functional = self.overlap, self.executor is not None
        first, last = plan.first, plan.first + plan.steps
        deferred: dict[int, list] = {}  # step -> weight versions to send then: (maker, share, item, version, ends, slots)
        send_step, buffers, transfer, width = plan.send_step, self.buffers, self._transfer, plan.width

        def send_deferred(step: int) -> None:
            credit = min(step, last) - first
            for h, share, item, version, ends, slots in deferred.pop(step, ()):
                ready, _, buf, slot = transfer(h, share, item, version, False)
                ends.append(ready)
                self.credits[share.dest][credit].append(ready)
                if slots is not None:
                    slots.append((buf, slot))

        rank = 0
        for step in range(first, last):
            send_deferred(step)
            s = step - first
            credits = [c[s] for c in self.credits]  # per receiver: the transfers of this step
            for p, i in self.order:
                rank += 1
                op = programs[p][i]
                batch = step - op.offset
                k = s * width[p] + i  # its position on p's timeline (simulator.des.memory)
                access = plan.access[p].get(k)
                write = read = done = None
                if batch < 0 or batch >= n:  # no slice here: only the traffic of what the others made it hold
                    if access is not None:
                        if access.write:
                            write = self._dram(p, access.write, access.write_item, batch, False)
                        if access.read:
                            read = self._dram(p, access.read, op.label, batch, True)
                    self.slices[p][s].append(_Slice(None, batch, k, rank, write, read, None, (), None, [], (), None, -1))
                    continue
                needs = []
                for item, need, drop in op.needs:
                    buf = buffers.pop((batch, item, p), None) if drop else buffers.get((batch, item, p))
                    if buf is None or buf[COUNT] < need:
                        raise RuntimeError(f"static order: {self.items[item]} of mini-batch {batch} not sent to p{p} "
                                           f"before step {step}")
                    needs.append(buf)
                wbuf, version = None, batch - op.lag
                if op.weights >= 0 and version >= 0:
                    wbuf = buffers.pop((version, op.weights, p), None) if op.weights_last else \
                        buffers.get((version, op.weights, p))
                    if wbuf is None or wbuf[COUNT] < op.weight_parts:
                        raise RuntimeError(f"static order: weights {op.step.layer} version {version} not on p{p} "
                                           f"before step {step}")
                reads = -1
                if access is not None:
                    if access.write:  # posted: the processor does not wait for it
                        write = self._dram(p, access.write, access.write_item, batch, False)
                    if access.read:
                        read = self._dram(p, access.read, op.label, batch, True)
                        reads = read[RECORD]
                        done = [1, 0, None, None]
                        read[DONE] = done
                ends, sent, payloads = [], [], [] if functional else None
                for item, local, remote, weights in op.outputs:
                    slots = [] if functional else None
                    if local:
                        buf, slot = self._deliver(item, batch, p)
                        ends.append(buf)
                        if functional:
                            slots.append((buf, slot))
                    for share in remote:
                        if weights:
                            send = send_step[p, share.dest, op.step.layer] + batch
                            if send > step:  # just in time: one step before its first reader on q
                                deferred.setdefault(send, []).append((p, share, item, batch, ends, slots))
                                continue
                        ready, left, buf, slot = transfer(p, share, item, batch, not overlap)
                        ends.append(ready)
                        credits[share.dest].append(ready)
                        if left is not None:
                            sent.append(left)
                        if functional:
                            slots.append((buf, slot))
                    if functional:
                        payloads.append(slots)
                self.slices[p][s].append(_Slice(op, batch, k, rank, write, read, done, tuple(needs), wbuf, ends,
                                                tuple(sent), payloads, reads))
            self.booked = s + 1
            yield
        for step in sorted(deferred):  # the last versions, which no slice of the run reads
            send_deferred(step)
        self.booked += 1
        for queue in self.queues:  # a channel waiting for more bookings has none left
            if queue.idle is not None:
                queue.idle.succeed()

    def _book_through(self, s: int) -> None:
        """Book the steps up to `s` (the index of a step; `steps`: also the last sends) if not yet,
        and those a slice of them sends weight versions in: a processor does so as it begins step s,
        so the run is booked just ahead of it, and every join a slice feeds exists before it runs."""
        while self.booked <= min(s + self.ahead, self.plan.steps):
            next(self.walk, None)

    # -- the processes -------------------------------------------------------------------
    def _resolve(self, join: list, time: int) -> None:
        """A contribution to `join` at `time` (never before now); inlined in the processes' loops."""
        if time > join[TIME]:
            join[TIME] = time
        join[PENDING] -= 1
        if not join[PENDING] and (join[WAITER] is not None or join[THEN]):
            self._complete(join)

    def _complete(self, join: list) -> None:
        """`join` is complete: wake its waiter at its time, contribute to what follows it."""
        waiter = join[WAITER]
        if waiter is not None:  # triggered at the join's time: Event.succeed, Clock.schedule inlined
            waiter._ok, waiter._value = True, None
            clock = self.clock
            clock.scheduled += 1
            heappush(clock._queue, (join[TIME], NORMAL, next(clock._eid), waiter))
        if join[THEN]:
            for then in join[THEN]:
                self._resolve(then, join[TIME])

    def _latest(self, joins, since: int):
        """Wait until every one of `joins` is complete; the latest of their times and `since`."""
        for join in joins:
            if join[PENDING]:
                join[WAITER] = event = Event(self.clock)
                yield event
            if join[TIME] > since:
                since = join[TIME]
        return since

    def _serve(self, link: Link, queue: _Queue):
        """A channel's process: serves its bookings in the static order, each from when it is ready
        and the channel free, for its duration; hands its end to what follows it. Once it has served
        all those booked so far it waits for the next one to be booked and ready (`_Queue.book`)."""
        free, trace, complete, clock, pop = 0, self.trace, self._complete, self.clock, queue.popleft
        while True:
            if not queue:
                if self.booked > self.plan.steps:
                    break
                queue.idle = event = Event(clock)
                yield event
                if not queue:  # the run is booked: nothing more comes
                    break
            booking = pop()
            if booking[PENDING]:
                booking[WAITER] = event = Event(clock)
                yield event
            ready = booking[TIME]
            start = ready if ready > free else free
            free = end = start + booking[DURATION]
            if trace is not None:
                name, kind, layer, batch, src, dst, nbytes = booking[INFO]
                trace[booking[RECORD]] = TransferRecord(name, kind, layer, batch, src, dst, start, end, nbytes)
            join = booking[DONE]
            if join is not None:  # _resolve, inlined
                if end > join[TIME]:
                    join[TIME] = end
                join[PENDING] -= 1
                if not join[PENDING] and (join[WAITER] is not None or join[THEN]):
                    complete(join)
        link.free = free

    def _processor(self, p: int):
        """Processor p's process: walks its step program; each slice waits for its data, its weight
        version and its DRAM read, computes for its cycles (one timeout), then hands its outputs on;
        without overlap it also waits until its transfers have left."""
        clock, resolve, complete, latest, plan = self.clock, self._resolve, self._complete, self._latest, self.plan
        proc, overlap, records, sram, updates = self.procs[p], self.overlap, self.records, self.sram, self.updates
        programs, step_ends, credits = self.programs[p], self.step_ends[p], self.credits[p]
        span = (min((op.offset for op in programs), default=0) - plan.first,
                max((op.offset for op in programs), default=-1) + self.n - plan.first)
        free = 0  # when it has finished its last slice (and, without overlap, sent its outputs)
        if sram is not None:
            sram.append((0, p - len(self.procs), SramSample(p, 0, plan.occupancy(p, 0))))
        by_step, book = self.slices[p], self._book_through
        for s in range(plan.steps):
            book(s)
            slices, by_step[s] = by_step[s], None
            for join in credits[s]:  # it begins step s: what waits for its credit may leave (_resolve inlined)
                if free > join[TIME]:
                    join[TIME] = free
                join[PENDING] -= 1
                if not join[PENDING] and (join[WAITER] is not None or join[THEN]):
                    complete(join)
            credits[s] = None
            for sl in slices:
                if sl.write is not None:  # posted: the processor does not wait for it
                    resolve(sl.write, free)
                op = sl.op
                if op is None:
                    if sl.read is not None:
                        resolve(sl.read, free)
                    if sram is not None:
                        sram.append((free, 2 * sl.rank, SramSample(p, free, plan.occupancy(p, 2 * sl.position))))
                        sram.append((free, 2 * sl.rank + 1, SramSample(p, free, plan.occupancy(p, 2 * sl.position + 1))))
                    continue
                t0 = t1 = free
                for join in sl.needs:  # _latest, inlined
                    if join[PENDING]:
                        join[WAITER] = event = Event(clock)
                        yield event
                    if join[TIME] > t1:
                        t1 = join[TIME]
                wbuf = sl.weights
                t2 = t1
                if wbuf is not None:
                    if wbuf[PENDING]:
                        wbuf[WAITER] = event = Event(clock)
                        yield event
                    if wbuf[TIME] > t2:
                        t2 = wbuf[TIME]
                t3 = t2
                if sl.read is not None:
                    resolve(sl.read, t2)
                    done = sl.read_done  # _latest, inlined
                    if done[PENDING]:
                        done[WAITER] = event = Event(clock)
                        yield event
                    if done[TIME] > t3:
                        t3 = done[TIME]
                if sram is not None:
                    sram.append((t0, 2 * sl.rank, SramSample(p, t0, plan.occupancy(p, 2 * sl.position))))
                end = t3 + op.cycles
                if self.executor is not None:
                    yield Timeout(clock, t3 - clock._now)
                    self._execute(sl, p, t3)
                yield Timeout(clock, end - clock._now)
                proc.wait_data += t1 - t0
                proc.wait_weights += t2 - t1
                proc.wait_memory += t3 - t2
                proc.busy += op.cycles
                if sram is not None:
                    sram.append((end, 2 * sl.rank + 1, SramSample(p, end, plan.occupancy(p, 2 * sl.position + 1))))
                for join in sl.ends:  # _resolve, inlined
                    if end > join[TIME]:
                        join[TIME] = end
                    join[PENDING] -= 1
                    if not join[PENDING] and (join[WAITER] is not None or join[THEN]):
                        complete(join)
                released = end if overlap else (yield from latest(sl.sent, end))
                proc.wait_bus += released - end
                free = released
                if records is not None:
                    fed = [r for buf in sl.needs + ((wbuf,) if wbuf is not None else ()) for r in buf[FEEDS] or ()]
                    if sl.reads >= 0:  # its DRAM read
                        fed.append(sl.reads)
                    records.append((sl.rank, SliceRecord(p, *op.record, sl.batch, t3, end, t1, t2, t0, released,
                                                         tuple(fed))))
                if op.wg and released > updates[sl.batch]:  # the update is complete once its last WG slice is
                    updates[sl.batch] = released
            if span[0] <= s < span[1]:
                step_ends.append(free)
        book(plan.steps)
        for join in credits[-1]:  # the run is over: the last weight versions may leave
            resolve(join, free)

    def _execute(self, sl: _Slice, p: int, now: int) -> None:
        """Functional mode: hand the slice's arrived payloads to the executor (it starts at `now`) and
        put what it produces in the buffers of the item's receivers."""
        st, buffers, ids = sl.op.step, self.buffers, self.ids
        inputs = {item: [x for x in buf[PAYLOADS] or () if x is not None] for item, buf in zip(st.needs, sl.needs)}

        def weights(version: int) -> object | None:
            buf = buffers.get((version, ids[st.weights], p))
            if buf is None or buf[PENDING] == buf[COUNT] or buf[TIME] > now or not buf[PAYLOADS] \
                    or buf[PAYLOADS][0] is None:
                return None
            return buf[PAYLOADS][0]

        produced = self.executor.run(st, sl.batch, inputs, weights)
        for (item, _, _, _), slots in zip(sl.op.outputs, sl.payloads):
            payload = produced.get(self.items[item])
            if payload is not None:
                for buf, slot in slots:
                    if buf[PAYLOADS] is None:
                        buf[PAYLOADS] = [None] * buf[COUNT]
                    buf[PAYLOADS][slot] = payload


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
            fill_latency=self.updates[0], total_cycles=total, events=self.clock.scheduled,
            update_times=tuple(self.updates), processors=procs,
            links=tuple(LinkStats.within(l, total, busy, cycles) for l, busy in links),
            dram=tuple(LinkStats.within(c, total, busy, cycles) for c, busy in dram),
            dram_bytes_per_update=dram_bytes, processors_used=used, limited_by=limited_by,
            energy=None if cycles is None else self._energy(cycles, used, dram_bytes, activity), activity=activity,
            slices=tuple(self.records) if self.records is not None else None,
            transfers=tuple(self.trace) if self.trace is not None else None,
            sram=None if self.sram is None else tuple(self.sram))

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
