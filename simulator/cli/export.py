"""`spikepipe export`: a trained network as a NIR file, or a network's tasks as SCALE-Sim GEMM topologies."""
from __future__ import annotations

import argparse
from pathlib import Path

from models.run_folder import CHECKPOINT, load_checkpoint
from simulator.cli.common import (ARRAY_HELP, BATCH_HELP, NETWORK_HELP, add_network_file_options, network_arg,
                                  print_json, table)
from simulator.cost import ArrayConfig, network_cost
from simulator.scalesim import LAYOUT_HEADER, gemm_topology, scale_config, scalesim_cycles, task_row_name
from workloads import ConfigError, Network
from workloads.files import atomic_path, write_atomic
from workloads.nir_io import EXPORT_DT, network_to_nir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a trained network as NIR, or its tasks as SCALE-Sim GEMM topologies",
                       description="--format nir: the network of a training run with its weights as a NIR graph, "
                                   "its neurons discretised at --dt seconds (default 0.001; docs/nir.md). "
                                   "--format scalesim: every training task of a network as a "
                                   "SCALE-Sim GEMM topology plus a scale.cfg for the same output-stationary array "
                                   "(docs/scalesim.md).")
    p.add_argument("--format", required=True, choices=("nir", "scalesim"),
                   help="nir: a trained run as a NIR graph; scalesim: a network's tasks as SCALE-Sim GEMM topologies")
    p.add_argument("--out", required=True, help="nir: the .nir file to write; scalesim: the folder to write into")
    p.add_argument("--run", help="nir: training run folder holding checkpoint.npz")
    p.add_argument("--network", default=None,
                   help=f"{NETWORK_HELP} (nir: default the run's network; scalesim: required)")
    add_network_file_options(p)
    p.add_argument("--array", default="32x32", help=f"scalesim: {ARRAY_HELP}")
    p.add_argument("--batch", type=int, default=1, help=f"scalesim: {BATCH_HELP}")
    p.add_argument("--include-first-ig", action="store_true", help="scalesim: also write the first layer's IG")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return (_nir if args.format == "nir" else _scalesim)(args)


def _nir(args: argparse.Namespace) -> int:
    if not args.run:
        raise ConfigError("--format nir needs --run RUN_DIR (the training run whose weights to write)")
    ckpt = Path(args.run) / CHECKPOINT
    if not ckpt.is_file():
        raise ConfigError(f"--run {args.run}: no {CHECKPOINT} there (train with `spikepipe train --out DIR` first)")
    arrays, meta = load_checkpoint(ckpt)
    net = _run_network(args, meta)
    n = len(net.compute_layers())
    missing = [k for i in range(n) for k in (f"w_{i}", f"b_{i}") if k not in arrays]
    if missing:
        raise ConfigError(f"{ckpt}: no {missing[0]} for the {n} compute layers of {net.name}")
    params = [(arrays[f"w_{i}"], arrays[f"b_{i}"]) for i in range(n)]
    dt = EXPORT_DT if args.dt is None else args.dt
    graph = network_to_nir(net, params, dt)
    import nir
    with atomic_path(args.out) as tmp:
        nir.write(tmp, graph)
    summary = {"format": "nir", "out": str(args.out), "network": net.name, "dt": dt, "timesteps": net.timesteps,
               "nodes": len(graph.nodes), "params": net.params}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {args.out}: {net.name}, {net.params:,} parameters, {len(graph.nodes)} NIR nodes, "
              f"dt = {dt:g} s, T = {net.timesteps}")
    return 0


def _run_network(args: argparse.Namespace, meta: dict) -> Network:
    """--network, or the network the run was trained on (by name: built-in networks only)."""
    if args.network:
        return network_arg(args)
    name = str(meta.get("config", {}).get("network", ""))
    try:
        return network_arg(argparse.Namespace(network=name, timesteps=args.timesteps, dt=args.dt))
    except ConfigError:
        raise ConfigError(f"--run {args.run}: trained network '{name}' is not built in: pass --network FILE") from None


def _scalesim(args: argparse.Namespace) -> int:
    if not args.network:
        raise ConfigError("--format scalesim needs --network")
    if args.batch < 1:
        raise ConfigError(f"--batch must be a positive integer, got {args.batch}")
    net, array = network_arg(args), ArrayConfig.parse(args.array)
    cost = network_cost(net, array, args.batch, args.include_first_ig)
    out = Path(args.out)
    run_name = f"spikepipe_{net.name}_{array}_b{args.batch}"
    files = {out / f"{net.name}_gemm.csv": gemm_topology(cost), out / "scale.cfg": scale_config(array, run_name),
             out / "layout.csv": LAYOUT_HEADER}
    for path, text in files.items():
        write_atomic(path, text)
    rows = [(task_row_name(t), t.gemm.rows, t.gemm.cols, t.gemm.macs, t.cycles, scalesim_cycles(t))
            for t in cost.tasks]
    if args.json:
        print_json({"format": "scalesim", "files": [str(p) for p in files], "network": net.name,
                    "array": [array.rows, array.cols], "batch": args.batch, "total": cost.total,
                    "tasks": [dict(zip(("task", "M", "N", "K", "cycles", "scalesim_cycles"), r)) for r in rows]})
        return 0
    print(table(["Task", "M", "N", "K", "Cycles (eq. 28)", "SCALE-Sim reports, cycles"], rows))
    print(f"Total: {cost.total:,} cycles; SCALE-Sim's per-layer 'Total Cycles' add up to "
          f"{sum(r[-1] for r in rows):,} (one less per task, docs/scalesim.md)")
    print(f"wrote {', '.join(str(p) for p in files)}")
    print(f"run: python -m scalesim.scale -c {out / 'scale.cfg'} -t {out / f'{net.name}_gemm.csv'} "
          f"-l {out / 'layout.csv'} -i gemm -p RESULTS_DIR")
    return 0
