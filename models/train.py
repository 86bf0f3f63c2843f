"""The delayed-gradient trainer: mini-batches, BPTT steps, per-layer delayed updates, evaluation.

A run trains `epochs` epochs with the per-layer delays, then `finetune_epochs` more without them
(the paper's suggestion, Section III-E): from the first fine-tuning step every layer is updated
with the gradient of the current step, and the gradients still pending in the delay line are
dropped. Each epoch's metrics say whether it was fine-tuning.

Activity: the *probe batch* is the first mini-batch of epoch 0 (the batch `InitKind.FIRING`
scales the weights on, `models.init`). The trainer measures its spike activity
(`models.activity`) before the first update and after every epoch; the first epoch's metrics hold
the step-0 figures (`step0_firing_rates`, ...), every epoch's its own (`firing_rates`, ...).

Reproducibility: weights come from `seed` (and for FIRING from the probe batch), epoch `e` visits the training set in the order
`default_rng([seed, e]).permutation(N)` and rate coding of its step `s` draws from
`default_rng([seed, e, s])` (`minibatches`; the functional co-simulation draws from it too).
So training continued from the state after epoch `e` (`TrainState`) goes on exactly as an
uninterrupted run would. The trainer returns values (`TrainResult`) and hands its state to an
optional checkpoint sink after every epoch; writing a run folder is `models.run_folder`'s job.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

import numpy as np
from tqdm import tqdm

from workloads.datasets.types import ArrayDataset
from workloads.errors import ConfigError
from workloads.network import Network

from . import snn
from .activity import measure_activity
from .delayed import DelayLine
from .encoding import ENCODINGS, Encoding, check_compatible, encode
from .init import INIT_KINDS, InitKind, initial_params
from .layers import softmax_cross_entropy
from .memory import check_memory
from .optim import OPTIMIZERS, Adam, SGD, make_optimizer, update_layer


MAX_LOSS = 1e3  # a mini-batch loss above this counts as exploding


class TrainingDiverged(RuntimeError):
    """The loss became NaN or exploded; the last checkpoint handed to the sink is the last good one."""


def loss_diverged(loss: float, max_loss: float = MAX_LOSS) -> str | None:
    """How a mini-batch loss diverged ('is nan', 'exploded to 1.9e+09'), or None if it did not."""
    if not math.isfinite(loss):
        return f"is {loss}"
    return f"exploded to {loss:.3g}" if loss > max_loss else None


def check_test_split(test: ArrayDataset, where: str) -> None:
    """ConfigError for an empty test split (nothing to evaluate on)."""
    if len(test) == 0:
        raise ConfigError(f"{where}: the test split of {test.name!r} is empty; the run could not be evaluated")


def check_training_fields(where: str, cfg: object, positive_ints: tuple[str, ...],
                          positive: tuple[str, ...]) -> None:
    """Validate a training configuration's optimizer, encoding and positive fields (ConfigError)."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"{where}: field 'optimizer' must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if cfg.encoding not in ENCODINGS:
        raise ConfigError(f"{where}: field 'encoding' must be one of {', '.join(ENCODINGS)}, got {cfg.encoding!r}")
    object.__setattr__(cfg, "encoding", Encoding(cfg.encoding))
    for name in positive_ints:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{where}: field '{name}' must be a positive integer, got {v!r}")
    if not all(getattr(cfg, name) > 0 for name in positive):
        raise ConfigError(f"{where}: fields {', '.join(repr(n) for n in positive)} must be > 0")


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"
    lr: float = 1e-3
    batch: int = 32
    epochs: int = 3
    seed: int = 0
    delays: tuple[int, ...] | None = None  # per compute layer; None = no delays
    encoding: Encoding = Encoding.CURRENT
    max_loss: float = MAX_LOSS
    eval_batch: int = 256
    init: InitKind = InitKind.DEFAULT
    finetune_epochs: int = 0  # epochs without delays after the `epochs` with them

    def __post_init__(self) -> None:
        check_training_fields("train", self, ("batch", "epochs", "eval_batch"), ("lr", "max_loss"))
        if self.delays is not None:
            object.__setattr__(self, "delays", tuple(int(d) for d in self.delays))
        if self.init not in INIT_KINDS:
            raise ConfigError(f"train: field 'init' must be one of {', '.join(INIT_KINDS)}, got {self.init!r}")
        object.__setattr__(self, "init", InitKind(self.init))
        ft = self.finetune_epochs
        if isinstance(ft, bool) or not isinstance(ft, int) or ft < 0:
            raise ConfigError(f"train: field 'finetune_epochs' must be a non-negative integer, got {ft!r}")

    @property
    def total_epochs(self) -> int:
        """Epochs with delays, then fine-tuning epochs without them."""
        return self.epochs + self.finetune_epochs


class MiniBatch(NamedTuple):
    """Step `step` of epoch `epoch`: the encoded network input (`models.encoding`) and the labels."""

    epoch: int
    step: int
    x: np.ndarray
    static: bool
    y: np.ndarray


def steps_per_epoch(samples: int, batch: int, where: str) -> int:
    """Mini-batches per epoch (the last incomplete one is dropped); ConfigError if there is none."""
    if samples < batch:
        raise ConfigError(f"{where}: {samples} training samples make no mini-batch of {batch}")
    return samples // batch


def minibatches(train: ArrayDataset, timesteps: int, batch: int, encoding: str, seed: int,
                epoch: int) -> Iterator[MiniBatch]:
    """Epoch `epoch`'s mini-batches: samples in the order `default_rng([seed, epoch]).permutation(N)`
    (each mini-batch's indices sorted), step `s` rate-coded from `default_rng([seed, epoch, s])`."""
    order = np.random.default_rng([seed, epoch]).permutation(len(train))
    for step in range(len(train) // batch):
        yield _minibatch(train, order, timesteps, batch, encoding, seed, epoch, step)


def probe_batch(train: ArrayDataset, timesteps: int, batch: int, encoding: str, seed: int) -> MiniBatch:
    """The first mini-batch of epoch 0 (`minibatches`): the batch `InitKind.FIRING` scales on and the
    activity is measured on."""
    order = np.random.default_rng([seed, 0]).permutation(len(train))
    return _minibatch(train, order, timesteps, batch, encoding, seed, 0, 0)


def _minibatch(train: ArrayDataset, order: np.ndarray, timesteps: int, batch: int, encoding: str, seed: int,
               epoch: int, step: int) -> MiniBatch:
    idx = np.sort(order[step * batch:(step + 1) * batch])
    x, static = encode(train.x[idx], train.kind, timesteps, encoding, np.random.default_rng([seed, epoch, step]))
    return MiniBatch(epoch, step, x, static, train.y[idx])


def train_step(net: Network, params: snn.Params, opt: SGD | Adam, line: DelayLine | None,
               x: np.ndarray, static: bool, y: np.ndarray) -> tuple[float, int]:
    """One mini-batch: FP, loss, WG/IG, then each layer's (possibly delayed) update -> (loss, correct)."""
    logits, states = snn.forward(net, params, x, static)
    loss, g_logits = softmax_cross_entropy(logits, y)  # eq. 7, 20
    correct = int((logits.argmax(1) == y).sum())
    if not math.isfinite(loss):
        return loss, correct
    grads = snn.backward(net, params, x, static, states, g_logits)
    for k, (w, b) in enumerate(params):
        due = grads[k] if line is None else line.push(k, grads[k])
        if due is not None:
            update_layer(opt, k, w, b, *due)  # eq. 24 / 25
    return loss, correct


def evaluate(net: Network, params: snn.Params, x: np.ndarray, y: np.ndarray, kind: str, encoding: str,
             seed: int, batch: int = 256) -> tuple[float, float]:
    """Mean loss and accuracy over a dataset split (rate coding drawn from `default_rng([seed, 2**31, i])`)."""
    if len(y) == 0:
        raise ConfigError("evaluate: the split is empty")
    loss_sum, correct = 0.0, 0
    for i, start in enumerate(range(0, len(y), batch)):
        rng = np.random.default_rng([seed, 2**31, i])
        xb, static = encode(x[start:start + batch], kind, net.timesteps, encoding, rng)
        logits, _ = snn.forward(net, params, xb, static)
        yb = y[start:start + batch]
        loss, _ = softmax_cross_entropy(logits, yb)
        loss_sum += loss * len(yb)
        correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / len(y), correct / len(y)


@dataclass(frozen=True)
class TrainResult:
    """What training returns: the trained weights and one metrics dict per epoch."""

    params: snn.Params
    history: tuple[dict, ...]


@dataclass(frozen=True)
class TrainState:
    """The trainer after `len(history)` epochs, all it needs to continue exactly: the weights, and
    the optimiser slots and pending delayed gradients (`state_arrays` of `models.optim` and
    `models.delayed`, disjoint keys). Copies: the trainer goes on changing its own arrays."""

    params: snn.Params
    arrays: dict[str, np.ndarray]
    history: tuple[dict, ...]


def run_training(net: Network, train: ArrayDataset, test: ArrayDataset, cfg: TrainConfig,
                 start: TrainState | None = None, checkpoint: Callable[[TrainState], None] | None = None,
                 progress: bool = True, report: Callable[[str], None] | None = tqdm.write) -> TrainResult:
    """Train `net` on the `train` split, evaluate on `test` after every epoch.

    Continues from `start` if given (its weights replace the initialisation `cfg.init`). After
    every epoch hands the trainer's state to `checkpoint` (None: none kept) and a summary to
    `report` (None: silent), which also gets the probe batch's activity before the first update."""
    check_memory(net, cfg.batch, "train")
    check_compatible(net, train.sample_shape, train.kind, cfg.encoding)
    n_layers = len(net.compute_layers())
    if cfg.delays is not None and len(cfg.delays) != n_layers:
        raise ConfigError(f"delays: {len(cfg.delays)} given for the {n_layers} compute layers of {net.name}")
    steps = steps_per_epoch(len(train), cfg.batch, "train")
    check_test_split(test, "train")
    opt = make_optimizer(cfg.optimizer, cfg.lr)
    probe = probe_batch(train, net.timesteps, cfg.batch, cfg.encoding, cfg.seed)
    if start is None:
        params, history = initial_params(net, cfg.init, cfg.seed, probe.x, probe.static), []
    else:
        params, history = [(w.copy(), b.copy()) for w, b in start.params], list(start.history)
        check_finetune_plan(history, cfg)
        opt.load_state_arrays(start.arrays)
    delayed = cfg.delays is not None and any(cfg.delays) and len(history) < cfg.epochs
    line = DelayLine(cfg.delays) if delayed else None
    if line is not None and start is not None:
        line.load_state_arrays(start.arrays)
    step0 = measure_activity(net, params, probe.x, probe.static) if not history else None
    if step0 is not None and report is not None:
        report(f"step 0 activity: {step0.line()}")
    for epoch in range(len(history), cfg.total_epochs):
        finetune = epoch >= cfg.epochs
        if finetune:
            line = None  # no delays from here on; the pending gradients are dropped
        t0 = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(minibatches(train, net.timesteps, cfg.batch, cfg.encoding, cfg.seed, epoch), total=steps,
                   desc=f"epoch {epoch + 1}/{cfg.total_epochs}{' (fine-tuning)' if finetune else ''}",
                   disable=not progress, leave=False)
        for mb in bar:
            loss, ok = train_step(net, params, opt, line, mb.x, mb.static, mb.y)
            what = loss_diverged(loss, cfg.max_loss)
            if what is not None:
                bar.close()
                kept = ("no checkpoint is kept" if checkpoint is None else
                        f"the checkpoint after epoch {len(history)} is kept" if history else
                        "no checkpoint was written yet")
                raise TrainingDiverged(f"loss {what} at epoch {epoch + 1}, step {mb.step + 1}; {kept}; try a smaller --lr")
            loss_sum += loss * len(mb.y)
            correct += ok
            seen += len(mb.y)
            if mb.step % 20 == 0 or mb.step == steps - 1:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        train_time = time.perf_counter() - t0
        test_loss, test_acc = evaluate(net, params, test.x, test.y, test.kind, cfg.encoding, cfg.seed,
                                       cfg.eval_batch)
        activity = measure_activity(net, params, probe.x, probe.static)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                        "test_loss": test_loss, "test_acc": test_acc, "train_seconds": round(train_time, 2),
                        "train_samples_per_s": round(seen / train_time, 1), "finetune": finetune,
                        **activity.metrics(), **(step0.metrics("step0_") if step0 is not None else {})})
        step0 = None
        if report is not None:
            h = history[-1]
            report(f"epoch {h['epoch']}{' (fine-tuning, no delays)' if finetune else ''}: train loss "
                   f"{h['train_loss']:.4f} acc {h['train_acc']:.4f}, test loss {h['test_loss']:.4f} acc "
                   f"{h['test_acc']:.4f} ({h['train_samples_per_s']:.0f} samples/s); activity: {activity.line()}")
        if checkpoint is not None:
            arrays = {**opt.state_arrays(), **(line.state_arrays() if line is not None else {})}
            checkpoint(TrainState([(w.copy(), b.copy()) for w, b in params],
                                  {k: np.array(a) for k, a in arrays.items()}, tuple(history)))
    return TrainResult(params, tuple(history))


def check_finetune_plan(history: list[dict], cfg: TrainConfig) -> None:
    """ConfigError if a finished epoch was (not) fine-tuning where `cfg` says otherwise (a run continues
    only with the same split between epochs with delays and fine-tuning epochs, for those done)."""
    for h in history:
        planned = h["epoch"] > cfg.epochs
        if h.get("finetune", False) != planned:
            raise ConfigError(f"--finetune-epochs: epoch {h['epoch']} of this run was trained "
                              f"{'without' if h.get('finetune', False) else 'with'} delays, but --epochs "
                              f"{cfg.epochs} makes it {'a fine-tuning epoch' if planned else 'an epoch with delays'}; "
                              f"keep --epochs at {sum(not x.get('finetune', False) for x in history)} to continue it")
