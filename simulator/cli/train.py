"""`spikepipe train`: train a network with (delayed-gradient) BPTT, checkpointing every epoch."""
from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numba
from tqdm import tqdm

from models.activity import ACTIVITY_FILE
from models.encoding import ENCODINGS, Encoding
from models.init import INIT_KINDS, InitKind
from models.optim import OPTIMIZERS
from models.threads import keep_freed_memory, set_threads
from models.run_folder import CHECKPOINT, train_in_folder
from models.train import TrainConfig
from simulator.cli.common import (BATCH_HELP, ENCODING_HELP, LR_HELP, NETWORK_HELP, OPTIMIZER_HELP,
                                  add_data_dir_option, add_network_file_options, figure_path, human_stream, network_arg,
                                  output_file, print_json, save_figure, seed, table)
from simulator.reports import plot_training
from simulator.schedule.delays import resolve_delays
from workloads import ConfigError
from workloads.datasets import DatasetKind
from workloads.nir_io import nir_params


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a network (BPTT with per-layer delayed gradients)",
                       description="Train an SNN with the paper's LIF IIR neurons, surrogate gradient and "
                                   "per-layer delayed gradients (Section III). Images are fed as a constant "
                                   "input current at every timestep unless --encoding rate.")
    p.add_argument("--network", default="mnist", help=NETWORK_HELP)
    add_network_file_options(p)
    p.add_argument("--init-from", metavar="FILE.nir",
                   help="start from the weights and biases of a NIR file (default: drawn as --init says)")
    p.add_argument("--dataset", required=True, help="dataset name, e.g. mnist (see `spikepipe data`)")
    add_data_dir_option(p)
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help=OPTIMIZER_HELP)
    p.add_argument("--delays", default="none",
                   help="gradient delay of each layer, in mini-batches: table (Table I), none, a list like 6,4,2,0, or "
                        "schedule:NAME:P (2*(P-1-p) from a schedule)")
    p.add_argument("--epochs", type=int, default=3, help="epochs with the delays, passes over the training set")
    p.add_argument("--finetune-epochs", type=int, default=0, metavar="N",
                   help="then N more epochs without delays (fine-tuning, Section III-E)")
    p.add_argument("--init", default=InitKind.DEFAULT, choices=INIT_KINDS,
                   help="initial weights: 'default' draws uniform +-1/sqrt(fan_in); 'firing' scales that draw layer by "
                        "layer so every layer fires at 10%% on the first mini-batch (docs/numerics.md)")
    p.add_argument("--batch", type=int, default=32, help=BATCH_HELP)
    p.add_argument("--lr", type=float, default=1e-3, help=LR_HELP)
    p.add_argument("--seed", type=seed, default=0, help="seed for weights, data order and encoding")
    p.add_argument("--encoding", default=Encoding.CURRENT, choices=ENCODINGS, help=ENCODING_HELP)
    p.add_argument("--out", default=None,
                   help="output folder (default: results/train/ and a name made of the network, dataset, optimizer, "
                        "delays, init and seed)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for the numba kernels (default: all cores; 1 is often faster on a busy machine)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="threads for the float32 GEMMs (2 pays for DVS128's large layers)")
    p.add_argument("--plot", metavar="FILE", help="draw loss and accuracy per epoch to FILE (.png, .svg or .pdf)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true",
                   help="print the per-epoch history as one JSON document (other lines go to stderr)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workloads.datasets import get_dataset

    set_threads(args.threads or numba.config.NUMBA_NUM_THREADS, args.blas_threads)
    keep_freed_memory()
    net = network_arg(args)
    if args.init_from and args.init != InitKind.DEFAULT:
        raise ConfigError(f"--init {args.init}: the weights come from --init-from {args.init_from}; give one of them")
    plot = figure_path(args.plot) if args.plot else None
    init = nir_params(args.init_from, net) if args.init_from else None
    delays = resolve_delays(args.delays, net, args.batch)
    cfg = TrainConfig(optimizer=args.optimizer, lr=args.lr, batch=args.batch, epochs=args.epochs,
                      seed=args.seed, delays=delays, encoding=args.encoding, init=args.init,
                      finetune_epochs=args.finetune_epochs)
    splits = get_dataset(args.dataset, args.data_dir, args.seed)
    tag = "none" if delays is None else "-".join(map(str, delays))
    init_tag = "" if cfg.init is InitKind.DEFAULT else f"-{cfg.init}"
    out = Path(args.out or f"results/train/{net.name}-{args.dataset}-{args.optimizer}-d{tag}{init_tag}-s{args.seed}")
    output_file(out / CHECKPOINT, "--out")  # --out is a folder: not a file, nor below one
    say = human_stream(args)
    if splits.synthetic:
        print(f"note: {args.dataset} is synthetic: {splits.description}", file=say)
    print(f"training {net.name} on {args.dataset} ({len(splits.train):,} train, {len(splits.test):,} test), "
          f"{args.optimizer} lr {args.lr}, batch {args.batch}, delays {delays or 'none'}"
          + (f" then {cfg.finetune_epochs} fine-tuning epoch(s) without" if cfg.finetune_epochs else "")
          + f", init {cfg.init}, input {'event frames' if splits.train.kind is DatasetKind.FRAMES else args.encoding} -> {out}", file=say)
    history = train_in_folder(net, splits.train, splits.test, cfg, out, resume=args.resume,
                              progress=not args.no_progress, report=partial(tqdm.write, file=say),
                              describe={"dataset": args.dataset, "synthetic": splits.synthetic,
                                        **({"init_from": args.init_from} if init else {})}, init=init).history
    if plot:
        save_figure(plot_training(history, f"{net.name} on {args.dataset}, {args.optimizer}, delays {tag}"), plot)
    if args.json:
        print_json({"out": str(out), "config": vars(cfg) | {"network": net.name, "dataset": args.dataset},
                    "history": history, **({"plot": str(plot)} if plot else {})})
    else:
        print(table(["Epoch", "Delays", "Train loss", "Train acc %", "Test loss", "Test acc %",
                     "Firing rates, spikes per neuron per timestep"],
                    [(h["epoch"], "off (fine-tuning)" if h.get("finetune") else "on" if delays else "none",
                      f"{h['train_loss']:.4f}", f"{100 * h['train_acc']:.2f}", f"{h['test_loss']:.4f}",
                      f"{100 * h['test_acc']:.2f}", " ".join(f"{r:.3f}" for r in h.get("firing_rates", [])))
                     for h in history],
                    align="rlrrrrl"))
        print(f"metrics: {out / 'metrics.csv'}, {out / 'metrics.json'}; activity: {out / ACTIVITY_FILE}; "
              f"checkpoint: {out / CHECKPOINT}" + (f"; curves: {plot}" if plot else ""))
    return 0
