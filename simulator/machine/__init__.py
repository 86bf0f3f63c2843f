"""The physical machine a schedule runs on: one validated description, from a preset or TOML.

`Machine` holds the clock, the processors (array and SRAM each), the DRAM, the interconnect
(topology, links, routes) and the energy table. `ideal` is the paper's machine; the default,
`realistic`, is an edge-class one. The DES executes schedules on it; `simulator.energy`
prices tasks with its energy table. Not to be confused with `simulator.des.machine`, the
discrete-event components.
"""
from .description import Machine
from .energy_table import EnergyTable
from .interconnect import BUS, Interconnect, LinkId, Topology, transfer_cycles
from .loader import DEFAULT_MACHINE, PRESETS, load_machine, machine_from_dict, machine_to_dict, machine_to_toml
from .memory import Channels, Dram
from .processors import ProcessorOverride, Processors, ProcessorSpec

__all__ = [
    "BUS", "DEFAULT_MACHINE", "PRESETS", "Channels", "Dram", "EnergyTable", "Interconnect", "LinkId",
    "Machine", "ProcessorOverride", "ProcessorSpec", "Processors", "Topology", "load_machine",
    "machine_from_dict", "machine_to_dict", "machine_to_toml", "transfer_cycles",
]
