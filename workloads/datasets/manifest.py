"""The manifest of a cached frame set: what each of its files must be, written once all of them are complete.

``manifest.json`` holds the set's name, description, number of classes and the
configuration that produced it, and for every file its size, SHA-256, ``.npy``
shape and dtype, and the (mtime, ctime) it had when the manifest was written.
Every load runs `check_file` (present, right size, right header) and
`check_content`, which hashes the file again when asked (``spikepipe data info
--verify``) or when its mtime or ctime moved since (it was written to, or copied
elsewhere): a file changed after its build is never used unverified, and an
unchanged one costs a few ``stat`` calls.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..files import write_atomic
from .store import sha256_file

FILENAME = "manifest.json"
LEGACY = "meta.json"  # written last by SpikePipe before manifests existed: no checksums
FORMAT = 1
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


@dataclass(frozen=True)
class FileRecord:
    """One cached ``.npy``: byte size, SHA-256, array shape and dtype, (mtime_ns, ctime_ns) when recorded."""

    size: int
    sha256: str
    shape: tuple[int, ...]
    dtype: str
    stamp: tuple[int, int]


@dataclass(frozen=True)
class Manifest:
    """A finished cache: labels are class indices in [0, `classes`); `files` by file name."""

    name: str
    synthetic: bool
    description: str
    classes: int
    config: dict[str, Any]
    files: dict[str, FileRecord]


def _stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_mtime_ns, st.st_ctime_ns


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the header of the ``.npy`` at `path`; ValueError if it is not one (or Fortran-ordered)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version not in _HEADER_READERS:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran, dtype = _HEADER_READERS[version](f)
    if fortran:
        raise ValueError("Fortran-ordered array")
    return tuple(shape), dtype


def record(path: Path, sha256: str | None = None) -> FileRecord:
    """The record of the finished file at `path`; `sha256` if already known (computed while writing), else hashed."""
    shape, dtype = npy_header(path)
    return FileRecord(path.stat().st_size, sha256 or sha256_file(path), shape, str(dtype), _stamp(path.stat()))


def check_file(path: Path, rec: FileRecord, rebuild: str) -> None:
    """ConfigError naming `path` and the `rebuild` command unless it exists with the recorded size and header."""
    fix = f"run `{rebuild}` to rebuild it"
    if not path.is_file():
        raise ConfigError(f"{path}: missing or not a file, but {FILENAME} lists it; {fix}")
    size = path.stat().st_size
    if size != rec.size:
        raise ConfigError(f"{path}: {size:,} bytes where {FILENAME} says {rec.size:,} (truncated or overwritten); "
                          f"{fix}")
    try:
        shape, dtype = npy_header(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable .npy header ({exc}); {fix}") from None
    if shape != rec.shape or str(dtype) != rec.dtype:
        raise ConfigError(f"{path}: header says {shape} {dtype} where {FILENAME} says {rec.shape} {rec.dtype}; {fix}")


def check_content(path: Path, rec: FileRecord, rebuild: str, full: bool) -> None:
    """Hash `path` if `full` or if it changed since it was recorded; ConfigError unless the SHA-256 matches."""
    if not full and _stamp(path.stat()) == rec.stamp:
        return
    if sha256_file(path) != rec.sha256:
        raise ConfigError(f"{path}: content does not match its SHA-256 in {FILENAME} (corrupted or overwritten); "
                          f"run `{rebuild}` to rebuild it")


def read(directory: Path, rebuild: str) -> Manifest | None:
    """The manifest of the cache in `directory`; None if it has none (never finished); ConfigError if unusable."""
    path = directory / FILENAME
    if not path.is_file():
        if (directory / LEGACY).is_file():
            raise ConfigError(f"{directory}: cache written by an older SpikePipe, with no manifest to verify it "
                              f"against; run `{rebuild}` to rebuild it")
        return None
    try:
        raw = json.loads(path.read_text())
        if raw["format"] != FORMAT:
            raise ValueError(f"format {raw['format']!r}, expected {FORMAT}")
        files = {str(name): FileRecord(int(f["size"]), str(f["sha256"]), tuple(int(d) for d in f["shape"]),
                                       str(f["dtype"]), (int(f["stamp"][0]), int(f["stamp"][1])))
                 for name, f in raw["files"].items()}
        return Manifest(str(raw["name"]), bool(raw["synthetic"]), str(raw["description"]), int(raw["classes"]),
                        dict(raw["config"]), files)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{path}: unreadable ({problem}); run `{rebuild}` to rebuild the cache") from None


def write(directory: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` atomically: the last file of a build, which marks the cache finished."""
    write_atomic(directory / FILENAME, json.dumps({"format": FORMAT, **asdict(manifest)}, indent=2))
