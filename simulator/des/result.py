"""What a simulation yields: `SimResult`, its per-processor and per-channel statistics, the energy
per update and the resource that limits throughput."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from simulator.cost import ArrayConfig
from simulator.energy import Activity
from simulator.machine import Machine

from .machine import Link, TransferRecord


def _finite(x: float) -> float | None:
    """JSON has no infinity: unbounded is null."""
    return None if math.isinf(x) else x


class SliceRecord(NamedTuple):
    """One executed slice: processor, task, mini-batch, start/end and when its inputs were there
    (data, then weights; it starts once it has also read back what it spilled to DRAM); `issued`
    is when the processor turned to it (it waited from then for data, weights, DRAM reads),
    `released` when it moved on (after `end` only without overlap: it waited for the bus), and
    `fed_by` the indices in `SimResult.transfers` of the last hops and DRAM reads that brought its
    inputs."""

    proc: int
    label: str
    kind: str
    layer: int
    batch: int
    start: int
    end: int
    data_ready: int
    weights_ready: int
    issued: int
    released: int
    fed_by: tuple[int, ...]


class SramSample(NamedTuple):
    """Processor `proc` holds `nbytes` in SRAM from cycle `time` (traced runs)."""

    proc: int
    time: int
    nbytes: int


@dataclass(frozen=True)
class ProcessorStats:
    """Where one processor's cycles went over the whole run, and its SRAM."""

    index: int
    load: int  # analytic cycles per update (the schedule's)
    work: int  # cycles per update of its slices on its own array (= load unless its array differs)
    busy: int
    wait_data: int
    wait_weights: int
    wait_memory: int  # reading spilled data back from DRAM
    wait_bus: int
    total: int
    peak_sram: int  # bytes resident in SRAM at most (weights, buffers, stashed weight versions)
    sram_bytes: int | float  # its SRAM capacity (math.inf: unbounded)
    kept: int  # one mini-batch's intermediates its backward slices keep (the paper's per-processor memory)

    @property
    def idle(self) -> int:
        """Cycles with nothing to do: before its first slice, after its last, or no work."""
        return self.total - self.busy - self.wait_data - self.wait_weights - self.wait_memory - self.wait_bus

    def share(self, cycles: int) -> float:
        return cycles / self.total if self.total else 0.0

    @property
    def utilization(self) -> float:
        return self.share(self.busy)


@dataclass(frozen=True)
class LinkStats:
    """One channel (a link direction, the shared bus, or a DRAM channel): cycles busy within the
    run's `total` cycles, bytes and transfers over the run; busy cycles per update in the steady
    state and their share of an update (None: the steady state was not measured)."""

    name: str
    busy: int
    nbytes: int
    transfers: int
    total: int
    busy_per_update: float = 0.0
    steady_share: float | None = None

    @classmethod
    def within(cls, link: Link, total: int, busy_per_update: float = 0.0, cycles: float | None = None) -> LinkStats:
        """`link`'s statistics over the run's `total` cycles (the run ends after its last booking);
        with `cycles` per update, the steady share."""
        return cls(link.name, link.busy, link.nbytes, link.transfers, total, busy_per_update,
                   None if cycles is None else busy_per_update / cycles)

    @property
    def occupancy(self) -> float:
        """Share of the window the link was busy, in [0, 1]."""
        return self.busy / self.total if self.total else 0.0


class Resource(str, Enum):
    """What can limit throughput."""

    PROCESSOR = "processor"
    LINK = "link"
    DRAM = "dram"


class Limit(NamedTuple):
    """The resource with the most busy cycles per update in the steady state, and their share of
    an update (None: the steady state was not measured)."""

    resource: Resource
    name: str
    busy_per_update: float
    share: float | None

    @property
    def label(self) -> str:
        """'processor p3', 'link p0->p1', 'dram' (the shared channel) or 'dram p2'."""
        return self.name if self.resource is Resource.DRAM else f"{self.resource.value} {self.name}"


class EnergyBreakdown(NamedTuple):
    """Energy per weight update in joules (docs/machine.md, energy model): the slices' dynamic
    energy (`compute`, `iir`, `sram`), DRAM and link traffic, and the processors' leakage."""

    compute: float
    iir: float
    sram: float
    dram: float
    link: float
    static: float

    @property
    def total(self) -> float:
        return sum(self)


@dataclass(frozen=True)
class SimResult:
    """The outcome of executing a schedule for N mini-batches on a machine.

    `simulated_cycles_per_update` is the steady state: every processor handles one
    mini-batch per step, so the long-run cycles per update are those of the slowest
    processor's steps, measured over the steps in which every processor has all its slices
    (see `run.step_period`), and never fewer than the busy cycles per update of any processor, link
    or DRAM channel (a run too short to saturate a resource, thanks to gradient-delay slack, is
    held to that bound). It is None (not measured; `steady_state` False) when the run is too
    short for that: a figure from the fill alone could exceed what the schedule allows; so are
    then the figures that divide by it (time, throughput, energy, power, shares).
    Update intervals within a finite run can be shorter: a processor with gradient-delay
    slack can run ahead of the rest for many mini-batches before it sets the pace.
    `fill_latency` is the cycle at which the first mini-batch's update completes, `total_cycles`
    the one at which the last processor has finished and the last transfer or DRAM access has
    ended.
    """

    scheduler: str
    network: str
    array: ArrayConfig
    batch: int
    procs: int
    minibatches: int
    machine: Machine
    overlap: bool
    delays: tuple[int, ...]
    analytic_cycles_per_update: int
    simulated_cycles_per_update: float | None
    events: int = field(compare=False)  # SimPy events scheduled: a cost of the run, not part of its outcome
    fill_latency: int
    total_cycles: int
    update_times: tuple[int, ...]
    processors: tuple[ProcessorStats, ...]
    links: tuple[LinkStats, ...]
    dram: tuple[LinkStats, ...]  # the DRAM channels (none without DRAM)
    dram_bytes_per_update: float
    processors_used: int  # processors with slices (the others are off: no static power)
    energy: EnergyBreakdown | None  # per update (None: not measured)
    activity: Activity | None  # the spike densities energy (and zero-skip cycles) used; None: dense
    limited_by: Limit
    slices: tuple[SliceRecord, ...] | None = None
    transfers: tuple[TransferRecord, ...] | None = None  # link hops and DRAM accesses
    sram: tuple[SramSample, ...] | None = None  # SRAM occupancy at each change, in time order

    def __repr__(self) -> str:
        cycles = "not measured" if self.simulated_cycles_per_update is None else \
            f"{self.simulated_cycles_per_update:,.0f} simulated"
        return (f"SimResult({self.scheduler} on {self.network}, machine {self.machine.name}, P = {self.procs}, "
                f"{self.minibatches} mini-batches: {cycles} vs {self.analytic_cycles_per_update:,} analytic "
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
    def seconds_per_update(self) -> float | None:
        cycles = self.simulated_cycles_per_update
        return None if cycles is None else self.machine.seconds(cycles)

    @property
    def samples_per_second(self) -> float | None:
        return None if self.seconds_per_update is None else self.batch / self.seconds_per_update

    @property
    def energy_per_update_j(self) -> float | None:
        return None if self.energy is None else self.energy.total

    @property
    def energy_per_sample_j(self) -> float | None:
        return None if self.energy is None else self.energy.total / self.batch

    @property
    def power_per_processor_w(self) -> float | None:
        """Average power of a processor in use: energy per update / time per update / processors used."""
        if self.energy is None:
            return None
        return self.energy.total / self.seconds_per_update / self.processors_used

    @property
    def dram_busy_share(self) -> float | None:
        """Share of the steady state the busiest DRAM channel is busy (0 without DRAM)."""
        if not self.steady_state:
            return None
        return max((c.steady_share for c in self.dram), default=0.0)

    @property
    def bottleneck(self) -> str:
        """Which resource limits throughput, and what the others wait for."""
        limit, per_batch = self.limited_by, max(1, self.minibatches)
        busy = "" if limit.share is None else f", busy {limit.share:.0%}"
        if limit.resource is Resource.PROCESSOR:
            proc = self.processors[int(limit.name[1:])]
            what = f"processor {limit.name} (compute, {proc.work:,} cycles per update{busy})"
        else:
            channel = next(c for c in self.links + self.dram if c.name == limit.name)
            kind = "link" if limit.resource is Resource.LINK else "DRAM channel"
            what = f"{kind} {limit.name} ({channel.nbytes // per_batch:,} B per mini-batch{busy})"
        waits = [(p.wait_data, "data", p) for p in self.processors] + \
                [(p.wait_weights, "weights", p) for p in self.processors] + \
                [(p.wait_memory, "DRAM reads", p) for p in self.processors] + \
                [(p.wait_bus, "the bus", p) for p in self.processors]
        cycles, kind, proc = max(waits, key=lambda w: w[0])
        if cycles > 0 and (self.slowdown is None or self.slowdown > 1.0):
            what += f"; largest wait: p{proc.index} waits for {kind} {proc.share(cycles):.0%} of the time"
        return what

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`spikepipe simulate --json`); unbounded capacities and bandwidths are null."""
        m, ic = self.machine, self.machine.interconnect
        return {
            "scheduler": self.scheduler, "network": self.network, "procs": self.procs,
            "array": [self.array.rows, self.array.cols], "batch": self.batch, "minibatches": self.minibatches,
            "machine": {"name": m.name, "clock_ghz": m.clock_ghz, "topology": ic.topology.value,
                        "link_bandwidth": _finite(ic.bandwidth), "link_latency": ic.latency,
                        "dram": None if m.dram is None else {"bandwidth": m.dram.bandwidth, "latency": m.dram.latency,
                                                             "channels": m.dram.channels.value}},
            "overlap": self.overlap,
            "delays": list(self.delays),
            "analytic_cycles_per_update": self.analytic_cycles_per_update,
            "simulated_cycles_per_update": self.simulated_cycles_per_update,
            "steady_state": self.steady_state,
            "seconds_per_update": self.seconds_per_update, "samples_per_second": self.samples_per_second,
            "energy_per_update_j": self.energy_per_update_j, "energy_per_sample_j": self.energy_per_sample_j,
            "energy_breakdown_j": None if self.energy is None else self.energy._asdict(),
            "activity": None if self.activity is None else {"source": self.activity.source,
                                                             "densities": list(self.activity.densities)},
            "zero_skip": m.processors.zero_skip,
            "power_per_processor_w": self.power_per_processor_w,
            "processors_used": self.processors_used,
            "peak_sram_bytes": [p.peak_sram for p in self.processors],
            "sram_capacity_bytes": [_finite(p.sram_bytes) for p in self.processors],
            "kept_bytes_per_minibatch": [p.kept for p in self.processors],
            "dram_bytes_per_update": self.dram_bytes_per_update, "dram_busy_share": self.dram_busy_share,
            "limited_by": {"resource": self.limited_by.resource.value, "name": self.limited_by.name,
                           "busy_cycles_per_update": self.limited_by.busy_per_update,
                           "share": self.limited_by.share},
            "fill_latency": self.fill_latency, "total_cycles": self.total_cycles,
            "utilization": self.utilization, "bus_bytes": self.bus_bytes, "bottleneck": self.bottleneck,
            "processors": [{"index": p.index, "load": p.load, "work": p.work, "busy": p.share(p.busy),
                            "waiting_for_data": p.share(p.wait_data),
                            "waiting_for_weights": p.share(p.wait_weights),
                            "waiting_for_dram": p.share(p.wait_memory),
                            "waiting_for_bus": p.share(p.wait_bus), "idle": p.share(p.idle),
                            "peak_sram_bytes": p.peak_sram, "sram_capacity_bytes": _finite(p.sram_bytes),
                            "kept_bytes_per_minibatch": p.kept}
                           for p in self.processors],
            "links": [{"name": l.name, "occupancy": l.occupancy, "steady_share": l.steady_share, "bytes": l.nbytes,
                       "transfers": l.transfers} for l in self.links],
            "dram_channels": [{"name": c.name, "occupancy": c.occupancy, "steady_share": c.steady_share,
                               "bytes": c.nbytes, "transfers": c.transfers} for c in self.dram],
        }
