"""A resumable training run in a folder: the edge that writes what `models.train` returns.

`train_in_folder` runs the trainer with a checkpoint sink that, after every epoch, writes
`checkpoint.npz` (the `TrainState`: weights `w_<k>`/`b_<k>`, optimiser slots, pending delayed
gradients, and a `meta` entry with the run's configuration and history), `metrics.json` and
`metrics.csv`, each through `workloads.files.atomic_path`, so an interrupted write never leaves
a corrupt file. With `resume` it continues from the checkpoint there, if the configuration is the
same (the number of epochs may grow). `spikepipe train` and `benchmarks/reproduce_table2.py` use it.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from workloads.datasets.types import ArrayDataset
from workloads.errors import ConfigError
from workloads.files import write_atomic, write_csv_atomic
from workloads.network import Network

from .snn import Params
from .train import TrainConfig, TrainResult, TrainState, run_training

CHECKPOINT = "checkpoint.npz"


def run_config(net: Network, cfg: TrainConfig, describe: dict | None = None) -> dict:
    """What identifies a run (a checkpoint resumes only the same one), as JSON would read it back."""
    return json.loads(json.dumps({"network": net.name, "neuron": asdict(net.neuron), **asdict(cfg),
                                  **(describe or {})}))


def save_checkpoint(path: Path, state: TrainState, config: dict) -> None:
    arrays = {f"w_{k}": w for k, (w, _) in enumerate(state.params)}
    arrays.update({f"b_{k}": b for k, (_, b) in enumerate(state.params)})
    arrays.update(state.arrays)
    arrays["meta"] = np.array(json.dumps({"config": config, "history": list(state.history)}))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(path, buf.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of a checkpoint and its `meta` (configuration, history)."""
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        return arrays, json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"checkpoint {path}: cannot be read ({exc})") from None


def write_metrics(folder: Path, history: tuple[dict, ...]) -> None:
    """`metrics.json` and `metrics.csv`: one row per finished epoch."""
    write_atomic(folder / "metrics.json", json.dumps(list(history), indent=2))
    write_csv_atomic(folder / "metrics.csv", history)


def _resume_state(path: Path, config: dict, layers: int) -> TrainState:
    arrays, meta = load_checkpoint(path)
    if {k: v for k, v in meta["config"].items() if k != "epochs"} != {k: v for k, v in config.items() if k != "epochs"}:
        raise ConfigError(f"{path} was written by a different configuration: {meta['config']}")
    params = [(arrays.pop(f"w_{k}"), arrays.pop(f"b_{k}")) for k in range(layers)]
    return TrainState(params, arrays, tuple(meta["history"]))


def train_in_folder(net: Network, train: ArrayDataset, test: ArrayDataset, cfg: TrainConfig, out: Path,
                    resume: bool = False, progress: bool = True, describe: dict | None = None,
                    report: Callable[[str], None] | None = tqdm.write, init: Params | None = None) -> TrainResult:
    """`models.train.run_training` with its state and metrics written under `out` after every epoch;
    `describe` adds fields to the run's configuration. An existing checkpoint needs `resume`;
    a new run starts from the weights `init` if given (else the seeded initialisation)."""
    path = out / CHECKPOINT
    config = run_config(net, cfg, describe)
    start = None if init is None else TrainState(init, {}, ())
    if path.exists():
        if not resume:
            raise ConfigError(f"{path} exists: pass --resume to continue it, or choose another --out")
        start = _resume_state(path, config, len(net.compute_layers()))

    def sink(state: TrainState) -> None:
        save_checkpoint(path, state, config)
        write_metrics(out, state.history)

    return run_training(net, train, test, cfg, start, sink, progress, report)
