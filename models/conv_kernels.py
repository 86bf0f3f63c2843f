"""numba kernels for convolutions in NHWC layout, parallel over rows (the spike kernels: stride 1).

They use what spikes give. With a binary input the forward pass is event driven: each
input spike adds the weight vector `w[ky, kx, c, :]` to the K*K outputs it reaches (no
multiplications; a branch-free scan lists a row's spikes first), and the weight gradient adds the
output-gradient vector `g[r, yo, xo, :]` to `gw[ky, kx, c, :]` once per spike and tap.
`spike_conv_lif` fuses the forward pass with the layer's LIF bank (eq. 4-5), one sample at a
time, so the float32 currents exist for one timestep only.
Dense float operands (an image fed as a current) go through float32 GEMMs instead; the
input gradient `conv_ig_rows` sums each output's tap vector in the fixed GEMM order and
folds it straight onto the input grid.
The innermost loop always runs over the contiguous channel axis.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .gemm import row_product
from .neuron import lif_packed_span


@njit(cache=True, error_model="numpy")
def _spike_list(x, r):
    """Row `r`'s spikes in (yi, xi, c) order -> (yi, xi, c, count): a branch-free scan, so the
    kernels below loop over spikes only (an unpredictable branch per input costs more)."""
    _, h, wd, c = x.shape
    sy = np.empty(h * wd * c, np.intp)
    sx = np.empty(h * wd * c, np.intp)
    sc = np.empty(h * wd * c, np.intp)
    n = 0
    for yi in range(h):
        for xi in range(wd):
            for ch in range(c):
                sy[n] = yi
                sx[n] = xi
                sc[n] = ch
                n += x[r, yi, xi, ch] != 0
    return sy, sx, sc, n


@njit(cache=True, error_model="numpy")
def _reversed_taps(w):
    """(K, K, C, F) weights -> (K, C, K*F) with the kernel columns reversed: `wr[ky, c, :] =
    w[ky, ::-1, c, :].ravel()`, the K taps one spike adds to K neighbouring outputs of a row."""
    k, _, c, f = w.shape
    wr = np.empty((k, c, k * f), np.float32)
    for ky in range(k):
        for ch in range(c):
            for kx in range(k):
                for j in range(f):
                    wr[ky, ch, (k - 1 - kx) * f + j] = w[ky, kx, ch, j]
    return wr


@njit(cache=True, error_model="numpy", inline="always")
def _conv_row(x, r, wr, bias, padding, o):
    """o (Ho, Wo*F) = the convolution of row `r` of the spikes `x` (R, H, W, C): bias, then every
    spike's taps in spike order (see `spike_conv_fp`)."""
    k, c = wr.shape[0], wr.shape[1]
    f = bias.shape[0]
    ho, wo = o.shape[0], o.shape[1] // f
    sy, sx, sc, n = _spike_list(x, r)
    for yo in range(ho):
        for xo in range(wo):
            for j in range(f):
                o[yo, xo * f + j] = bias[j]
    for q0 in range(n):
        yi, xi, ch = sy[q0], sx[q0], sc[q0]
        x0 = xi + padding - (k - 1)  # output column of the first (reversed) tap
        for ky in range(k):
            yo = yi + padding - ky
            if yo < 0 or yo >= ho:
                continue
            if x0 >= 0 and x0 + k <= wo:
                dst = o[yo, x0 * f:(x0 + k) * f]
                src = wr[ky, ch]
                for q in range(k * f):
                    dst[q] += src[q]
            else:
                for kk in range(k):
                    xo = x0 + kk
                    if 0 <= xo < wo:
                        for j in range(f):
                            o[yo, xo * f + j] += wr[ky, ch, kk * f + j]


@njit(cache=True, parallel=True, error_model="numpy")
def spike_conv_fp(x, w, bias, padding, out):
    """out[r, yo, xo, :] = bias + sum over spikes x[r, yi, xi, c] = 1 of w[yi-yo+p, xi-xo+p, c, :].

    For one spike and one kernel row `ky` the K taps land on K neighbouring outputs, so with
    the kernel columns reversed (`_reversed_taps`) they are one contiguous vector add of K*F
    floats; only taps that fall off the border go one by one."""
    rows = x.shape[0]
    ho, wo, f = out.shape[1], out.shape[2], out.shape[3]
    wr = _reversed_taps(w)
    for r in prange(rows):
        _conv_row(x, r, wr, bias, padding, out[r].reshape(ho, wo * f))


@njit(cache=True, parallel=True, error_model="numpy")
def spike_conv_lif(x, w, bias, padding, c, lam, threshold, alpha, state):
    """`spike_conv_fp` then `models.neuron.lif_forward_packed`, fused: spikes `x` (T, B, H, W, C) ->
    packed LIF states `state` (T, B, Ho, Wo, F) (eq. 8-9, 4-5). One sample per work item, its
    timesteps in order, the currents of one timestep in a buffer that stays in cache: the (T, B, Ho,
    Wo, F) float32 currents never exist. The same operations on every element as the two kernels,
    so the same states bit for bit."""
    t_steps, batch = x.shape[0], x.shape[1]
    ho, wo, f = state.shape[2], state.shape[3], state.shape[4]
    n = ho * wo * f
    rows = x.reshape((t_steps * batch,) + x.shape[2:])
    st = state.reshape(t_steps, batch, n)
    wr = _reversed_taps(w)
    for b in prange(batch):
        cur = np.empty((ho, wo * f), np.float32)
        d = np.zeros(n, np.float32)
        for t in range(t_steps):
            _conv_row(rows, t * batch + b, wr, bias, padding, cur)
            lif_packed_span(cur.reshape(n), d, c, lam, threshold, alpha, st[t, b], np.uint64(0), np.uint64(n))


@njit(cache=True, parallel=True, error_model="numpy")
def spike_conv_wg(x, g, kernel, padding, nthreads):
    """gw[ky, kx, c, :] = sum over spikes x[r, yi, xi, c] = 1 of g[r, yi+p-ky, xi+p-kx, :].

    The K taps of one kernel row read K neighbouring output gradients, a contiguous block of
    K*F floats, accumulated into `(ky, c, reversed kx, F)` order and reordered at the end.
    One partial sum per thread (`nthreads`, from `numba.get_num_threads()`)."""
    rows, h, wd, c = x.shape
    ho, wo, f = g.shape[1], g.shape[2], g.shape[3]
    k = kernel
    parts = np.zeros((nthreads, k, c, k * f), np.float32)
    per = (rows + nthreads - 1) // nthreads
    for t in prange(nthreads):
        acc = parts[t]
        for r in range(t * per, min(rows, (t + 1) * per)):
            gr = g[r].reshape(ho, wo * f)
            sy, sx, sc, n = _spike_list(x, r)
            for q0 in range(n):
                yi, xi, ch = sy[q0], sx[q0], sc[q0]
                x0 = xi + padding - (k - 1)
                for ky in range(k):
                    yo = yi + padding - ky
                    if yo < 0 or yo >= ho:
                        continue
                    if x0 >= 0 and x0 + k <= wo:
                        dst = acc[ky, ch]
                        src = gr[yo, x0 * f:(x0 + k) * f]
                        for q in range(k * f):
                            dst[q] += src[q]
                    else:
                        for kk in range(k):
                            xo = x0 + kk
                            if 0 <= xo < wo:
                                for j in range(f):
                                    acc[ky, ch, kk * f + j] += gr[yo, xo * f + j]
    total = parts[0].copy()
    for t in range(1, nthreads):
        total += parts[t]
    gw = np.empty((k, k, c, f), np.float32)
    for ky in range(k):
        for ch in range(c):
            for kk in range(k):
                for j in range(f):
                    gw[ky, k - 1 - kk, ch, j] = total[ky, ch, kk * f + j]
    return gw


@njit(cache=True, parallel=True, error_model="numpy")
def conv_ig_rows(g, wt, kernel, padding, stride, out):
    """out[r] += every tap of every output: the GEMM `matmul(g[r], wt)` folded onto the input
    grid without the unfolded buffer.

    `g` (R, Ho, Wo, F), `wt` (F, K*K*C) the transposed weights, `out` (R, H, W, C) zeroed. The
    tap vector of output (yo, xo) is summed exactly as `models.gemm.matmul` sums it (from +0 over
    the nonzero g[r, yo, xo, f], f ascending) and added onto the input grid in the order (yo,
    then xo), so the result equals that GEMM folded tap by tap, bit for bit, one row at a time. An
    output whose gradient is all zero adds +0 everywhere, which changes nothing, and is skipped."""
    rows, ho, wo, f = g.shape
    h, wd, c = out.shape[1], out.shape[2], out.shape[3]
    k = kernel
    kkc = wt.shape[1]
    for r in prange(rows):
        tap = np.empty((1, kkc), np.float32)
        tf = tap.reshape(kkc)
        of = out[r].reshape(h * wd * c)
        idx = np.empty(f, np.intp)
        val = np.empty(f, np.float32)
        for yo in range(ho):
            for xo in range(wo):
                nz = 0
                for p in range(f):  # the nonzero terms, in order (branch free)
                    v = g[r, yo, xo, p]
                    idx[nz] = p
                    val[nz] = v
                    nz += v != 0
                if nz == 0:
                    continue
                row_product(tap, 0, idx, val, nz, wt)  # the GEMM's own row kernel: the same sums
                for ky in range(k):
                    yi = yo * stride + ky - padding
                    if yi < 0 or yi >= h:
                        continue
                    for kx in range(k):
                        xi = xo * stride + kx - padding
                        if xi < 0 or xi >= wd:
                            continue
                        src = np.uint64((ky * k + kx) * c)
                        dst = np.uint64((yi * wd + xi) * c)
                        for ch in range(np.uint64(c)):  # unsigned: no negative-index fix-up, vectorises
                            of[dst + ch] += tf[src + ch]
