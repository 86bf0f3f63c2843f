"""A cached event-frame dataset on disk: one directory with train/test frames, labels and ``meta.json``.

Layout: ``train_x.npy`` ``(N, T, H, W, 2)`` uint8, ``train_y.npy`` int64, the same
for ``test``, and ``meta.json`` (name, synthetic, description, configuration,
sample counts), written last: a directory without it is an unfinished build,
which `build` resumes. Frames are loaded memory-mapped read-only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from .store import atomic_path, build_frames, load_npy, save_npy
from .types import ArrayDataset, DatasetSplits

SPLITS = ("train", "test")
Source = tuple[np.ndarray, Callable[[int], np.ndarray]]  # labels, produce(i) -> frames of sample i


def load(directory: Path, fix: str) -> DatasetSplits | None:
    """The dataset cached in `directory`, or None when it was never finished; ConfigError if damaged."""
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        name, frame_shape, counts = meta["name"], tuple(meta["frame_shape"]), meta["samples"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{meta_path} is corrupt ({exc}); delete {directory} and {fix}") from None
    parts = {}
    for split in SPLITS:
        x = load_npy(directory / f"{split}_x.npy", f"delete {directory} and {fix}", mmap=True)
        y = load_npy(directory / f"{split}_y.npy", f"delete {directory} and {fix}", mmap=False)
        if x.shape != (counts[split], *frame_shape) or y.shape != (counts[split],):
            raise ConfigError(f"{directory}: {split} frames {x.shape} / labels {y.shape} do not match meta.json "
                              f"({counts[split]} samples of {frame_shape}); delete {directory} and {fix}")
        parts[split] = ArrayDataset(name, x, y.astype(np.int64), "frames")
    return DatasetSplits(parts["train"], parts["test"], bool(meta["synthetic"]), str(meta["description"]))


def build(directory: Path, name: str, frame_shape: tuple[int, ...], synthetic: bool, description: str,
          sources: dict[str, Source], config: dict[str, Any], fix: str) -> DatasetSplits:
    """Write every split of `sources` into `directory` (resuming an interrupted build), then ``meta.json``."""
    for split in SPLITS:
        labels, produce = sources[split]
        save_npy(directory / f"{split}_y.npy", np.asarray(labels, np.int64))
        target = directory / f"{split}_x.npy"
        if not target.is_file():
            build_frames(target, len(labels), frame_shape, produce, f"{name} {split}")
    meta = {"name": name, "synthetic": synthetic, "description": description, "frame_shape": list(frame_shape),
            "samples": {s: len(sources[s][0]) for s in SPLITS}, "config": config}
    with atomic_path(directory / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    result = load(directory, fix)
    assert result is not None
    return result
