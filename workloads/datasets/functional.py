"""Pure functions on event arrays (tonic's `functional` style): downsample, bin into frames.

Every event dataset, real or synthetic, reaches the trainer through `to_frames`,
so binning is defined once.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .events import EVENT_DTYPE, make_events


def downsample(events: np.ndarray, factor: int) -> np.ndarray:
    """Merge `factor` x `factor` pixel blocks: x, y -> x // factor, y // factor."""
    if factor < 1:
        raise ConfigError(f"downsample: factor must be >= 1, got {factor}")
    return make_events(events["x"] // factor, events["y"] // factor, events["t"], events["p"])


def to_frames(events: np.ndarray, height: int, width: int, n_time_bins: int) -> np.ndarray:
    """Count events per (time bin, y, x, polarity): a ``(T, H, W, 2)`` uint8 array, saturating at 255.

    The bins split ``[t_first, t_last]`` into `n_time_bins` equal parts (event
    ``t`` goes to bin ``(t - t_first) * T // (t_last - t_first + 1)``), as tonic's
    ``ToFrame(n_time_bins=T)`` does. Channel 0 counts OFF events, channel 1 ON.
    """
    if events.dtype != EVENT_DTYPE:
        raise ConfigError(f"to_frames: events must have dtype {EVENT_DTYPE}, got {events.dtype}")
    frames = np.zeros((n_time_bins, height, width, 2), np.uint8)
    if len(events) == 0:
        return frames
    x, y, p = events["x"].astype(np.int64), events["y"].astype(np.int64), events["p"].astype(np.int64)
    if x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height or p.min() < 0 or p.max() > 1:
        raise ConfigError(f"to_frames: events outside a {width} x {height} sensor with polarities 0/1 "
                          f"(x {x.min()}..{x.max()}, y {y.min()}..{y.max()}, p {p.min()}..{p.max()})")
    t = events["t"] - events["t"].min()
    b = t * n_time_bins // (int(t.max()) + 1)
    flat = ((b * height + y) * width + x) * 2 + p
    counts = np.bincount(flat, minlength=frames.size)
    np.minimum(counts, 255, out=counts)
    return counts.astype(np.uint8).reshape(frames.shape)
