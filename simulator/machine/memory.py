"""Off-chip memory: a DRAM with a bandwidth in bytes per cycle, a latency in cycles, and
either one channel shared by all processors or one channel per processor.

A machine without a DRAM keeps everything in SRAM (the paper's assumption). A DRAM transfer
costs `ceil(bytes / bandwidth) + latency` cycles on its channel, like a link.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .fields import choice, integer, number
from .interconnect import transfer_cycles


class Channels(str, Enum):
    """One DRAM channel for all processors, or one for each."""

    SHARED = "shared"
    PER_PROCESSOR = "per_processor"


@dataclass(frozen=True)
class Dram:
    """DRAM bandwidth (bytes per cycle, finite), latency (cycles) and channel organisation."""

    bandwidth: float
    latency: int
    channels: Channels = Channels.SHARED

    def __post_init__(self) -> None:
        object.__setattr__(self, "bandwidth", number("dram.bandwidth", self.bandwidth))
        object.__setattr__(self, "latency", integer("dram.latency", self.latency, minimum=0))
        object.__setattr__(self, "channels", choice("dram.channels", self.channels, Channels))

    def cycles(self, nbytes: int) -> int:
        """Cycles one channel is busy moving `nbytes` to or from DRAM."""
        return transfer_cycles(nbytes, self.bandwidth, self.latency)
