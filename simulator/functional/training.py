"""Train a real network on the virtual multiprocessor (`run_functional`), and the idealised
delayed-gradient trainer with the same schedule's delays beside it (`run_ideal`).

The functional run is one discrete-event simulation of `epochs * (N // batch)` mini-batches
(the pipeline is not drained between epochs). Mini-batch `e * steps + s` is the trainer's
step `s` of epoch `e` (both draw from `models.train.minibatches`, start from the same initial
weights and update through `models.optim.update_layer`), so with one processor the run is the
plain trainer's, bit for bit.

Evaluation after epoch e uses, per layer, the weights the next mini-batch's forward pass
would use (version `S - 1 - D_l`, S the mini-batches so far): what the idealised trainer holds
at that point, its last `D_l` gradients still pending. After the last epoch the pipeline
drains and every gradient is applied; `final` evaluates those weights too.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from models import snn
from models.encoding import Encoding, check_compatible
from models.optim import make_optimizer
from models.train import TrainConfig, check_test_split, check_training_fields, evaluate, minibatches, run_training, steps_per_epoch
from simulator.des import SimResult, simulate
from simulator.machine import Machine
from simulator.schedule import Schedule
from workloads import ConfigError
from workloads.datasets.types import ArrayDataset

from .emulate import EmulationRecord
from .executor import WEIGHT_POLICIES, PipelineExecutor


@dataclass(frozen=True)
class FunctionalConfig:
    """Training settings of a functional run (the mini-batch size is the schedule's)."""

    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 1
    seed: int = 0
    encoding: Encoding = Encoding.CURRENT
    weights: str = "stash"
    emulate: tuple[str, ...] = ()
    emulate_batches: int = 2
    eval_batch: int = 256

    def __post_init__(self) -> None:
        check_training_fields("functional", self, ("epochs", "eval_batch", "emulate_batches"), ("lr",))
        if self.weights not in WEIGHT_POLICIES:
            raise ConfigError(f"functional: field 'weights' must be one of {', '.join(WEIGHT_POLICIES)}, "
                              f"got {self.weights!r}")
        object.__setattr__(self, "emulate", tuple(self.emulate))

    def train_config(self, batch: int, delays: tuple[int, ...] | None) -> TrainConfig:
        """The trainer's configuration for the same budget."""
        return TrainConfig(self.optimizer, self.lr, batch, self.epochs, self.seed, delays, self.encoding,
                           eval_batch=self.eval_batch)


@dataclass(frozen=True)
class FunctionalResult:
    """Cycles (the timing model's `SimResult`), the training curve and the trained weights."""

    sim: SimResult
    history: tuple[dict, ...]  # per epoch: train loss/acc, test loss/acc (weights of the next mini-batch)
    final: dict                # test loss/acc of the drained pipeline's weights
    params: snn.Params         # the drained pipeline's weights
    epoch_params: tuple[snn.Params, ...]  # the weights each epoch's evaluation used
    emulated: tuple[EmulationRecord, ...]
    seconds: float

    def as_dict(self) -> dict:
        return {"sim": self.sim.as_dict(), "history": list(self.history), "final": self.final,
                "emulated": [r.as_dict() for r in self.emulated], "seconds": round(self.seconds, 2)}


def subset(split: ArrayDataset, n: int | None) -> ArrayDataset:
    """The first `n` samples of a split (all if None)."""
    if n is None:
        return split
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n:
        raise ConfigError(f"train subset: must be a positive integer, got {n!r}")
    return ArrayDataset(split.name, split.x[:n], split.y[:n], split.kind)


def run_functional(schedule: Schedule, train: ArrayDataset, test: ArrayDataset, cfg: FunctionalConfig,
                   machine: Machine | None = None, overlap: bool = True, progress: bool = True) -> FunctionalResult:
    """Train on the virtual multiprocessor executing `schedule` (one DES run for all epochs) on
    `machine` (default: the paper's ideal machine; see `simulator.des.simulate`)."""
    if not isinstance(schedule, Schedule):
        raise ConfigError(f"schedule: expected a Schedule, got {type(schedule).__name__}")
    net, batch = schedule.cost.network, schedule.cost.batch
    check_compatible(net, train.sample_shape, train.kind, cfg.encoding)
    steps = steps_per_epoch(len(train), batch, "functional")
    check_test_split(test, "functional")
    total = cfg.epochs * steps
    delays = schedule.delays
    bar = tqdm(total=total, desc="functional simulation", unit="mini-batch", disable=not progress, leave=False)
    stream = (mb for e in range(cfg.epochs) for mb in minibatches(train, net.timesteps, batch, cfg.encoding,
                                                                   cfg.seed, e))

    def data(b: int):
        mb = next(stream)  # the DES asks for each mini-batch once, in order
        if mb.epoch * steps + mb.step != b:
            raise RuntimeError(f"functional: mini-batch {b} asked for out of order")
        bar.update()
        return mb.x, mb.static, mb.y

    boundaries = [e * steps for e in range(1, cfg.epochs + 1)]
    snapshots = tuple(frozenset(s - 1 - d for s in boundaries) for d in delays)
    params = snn.init_params(net, cfg.seed)
    executor = PipelineExecutor(schedule, params, make_optimizer(cfg.optimizer, cfg.lr), data, cfg.weights,
                                snapshots, frozenset(cfg.emulate), cfg.emulate_batches)
    t0 = time.perf_counter()
    sim = simulate(schedule, total, machine, overlap, executor=executor)
    seconds = time.perf_counter() - t0
    bar.close()
    history, epoch_params = [], []
    for e, s in enumerate(boundaries):
        weights = [executor.kept.get((l, s - 1 - d), params[l]) if s - 1 - d >= 0 else params[l]
                   for l, d in enumerate(delays)]
        epoch_params.append(weights)
        losses = [executor.losses[b] for b in range(s - steps, s)]
        test_loss, test_acc = evaluate(net, weights, test.x, test.y, test.kind, cfg.encoding, cfg.seed,
                                       cfg.eval_batch)
        history.append({"epoch": e + 1, "train_loss": float(np.mean([l for l, _ in losses])),
                        "train_acc": sum(c for _, c in losses) / (steps * batch),
                        "test_loss": test_loss, "test_acc": test_acc})
    final_loss, final_acc = evaluate(net, executor.master, test.x, test.y, test.kind, cfg.encoding, cfg.seed,
                                     cfg.eval_batch)
    return FunctionalResult(sim, tuple(history), {"test_loss": final_loss, "test_acc": final_acc},
                            executor.master, tuple(epoch_params), tuple(executor.emulated), seconds)


def run_ideal(schedule: Schedule, train: ArrayDataset, test: ArrayDataset, cfg: FunctionalConfig,
              delays: tuple[int, ...] | None = None, progress: bool = True) -> tuple[tuple[dict, ...], snn.Params]:
    """The idealised trainer (`models.train`, `w <- w - lr * g(t - D_l)`) on the same budget, with the
    schedule's delays (or `delays`; all zero = the plain trainer) -> (history, final weights)."""
    net, batch = schedule.cost.network, schedule.cost.batch
    tcfg = cfg.train_config(batch, tuple(schedule.delays if delays is None else delays))
    result = run_training(net, train, test, tcfg, progress=progress, report=None)
    return result.history, result.params
