"""Discrete-event (SimPy) model of P systolic-array processors joined by a bus."""
from .machine import Bus, BusConfig, Link, Processor, TransferRecord
from .result import LinkStats, ProcessorStats, SimResult, SliceRecord
from .run import simulate

__all__ = ["Bus", "BusConfig", "Link", "Processor", "LinkStats", "ProcessorStats", "SimResult",
           "SliceRecord", "TransferRecord", "simulate"]
