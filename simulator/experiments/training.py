"""The `train` point kind: one training run of a grid (Table II), in its own run folder.

A run trains network x dataset x optimizer x delay mode x seed with the delayed-gradient
trainer (`models.run_folder.train_in_folder`) in `OUT/<network>/<optimizer>-<mode>[-<init>]-s<seed>/`
with its checkpoint after every epoch, so a point that is killed, or run again with more
epochs, continues from its last finished epoch; a finished run is only read back. The
record is the run's final and best test accuracy and its training time.

Delay modes: `none`, `table` (Table I's delays) and `schedule:NAME:P` (the delays scheduler
NAME gives on P processors, `simulator.schedule.delays.resolve_delays`). The training seed is
the parameter `run_seed` (weights and sample order), given by the grid rather than drawn by
the runner, so that runs pair by seed across delay modes.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
import numpy as np

from models.init import INIT_KINDS, InitKind
from models.run_folder import train_in_folder
from models.threads import keep_freed_memory
from models.train import TrainConfig
from simulator.schedule.delays import resolve_delays
from workloads import ConfigError, Network, load_network
from workloads.datasets import NAMES, SYNTHETIC_DEFAULT_SIZES, ArrayDataset, DatasetSplits, data_root, get_dataset
from workloads.files import write_atomic

from .kinds import resolve

RUN_FILE = "run.json"
"""A run folder's identity (`RunSpec.identity`), checked before a run is continued or read."""


def check_delay_mode(mode: str, where: str) -> None:
    """ConfigError unless `mode` is none, table or schedule:NAME:P."""
    parts = mode.split(":") if isinstance(mode, str) else []
    if mode not in ("none", "table") and not (len(parts) == 3 and parts[0] == "schedule" and parts[2].isdigit()):
        raise ConfigError(f"{where} must be none, table or schedule:NAME:P (e.g. schedule:finegrained:4), "
                          f"got {mode!r}")


def mode_key(mode: str) -> str:
    """A delay mode as a name part: schedule:finegrained:4 -> schedule-finegrained-4."""
    return mode.replace(":", "-")


@dataclass(frozen=True)
class RunSpec:
    """One training run of a grid; `train_subset`/`test_subset` None means the whole split."""

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
    def run_key(self) -> tuple[int, str, str]:
        """What tells the runs of one network apart in a grid: seed, optimizer, delay mode."""
        return self.seed, self.optimizer, self.delays

    @property
    def cell(self) -> tuple[str, str, str, str]:
        return self.network, self.dataset, self.optimizer, self.delays

    def identity(self) -> dict:
        """What must not change between a run and its resumption (the epochs and fine-tuning epochs may
        grow); the default init is left out, so runs recorded before the option existed still match."""
        return {k: v for k, v in asdict(self).items()
                if k not in ("epochs", "finetune_epochs") and not (k == "init" and v == InitKind.DEFAULT)}


def run_history(spec: RunSpec, out: Path) -> list[dict]:
    """The finished epochs of a run ([] if it never finished one); a folder of another run is an error."""
    folder = out / spec.folder
    run_file, metrics = folder / RUN_FILE, folder / "metrics.json"
    if not run_file.exists():
        return []
    recorded = json.loads(run_file.read_text())
    if recorded != spec.identity():
        raise ConfigError(f"{folder} holds a run of another configuration ({recorded}); choose another output "
                          f"folder")
    return json.loads(metrics.read_text()) if metrics.exists() else []


def is_finished(spec: RunSpec, out: Path) -> bool:
    return len(run_history(spec, out)) >= spec.total_epochs


def default_dataset(network: str, data_dir: str | Path | None) -> str:
    """mnist -> mnist; nmnist / dvs128 -> the real set if imported, else its synthetic stand-in."""
    if network == "mnist":
        return "mnist"
    if network in ("nmnist", "dvs128"):
        return network if (data_root(data_dir) / network).is_dir() else f"{network}-synthetic"
    raise ConfigError(f"datasets: give a dataset for network {network!r} (e.g. {network}=NAME)")


def subset(ds: ArrayDataset, n: int | None, seed: int, split: int) -> ArrayDataset:
    """The same `n` samples for every run: a seeded choice, kept in file order (all if n is None or too large)."""
    if n is None or n >= len(ds):
        return ds
    idx = np.sort(np.random.default_rng([seed, split]).permutation(len(ds))[:n])
    return ArrayDataset(ds.name, np.asarray(ds.x[idx]), ds.y[idx], ds.kind)


@lru_cache(maxsize=2)
def load_splits(dataset: str, data_dir: str, train_subset: int, test_subset: int, subset_seed: int) -> DatasetSplits:
    """The subsets a grid trains on (0: the whole split), loaded once per worker. `dataset` is a name
    of `workloads.datasets.NAMES` or 'package.module:function', a function returning `DatasetSplits`."""
    if dataset in NAMES:
        splits = get_dataset(dataset, data_dir or None)
    elif ":" in dataset:
        splits = resolve(dataset)()
        if not isinstance(splits, DatasetSplits):
            raise ConfigError(f"dataset {dataset!r}: returned {type(splits).__name__}, not DatasetSplits")
    else:
        raise ConfigError(f"dataset: must be one of {', '.join(NAMES)} or 'module:function', got {dataset!r}")
    return DatasetSplits(subset(splits.train, train_subset or None, subset_seed, 0),
                         subset(splits.test, test_subset or None, subset_seed, 1), splits.synthetic,
                         splits.description)


def train_point(*, network: str = "mnist", dataset: str, optimizer: str = "adam", delays: str = "none",
                run_seed: int = 0, epochs: int = 1, finetune_epochs: int = 0, init: str = "default",
                lr: float = 1e-3, batch: int = 32, train_subset: int = 0, test_subset: int = 0,
                subset_seed: int = 0, data_dir: str = "", out: str) -> dict:
    """Train (or continue) one run in `out`/its folder; its final and best test accuracy (%). A run that has
    finished its epochs is only read back (its data are not loaded, its checkpoint is not needed)."""
    check_delay_mode(delays, "delays")
    net = load_network(network)
    data = (dataset, data_dir, train_subset, test_subset, subset_seed)
    synthetic = dataset in SYNTHETIC_DEFAULT_SIZES if dataset in NAMES else load_splits(*data).synthetic
    spec = RunSpec(net.name, dataset, synthetic, optimizer, delays, run_seed, epochs, train_subset or None,
                   test_subset or None, subset_seed, lr, batch, init, finetune_epochs)
    history = run_history(spec, Path(out))[:spec.total_epochs]
    if len(history) < spec.total_epochs:
        history = train_run(spec, net, load_splits(*data), Path(out))
    acc = [100.0 * h["test_acc"] for h in history]
    return {"folder": spec.folder, "synthetic": spec.synthetic, "epochs_done": len(history),
            "final_test_acc": acc[-1], "best_test_acc": max(acc), "final_train_loss": history[-1]["train_loss"],
            "train_seconds": sum(h["train_seconds"] for h in history),
            "train_samples_per_s": statistics.median(h["train_samples_per_s"] for h in history)}


def train_run(spec: RunSpec, net: Network, splits: DatasetSplits, out: Path, progress: bool = False) -> tuple[dict, ...]:
    """Train (or continue) one run in its own folder through the trainer; its history, one dict per epoch."""
    folder = out / spec.folder
    run_history(spec, out)  # a folder of another run is refused before anything is written
    write_atomic(folder / RUN_FILE, json.dumps(spec.identity(), indent=2))
    cfg = TrainConfig(optimizer=spec.optimizer, lr=spec.lr, batch=spec.batch, epochs=spec.epochs, seed=spec.seed,
                      delays=resolve_delays(spec.delays, net, spec.batch), init=spec.init,
                      finetune_epochs=spec.finetune_epochs)
    describe = {k: v for k, v in spec.identity().items() if k not in asdict(cfg) and k != "network"}
    return train_in_folder(net, splits.train, splits.test, cfg, folder, resume=True, progress=progress,
                           describe=describe, report=None).history


def warm_up() -> None:
    """Once per worker: keep freed memory for the next step's arrays (`models.threads`)."""
    keep_freed_memory()

