"""Discrete-event (SimPy) model of P systolic-array processors on a physical machine
(`simulator.machine`): routes, SRAM, spills to DRAM, energy."""
from .machine import DRAM_END, Clock, DeferringClock, Fabric, Link, Processor, TransferRecord, link_machine
from .result import EnergyBreakdown, Limit, LinkStats, ProcessorStats, Resource, SimResult, SliceRecord, SramSample
from .run import simulate

__all__ = ["DRAM_END", "Clock", "DeferringClock", "EnergyBreakdown", "Fabric", "Limit", "Link", "LinkStats", "Processor",
           "ProcessorStats", "Resource", "SimResult", "SliceRecord", "SramSample", "TransferRecord", "link_machine", "simulate"]
