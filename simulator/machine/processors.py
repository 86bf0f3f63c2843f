"""The processors of a machine: a default array and SRAM, and per-processor overrides.

Each processor is an `SR x SC` output-stationary systolic array with a bank of `SC` IIR
filters and an SRAM (Fig. 11). `sram_bytes` is the capacity per processor, `math.inf` for
unbounded (the paper's assumption). A heterogeneous machine overrides the array or the SRAM
of single processors by index. With `zero_skip` every array skips the zero spikes of the tasks
that multiply spikes (FP and WG of a layer fed with spikes): their cycles shrink with the
measured spike density (`simulator.cost.zero_skip_cycles_per_tile`); without it (the paper's
array) they are dense whatever the spikes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.cost import ArrayConfig

from .fields import bytes_or_inf, fail, integer


@dataclass(frozen=True)
class ProcessorSpec:
    """One processor as built: its array and its SRAM capacity in bytes (`math.inf`: unbounded)."""

    array: ArrayConfig
    sram_bytes: int | float

    @property
    def filters(self) -> int:
        """One IIR filter per array column (Fig. 11)."""
        return self.array.cols


@dataclass(frozen=True)
class ProcessorOverride:
    """Processor `index` differs from the default: its own array and/or SRAM capacity."""

    index: int
    array: ArrayConfig | None = None
    sram_bytes: int | float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", integer("processors.override.index", self.index, minimum=0))
        where = f"processors.override[index={self.index}]"
        if self.array is None and self.sram_bytes is None:
            fail(where, "a table setting 'array' and/or 'sram_bytes'", {"index": self.index})
        if self.array is not None and not isinstance(self.array, ArrayConfig):
            fail(f"{where}.array", "an array like '32x32'", self.array)
        if self.sram_bytes is not None:
            object.__setattr__(self, "sram_bytes", bytes_or_inf(f"{where}.sram_bytes", self.sram_bytes))


@dataclass(frozen=True)
class Processors:
    """`count` processors (None: as many as the schedule has), by default all alike; `zero_skip`:
    their arrays skip zero spikes (all of them: it is not overridden per processor)."""

    array: ArrayConfig = ArrayConfig(32, 32)
    sram_bytes: int | float = math.inf
    count: int | None = None
    overrides: tuple[ProcessorOverride, ...] = ()
    zero_skip: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.zero_skip, bool):
            fail("processors.zero_skip", "true or false", self.zero_skip)
        if not isinstance(self.array, ArrayConfig):
            fail("processors.array", "an array like '32x32'", self.array)
        object.__setattr__(self, "sram_bytes", bytes_or_inf("processors.sram_bytes", self.sram_bytes))
        if self.count is not None:
            object.__setattr__(self, "count", integer("processors.count", self.count, minimum=1))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        seen: set[int] = set()
        for o in self.overrides:
            if not isinstance(o, ProcessorOverride):
                fail("processors.override", "a list of tables with 'index'", o)
            if o.index in seen:
                fail("processors.override.index", "unique (one override per processor)", o.index)
            seen.add(o.index)
            if self.count is not None and o.index >= self.count:
                fail("processors.override.index", f"< processors.count = {self.count}", o.index)

    def spec(self, index: int) -> ProcessorSpec:
        """The array and SRAM of processor `index`."""
        for o in self.overrides:
            if o.index == index:
                return ProcessorSpec(o.array or self.array,
                                     self.sram_bytes if o.sram_bytes is None else o.sram_bytes)
        return ProcessorSpec(self.array, self.sram_bytes)
