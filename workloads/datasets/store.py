"""Where datasets live on disk and how they are written and read back.

The data directory is ``$SPIKEPIPE_DATA`` if set, else ``~/.cache/spikepipe``;
every function also takes an explicit directory. Every write goes to a
temporary file beside its target and is moved into place with ``os.replace``,
so an interrupted run never leaves a half-written file under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError
from ..files import atomic_path

ENV_VAR = "SPIKEPIPE_DATA"
DEFAULT_DIR = Path("~/.cache/spikepipe")
_FLUSH_EVERY = 256  # samples between progress records of a frame build


def data_root(data_dir: str | Path | None = None) -> Path:
    """The data directory: the argument, else ``$SPIKEPIPE_DATA``, else ``~/.cache/spikepipe``."""
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(data_dir).expanduser()


def save_npz(target: Path, **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed ``.npz`` atomically."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_npz(path: Path, keys: tuple[str, ...], fix: str) -> dict[str, np.ndarray]:
    """Read `keys` from a ``.npz``; a missing, corrupt or incomplete file raises ConfigError ending in `fix`."""
    if not path.is_file():
        raise ConfigError(f"{path} not found; {fix}")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise ConfigError(f"{path} is incomplete (no {', '.join(missing)}); delete it and {fix}")
            return {k: f[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path} is corrupt ({exc}); delete it and {fix}") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_frames(path: Path, n: int, frame_shape: tuple[int, ...], produce: Callable[[int], np.ndarray],
                 desc: str) -> None:
    """Fill the ``.npy`` at `path` (shape ``(n, *frame_shape)`` uint8) with ``produce(i)``, resumably.

    Samples go into ``<path>.partial`` (a memory map); every `_FLUSH_EVERY`
    samples the map is flushed and ``<path>.progress`` records how many are
    done, so an interrupted build resumes there. The finished file is moved
    onto `path` in one ``os.replace``.
    """
    partial, progress = path.with_name(path.name + ".partial"), path.with_name(path.name + ".progress")
    shape = (n, *frame_shape)
    done, frames = 0, None
    if partial.is_file() and progress.is_file():
        try:
            done = int(json.loads(progress.read_text())["done"])
            frames = np.lib.format.open_memmap(partial, mode="r+")
            if frames.shape != shape or frames.dtype != np.uint8 or not 0 <= done <= n:
                frames, done = None, 0
        except (OSError, ValueError, KeyError, TypeError):
            frames, done = None, 0
    if frames is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        frames = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    with tqdm(total=n, initial=done, desc=desc, unit="sample", leave=False, disable=n - done < 200) as bar:
        for i in range(done, n):
            frames[i] = produce(i)
            bar.update()
            if (i + 1) % _FLUSH_EVERY == 0 or i + 1 == n:
                frames.flush()
                with atomic_path(progress) as tmp:
                    tmp.write_text(json.dumps({"done": i + 1, "n": n}))
    frames.flush()
    del frames
    os.replace(partial, path)
    progress.unlink(missing_ok=True)


def save_npy(target: Path, array: np.ndarray) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def load_npy(path: Path, fix: str, mmap: bool) -> np.ndarray:
    """Read a cached ``.npy`` (memory-mapped read-only if `mmap`); a missing or corrupt file raises ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{path} not found; {fix}")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path} is corrupt ({exc}); delete it and {fix}") from None
