"""numba kernels for stride-1 convolutions in NHWC layout, parallel over rows.

They use what spikes give. With a binary input the forward pass is event driven: each
input spike adds the weight vector `w[ky, kx, c, :]` to the K*K outputs it reaches (no
multiplications, silent inputs cost one comparison), and the weight gradient adds the
output-gradient vector `g[r, yo, xo, :]` to `gw[ky, kx, c, :]` once per spike and tap.
Dense float operands (input gradients, an image fed as a current) go through float32
GEMMs instead; `col2im_add` folds the GEMM's per-tap products back onto the input grid.
The innermost loop always runs over the contiguous channel axis.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def spike_conv_fp(x, w, bias, padding, out):
    """out[r, yo, xo, :] = bias + sum over spikes x[r, yi, xi, c] = 1 of w[yi-yo+p, xi-xo+p, c, :]."""
    rows, h, wd, c = x.shape
    k = w.shape[0]
    f = w.shape[3]
    ho, wo = out.shape[1], out.shape[2]
    for r in prange(rows):
        for yo in range(ho):
            for xo in range(wo):
                for j in range(f):
                    out[r, yo, xo, j] = bias[j]
        for yi in range(h):
            for xi in range(wd):
                for ch in range(c):
                    if x[r, yi, xi, ch] == 0:
                        continue
                    for ky in range(k):
                        yo = yi + padding - ky
                        if yo < 0 or yo >= ho:
                            continue
                        for kx in range(k):
                            xo = xi + padding - kx
                            if xo < 0 or xo >= wo:
                                continue
                            for j in range(f):
                                out[r, yo, xo, j] += w[ky, kx, ch, j]


@njit(cache=True, parallel=True)
def spike_conv_wg(x, g, kernel, padding, nthreads):
    """gw[ky, kx, c, :] = sum over spikes x[r, yi, xi, c] = 1 of g[r, yi+p-ky, xi+p-kx, :].

    One partial sum per thread (`nthreads`, from `numba.get_num_threads()`), added at the end."""
    rows, h, wd, c = x.shape
    ho, wo, f = g.shape[1], g.shape[2], g.shape[3]
    parts = np.zeros((nthreads, kernel, kernel, c, f), np.float32)
    per = (rows + nthreads - 1) // nthreads
    for t in prange(nthreads):
        gw = parts[t]
        for r in range(t * per, min(rows, (t + 1) * per)):
            for yi in range(h):
                for xi in range(wd):
                    for ch in range(c):
                        if x[r, yi, xi, ch] == 0:
                            continue
                        for ky in range(kernel):
                            yo = yi + padding - ky
                            if yo < 0 or yo >= ho:
                                continue
                            for kx in range(kernel):
                                xo = xi + padding - kx
                                if xo < 0 or xo >= wo:
                                    continue
                                for j in range(f):
                                    gw[ky, kx, ch, j] += g[r, yo, xo, j]
    out = parts[0].copy()
    for t in range(1, nthreads):
        out += parts[t]
    return out


@njit(cache=True, parallel=True)
def col2im_add(cols, padding, out):
    """out[r, yo+ky-p, xo+kx-p, :] += cols[r, yo, xo, ky, kx, :] for every tap that lands inside `out`."""
    rows, ho, wo, k, _, c = cols.shape
    h, wd = out.shape[1], out.shape[2]
    for r in prange(rows):
        for yo in range(ho):
            for ky in range(k):
                yi = yo + ky - padding
                if yi < 0 or yi >= h:
                    continue
                for xo in range(wo):
                    for kx in range(k):
                        xi = xo + kx - padding
                        if xi < 0 or xi >= wd:
                            continue
                        for ch in range(c):
                            out[r, yi, xi, ch] += cols[r, yo, xo, ky, kx, ch]
