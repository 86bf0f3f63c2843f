"""A cached event-frame dataset on disk: one directory with train/test frames, labels and ``manifest.json``.

Layout: ``train_x.npy`` ``(N, T, H, W, 2)`` uint8, ``train_y.npy`` int64, the same
for ``test``, and ``manifest.json`` (sizes, SHA-256s, shapes, number of classes,
configuration; see `manifest`), written last: a directory without it is an
unfinished build, which `build` resumes. Every load checks the files against the
manifest; frames are loaded memory-mapped read-only.
"""
from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from . import manifest
from .store import (allocated_bytes, build_frames, data_root, discard, first_missing, free_bytes, load_npy,
                    no_space_message, raw_dir, save_npy, write_error)
from .types import ArrayDataset, DatasetKind, DatasetSplits

SPLITS = ("train", "test")
Source = tuple[np.ndarray, Callable[[int], np.ndarray]]  # labels, produce(i) -> frames of sample i
_SLACK = 1 << 16  # bytes allowed per file for headers, the manifest and file-system rounding


class Access(Enum):
    """What `get_dataset` may do with a cache."""

    READ = "read"        # use it as it is; never write (ConfigError saying how to make it when absent)
    BUILD = "build"      # build it when absent, resuming an interrupted build
    REBUILD = "rebuild"  # delete it and build it again


def command(verb: str, name: str, data_dir: str | Path | None, *args: str) -> str:
    """The ``spikepipe data`` command line that makes a cache, with ``--data-dir`` when one was given."""
    words = ["spikepipe", "data", verb, name, *args]
    if data_dir is not None:
        words += ["--data-dir", str(data_dir)]
    return shlex.join(words)


def size_options(sizes: tuple[int, int], seed: int, defaults: tuple[int, int]) -> list[str]:
    """``--train``, ``--test`` and ``--seed`` of ``spikepipe data generate``, each only if not the default."""
    pairs = (("--train", sizes[0], defaults[0]), ("--test", sizes[1], defaults[1]), ("--seed", seed, 0))
    return [word for flag, value, default in pairs if value != default for word in (flag, str(value))]


def _rebuild(make: str) -> str:
    return f"{make} --force"


def cached(directory: Path, make: str, access: Access, verify: bool) -> DatasetSplits | None:
    """The finished cache in `directory` (checked by `load`), or None when it is to be built.

    `make` is the command that builds it; a read-only `access` raises a ConfigError
    saying to run it when the cache is absent or unfinished.
    """
    done = None if access is Access.REBUILD else load(directory, make, verify)
    if done is None and access is Access.READ:
        if directory.exists():
            raise ConfigError(f"{directory}: unfinished build (no {manifest.FILENAME}); run `{make}` to finish it")
        raise ConfigError(f"{directory} does not exist: not built yet; run `{make}` to build it")
    return done


@dataclass(frozen=True)
class Imported:
    """Where a real dataset's frames come from and go: the user's copy, the cache, the command between them.

    Frames of `name` (`title` in messages) are cached in ``<data>/<name>/frames-T<time_bins>``,
    converted from the copy linked at ``<data>/<name>/raw``; `hint` says how to obtain that copy.
    """

    name: str
    title: str
    data_dir: str | Path | None
    time_bins: int
    hint: str

    @property
    def root(self) -> Path:
        return raw_dir(self.name, self.data_dir)

    @property
    def cache(self) -> Path:
        return data_root(self.data_dir) / self.name / f"frames-T{self.time_bins}"

    @property
    def make(self) -> str:
        return command("import", self.name, self.data_dir, str(self.root.resolve()) if self.root.exists() else "DIR")

    def existing(self, access: Access, verify: bool) -> DatasetSplits | None:
        """The finished frames, or None when they are to be converted from `root`; ConfigError if neither is there."""
        if self.root.is_dir() or self.cache.is_dir():
            done = cached(self.cache, self.make, access, verify)
            if done is not None:
                return done
        if not self.root.is_dir():
            raise ConfigError(f"{self.title} is not on this machine ({self.root} missing); {self.hint}")
        return None


def load(directory: Path, make: str, verify: bool = False) -> DatasetSplits | None:
    """The dataset cached in `directory`, or None when it was never finished.

    ConfigError naming the file and the command that rebuilds it (`make` with
    ``--force``) if a file is missing, has the wrong size or header, holds
    labels outside [0, classes), or (when `verify`, or when it changed since
    its build) does not match its SHA-256.
    """
    rebuild = _rebuild(make)
    m = manifest.read(directory, rebuild)
    if m is None:
        return None
    parts = {}
    for split in SPLITS:
        xp, yp = directory / f"{split}_x.npy", directory / f"{split}_y.npy"
        missing = [p.name for p in (xp, yp) if p.name not in m.files]
        if missing:
            raise ConfigError(f"{directory / manifest.FILENAME}: lists no {', '.join(missing)}; "
                              f"run `{rebuild}` to rebuild the cache")
        for path in (xp, yp):
            manifest.check_file(path, m.files[path.name], rebuild)
        x = load_npy(xp, f"run `{rebuild}` to rebuild it", mmap=True)
        y = load_npy(yp, f"run `{rebuild}` to rebuild it", mmap=False)
        if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
            raise ConfigError(f"{yp}: {y.shape} {y.dtype} labels for {x.shape[0]} samples; "
                              f"run `{rebuild}` to rebuild it")
        if y.size and (y.min() < 0 or y.max() >= m.classes):
            raise ConfigError(f"{yp}: labels must be class indices 0..{m.classes - 1}, found {y.min()}..{y.max()}; "
                              f"run `{rebuild}` to rebuild it")
        for path in (yp, xp):
            manifest.check_content(path, m.files[path.name], rebuild, full=verify)
        parts[split] = ArrayDataset(m.name, x, y.astype(np.int64), DatasetKind.FRAMES)
    return DatasetSplits(parts["train"], parts["test"], m.synthetic, m.description)


def _bytes_needed(directory: Path, sources: dict[str, Source], frame_shape: tuple[int, ...]) -> int:
    """Disk space a build still needs: every label file, every frame file not finished, less what is allocated."""
    need = 0
    for split in SPLITS:
        n = len(sources[split][0])
        need += 8 * n + _SLACK
        x = directory / f"{split}_x.npy"
        if not x.is_file():
            need += n * int(np.prod(frame_shape)) + _SLACK - allocated_bytes(x.with_name(x.name + ".partial"))
    return need


def _finished_frames(path: Path, shape: tuple[int, ...]) -> bool:
    """Whether `path` is a finished frame file of `shape` from an interrupted build (else it is deleted)."""
    if not path.is_file():
        return False
    try:
        if manifest.npy_header(path) == (shape, np.dtype(np.uint8)):
            return True
    except (OSError, ValueError):
        pass
    path.unlink()
    return False


def build(directory: Path, name: str, frame_shape: tuple[int, ...], classes: int, synthetic: bool,
          description: str, sources: dict[str, Source], config: dict[str, Any], make: str,
          fresh: bool = False) -> DatasetSplits:
    """Write every split of `sources` into `directory`, then ``manifest.json``; the loaded result.

    An interrupted build (KeyboardInterrupt) is resumed by the next call; `fresh`
    deletes whatever is there first. Free disk space is checked before
    anything is written; on any error the directory is removed again, and a
    disk-full or other OSError becomes one ConfigError line.
    """
    for split in SPLITS:
        labels = np.asarray(sources[split][0])
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ConfigError(f"{name} {split}: labels must be class indices 0..{classes - 1}, "
                              f"found {labels.min()}..{labels.max()}")
    if fresh and directory.exists():
        try:
            shutil.rmtree(directory)
        except OSError as exc:
            raise ConfigError(f"cannot delete {exc.filename or directory} to rebuild the {name} cache: "
                              f"{exc.strerror or exc}") from None
    need, free = _bytes_needed(directory, sources, frame_shape), free_bytes(directory)
    if need > free:
        raise ConfigError("not enough disk space: " + no_space_message(directory, need, free, f"the {name} cache"))
    made = first_missing(directory)
    try:
        files = {}
        for split in SPLITS:
            labels, produce = sources[split]
            y = directory / f"{split}_y.npy"
            save_npy(y, np.asarray(labels, np.int64))
            files[y.name] = manifest.record(y)
            x = directory / f"{split}_x.npy"
            shape = (len(labels), *frame_shape)
            digest = None if _finished_frames(x, shape) else build_frames(x, len(labels), frame_shape, produce,
                                                                         f"{name} {split}")
            files[x.name] = manifest.record(x, digest)  # hashed again from disk if finished by an earlier run
        manifest.write(directory, manifest.Manifest(name, synthetic, description, classes, config, files))
    except Exception as exc:
        discard(directory, made)
        if isinstance(exc, OSError):
            raise write_error(exc, f"the {name} cache", directory, need) from None
        raise
    result = load(directory, make)
    assert result is not None
    return result
