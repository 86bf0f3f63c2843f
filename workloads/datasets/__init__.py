"""Datasets for the three Table I networks, real and synthetic: `get_dataset(name)`.

See docs/datasets.md for where the files live and how to obtain them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from . import gesture, mnist, nmnist
from .store import ENV_VAR, data_root
from .types import ArrayDataset, DatasetSplits

_LOADERS: dict[str, Callable[..., DatasetSplits]] = {
    "mnist": lambda data_dir, seed, sizes: mnist.load(data_dir),
    "nmnist": lambda data_dir, seed, sizes: nmnist.load_real(data_dir),
    "nmnist-synthetic": nmnist.load_synthetic,
    "dvs128": lambda data_dir, seed, sizes: gesture.load_real(data_dir),
    "dvs128-synthetic": gesture.load_synthetic,
}
NAMES = tuple(_LOADERS)
SYNTHETIC_DEFAULT_SIZES = {"nmnist-synthetic": nmnist.DEFAULT_SIZES, "dvs128-synthetic": gesture.DEFAULT_SIZES}


def get_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0, *,
                sizes: tuple[int, int] | None = None) -> DatasetSplits:
    """Train and test splits of dataset `name` (one of `NAMES`), from the cache under `data_dir`.

    Real event datasets are converted to frames on first use; synthetic ones are
    generated on first use for (`seed`, `sizes` = (train, test), default
    `SYNTHETIC_DEFAULT_SIZES`). Both are cached, so later calls only map the files.
    """
    if name not in _LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    if sizes is not None and name not in SYNTHETIC_DEFAULT_SIZES:
        raise ConfigError(f"dataset {name!r}: sizes apply only to {', '.join(SYNTHETIC_DEFAULT_SIZES)}")
    return _LOADERS[name](data_dir, seed, sizes)


__all__ = ["ArrayDataset", "DatasetSplits", "ENV_VAR", "NAMES", "SYNTHETIC_DEFAULT_SIZES", "data_root", "get_dataset"]
