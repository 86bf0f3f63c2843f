"""numba kernels for convolutions in NHWC layout, parallel over rows (the spike kernels: stride 1).

They use what spikes give. With a binary input the forward pass is event driven: each
input spike adds the weight vector `w[ky, kx, c, :]` to the K*K outputs it reaches (no
multiplications; a branch-free scan lists a row's spikes first), and the weight gradient adds the
output-gradient vector `g[r, yo, xo, :]` to `gw[ky, kx, c, :]` once per spike and tap.
`spike_conv_lif` fuses the forward pass with the layer's LIF bank (eq. 4-5), one sample at a
time, so the float32 currents exist for one timestep only.
With 8 outputs per position (and 16, in the forward pass) a scattered 8-float add per spike costs
more than the work itself; there the spikes become lane masks instead, and a whole output row (FP)
or a row of weight-gradient sums (WG) stays in 16-lane registers while every term is added to the
lanes whose input spiked (`simd.masked_sum`, `simd.masked_gather_sum`), in the same order.
Dense float operands (an image fed as a current) go through float32 GEMMs instead; the
input gradient `conv_ig_rows` sums each output's tap vector in the fixed GEMM order and
folds it straight onto the input grid.
The innermost loop always runs over the contiguous channel axis.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .neuron import lif_packed_span
from .gemm import row_product
from .simd import LANES, TAPS, add_rows, masked_gather_sum, masked_sum, taps_product, word8


@njit(cache=True, error_model="numpy")
def _element_codes(h, wd, c):
    """(H*W*C,) int64: each element of an (H, W, C) row as yi << 32 | xi << 16 | c, by its flat index,
    what `_spike_list` lists (`_decode` unpacks it; H, W, C < 2**16)."""
    codes = np.empty(h * wd * c, np.int64)
    e = 0
    for yi in range(h):
        for xi in range(wd):
            for ch in range(c):
                codes[e] = (yi << 32) | (xi << 16) | ch
                e += 1
    return codes


@njit(cache=True, error_model="numpy", inline="always")
def _decode(code):
    """(yi, xi, c) of an `_element_codes` code."""
    return code >> 32, (code >> 16) & 0xFFFF, code & 0xFFFF


@njit(cache=True, error_model="numpy", inline="always")
def _spike_list(x, r, codes, sp):
    """Row `r`'s spikes in (yi, xi, c) order into `sp`, as their `codes` -> their count. Eight inputs
    at a time: a word of eight silent inputs is skipped (`simd.word8`), the others are listed by a
    branch-free scan (an unpredictable branch per input costs more), so the kernels below loop over
    spikes only."""
    m = x.shape[1] * x.shape[2] * x.shape[3]
    flat = x[r].reshape(m)
    n = 0
    for e0 in range(0, m - 7, 8):
        if word8(flat, e0) == 0:
            continue
        for e in range(e0, e0 + 8):
            sp[n] = codes[e]
            n += flat[e] != 0
    for e in range(m - m % 8, m):
        sp[n] = codes[e]
        n += flat[e] != 0
    return n


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
def _add_block(dst, d0, src, s0, n):
    """dst[d0:d0 + n] += src[s0:s0 + n] (1-D float32, not overlapping), one spike's contiguous taps."""
    d, s = dst[d0:d0 + n], src[s0:s0 + n]
    for q in range(n):
        d[q] += s[q]


_GROUP_CHANNELS = 16  # from this many input channels the spike kernels sum several spikes' vectors in one pass
# (measured against one spike at a time, one thread: FP 1.1-1.5x and WG 1.0-1.3x faster for DVS128's
# conv2-conv6; 0.8-0.9x for 2 and 8 channels, where an input position holds one or two spikes)


@njit(cache=True, error_model="numpy", inline="always")
def _tap_row(o, wr, ch, ky, yo, x0, f, wo):
    """o[yo] += one spike's K taps of kernel row `ky` from output column `x0` (reversed taps,
    `_reversed_taps`): one contiguous add inside the grid, tap by tap at its border."""
    k = wr.shape[0]
    if x0 >= 0 and x0 + k <= wo:
        dst = o[yo, x0 * f:(x0 + k) * f]
        src = wr[ky, ch]
        for q in range(k * f):
            dst[q] += src[q]
        return
    for kk in range(k):
        xo = x0 + kk
        if 0 <= xo < wo:
            for j in range(f):
                o[yo, xo * f + j] += wr[ky, ch, kk * f + j]


@njit(cache=True, error_model="numpy", inline="always")
def _conv_row(x, r, wr, bias, padding, o, pos, sp, offs):
    """o (Ho, Wo*F) = the convolution of row `r` of the spikes `x` (R, H, W, C): bias, then every
    spike's taps in spike order (see `spike_conv_fp`); `pos`, `sp` the codes and the room `_spike_list` takes,
    `offs` room for C offsets. The spikes of one input position reach the same outputs: with
    `_GROUP_CHANNELS` channels or more and K*F a multiple of 8 their tap vectors are summed onto
    each output row in one pass (`simd.add_rows`, each element's additions still in spike order)
    where the taps are inside the grid."""
    k, c = wr.shape[0], wr.shape[1]
    f = bias.shape[0]
    kf = k * f
    ho, wo = o.shape[0], o.shape[1] // f
    n = _spike_list(x, r, pos, sp)
    for yo in range(ho):
        for xo in range(wo):
            for j in range(f):
                o[yo, xo * f + j] = bias[j]
    if c < _GROUP_CHANNELS or kf % 8 != 0:
        for q0 in range(n):
            yi, xi, ch = _decode(sp[q0])
            x0 = xi + padding - (k - 1)  # output column of the first (reversed) tap
            for ky in range(k):
                yo = yi + padding - ky
                if 0 <= yo < ho:
                    _tap_row(o, wr, ch, ky, yo, x0, f, wo)
        return
    of, wf = o.reshape(o.size), wr.reshape(wr.size)
    q0 = 0
    while q0 < n:
        yi, xi, _ = _decode(sp[q0])
        q1 = q0 + 1
        while q1 < n and sp[q1] >> 16 == sp[q0] >> 16:
            q1 += 1
        x0 = xi + padding - (k - 1)  # output column of the first (reversed) tap
        inside = x0 >= 0 and x0 + k <= wo
        for ky in range(k):
            yo = yi + padding - ky
            if yo < 0 or yo >= ho:
                continue
            if inside:
                for q in range(q0, q1):
                    offs[q - q0] = (ky * c + (sp[q] & 0xFFFF)) * kf
                add_rows(of, (yo * wo + x0) * f, wf, offs, q1 - q0, kf)
                continue
            for q in range(q0, q1):
                _tap_row(o, wr, sp[q] & 0xFFFF, ky, yo, x0, f, wo)
        q0 = q1


@njit(cache=True, error_model="numpy")
def _masked_operands(w, bias, width, padding):
    """What `_masked_conv_row` needs of a convolution with F = 8 or 16 outputs: its weights and bias
    tiled to 16 lanes (`wt` (K*K*C, 16), `start` (16,)), and for each term (ky, kx, c) in that order
    the offset of its weights in `wt` and of its first lane mask in a row's `mb` (`_lane_masks`: input
    rows padded by `padding`, `width` + 2 `padding` positions of F / 8 bytes per channel)."""
    k, _, c, f = w.shape
    row_bytes = (width + 2 * padding) * (f // 8)
    wt = np.empty((k * k * c, LANES), np.float32)
    start = np.empty(LANES, np.float32)
    woffs, moffs = np.empty(k * k * c, np.intp), np.empty(k * k * c, np.intp)
    for lane in range(LANES):
        start[lane] = bias[lane % f]
    q = 0
    for ky in range(k):
        for kx in range(k):
            for ch in range(c):
                for lane in range(LANES):
                    wt[q, lane] = w[ky, kx, ch, lane % f]
                woffs[q] = q * LANES
                moffs[q] = (ky * c + ch) * row_bytes + kx * (f // 8)
                q += 1
    return wt.reshape(wt.size), start, woffs, moffs


@njit(cache=True, error_model="numpy", inline="always")
def _lane_masks(x, r, padding, f, mb):
    """mb[(yi + p, c, xi + p)] = F / 8 bytes of 0xFF where x[r, yi, xi, c] spikes, else 0: bit l of a
    16-bit word read at an output position's bytes selects lane l of its 16 floats (two positions of
    F = 8 outputs, one of F = 16). The padding bytes, zeroed once, are never written."""
    h, wd, c = x.shape[1], x.shape[2], x.shape[3]
    fb = f // 8
    row_bytes = (wd + 2 * padding) * fb
    for yi in range(h):
        for ch in range(c):
            base = ((yi + padding) * c + ch) * row_bytes + padding * fb
            for xi in range(wd):
                on = np.uint8(255) * np.uint8(x[r, yi, xi, ch] != 0)
                for j in range(fb):
                    mb[base + xi * fb + j] = on


@njit(cache=True, error_model="numpy", inline="always")
def _masked_conv_row(x, r, padding, f, o, ops, mb):
    """`_conv_row` for F = 8 or 16 outputs whose row holds a multiple of 16 floats: each output row in
    registers, 16 lanes a vector, from the bias through every term (ky, kx, c) in order, each term's
    weights added to the lanes whose input spiked (`simd.masked_sum`; `ops` from `_masked_operands`,
    `mb` room for `_lane_masks`). An output element receives the same terms in the same order as in
    `_conv_row` (its spikes in (yi, xi, c) order are its terms in (ky, kx, c) order), so the same
    currents bit for bit, with no spike list and no scattered stores."""
    wt, start, woffs, moffs = ops
    c = x.shape[3]
    ho, row = o.shape[0], o.shape[1]
    row_bytes = (x.shape[2] + 2 * padding) * (f // 8)
    _lane_masks(x, r, padding, f, mb)
    of = o.reshape(o.size)
    for yo in range(ho):
        masked_sum(of, yo * row, start, wt, woffs, mb, moffs, yo * c * row_bytes, woffs.shape[0], row // LANES)


@njit(cache=True, error_model="numpy", inline="always")
def masked_fits(f, wo):
    """Whether `_masked_conv_row` takes a convolution with `f` outputs per position, `wo` per row."""
    return (f == 8 or f == 16) and (wo * f) % LANES == 0


@njit(cache=True, parallel=True, error_model="numpy")
def spike_conv_fp(x, w, bias, padding, out):
    """out[r, yo, xo, :] = bias + sum over spikes x[r, yi, xi, c] = 1 of w[yi-yo+p, xi-xo+p, c, :].

    For one spike and one kernel row `ky` the K taps land on K neighbouring outputs, so with
    the kernel columns reversed (`_reversed_taps`) they are one contiguous vector add of K*F
    floats; only taps that fall off the border go one by one."""
    rows = x.shape[0]
    ho, wo, f = out.shape[1], out.shape[2], out.shape[3]
    if masked_fits(f, wo):
        ops = _masked_operands(w, bias, x.shape[2], padding)
        for r in prange(rows):
            mb = np.zeros((x.shape[1] + 2 * padding) * x.shape[3] * (x.shape[2] + 2 * padding) * (f // 8), np.uint8)
            _masked_conv_row(x, r, padding, f, out[r].reshape(ho, wo * f), ops, mb)
        return
    wr = _reversed_taps(w)
    pos = _element_codes(x.shape[1], x.shape[2], x.shape[3])
    for r in prange(rows):
        sp, offs = np.empty(pos.shape[0], np.int64), np.empty(x.shape[3], np.intp)
        _conv_row(x, r, wr, bias, padding, out[r].reshape(ho, wo * f), pos, sp, offs)


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
    pos = _element_codes(x.shape[2], x.shape[3], x.shape[4])
    masked = masked_fits(f, wo)
    ops = _masked_operands(w, bias, x.shape[3], padding)
    mb_size = (x.shape[2] + 2 * padding) * x.shape[4] * (x.shape[3] + 2 * padding) * (f // 8) if masked else 0
    for b in prange(batch):
        cur = np.empty((ho, wo * f), np.float32)
        d = np.zeros(n, np.float32)
        sp, offs = np.empty(pos.shape[0], np.int64), np.empty(x.shape[4], np.intp)
        mb = np.zeros(mb_size, np.uint8)
        for t in range(t_steps):
            if masked:
                _masked_conv_row(rows, t * batch + b, padding, f, cur, ops, mb)
            else:
                _conv_row(rows, t * batch + b, wr, bias, padding, cur, pos, sp, offs)
            lif_packed_span(cur.reshape(n), d, c, lam, threshold, alpha, st[t, b], np.uint64(0), np.uint64(n))


@njit(cache=True, error_model="numpy", inline="always")
def _wg_block(acc, gr, ch, ky, yo, x0, f, wo):
    """acc[ky, ch] += one spike's K output-gradient blocks of output row `yo` from column `x0` (reversed
    taps, `spike_conv_wg`): one contiguous add inside the grid, tap by tap at its border."""
    k, kf = acc.shape[0], acc.shape[2]
    if x0 >= 0 and x0 + k <= wo:
        dst = acc[ky, ch]
        src = gr[yo, x0 * f:(x0 + k) * f]
        for q in range(kf):
            dst[q] += src[q]
        return
    for kk in range(k):
        xo = x0 + kk
        if 0 <= xo < wo:
            for j in range(f):
                acc[ky, ch, kk * f + j] += gr[yo, xo * f + j]


@njit(cache=True, parallel=True, error_model="numpy")
def spike_conv_wg(x, g, kernel, padding, nthreads):
    """gw[ky, kx, c, :] = sum over spikes x[r, yi, xi, c] = 1 of g[r, yi+p-ky, xi+p-kx, :].

    The K taps of one kernel row read K neighbouring output gradients, a contiguous block of
    K*F floats, accumulated into `(ky, c, reversed kx, F)` order and reordered at the end.
    One partial sum per thread (`nthreads`, from `numba.get_num_threads()`), rows in order, spikes
    in order. With `_GROUP_CHANNELS` input channels or more a row's spikes are visited channel by
    channel, each channel's in spike order (so every element of `gw` still receives its terms in
    spike order), and a channel's blocks for one kernel row are summed onto it in one pass
    (`simd.add_rows`) when K*F is a multiple of 8. F = 8 with an even C: `_masked_wg`."""
    if g.shape[3] == 8 and x.shape[3] % 2 == 0:
        return _masked_wg(x, g, kernel, padding, nthreads)
    rows, h, wd, c = x.shape
    ho, wo, f = g.shape[1], g.shape[2], g.shape[3]
    k = kernel
    per = (rows + nthreads - 1) // nthreads
    parts = np.zeros((nthreads, k, c, k * f), np.float32)
    pos = _element_codes(h, wd, c)
    kf = k * f
    for t in prange(nthreads):
        acc = parts[t]
        af = acc.reshape(acc.size)
        sp, by_channel = np.empty(pos.shape[0], np.int64), np.empty(pos.shape[0], np.int64)
        start, offs = np.empty(c + 1, np.intp), np.empty(h * wd, np.intp)
        for r in range(t * per, min(rows, (t + 1) * per)):
            gr = g[r].reshape(ho, wo * f)
            gf = g[r].reshape(ho * wo * f)
            n = _spike_list(x, r, pos, sp)
            if c < _GROUP_CHANNELS:
                for q0 in range(n):
                    yi, xi, ch = _decode(sp[q0])
                    x0 = xi + padding - (k - 1)
                    for ky in range(k):
                        yo = yi + padding - ky
                        if 0 <= yo < ho:
                            _wg_block(acc, gr, ch, ky, yo, x0, f, wo)
                continue
            start[:] = 0  # the row's spikes by channel, each channel's in spike order (a counting sort)
            for q in range(n):
                start[(sp[q] & 0xFFFF) + 1] += 1
            for ch in range(c):
                start[ch + 1] += start[ch]
            for q in range(n):
                ch = sp[q] & 0xFFFF
                by_channel[start[ch]] = sp[q]
                start[ch] += 1
            for ch in range(c - 1, -1, -1):
                start[ch + 1] = start[ch]
            start[0] = 0
            for ch in range(c):
                for ky in range(k):
                    m = 0  # pending blocks of this channel's spikes, summed onto acc[ky, ch] in one pass
                    for q in range(start[ch], start[ch + 1]):
                        yi, xi, _ = _decode(by_channel[q])
                        yo = yi + padding - ky
                        if yo < 0 or yo >= ho:
                            continue
                        x0 = xi + padding - (k - 1)
                        if x0 >= 0 and x0 + k <= wo and kf % 8 == 0:
                            offs[m] = (yo * wo + x0) * f
                            m += 1
                            continue
                        if m:
                            add_rows(af, (ky * c + ch) * kf, gf, offs, m, kf)
                            m = 0
                        _wg_block(acc, gr, ch, ky, yo, x0, f, wo)
                    if m:
                        add_rows(af, (ky * c + ch) * kf, gf, offs, m, kf)
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


@njit(cache=True, error_model="numpy", inline="always")
def _padded_masks(x, r, padding, mb):
    """mb[(yi + p, xi + p, c)] = 0xFF where x[r, yi, xi, c] spikes, else 0 (the padding bytes, zeroed
    once, are never written): a 16-bit word read at (y, x, c) selects channels c and c + 1."""
    h, wd, c = x.shape[1], x.shape[2], x.shape[3]
    wp = wd + 2 * padding
    for yi in range(h):
        for xi in range(wd):
            base = ((yi + padding) * wp + xi + padding) * c
            for ch in range(c):
                mb[base + ch] = np.uint8(255) * np.uint8(x[r, yi, xi, ch] != 0)


@njit(cache=True, parallel=True, error_model="numpy")
def _masked_wg(x, g, k, padding, nthreads):
    """`spike_conv_wg` for F = 8 outputs and an even number of input channels: for each output position
    in order, its gradient vector added to the partial sums of every (ky, kx, c) whose input spiked,
    two channels per 16-lane vector, a row of positions with the sums in registers
    (`simd.masked_gather_sum`). An element of gw receives its terms in the same order (positions in
    order are its spikes in order), so the same sums bit for bit."""
    rows, h, wd, c = x.shape
    ho, wo, f = g.shape[1], g.shape[2], g.shape[3]
    wp = wd + 2 * padding
    per = (rows + nthreads - 1) // nthreads
    moffs = np.empty(k * k * c // 2, np.intp)
    for ky in range(k):
        for kx in range(k):
            for pair in range(c // 2):
                moffs[(ky * k + kx) * (c // 2) + pair] = (ky * wp + kx) * c + 2 * pair
    parts = np.zeros((nthreads, k * k * c * f), np.float32)
    for t in prange(nthreads):
        acc = parts[t]
        mb = np.zeros((h + 2 * padding) * wp * c, np.uint8)
        for r in range(t * per, min(rows, (t + 1) * per)):
            _padded_masks(x, r, padding, mb)
            gf = g[r].reshape(ho * wo * f)
            for yo in range(ho):
                masked_gather_sum(acc, gf, yo * wo * f, mb, yo * wp * c, c, moffs, wo)
    total = parts[0].copy()
    for t in range(1, nthreads):
        total += parts[t]
    return total.reshape(k, k, c, f)


@njit(cache=True, parallel=True, error_model="numpy")
def conv_ig_rows(g, wt, kernel, padding, stride, out):
    """out[r] += every tap of every output: the GEMM `matmul(g[r], wt)` folded onto the input
    grid without the unfolded buffer.

    `g` (R, Ho, Wo, F), `wt` (F, K*K*C) the transposed weights, `out` (R, H, W, C) zeroed. The
    tap vector of output (yo, xo) is summed exactly as `models.gemm.matmul` sums it (from +0 over
    the nonzero g[r, yo, xo, f], f ascending) and added onto the input grid in the order (yo,
    then xo; inside the grid a kernel row's K taps are one contiguous add of K*C floats), so the
    result equals that GEMM folded tap by tap, bit for bit, one row at a time. An
    output whose gradient is all zero adds +0 everywhere, which changes nothing, and is skipped."""
    rows, ho, wo, f = g.shape
    h, wd, c = out.shape[1], out.shape[2], out.shape[3]
    k = kernel
    kkc = wt.shape[1]
    kc = np.uint64(k * c)
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
                x0 = xo * stride - padding
                inside = x0 >= 0 and x0 + k <= wd
                for ky in range(k):
                    yi = yo * stride + ky - padding
                    if yi < 0 or yi >= h:
                        continue
                    if inside:  # a kernel row's K taps land on K neighbouring inputs: one contiguous add
                        src = np.uint64(ky * kc)
                        dst = np.uint64((yi * wd + x0) * c)
                        for q in range(kc):
                            of[dst + q] += tf[src + q]
                        continue
                    for kx in range(k):
                        xi = x0 + kx
                        if xi < 0 or xi >= wd:
                            continue
                        src = np.uint64((ky * k + kx) * c)
                        dst = np.uint64((yi * wd + xi) * c)
                        for ch in range(np.uint64(c)):  # unsigned: no negative-index fix-up, vectorises
                            of[dst + ch] += tf[src + ch]


@njit(cache=True, parallel=True, error_model="numpy")
def conv_ig_blocks(g, wb, padding, stride, out):
    """`conv_ig_rows` of a 3 x 3 convolution, `lanes` input channels at a time: bit for bit the same.

    `wb` (C / lanes, F, 9 * lanes) holds the transposed weights of each block of `lanes` (8 or 16)
    channels, `wb[blk, f, t * lanes + l] = wt[f, t * C + blk * lanes + l]` for the taps t = (ky, kx).
    For one block at a time and each output (yo, xo) in order, its nine tap vectors are summed in
    registers over the nonzero g[r, yo, xo, f], f ascending, from +0 (`simd.taps_product`: the same
    rounded products and additions as `models.gemm.row_product`), and added onto the block's channels
    of the input grid. An input element receives from the outputs in the same order as in
    `conv_ig_rows`, since all its taps are in its channel's block; a block's weights (9 * lanes * F
    floats) stay in cache for all outputs of a row, where the whole tap vector would not."""
    rows, ho, wo, f = g.shape
    h, wd, c = out.shape[1], out.shape[2], out.shape[3]
    blocks, lanes = wb.shape[0], wb.shape[2] // TAPS
    for r in prange(rows):
        tf = np.empty(TAPS * lanes, np.float32)
        of = out[r].reshape(h * wd * c)
        idx = np.empty((ho * wo, f), np.intp)
        val = np.empty((ho * wo, f), np.float32)
        count = np.empty(ho * wo, np.intp)
        for at in range(ho * wo):
            gr = g[r, at // wo, at % wo]
            nz = 0
            for p in range(f):  # the nonzero terms, in order (branch free)
                v = gr[p]
                idx[at, nz] = p
                val[at, nz] = v
                nz += v != 0
            count[at] = nz
        for blk in range(blocks):
            for at in range(ho * wo):
                if count[at] == 0:
                    continue
                taps_product(tf, wb[blk], idx[at], val[at], count[at])
                yo, xo = at // wo, at % wo
                for ky in range(3):
                    yi = yo * stride + ky - padding
                    if yi < 0 or yi >= h:
                        continue
                    for kx in range(3):
                        xi = xo * stride + kx - padding
                        if 0 <= xi < wd:
                            _add_block(of, (yi * wd + xi) * c + blk * lanes, tf, (ky * 3 + kx) * lanes, lanes)
