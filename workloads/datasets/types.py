"""The dataset records the trainer consumes: `ArrayDataset` (one split) and `DatasetSplits`.

Kinds:
- ``'image'``: ``x`` is ``(N, H, W, C)`` float32 in [0, 1] (MNIST; the network
  turns pixels into input currents).
- ``'frames'``: ``x`` is ``(N, T, H, W, C)`` uint8 event counts per time bin,
  pixel and polarity (C = 2: channel 0 OFF, channel 1 ON events), saturated at
  255. Large sets are memory-mapped read-only ``.npy`` files. For binary spikes
  use ``np.minimum(x, 1)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ..errors import ConfigError



class DatasetKind(StrEnum):
    """What a sample is."""

    IMAGE = "image"  # (H, W, C) float32 in [0, 1]
    FRAMES = "frames"  # (T, H, W, C) uint8 event counts per time bin


@dataclass(frozen=True)
class ArrayDataset:
    """One split: inputs `x`, int64 labels `y` in [0, classes)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    kind: DatasetKind

    def __post_init__(self) -> None:
        if self.kind not in tuple(DatasetKind):
            raise ConfigError(f"dataset {self.name!r}: field 'kind' must be one of "
                              f"{', '.join(DatasetKind)}, got {self.kind!r}")
        object.__setattr__(self, "kind", DatasetKind(self.kind))
        ndim = 4 if self.kind is DatasetKind.IMAGE else 5
        if self.x.ndim != ndim:
            raise ConfigError(f"dataset {self.name!r}: field 'x' of kind {self.kind!r} must have {ndim} "
                              f"dimensions, got shape {self.x.shape}")
        expected = np.float32 if self.kind is DatasetKind.IMAGE else np.uint8
        if self.x.dtype != expected:
            raise ConfigError(f"dataset {self.name!r}: field 'x' must be {np.dtype(expected)}, got {self.x.dtype}")
        if self.y.dtype != np.int64 or self.y.shape != (self.x.shape[0],):
            raise ConfigError(f"dataset {self.name!r}: field 'y' must be int64 of shape ({self.x.shape[0]},), "
                              f"got {self.y.dtype} {self.y.shape}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


@dataclass(frozen=True)
class DatasetSplits:
    """Train and test splits; `synthetic` is True for generated stand-ins (say so in every output)."""

    train: ArrayDataset
    test: ArrayDataset
    synthetic: bool
    description: str

    def __post_init__(self) -> None:
        if self.train.kind != self.test.kind or self.train.sample_shape != self.test.sample_shape:
            raise ConfigError(f"dataset {self.train.name!r}: train and test differ in kind or sample shape "
                              f"({self.train.kind} {self.train.sample_shape} vs {self.test.kind} "
                              f"{self.test.sample_shape})")
