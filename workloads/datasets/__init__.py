"""Datasets for the three Table I networks, real and synthetic: `get_dataset(name)`.

See docs/datasets.md for where the files live and how to obtain them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from . import mnist
from .store import ENV_VAR, data_root
from .types import ArrayDataset, DatasetSplits

_LOADERS: dict[str, Callable[..., DatasetSplits]] = {
    "mnist": lambda data_dir, seed: mnist.load(data_dir),
}
NAMES = tuple(_LOADERS)


def get_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0) -> DatasetSplits:
    """Train and test splits of dataset `name` (one of `NAMES`), from the cache under `data_dir`."""
    if name not in _LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    return _LOADERS[name](data_dir, seed)


__all__ = ["ArrayDataset", "DatasetSplits", "ENV_VAR", "NAMES", "data_root", "get_dataset"]
