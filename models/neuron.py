"""LIF IIR neuron (eq. 3-5), its gradient filter (eq. 17, 22, 23) and the output accumulator (eq. 18-19).

Forward, one neuron, one timestep (Fig. 2, eq. 4-5), with `d` the delay element:

    u[n]  = (i[n] + (c - lam) * d[n-1]) / (c + lam)
    v[n]  = u[n] + d[n-1]                       membrane potential
    s[n]  = v[n] >= V_th                        spike (eq. 5 / 21)
    d[n]  = (1 - s[n]) * u[n]                   a spike resets the delay element, which
                                                gates both the feedback and the feed-forward
                                                path (soft refractory behaviour, footnote 1)

Backward, run in time-reversed order (Fig. 8), the same first-order section:

    g_v[n] = g_s[n] * phi'(v[n]) + g_v[n+1] * (1 - s[n]) * (c - lam)/(c + lam)      eq. 22, 23
    g_i[n] = (g_v[n] + (1 - s[n]) * g_v[n+1]) / (c + lam)                           eq. 17

These are the exact derivatives of the direct-form-I recurrence
`v[n] = (i[n] + (1 - s[n-1]) * (i[n-1] + (c - lam) v[n-1])) / (c + lam)`, which is the
same function of `i` as eq. 4-5 for a fixed spike train; the reset gate is treated as
a constant (detached), the spike output carries the surrogate derivative of eq. 22.

Output layer: a non-leaky, non-resetting accumulator (c = 1, lam = 0, eq. 18), whose
last-timestep potential is the logit: `v[T-1] = 2 * sum_n i[n] - i[T-1]`.

Dtype policy: storage *and arithmetic* are float32. Every scalar step casts its
arguments to float32 first and uses float32 constants only, so that numba never
promotes to float64; any caller that feeds the same float32 values to `lif_step`
gets bit-identical potentials and spikes (no fastmath: operations run in the order
written). Spike trains are stored as uint8 (0/1).

The trainer keeps, instead of the float32 potentials, one packed uint8 per neuron and
timestep: bit 0 the spike, bit 1 "inside the surrogate window" (phi' != 0, eq. 22). That
is all the gradient filter needs, a fifth of the memory (`lif_forward_packed`,
`lif_backward_packed`; bit-identical to `lif_forward` / `lif_backward`).

The parameters (c, lam, V_th, alpha), their defaults and their validation live in one record,
`workloads.Neuron`; Python callers pass it, these numba kernels take its fields.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)


@njit(cache=True, error_model="numpy")
def surrogate_grad(v_m, threshold, alpha):
    """phi'(v) of eq. 22: 1/(2 alpha) within alpha of the threshold, else 0 (float32)."""
    v = np.float32(v_m)
    th = np.float32(threshold)
    a = np.float32(alpha)
    if abs(v - th) <= a:
        return _ONE / (_TWO * a)
    return _ZERO


@njit(cache=True, error_model="numpy")
def lif_step(i_now, d_prev, c, lam, threshold):
    """One neuron, one timestep of eq. 4-5 -> (v_m, spike, d_new), all float32 but `spike` (bool)."""
    i = np.float32(i_now)
    d = np.float32(d_prev)
    cc = np.float32(c)
    ll = np.float32(lam)
    u = (i + (cc - ll) * d) / (cc + ll)  # eq. 4
    v = u + d                            # eq. 4
    spike = v >= np.float32(threshold)   # eq. 5
    d_new = _ZERO if spike else u        # eq. 5: the spike resets the delay element
    return v, spike, d_new


@njit(cache=True, error_model="numpy")
def lif_grad_step(g_spike, v_m, spike, g_v_next, c, lam, threshold, alpha):
    """One timestep of the gradient filter in time-reversed order (Fig. 8) -> (g_current, g_v)."""
    gs = np.float32(g_spike)
    gn = np.float32(g_v_next)
    cc = np.float32(c)
    ll = np.float32(lam)
    keep = _ZERO if spike else _ONE  # 1 - s[n], the detached reset gate
    return _grad_core(gs, surrogate_grad(v_m, threshold, alpha), keep, gn, cc, ll)


@njit(cache=True, error_model="numpy")
def _grad_core(gs, phi, keep, gn, cc, ll):
    """eq. 17, 22, 23 given phi'(v) and the gate 1 - s, all float32 -> (g_current, g_v)."""
    g_v = gs * phi + gn * keep * (cc - ll) / (cc + ll)  # eq. 22, 23
    g_current = (g_v + keep * gn) / (cc + ll)           # eq. 17
    return g_current, g_v


@njit(cache=True, error_model="numpy")
def lif_forward(current, c, lam, threshold):
    """LIF over a (T, N) current -> (v_m float32 (T, N), spikes uint8 (T, N))."""
    t_steps, n = current.shape
    v_m = np.empty((t_steps, n), np.float32)
    spikes = np.empty((t_steps, n), np.uint8)
    d = np.zeros(n, np.float32)
    for t in range(t_steps):
        for k in range(n):
            v, s, d_new = lif_step(current[t, k], d[k], c, lam, threshold)
            v_m[t, k] = v
            spikes[t, k] = 1 if s else 0
            d[k] = d_new
    return v_m, spikes


@njit(cache=True, error_model="numpy")
def lif_backward(g_spike, v_m, spikes, c, lam, threshold, alpha):
    """Gradient filter over (T, N) arrays, run from t = T-1 down to 0 -> dL/di_in (T, N) float32."""
    t_steps, n = g_spike.shape
    g_current = np.empty((t_steps, n), np.float32)
    g_v = np.zeros(n, np.float32)
    for t in range(t_steps - 1, -1, -1):
        for k in range(n):
            gi, gv = lif_grad_step(g_spike[t, k], v_m[t, k], spikes[t, k] != 0, g_v[k],
                                   c, lam, threshold, alpha)
            g_current[t, k] = gi
            g_v[k] = gv
    return g_current


SPIKE_BIT = np.uint8(1)
WINDOW_BIT = np.uint8(2)
_BLOCK = 4096  # neurons per parallel work item


@njit(cache=True, parallel=True, error_model="numpy")
def lif_forward_packed(current, d, c, lam, threshold, alpha, state):
    """LIF over a chunk of timesteps: `current` (T', N), or (1, N) for the same current at every
    step, writes `state` (T', N) uint8 = spike | window << 1 and carries the delay elements `d`
    (N,) float32 in place, so consecutive chunks continue."""
    t_steps, n = state.shape
    for blk in prange((n + _BLOCK - 1) // _BLOCK):
        lo, hi = np.uint64(blk * _BLOCK), np.uint64(min(n, (blk + 1) * _BLOCK))
        for t in range(t_steps):
            tc = t if current.shape[0] > 1 else 0
            lif_packed_span(current[tc], d, c, lam, threshold, alpha, state[t], lo, hi)


@njit(cache=True, error_model="numpy", inline="always")
def lif_packed_span(current, d, c, lam, threshold, alpha, state, lo, hi):
    """One timestep of `lif_forward_packed` for neurons lo <= k < hi (uint64) of the 1-D `current`,
    `d` and `state`: eq. 4-5, the packed spike and surrogate-window bits, the delay elements in place."""
    th = np.float32(threshold)
    a = np.float32(alpha)
    for k in range(lo, hi):  # unsigned: no negative-index fix-up, so the loop vectorises
        v, s, d_new = lif_step(current[k], d[k], c, lam, threshold)
        in_window = abs(v - th) <= a  # phi'(v) != 0, eq. 22 (branch-free, so the loop vectorises)
        state[k] = np.uint8(s) | (np.uint8(in_window) << np.uint8(1))
        d[k] = d_new


@njit(cache=True, parallel=True, error_model="numpy")
def lif_backward_packed(g_spike, state, c, lam, alpha, out):
    """Gradient filter over (T, N) from packed states -> `out` (T, N) float32; `out` may be `g_spike`."""
    t_steps, n = g_spike.shape
    cc = np.float32(c)
    ll = np.float32(lam)
    a = np.float32(alpha)
    phi_in = _ONE / (_TWO * a)  # eq. 22, as in surrogate_grad
    for blk in prange((n + _BLOCK - 1) // _BLOCK):
        lo, hi = np.uint64(blk * _BLOCK), np.uint64(min(n, (blk + 1) * _BLOCK))
        g_v = np.zeros(hi - lo, np.float32)
        for t in range(t_steps - 1, -1, -1):
            for k in range(lo, hi):  # unsigned indices, see lif_forward_packed
                st = state[t, k]
                phi = phi_in if st & WINDOW_BIT else _ZERO
                keep = _ZERO if st & SPIKE_BIT else _ONE
                gi, gv = _grad_core(np.float32(g_spike[t, k]), phi, keep, g_v[k - lo], cc, ll)
                out[t, k] = gi
                g_v[k - lo] = gv


@njit(cache=True, parallel=True, error_model="numpy")
def lif_backward_pooled(g_pooled, pool_idx, state, size, c, lam, alpha, out):
    """`lif_backward_packed` whose input dL/ds is routed through a max-pool first: neuron
    (t, b, y, x, ch) receives g_pooled[t, b, y // size, x // size, ch] if it won its window
    (`pool_idx`), else 0. Arrays are 5-D: g_pooled, pool_idx (T, B, H/size, W/size, C);
    state, out (T, B, H, W, C). Saves materialising the un-pooled gradient."""
    t_steps, batch, h, w, ch_n = state.shape
    wp = g_pooled.shape[3]
    n = np.uint64(w * ch_n)
    cc = np.float32(c)
    ll = np.float32(lam)
    a = np.float32(alpha)
    phi_in = _ONE / (_TWO * a)  # eq. 22, as in surrogate_grad
    st_rows = state.reshape(t_steps, batch, h, w * ch_n)
    out_rows = out.reshape(t_steps, batch, h, w * ch_n)
    for b in prange(batch):  # a sample's neurons, timestep by timestep: each timestep's arrays are contiguous
        g_v = np.zeros((h, w * ch_n), np.float32)
        g_s = np.empty(w * ch_n, np.float32)
        for t in range(t_steps - 1, -1, -1):
            for y in range(h):
                yp = y // size
                row_pos = (y % size) * size
                for xp in range(wp):  # un-pool this row of neurons: the window's winner gets its gradient
                    for dx in range(size):
                        pos = row_pos + dx
                        base = (xp * size + dx) * ch_n
                        for ch in range(ch_n):
                            win = pool_idx[t, b, yp, xp, ch] == pos
                            g_s[base + ch] = g_pooled[t, b, yp, xp, ch] if win else _ZERO
                gvy = g_v[y]
                for k in range(n):  # unsigned, see lif_forward_packed: the filter loop vectorises
                    st = st_rows[t, b, y, k]
                    phi = phi_in if st & WINDOW_BIT else _ZERO
                    keep = _ZERO if st & SPIKE_BIT else _ONE
                    gi, gv = _grad_core(np.float32(g_s[k]), phi, keep, gvy[k], cc, ll)
                    out_rows[t, b, y, k] = gi
                    gvy[k] = gv


@njit(cache=True, error_model="numpy")
def accumulator_forward(current):
    """Non-leaky, non-resetting accumulator (c = 1, lam = 0), eq. 18 -> v_m (T, N) float32."""
    t_steps, n = current.shape
    v_m = np.empty((t_steps, n), np.float32)
    d = np.zeros(n, np.float32)
    for t in range(t_steps):
        for k in range(n):
            u = np.float32(current[t, k]) + d[k]  # eq. 4 with c = 1, lam = 0
            v_m[t, k] = u + d[k]                  # v[n] = i[n] + i[n-1] + v[n-1], eq. 18
            d[k] = u
    return v_m


def accumulator_backward(g_vlast: np.ndarray, timesteps: int) -> np.ndarray:
    """eq. 19: dL/di[n] = k * dL/dv[T-1], k = 2 except 1 at n = T-1 -> (T, N) float32."""
    g = np.asarray(g_vlast, np.float32)
    out = np.repeat((g * np.float32(2.0))[None, :], timesteps, axis=0)
    out[-1] = g
    return out
