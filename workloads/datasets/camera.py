"""An event-camera (DVS/ATIS) model: events where the log intensity moves by a contrast threshold.

Each pixel keeps a reference log intensity. When the scene's log intensity
``L`` at that pixel moves ``k`` whole thresholds ``C`` away from the reference,
the pixel emits ``k`` events of polarity ON (brighter) or OFF (darker), timed
where the linear interpolation of ``L`` between the two simulation steps
crosses each level, and the reference moves ``k * C`` (Lichtsteiner et al.
2008; the conversion recipe of Orchard et al. 2015). Thresholds vary per pixel
(mismatch); shot noise is added by the generators.

The renderers (`saccade_events` for N-MNIST-like digits, `disk_scene_events`
for gesture-like moving shapes) are numba kernels that call the one `_emit`.
Event buffers are preallocated; a kernel returns -1 when its buffer is too
small and `run_with_capacity` retries with a larger one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numba import njit

LOG_EPS = 0.05  # dark level added before the log, as a sensor's dark current


@njit(cache=True)
def _emit(r: int, c: int, now: float, prev: float, ref: np.ndarray, thresh: np.ndarray,
          t0: float, t1: float, xs: np.ndarray, ys: np.ndarray, ts: np.ndarray, ps: np.ndarray, n: int) -> int:
    """Emit the events of pixel (r, c) as L goes from `prev` (time t0) to `now` (t1); return the new count."""
    th = thresh[r, c]
    while True:
        d = now - ref[r, c]
        if d >= th:
            level = ref[r, c] + th
            pol = 1
        elif d <= -th:
            level = ref[r, c] - th
            pol = 0
        else:
            return n
        if n >= xs.shape[0]:
            return -1
        frac = (level - prev) / (now - prev) if now != prev else 1.0
        frac = min(max(frac, 0.0), 1.0)
        xs[n] = c
        ys[n] = r
        ts[n] = t0 + frac * (t1 - t0)
        ps[n] = pol
        ref[r, c] = level
        n += 1


@njit(cache=True)
def _shifted(img: np.ndarray, size: int, dy: float, dx: float, out: np.ndarray) -> None:
    """`out[r, c]` = `img` bilinearly sampled at (r - dy, c - dx), zero outside (one set of weights per shift)."""
    iy = int(np.floor(dy))
    ix = int(np.floor(dx))
    fy = dy - iy
    fx = dx - ix
    h, w = img.shape
    for r in range(size):
        for c in range(size):
            v = 0.0
            for a in range(2):
                for b in range(2):
                    rr = r - iy - a
                    cc = c - ix - b
                    if 0 <= rr < h and 0 <= cc < w:
                        v += img[rr, cc] * (fy if a else 1.0 - fy) * (fx if b else 1.0 - fx)
            out[r, c] = v


@njit(cache=True)
def saccade_events(img: np.ndarray, size: int, offsets: np.ndarray, times: np.ndarray, thresh: np.ndarray,
                   xs: np.ndarray, ys: np.ndarray, ts: np.ndarray, ps: np.ndarray) -> int:
    """A still image on a `size` x `size` sensor seen while the sensor moves by `offsets[k]` (dy, dx) at `times[k]`.

    A pixel whose intensity did not change since the last step cannot fire, so its log is not recomputed.
    """
    cur = np.empty((size, size))
    _shifted(img, size, offsets[0, 0], offsets[0, 1], cur)
    last = cur.copy()
    ref = np.log(LOG_EPS + cur)
    prev = ref.copy()
    n = 0
    for k in range(1, offsets.shape[0]):
        _shifted(img, size, offsets[k, 0], offsets[k, 1], cur)
        for r in range(size):
            for c in range(size):
                if cur[r, c] == last[r, c]:
                    continue
                last[r, c] = cur[r, c]
                now = np.log(LOG_EPS + cur[r, c])
                n = _emit(r, c, now, prev[r, c], ref, thresh, times[k - 1], times[k], xs, ys, ts, ps, n)
                if n < 0:
                    return -1
                prev[r, c] = now
    return n


@njit(cache=True)
def _scene_log(background: np.ndarray, centers: np.ndarray, k: int, radii: np.ndarray, levels: np.ndarray,
               r: int, c: int) -> float:
    """Log intensity at pixel (r, c), step k: background with soft-edged disks painted over it in order."""
    v = background[r, c]
    for j in range(radii.shape[0]):
        dist = np.sqrt((r - centers[k, j, 0]) ** 2 + (c - centers[k, j, 1]) ** 2)
        cover = min(max(radii[j] - dist + 0.5, 0.0), 1.0)  # 1 inside, 0 outside, one-pixel ramp at the rim
        v = v * (1.0 - cover) + levels[j] * cover
    return np.log(LOG_EPS + v)


@njit(cache=True)
def disk_scene_events(background: np.ndarray, centers: np.ndarray, radii: np.ndarray, levels: np.ndarray,
                      times: np.ndarray, thresh: np.ndarray,
                      xs: np.ndarray, ys: np.ndarray, ts: np.ndarray, ps: np.ndarray) -> int:
    """Disks (`centers[k, j]` = (y, x) at `times[k]`, radius, intensity) moving over a still background.

    Only pixels inside the bounding boxes a disk covers at step k-1 or k can
    change, so only those are visited (a pixel visited twice emits nothing new).
    """
    h, w = background.shape
    ref = np.empty((h, w))
    for r in range(h):
        for c in range(w):
            ref[r, c] = _scene_log(background, centers, 0, radii, levels, r, c)
    prev = ref.copy()
    n = 0
    for k in range(1, centers.shape[0]):
        for j in range(radii.shape[0]):
            reach = radii[j] + 2.0
            r0 = max(int(min(centers[k - 1, j, 0], centers[k, j, 0]) - reach), 0)
            r1 = min(int(max(centers[k - 1, j, 0], centers[k, j, 0]) + reach) + 1, h)
            c0 = max(int(min(centers[k - 1, j, 1], centers[k, j, 1]) - reach), 0)
            c1 = min(int(max(centers[k - 1, j, 1], centers[k, j, 1]) + reach) + 1, w)
            for r in range(r0, r1):
                for c in range(c0, c1):
                    now = _scene_log(background, centers, k, radii, levels, r, c)
                    n = _emit(r, c, now, prev[r, c], ref, thresh, times[k - 1], times[k], xs, ys, ts, ps, n)
                    if n < 0:
                        return -1
                    prev[r, c] = now
    return n


def run_with_capacity(kernel: Callable[..., int], args: tuple, capacity: int) -> tuple[np.ndarray, ...]:
    """Call `kernel(*args, xs, ys, ts, ps)` with buffers of `capacity`, doubling until it fits; trimmed arrays."""
    while True:
        xs, ys = np.empty(capacity, np.int16), np.empty(capacity, np.int16)
        ts, ps = np.empty(capacity, np.float64), np.empty(capacity, np.int8)
        n = kernel(*args, xs, ys, ts, ps)
        if n >= 0:
            return xs[:n], ys[:n], ts[:n], ps[:n]
        capacity *= 2


def thresholds(rng: np.random.Generator, shape: tuple[int, int], contrast: float, mismatch: float) -> np.ndarray:
    """Per-pixel contrast thresholds: `contrast` * (1 + `mismatch` * N(0, 1)), at least a third of `contrast`."""
    return np.maximum(contrast * (1.0 + mismatch * rng.standard_normal(shape)), contrast / 3)


def with_shot_noise(rng: np.random.Generator, fields: tuple[np.ndarray, ...], rate_hz: float,
                    shape: tuple[int, int], duration_us: float) -> np.ndarray:
    """Add Poisson shot noise (`rate_hz` per pixel and polarity) to kernel output; time-sorted event array."""
    from .events import make_events
    h, w = shape
    m = rng.poisson(rate_hz * h * w * 2 * duration_us * 1e-6)
    xs, ys, ts, ps = fields
    x = np.concatenate([xs, rng.integers(0, w, m)])
    y = np.concatenate([ys, rng.integers(0, h, m)])
    t = np.concatenate([np.rint(ts), np.floor(rng.uniform(0, duration_us, m))]).astype(np.int64)
    p = np.concatenate([ps, rng.integers(0, 2, m)])
    order = np.argsort(t, kind="stable")
    return make_events(x[order], y[order], t[order], p[order])
