"""What a simulation yields: `SimResult` and its per-processor and per-link statistics."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from simulator.cost import ArrayConfig

from .machine import BusConfig, Link, TransferRecord


class SliceRecord(NamedTuple):
    """One executed slice: processor, task, mini-batch, start/end and when its inputs were there."""

    proc: int
    label: str
    kind: str
    layer: int
    batch: int
    start: int
    end: int
    data_ready: int
    weights_ready: int


@dataclass(frozen=True)
class ProcessorStats:
    """Where one processor's cycles went over the whole run."""

    index: int
    load: int  # analytic cycles per update (the schedule's)
    busy: int
    wait_data: int
    wait_weights: int
    wait_bus: int
    total: int
    peak_sram: int

    @property
    def idle(self) -> int:
        """Cycles with nothing to do: before its first slice, after its last, or no work."""
        return self.total - self.busy - self.wait_data - self.wait_weights - self.wait_bus

    def share(self, cycles: int) -> float:
        return cycles / self.total if self.total else 0.0

    @property
    def utilization(self) -> float:
        return self.share(self.busy)


@dataclass(frozen=True)
class LinkStats:
    """One bus channel: cycles busy within the run's `total` cycles, bytes and transfers carried."""

    name: str
    busy: int
    nbytes: int
    transfers: int
    total: int

    @classmethod
    def within(cls, link: Link, total: int) -> LinkStats:
        """`link`'s statistics over the window [0, total]. A transfer nobody waits for (the last weight
        versions, say) can still be on the wire when the last processor finishes; its cycles past
        `total` are not counted. Bookings are FIFO and made by `total`, so whatever lies past it is
        one contiguous stretch ending at `link.free`."""
        return cls(link.name, link.busy - max(0, link.free - total), link.nbytes, link.transfers, total)

    @property
    def occupancy(self) -> float:
        """Share of the window the link was busy, in [0, 1]."""
        return self.busy / self.total if self.total else 0.0


@dataclass(frozen=True)
class SimResult:
    """The outcome of executing a schedule for N mini-batches.

    `simulated_cycles_per_update` is the steady state: every processor handles one
    mini-batch per step, so the long-run cycles per update are those of the slowest
    processor's steps, measured over the steps in which it has all its work (see
    `run.step_period`). It is None (not measured; `steady_state` False) when the run is too
    short for that: a figure from the fill alone could exceed what the schedule allows.
    Update intervals within a finite run can be shorter: a processor with gradient-delay
    slack can run ahead of the rest for many mini-batches before it sets the pace.
    `fill_latency` is the cycle at which the first mini-batch's update completes.
    """

    scheduler: str
    network: str
    array: ArrayConfig
    batch: int
    procs: int
    minibatches: int
    bus: BusConfig
    delays: tuple[int, ...]
    analytic_cycles_per_update: int
    simulated_cycles_per_update: float | None
    events: int  # SimPy events scheduled
    fill_latency: int
    total_cycles: int
    update_times: tuple[int, ...]
    processors: tuple[ProcessorStats, ...]
    links: tuple[LinkStats, ...]
    slices: tuple[SliceRecord, ...] | None = None
    transfers: tuple[TransferRecord, ...] | None = None

    def __repr__(self) -> str:
        return (f"SimResult({self.scheduler} on {self.network}, P = {self.procs}, {self.minibatches} mini-batches: "
                f"{self.simulated_cycles_per_update:,.0f} simulated vs {self.analytic_cycles_per_update:,} analytic "
                f"cycles per update, fill latency {self.fill_latency:,})")

    @property
    def steady_state(self) -> bool:
        """Whether the run was long enough to measure the steady state."""
        return self.simulated_cycles_per_update is not None

    @property
    def utilization(self) -> list[float]:
        return [p.utilization for p in self.processors]

    @property
    def bus_bytes(self) -> int:
        return sum(l.nbytes for l in self.links)

    @property
    def slowdown(self) -> float | None:
        """Simulated over analytic cycles per update (1.0: the schedule's throughput holds); None if
        the steady state was not measured."""
        if self.simulated_cycles_per_update is None:
            return None
        return self.simulated_cycles_per_update / self.analytic_cycles_per_update

    @property
    def bottleneck(self) -> str:
        """Which resource limits throughput, and what the others wait for."""
        busiest = max(self.processors, key=lambda p: p.busy)
        link = max(self.links, key=lambda l: l.busy, default=None)
        if link is not None and link.busy >= busiest.busy:
            what = f"link {link.name} (busy {link.occupancy:.0%} of the time, {link.nbytes // max(1, self.minibatches):,} B per mini-batch)"
        else:
            what = f"processor p{busiest.index} (compute, {busiest.load:,} cycles per update, busy {busiest.utilization:.0%})"
        waits = [(p.wait_data, "data", p) for p in self.processors] + \
                [(p.wait_weights, "weights", p) for p in self.processors] + \
                [(p.wait_bus, "the bus", p) for p in self.processors]
        cycles, kind, proc = max(waits, key=lambda w: w[0])
        if cycles > 0 and (self.slowdown is None or self.slowdown > 1.0):
            what += f"; largest wait: p{proc.index} waits for {kind} {proc.share(cycles):.0%} of the time"
        return what

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`spikepipe simulate --json`)."""
        return {
            "scheduler": self.scheduler, "network": self.network, "procs": self.procs,
            "array": [self.array.rows, self.array.cols], "batch": self.batch, "minibatches": self.minibatches,
            "bus": {"bandwidth": None if self.bus.bandwidth == float("inf") else self.bus.bandwidth,
                    "latency": self.bus.latency, "shared": self.bus.shared, "overlap": self.bus.overlap},
            "delays": list(self.delays),
            "analytic_cycles_per_update": self.analytic_cycles_per_update,
            "simulated_cycles_per_update": self.simulated_cycles_per_update,
            "steady_state": self.steady_state,
            "fill_latency": self.fill_latency, "total_cycles": self.total_cycles,
            "utilization": self.utilization, "bus_bytes": self.bus_bytes, "bottleneck": self.bottleneck,
            "processors": [{"index": p.index, "load": p.load, "busy": p.share(p.busy),
                            "waiting_for_data": p.share(p.wait_data),
                            "waiting_for_weights": p.share(p.wait_weights),
                            "waiting_for_bus": p.share(p.wait_bus), "idle": p.share(p.idle),
                            "peak_sram_bytes": p.peak_sram} for p in self.processors],
            "links": [{"name": l.name, "occupancy": l.occupancy, "bytes": l.nbytes, "transfers": l.transfers}
                      for l in self.links],
        }
