"""`spikepipe cycles`: the per-layer cycle table (Table VI) of a network."""
from __future__ import annotations

import argparse

from simulator.cli.common import add_network_options, megabytes, network_and_array, print_json, table
from simulator.cli.simulate import read_activity
from simulator.cost import FLOAT32_BYTES, TaskKind, network_cost
from simulator.energy import mapping_efficiency, network_energy, utilization
from simulator.machine import DEFAULT_MACHINE, PRESETS, load_machine
from simulator.paper import COMMUNICATION_MB, MEMORY_MB
from simulator.reports.cycles import MEMORY_BATCH, mean_communication_bytes


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cycles", help="cycles of FP, WG and IG of every layer (Table VI)",
                       description="Cycles of every task of one weight update on one SRxSC "
                                   "output-stationary systolic array (eq. 26-29, Tables IV-VI).")
    add_network_options(p)
    p.add_argument("--include-first-ig", action="store_true",
                   help="count the first layer's input gradient in the total (not needed for training)")
    p.add_argument("--machine", default=DEFAULT_MACHINE, metavar="NAME|FILE",
                   help=f"the machine whose energy table prices each task: {', '.join(PRESETS)} or a TOML file")
    p.add_argument("--activity", metavar="FILE.json", default=None,
                   help="measured spike densities (as for simulate): spike-gated FP and WG energy scale with them "
                        "(default: dense, every spike-gated MAC counted)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    net, array = network_and_array(args)
    cost = network_cost(net, array, args.batch, args.include_first_ig)
    rows = [(layer.name, tasks[TaskKind.FP].cycles, tasks[TaskKind.WG].cycles, tasks[TaskKind.IG].cycles)
            for layer, tasks in cost.layer_rows()]
    machine, activity = load_machine(args.machine), read_activity(args.activity)
    energies = network_energy(cost, machine.energy, activity)
    per_task = [(t, e, utilization(t, array), mapping_efficiency(t, array)) for t, e in zip(cost.tasks, energies)]
    if args.json:
        print_json({
            "network": net.name, "array": [array.rows, array.cols], "batch": args.batch,
            "include_first_ig": args.include_first_ig,
            "layers": [{"name": n, "fp": fp, "wg": wg, "ig": ig} for n, fp, wg, ig in rows],
            "total": cost.total,
            "communication_bytes": cost.communication_bytes,
            "memory_bytes": cost.memory_bytes,
            "tasks": [{"task": t.label, "layer": t.name, "rows": t.gemm.rows, "cols": t.gemm.cols,
                       "macs": t.gemm.macs, "tiles": t.tiles, "cycles_per_tile": t.cycles_per_tile,
                       "cycles": t.cycles, "input_bytes": t.input_bytes, "weight_bytes": t.weight_bytes,
                       "output_bytes": t.output_bytes, "energy_uj": e.total_pj * 1e-6,
                       "compute_energy_uj": e.compute_pj * 1e-6, "iir_energy_uj": e.iir_pj * 1e-6,
                       "sram_energy_uj": e.sram_pj * 1e-6, "spike_density": e.density,
                       "utilization_pct": 100 * u, "mapping_efficiency_pct": 100 * m}
                      for t, e, u, m in per_task],
            "machine": machine.name,
            "activity": None if activity is None else {"source": activity.source,
                                                       "densities": list(activity.densities)},
        })
        return 0
    print(f"Network {net.name}, array {array}, batch {args.batch}, T = {net.timesteps}")
    print(table(["Layer", "Forward pass cycles", "Weight gradient cycles", "Input gradient cycles"], rows))
    first = "" if args.include_first_ig else f" (first layer's IG, {cost.first_ig.cycles:,}, not counted)"
    print(f"Total cycles per weight update: {cost.total:,}{first}")
    print()
    print(f"Per task, one mini-batch: energy on machine {machine.name}'s table "
          f"({'dense spikes' if activity is None else f'spike densities from {args.activity}'}); utilisation = "
          f"useful MACs / (SR x SC x cycles); mapping efficiency = share of the PEs the tiles use")
    print(table(["task", "layer", "tiles", "cycles", "energy µJ", "utilisation %", "mapping efficiency %"],
                [(t.label, t.name, t.tiles, t.cycles, e.total_pj * 1e-6, f"{100 * u:.1f}", f"{100 * m:.1f}")
                 for t, e, u, m in per_task], align="llrrrrr"))
    total_uj = sum(e.total_pj for e in energies) * 1e-6
    print(f"Dynamic energy per weight update: {total_uj:,.3f} µJ (compute, IIR filters and SRAM; links, DRAM "
          f"and leakage depend on the schedule: spikepipe simulate)")
    print()
    mean_comm = mean_communication_bytes(net, array)
    paper_c = COMMUNICATION_MB.get(net.name)
    print(f"Communication per weight update at batch {args.batch}: {megabytes(cost.communication_bytes)}; "
          f"mean over batches 1..128: {megabytes(mean_comm)}"
          + (f" (paper: {paper_c} MB)" if paper_c else ""))
    mem = network_cost(net, array, MEMORY_BATCH)
    mem_f32 = network_cost(net, array, MEMORY_BATCH, bytes_model=FLOAT32_BYTES)
    paper_m = MEMORY_MB.get(net.name)
    print(f"Memory for backward-pass intermediates, one processor, batch {MEMORY_BATCH}: "
          f"{megabytes(mem.memory_bytes)} packed spikes and 2-bit state; {megabytes(mem_f32.memory_bytes)} "
          f"all float32" + (f" (paper: {paper_m} MB)" if paper_m else ""))
    print("See docs/cost-model.md for how these figures are counted and why they differ from the paper's.")
    return 0
