"""Input encoding: what the first layer sees at each timestep.

* ``current`` (default for images): the image is a constant input current at every
  timestep; returned *static* as (B, H, W, C) float32 so the first GEMM runs once.
* ``rate``: each pixel spikes with probability equal to its intensity at every
  timestep (Bernoulli, seeded) -> (T, B, H, W, C) uint8.
* event frames (N-MNIST, DVS128): (B, T, H, W, C) counts -> binary spikes (T, B, H, W, C) uint8.
"""
from __future__ import annotations

from enum import StrEnum

import numpy as np

from workloads.datasets.types import DatasetKind
from workloads.errors import ConfigError
from workloads.network import Network


class Encoding(StrEnum):
    """How an image becomes network input (event frames need none)."""

    CURRENT = "current"
    RATE = "rate"


ENCODINGS = tuple(Encoding)


def check_compatible(net: Network, sample_shape: tuple[int, ...], kind: DatasetKind, encoding: Encoding | str) -> None:
    """Raise ConfigError when the dataset cannot feed the network."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding: must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    spatial = sample_shape if kind is DatasetKind.IMAGE else sample_shape[1:]
    if tuple(spatial) != tuple(net.input_shape):
        raise ConfigError(f"network {net.name} expects inputs {net.input_shape}, the dataset has {tuple(spatial)}")
    if kind is DatasetKind.FRAMES and sample_shape[0] != net.timesteps:
        raise ConfigError(f"network {net.name} runs {net.timesteps} timesteps, the dataset has "
                          f"{sample_shape[0]} frames per sample")


def encode(x: np.ndarray, kind: DatasetKind, timesteps: int, encoding: Encoding | str,
           rng: np.random.Generator | None) -> tuple[np.ndarray, bool]:
    """A batch of dataset samples -> (network input, static?)."""
    if kind is DatasetKind.FRAMES:
        return np.ascontiguousarray(np.minimum(np.swapaxes(x, 0, 1), 1).astype(np.uint8)), False
    if encoding == Encoding.CURRENT:
        return np.ascontiguousarray(x, np.float32), True
    if rng is None:
        raise ConfigError("encoding 'rate' needs a seeded random generator")
    return (rng.random((timesteps,) + x.shape, dtype=np.float32) < x[None]).astype(np.uint8), False
