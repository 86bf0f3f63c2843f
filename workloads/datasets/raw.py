"""Importing a real event dataset: link the user's copy into the data directory and convert it to frames.

The user's folder is checked first (a readable directory with the expected
layout, every sample a readable file), before anything is linked. A failed
conversion removes the link and the cache again, so an import either finishes
or leaves the data directory as it was; an interrupted one (Ctrl-C) keeps both,
and running the same import again resumes it.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from . import gesture, nmnist
from .framesets import Access
from .store import discard, first_missing, raw_dir, write_error
from .types import DatasetSplits

_READERS = {"nmnist": (nmnist.scan, nmnist.load_real), "dvs128": (gesture.scan, gesture.load_real)}
NAMES = tuple(_READERS)


def import_raw(name: str, source: str | Path, data_dir: str | Path | None = None,
               force: bool = False) -> DatasetSplits:
    """Link `source` as ``<data>/<name>/raw`` and convert it (`force`: relink and convert again); the frames."""
    if name not in _READERS:
        raise ConfigError(f"import: unknown real dataset {name!r}; choose one of {', '.join(NAMES)}")
    scan, load = _READERS[name]
    folder = Path(source).expanduser().resolve()
    scan(folder)
    raw = raw_dir(name, data_dir)
    previous = None
    if raw.is_symlink() or raw.exists():
        if raw.resolve() != folder:
            if not raw.is_symlink():
                raise ConfigError(f"{raw} is a folder of its own, not a link; move it away to import {folder}")
            if not force:
                raise ConfigError(f"{raw} already points to {raw.resolve()}; add --force to import {folder} instead")
            previous = os.readlink(raw)
            raw.unlink()
    made = first_missing(raw)
    try:
        if made is not None:
            raw.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(folder, raw, target_is_directory=True)
        return load(data_dir, Access.REBUILD if force else Access.BUILD)
    except Exception as exc:
        if made is not None:
            discard(raw, made)
            if previous is not None:
                os.symlink(previous, raw, target_is_directory=True)
        if isinstance(exc, OSError):
            raise write_error(exc, f"the link {raw}", raw.parent) from None
        raise
