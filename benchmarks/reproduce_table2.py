"""Table II: test accuracy with SGD and Adam, without and with gradient delays, over seeds.

Trains the grid network x optimizer x delay mode x seed with the delayed-gradient trainer
(`models.run_folder.train_in_folder`), each run in its own folder `OUT/<network>/<optimizer>-
<mode>[-<init>]-s<seed>/` with its own checkpoint, then writes `table2.md`/`.csv`/`.json` (mean +-
std over seeds of the final and the best test accuracy beside the paper's values, and the cost
of each delay mode, accuracy(delays) - accuracy(none) paired by seed, with its 95 % interval)
and `curves.png` (test accuracy per epoch, one panel per network, shaded +- std over seeds).

Delay modes: `none`, `table` (Table I's delays) and `schedule:NAME:P` (the delays scheduler
NAME gives on P processors, `simulator.schedule.delays.resolve_delays`); by default all three,
with `schedule:finegrained:4`. `--init firing` starts every run from weights scaled so that every
layer fires (`models.init`); `--finetune-epochs N` adds N epochs without delays after the
`--epochs` with them (the paper's suggestion; a `none` run trains as many epochs, so the
budgets stay equal).

The budget is the user's: epochs and subset sizes per network, number of seeds. The paper
trains 100 / 100 / 300 epochs over 10 seeds on the full sets; the defaults here take about an
hour and a half on two shared cores (estimate printed before starting). Ctrl-C stops cleanly:
finished epochs are checkpointed, and `--resume` skips finished runs and continues the others.

    python benchmarks/reproduce_table2.py [--networks mnist,nmnist,dvs128] [--seeds 2|mnist=3,...]
        [--epochs mnist=1,nmnist=2,dvs128=3] [--finetune-epochs 0] [--init default|firing]
        [--delays none,table,schedule:finegrained:4] [--train-subset ...] [--test-subset ...]
        [--datasets nmnist=nmnist-synthetic] [--out results/table2] [--resume]

The trainer runs in this process rather than as `spikepipe train` subprocesses: the subsets
are cut here (the CLI trains on whole splits), and each dataset is loaded once for all runs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, TypeVar

import numpy as np
from tqdm import tqdm

from models.init import INIT_KINDS, InitKind
from models.threads import keep_freed_memory, set_threads
from models.run_folder import train_in_folder
from models.train import TrainConfig, TrainingDiverged
from simulator.exits import OneLineParser, is_interrupt, run_guarded
from simulator.paper import TABLE_II, TABLE_II_EPOCHS
from simulator.schedule.delays import resolve_delays
from workloads import ConfigError, Network, load_network
from workloads.datasets import ArrayDataset, DatasetSplits, data_root, get_dataset
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
RUN_FILE = "run.json"
V = TypeVar("V")


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid; `train_subset`/`test_subset` None means the whole split."""

    network: str
    dataset: str
    synthetic: bool
    optimizer: str
    delays: str
    seed: int
    epochs: int
    train_subset: int | None
    test_subset: int | None
    subset_seed: int
    lr: float
    batch: int
    init: str = InitKind.DEFAULT
    finetune_epochs: int = 0

    def __post_init__(self) -> None:
        check_delay_mode(self.delays, "run: field 'delays'")
        if self.init not in INIT_KINDS:
            raise ConfigError(f"run: field 'init' must be one of {', '.join(INIT_KINDS)}, got {self.init!r}")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.finetune_epochs

    @property
    def folder(self) -> str:
        init = "" if self.init == InitKind.DEFAULT else f"-{self.init}"
        return f"{self.network}/{self.optimizer}-{mode_key(self.delays)}{init}-s{self.seed}"

    @property
    def cell(self) -> tuple[str, str, str, str]:
        return self.network, self.dataset, self.optimizer, self.delays

    def identity(self) -> dict:
        """What must not change between a run and its resumption (the epochs and fine-tuning epochs may
        grow); the default init is left out, so runs recorded before the option existed still match."""
        return {k: v for k, v in asdict(self).items()
                if k not in ("epochs", "finetune_epochs") and not (k == "init" and v == InitKind.DEFAULT)}


def check_delay_mode(mode: str, where: str) -> None:
    """ConfigError unless `mode` is none, table or schedule:NAME:P."""
    parts = mode.split(":")
    if mode not in ("none", "table") and not (len(parts) == 3 and parts[0] == "schedule" and parts[2].isdigit()):
        raise ConfigError(f"{where} must be none, table or schedule:NAME:P (e.g. schedule:finegrained:4), "
                          f"got {mode!r}")


def check_delay_modes(modes: Sequence[str]) -> None:
    """ConfigError unless every mode is one (`check_delay_mode`) and the first is none, the cost's baseline."""
    for m in modes:
        check_delay_mode(m, "--delays: each mode")
    if not modes or modes[0] != "none":
        raise ConfigError(f"--delays: the first delay mode must be none (the baseline of the delay cost), "
                          f"got {','.join(modes)!r}")


def mode_key(mode: str) -> str:
    """A delay mode as a name part: schedule:finegrained:4 -> schedule-finegrained-4."""
    return mode.replace(":", "-")


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


def default_dataset(network: str, data_dir: str | Path | None) -> str:
    """mnist -> mnist; nmnist / dvs128 -> the real set if imported, else its synthetic stand-in."""
    if network == "mnist":
        return "mnist"
    if network in ("nmnist", "dvs128"):
        return network if (data_root(data_dir) / network).is_dir() else f"{network}-synthetic"
    raise ConfigError(f"--datasets: give a dataset for network {network!r} (e.g. {network}=NAME)")


def subset(ds: ArrayDataset, n: int | None, seed: int, split: int) -> ArrayDataset:
    """The same `n` samples for every run: a seeded choice, kept in file order (all if n is None or too large)."""
    if n is None or n >= len(ds):
        return ds
    idx = np.sort(np.random.default_rng([seed, split]).permutation(len(ds))[:n])
    return ArrayDataset(ds.name, np.asarray(ds.x[idx]), ds.y[idx], ds.kind)


def make_grid(networks: list[str], datasets: Mapping[str, str], synthetic: Mapping[str, bool],
              optimizers: list[str], seeds: Mapping[str, int], epochs: Mapping[str, int],
              train_subset: Mapping[str, int | None], test_subset: Mapping[str, int | None],
              subset_seed: int = 0, lr: float = 1e-3, batch: int = 32, delay_modes: Sequence[str] = DELAY_MODES,
              init: str = InitKind.DEFAULT, finetune_epochs: int = 0) -> list[RunSpec]:
    """Every run, network by network and seed by seed, so every cell gets its first run early."""
    check_delay_modes(delay_modes)
    return [RunSpec(net, datasets[net], synthetic[net], opt, d, s, epochs[net], train_subset[net], test_subset[net],
                    subset_seed, lr, batch, init, finetune_epochs)
            for net in networks for s in range(seeds[net]) for opt in optimizers for d in delay_modes]


def run_history(spec: RunSpec, out: Path) -> list[dict]:
    """The finished epochs of a run ([] if it never finished one); a folder of another run is an error."""
    folder = out / spec.folder
    run_file, metrics = folder / RUN_FILE, folder / "metrics.json"
    if not run_file.exists():
        return []
    recorded = json.loads(run_file.read_text())
    if recorded != spec.identity():
        raise ConfigError(f"{folder} holds a run of another configuration ({recorded}); choose another --out")
    return json.loads(metrics.read_text()) if metrics.exists() else []


def is_finished(spec: RunSpec, out: Path) -> bool:
    return len(run_history(spec, out)) >= spec.total_epochs


def train_run(spec: RunSpec, net: Network, splits: DatasetSplits, out: Path, progress: bool) -> tuple[dict, ...]:
    """Train (or continue) one run in its own folder through the trainer."""
    folder = out / spec.folder
    write_atomic(folder / RUN_FILE, json.dumps(spec.identity(), indent=2))
    cfg = TrainConfig(optimizer=spec.optimizer, lr=spec.lr, batch=spec.batch, epochs=spec.epochs, seed=spec.seed,
                      delays=resolve_delays(spec.delays, net, spec.batch), init=spec.init,
                      finetune_epochs=spec.finetune_epochs)
    describe = {k: v for k, v in spec.identity().items() if k not in asdict(cfg) and k != "network"}
    return train_in_folder(net, splits.train, splits.test, cfg, folder, resume=True, progress=progress,
                           describe=describe, report=None).history


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
             f"highest epoch. lr {meta['lr']}, batch {meta['batch']}, init {meta.get('init', 'default')}; the same "
             f"subset (subset seed {meta['subset_seed']}) for every run; seeds vary weights and sample order."
             + (f" After the epochs with delays, {'/'.join(map(str, sorted(finetune)))} fine-tuning epoch(s) without "
                "them (every mode trains as many epochs)." if finetune != {0} else ""), ""]
    synthetic = sorted({r["dataset"] for r in rows if r["synthetic"]})
    if synthetic:
        lines += [f"**{', '.join(synthetic)}: SYNTHETIC stand-ins, not the real datasets**; the paper's values are "
                  "for the real ones.", ""]
    heads = [f"{mode_label(d)[0].upper()}{mode_label(d)[1:]}: {w}" for d in modes for w in ("final", "best")]
    lines += ["| Network | Dataset | Optimizer | Epochs | Train / test samples | Seeds | " + " | ".join(heads)
              + " | Paper: no delays | Paper: Table I delays |", "|" + "---|" * (8 + len(heads))]
    for r in rows:
        sizes = f"{r['train_size']:,} / {r['test_size']:,}"
        seeds = f"{min(r[f'{mode_key(d)}_runs'] for d in modes)}/{r['seeds_planned']}"
        epochs = f"{r['epochs']} + {r['finetune_epochs']}" if r["finetune_epochs"] else str(r["epochs"])
        lines.append(f"| {r['network']} | {_data_label(r)} | {r['optimizer']} | {epochs} | {sizes} | {seeds} | "
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


def reproduce(specs: list[RunSpec], nets: Mapping[str, Network], data: Mapping[str, DatasetSplits], out: Path,
              meta: dict, progress: bool = True) -> list[RunSpec]:
    """Train the unfinished runs, rebuilding the table after each; returns the runs trained now."""
    trained = []
    bar = tqdm(specs, desc="table2 runs", unit="run", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(spec.folder)
        if is_finished(spec, out):
            continue
        try:
            hist = train_run(spec, nets[spec.network], data[spec.network], out, progress)
        except TrainingDiverged as exc:
            tqdm.write(f"{spec.folder}: diverged ({exc}); left out of the table")
            continue
        trained.append(spec)
        tqdm.write(f"{spec.folder}: test accuracy {100 * hist[-1]['test_acc']:.2f}% after {len(hist)} epoch(s) "
                   f"({hist[-1]['train_samples_per_s']:.1f} samples/s)")
        rebuild(specs, data, meta, out)
    rebuild(specs, data, meta, out)
    return trained


def rebuild(specs: list[RunSpec], data: Mapping[str, DatasetSplits], meta: dict, out: Path) -> None:
    """Rewrite the table and the curves from the finished runs' metrics."""
    rows, curves = summarize(specs, out)
    sized = [r | {"train_size": len(data[r["network"]].train), "test_size": len(data[r["network"]].test)}
             for r in rows]
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
    ap.add_argument("--init", default=InitKind.DEFAULT, choices=INIT_KINDS,
                    help="initial weights: default, or firing (every layer fires at the start, docs/numerics.md)")
    ap.add_argument("--train-subset", default=DEFAULT_TRAIN_SUBSET, help="samples per network, or 'all'")
    ap.add_argument("--test-subset", default=DEFAULT_TEST_SUBSET, help="samples per network, or 'all'")
    ap.add_argument("--subset-seed", type=int, default=0)
    ap.add_argument("--datasets", default="", help="network=dataset pairs; default mnist, and nmnist / dvs128 "
                                                     "real if imported, else their synthetic stand-ins")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=_positive, default=32)
    ap.add_argument("--threads", type=_positive, default=1, help="numba threads (1 suits a shared machine)")
    ap.add_argument("--blas-threads", type=_positive, default=1)
    ap.add_argument("--out", type=Path, default=Path("results/table2"))
    ap.add_argument("--resume", action="store_true", help="skip finished runs, continue the others")
    ap.add_argument("--plan", action="store_true", help="print the runs and the time estimate, train nothing")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    return run_guarded("reproduce_table2", lambda: _run(args, argv if argv is not None else sys.argv[1:]))


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    nets = {net.name: net for net in map(load_network, filter(None, args.networks.split(",")))}
    names = list(nets)
    optimizers = [o for o in args.optimizers.split(",") if o]
    if not optimizers:
        raise ConfigError("--optimizers: give at least one of sgd, adam")
    for o in optimizers:  # bad names or values fail before any training
        TrainConfig(optimizer=o, lr=args.lr, batch=args.batch, init=args.init, finetune_epochs=args.finetune_epochs)
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
    if args.out.exists() and any(args.out.glob(f"*/*/{RUN_FILE}")) and not (args.resume or args.plan):
        raise ConfigError(f"{args.out} already holds runs: pass --resume to continue them, or choose another --out")
    set_threads(args.threads, args.blas_threads)
    keep_freed_memory()
    data = {}
    for n in names:
        splits = get_dataset(datasets[n], args.data_dir)
        data[n] = DatasetSplits(subset(splits.train, train_subset[n], args.subset_seed, 0),
                                subset(splits.test, test_subset[n], args.subset_seed, 1),
                                splits.synthetic, splits.description)
        if splits.synthetic:
            print(f"note: {datasets[n]} is synthetic: {splits.description}")
    specs = make_grid(names, datasets, {n: data[n].synthetic for n in names}, optimizers, seeds, epochs,
                      train_subset, test_subset, args.subset_seed, args.lr, args.batch, modes, args.init,
                      args.finetune_epochs)
    sizes = {n: (len(d.train), len(d.test)) for n, d in data.items()}
    meta = {"command": "python benchmarks/reproduce_table2.py " + " ".join(argv), "lr": args.lr,
            "batch": args.batch, "subset_seed": args.subset_seed, "seeds": seeds, "delay_modes": modes,
            "init": str(args.init), "finetune_epochs": args.finetune_epochs,
            "classes": {n: net.compute_layers()[-1].out_size for n, net in nets.items()},
            "environment": environment().as_dict()}
    done = sum(is_finished(s, args.out) for s in specs)
    for n in names:
        print(f"{n}: {datasets[n]}{' (SYNTHETIC)' if data[n].synthetic else ''}, {sizes[n][0]:,} train / "
              f"{sizes[n][1]:,} test samples, {epochs[n]} epoch(s)"
              + (f" + {args.finetune_epochs} fine-tuning" if args.finetune_epochs else "")
              + f" (paper: {TABLE_II_EPOCHS.get(n, '-')}), {seeds[n]} seed(s), delays "
              + ", ".join(f"{m} {resolve_delays(m, nets[n], args.batch) or ''}".strip() for m in modes))
    est = estimate_seconds(specs, sizes, args.out)
    print(f"{len(specs)} runs ({done} finished); estimated time for the rest: "
          + (f"{est / 60:.1f} min at {args.threads} thread(s) on this machine's measured throughput"
             if est is not None else "unknown (no throughput figures for a custom network)"))
    if args.plan:
        return 0
    t0 = time.perf_counter()
    try:
        trained = reproduce(specs, nets, data, args.out, meta, progress=not args.no_progress)
    except BaseException as exc:  # Ctrl-C (numba may wrap it in a SystemError): keep what is finished
        if not is_interrupt(exc):
            raise
        rebuild(specs, data, meta, args.out)
        print(f"\ninterrupted: finished epochs are checkpointed; rerun with --resume to continue ({args.out})")
        return 130
    print(f"trained {len(trained)} runs in {(time.perf_counter() - t0) / 60:.1f} min; "
          f"table: {args.out / 'table2.md'}, curves: {args.out / 'curves.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
