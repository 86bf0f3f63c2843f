"""The virtual multiprocessor: processors, the interconnect bus, and their configuration.

`Processor` is an `SR x SC` output-stationary systolic array with a bank of `SC` IIR filters
and an SRAM whose occupancy is tracked; `Bus` joins adjacent processors. Only the processors
are SimPy processes (one long-lived process each, walking its own slice program); the bus is
pass-through logic: a transfer is booked on each link it crosses in arrival order (FIFO), so
it costs arithmetic and at most one event per extra hop, never a per-cycle tick.

Time is in integer cycles. A transfer occupies each link it crosses for
`ceil(bytes / bandwidth) + latency` cycles and arrives when it leaves the last link.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import simpy

from simulator.cost import ArrayConfig
from workloads import ConfigError


class TransferRecord(NamedTuple):
    """One hop of a transfer: the channel, what it carried (item, layer, mini-batch, from, to), when."""

    link: str
    item: str
    layer: int
    batch: int
    src: int
    dst: int
    start: int
    end: int
    nbytes: int


@dataclass(frozen=True)
class BusConfig:
    """Interconnect parameters.

    `bandwidth` is in bytes per cycle (`math.inf` for free transfers), `latency` in cycles.
    Links are full duplex: each direction between two adjacent processors is its own channel.
    With `shared`, one bus carries every transfer, so all transfers contend.
    With `overlap` (double buffering) a processor computes while its results are sent;
    without it, a processor waits until its outgoing data has left before its next slice.
    """

    bandwidth: float = math.inf
    latency: int = 0
    shared: bool = False
    overlap: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.bandwidth, bool) or not isinstance(self.bandwidth, (int, float)) \
                or math.isnan(self.bandwidth) or self.bandwidth <= 0:
            raise ConfigError(f"bus: field 'bandwidth' must be a positive number of bytes per cycle "
                              f"or inf, got {self.bandwidth!r}")
        if isinstance(self.latency, bool) or not isinstance(self.latency, int) or self.latency < 0:
            raise ConfigError(f"bus: field 'latency' must be a non-negative integer of cycles, got {self.latency!r}")

    def occupancy(self, nbytes: int) -> int:
        """Cycles one link is busy carrying `nbytes`."""
        wire = 0 if math.isinf(self.bandwidth) else math.ceil(nbytes / self.bandwidth)
        return wire + self.latency


@dataclass
class Link:
    """One channel: busy until `free`; counts what it carried."""

    name: str
    free: int = 0
    busy: int = 0
    nbytes: int = 0
    transfers: int = 0


@dataclass
class Processor:
    """A systolic array with its IIR filter bank and SRAM; accumulates where its time went."""

    index: int
    array: ArrayConfig
    static_sram: int = 0
    sram: int = 0
    peak_sram: int = 0
    busy: int = 0
    wait_data: int = 0
    wait_weights: int = 0
    wait_bus: int = 0

    @property
    def filters(self) -> int:
        """The IIR filter bank has one filter per array column (Fig. 11)."""
        return self.array.cols

    def allocate(self, nbytes: int) -> None:
        self.sram += nbytes
        if self.sram > self.peak_sram:
            self.peak_sram = self.sram

    def release(self, nbytes: int) -> None:
        self.sram -= nbytes


@dataclass
class Bus:
    """Links between adjacent processors (or one shared bus), booked FIFO."""

    env: simpy.Environment
    config: BusConfig
    procs: int
    trace: list | None = None
    links: dict[tuple[int, int], Link] = field(default_factory=dict, init=False)
    paths: dict[tuple[int, int], tuple[Link, ...]] = field(default_factory=dict, init=False)
    free: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        pairs = [(a, b) for a in range(self.procs) for b in range(self.procs) if a != b]
        if self.config.shared:
            shared = Link("bus")
            self.links = {pair: shared for pair in pairs}
            self.paths = {pair: (shared,) for pair in pairs}
        else:
            for p in range(self.procs - 1):
                self.links[p, p + 1] = Link(f"p{p}->p{p + 1}")
                self.links[p + 1, p] = Link(f"p{p + 1}->p{p}")
            self.paths = {(a, b): tuple(self.links[q, q + (1 if b > a else -1)]
                                        for q in range(a, b, 1 if b > a else -1)) for a, b in pairs}
        self.free = math.isinf(self.config.bandwidth) and self.config.latency == 0

    @property
    def channels(self) -> list[Link]:
        return list({id(l): l for l in self.links.values()}.values())

    def send(self, src: int, dst: int, nbytes: int, what: tuple, arrived: Callable[[int], None]) -> int:
        """Start a transfer now; `arrived(time)` is called once the arrival time is known.

        `what` is `((item, layer), mini-batch, src, dst)`, recorded in the trace.
        Returns the cycle at which the data has left `src` (the end of the first hop).
        """
        path = self.paths[src, dst]
        if self.free:  # nothing to wait for: count the bytes, deliver now
            for link in path:
                link.nbytes += nbytes
                link.transfers += 1
            arrived(self.env.now)
            return self.env.now
        return self._hop(path, 0, nbytes, what, arrived)

    def _hop(self, path: tuple[Link, ...], i: int, nbytes: int, what: tuple,
             arrived: Callable[[int], None]) -> int:
        link = path[i]
        start = max(self.env.now, link.free)
        duration = self.config.occupancy(nbytes)
        end = start + duration
        link.free = end
        link.busy += duration
        link.nbytes += nbytes
        link.transfers += 1
        if self.trace is not None:  # what: ((item, layer), batch, src, dst) of the whole transfer
            (item, layer), batch, src, dst = what
            self.trace.append(TransferRecord(link.name, item, layer, batch, src, dst, start, end, nbytes))
        if i + 1 == len(path):
            arrived(end)
        else:
            event = self.env.timeout(end - self.env.now)
            event.callbacks.append(lambda _: self._hop(path, i + 1, nbytes, what, arrived))
        return end
