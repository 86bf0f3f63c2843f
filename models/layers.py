"""Synaptic layers as three pure functions each: forward (FP), weight gradient (WG), input gradient (IG).

Every function works on *rows*: the leading axis folds timesteps and batch (Table IV's
`H_out * W_out * T` rows per sample), so a caller may pass any subset of rows. Spatial
tensors are `(rows, H, W, C)`, weights `(K, K, C, F)` for convolutions and
`(Q_in, Q_out)` for dense layers. Inputs may be uint8 spikes (0/1) or float32 values
(an image's current, a sum or average pool's window counts); all results are float32.
Convolutions take a zero padding `p` and a stride `s`: `H_out = (H + 2p - K) // s + 1`.

eq. 8-9 (FP), eq. 13 (WG, summed over timesteps and batch), eq. 12 (IG).
Spike inputs (uint8) of stride-1 convolutions run through event-driven numba kernels
(`models.conv_kernels`); float operands and strided convolutions through float32 GEMMs
whose unfolded buffers stay under `_CHUNK_BYTES`. The FP and IG products, which a split
slice computes on a subset of rows, use the fixed-order `models.gemm.matmul`, so a row's
value never depends on the rows beside it.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from workloads.network import Neuron, PoolKind, conv_output_size

from .conv_kernels import conv_ig_blocks, conv_ig_rows, spike_conv_fp, spike_conv_lif, spike_conv_wg
from .gemm import matmul
from .simd import TAPS


_CHUNK_BYTES = 64 * 2**20  # bound on the unfolded (im2col) buffer of one GEMM
_IG_BLOCKS_ABOVE = 2**20  # transposed weights larger than a core's L2 cache: `conv_ig_blocks` (measured on
# AMD EPYC, one thread: 1.1-1.6x faster there and for up to 32 channels, 0.9x for 64-128 channels in L2)


def _chunks(rows: int, row_bytes: int):
    step = max(1, _CHUNK_BYTES // max(1, row_bytes))
    for start in range(0, rows, step):
        yield slice(start, min(rows, start + step))


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def _im2col(xp: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """(R, Hp, Wp, C) -> (R * Ho * Wo, K * K * C) float32: the windows at every `stride`-th position,
    columns ordered (ky, kx, c) like the weights."""
    win = np.lib.stride_tricks.sliding_window_view(xp, (kernel, kernel), axis=(1, 2))
    win = win[:, ::stride, ::stride]  # R, Ho, Wo, C, K, K
    r, ho, wo, c = win.shape[:4]
    cols = np.empty((r, ho, wo, kernel, kernel, c), np.float32)
    cols[...] = win.transpose(0, 1, 2, 4, 5, 3)
    return cols.reshape(r * ho * wo, kernel * kernel * c)


def event_driven(x: np.ndarray, stride: int) -> bool:
    """Whether a convolution input takes the event-driven spike kernels: binary spikes (uint8 0/1; a sum
    or average pool sends float32 counts) into a stride-1 convolution (the kernels' taps are contiguous)."""
    return x.dtype == np.uint8 and stride == 1


def conv_fp(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: int, stride: int = 1) -> np.ndarray:
    """Convolution (correlation) + bias: (R, H, W, C) -> (R, Ho, Wo, F) float32 (eq. 8-9).

    Spikes into a stride-1 convolution run event driven; anything else as im2col + GEMM in row chunks."""
    k, _, c, f = w.shape
    rows, h, wd, _ = x.shape
    ho, wo = conv_output_size(h, k, padding, stride), conv_output_size(wd, k, padding, stride)
    out = np.empty((rows, ho, wo, f), np.float32)
    bias = np.zeros(f, np.float32) if b is None else np.asarray(b, np.float32)
    wf = np.ascontiguousarray(w, np.float32)
    if event_driven(x, stride):
        spike_conv_fp(np.ascontiguousarray(x), wf, bias, padding, out)
        return out
    xp = _pad(x, padding)
    wm = wf.reshape(k * k * c, f)
    for sl in _chunks(rows, ho * wo * k * k * c * 4):
        out[sl] = (matmul(_im2col(xp[sl], k, stride), wm) + bias).reshape(-1, ho, wo, f)
    return out


def spike_conv_lif_fp(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: int, neuron: Neuron) -> np.ndarray:
    """`conv_fp` of spikes `x` (T, B, H, W, C) uint8 (stride 1) and the layer's LIF bank (eq. 8-9, 4-5)
    in one pass -> packed states (T, B, Ho, Wo, F) uint8 (`models.neuron`), with no float32 currents
    for all timesteps (`spike_conv_lif`); bit for bit `conv_fp` then `lif_forward_packed`."""
    k, _, c, f = w.shape
    t, batch, h, wd, _ = x.shape
    state = np.empty((t, batch, conv_output_size(h, k, padding, 1), conv_output_size(wd, k, padding, 1), f), np.uint8)
    bias = np.zeros(f, np.float32) if b is None else np.asarray(b, np.float32)
    spike_conv_lif(np.ascontiguousarray(x), np.ascontiguousarray(w, np.float32), bias, padding, neuron.c, neuron.lam,
                   neuron.threshold, neuron.alpha, state)
    return state


def conv_wg(x: np.ndarray, g: np.ndarray, kernel: int, padding: int,
            stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """dL/dW (K, K, C, F) and dL/db (F,) from inputs (R, H, W, C) and dL/di (R, Ho, Wo, F) (eq. 13)."""
    g = np.ascontiguousarray(g, np.float32)
    rows, ho, wo, f = g.shape
    c = x.shape[-1]
    g2 = g.reshape(-1, f)
    gb = np.ones(g2.shape[0], np.float32) @ g2  # a GEMV: numpy's column sums are slow for small F
    if event_driven(x, stride):
        return spike_conv_wg(np.ascontiguousarray(x), g, kernel, padding, get_num_threads()), gb
    xp = _pad(x, padding)
    gw = np.zeros((kernel * kernel * c, f), np.float32)
    for sl in _chunks(rows, ho * wo * kernel * kernel * c * 4):
        gw += _im2col(xp[sl], kernel, stride).T @ g[sl].reshape(-1, f)
    return gw.reshape(kernel, kernel, c, f), gb


def conv_ig(g: np.ndarray, w: np.ndarray, padding: int, in_hw: tuple[int, int], stride: int = 1) -> np.ndarray:
    """dL/dx (R, H, W, C) from dL/di (R, Ho, Wo, F) (eq. 12): the transposed weights give every
    tap's contribution (the fixed-order product of `models.gemm.matmul`), summed onto the input
    grid (output (yo, xo) tap (ky, kx) lands on input (yo s + ky - p, xo s + kx - p)) in one
    fused pass, `conv_ig_rows`, with no unfolded buffer."""
    k, _, c, f = w.shape
    rows = g.shape[0]
    out = np.zeros((rows,) + tuple(in_hw) + (c,), np.float32)
    g = np.ascontiguousarray(g, np.float32)
    wt = np.asarray(w, np.float32).reshape(k * k * c, f).T
    lanes = 16 if c % 16 == 0 else 8
    if k * k == TAPS and c % lanes == 0 and (c <= 32 or wt.nbytes > _IG_BLOCKS_ABOVE):  # a channel block at a time
        wb = wt.reshape(f, TAPS, c // lanes, lanes).transpose(2, 0, 1, 3)
        conv_ig_blocks(g, np.ascontiguousarray(wb).reshape(c // lanes, f, TAPS * lanes), padding, stride, out)
    else:
        conv_ig_rows(g, np.ascontiguousarray(wt), k, padding, stride, out)
    return out


def dense_fp(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """(R, Q_in) -> (R, Q_out) float32 (eq. 8-9)."""
    out = matmul(x, w)
    if b is not None:
        out += b
    return out


def dense_wg(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dW (Q_in, Q_out), dL/db (Q_out,) summed over rows (eq. 13)."""
    return np.asarray(x, np.float32).T @ g, g.sum(0, dtype=np.float32)


def dense_ig(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dL/dx (R, Q_in) from dL/di (R, Q_out) (eq. 12)."""
    return matmul(g, w.T)


@njit(cache=True, parallel=True)
def _pool_fp(x, size):
    rows, h, w, c = x.shape
    ho, wo = h // size, w // size
    out = np.empty((rows, ho, wo, c), x.dtype)
    idx = np.empty((rows, ho, wo, c), np.uint8)
    for r in prange(rows):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    best = x[r, y * size, xx * size, ch]
                    arg = 0
                    for dy in range(size):
                        for dx in range(size):
                            val = x[r, y * size + dy, xx * size + dx, ch]
                            if val > best:
                                best = val
                                arg = dy * size + dx
                    out[r, y, xx, ch] = best
                    idx[r, y, xx, ch] = arg
    return out, idx


@njit(cache=True, parallel=True, error_model="numpy")
def _maxpool_state(state, size, bit, shift, positions, pooled, idx):
    """`_pool_fp` of the spikes `(state & bit) >> shift` (0/1) without materialising them: a window's
    maximum is 1 if any of its positions spiked, its winner the first spiking position in row-major
    window order, 0 if none spiked (as `_pool_fp` breaks ties). Branch free; `state`, `pooled` and
    `idx` may be uint8 or uint64 words of eight uint8 lanes (`bit` then has the bit in every
    lane): a lane's 0/1 never carries into the next."""
    rows = state.shape[0]
    ho, wo, c = pooled.shape[1], pooled.shape[2], pooled.shape[3]
    if size == 2 and c == 1:  # one word a position: the window in registers, the row's words vectorised
        at1, at2, at3 = positions[1], positions[2], positions[3]
        for r in prange(rows):
            for y in range(ho):
                top, bottom = state[r, 2 * y].reshape(state.shape[2]), state[r, 2 * y + 1].reshape(state.shape[2])
                pr, ir = pooled[r, y].reshape(wo), idx[r, y].reshape(wo)
                for xx in range(np.uint64(wo)):  # unsigned: no negative-index fix-up, vectorises
                    s0 = (top[2 * xx] & bit) >> shift
                    s1 = (top[2 * xx + 1] & bit) >> shift
                    s2 = (bottom[2 * xx] & bit) >> shift
                    s3 = (bottom[2 * xx + 1] & bit) >> shift
                    first = ((s1 & ~s0) * at1) | ((s2 & ~(s0 | s1)) * at2)
                    ir[xx] = first | ((s3 & ~(s0 | s1 | s2)) * at3)
                    pr[xx] = s0 | s1 | s2 | s3
        return
    for r in prange(rows):
        for y in range(ho):
            pr, ir = pooled[r, y], idx[r, y]
            for dy in range(size):
                src = state[r, y * size + dy]
                for dx in range(size):
                    pos = dy * size + dx
                    at = positions[pos]
                    for xx in range(wo):
                        sx = np.uint64(xx * size + dx)
                        for ch in range(np.uint64(c)):
                            s = (src[sx, ch] & bit) >> shift
                            if pos == 0:
                                pr[xx, ch] = s
                                ir[xx, ch] = s * 0
                            else:
                                ir[xx, ch] |= (s & ~pr[xx, ch]) * at  # pos where this is the first spike
                                pr[xx, ch] |= s


def maxpool_spikes(state: np.ndarray, size: int, bit: int) -> tuple[np.ndarray, np.ndarray]:
    """`maxpool_fp` of the spikes packed as bit `bit` of the uint8 `state` (R, H, W, C), bit for bit
    the same pooled spikes and winners, with no separate spike array; 8 channels at a time when C
    is a multiple of 8."""
    r, h, w, c = state.shape
    pooled = np.empty((r, h // size, w // size, c), np.uint8)
    idx = np.empty((r, h // size, w // size, c), np.uint8)
    state = np.ascontiguousarray(state)
    shift = int(bit).bit_length() - 1
    words = c % 8 == 0
    dtype, unit = (np.uint64, 0x0101010101010101) if words else (np.uint8, 1)
    positions = np.arange(size * size, dtype=dtype)
    view = (lambda a: a.view(np.uint64)) if words else (lambda a: a)
    _maxpool_state(view(state), size, dtype(int(bit) * unit), dtype(shift), positions, view(pooled), view(idx))
    return pooled, idx


@njit(cache=True, parallel=True)
def _pool_ig(g, idx, size):
    rows, ho, wo, c = g.shape
    out = np.zeros((rows, ho * size, wo * size, c), np.float32)
    for r in prange(rows):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    a = idx[r, y, xx, ch]
                    out[r, y * size + a // size, xx * size + a % size, ch] = g[r, y, xx, ch]
    return out


def maxpool_fp(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping size x size max-pool -> (pooled, index of the winner in its window).

    Ties (frequent with binary spikes) go to the first position in row-major window order."""
    return _pool_fp(np.ascontiguousarray(x), size)


def maxpool_ig(g: np.ndarray, idx: np.ndarray, size: int) -> np.ndarray:
    """Route dL/d(pooled) to the winning position of each window; zero elsewhere."""
    return _pool_ig(np.ascontiguousarray(g, np.float32), idx, size)


def pool_fp(x: np.ndarray, size: int, kind: PoolKind) -> tuple[np.ndarray, np.ndarray | None]:
    """Non-overlapping size x size pooling (R, H, W, C) -> (pooled, the max-pool's winners or None).

    MAX: `maxpool_fp`, same dtype. SUM: each window's sum, AVG: that sum / size^2, both float32
    (of spikes: the window's spike count, exact, and the count / size^2)."""
    if kind is PoolKind.MAX:
        return maxpool_fp(x, size)
    r, h, w, c = x.shape
    sums = x.reshape(r, h // size, size, w // size, size, c).sum(axis=(2, 4), dtype=np.float32)
    return (sums if kind is PoolKind.SUM else sums / np.float32(size * size)), None


def pool_ig(g: np.ndarray, idx: np.ndarray | None, size: int, kind: PoolKind) -> np.ndarray:
    """dL/d(input) (R, H, W, C) float32 from dL/d(pooled) (R, H/size, W/size, C): MAX routes it to each
    window's winner (`idx`); SUM copies it to every element of the window; AVG copies it / size^2."""
    if kind is PoolKind.MAX:
        return maxpool_ig(g, idx, size)
    g = np.asarray(g, np.float32)
    if kind is PoolKind.AVG:
        g = g / np.float32(size * size)
    return np.repeat(np.repeat(g, size, axis=1), size, axis=2)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over the batch of eq. 7 and its gradient eq. 20 (divided by the batch size).

    `logits` are the output layer's last-timestep membrane potentials (B, N)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -logp[np.arange(n), labels].mean()
    g = np.exp(logp)
    g[np.arange(n), labels] -= 1.0  # eq. 20
    return float(loss), (g / n).astype(np.float32)
