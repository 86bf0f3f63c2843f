"""`spikepipe cycles`: the per-layer cycle table (Table VI) of a network."""
from __future__ import annotations

import argparse

from simulator.cli.common import add_network_options, megabytes, network_and_array, print_json, table
from simulator.cost import FLOAT32_BYTES, TaskKind, network_cost
from simulator.paper import COMMUNICATION_MB, MEMORY_MB
from simulator.reports.cycles import MEMORY_BATCH, mean_communication_bytes


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cycles", help="cycles of FP, WG and IG of every layer (Table VI)",
                       description="Cycles of every task of one weight update on one SRxSC "
                                   "output-stationary systolic array (eq. 26-29, Tables IV-VI).")
    add_network_options(p)
    p.add_argument("--include-first-ig", action="store_true",
                   help="count the first layer's input gradient in the total (not needed for training)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    net, array = network_and_array(args)
    cost = network_cost(net, array, args.batch, args.include_first_ig)
    rows = [(layer.name, tasks[TaskKind.FP].cycles, tasks[TaskKind.WG].cycles, tasks[TaskKind.IG].cycles)
            for layer, tasks in cost.layer_rows()]
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
                       "output_bytes": t.output_bytes} for t in cost.tasks],
        })
        return 0
    print(f"Network {net.name}, array {array}, batch {args.batch}, T = {net.timesteps}")
    print(table(["Layer", "Forward pass", "Weight gradient", "Input gradient"], rows))
    first = "" if args.include_first_ig else f" (first layer's IG, {cost.first_ig.cycles:,}, not counted)"
    print(f"Total cycles per weight update: {cost.total:,}{first}")
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
