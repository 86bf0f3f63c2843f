"""FP, WG and IG of every layer type against independent numpy/scipy references and finite differences."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy.signal import correlate
from scipy.special import log_softmax

from models import layers as L
from models.gemm import matmul
from models import snn
from workloads.network import AvgPool, Conv, Dense, MaxPool, Network, Output, PoolKind, SumPool

C, LAM, TH, ALPHA = 4.0, 0.25, 0.5, 0.5


def _conv_ref(x: np.ndarray, w: np.ndarray, padding: int, stride: int = 1) -> np.ndarray:
    """float64 correlation with scipy, one (sample, filter) at a time; a stride keeps every s-th output."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (padding,) * 2, (padding,) * 2, (0, 0)))
    out = [[correlate(xp[r], w[..., f].astype(np.float64), mode="valid")[..., 0] for f in range(w.shape[-1])]
           for r in range(x.shape[0])]
    return np.moveaxis(np.array(out), 1, -1)[:, ::stride, ::stride]


conv_case = st.tuples(st.integers(1, 3), st.integers(3, 7), st.integers(3, 7), st.integers(1, 3),
                      st.integers(1, 4), st.sampled_from([0, 1, 2]), st.sampled_from([1, 1, 2, 3]), st.booleans(),
                      st.integers(0, 2**31 - 1))


@settings(max_examples=50, deadline=None)
@given(conv_case)
@example((2, 7, 6, 2, 3, 1, 2, True, 0))  # stride 2 on spikes (the GEMM path) and on a 6-wide input
def test_conv_fp_wg_ig(case):
    r, h, w_, c, f, pad, stride, binary, seed = case
    rng = np.random.default_rng(seed)
    # uint8 spikes into a stride-1 convolution take the event-driven kernels, the rest the GEMM path
    x = (rng.random((r, h, w_, c)) < 0.4).astype(np.uint8) if binary else rng.random((r, h, w_, c)).astype(np.float32)
    w = rng.normal(size=(3, 3, c, f)).astype(np.float32)
    b = rng.normal(size=f).astype(np.float32)
    out = L.conv_fp(x, w, b, pad, stride)
    assert out.shape == (r, (h + 2 * pad - 3) // stride + 1, (w_ + 2 * pad - 3) // stride + 1, f)
    np.testing.assert_allclose(out, _conv_ref(x, w, pad, stride) + b, rtol=1e-5, atol=1e-5)
    g = rng.normal(size=out.shape).astype(np.float32)
    gw, gb = L.conv_wg(x, g, 3, pad, stride)
    # the layer is linear in w and x: WG and IG are its exact adjoints, built here from the scipy reference
    gw_ref = np.zeros(w.shape)
    for idx in np.ndindex(*w.shape):
        e = np.zeros(w.shape)
        e[idx] = 1.0
        gw_ref[idx] = np.sum(g * _conv_ref(x, e, pad, stride))
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, g.astype(np.float64).sum((0, 1, 2)), rtol=1e-4, atol=1e-4)
    gx = L.conv_ig(g, w, pad, (h, w_), stride)
    gx_ref = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape[1:]):
        e = np.zeros((1,) + x.shape[1:])
        e[(0,) + idx] = 1.0
        resp = _conv_ref(e, w, pad, stride)[0]
        gx_ref[(slice(None),) + idx] = np.einsum("rhwf,hwf->r", g, resp)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_chunking_is_invisible(monkeypatch, stride):
    rng = np.random.default_rng(1)
    x = rng.random((9, 6, 6, 2)).astype(np.float32)
    w = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
    ho = (6 + 2 - 3) // stride + 1
    g = rng.normal(size=(9, ho, ho, 3)).astype(np.float32)
    whole = L.conv_fp(x, w, None, 1, stride), L.conv_wg(x, g, 3, 1, stride)[0], L.conv_ig(g, w, 1, (6, 6), stride)
    monkeypatch.setattr(L, "_CHUNK_BYTES", 1)  # one row per chunk
    np.testing.assert_array_equal(L.conv_fp(x, w, None, 1, stride), whole[0])  # fixed-order GEMM: row by row
    np.testing.assert_allclose(L.conv_wg(x, g, 3, 1, stride)[0], whole[1], rtol=1e-5, atol=1e-5)  # BLAS sums rows
    np.testing.assert_array_equal(L.conv_ig(g, w, 1, (6, 6), stride), whole[2])


@pytest.mark.parametrize("pad,stride", [(0, 1), (1, 1), (2, 1), (1, 2), (0, 3)])
@pytest.mark.parametrize("c,blocks_above", [(3, 2**20), (8, 2**20), (16, 2**20), (48, 2**20), (48, 0)])
def test_conv_ig_is_the_fixed_order_gemm_folded_in_output_order(monkeypatch, pad, stride, c, blocks_above):
    """The fused convolution IG equals, bit for bit, `matmul` of the gradients with the transposed
    weights folded tap by tap onto the input grid, outputs in row-major order: the row kernel
    (`conv_ig_rows`: 3 channels, 48 with small weights) and the channel-block kernel (`conv_ig_blocks`:
    8, 16 or 32 channels, or any multiple of 8 once the weights exceed `_IG_BLOCKS_ABOVE`)."""
    monkeypatch.setattr(L, "_IG_BLOCKS_ABOVE", blocks_above)
    rng = np.random.default_rng(pad * 10 + stride + c)
    r, h, w_, f, k = 3, 7, 8, 21, 3
    ho, wo = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
    g = rng.normal(size=(r, ho, wo, f)).astype(np.float32) * (rng.random((r, ho, wo, f)) < 0.5)
    g[:, 0, 0] = 0.0  # an output with no gradient at all
    w = rng.normal(size=(k, k, c, f)).astype(np.float32)
    cols = matmul(g.reshape(-1, f), w.reshape(k * k * c, f).T).reshape(r, ho, wo, k, k, c)
    ref = np.zeros((r, h, w_, c), np.float32)
    for yo, xo, ky, kx in np.ndindex(ho, wo, k, k):
        yi, xi = yo * stride + ky - pad, xo * stride + kx - pad
        if 0 <= yi < h and 0 <= xi < w_:
            ref[:, yi, xi] += cols[:, yo, xo, ky, kx]
    np.testing.assert_array_equal(L.conv_ig(g, w, pad, (h, w_), stride), ref)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 20), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_dense_fp_wg_ig(r, qi, qo, seed):
    rng = np.random.default_rng(seed)
    x = (rng.random((r, qi)) < 0.5).astype(np.uint8)
    w = rng.normal(size=(qi, qo)).astype(np.float32)
    b = rng.normal(size=qo).astype(np.float32)
    g = rng.normal(size=(r, qo)).astype(np.float32)
    np.testing.assert_allclose(L.dense_fp(x, w, b), x @ w.astype(np.float64) + b, rtol=1e-5, atol=1e-5)
    gw, gb = L.dense_wg(x, g)
    np.testing.assert_allclose(gw, np.einsum("ri,ro->io", x, g.astype(np.float64)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gb, g.sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(L.dense_ig(g, w), np.einsum("ro,io->ri", g, w.astype(np.float64)), rtol=1e-5, atol=1e-5)


def _sequential_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum_p a[:, p] b[p] in float32, term after term from +0, with numpy's elementwise (IEEE) ops."""
    out = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for p in range(a.shape[1]):
        out = out + a[:, p, None].astype(np.float32) * b[p]
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 80), st.integers(0, 40), st.integers(1, 40), st.floats(0, 1), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_matmul_is_the_sequential_sum_for_any_rows(m, k, n, zeros, spikes, seed):
    """Every element is the float32 sum of its terms in order p = 0..K-1, bit for bit, whatever rows
    share the call (both orientations of `matmul`, zero terms skipped or not); a BLAS GEMM has no such order."""
    rng = np.random.default_rng(seed)
    a = (rng.random((m, k)) >= zeros).astype(np.uint8) if spikes else \
        np.where(rng.random((m, k)) < zeros, np.float32(0), rng.standard_normal((m, k)).astype(np.float32))
    b = np.where(rng.random((k, n)) < zeros / 4, np.float32(0), rng.standard_normal((k, n)).astype(np.float32))
    b[rng.random((k, n)) < 0.05] = -0.0
    ref = _sequential_product(a, b)
    got = matmul(a, b)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, ref)
    assert np.array_equal(np.signbit(got), np.signbit(ref))  # -0 and +0 too
    r0, r1 = sorted(rng.integers(0, m + 1, 2))
    np.testing.assert_array_equal(matmul(a[r0:r1], b), ref[r0:r1])  # a split slice's rows
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4 * max(1, k))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_maxpool_fp_ig(r, ho, wo, c, binary, seed):
    rng = np.random.default_rng(seed)
    x = (rng.random((r, 2 * ho, 2 * wo, c)) < 0.5).astype(np.uint8) if binary else \
        rng.normal(size=(r, 2 * ho, 2 * wo, c)).astype(np.float32)
    out, idx = L.maxpool_fp(x, 2)
    win = x.reshape(r, ho, 2, wo, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(r, ho, wo, c, 4)
    np.testing.assert_array_equal(out, win.max(-1))
    np.testing.assert_array_equal(idx, win.argmax(-1))  # numpy's argmax also takes the first of ties
    g = rng.normal(size=out.shape).astype(np.float32)
    gx = L.maxpool_ig(g, idx, 2)
    onehot = np.eye(4)[win.argmax(-1)] * g[..., None]
    ref = onehot.reshape(r, ho, wo, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(x.shape)
    np.testing.assert_array_equal(gx, ref)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from([PoolKind.SUM, PoolKind.AVG]), st.booleans(), st.integers(0, 2**31 - 1))
def test_sum_and_average_pool_fp_ig(r, ho, wo, c, size, kind, binary, seed):
    rng = np.random.default_rng(seed)
    shape = (r, size * ho, size * wo, c)
    x = (rng.random(shape) < 0.5).astype(np.uint8) if binary else rng.normal(size=shape).astype(np.float32)
    out, idx = L.pool_fp(x, size, kind)
    scale = 1.0 if kind is PoolKind.SUM else 1.0 / size**2
    ref = np.zeros((r, ho, wo, c))
    for dy in range(size):
        for dx in range(size):
            ref += x[:, dy::size, dx::size].astype(np.float64)
    assert idx is None and out.dtype == np.float32
    np.testing.assert_allclose(out, ref * scale, rtol=1e-6, atol=1e-6)
    if binary and kind is PoolKind.SUM:
        np.testing.assert_array_equal(out, ref)  # spike counts are exact
    g = rng.normal(size=out.shape).astype(np.float32)
    gx = L.pool_ig(g, idx, size, kind)
    np.testing.assert_allclose(gx, np.kron(g, np.ones((1, size, size, 1))) * scale, rtol=1e-6)
    # the pool is linear: its input gradient is its adjoint, <g, pool(x)> = <pool_ig(g), x>
    assert np.sum(g * out, dtype=np.float64) == pytest.approx(np.sum(gx * x, dtype=np.float64), rel=1e-5, abs=1e-5)


def test_softmax_cross_entropy():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 7)).astype(np.float32) * 3
    y = rng.integers(0, 7, 5)
    loss, g = L.softmax_cross_entropy(z, y)
    assert np.isclose(loss, -log_softmax(z.astype(np.float64), 1)[np.arange(5), y].mean())
    eps = 1e-4
    for idx in [(0, 0), (2, 3), (4, 6)]:
        zp, zm = z.astype(np.float64), z.astype(np.float64)
        zp[idx] += eps
        zm[idx] -= eps
        fd = (-log_softmax(zp, 1)[np.arange(5), y].mean() + log_softmax(zm, 1)[np.arange(5), y].mean()) / (2 * eps)
        assert np.isclose(g[idx], fd, rtol=1e-4, atol=1e-6)


# --- whole networks: BPTT against finite differences of an independent float64 forward ---------------

def _ramp(v):
    return np.clip((v - TH + ALPHA) / (2 * ALPHA), 0.0, 1.0)


def _ref_forward(net, params, x, static, frozen, potentials=None):
    """float64 forward with the reset gates and pool winners frozen and each spike replaced by
    s0 + ramp(v) - ramp(v0): the same value as the real forward, with the surrogate's derivative.
    With `potentials` (a list), records every layer's v instead and uses v0 = v."""
    t = net.timesteps
    h = np.broadcast_to(x[None], (t,) + x.shape) if static else x
    h = h.astype(np.float64)
    for k, (layer, (w, b), fr) in enumerate(zip(net.compute_layers(), params, frozen)):
        batch = h.shape[1]
        rows = h.reshape((t * batch,) + tuple(layer.in_shape))
        if layer.kind == "conv":
            cur = _conv_ref(rows, w, layer.padding, layer.stride) + b
        else:
            cur = rows @ w.astype(np.float64) + b
        cur = cur.reshape(t, -1)
        d = np.zeros(cur.shape[1])
        vs = []
        for n in range(t):
            if layer.kind == "output":  # eq. 18
                u = cur[n] + d
                vs.append(u + d)
                d = u
            else:
                u = (cur[n] + (C - LAM) * d) / (C + LAM)
                vs.append(u + d)
                d = fr["gate"][n] * u
        v = np.array(vs)
        if layer.kind == "output":
            return v[-1].reshape(batch, -1)
        if potentials is not None:
            potentials.append(v)
        v0 = v if potentials is not None else fr["v0"]
        s = fr["s0"] + _ramp(v) - _ramp(v0)
        s = s.reshape((t * batch,) + tuple(layer.out_shape))
        if layer.pool != 1:
            p = layer.pool
            r, hh, ww, cc = s.shape
            win = s.reshape(r, hh // p, p, ww // p, p, cc).transpose(0, 1, 3, 5, 2, 4).reshape(r, hh // p, ww // p, cc, p * p)
            if layer.pool_kind == "max":
                s = np.take_along_axis(win, fr["idx"][..., None].astype(np.int64), -1)[..., 0]
            else:
                s = win.sum(-1) / (p * p if layer.pool_kind == "avg" else 1)
        h = s.reshape((t, batch) + tuple(layer.sent_shape))
    raise AssertionError("no output layer")


@st.composite
def small_networks(draw):
    h = draw(st.sampled_from([4, 6]))
    c = draw(st.integers(1, 2))
    layers = []
    shape = h
    for _ in range(draw(st.integers(1, 2))):
        pad = draw(st.sampled_from([0, 1])) if shape > 3 else 1
        stride = draw(st.sampled_from([1, 1, 2]))
        layers.append(Conv(draw(st.integers(1, 3)), padding=pad, stride=stride))
        shape = (shape + 2 * pad - 3) // stride + 1
        if shape % 2 == 0 and draw(st.booleans()):
            layers.append(draw(st.sampled_from([MaxPool, SumPool, AvgPool]))())
            shape //= 2
    if draw(st.booleans()):
        layers.append(Dense(draw(st.integers(2, 6))))
    layers.append(Output(3))
    net = Network("tiny", (h, h, c), tuple(layers), draw(st.integers(2, 4)),
                  input_kind=draw(st.sampled_from(["current", "spikes"])))
    return net, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(small_networks())
def test_network_gradients_match_finite_differences(case):
    _check_network_gradients(*case, require=assume)


STRIDED_AND_POOLED = [  # strided convolutions behind the first layer, so that their IG is on the path too
    Network("strided-avg", (8, 8, 1), (Conv(3, padding=1, stride=2), AvgPool(), Conv(2, kernel=2, padding=1, stride=2),
                                       SumPool(), Output(3)), 3),
    Network("strided-sum", (10, 10, 2), (Conv(2, padding=1), Conv(3, padding=2, stride=3), SumPool(), Dense(5),
                                         Output(3)), 3, input_kind="spikes"),
]


@pytest.mark.parametrize("net", STRIDED_AND_POOLED, ids=lambda n: n.name)
def test_strided_and_pooled_network_gradients_match_finite_differences(net):
    """The new layers every run, beside the Hypothesis draw: a stride 2 and 3, average and sum pools."""
    def require(clear: bool) -> None:
        assert clear, "a potential lies on the threshold or a surrogate kink: pick another seed"

    grads = _check_network_gradients(net, 4, require)
    assert all(np.abs(gw).max() > 1e-3 for gw, _ in grads)  # gradient reaches every layer through the pools


def _check_network_gradients(net, seed, require):
    """BPTT's weight and bias gradients against central finite differences of `_ref_forward`;
    `require(clear)` rejects an example whose potentials sit where float32 and float64 may disagree."""
    rng = np.random.default_rng(seed)
    batch, t = 2, net.timesteps
    static = net.input_kind == "current"
    params = [(w * 3, b + 0.3) for w, b in snn.init_params(net, seed)]  # enough activity to spike
    x = (rng.random((batch,) + net.input_shape) * 2).astype(np.float32) if static else \
        (rng.random((t, batch) + net.input_shape) < 0.5).astype(np.uint8)
    y = rng.integers(0, 3, batch)
    logits, states = snn.forward(net, params, x, static)
    loss, g_logits = L.softmax_cross_entropy(logits, y)
    grads = snn.backward(net, params, x, static, states, g_logits)
    frozen = [{"gate": 1.0 - st_.spikes.reshape(t, -1), "s0": st_.spikes.reshape(t, -1).astype(np.float64),
               "idx": st_.pool_idx} if st_.state is not None else None for st_ in states]
    p64 = [(w.astype(np.float64), b.astype(np.float64)) for w, b in params]
    potentials: list[np.ndarray] = []
    ref_logits = _ref_forward(net, p64, x, static, frozen, potentials)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-4)  # FP of every layer
    for fr, v0, st_ in zip(frozen, potentials, states):
        # stay clear of the threshold and of the ramp's kinks, where float32 and float64 may disagree
        require(np.all(np.abs(v0 - TH) > 1e-4) and np.all(np.abs(np.abs(v0 - TH) - ALPHA) > 1e-4))
        np.testing.assert_array_equal(st_.spikes.reshape(t, -1), v0 >= TH)  # spikes of every layer's FP
        fr["v0"] = v0

    def loss_at(p):
        z = _ref_forward(net, p, x, static, frozen)
        return -log_softmax(z, 1)[np.arange(batch), y].mean()

    eps = 1e-6
    for k, (gw, gb) in enumerate(grads):  # WG of every layer, and IG of every layer behind it
        for which, arr in ((0, gw), (1, gb)):
            for flat in rng.choice(arr.size, size=min(4, arr.size), replace=False):
                idx = np.unravel_index(flat, arr.shape)
                plus = [list(p) for p in p64]
                minus = [list(p) for p in p64]
                plus[k][which] = plus[k][which].copy()
                minus[k][which] = minus[k][which].copy()
                plus[k][which][idx] += eps
                minus[k][which][idx] -= eps
                fd = (loss_at(plus) - loss_at(minus)) / (2 * eps)
                assert arr[idx] == pytest.approx(fd, rel=2e-3, abs=2e-5), (k, which, idx)
    return grads
