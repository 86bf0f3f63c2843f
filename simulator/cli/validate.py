"""`spikepipe validate`: one training step through the cycle-level emulator (`simulator.emulator.step`).

Per task it prints the emulated cycles, the analytic cycles of `simulator.cost`, whether
they match, the cycles to the last real MAC, and the largest absolute error against a
float64 numpy reference; per layer the filter bank's timing.
"""
from __future__ import annotations

import argparse

from models.memory import check_memory
from simulator.cli.common import add_data_dir_option, add_network_options, network_and_array, print_json, seed, table
from simulator.emulator import emulate_step


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="run one training step through the cycle-level emulator",
                       description="Emulate every FP, WG and IG task of one training step cycle by cycle on "
                                   "an SRxSC output-stationary array with its IIR filter bank, on real operands; "
                                   "compare cycles with the analytic model and values with numpy.")
    add_network_options(p)
    p.add_argument("--include-first-ig", action="store_true", help="also run the first layer's input gradient")
    p.add_argument("--seed", type=seed, default=0, help="seed for weights, labels and random inputs")
    add_data_dir_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    net, array = network_and_array(args)
    check_memory(net, args.batch, "validate")
    step = emulate_step(net, array, args.batch, args.include_first_ig, args.seed, progress=not args.json,
                        data_dir=args.data_dir)
    if args.json:
        print_json(step.as_dict())
        return 0 if step.ok else 1
    print(f"Network {net.name}, array {array}, batch {args.batch}, T = {net.timesteps}; input: {step.data}")
    print(table(["Task", "Layer", "Tiles", "Emulated cycles", "Analytic cycles (eq. 28)", "Match",
                 "To last MAC cycles", "Max abs error", "float32 bound"],
                [(r.task, r.layer, r.tiles, r.emulated_cycles, r.analytic_cycles, r.match, r.cycles_to_last_mac,
                  f"{r.max_abs_error:.2e}", f"{r.float32_bound:.2e}") for r in step.tasks], align="llrrrlrrr"))
    print(f"Total: emulated {step.emulated_total:,}, analytic {step.analytic_total:,} cycles")
    print()
    print("IIR filter bank (one sample per filter per cycle; stalls = cycles a sample waited for its filter):")
    print(table(["Layer", "Pass", "Samples/filter", "Bank done cycle", "Array cycles", "Stall cycles",
                 "Extra cycles"],
                [(b.layer, b.direction, b.timing.samples_per_filter, b.timing.finish,
                  b.array_cycles, b.timing.stall_cycles, b.extra_cycles) for b in step.filter_bank],
                align="llrrrrr"))
    print("Forward: each filter takes its column's outputs as they leave the PEs (array cycles: the FP task's); it\n"
          "finishes at most one cycle after the array. Backward: the gradient filter streams the un-pooled\n"
          "gradient back to back (array cycles: the IG task that produced it); behind a pool it filters pool^2\n"
          "samples per IG output and can outlast that IG ('Extra'). 'To last MAC' is below eq. 27 when edge tiles\n"
          "are partial. See docs/cycle-level.md.")
    print("All tasks match the analytic model and numpy." if step.ok else "MISMATCH: see the rows above.")
    return 0 if step.ok else 1
