"""`Machine`: the physical machine a schedule runs on, as one validated record.

Clock, processors (array and SRAM per processor), DRAM (absent: none, everything stays in
SRAM), interconnect (topology, links, routes) and the energy table. The processor count may be
left open (`processors.count = None`) and is then the schedule's P: `with_processors(P)` fixes
it and checks that the overrides, the placement and a mesh fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from simulator.cost import ArrayConfig

from .energy_table import EnergyTable
from .fields import fail, number
from .interconnect import Interconnect, LinkId, transfer_cycles
from .memory import Dram
from .processors import Processors, ProcessorSpec


@dataclass(frozen=True)
class Machine:
    """A named machine description (see docs/machine.md)."""

    name: str = "custom"
    description: str = ""
    clock_ghz: float = 1.0
    processors: Processors = Processors()
    dram: Dram | None = None
    interconnect: Interconnect = Interconnect()
    energy: EnergyTable = EnergyTable()

    def __post_init__(self) -> None:
        for key in ("name", "description"):
            if not isinstance(getattr(self, key), str):
                fail(key, "a string", getattr(self, key))
        object.__setattr__(self, "clock_ghz", number("clock_ghz", self.clock_ghz))
        for key, cls in (("processors", Processors), ("interconnect", Interconnect), ("energy", EnergyTable)):
            if not isinstance(getattr(self, key), cls):
                fail(key, f"a {cls.__name__}", getattr(self, key))
        if self.dram is not None and not isinstance(self.dram, Dram):
            fail("dram", "a Dram or absent", self.dram)
        self.interconnect.check_count(self.processors.count)

    @property
    def count(self) -> int | None:
        """Number of processors, None if it is the schedule's."""
        return self.processors.count

    @property
    def ideal(self) -> bool:
        """The paper's machine: free transfers, unbounded SRAM everywhere, no DRAM, dense arrays."""
        return (not self.processors.zero_skip and self.interconnect.free and self.dram is None and math.isinf(self.processors.sram_bytes)
                and all(o.sram_bytes is None or math.isinf(o.sram_bytes) for o in self.processors.overrides))

    def with_processors(self, count: int) -> Machine:
        """This machine with `count` processors (a schedule's P); must match a count it fixes."""
        if self.count is not None and count != self.count:
            fail("processors.count", f"the schedule's processor count {count}", self.count)
        return replace(self, processors=replace(self.processors, count=count))

    def with_overrides(self, array: ArrayConfig | None = None, bandwidth: float | None = None,
                       latency: int | None = None) -> Machine:
        """This machine with another default array and/or link bandwidth and latency (CLI options).
        Per-processor array overrides stay as they are."""
        processors = self.processors if array is None else replace(self.processors, array=array)
        link = {k: v for k, v in (("bandwidth", bandwidth), ("latency", latency)) if v is not None}
        return replace(self, processors=processors, interconnect=replace(self.interconnect, **link))

    def _bound(self) -> int:
        if self.count is None:
            fail("processors.count", "fixed before links and routes are asked for (with_processors)", None)
        return self.count

    def processor(self, index: int) -> ProcessorSpec:
        """Array and SRAM of processor `index`."""
        return self.processors.spec(index)

    def links(self) -> tuple[LinkId, ...]:
        """Every interconnect channel (requires a fixed processor count)."""
        return self.interconnect.links(self._bound())

    def route(self, src: int, dst: int) -> tuple[LinkId, ...]:
        """The channels a transfer from processor `src` to `dst` crosses, in order."""
        return self.interconnect.route(src, dst, self._bound())

    def link_cycles(self, nbytes: int) -> int:
        """Cycles one link is busy carrying `nbytes`."""
        return transfer_cycles(nbytes, self.interconnect.bandwidth, self.interconnect.latency)

    def seconds(self, cycles: float) -> float:
        """Wall time of `cycles` at the clock."""
        return cycles / (self.clock_ghz * 1e9)
