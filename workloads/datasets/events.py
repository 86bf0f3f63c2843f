"""The event record shared by every event dataset: a numpy structured array like tonic's.

Fields ``x``, ``y`` (pixel, int16), ``t`` (microseconds, int64), ``p``
(polarity, int8: 1 = ON / brighter, 0 = OFF / darker). Arrays are sorted by ``t``.
"""
from __future__ import annotations

import numpy as np

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])


def make_events(x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack equal-length field arrays into an `EVENT_DTYPE` structured array (not re-sorted)."""
    events = np.empty(len(t), EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events
