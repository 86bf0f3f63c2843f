"""Cycle-by-cycle emulation of an `SR x SC` output-stationary systolic array (Fig. 10).

Every PE `(i, j)` holds one accumulator (the output stays put) and two operand
registers. Each cycle the A registers shift one PE to the right and the B
registers one PE down; the left edge of row `i` is fed `A[i, k]` at cycle
`k + i` and the top edge of column `j` is fed `B[k, j]` at cycle `k + j` (the
input skew). A PE multiplies and accumulates only when both registers hold
real data, so `A[i, k]` and `B[k, j]` meet in PE `(i, j)` at cycle `k + i + j`.

The array controller streams a fixed skewed window: for every tile it clocks
`N_MAC` slots into each of the `SR` rows and `SC` columns, real data for the
rows and columns the tile uses and bubbles (no data) for the rest of a partial
edge tile. A tile occupies the array until the last slot has left the corner
PE; that is eq. 27, `N_MAC + (SR - 1) + (SC - 1)` cycles, and the emulation
reaches it by moving the slots, not from the formula. The last *real* MAC of
an `m x n` partial tile happens earlier, after `N_MAC + (m - 1) + (n - 1)`
cycles; both figures are returned. Tiles run back to back (eq. 28/29), row
tiles outer, column tiles inner.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from simulator.cost import ArrayConfig, TileGrid
from workloads import ConfigError

_EMPTY, _BUBBLE, _DATA = 0, 1, 3  # register flags; a MAC needs _DATA & _DATA == _DATA


@njit(cache=True)
def _run_tile(a, b, r0, c0, sr, sc, acc, last, av, af, bv, bf, av2, af2, bv2, bf2):
    """Emulate one tile from empty registers; returns (occupied cycles, cycles to last real MAC, MACs).

    `acc` and `last` are `sr x sc`: the accumulators and, per PE, the cycle of
    its last real MAC (-1 if none). The four `*2` arrays are the next-cycle
    registers (ping-pong, so every shift is a plain copy).
    """
    m_total, k_total = a.shape
    n_total = b.shape[1]
    m = min(sr, m_total - r0)
    n = min(sc, n_total - c0)
    acc[:, :] = 0.0
    last[:, :] = -1
    af[:, :] = _EMPTY
    bf[:, :] = _EMPTY
    av[:, :] = 0.0
    bv[:, :] = 0.0
    last_mac = -1
    macs = 0
    t = 0
    while True:
        in_flight = False
        for i in range(sr):
            # A: shift right one PE; the left edge takes slot k = t - i of row i (input skew).
            k = t - i
            if 0 <= k < k_total:
                if i < m:
                    av2[i, 0] = a[r0 + i, k]
                    af2[i, 0] = _DATA
                else:
                    av2[i, 0] = 0.0
                    af2[i, 0] = _BUBBLE
            else:
                av2[i, 0] = 0.0
                af2[i, 0] = _EMPTY
            for j in range(1, sc):
                av2[i, j] = av[i, j - 1]
                af2[i, j] = af[i, j - 1]
            # B: shift down one PE; the top edge takes slot k = t - j of column j.
            if i == 0:
                for j in range(sc):
                    k = t - j
                    if 0 <= k < k_total:
                        if j < n:
                            bv2[0, j] = b[k, c0 + j]
                            bf2[0, j] = _DATA
                        else:
                            bv2[0, j] = 0.0
                            bf2[0, j] = _BUBBLE
                    else:
                        bv2[0, j] = 0.0
                        bf2[0, j] = _EMPTY
            else:
                for j in range(sc):
                    bv2[i, j] = bv[i - 1, j]
                    bf2[i, j] = bf[i - 1, j]
            # MAC where both operands are real data; count what happened this cycle.
            row_macs = 0
            row_busy = 0
            for j in range(sc):
                both = af2[i, j] & bf2[i, j]
                real = both == _DATA
                acc[i, j] += av2[i, j] * bv2[i, j] if real else np.float32(0.0)
                last[i, j] = t if real else last[i, j]
                row_macs += real
                row_busy += both
            if row_macs:
                macs += row_macs
                last_mac = t
            if row_busy:
                in_flight = True
        av, av2 = av2, av
        af, af2 = af2, af
        bv, bv2 = bv2, bv
        bf, bf2 = bf2, bf
        t += 1
        if not in_flight and t >= k_total:
            # nothing engaged this cycle and the feed is exhausted: the tile ended last cycle
            return t - 1, last_mac + 1, macs


@njit(cache=True)
def _run_tiles(a, b, sr, sc, out, ready, stats):
    """All tiles of `a @ b`, back to back; fills `out`, `ready` (cycle each output left its PE) and per-tile `stats`."""
    m_total = a.shape[0]
    n_total = b.shape[1]
    acc = np.zeros((sr, sc), np.float32)
    last = np.empty((sr, sc), np.int32)
    av = np.zeros((sr, sc), np.float32)
    bv = np.zeros((sr, sc), np.float32)
    av2 = np.zeros((sr, sc), np.float32)
    bv2 = np.zeros((sr, sc), np.float32)
    af = np.zeros((sr, sc), np.int32)
    bf = np.zeros((sr, sc), np.int32)
    af2 = np.zeros((sr, sc), np.int32)
    bf2 = np.zeros((sr, sc), np.int32)
    start = 0
    tile = 0
    for r0 in range(0, m_total, sr):
        for c0 in range(0, n_total, sc):
            occupied, to_last, macs = _run_tile(a, b, r0, c0, sr, sc, acc, last,
                                                av, af, bv, bf, av2, af2, bv2, bf2)
            m = min(sr, m_total - r0)
            n = min(sc, n_total - c0)
            for i in range(m):
                for j in range(n):
                    out[r0 + i, c0 + j] = acc[i, j]
                    ready[r0 + i, c0 + j] = start + last[i, j] + 1
            stats[tile, 0] = occupied
            stats[tile, 1] = to_last
            stats[tile, 2] = macs
            start += occupied
            tile += 1


@dataclass(frozen=True)
class GemmRun:
    """What the emulated array computed for `A @ B` and the cycles it took.

    `cycles` is the sum over tiles of the cycles each tile occupied the array
    (eq. 27/28); `cycles_to_last_mac` the sum over tiles of the cycles until
    the tile's last real MAC (smaller for partial edge tiles). `ready[r, c]`
    is the cycle, counted from the start of the task, at which output
    `(r, c)` left its PE (one after its last MAC).
    """

    out: np.ndarray
    ready: np.ndarray
    tile_cycles: np.ndarray
    tile_cycles_to_last_mac: np.ndarray
    macs: int

    @property
    def tiles(self) -> int:
        return len(self.tile_cycles)

    @property
    def cycles(self) -> int:
        return int(self.tile_cycles.sum())

    @property
    def cycles_to_last_mac(self) -> int:
        return int(self.tile_cycles_to_last_mac.sum())


def emulate_gemm(a: np.ndarray, b: np.ndarray, array: ArrayConfig | str) -> GemmRun:
    """Run `a (M x K) @ b (K x N)` through the emulated array (an ArrayConfig or '32x32') in float32, tile by tile."""
    array = ArrayConfig.of(array)
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ConfigError(f"gemm: operand shapes {a.shape} and {b.shape} do not form a matrix product")
    if 0 in a.shape or 0 in b.shape:
        raise ConfigError(f"gemm: operand shapes {a.shape} and {b.shape} must be non-empty")
    m, n = a.shape[0], b.shape[1]
    tiles = TileGrid(m, n, array.rows, array.cols).count
    out = np.empty((m, n), np.float32)
    ready = np.empty((m, n), np.int64)
    stats = np.empty((tiles, 3), np.int64)
    _run_tiles(a, b, array.rows, array.cols, out, ready, stats)
    return GemmRun(out, ready, stats[:, 0].copy(), stats[:, 1].copy(), int(stats[:, 2].sum()))


def float32_bound(a: np.ndarray, b: np.ndarray) -> float:
    """How far a float32 `a @ b` may lie from the exact product: `K * eps * max(|A| |B|)`.

    The classical bound for K-term float32 dot products (`gamma_K = K u / (1 - K u)`,
    here with `eps = 2u` for margin), taken at the largest `|A| |B|` entry.
    """
    eps = float(np.finfo(np.float32).eps)
    return a.shape[1] * eps * float((np.abs(a) @ np.abs(b)).max(initial=0.0))
