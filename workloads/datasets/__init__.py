"""Datasets for the three Table I networks, real and synthetic: `get_dataset(name)`.

See docs/datasets.md for where the files live and how to obtain them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from . import gesture, mnist, nmnist
from .framesets import Access
from .raw import import_raw
from .store import ENV_VAR, data_root
from .types import ArrayDataset, DatasetKind, DatasetSplits


def _mnist(data_dir: str | Path | None, seed: int, sizes: tuple[int, int] | None, access: Access,
           verify: bool) -> DatasetSplits:
    """MNIST never builds here; its cache's arrays are checked against their CRC-32 on every load."""
    if access is Access.REBUILD:
        raise ConfigError("mnist: the cache is rebuilt by `spikepipe data fetch mnist`, not by get_dataset")
    return mnist.load(data_dir)


_LOADERS: dict[str, Callable[..., DatasetSplits]] = {
    "mnist": _mnist,
    "nmnist": lambda data_dir, seed, sizes, access, verify: nmnist.load_real(data_dir, access, verify),
    "nmnist-synthetic": nmnist.load_synthetic,
    "dvs128": lambda data_dir, seed, sizes, access, verify: gesture.load_real(data_dir, access, verify),
    "dvs128-synthetic": gesture.load_synthetic,
}
NAMES = tuple(_LOADERS)
SYNTHETIC_DEFAULT_SIZES = {"nmnist-synthetic": nmnist.DEFAULT_SIZES, "dvs128-synthetic": gesture.DEFAULT_SIZES}


def get_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0, *,
                sizes: tuple[int, int] | None = None, access: Access = Access.BUILD,
                verify: bool = False) -> DatasetSplits:
    """Train and test splits of dataset `name` (one of `NAMES`), from the cache under `data_dir`.

    Real event datasets are converted to frames on first use; synthetic ones are
    generated on first use for (`seed`, `sizes` = (train, test), default
    `SYNTHETIC_DEFAULT_SIZES`). Both are cached, so later calls only map the files.
    `access` says whether a cache may be built (`Access.BUILD`), only read
    (`Access.READ`) or must be rebuilt (`Access.REBUILD`). Every load checks the
    cache against its manifest (sizes, headers, labels; SHA-256 of files changed
    since their build, of all files if `verify`) and raises one ConfigError line
    naming the damaged file and the command that rebuilds it.
    """
    if name not in _LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    if sizes is not None and name not in SYNTHETIC_DEFAULT_SIZES:
        raise ConfigError(f"dataset {name!r}: sizes apply only to {', '.join(SYNTHETIC_DEFAULT_SIZES)}")
    return _LOADERS[name](data_dir, seed, sizes, access, verify)


__all__ = ["Access", "ArrayDataset", "DatasetKind", "DatasetSplits", "ENV_VAR", "NAMES", "SYNTHETIC_DEFAULT_SIZES", "data_root",
           "get_dataset", "import_raw"]
