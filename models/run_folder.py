"""A resumable training run in a folder: the edge that writes what `models.train` returns.

`train_in_folder` runs the trainer with a checkpoint sink that, after every epoch, writes
`checkpoint.npz` (the `TrainState`: weights `w_<k>`/`b_<k>`, optimiser slots, pending delayed
gradients, and a `meta` entry with the run's identity and history),
`metrics.json`, `metrics.csv` and `activity.json` (the probe batch's spike activity after the
epoch, `models.activity`), each through `workloads.files.atomic_path`, so an interrupted
write never leaves a corrupt file. `spikepipe train` and `benchmarks/reproduce_table2.py` use it.

A run owns its folder while it writes it: `folder_lock` holds an exclusive `flock` on
`<folder>/.lock` (which records the holder's pid); a second writer fails at once naming that
pid, and the kernel drops the lock when the holder dies, so a lock is never stale.

With `resume` the run continues from the checkpoint there if it is the same run (`run_config`:
the network's content hash, the data's size and content hash, every training setting but the
number of epochs and of fine-tuning epochs, which may grow as long as the epochs already trained
keep their kind, `train.check_finetune_plan`); otherwise it stops listing the fields that differ. A damaged
checkpoint (truncated, overwritten, an array or the optimiser state missing: `state_keys`) stops
with one line, never a partial resume.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm import tqdm

from workloads.datasets.types import ArrayDataset
from workloads.errors import ConfigError, path_error
from workloads.files import write_atomic, write_csv_atomic
from workloads.network import Network

from . import snn
from .activity import ACTIVITY_FILE, SpikeActivity, activity_json
from .init import InitKind
from .optim import ParamKind, slot
from .train import TrainConfig, TrainResult, TrainState, check_finetune_plan, run_training, steps_per_epoch

CHECKPOINT = "checkpoint.npz"
LOCK = ".lock"
_HASH_CHUNK = 1 << 26  # bytes hashed at a time (memory-mapped data stays on disk)
_NOT_COMPARED = ("network", "epochs", "finetune_epochs")  # a renamed network file, a larger budget: the same run


def _spec(value: object) -> object:
    """A dataclass tree as JSON-ready data, each record tagged with its type (Dense and Output differ)."""
    if is_dataclass(value):
        return {"type": type(value).__name__, **{f.name: _spec(getattr(value, f.name)) for f in fields(value)}}
    if isinstance(value, (list, tuple)):
        return [_spec(v) for v in value]
    return value


def network_sha256(net: Network) -> str:
    """Content hash of a network's specification (layers, shapes, timesteps, neuron), not its name."""
    spec = _spec(net)
    spec.pop("name")
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def data_sha256(*splits: ArrayDataset) -> str:
    """Content hash of the inputs and labels of `splits`, in order."""
    h = hashlib.sha256()
    for split in splits:
        for arr in (split.x, split.y):
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            rows = max(1, _HASH_CHUNK // max(1, arr[:1].nbytes))
            for i in range(0, len(arr), rows):
                h.update(np.ascontiguousarray(arr[i:i + rows]).data)
    return h.hexdigest()


def run_config(net: Network, cfg: TrainConfig, describe: dict | None = None,
               data: tuple[ArrayDataset, ArrayDataset] | None = None) -> dict:
    """What identifies a run (a checkpoint resumes only the same one), as JSON would read it back:
    the network's name and content hash, the training settings, the data's sizes and content hash
    (given `data`, the train and test splits) and the caller's `describe` fields."""
    ident = {"network": net.name, "network_sha256": network_sha256(net), **asdict(cfg)}
    if cfg.init is InitKind.DEFAULT:
        del ident["init"]  # so runs saved before there was a choice of initialisation still resume
    if data is not None:
        ident |= {"train_samples": len(data[0]), "test_samples": len(data[1]), "data_sha256": data_sha256(*data)}
    return json.loads(json.dumps(ident | (describe or {})))


def config_differences(saved: dict, config: dict) -> list[str]:
    """'lr=0.001, this run has lr=0.01' for every identifying field in which two runs differ."""
    def show(key: str, conf: dict) -> str:
        value = conf.get(key, "(not recorded)")
        return f"{key}={value[:12]}..." if key.endswith("sha256") and isinstance(value, str) else f"{key}={value}"

    keys = [k for k in dict.fromkeys([*config, *saved]) if k not in _NOT_COMPARED]
    return [f"{show(k, saved)}, this run has {show(k, config)}" for k in keys if saved.get(k) != config.get(k)]


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold `folder` for one writer: an exclusive flock on `folder/.lock`, which records our pid.
    Another holder (in any process) makes this raise ConfigError at once, naming its pid."""
    path = folder / LOCK
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise path_error(exc, "create", path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise path_error(exc, "lock", path) from None
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(f"run folder {folder} is in use by process {holder} (lock {path}); wait for it to "
                              f"finish or choose another --out") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # a full disk
            raise path_error(exc, "write", path) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def save_checkpoint(path: Path, state: TrainState, config: dict) -> None:
    arrays = {f"w_{k}": w for k, (w, _) in enumerate(state.params)}
    arrays.update({f"b_{k}": b for k, (_, b) in enumerate(state.params)})
    arrays.update(state.arrays)
    meta = {"config": config, "history": list(state.history)}
    arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(path, buf.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of a checkpoint and its `meta` (configuration, history).

    ConfigError naming the file if it is damaged (not a readable archive, no `meta`); an OSError
    (naming it) if it cannot be read at all."""
    def damaged(why: object) -> ConfigError:
        return _damaged(path, why)

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except OSError as exc:
        if exc.errno is not None:
            raise path_error(exc, "read", path) from None
        raise damaged(exc) from None
    except (ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise damaged(f"{type(exc).__name__}: {exc}") from None
    if "meta" not in arrays:
        raise damaged("no 'meta' entry")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError as exc:
        raise damaged(f"'meta' is not JSON: {exc}") from None
    if not (isinstance(meta, dict) and isinstance(meta.get("config"), dict) and isinstance(meta.get("history"), list)):
        raise damaged("'meta' lacks the run's config or history")
    return arrays, meta


def _damaged(path: Path, why: object) -> ConfigError:
    return ConfigError(f"checkpoint {path} is damaged ({why}); delete it (or its folder) to start the run afresh, "
                       "or restore a good copy")


def state_keys(cfg: TrainConfig, layers: int, epochs: int, steps: int) -> list[str]:
    """The optimiser and delay-line arrays a checkpoint holds after `epochs` epochs of `steps`
    mini-batches: Adam's slots of every layer updated by then (layer k first at step D_k + 1, every
    layer once fine-tuning began), and, until then, the D_k pending gradients (dL/dW, dL/db) of each
    delayed layer (`models.optim`, `models.delayed`)."""
    delays = cfg.delays or (0,) * layers
    delayed_steps, tuned = min(epochs, cfg.epochs) * steps, epochs > cfg.epochs
    keys = []
    for k, d in enumerate(delays):
        if cfg.optimizer == "adam" and (delayed_steps > d or tuned):
            keys += [f"adam_{m}_{slot(k, kind)}" for kind in ParamKind for m in ("m", "v", "t")]
        if not tuned:
            keys += [f"pending_{k}_{j}_{i}" for j in range(min(d, delayed_steps)) for i in range(2)]
    return keys


def write_metrics(folder: Path, history: tuple[dict, ...]) -> None:
    """`metrics.json` and `metrics.csv`: one row per finished epoch."""
    write_atomic(folder / "metrics.json", json.dumps(list(history), indent=2))
    write_csv_atomic(folder / "metrics.csv", history)


def _resume_state(path: Path, config: dict, net: Network, cfg: TrainConfig, steps: int) -> TrainState:
    """The state saved in `path` if it is this run's (`config`) and whole; `steps` per epoch."""
    arrays, meta = load_checkpoint(path)
    differ = config_differences(meta["config"], config)
    if differ:
        raise ConfigError(f"--resume: checkpoint {path} was made with " + "; ".join(differ))
    history = meta["history"]
    if not all(isinstance(h, dict) and h.get("epoch") == e + 1 for e, h in enumerate(history)):
        raise _damaged(path, "its history is not a list of epochs 1, 2, ...")
    check_finetune_plan(history, cfg)
    params = []
    for k, (w0, b0) in enumerate(snn.init_params(net, cfg.seed)):
        w, b = arrays.pop(f"w_{k}", None), arrays.pop(f"b_{k}", None)
        if w is None or b is None or w.shape != w0.shape or b.shape != b0.shape or w.dtype != w0.dtype:
            raise _damaged(path, f"layer {k}'s weights are missing or of another shape")
        params.append((w, b))
    missing = [k for k in state_keys(cfg, len(params), len(history), steps) if k not in arrays]
    if missing:  # never a silent reset of Adam's moments or of the pending gradients
        raise _damaged(path, f"optimiser or delayed-gradient state {', '.join(missing)} missing")
    return TrainState(params, arrays, tuple(history))


def train_in_folder(net: Network, train: ArrayDataset, test: ArrayDataset, cfg: TrainConfig, out: Path,
                    resume: bool = False, progress: bool = True, describe: dict | None = None,
                    report: Callable[[str], None] | None = tqdm.write, init: snn.Params | None = None) -> TrainResult:
    """`models.train.run_training` with its state and metrics written under `out` after every epoch,
    holding the folder (`folder_lock`) while it runs; `describe` adds fields to the run's identity.
    An existing checkpoint needs `resume`; a new run starts from the weights `init` if given (else
    the seeded initialisation)."""
    path = out / CHECKPOINT
    with folder_lock(out):
        config = run_config(net, cfg, describe, (train, test))
        start = None if init is None else TrainState(init, {}, ())
        if path.exists():
            if not resume:
                raise ConfigError(f"{path} exists: pass --resume to continue it, or choose another --out")
            start = _resume_state(path, config, net, cfg, steps_per_epoch(len(train), cfg.batch, "train"))

        def sink(state: TrainState) -> None:
            save_checkpoint(path, state, config)
            write_metrics(out, state.history)
            last = state.history[-1]
            source = (f"measured while training in {out}: the first mini-batch of epoch 1 ({cfg.batch} training "
                      f"samples) after epoch {last['epoch']}")
            write_atomic(out / ACTIVITY_FILE, activity_json(net, SpikeActivity.from_metrics(last), source))

        return run_training(net, train, test, cfg, start, sink, progress, report)
