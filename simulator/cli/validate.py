"""`spikepipe validate`: one training step through the cycle-level emulator, checked against `cost` and numpy.

Every FP, WG and IG task of one weight update runs on the emulated systolic
array (`simulator.systolic`) with real operands: the forward pass feeds each
layer's currents through the IIR filter bank (`simulator.iir_bank`) and its
spikes (max-pooled) into the next layer; the backward pass starts from the loss
gradient (eq. 20) of random labels, and each IG's output is un-pooled and run
through the previous layer's gradient filter. Per task it prints the emulated
cycles, the analytic cycles of `simulator.cost`, whether they match, the
cycles to the last real MAC, and the largest absolute error against a float64
numpy reference of the same convolution or matrix product.
"""
from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from models.layers import maxpool_fp, maxpool_ig, softmax_cross_entropy
from models.neuron import accumulator_backward
from models.snn import init_params
from simulator.cli.common import add_network_options, network_and_array, print_json, table
from simulator.cost import ArrayConfig, NetworkCost, TaskKind, network_cost
from simulator.iir_bank import BankTiming, bank_backward, bank_forward
from simulator.systolic import emulate_gemm, from_rows, operands, output_tensor, reference, to_rows
from workloads import ComputeLayer, ConfigError, Network
from workloads.datasets import get_dataset


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="run one training step through the cycle-level emulator",
                       description="Emulate every FP, WG and IG task of one training step cycle by cycle on "
                                   "an SRxSC output-stationary array with its IIR filter bank, on real operands; "
                                   "compare cycles with the analytic model and values with numpy.")
    add_network_options(p)
    p.add_argument("--include-first-ig", action="store_true", help="also run the first layer's input gradient")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, labels and random inputs (default 0)")
    p.set_defaults(func=run)


def _input_batch(net: Network, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """`(T, B, *input)` float32 input, labels, and where they came from: the dataset if fetched, else random."""
    t = net.timesteps
    classes = net.compute_layers()[-1].out_size
    try:
        split = get_dataset(net.name).train
    except ConfigError:  # no dataset of that name, or not fetched
        split = None
    fits = split is not None and len(split) >= batch and split.sample_shape == (
        net.input_shape if split.kind == "image" else (t, *net.input_shape))
    if fits:
        x = split.x[:batch]
        if split.kind == "image":  # a constant input current at every timestep
            x = np.broadcast_to(x[None], (t, *x.shape))
        else:  # event counts (B, T, ...) -> binary spikes (T, B, ...)
            x = np.minimum(np.swapaxes(x, 0, 1), 1)
        return np.ascontiguousarray(x, np.float32), split.y[:batch] % classes, f"dataset {net.name} (first {batch})"
    rng = np.random.default_rng(seed)
    if net.input_kind == "current":
        x = np.broadcast_to(rng.random((batch, *net.input_shape), dtype=np.float32)[None], (t, batch, *net.input_shape))
    else:
        x = rng.random((t, batch, *net.input_shape)) < 0.2
    labels = rng.integers(0, classes, batch)
    return np.ascontiguousarray(x, np.float32), labels, f"seeded random data (seed {seed})"


def _bank_row(layer: ComputeLayer, what: str, timing: BankTiming, array_cycles: int) -> dict:
    return {"layer": layer.name, "pass": what, "samples_per_filter": timing.samples_per_filter,
            "bank_finish": timing.finish, "array_cycles": array_cycles, "stall_cycles": timing.stall_cycles,
            "extra_cycles": max(0, timing.finish - array_cycles)}


def emulate_step(net: Network, array: ArrayConfig, batch: int, include_first_ig: bool, seed: int,
                 progress: bool = False) -> dict:
    """Run every task of one training step through the emulator; per-task and per-bank records."""
    cost: NetworkCost = network_cost(net, array, batch, include_first_ig)
    x0, labels, source = _input_batch(net, batch, seed)
    params = init_params(net, seed)
    layers = net.compute_layers()
    t, nrn = net.timesteps, net.neuron
    tasks: list[dict] = []
    banks: list[dict] = []
    bar = tqdm(total=len(cost.tasks), desc="emulating tasks", disable=not progress, leave=False)

    def run_task(layer: ComputeLayer, kind: TaskKind, **ops: np.ndarray):
        a_op, b_op = operands(layer, kind, t, batch, **ops)
        gemm = emulate_gemm(a_op, b_op, array)
        got = output_tensor(layer, kind, t, batch, gemm.out)
        ref = reference(layer, kind, **ops)
        analytic = cost.task(layer.index, kind)
        bound = a_op.shape[1] * float(np.finfo(np.float32).eps) * float((np.abs(a_op) @ np.abs(b_op)).max())
        err = float(np.abs(got - ref.reshape(got.shape)).max())
        tasks.append({"task": analytic.label, "layer": layer.name, "rows": analytic.gemm.rows,
                      "cols": analytic.gemm.cols, "macs": analytic.gemm.macs, "tiles": gemm.tiles,
                      "emulated_cycles": gemm.cycles, "analytic_cycles": analytic.cycles,
                      "match": gemm.cycles == analytic.cycles and gemm.tiles == analytic.tiles,
                      "cycles_to_last_mac": gemm.cycles_to_last_mac, "pe_macs": gemm.macs,
                      "max_abs_error": err, "float32_bound": bound, "within_bound": err <= bound})
        bar.update()
        return gemm, got

    inputs, states = [], []
    h = x0
    for layer, (w, b) in zip(layers, params):
        h = h.reshape(t, batch, *layer.in_shape)  # a dense layer takes the flattened (H, W, C) spikes
        inputs.append(h)
        gemm, _ = run_task(layer, TaskKind.FP, x=h, w=w)
        current = gemm.out + b[None, :]  # the bias joins each column's output on its way into the filter
        v_rows, s_rows, timing = bank_forward(current, t, array, nrn if layer.spiking else None,  # None: eq. 18
                                              ready=gemm.ready)
        banks.append(_bank_row(layer, "forward", timing, gemm.cycles))
        states.append((v_rows, s_rows, None))
        spikes = from_rows(s_rows, (t, batch, *layer.out_shape))
        if layer.pool > 1:
            pooled, idx = maxpool_fp(spikes.reshape(t * batch, *layer.out_shape), layer.pool)
            spikes = pooled.reshape(t, batch, *layer.sent_shape)
            states[-1] = (v_rows, s_rows, idx)
        h = np.ascontiguousarray(spikes, np.float32)
    logits = from_rows(states[-1][0], (t, batch, layers[-1].out_size))[-1]
    loss, g_logits = softmax_cross_entropy(logits, labels)  # eq. 7, 20
    g = accumulator_backward(g_logits.reshape(-1), t).reshape(t, batch, layers[-1].out_size)  # eq. 19

    for layer in reversed(layers):
        w = params[layer.index][0]
        run_task(layer, TaskKind.WG, x=inputs[layer.index], g=g)
        if layer.index == 0 and not include_first_ig:
            break
        ig, g_in = run_task(layer, TaskKind.IG, g=g, w=w)
        if layer.index == 0:
            break
        prev = layers[layer.index - 1]
        v_rows, s_rows, idx = states[prev.index]
        g_sent = g_in.reshape(t * batch, *prev.sent_shape)
        g_spike = maxpool_ig(g_sent, idx, prev.pool) if prev.pool > 1 else g_sent
        g_rows, timing = bank_backward(to_rows(g_spike.reshape(t, batch, *prev.out_shape)), v_rows, s_rows, t,
                                       array, nrn)
        banks.append(_bank_row(prev, "backward", timing, ig.cycles))
        g = from_rows(g_rows, (t, batch, *prev.out_shape))
    bar.close()
    order = {(tc.layer, tc.kind.value): i for i, tc in enumerate(cost.tasks)}
    tasks.sort(key=lambda r: order[(int(r["task"][2:]), r["task"][:2])])
    return {"network": net.name, "array": [array.rows, array.cols], "batch": batch, "seed": seed,
            "data": source, "loss": loss, "tasks": tasks, "filter_bank": banks,
            "emulated_total": sum(r["emulated_cycles"] for r in tasks), "analytic_total": cost.total,
            "all_match": all(r["match"] for r in tasks), "all_within_bound": all(r["within_bound"] for r in tasks)}


def run(args: argparse.Namespace) -> int:
    net, array = network_and_array(args)
    result = emulate_step(net, array, args.batch, args.include_first_ig, args.seed, progress=not args.json)
    if args.json:
        print_json(result)
        return 0 if result["all_match"] and result["all_within_bound"] else 1
    print(f"Network {net.name}, array {array}, batch {args.batch}, T = {net.timesteps}; input: {result['data']}")
    print(table(["Task", "Layer", "Tiles", "Emulated", "Analytic (eq. 28)", "Match", "To last MAC",
                 "Max abs error", "float32 bound"],
                [(r["task"], r["layer"], r["tiles"], r["emulated_cycles"], r["analytic_cycles"], r["match"],
                  r["cycles_to_last_mac"], f"{r['max_abs_error']:.2e}", f"{r['float32_bound']:.2e}")
                 for r in result["tasks"]], align="llrrrlrrr"))
    print(f"Total: emulated {result['emulated_total']:,}, analytic {result['analytic_total']:,} cycles")
    print()
    print("IIR filter bank (one sample per filter per cycle; stalls = cycles a sample waited for its filter):")
    print(table(["Layer", "Pass", "Samples/filter", "Bank done", "Array cycles", "Stalls", "Extra"],
                [(b["layer"], b["pass"], b["samples_per_filter"], b["bank_finish"], b["array_cycles"],
                  b["stall_cycles"], b["extra_cycles"]) for b in result["filter_bank"]], align="llrrrrr"))
    print("Forward: each filter takes its column's outputs as they leave the PEs (array cycles: the FP task's); it\n"
          "finishes at most one cycle after the array. Backward: the gradient filter streams the un-pooled\n"
          "gradient back to back (array cycles: the IG task that produced it); with a max-pool it filters pool^2\n"
          "samples per IG output and can outlast that IG ('Extra'). 'To last MAC' is below eq. 27 when edge tiles\n"
          "are partial. See docs/cycle-level.md.")
    ok = result["all_match"] and result["all_within_bound"]
    print("All tasks match the analytic model and numpy." if ok else "MISMATCH: see the rows above.")
    return 0 if ok else 1
