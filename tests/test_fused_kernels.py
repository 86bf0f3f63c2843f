"""The fused and packed kernels of the training step are bit for bit the unfused composition they replace.

`layers.spike_conv_lif_fp` (convolution + LIF in one pass) against `conv_fp` then `lif_forward_packed`,
`layers.maxpool_spikes` (max-pool of the packed states) against `maxpool_fp` of the spikes, and a few
training steps of each Table I network against the same steps with the unfused forward pass
(`_reference_layer_fp`, the composition `models.snn.layer_fp` ran before the fusion): weights and
losses compared with `np.array_equal`; the spike convolution's FP and WG against their definition of
summation order (spikes in order, one float32 addition per element and term), whichever path
(masked sums of F = 8 or 16 outputs, `simd.add_rows` groups or one spike at a time) a row takes. (`conv_ig`'s kernels are checked against
the fixed-order GEMM folded tap by tap in `test_layers.py`.)
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models import layers as L
from models import snn
from models.init import InitKind, initial_params
from models.conv_kernels import masked_fits, spike_conv_wg
from models.neuron import SPIKE_BIT, lif_forward_packed
from models.optim import Adam
from models.train import train_step
from workloads import InputKind
from workloads.builtin import BUILTIN
from workloads.network import LayerKind, Neuron, PoolKind

NEURON = Neuron()
_LAYER_FP = snn.layer_fp  # the output layer's accumulator has nothing fused


@pytest.mark.parametrize("shape,size", [((6, 8, 8, 8), 2), ((5, 7, 9, 3), 2), ((4, 9, 6, 16), 3), ((3, 4, 4, 1), 2),
                                        ((2, 5, 7, 8), 2), ((3, 6, 6, 16), 2)])
@pytest.mark.parametrize("bit", [1, 2])
def test_maxpool_spikes_is_maxpool_of_the_spike_bit(shape, size, bit):
    rng = np.random.default_rng(sum(shape) + size + bit)
    state = rng.integers(0, 4, shape).astype(np.uint8) * (rng.random(shape) < 0.4)
    state = state.astype(np.uint8)
    pooled, idx = L.maxpool_spikes(state, size, bit)
    ref_pooled, ref_idx = L.maxpool_fp((state & bit) // bit, size)
    np.testing.assert_array_equal(pooled, ref_pooled)
    np.testing.assert_array_equal(idx, ref_idx)


@pytest.mark.parametrize("t,b,h,w,c,f,k,pad,masked", [(5, 3, 10, 9, 2, 8, 3, 0, False), (4, 2, 8, 8, 8, 16, 3, 1, True),
                                                      (3, 2, 7, 6, 3, 5, 5, 2, False), (4, 3, 10, 10, 2, 8, 3, 0, True)])
def test_spike_conv_lif_is_conv_then_lif(t, b, h, w, c, f, k, pad, masked):
    assert masked_fits(f, w + 2 * pad - k + 1) == masked  # both paths of `spike_conv_lif` are tested
    rng = np.random.default_rng(t * b + f)
    x = (rng.random((t, b, h, w, c)) < 0.2).astype(np.uint8)
    wts = rng.normal(0, 0.6, (k, k, c, f)).astype(np.float32)
    bias = rng.normal(0, 0.2, f).astype(np.float32)
    got = L.spike_conv_lif_fp(x, wts, bias, pad, NEURON)
    current = L.conv_fp(x.reshape((t * b, h, w, c)), wts, bias, pad).reshape(t, -1)
    ref = np.empty(current.shape, np.uint8)
    lif_forward_packed(current, np.zeros(current.shape[1], np.float32), NEURON.c, NEURON.lam, NEURON.threshold,
                       NEURON.alpha, ref)
    assert got.shape == (t, b) + L.conv_fp(x[0], wts, bias, pad).shape[1:]
    assert 0 < (got & SPIKE_BIT).mean() < 1  # some neurons spike, some do not
    np.testing.assert_array_equal(got.reshape(t, -1), ref)


def _spike_order_conv(x, w, bias, pad):
    """The spike convolution's definition of order: bias, then each spike's taps, spikes in (yi, xi, c)
    order, one float32 addition per element and tap."""
    k, f = w.shape[0], w.shape[3]
    r, h, wd, _ = x.shape
    ho, wo = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    out = np.empty((r, ho, wo, f), np.float32)
    out[...] = bias
    for row in range(r):
        for yi, xi, ch in np.argwhere(x[row]):
            for ky, kx in np.ndindex(k, k):
                yo, xo = yi + pad - ky, xi + pad - kx
                if 0 <= yo < ho and 0 <= xo < wo:
                    out[row, yo, xo] += w[ky, kx, ch]
    return out


@pytest.mark.parametrize("h,w,c,f,k,pad,masked", [(6, 7, 16, 8, 3, 1, False), (5, 5, 8, 16, 3, 0, True),
                                                  (6, 6, 3, 5, 3, 2, False), (7, 5, 4, 8, 5, 2, False),
                                                  (6, 6, 24, 32, 3, 1, False), (6, 8, 2, 8, 3, 0, True),
                                                  (5, 6, 8, 8, 3, 1, True), (7, 8, 3, 8, 5, 2, True)])
def test_spike_conv_fp_adds_the_taps_in_spike_order(h, w, c, f, k, pad, masked):
    """Bit for bit the definition, whichever path a row takes: masked sums of whole output rows
    (F = 8 or 16, `simd.masked_sum`), grouped per input position (`simd.add_rows`: K*F a multiple of 8),
    one spike at a time, or tap by tap at the border."""
    assert masked_fits(f, w + 2 * pad - k + 1) == masked
    rng = np.random.default_rng(h * w + c + f)
    x = (rng.random((3, h, w, c)) < 0.4).astype(np.uint8)
    wts = rng.normal(0, 0.6, (k, k, c, f)).astype(np.float32)
    bias = rng.normal(0, 0.2, f).astype(np.float32)
    np.testing.assert_array_equal(L.conv_fp(x, wts, bias, pad), _spike_order_conv(x, wts, bias, pad))


def _spike_order_wg(x, g, k, pad, nthreads):
    """The spike weight gradient's definition of order: per thread's share of the rows, rows then spikes
    in (yi, xi, c) order, one float32 addition per element and tap; the shares' sums added in order."""
    r, h, wd, c = x.shape
    ho, wo, f = g.shape[1:]
    per = -(-r // nthreads)
    parts = np.zeros((nthreads, k, k, c, f), np.float32)
    for row in range(r):
        for yi, xi, ch in np.argwhere(x[row]):
            for ky, kx in np.ndindex(k, k):
                yo, xo = yi + pad - ky, xi + pad - kx
                if 0 <= yo < ho and 0 <= xo < wo:
                    parts[row // per, ky, kx, ch] += g[row, yo, xo]
    total = parts[0].copy()
    for t in range(1, nthreads):
        total += parts[t]
    return total


@pytest.mark.parametrize("h,w,c,f,k,pad", [(6, 7, 16, 8, 3, 1), (5, 5, 8, 16, 3, 0), (6, 6, 16, 5, 3, 2),
                                           (7, 5, 4, 8, 5, 2), (6, 6, 24, 32, 3, 1), (6, 6, 3, 8, 3, 1),
                                           (8, 9, 2, 8, 3, 0)])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_spike_conv_wg_adds_the_blocks_in_spike_order(h, w, c, f, k, pad, nthreads):
    """Bit for bit the definition, whichever path a row takes: masked sums over its positions (F = 8 and
    an even C, `simd.masked_gather_sum`), spike by spike, or (16 channels and more) channel by channel
    with a kernel row's blocks summed in one pass (`simd.add_rows`)."""
    rng = np.random.default_rng(h * w + c + f + nthreads)
    x = (rng.random((5, h, w, c)) < 0.4).astype(np.uint8)
    g = rng.normal(0, 1, (5, h + 2 * pad - k + 1, w + 2 * pad - k + 1, f)).astype(np.float32)
    got = spike_conv_wg(x, g, k, pad, nthreads)
    np.testing.assert_array_equal(got, _spike_order_wg(x, g, k, pad, nthreads))


def _reference_layer_fp(layer, w, b, x, timesteps, neuron, static=False):
    """`snn.layer_fp` without the fusions: currents by `conv_fp` / `dense_fp` for all timesteps, then
    `lif_forward_packed`, then the spikes as an array and `pool_fp` of them."""
    t = timesteps
    batch = x.shape[0] if static else x.shape[1]
    rows = x.reshape((-1,) + tuple(layer.in_shape))
    if layer.kind is LayerKind.OUTPUT:
        return _LAYER_FP(layer, w, b, x, timesteps, neuron, static)
    current = (L.conv_fp(rows, w, b, layer.padding, layer.stride) if layer.kind is LayerKind.CONV
               else L.dense_fp(rows, w, b)).reshape(1 if static else t, -1)
    state = np.empty((t, current.shape[1]), np.uint8)
    lif_forward_packed(current, np.zeros(current.shape[1], np.float32), neuron.c, neuron.lam, neuron.threshold,
                       neuron.alpha, state)
    state = state.reshape((t, batch) + tuple(layer.out_shape))
    spikes = state & SPIKE_BIT
    if layer.pool == 1:
        return snn.LayerState(spikes, state, None, None)
    pooled, idx = L.pool_fp(spikes.reshape((t * batch,) + tuple(layer.out_shape)), layer.pool, layer.pool_kind)
    return snn.LayerState(pooled.reshape((t, batch) + tuple(layer.sent_shape)), state, None, idx)


def _train(net, batch, steps):
    """`steps` training steps (firing init, Adam) on random batches -> (weights, [(loss, correct)])."""
    rng = np.random.default_rng(3)
    static = net.input_kind is InputKind.CURRENT

    def draw():
        x = (rng.random((batch,) + net.input_shape, dtype=np.float32) if static else
             (rng.random((net.timesteps, batch) + net.input_shape) < 0.1).astype(np.uint8))
        return x, rng.integers(0, net.compute_layers()[-1].out_size, batch)

    x0, _ = draw()
    params, opt = initial_params(net, InitKind.FIRING, 0, x0, static), Adam(1e-3)
    losses = []
    for _ in range(steps):
        x, y = draw()
        losses.append(train_step(net, params, opt, None, x, static, y))
    return params, losses


@pytest.mark.parametrize("name,batch,timesteps", [("mnist", 8, None), ("nmnist", 4, None), ("dvs128", 2, 6)])
def test_training_steps_are_bit_identical_to_the_unfused_forward(name, batch, timesteps, monkeypatch):
    net = BUILTIN[name] if timesteps is None else dataclasses.replace(BUILTIN[name], timesteps=timesteps)
    assert all(l.pool_kind is PoolKind.MAX for l in net.compute_layers() if l.pool > 1)
    params, losses = _train(net, batch, 3)
    monkeypatch.setattr(snn, "layer_fp", _reference_layer_fp)
    ref_params, ref_losses = _train(net, batch, 3)
    assert losses == ref_losses
    for (w, b), (rw, rb) in zip(params, ref_params):
        np.testing.assert_array_equal(w, rw)
        np.testing.assert_array_equal(b, rb)
