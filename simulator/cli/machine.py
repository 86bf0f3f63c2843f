"""`spikepipe machine show`: a machine description (preset or TOML file), readable, JSON or TOML."""
from __future__ import annotations

import argparse
import math
from typing import Any

from simulator.cli.common import print_json, table
from simulator.machine import (DEFAULT_MACHINE, PRESETS, Machine, load_machine, machine_to_dict,
                               machine_to_toml)

ENERGY_ROWS = {  # field: (what, unit)
    "accumulate_pj": ("spike-gated accumulate (FP, WG)", "pJ/op"),
    "mac_pj": ("multiply-accumulate (IG, real inputs)", "pJ/op"),
    "iir_forward_pj": ("IIR filter step forward (eq. 4-5)", "pJ/step"),
    "iir_backward_pj": ("IIR filter step backward (eq. 17, 23)", "pJ/step"),
    "sram_read_pj_per_byte": ("SRAM read", "pJ/byte"),
    "sram_write_pj_per_byte": ("SRAM write", "pJ/byte"),
    "dram_pj_per_byte": ("DRAM access", "pJ/byte"),
    "link_pj_per_byte": ("link traversal (per hop)", "pJ/byte"),
    "static_mw": ("static power per processor", "mW"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("machine", help="the physical machine: processors, memory, interconnect, energy",
                       description="Machine descriptions: built-in presets or TOML files (docs/machine.md).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print a machine description",
                              description=f"Print a machine: a preset ({', '.join(PRESETS)}; default "
                                          f"{DEFAULT_MACHINE}) or a .toml file.")
    show.add_argument("machine", nargs="?", default=DEFAULT_MACHINE, metavar="NAME|FILE",
                      help="preset name or .toml file")
    fmt = show.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON document (inf as \"inf\")")
    fmt.add_argument("--toml", action="store_true", help="print it as a machine file, to edit and load")
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    m = load_machine(args.machine)
    if args.json:
        print_json(_json_safe(machine_to_dict(m)))
    elif args.toml:
        print(machine_to_toml(m), end="")
    else:
        print(describe(m))
    return 0


def _json_safe(value: Any) -> Any:
    """JSON has no infinity: write it as the string "inf", which the loader reads back."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return "inf" if isinstance(value, float) and math.isinf(value) else value


def _rate(bytes_per_cycle: float, clock_ghz: float) -> str:
    if math.isinf(bytes_per_cycle):
        return "unlimited"
    return f"{bytes_per_cycle:g} bytes/cycle ({bytes_per_cycle * clock_ghz:g} GB/s)"


def _sram(nbytes: int | float) -> str:
    return "unbounded" if math.isinf(nbytes) else f"{nbytes:,} bytes ({nbytes / 2**20:g} MiB)"


def describe(m: Machine) -> str:
    """The machine as text for people."""
    p, ic = m.processors, m.interconnect
    count = "from the schedule" if m.count is None else str(m.count)
    lines = [f"Machine {m.name}" + (" [ideal]" if m.ideal else "") + (f": {m.description}" if m.description else ""),
             f"Clock: {m.clock_ghz:g} GHz", "",
             f"Processors: {count}; each a {p.array} array ({p.array.cols} IIR filters"
             + (", skipping zero spikes" if p.zero_skip else "") + f"), SRAM {_sram(p.sram_bytes)}"]
    if p.overrides:
        lines.append(table(["processor", "array (SRxSC)", "SRAM (bytes)"],
                           [(o.index, str(o.array or p.array),
                             "unbounded" if math.isinf(spec.sram_bytes) else spec.sram_bytes)
                            for o in p.overrides for spec in [p.spec(o.index)]], align="rll"))
    lines.append("")
    if m.dram is None:
        lines.append("DRAM: none (everything stays in SRAM)")
    else:
        lines.append(f"DRAM: {_rate(m.dram.bandwidth, m.clock_ghz)} per channel, latency {m.dram.latency} "
                     f"cycles, channels {m.dram.channels.value}")
    shape = f" {ic.mesh_rows}x{ic.mesh_cols}, XY routing" if ic.mesh_rows is not None else ""
    placement = "pipeline order" if ic.placement is None else " ".join(map(str, ic.placement))
    lines += [f"Interconnect: {ic.topology.value}{shape}; per link {_rate(ic.bandwidth, m.clock_ghz)}, "
              f"latency {ic.latency} cycles; placement: {placement}", "",
              "Energy table (defaults and sources: docs/machine.md)",
              table(["item", "value", "unit"],
                    [(what, getattr(m.energy, key), unit) for key, (what, unit) in ENERGY_ROWS.items()],
                    align="lrl")]
    return "\n".join(lines)
