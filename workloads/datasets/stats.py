"""Summary statistics of a dataset for `spikepipe data info`: counts, shapes, events per sample, polarity balance."""
from __future__ import annotations

from typing import Any

import numpy as np

from .types import ArrayDataset, DatasetKind, DatasetSplits

_CHUNK = 512  # samples per pass over memory-mapped frames


def split_stats(ds: ArrayDataset) -> dict[str, Any]:
    """Per-split figures; for frames, events are counted from the (saturating uint8) frame counts."""
    out: dict[str, Any] = {"samples": len(ds), "sample_shape": list(ds.sample_shape), "kind": ds.kind,
                           "dtype": str(ds.x.dtype),
                           "class_counts": np.bincount(ds.y, minlength=int(ds.y.max(initial=0)) + 1).tolist()}
    if ds.kind is DatasetKind.IMAGE:
        out["pixel_mean"] = float(ds.x.mean(dtype=np.float64)) if len(ds) else 0.0
        return out
    per_sample = np.zeros((len(ds), 2), np.int64)  # OFF, ON events per sample
    saturated = 0
    for i in range(0, len(ds), _CHUNK):
        chunk = np.asarray(ds.x[i:i + _CHUNK])
        per_sample[i:i + _CHUNK] = chunk.sum(axis=(1, 2, 3), dtype=np.int64)
        saturated += int(np.count_nonzero(chunk == 255))
    total = per_sample.sum(axis=1)
    out.update({
        "events_per_sample_mean": float(total.mean()) if len(ds) else 0.0,
        "events_per_sample_std": float(total.std()) if len(ds) else 0.0,
        "events_per_sample_min": int(total.min()) if len(ds) else 0,
        "events_per_sample_max": int(total.max()) if len(ds) else 0,
        "on_fraction": float(per_sample[:, 1].sum() / max(int(total.sum()), 1)),
        "saturated_bins": saturated,
    })
    return out


def dataset_stats(name: str, splits: DatasetSplits) -> dict[str, Any]:
    return {"name": name, "synthetic": splits.synthetic, "description": splits.description,
            "train": split_stats(splits.train), "test": split_stats(splits.test)}
