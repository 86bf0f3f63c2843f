"""Where datasets live on disk and how they are written and read back.

The data directory is ``$SPIKEPIPE_DATA`` if set, else ``~/.cache/spikepipe``;
every function also takes an explicit directory. Every write goes to a
temporary file beside its target and is moved into place with ``os.replace``,
so an interrupted run never leaves a half-written file under the final name.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
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
NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # disk full, quota exceeded


def data_root(data_dir: str | Path | None = None) -> Path:
    """The data directory: the argument, else ``$SPIKEPIPE_DATA``, else ``~/.cache/spikepipe``."""
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(data_dir).expanduser()


def raw_dir(name: str, data_dir: str | Path | None = None) -> Path:
    """Where the real dataset `name` is found: ``<data>/<name>/raw``, a link to the user's copy or the copy itself."""
    return data_root(data_dir) / name / "raw"


def save_npz(target: Path, **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed ``.npz`` atomically."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_npz(path: Path, keys: tuple[str, ...], fix: str) -> dict[str, np.ndarray]:
    """Read `keys` from a ``.npz`` (each member's CRC-32 is checked as it is read); ConfigError ending in `fix`."""
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
    """SHA-256 of the file at `path`, in hex."""
    return file_hash(path).hexdigest()


def file_hash(path: Path, limit: int | None = None) -> hashlib._Hash:
    """SHA-256 of the file at `path` (of its first `limit` bytes if given), as a hash object to go on with."""
    h = hashlib.sha256()
    left = os.stat(path).st_size if limit is None else limit
    with open(path, "rb") as f:
        while left > 0:
            block = f.read(min(left, 1 << 20))
            if not block:
                break
            h.update(block)
            left -= len(block)
    return h


def readable_dir(path: Path) -> None:
    """ConfigError naming `path` unless it is a directory this process may list."""
    if not path.is_dir():
        raise ConfigError(f"{path}: not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ConfigError(f"{path}: directory not readable (permission denied)")


def readable_file(path: Path) -> None:
    """ConfigError naming `path` unless it is a regular file this process may read."""
    if not path.is_file():
        raise ConfigError(f"{path}: not a regular file" + (" (a directory)" if path.is_dir() else ""))
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{path}: file not readable (permission denied)")


def free_bytes(directory: Path) -> int:
    """Bytes free to this user on the disk that holds (or will hold) `directory`."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def first_missing(path: Path) -> Path | None:
    """The outermost of `path` and its parents that does not exist (what making `path` would create), or None."""
    missing = None
    while not path.exists() and not path.is_symlink() and path != path.parent:
        missing, path = path, path.parent
    return missing


def discard(path: Path, made: Path | None) -> None:
    """Delete `path` (a file, link or directory tree), then its parents up to `made` while they are empty."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    if made is None:
        return
    parent = path.parent
    while parent.is_relative_to(made):
        try:
            parent.rmdir()
        except OSError:  # not empty: something else lives there
            return
        parent = parent.parent


def allocated_bytes(path: Path) -> int:
    """Disk space already allocated to `path` (0 if absent): a sparse file takes only what was written."""
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def no_space_message(directory: Path, need: int, free: int, what: str) -> str:
    """`what` in `directory` needs `need` bytes and `free` are available: say so, and what to do."""
    return (f"{what} in {directory} needs {need:,} bytes, {free:,} are available; free some space "
            f"or point --data-dir (or ${ENV_VAR}) at a larger disk")


def write_error(exc: OSError, what: str, directory: Path, need: int | None = None) -> ConfigError:
    """One line for an OSError met while writing `what` (`need` bytes, if known) into `directory`; nothing was kept."""
    where = exc.filename or directory
    if exc.errno not in NO_SPACE:
        return ConfigError(f"cannot write {what} (nothing kept): {where}: {exc.strerror or exc}")
    if need is None:
        return ConfigError(f"disk full while writing {where} (nothing kept): free some space or point --data-dir "
                           f"(or ${ENV_VAR}) at a larger disk")
    return ConfigError(f"disk full while writing {where} (nothing kept): "
                       + no_space_message(directory, need, free_bytes(directory), what))


def _reserve(path: Path, start: int, end: int) -> None:
    """Allocate bytes `start`..`end` of `path` now (OSError ENOSPC if the disk is full).

    Writing through a memory map into a sparse file on a full disk is a SIGBUS,
    not an error Python can catch; allocated bytes cannot meet a full disk.
    Without ``posix_fallocate`` the bytes are written as zeros.
    """
    if end <= start:
        return
    with open(path, "r+b") as f:
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(f.fileno(), start, end - start)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            return
        f.seek(start)
        for at in range(start, end, 1 << 20):
            f.write(bytes(min(1 << 20, end - at)))
        f.flush()
        os.fsync(f.fileno())


def _resume(partial: Path, progress: Path, shape: tuple[int, ...]) -> tuple[np.memmap, int, hashlib._Hash] | None:
    """The interrupted build in `partial`: its map, samples done and the hash of those bytes; None if unusable.

    The bytes done are hashed again from disk and must match the hash recorded with them.
    """
    if not (partial.is_file() and progress.is_file()):
        return None
    try:
        record = json.loads(progress.read_text())
        done, prefix = int(record["done"]), str(record["sha256"])
        frames = np.lib.format.open_memmap(partial, mode="r+")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if frames.shape != shape or frames.dtype != np.uint8 or not 0 <= done <= shape[0]:
        return None
    digest = file_hash(partial, frames.offset + done * int(np.prod(shape[1:])))
    return (frames, done, digest) if digest.hexdigest() == prefix else None


def build_frames(path: Path, n: int, frame_shape: tuple[int, ...], produce: Callable[[int], np.ndarray],
                 desc: str) -> str:
    """Fill the ``.npy`` at `path` (shape ``(n, *frame_shape)`` uint8) with ``produce(i)``, resumably; its SHA-256.

    Samples go into ``<path>.partial`` (a memory map whose disk space is
    allocated up front); every `_FLUSH_EVERY` samples the map is flushed and
    ``<path>.progress`` records how many are done and the SHA-256 of the file
    up to there, so an interrupted build resumes there after checking that
    hash. The finished file is moved onto `path` in one ``os.replace``. On an
    error (not an interrupt) the partial files are deleted.
    """
    partial, progress = path.with_name(path.name + ".partial"), path.with_name(path.name + ".progress")
    shape = (n, *frame_shape)
    resumed = _resume(partial, progress, shape)
    try:
        if resumed is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            frames = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
            done, digest = 0, file_hash(partial, frames.offset)  # the .npy header
        else:
            frames, done, digest = resumed
        sample_bytes = int(np.prod(frame_shape))
        _reserve(partial, frames.offset + done * sample_bytes, frames.offset + frames.nbytes)
        with tqdm(total=n, initial=done, desc=desc, unit="sample", leave=False, disable=n - done < 200) as bar:
            for i in range(done, n):
                frames[i] = produce(i)
                digest.update(frames[i])
                bar.update()
                if (i + 1) % _FLUSH_EVERY == 0 or i + 1 == n:
                    frames.flush()
                    with atomic_path(progress) as tmp:
                        tmp.write_text(json.dumps({"done": i + 1, "n": n, "sha256": digest.hexdigest()}))
        frames.flush()
        del frames
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, path)
        progress.unlink(missing_ok=True)
    except Exception:
        partial.unlink(missing_ok=True)
        progress.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


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
        raise ConfigError(f"{path} is corrupt ({exc}); {fix}") from None
