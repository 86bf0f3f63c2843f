"""A float32 matrix product whose every element is summed in one fixed order (eq. 8-9, 12).

`matmul(a, b)[i, j] = sum_p a[i, p] * b[p, j]`, accumulated in float32 from +0 over
`p = 0, 1, ..., K-1` in that order, one rounded product and one rounded addition per term
(no fused multiply-add: numba without fastmath does not contract them, so a vector lane and
a scalar remainder compute the same). Nothing else enters an element: not how many rows the
call has, which rows are beside it, the thread count or the CPU's BLAS kernel. So any subset
of rows (a split FP or IG slice) gives exactly the unsplit product's rows, on every machine;
a BLAS GEMM does not promise that (its blocking and edge kernels vary with the call's shape).

Terms with a zero factor are skipped (spike inputs and input gradients are mostly zeros).
That changes nothing for finite operands: the sum starts at +0 and so is never -0, and
adding +-0 to it returns it unchanged. Rows are independent and run in parallel (`prange`);
within a row the nonzero terms are applied in groups of up to eight, each output element
still receiving them one after the other, and the loop over output columns vectorises. With
fewer than 16 columns and float operands the product runs as `(b^T a^T)^T`, which vectorises
along the rows instead: the same terms in the same order (`x * y == y * x` in IEEE).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_ROWS = 64  # rows per parallel work item (they share the scratch buffers)
_NARROW = 16  # fewer output columns than this leave the vector units idle


@njit(cache=True, error_model="numpy", inline="always")
def row_product(out, i, idx, val, nz, b):
    """out[i] = sum over q < nz, in order, of val[q] * b[idx[q]], from +0 (the first group of
    terms is written, the others added in groups of 8, 4, 2, 1). Plain 2-D indexing: a row
    view per term would cost a reference count update each."""
    n = out.shape[1]
    zero = np.float32(0.0)
    if nz == 0:
        for j in range(n):
            out[i, j] = zero
        return
    first = 4 if nz >= 4 else 2 if nz >= 2 else 1
    a0, a1, a2, a3 = val[0], val[min(1, nz - 1)], val[min(2, nz - 1)], val[min(3, nz - 1)]
    p0, p1, p2, p3 = idx[0], idx[min(1, nz - 1)], idx[min(2, nz - 1)], idx[min(3, nz - 1)]
    if first == 4:
        for j in range(n):
            out[i, j] = (((zero + a0 * b[p0, j]) + a1 * b[p1, j]) + a2 * b[p2, j]) + a3 * b[p3, j]
    elif first == 2:
        for j in range(n):
            out[i, j] = (zero + a0 * b[p0, j]) + a1 * b[p1, j]
    else:
        for j in range(n):
            out[i, j] = zero + a0 * b[p0, j]
    q = first
    while q + 8 <= nz:
        a0, a1, a2, a3 = val[q], val[q + 1], val[q + 2], val[q + 3]
        a4, a5, a6, a7 = val[q + 4], val[q + 5], val[q + 6], val[q + 7]
        p0, p1, p2, p3 = idx[q], idx[q + 1], idx[q + 2], idx[q + 3]
        p4, p5, p6, p7 = idx[q + 4], idx[q + 5], idx[q + 6], idx[q + 7]
        for j in range(n):
            out[i, j] = ((((((((out[i, j] + a0 * b[p0, j]) + a1 * b[p1, j]) + a2 * b[p2, j]) + a3 * b[p3, j])
                            + a4 * b[p4, j]) + a5 * b[p5, j]) + a6 * b[p6, j]) + a7 * b[p7, j])
        q += 8
    if q + 4 <= nz:
        a0, a1, a2, a3 = val[q], val[q + 1], val[q + 2], val[q + 3]
        p0, p1, p2, p3 = idx[q], idx[q + 1], idx[q + 2], idx[q + 3]
        for j in range(n):
            out[i, j] = (((out[i, j] + a0 * b[p0, j]) + a1 * b[p1, j]) + a2 * b[p2, j]) + a3 * b[p3, j]
        q += 4
    if q + 2 <= nz:
        a0, a1, p0, p1 = val[q], val[q + 1], idx[q], idx[q + 1]
        for j in range(n):
            out[i, j] = (out[i, j] + a0 * b[p0, j]) + a1 * b[p1, j]
        q += 2
    if q < nz:
        a0, p0 = val[q], idx[q]
        for j in range(n):
            out[i, j] = out[i, j] + a0 * b[p0, j]


@njit(cache=True, parallel=True, error_model="numpy")
def _matmul(a, b, out):
    m, k = a.shape
    for blk in prange((m + _ROWS - 1) // _ROWS):
        idx = np.empty(k, np.intp)
        val = np.empty(k, np.float32)
        for i in range(blk * _ROWS, min(m, (blk + 1) * _ROWS)):
            nz = 0
            for p in range(k):  # the row's nonzero terms, in order (branch free)
                v = np.float32(a[i, p])
                idx[nz] = p
                val[nz] = v
                nz += v != 0
            row_product(out, i, idx, val, nz, b)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a (M, K) @ b (K, N)` -> (M, N) float32, each element in the fixed order above.

    `a` may be float32 or uint8 spikes (exact 0/1 factors); `b` is used as float32."""
    a = np.ascontiguousarray(a if a.dtype == np.uint8 else np.asarray(a, np.float32))
    b = np.ascontiguousarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not chain")
    if b.shape[1] < _NARROW < a.shape[0] and a.dtype != np.uint8:  # few columns (spikes are better
        # skipped row by row): vectorise along the rows instead, as (b^T a^T)^T -- the same terms
        return np.ascontiguousarray(matmul(b.T, a.T).T)
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    _matmul(a, b, out)
    return out
