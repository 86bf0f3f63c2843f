"""Optimisers SGD (eq. 24) and Adam (eq. 25), updating one layer's tensors in place.

Each layer is updated on its own (its gradient may be delayed, see `models.delayed`), so
the state is kept per tensor, in slot `slot(layer, WEIGHT or BIAS)`, and Adam counts its
steps per slot: the bias correction of a layer whose first gradient arrives late starts at
its own first step. The trainer and the co-simulation both update through `update_layer`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from workloads.errors import ConfigError

OPTIMIZERS = ("adam", "sgd")


class ParamKind(IntEnum):
    """The two trained tensors of a compute layer."""

    WEIGHT = 0
    BIAS = 1


def slot(layer: int, kind: ParamKind) -> int:
    """The optimiser slot of a layer's weights or bias: its state index and checkpoint key suffix."""
    return 2 * layer + kind


@dataclass
class SGD:
    """w <- w - lr * dL/dw (eq. 24)."""

    lr: float = 1e-3

    def update(self, index: int, w: np.ndarray, g: np.ndarray) -> None:
        w -= np.float32(self.lr) * g  # eq. 24

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        return None


@dataclass
class Adam:
    """Adam exactly as eq. 25: the bias corrections fold into the step size, eps sits outside them."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    m: dict[int, np.ndarray] = field(default_factory=dict)
    v: dict[int, np.ndarray] = field(default_factory=dict)
    t: dict[int, int] = field(default_factory=dict)

    def update(self, index: int, w: np.ndarray, g: np.ndarray) -> None:
        if index not in self.m:
            self.m[index] = np.zeros_like(w, np.float32)
            self.v[index] = np.zeros_like(w, np.float32)
            self.t[index] = 0
        m, v = self.m[index], self.v[index]
        b1, b2 = np.float32(self.beta1), np.float32(self.beta2)
        m *= b1
        m += (np.float32(1) - b1) * g                                    # eq. 25, m_{t+1}
        v *= b2
        v += (np.float32(1) - b2) * (g * g)                              # eq. 25, v_{t+1}
        self.t[index] += 1
        t = self.t[index]
        step = self.lr * np.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)  # eq. 25, eta_{t+1}
        w -= np.float32(step) * m / (np.sqrt(v) + np.float32(self.eps))  # eq. 25, w_{t+1}

    def state_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in self.m:
            out[f"adam_m_{i}"], out[f"adam_v_{i}"] = self.m[i], self.v[i]
            out[f"adam_t_{i}"] = np.array(self.t[i], np.int64)
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for key, arr in arrays.items():
            if key.startswith("adam_m_"):
                i = int(key[7:])
                self.m[i] = np.array(arr, np.float32)
                self.v[i] = np.array(arrays[f"adam_v_{i}"], np.float32)
                self.t[i] = int(arrays[f"adam_t_{i}"])


def make_optimizer(name: str, lr: float) -> SGD | Adam:
    if name not in OPTIMIZERS:
        raise ConfigError(f"optimizer: must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if not lr > 0:
        raise ConfigError(f"optimizer: field 'lr' must be > 0, got {lr}")
    return Adam(lr) if name == "adam" else SGD(lr)


def update_layer(opt: SGD | Adam, layer: int, w: np.ndarray, b: np.ndarray, gw: np.ndarray, gb: np.ndarray) -> None:
    """One update of layer `layer`'s weights and bias in place (eq. 24 / 25), each in its own slot."""
    opt.update(slot(layer, ParamKind.WEIGHT), w, gw)
    opt.update(slot(layer, ParamKind.BIAS), b, gb)
