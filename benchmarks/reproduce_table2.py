"""Table II: test accuracy with SGD and Adam, without and with gradient delays, over seeds.

Trains the grid network x optimizer x delay mode x seed through the experiment runner
(`simulator.experiments`, point kind `train`: each run in its own folder `OUT/<network>/<optimizer>-
<mode>[-<init>]-s<seed>/` with its own checkpoint, its record appended to `OUT/<network>/points.jsonl`),
on this process, a local process pool (`--workers N`) or a Dask cluster (`--dask ADDRESS`), then writes
`table2.md`/`.csv`/`.json` (mean +- std over seeds of the final and the best test accuracy beside the
paper's values, and the cost of each delay mode, accuracy(delays) - accuracy(none) paired by seed, with
its 95 % interval) and `curves.png` (test accuracy per epoch, one panel per network, shaded +- std over
seeds).

Delay modes: `none`, `table` (Table I's delays) and `schedule:NAME:P` (the delays scheduler
NAME gives on P processors, `simulator.schedule.delays.resolve_delays`); by default all three,
with `schedule:finegrained:4`. `--init firing` starts every run from weights scaled so that every
layer fires (`models.init`); `--finetune-epochs N` adds N epochs without delays after the
`--epochs` with them (the paper's suggestion; a `none` run trains as many epochs, so the
budgets stay equal).

The budget is the user's: epochs and subset sizes per network, number of seeds. The paper
trains 100 / 100 / 300 epochs over 10 seeds on the full sets; the defaults here take about an
hour and a half on two shared cores (estimate printed before starting). Ctrl-C stops cleanly:
finished epochs are checkpointed, and `--resume` skips finished runs and continues the others
(a run given more epochs continues from its checkpoint). `--table-only` rebuilds the table from
the finished runs and trains nothing.

    python benchmarks/reproduce_table2.py [--networks mnist,nmnist,dvs128] [--seeds 2|mnist=3,...]
        [--epochs mnist=1,nmnist=2,dvs128=3] [--finetune-epochs 0] [--init default|firing]
        [--delays none,table,schedule:finegrained:4] [--train-subset ...] [--test-subset ...]
        [--datasets nmnist=nmnist-synthetic] [--out results/table2] [--resume]
        [--workers N | --dask ADDRESS] [--table-only | --plan]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, TypeVar

import numpy as np

from models.init import INIT_KINDS, InitKind
from models.threads import keep_freed_memory, set_threads
from models.train import TrainConfig
from simulator.exits import OneLineParser, is_interrupt, run_guarded
from simulator.experiments import run as run_experiment
from simulator.experiments.grid import Experiment
from simulator.experiments.results import Status
from simulator.experiments.training import (RUN_FILE, RunSpec, check_delay_mode, default_dataset, is_finished,
                                            load_splits, mode_key, run_history)
from simulator.paper import TABLE_II, TABLE_II_EPOCHS
from simulator.schedule.delays import resolve_delays
from workloads import ConfigError, load_network
from workloads.datasets import DatasetSplits
from workloads.environment import environment
from workloads.files import atomic_path, write_atomic, write_csv_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DELAY_MODES = ("none", "table", "schedule:finegrained:4")  # the default modes: none first, the cost's baseline
# t_{0.975, df} for df = 1..30 (two-sided 95 %); larger df use the Cornish-Fisher expansion (`t_quantile_975`)
T_975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
         2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
         2.0518, 2.0484, 2.0452, 2.0423)
Z_975 = 1.959963984540054
# Samples/s of batch-32 training (median over the runs in benchmarks/results/table2) and of
# evaluation (timed separately), one thread on this 2-core machine shared with other jobs:
# used only for the estimate printed before starting (`--plan`).
THROUGHPUT = {"mnist": (1400.0, 6300.0), "nmnist": (320.0, 770.0), "dvs128": (3.7, 13.8)}
DEFAULT_EPOCHS = "mnist=1,nmnist=2,dvs128=3"
DEFAULT_TRAIN_SUBSET = "mnist=all,nmnist=5000,dvs128=352"
DEFAULT_TEST_SUBSET = "mnist=all,nmnist=all,dvs128=all"
POINTS_FILE = "points.jsonl"  # per network: the runner's records of its runs
V = TypeVar("V")


def check_delay_modes(modes: Sequence[str]) -> None:
    """ConfigError unless every mode is one (`check_delay_mode`) and the first is none, the cost's baseline."""
    for m in modes:
        check_delay_mode(m, "--delays: each mode")
    if not modes or modes[0] != "none":
        raise ConfigError(f"--delays: the first delay mode must be none (the baseline of the delay cost), "
                          f"got {','.join(modes)!r}")


def mode_label(mode: str) -> str:
    """A delay mode for people: 'no delays', 'Table I delays', 'finegrained P=4 delays'."""
    if mode in ("none", "table"):
        return "no delays" if mode == "none" else "Table I delays"
    _, name, procs = mode.split(":")
    return f"{name} P={procs} delays"


def parse_per_network(text: str, networks: list[str], what: str, value: Callable[[str], V]) -> dict[str, V]:
    """'3' (every network) or 'mnist=2,dvs128=1' -> {network: value}; every network needs a value."""
    out: dict[str, V] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, val = item.rpartition("=")
        try:
            parsed = value(val)
        except ValueError:
            raise ConfigError(f"--{what}: bad value {val!r} in {text!r}") from None
        if not sep:
            out.update({n: parsed for n in networks})
        elif key in networks:
            out[key] = parsed
    missing = [n for n in networks if n not in out]
    if missing:
        raise ConfigError(f"--{what}: no value for {', '.join(missing)} in {text!r}")
    return out


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise ValueError(text)
    return v


def _subset_size(text: str) -> int | None:
    return None if text == "all" else _positive(text)


def _init_kind(text: str) -> str:
    if text not in INIT_KINDS:
        raise ValueError(text)
    return text


def make_grid(networks: list[str], datasets: Mapping[str, str], synthetic: Mapping[str, bool],
              optimizers: list[str], seeds: Mapping[str, int], epochs: Mapping[str, int],
              train_subset: Mapping[str, int | None], test_subset: Mapping[str, int | None],
              subset_seed: int = 0, lr: float = 1e-3, batch: int = 32, delay_modes: Sequence[str] = DELAY_MODES,
              init: str | Mapping[str, str] = InitKind.DEFAULT, finetune_epochs: int = 0) -> list[RunSpec]:
    """Every run, network by network and seed by seed, so every cell gets its first run early; `init` is
    one initialisation for every network or one per network."""
    check_delay_modes(delay_modes)
    inits = {net: init for net in networks} if isinstance(init, str) else init
    return [RunSpec(net, datasets[net], synthetic[net], opt, d, s, epochs[net], train_subset[net], test_subset[net],
                    subset_seed, lr, batch, inits[net], finetune_epochs)
            for net in networks for s in range(seeds[net]) for opt in optimizers for d in delay_modes]


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1); the deviation is None for a single run."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom (table for df <= 30, else the
    Cornish-Fisher expansion, Abramowitz & Stegun 26.7.5, within 1e-7)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    g = ((z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96, (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
         (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160)
    return z + sum(gi / df ** (i + 1) for i, gi in enumerate(g))


def mean_interval(values: list[float]) -> tuple[float, float | None, tuple[float, float] | None]:
    """Mean, sample std (n - 1) and the 95 % t interval of the mean (std and interval None for n = 1)."""
    m, sd = mean_std(values)
    if sd is None:
        return m, None, None
    half = t_quantile_975(len(values) - 1) * sd / len(values) ** 0.5
    return m, sd, (m - half, m + half)


def summarize(specs: list[RunSpec], out: Path) -> tuple[list[dict], dict]:
    """Table rows (one per network, dataset, optimizer) and the per-cell curves of the finished runs.

    'final' is the test accuracy after the budget's last epoch, 'best' the highest over its epochs.
    The cost of a delay mode is final(mode) - final(none), paired by seed over the seeds finished in
    both: its mean, sample std and 95 % t interval (`<mode>_cost_*`, in percentage points)."""
    finals: dict[tuple, dict[int, float]] = {}
    bests: dict[tuple, list[float]] = {}
    curves: dict[tuple, list[list[float]]] = {}
    for spec in specs:
        hist = run_history(spec, out)[:spec.total_epochs]
        if len(hist) < spec.total_epochs:
            continue
        acc = [100.0 * h["test_acc"] for h in hist]
        finals.setdefault(spec.cell, {})[spec.seed] = acc[-1]
        bests.setdefault(spec.cell, []).append(max(acc))
        curves.setdefault(spec.cell, []).append(acc)
    modes = list(dict.fromkeys(s.delays for s in specs))
    rows = []
    for net, ds, opt in dict.fromkeys((s.network, s.dataset, s.optimizer) for s in specs):
        spec = next(s for s in specs if (s.network, s.dataset, s.optimizer) == (net, ds, opt))
        row = {"network": net, "dataset": ds, "synthetic": spec.synthetic, "optimizer": opt, "epochs": spec.epochs,
               "finetune_epochs": spec.finetune_epochs, "init": str(spec.init),
               "paper_epochs": TABLE_II_EPOCHS.get(net), "train_subset": spec.train_subset,
               "test_subset": spec.test_subset,
               "seeds_planned": sum(1 for s in specs if s.cell == (net, ds, opt, "none"))}
        base = finals.get((net, ds, opt, "none"), {})
        for d in modes:
            cell, k = (net, ds, opt, d), mode_key(d)
            row[f"{k}_runs"] = len(finals.get(cell, {}))
            for what, values in (("final", list(finals.get(cell, {}).values())), ("best", bests.get(cell, []))):
                m, sd = mean_std(values) if values else (None, None)
                row[f"{k}_{what}_mean"], row[f"{k}_{what}_std"] = m, sd
            if d == "none":
                continue
            paired = [acc - base[seed] for seed, acc in sorted(finals.get(cell, {}).items()) if seed in base]
            m, sd, ci = mean_interval(paired) if paired else (None, None, None)
            row[f"{k}_cost_pairs"], row[f"{k}_cost_mean"], row[f"{k}_cost_std"] = len(paired), m, sd
            row[f"{k}_cost_ci95_low"], row[f"{k}_cost_ci95_high"] = ci if ci is not None else (None, None)
        for d in ("none", "table"):
            row[f"{d}_paper_mean"], row[f"{d}_paper_std"] = TABLE_II.get((net, opt, d), (None, None))
        rows.append(row)
    return rows, curves


def _pm(mean: float | None, std: float | None, n: int | None = None) -> str:
    if mean is None:
        return "-"
    text = f"{mean:.2f}% +- {std:.2f}%" if std is not None else f"{mean:.2f}%"
    return text + (" (1 run)" if n == 1 else "")


def _cost(row: dict, k: str) -> tuple[str, str]:
    """A delay cost in percentage points, and its 95 % interval."""
    if row[f"{k}_cost_mean"] is None:
        return "-", "-"
    mean, sd, n = row[f"{k}_cost_mean"], row[f"{k}_cost_std"], row[f"{k}_cost_pairs"]
    text = f"{mean:+.2f} pp" + (f" +- {sd:.2f}" if sd is not None else "") + f" (n={n})"
    low = row[f"{k}_cost_ci95_low"]
    return text, "-" if low is None else f"[{low:+.2f}, {row[f'{k}_cost_ci95_high']:+.2f}] pp"


def _data_label(row: dict) -> str:
    return f"{row['dataset']} (SYNTHETIC)" if row["synthetic"] else row["dataset"]


def render_markdown(rows: list[dict], meta: dict) -> str:
    modes = meta["delay_modes"]
    finetune = {r["finetune_epochs"] for r in rows}
    lines = ["# Table II reproduction (reduced budget: not the paper's 100/100/300 epochs over 10 seeds)", "",
             f"Command: `{meta['command']}`", "",
             f"Environment: {meta['environment']['summary'] if 'environment' in meta else 'not recorded'}", "",
             f"Test accuracy, mean +- sample std (n - 1) over seeds; 'final' after the last epoch, 'best' the "
             f"highest epoch. lr {meta['lr']}, batch {meta['batch']}; the same "
             f"subset (subset seed {meta['subset_seed']}) for every run; seeds vary weights and sample order."
             + (f" After the epochs with delays, {'/'.join(map(str, sorted(finetune)))} fine-tuning epoch(s) without "
                "them (every mode trains as many epochs)." if finetune != {0} else ""), ""]
    synthetic = sorted({r["dataset"] for r in rows if r["synthetic"]})
    if synthetic:
        lines += [f"**{', '.join(synthetic)}: SYNTHETIC stand-ins, not the real datasets**; the paper's values are "
                  "for the real ones.", ""]
    heads = [f"{mode_label(d)[0].upper()}{mode_label(d)[1:]}: {w}" for d in modes for w in ("final", "best")]
    lines += ["| Network | Dataset | Optimizer | Init | Epochs | Train / test samples | Seeds | " + " | ".join(heads)
              + " | Paper: no delays | Paper: Table I delays |", "|" + "---|" * (9 + len(heads))]
    for r in rows:
        sizes = f"{r['train_size']:,} / {r['test_size']:,}"
        seeds = f"{min(r[f'{mode_key(d)}_runs'] for d in modes)}/{r['seeds_planned']}"
        epochs = f"{r['epochs']} + {r['finetune_epochs']}" if r["finetune_epochs"] else str(r["epochs"])
        lines.append(f"| {r['network']} | {_data_label(r)} | {r['optimizer']} | {r.get('init', 'default')} | {epochs} | "
                     f"{sizes} | {seeds} | "
                     + " | ".join(_pm(r[f"{mode_key(d)}_{w}_mean"], r[f"{mode_key(d)}_{w}_std"],
                                      r[f"{mode_key(d)}_runs"]) for d in modes for w in ("final", "best"))
                     + f" | {_pm(r['none_paper_mean'], r['none_paper_std'])} | "
                       f"{_pm(r['table_paper_mean'], r['table_paper_std'])} |")
    chance = ", ".join(f"{n} {100 / c:.1f}%" for n, c in meta["classes"].items())
    lines += ["", f"Chance level: {chance}.", "", "## Cost of the delays", "",
              "Final test accuracy with delays minus without, paired by seed (percentage points): mean +- sample "
              "std (n pairs) and the 95 % t interval of the mean. The paper's column is the difference of its "
              "means.", "", "| Network | Optimizer | Delays | Cost | 95 % interval | Paper |", "|---|---|---|---|---|---|"]
    for r in rows:
        for d in modes[1:]:
            paper = (f"{r['table_paper_mean'] - r['none_paper_mean']:+.2f} pp"
                     if d == "table" and r["table_paper_mean"] is not None else "-")
            lines.append(f"| {r['network']} | {r['optimizer']} | {mode_label(d)} | "
                         + " | ".join(_cost(r, mode_key(d))) + f" | {paper} |")
    lines.append("")
    return "\n".join(lines)


def write_outputs(rows: list[dict], curves: dict, meta: dict, out: Path) -> None:
    """table2.md/.csv/.json and curves.png, each written atomically."""
    write_atomic(out / "table2.md", render_markdown(rows, meta))
    write_csv_atomic(out / "table2.csv", rows)
    write_atomic(out / "table2.json", json.dumps({"meta": meta, "rows": rows}, indent=2))
    fig = plot_curves(rows, curves, meta["classes"], meta["delay_modes"])
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def plot_curves(rows: list[dict], curves: dict, classes: Mapping[str, int],
                modes: Sequence[str] = DELAY_MODES) -> Figure:
    """Test accuracy per epoch: one panel per network, a line per optimizer x delay mode (solid: none,
    dashed: Table I, dotted / dash-dotted: the schedule modes), shaded +- std, chance dotted."""
    from matplotlib.figure import Figure

    styles = {d: ("-", "--", ":", "-.")[min(i, 3)] for i, d in enumerate(modes)}
    panels = list(dict.fromkeys((r["network"], _data_label(r)) for r in rows))
    fig = Figure(figsize=(4.5 * max(len(panels), 1), 4.4 + 0.25 * len(modes)))
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)
    for ax, (net, label) in zip(axes[0], panels):
        for (cnet, _, opt, d), runs in sorted(curves.items()):
            if cnet != net:
                continue
            acc = np.array(runs)
            epochs = np.arange(1, acc.shape[1] + 1)
            mean, std = acc.mean(0), acc.std(0, ddof=1) if len(acc) > 1 else np.zeros(acc.shape[1])
            line, = ax.plot(epochs, mean, marker="o", ls=styles.get(d, "-."),
                            label=f"{opt}, {mode_label(d)} (n={len(acc)})")
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.axhline(100 / classes[net], color="gray", ls=":", lw=1, label="chance")
        last = max((len(c[0]) for k, c in curves.items() if k[0] == net), default=1)
        ax.set_xticks(np.unique(np.linspace(1, last, min(last, 10)).round()))
        ax.set_xlim(0.5, last + 0.5)
        ax.set_title(f"{net} on {label}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.tight_layout()
    return fig


def estimate_seconds(specs: list[RunSpec], sizes: Mapping[str, tuple[int, int]], out: Path) -> float | None:
    """Training + evaluation time of the unfinished epochs from THROUGHPUT (None: a network without figures)."""
    total = 0.0
    for spec in specs:
        if spec.network not in THROUGHPUT:
            return None
        left = spec.total_epochs - len(run_history(spec, out))
        n_train, n_test = sizes[spec.network]
        train_rate, eval_rate = THROUGHPUT[spec.network]
        total += max(left, 0) * (n_train // spec.batch * spec.batch / train_rate + n_test / eval_rate)
    return total


def experiment(specs: Sequence[RunSpec], network: str, data_dir: str | None, out: Path) -> Experiment:
    """The runs of one network as a grid of the `train` kind: seeds x optimizers x delay modes, the first
    outermost (the order of `make_grid`); `network` is the name or file the runs load."""
    first = specs[0]
    return Experiment(f"table2-{first.network}", 0, "train", {
        "network": network, "dataset": first.dataset, "epochs": first.epochs,
        "finetune_epochs": first.finetune_epochs, "init": str(first.init), "lr": first.lr, "batch": first.batch,
        "train_subset": first.train_subset or 0, "test_subset": first.test_subset or 0,
        "subset_seed": first.subset_seed, "data_dir": data_dir or "", "out": str(out.resolve())},
        {"run_seed": list(dict.fromkeys(s.seed for s in specs)),
         "optimizer": list(dict.fromkeys(s.optimizer for s in specs)),
         "delays": list(dict.fromkeys(s.delays for s in specs))})


def reproduce(specs: list[RunSpec], networks: Mapping[str, str], out: Path, meta: dict,
              sizes: Mapping[str, tuple[int, int]], data_dir: str | None = None, workers: int | None = 1,
              dask: str | None = None, progress: bool = True) -> list[RunSpec]:
    """Run every network's grid through the runner (finished runs are only read back), rebuilding the table
    after each network; returns the runs whose points ran now. A run that fails (diverges, say) is named
    in one line and left out of the table; Ctrl-C keeps what is finished and goes on to the caller."""
    trained = []
    by_run = {(s.network, s.run_key): s for s in specs}
    try:
        for name, source in networks.items():
            mine = [s for s in specs if s.network == name]
            grid = experiment(mine, source, data_dir, out)
            outcome = run_experiment(grid, out / name / POINTS_FILE,
                                     workers=workers, dask=dask, progress=progress)
            trained += [by_run[name, (p.params["run_seed"], p.params["optimizer"], p.params["delays"])]
                        for p in grid.points() if p.key in outcome.ran]
            for r in outcome.records:
                if r.status is Status.FAILED:
                    print(f"{name}, {r.params['optimizer']}, delays {r.params['delays']}, seed "
                          f"{r.params['run_seed']}: {r.error}; left out of the table")
            rebuild(specs, sizes, meta, out)
    except BaseException:
        rebuild(specs, sizes, meta, out)
        raise
    return trained


def rebuild(specs: list[RunSpec], sizes: Mapping[str, tuple[int, int]], meta: dict, out: Path) -> None:
    """Rewrite the table and the curves from the finished runs' metrics."""
    rows, curves = summarize(specs, out)
    sized = [r | {"train_size": sizes[r["network"]][0], "test_size": sizes[r["network"]][1]} for r in rows]
    write_outputs(sized, curves, meta, out)


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", default="mnist,nmnist,dvs128", help="built-in names or network files")
    ap.add_argument("--optimizers", default="sgd,adam")
    ap.add_argument("--seeds", default="2", help="seeds 0..N-1 per cell, per network or one number (the paper: 10)")
    ap.add_argument("--epochs", default=DEFAULT_EPOCHS, help="epochs with delays, per network, or one number for all")
    ap.add_argument("--finetune-epochs", type=int, default=0, metavar="N",
                    help="then N epochs without delays in every run (default 0)")
    ap.add_argument("--delays", default=",".join(DELAY_MODES),
                    help="delay modes, none first: none, table, schedule:NAME:P (default: %(default)s)")
    ap.add_argument("--init", default=str(InitKind.DEFAULT),
                    help="initial weights, per network or one for all: 'default', or 'firing' (every layer fires "
                         "at the start, docs/numerics.md); e.g. 'default,dvs128=firing'")
    ap.add_argument("--train-subset", default=DEFAULT_TRAIN_SUBSET, help="samples per network, or 'all'")
    ap.add_argument("--test-subset", default=DEFAULT_TEST_SUBSET, help="samples per network, or 'all'")
    ap.add_argument("--subset-seed", type=int, default=0)
    ap.add_argument("--datasets", default="", help="network=dataset pairs; default mnist, and nmnist / dvs128 "
                                                     "real if imported, else their synthetic stand-ins")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=_positive, default=32)
    ap.add_argument("--threads", type=_positive, default=1,
                    help="numba threads per training process (1 suits a shared machine)")
    ap.add_argument("--blas-threads", type=_positive, default=1)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=1,
                       help="training processes: 1 trains in this process (default), N on a local process pool")
    where.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="train on a Dask scheduler at ADDRESS, or 'local' / 'local:N' for a LocalCluster")
    ap.add_argument("--out", type=Path, default=Path("results/table2"))
    ap.add_argument("--resume", action="store_true", help="skip finished runs, continue the others")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--plan", action="store_true", help="print the runs and the time estimate, train nothing")
    what.add_argument("--table-only", action="store_true",
                      help="rebuild the table and curves from the finished runs, train nothing")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    return run_guarded("reproduce_table2", lambda: _run(args, argv if argv is not None else sys.argv[1:]))


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    given = [n for n in args.networks.split(",") if n]
    loaded = [load_network(n) for n in given]  # each network file is read once
    sources = {net.name: n for net, n in zip(loaded, given)}
    nets = {net.name: net for net in loaded}
    names = list(nets)
    optimizers = [o for o in args.optimizers.split(",") if o]
    if not optimizers:
        raise ConfigError("--optimizers: give at least one of sgd, adam")
    inits = parse_per_network(args.init, names, "init", _init_kind)
    for o in optimizers:  # bad names or values fail before any training
        TrainConfig(optimizer=o, lr=args.lr, batch=args.batch, finetune_epochs=args.finetune_epochs)
    modes = [m for m in args.delays.split(",") if m]
    check_delay_modes(modes)
    for m in modes:
        for net in nets.values():
            resolve_delays(m, net, args.batch)
    seeds = parse_per_network(args.seeds, names, "seeds", _positive)
    epochs = parse_per_network(args.epochs, names, "epochs", _positive)
    train_subset = parse_per_network(args.train_subset, names, "train-subset", _subset_size)
    test_subset = parse_per_network(args.test_subset, names, "test-subset", _subset_size)
    chosen = {k: v for k, v in (p.split("=", 1) for p in args.datasets.split(",") if "=" in p)}
    datasets = {n: chosen.get(n) or default_dataset(n, args.data_dir) for n in names}
    if args.out.exists() and any(args.out.glob(f"*/*/{RUN_FILE}")) and not (args.resume or args.plan
                                                                             or args.table_only):
        raise ConfigError(f"{args.out} already holds runs: pass --resume to continue them, or choose another --out")
    set_threads(args.threads, args.blas_threads)
    for var, value in (("NUMBA_NUM_THREADS", args.threads), ("OPENBLAS_NUM_THREADS", args.blas_threads),
                       ("OMP_NUM_THREADS", args.blas_threads)):
        os.environ[var] = str(value)  # for the local worker processes, which start afresh
    keep_freed_memory()
    data: dict[str, DatasetSplits] = {}
    for n in names:
        data[n] = load_splits(datasets[n], args.data_dir or "", train_subset[n] or 0, test_subset[n] or 0,
                              args.subset_seed)
        if data[n].synthetic:
            print(f"note: {datasets[n]} is synthetic: {data[n].description}")
    specs = make_grid(names, datasets, {n: data[n].synthetic for n in names}, optimizers, seeds, epochs,
                      train_subset, test_subset, args.subset_seed, args.lr, args.batch, modes, inits,
                      args.finetune_epochs)
    sizes = {n: (len(d.train), len(d.test)) for n, d in data.items()}
    meta = {"command": "python benchmarks/reproduce_table2.py " + " ".join(argv), "lr": args.lr,
            "batch": args.batch, "subset_seed": args.subset_seed, "seeds": seeds, "delay_modes": modes,
            "init": {n: str(i) for n, i in inits.items()}, "finetune_epochs": args.finetune_epochs,
            "classes": {n: net.compute_layers()[-1].out_size for n, net in nets.items()},
            "environment": environment().as_dict()}
    if args.table_only:
        rebuild(specs, sizes, meta, args.out)
        done = sum(is_finished(s, args.out) for s in specs)
        print(f"table of {done} finished runs of {len(specs)}: {args.out / 'table2.md'}")
        return 0
    done = sum(is_finished(s, args.out) for s in specs)
    for n in names:
        print(f"{n}: {datasets[n]}{' (SYNTHETIC)' if data[n].synthetic else ''}, {sizes[n][0]:,} train / "
              f"{sizes[n][1]:,} test samples, {epochs[n]} epoch(s)"
              + (f" + {args.finetune_epochs} fine-tuning" if args.finetune_epochs else "")
              + f" (paper: {TABLE_II_EPOCHS.get(n, '-')}), {seeds[n]} seed(s), init {inits[n]}, delays "
              + ", ".join(f"{m} {resolve_delays(m, nets[n], args.batch) or ''}".strip() for m in modes))
    est = estimate_seconds(specs, sizes, args.out)
    print(f"{len(specs)} runs ({done} finished); estimated time for the rest: "
          + (f"{est / 60:.1f} min at {args.threads} thread(s) in one process on this machine's measured throughput"
             if est is not None else "unknown (no throughput figures for a custom network)"))
    if args.plan:
        return 0
    t0 = time.perf_counter()
    try:
        trained = reproduce(specs, sources, args.out, meta, sizes, args.data_dir, args.workers if args.dask is None
                            else None, args.dask, progress=not args.no_progress)
    except BaseException as exc:  # Ctrl-C (numba may wrap it in a SystemError): keep what is finished
        if not is_interrupt(exc):
            raise
        print(f"\ninterrupted: finished epochs are checkpointed; rerun with --resume to continue ({args.out})")
        return 130
    print(f"ran {len(trained)} runs in {(time.perf_counter() - t0) / 60:.1f} min; "
          f"table: {args.out / 'table2.md'}, curves: {args.out / 'curves.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
