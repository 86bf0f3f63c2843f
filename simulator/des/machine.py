"""The discrete-event components of the virtual multiprocessor: channels, processors, the fabric.

The physical description (clock, arrays, SRAM, DRAM, topology, energy) is one
`simulator.machine.Machine`; this module holds the mutable state the simulation keeps for it.
`Processor` is an `SR x SC` output-stationary systolic array with a bank of `SC` IIR filters and
an SRAM of a capacity; `Fabric` holds the interconnect's channels and the route of every
processor pair (`Machine.route`). `Clock` is the SimPy environment `simulate` runs on, `DeferringClock`
that of the synchronous baseline.

Time is in integer cycles. A transfer crosses the channels of its route in turn (store and
forward): hop i starts when hop i - 1 has ended and the channel is free, occupying it for
`Machine.link_cycles(bytes)`. In `simulate` every channel is a SimPy process serving its
bookings in the schedule's static order (`run`); the synchronous baseline (`synchronous`) books
a hop when the previous one ends, by a deferred call run in time order (`DeferringClock.defer`,
`Fabric.send`), so its channels serve transfers first come, first served.
"""
from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import simpy

from simulator.cost import ArrayConfig
from simulator.machine import BUS, Interconnect, LinkId, Machine, Processors, Topology

class Clock(simpy.Environment):
    """A SimPy environment that counts the events it schedules (for the benchmark's events/s);
    `run()` processes them until none is left, `simpy.Environment.step` inlined."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule(self, event, priority=simpy.core.NORMAL, delay=0) -> None:
        self.scheduled += 1
        heapq.heappush(self._queue, (self._now + delay, priority, next(self._eid), event))

    def run(self) -> None:
        queue, pop = self._queue, heapq.heappop
        while queue:
            self._now, _, _, event = pop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):  # a process failed: as simpy does
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc


class DeferringClock(Clock):
    """A `Clock` that also runs deferred calls (`defer`: a transfer's next hop) in time order, each
    before any event of its time or later, without making them SimPy events."""

    def __init__(self) -> None:
        super().__init__()
        self.deferred: list = []
        self.order = itertools.count()

    def defer(self, time: int, call: Callable, *args) -> None:
        """Run `call(*args)` at cycle `time` (>= now)."""
        heapq.heappush(self.deferred, (time, next(self.order), call, args))

    def run(self) -> None:
        simpy.Environment.run(self)

    def step(self) -> None:
        deferred = self.deferred
        if deferred:
            queue = self._queue
            while deferred and (not queue or deferred[0][0] <= queue[0][0]):
                self._now, _, call, args = heapq.heappop(deferred)
                call(*args)
        super().step()


def link_machine(bandwidth: float = math.inf, latency: int = 0, shared: bool = False,
                 array: ArrayConfig | str = ArrayConfig(32, 32)) -> Machine:
    """The paper's machine (unbounded SRAM, no DRAM) of `array` processors with links of `bandwidth`
    bytes per cycle and `latency` cycles per hop between neighbours in a chain, or one bus all
    transfers share."""
    return Machine(name="links", description="the ideal machine with finite links",
                   processors=Processors(ArrayConfig.of(array)),
                   interconnect=Interconnect(Topology.SHARED if shared else Topology.CHAIN, bandwidth, latency))


DRAM_END = -1
"""`TransferRecord.src` of a DRAM read and `.dst` of a DRAM write: the memory side."""


class TransferRecord(NamedTuple):
    """One booking of a channel (a link hop or a DRAM access): the channel, what it carried
    (item, layer, mini-batch or weight version, from, to: `DRAM_END` for the memory), when.
    A DRAM read carries the mini-batch of the slice that reads (for weights: not the version)."""

    link: str
    item: str
    layer: int
    batch: int
    src: int
    dst: int
    start: int
    end: int
    nbytes: int


@dataclass(slots=True)
class Link:
    """One channel (a link direction, the shared bus, or a DRAM channel): busy until `free`;
    counts what it carried, and per mini-batch (DRAM channels) its busy cycles and bytes.

    Booking: a transfer ready at `t` occupies the channel from `max(t, free)` for its cycles,
    and `free` moves to its end."""

    name: str
    free: int = 0
    busy: int = 0
    nbytes: int = 0
    transfers: int = 0
    busy_by_batch: list[int] | None = None
    bytes_by_batch: list[int] | None = None


@dataclass(slots=True)
class Processor:
    """A systolic array with its IIR filter bank and SRAM of `capacity` bytes (`math.inf`:
    unbounded); accumulates where its time went."""

    index: int
    array: ArrayConfig
    capacity: float = math.inf
    busy: int = 0
    wait_data: int = 0
    wait_weights: int = 0
    wait_memory: int = 0
    wait_bus: int = 0

    @property
    def filters(self) -> int:
        """The IIR filter bank has one filter per array column (Fig. 11)."""
        return self.array.cols


def link_name(link: LinkId, machine: Machine) -> str:
    """`p0->p1` between processors (the pipeline's names), `n5` for a node holding none, `bus`."""
    if link == BUS:
        return "bus"
    ic, count = machine.interconnect, machine.count
    held = {ic.node(p): p for p in range(count)}
    return "->".join(f"p{held[n]}" if n in held else f"n{n}" for n in (link.src, link.dst))


class Fabric:
    """The interconnect's channels and, for every processor pair, the channels of its route;
    `durations`, the link cycles of each transfer size met so far.

    `send` (the synchronous baseline) books the first hop of a transfer now and every further
    hop when the previous one ends (`clock.defer`), so each channel serves transfers in the
    order they reach it; `deliver(item, batch, dst, time, nbytes, payload, record)` is called
    once the arrival time is known (`record`: the index of the last hop's `TransferRecord` in
    `trace`, -1 untraced). `simulate` uses the routes and link cycles (`cycles`) alone (`clock`
    and `deliver` None) and runs every channel as a process of its own.
    """

    def __init__(self, machine: Machine, clock: DeferringClock | None, deliver: Callable, names: list[tuple[str, int]],
                 trace: list | None = None) -> None:
        procs = machine.count
        self.links = [Link(link_name(l, machine)) for l in machine.links()]
        by_id = dict(zip(machine.links(), self.links))
        self.paths = [[tuple(by_id[l] for l in machine.route(a, b)) for b in range(procs)] for a in range(procs)]
        self.free = machine.interconnect.free
        self.cycles = machine.link_cycles
        self.durations: dict[int, int] = {}  # link cycles by transfer size (few distinct sizes)
        self.clock, self.deliver, self.names, self.trace = clock, deliver, names, trace

    def send(self, src: int, dst: int, nbytes: int, item: int, batch: int, payload: object) -> int:
        """Send a share of `item` (an id of `names`) of `batch` now; the cycle it has left `src`."""
        now = self.clock._now
        path = self.paths[src][dst]
        if self.free:  # nothing to wait for: count the bytes, deliver now
            for link in path:
                link.nbytes += nbytes
                link.transfers += 1
            self.deliver(item, batch, dst, now, nbytes, payload, -1)
            return now
        return self._hop(path, 0, src, dst, nbytes, item, batch, payload)

    def _hop(self, path: tuple[Link, ...], i: int, src: int, dst: int, nbytes: int, item: int, batch: int,
             payload: object) -> int:
        link, duration, now = path[i], self.durations.get(nbytes), self.clock._now
        if duration is None:
            duration = self.durations[nbytes] = self.cycles(nbytes)
        link.free = end = (link.free if link.free > now else now) + duration
        link.busy += duration
        link.nbytes += nbytes
        link.transfers += 1
        if self.trace is not None:
            self.trace.append(TransferRecord(link.name, *self.names[item], batch, src, dst, end - duration, end,
                                             nbytes))
        if i + 1 == len(path):
            self.deliver(item, batch, dst, end, nbytes, payload, -1 if self.trace is None else len(self.trace) - 1)
        else:
            heapq.heappush(self.clock.deferred, (end, next(self.clock.order), self._hop,
                                                 (path, i + 1, src, dst, nbytes, item, batch, payload)))  # DeferringClock.defer
        return end
