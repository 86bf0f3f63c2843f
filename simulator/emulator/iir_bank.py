"""The bank of `SC` IIR filters at the column outputs of the systolic array (Fig. 11).

Filter `j` takes the outputs of column `j` of every tile, one sample per cycle,
in the order the column delivers them. Samples are GEMM rows in the layout of
`simulator.emulator.tasks` (rows `(neuron, t)` with the timestep innermost,
columns = channels), so a neuron is `(row // T, column)` and its timestep
`row % T`. Each neuron's filter state (the delay element `d` forward, `g_v`
backward) lives in the bank's state memory between samples, so a neuron whose
`T` samples straddle two row tiles continues where it stopped.

- Forward (FP of a spiking layer): currents -> membrane potentials and spikes,
  `models.neuron.lif_step` (eq. 4-5) per sample in time order. The output
  accumulator (eq. 18, `neuron=None`) is the same section with `c = 1, lam = 0,
  V_th = inf`.
- Backward: dL/dv_sp -> dL/di_in, `models.neuron.lif_grad_step` (eq. 17, 22,
  23, Fig. 8) per sample in time-reversed order: the stream runs through the
  tiles backwards (last row first), so each neuron sees `t = T-1, ..., 0`.

Timing. Output `(i, j)` of a tile leaves its PE one cycle after its last MAC,
at tile cycle `N_MAC + i + j`: column `j` delivers its `SR` outputs on `SR`
consecutive cycles, one per cycle, and filter `j` takes one sample per cycle,
so it never queues; since a tile lasts `N_MAC + SR + SC - 2 >= SR` cycles, the
bank keeps pace with the array. The last sample of a tile (the corner PE)
reaches its filter on the first cycle of the next tile: the bank is hidden
behind the array except for one cycle after the last tile of a task, which
overlaps the next task's input skew. `bank_forward` replays the arrival cycles
the array emulation reports (`GemmRun.ready`) and returns the queueing and the
finishing cycle, so this is shown, not assumed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from models.neuron import lif_grad_step, lif_step
from simulator.cost import ArrayConfig
from workloads import ConfigError, Neuron


@dataclass(frozen=True)
class BankTiming:
    """When the filters ran: `finish` is the cycle after the last filter step, counted like the arrivals."""

    samples_per_filter: int
    finish: int
    stall_cycles: int


@njit(cache=True)
def _filter_schedule(ready, r0, c0, m, n, reverse, busy_until, stats):
    """One tile's samples on the column filters, one step per cycle each; adds queueing cycles to `stats[0]`."""
    for j in range(n):
        f = (c0 + j) % busy_until.shape[0]
        for k in range(m):
            i = m - 1 - k if reverse else k
            arrive = ready[r0 + i, c0 + j]
            start = max(arrive, busy_until[f])
            stats[0] += start - arrive
            busy_until[f] = start + 1


@njit(cache=True)
def _forward(cur, ready, timesteps, sr, sc, c, lam, threshold, v_m, spikes, d_mem, busy_until, stats):
    """Forward filter steps in arrival order: row tiles, column tiles, then down each column."""
    rows, cols = cur.shape
    for r0 in range(0, rows, sr):
        for c0 in range(0, cols, sc):
            m = min(sr, rows - r0)
            n = min(sc, cols - c0)
            _filter_schedule(ready, r0, c0, m, n, False, busy_until, stats)
            for j in range(n):
                col = c0 + j
                for i in range(m):
                    r = r0 + i
                    neuron, t = r // timesteps, r % timesteps
                    d_prev = np.float32(0.0) if t == 0 else d_mem[neuron, col]
                    v, s, d_new = lif_step(cur[r, col], d_prev, c, lam, threshold)  # eq. 4-5
                    v_m[r, col] = v
                    spikes[r, col] = 1 if s else 0
                    d_mem[neuron, col] = d_new


@njit(cache=True)
def _backward(g_spike, v_m, spikes, ready, timesteps, sr, sc, c, lam, threshold, alpha,
              g_cur, g_mem, busy_until, stats):
    """Gradient filter steps in time-reversed arrival order: last row tile first, up each column."""
    rows, cols = g_spike.shape
    n_row_tiles = -(-rows // sr)
    for rt in range(n_row_tiles - 1, -1, -1):  # time-reversed: last row tile first
        r0 = rt * sr
        for c0 in range(0, cols, sc):
            m = min(sr, rows - r0)
            n = min(sc, cols - c0)
            _filter_schedule(ready, r0, c0, m, n, True, busy_until, stats)
            for j in range(n):
                col = c0 + j
                for i in range(m - 1, -1, -1):
                    r = r0 + i
                    neuron, t = r // timesteps, r % timesteps
                    g_next = np.float32(0.0) if t == timesteps - 1 else g_mem[neuron, col]
                    gi, gv = lif_grad_step(g_spike[r, col], v_m[r, col], spikes[r, col] != 0, g_next,
                                           c, lam, threshold, alpha)  # eq. 17, 22, 23
                    g_cur[r, col] = gi
                    g_mem[neuron, col] = gv


def _check_rows(name: str, arr: np.ndarray, timesteps: int) -> None:
    if arr.ndim != 2 or arr.shape[0] % timesteps:
        raise ConfigError(f"iir bank: {name} must be (neurons * T, channels) with T = {timesteps}, got {arr.shape}")


def _stream_arrivals(rows: int, cols: int, sr: int, sc: int, reverse: bool) -> np.ndarray:
    """Arrival cycles when samples stream in back to back, one per filter per cycle, in tile order."""
    ready = np.empty((rows, cols), np.int64)
    per_filter = np.zeros(sc, np.int64)
    row_tiles = range(0, rows, sr)
    for r0 in (reversed(row_tiles) if reverse else row_tiles):
        for c0 in range(0, cols, sc):
            m, n = min(sr, rows - r0), min(sc, cols - c0)
            order = np.arange(m)[::-1] if reverse else np.arange(m)
            ready[r0 + order, c0:c0 + n] = per_filter[None, :n] + np.arange(m)[:, None]
            per_filter[:n] += m
    return ready


def _timing(rows: int, cols: int, sc: int, busy_until: np.ndarray, stats: np.ndarray) -> BankTiming:
    return BankTiming(-(-cols // sc) * rows, int(busy_until.max()), int(stats[0]))


def bank_forward(current: np.ndarray, timesteps: int, array: ArrayConfig, neuron: Neuron | None,
                 ready: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, BankTiming]:
    """Currents `(neurons*T, channels)` -> `(v_m float32, spikes uint8, timing)` through the filter bank
    of LIF neurons, or with `neuron=None` of output accumulators (eq. 18).

    `ready` holds the cycle each current left the array (`GemmRun.ready`);
    without it the currents stream in back to back.
    """
    cur = np.ascontiguousarray(current, np.float32)
    _check_rows("current", cur, timesteps)
    rows, cols = cur.shape
    ready = (_stream_arrivals(rows, cols, array.rows, array.cols, False) if ready is None
             else np.ascontiguousarray(ready, np.int64))
    v_m = np.empty_like(cur)
    spikes = np.empty(cur.shape, np.uint8)
    d_mem = np.zeros((rows // timesteps, cols), np.float32)
    busy = np.zeros(array.cols, np.int64)
    stats = np.zeros(1, np.int64)
    c, lam, threshold = (1.0, 0.0, np.inf) if neuron is None else (neuron.c, neuron.lam, neuron.threshold)
    _forward(cur, ready, timesteps, array.rows, array.cols, c, lam, threshold, v_m, spikes, d_mem, busy, stats)
    return v_m, spikes, _timing(rows, cols, array.cols, busy, stats)


def bank_backward(g_spike: np.ndarray, v_m: np.ndarray, spikes: np.ndarray, timesteps: int,
                  array: ArrayConfig, neuron: Neuron) -> tuple[np.ndarray, BankTiming]:
    """dL/dv_sp `(neurons*T, channels)` -> `(dL/di_in float32, timing)`, streamed in time-reversed order."""
    gs = np.ascontiguousarray(g_spike, np.float32)
    _check_rows("g_spike", gs, timesteps)
    if v_m.shape != gs.shape or spikes.shape != gs.shape:
        raise ConfigError(f"iir bank: v_m {v_m.shape} and spikes {spikes.shape} must match g_spike {gs.shape}")
    rows, cols = gs.shape
    ready = _stream_arrivals(rows, cols, array.rows, array.cols, True)
    g_cur = np.empty_like(gs)
    g_mem = np.zeros((rows // timesteps, cols), np.float32)
    busy = np.zeros(array.cols, np.int64)
    stats = np.zeros(1, np.int64)
    _backward(gs, np.ascontiguousarray(v_m, np.float32), np.ascontiguousarray(spikes, np.uint8),
              ready, timesteps, array.rows, array.cols, neuron.c, neuron.lam, neuron.threshold, neuron.alpha,
              g_cur, g_mem, busy, stats)
    return g_cur, _timing(rows, cols, array.cols, busy, stats)
