"""LIF neuron kernels against hand-computed sequences, numpy references and finite differences."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.neuron import (SPIKE_BIT, WINDOW_BIT, accumulator_backward, accumulator_forward, lif_backward,
                           lif_backward_packed, lif_backward_pooled, lif_forward, lif_forward_packed,
                           lif_grad_step, lif_step)

C, LAM, TH, ALPHA = 4.0, 0.25, 0.5, 0.5
f32 = np.float32


def test_lif_step_hand_computed():
    # i = 1, 1, 1 from rest with c = 4, lam = 0.25: u = 1/4.25, v = u; then u2 = (1 + 3.75 u)/4.25, v2 = u2 + u
    v1, s1, d1 = lif_step(f32(1.0), f32(0.0), C, LAM, TH)
    assert v1 == f32(1.0) / f32(4.25) and not s1 and d1 == v1
    v2, s2, d2 = lif_step(f32(1.0), d1, C, LAM, TH)
    u2 = (f32(1.0) + f32(3.75) * d1) / f32(4.25)
    assert v2 == u2 + d1 and s2 and d2 == 0.0  # 0.235 + 0.443 >= 0.5: spike resets the delay element
    v3, s3, _ = lif_step(f32(1.0), d2, C, LAM, TH)
    assert v3 == v1 and not s3  # soft refractory: the feed-forward path was reset too
    # numba boxes float32 scalars as Python floats: the values must be float32-exact
    assert float(f32(v2)) == v2 and float(f32(u2)) == u2


def test_threshold_is_inclusive():
    # v = i / (c + lam) exactly at the threshold
    v, s, d = lif_step(f32(0.5 * 4.25), f32(0.0), C, LAM, TH)
    assert v == f32(0.5) and s and d == 0.0


def _numpy_forward(cur: np.ndarray, c=C, lam=LAM, th=TH):
    """Vectorised float32 reference of eq. 4-5."""
    c, lam, th = f32(c), f32(lam), f32(th)
    d = np.zeros(cur.shape[1], f32)
    vs, ss = [], []
    for i in cur.astype(f32):
        u = (i + (c - lam) * d) / (c + lam)
        v = u + d
        s = v >= th
        d = np.where(s, f32(0), u).astype(f32)
        vs.append(v)
        ss.append(s)
    return np.array(vs), np.array(ss).astype(np.uint8)


currents = arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 6)),
                  elements=st.floats(-2, 4, width=32))


@settings(max_examples=60, deadline=None)
@given(currents, st.floats(0.5, 8), st.floats(0, 2), st.floats(0.1, 2))
def test_lif_forward_bit_identical_to_numpy_and_steps(cur, c, lam, th):
    v, s = lif_forward(cur, c, lam, th)
    vr, sr = _numpy_forward(cur, c, lam, th)
    assert v.dtype == np.float32 and s.dtype == np.uint8
    np.testing.assert_array_equal(v, vr)
    np.testing.assert_array_equal(s, sr)


def _df1_frozen(cur: np.ndarray, gate: np.ndarray, c=C, lam=LAM) -> np.ndarray:
    """Direct-form-I recurrence in float64 with the reset gate (1 - s) frozen:
    v[n] = (i[n] + g[n-1] (i[n-1] + (c - lam) v[n-1])) / (c + lam)."""
    v = np.zeros_like(cur, dtype=np.float64)
    for n in range(cur.shape[0]):
        prev = gate[n - 1] * (cur[n - 1] + (c - lam) * v[n - 1]) if n else 0.0
        v[n] = (cur[n] + prev) / (c + lam)
    return v


@settings(max_examples=60, deadline=None)
@given(currents)
def test_direct_form_one_is_the_same_function(cur):
    v, s = lif_forward(cur, C, LAM, TH)
    np.testing.assert_allclose(_df1_frozen(cur.astype(np.float64), 1.0 - s), v, rtol=1e-5, atol=1e-5)


def _ramp(v):
    return np.clip((v - TH + ALPHA) / (2 * ALPHA), 0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(currents, st.integers(0, 2**31 - 1))
def test_backward_is_exact_bptt_with_detached_reset(cur, seed):
    """lif_backward == d/di of sum(G * ramp(v)) with v from the DF-I recurrence, gates frozen."""
    rng = np.random.default_rng(seed)
    g_spike = rng.normal(size=cur.shape).astype(f32)
    v, s = lif_forward(cur, C, LAM, TH)
    gate = 1.0 - s.astype(np.float64)
    x0 = cur.astype(np.float64)
    v0 = _df1_frozen(x0, gate)
    # keep clear of the ramp's kinks, where the derivative is undefined
    if np.any(np.abs(np.abs(v0 - TH) - ALPHA) < 1e-3):
        return
    got = lif_backward(g_spike, v, s, C, LAM, TH, ALPHA)
    eps = 1e-6
    fd = np.zeros_like(x0)
    for idx in np.ndindex(*x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = (np.sum(g_spike * _ramp(_df1_frozen(xp, gate))) -
                   np.sum(g_spike * _ramp(_df1_frozen(xm, gate)))) / (2 * eps)
    np.testing.assert_allclose(got, fd, rtol=1e-4, atol=1e-4)


def test_grad_step_matches_paper_equations():
    g_i, g_v = lif_grad_step(f32(0.3), f32(0.7), False, f32(-1.2), C, LAM, TH, ALPHA)
    k = f32(3.75) / f32(4.25)
    assert np.isclose(g_v, 0.3 * 1.0 + -1.2 * k, rtol=1e-6)           # eq. 22-23, phi' = 1/(2 alpha) = 1
    assert np.isclose(g_i, (g_v + -1.2) / 4.25, rtol=1e-6)             # eq. 17
    g_i, g_v = lif_grad_step(f32(0.3), f32(2.0), True, f32(-1.2), C, LAM, TH, ALPHA)
    assert g_v == 0.0 and g_i == 0.0  # outside the surrogate window and after a spike: nothing flows
    g_i, _ = lif_grad_step(f32(0.1), f32(0.45), False, f32(0.7), C, LAM, TH, ALPHA)
    assert float(f32(g_i)) == g_i  # float32 arithmetic, not float64


@settings(max_examples=40, deadline=None)
@given(currents)
def test_accumulator_closed_form_and_gradient(cur):
    v = accumulator_forward(cur)
    np.testing.assert_allclose(v[-1], 2 * cur.astype(np.float64).sum(0) - cur[-1], rtol=1e-5, atol=1e-4)  # eq. 18
    # equals the LIF recurrence with c = 1, lam = 0 and no reset
    vl, _ = lif_forward(cur, 1.0, 0.0, np.inf)
    np.testing.assert_array_equal(v, vl)
    g = np.arange(1, cur.shape[1] + 1, dtype=f32)
    # the map i -> v[T-1] is linear: its gradient is the coefficient 2, or 1 for the last step (eq. 19)
    expect = np.repeat(2 * g[None], cur.shape[0], 0)
    expect[-1] = g
    np.testing.assert_array_equal(accumulator_backward(g, cur.shape[0]), expect)


@settings(max_examples=40, deadline=None)
@given(currents, st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_packed_kernels_bit_identical_even_in_time_chunks(cur, chunk, seed):
    v, s = lif_forward(cur, C, LAM, TH)
    state = np.empty(cur.shape, np.uint8)
    d = np.zeros(cur.shape[1], np.float32)
    for t0 in range(0, cur.shape[0], chunk):  # the trainer runs the forward in time chunks
        lif_forward_packed(cur[t0:t0 + chunk], d, C, LAM, TH, ALPHA, state[t0:t0 + chunk])
    np.testing.assert_array_equal(state & SPIKE_BIT, s)
    np.testing.assert_array_equal((state & WINDOW_BIT) != 0, np.abs(v - f32(TH)) <= f32(ALPHA))
    g = np.random.default_rng(seed).normal(size=cur.shape).astype(f32)
    expect = lif_backward(g, v, s, C, LAM, TH, ALPHA)
    out = np.empty_like(g)
    lif_backward_packed(g, state, C, LAM, ALPHA, out)
    np.testing.assert_array_equal(out, expect)
    lif_backward_packed(g, state, C, LAM, ALPHA, g)  # in place
    np.testing.assert_array_equal(g, expect)


@settings(max_examples=30, deadline=None)
@given(currents)
def test_packed_forward_of_one_current_row_repeats_it_every_step(cur):
    """A (1, N) current (an image fed at every timestep) is the (T, N) current of that row repeated."""
    t = cur.shape[0]
    state, d = np.empty(cur.shape, np.uint8), np.zeros(cur.shape[1], np.float32)
    lif_forward_packed(cur[:1], d, C, LAM, TH, ALPHA, state)
    expect, d2 = np.empty(cur.shape, np.uint8), np.zeros(cur.shape[1], np.float32)
    lif_forward_packed(np.repeat(cur[:1], t, axis=0), d2, C, LAM, TH, ALPHA, expect)
    np.testing.assert_array_equal(state, expect)
    np.testing.assert_array_equal(d, d2)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2**31 - 1))
def test_pooled_backward_equals_unpool_then_filter(t, b, hp, wp, ch, seed):
    from models.layers import maxpool_fp, maxpool_ig
    rng = np.random.default_rng(seed)
    shape = (t, b, 2 * hp, 2 * wp, ch)
    state = np.empty((t, b * 4 * hp * wp * ch), np.uint8)
    lif_forward_packed(rng.normal(0.4, 1, state.shape).astype(f32), np.zeros(state.shape[1], f32),
                       C, LAM, TH, ALPHA, state)
    spikes = (state & SPIKE_BIT).reshape((t * b,) + shape[2:])
    _, idx = maxpool_fp(spikes, 2)
    g_pooled = rng.normal(size=idx.shape).astype(f32)
    expect = maxpool_ig(g_pooled, idx, 2).reshape(t, -1)
    lif_backward_packed(expect, state, C, LAM, ALPHA, expect)
    out = np.empty(shape, f32)
    lif_backward_pooled(g_pooled.reshape((t, b) + idx.shape[1:]), idx.reshape((t, b) + idx.shape[1:]),
                        state.reshape(shape), 2, C, LAM, ALPHA, out)
    np.testing.assert_array_equal(out.reshape(t, -1), expect)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(2, 3),
       st.sampled_from(["max", "sum", "avg"]), st.integers(0, 2**31 - 1))
def test_grad_filter_through_every_pool_kind(t, b, hp, ch, size, kind, seed):
    """`snn.grad_filter` behind a max, sum or average pool equals the float gradient filter (`lif_backward`
    on the potentials) fed the un-pooled gradient built with numpy: dL/ds to the window's winner (max), to
    every element (sum), or divided by size^2 to every element (average)."""
    from models import snn
    from workloads.network import Conv, Network, Output, POOL_SPECS, PoolKind
    net = Network("p", (size * hp, size * hp, 1), (Conv(ch, kernel=1, padding=0), POOL_SPECS[PoolKind(kind)](size),
                                                   Output(2)), t)
    layer = net.compute_layers()[0]
    rng = np.random.default_rng(seed)
    w, bias = rng.normal(size=(1, 1, 1, ch)).astype(f32), rng.normal(0.4, 0.3, ch).astype(f32)
    x = rng.random((t, b) + net.input_shape).astype(f32) * 2
    st_ = snn.layer_fp(layer, w, bias, x, t, net.neuron)
    v_m, spikes = lif_forward((x * w[0, 0, 0] + bias).reshape(t, -1), C, LAM, TH)
    np.testing.assert_array_equal(st_.spikes.reshape(t, -1), spikes)
    g_sent = rng.normal(size=(t, b) + layer.sent_shape).astype(f32)
    rows = t * b * hp * hp * ch
    win = spikes.reshape(t * b, hp, size, hp, size, ch).transpose(0, 1, 3, 5, 2, 4).reshape(rows, size * size)
    if kind == "max":
        spread = np.eye(size * size, dtype=f32)[win.argmax(1)]  # the first spike of the window, or its first element
    else:
        spread = np.full((rows, size * size), 1.0 if kind == "sum" else 1.0 / size**2, f32)
    g_spike = (spread * g_sent.reshape(rows, 1)).reshape(t * b, hp, hp, ch, size, size)
    g_spike = g_spike.transpose(0, 1, 4, 2, 5, 3).reshape(t, -1)
    expect = lif_backward(g_spike, v_m, spikes, C, LAM, TH, ALPHA)
    got = snn.grad_filter(layer, st_, g_sent, net.neuron)
    np.testing.assert_allclose(got.reshape(t, -1), expect, rtol=1e-6, atol=1e-7)
    if kind != "max":  # the sent window counts: exact, the average their float32 quotient
        counts = win.sum(1).reshape((t, b) + layer.sent_shape)
        np.testing.assert_array_equal(st_.sent, counts if kind == "sum" else counts.astype(f32) / f32(size**2))
