"""A spiking network as a thin composition of per-layer FP, WG and IG tasks (BPTT).

The unit of work is the hardware's (Section IV): for compute layer `l`

* `layer_fp`  - GEMM (eq. 8-9) + bias, then the IIR filter bank (LIF eq. 4-5, or the
  accumulator eq. 18 for the output layer), then the layer's pool (max, sum or average).
* `layer_wg`  - dL/dW and dL/db from the layer's input and dL/di_in (eq. 13).
* IG task  - `ig_gemm`, the transposed GEMM (eq. 12), then `grad_filter`, un-pooling and the
  *previous* layer's gradient filter run in reverse time (eq. 17, 22, 23, Fig. 8): it turns
  dL/di_in of layer `l` into dL/di_in of layer `l - 1`, which is what the IG task's IIR bank
  emits. `backward` drops layer `l`'s dL/di_in between the two, so its memory can hold layer
  `l - 1`'s (DVS128: 336 MB less at the peak).

All are pure functions of arrays (weights passed in). Activations are kept as
`(T, B, ...)` arrays so that `(T, N)` is the neuron view and `(T*B, ...)` the GEMM rows.
A *static* input (an image used as a constant current at every timestep) is `(B, H, W, C)`:
the first layer's GEMM then runs once instead of T times, and its WG sums dL/di over time
first, which is the same sum reordered.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workloads.network import ComputeLayer, LayerKind, Network, Neuron, PoolKind

from . import layers as L
from .neuron import (SPIKE_BIT, accumulator_backward, accumulator_forward, lif_backward_packed, lif_backward_pooled,
                     lif_forward_packed)

Params = list[tuple[np.ndarray, np.ndarray]]  # per compute layer: (weights, bias)


@dataclass(frozen=True)
class LayerState:
    """What a layer's FP keeps for its backward.

    `sent`: what goes to the next layer, (T, B, *sent_shape): uint8 spikes (after a max-pool, if
    any) or float32 window counts / averages after a sum / average pool;
    `state`: (T, B, *out_shape) uint8, bit 0 spike, bit 1 inside the surrogate window
    (`models.neuron`), None for the output layer; `v_m`: the output layer's potentials
    (T, B, classes), None elsewhere; `pool_idx`: (T*B, *sent_shape) winners of a max-pool."""

    sent: np.ndarray
    state: np.ndarray | None
    v_m: np.ndarray | None
    pool_idx: np.ndarray | None

    @property
    def spikes(self) -> np.ndarray:
        """(T, B, *out_shape) uint8 spike trains before pooling."""
        return self.state & SPIKE_BIT


_FP_CHUNK_BYTES = 64 * 2**20  # float32 currents computed per time chunk in the forward pass


def init_params(net: Network, seed: int) -> Params:
    """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases (PyTorch's default), seeded."""
    rng = np.random.default_rng(seed)
    out: Params = []
    for layer in net.compute_layers():
        if layer.kind is LayerKind.CONV:
            shape = (layer.kernel, layer.kernel, layer.in_channels, layer.out_channels)
            fan_in = layer.kernel * layer.kernel * layer.in_channels
        else:
            shape = (layer.in_size, layer.out_size)
            fan_in = layer.in_size
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, shape).astype(np.float32)
        b = rng.uniform(-bound, bound, layer.out_channels).astype(np.float32)
        out.append((w, b))
    return out


def _gemm_fp(layer: ComputeLayer, w: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if layer.kind is LayerKind.CONV:
        return L.conv_fp(rows, w, b, layer.padding, layer.stride)
    return L.dense_fp(rows, w, b)


def layer_fp(layer: ComputeLayer, w: np.ndarray, b: np.ndarray, x: np.ndarray, timesteps: int,
             neuron: Neuron, static: bool = False) -> LayerState:
    """FP task: input `x` (T, B, *in_shape), or (B, *in_shape) when `static`, -> LayerState.

    Spikes into a stride-1 convolution go through the fused convolution + LIF kernel
    (`layers.spike_conv_lif_fp`); otherwise the GEMM and the IIR filters run in time chunks (the
    filters carry their delay elements across chunks). Either way the float32 currents never
    exist for all T at once."""
    t = timesteps
    batch = x.shape[0] if static else x.shape[1]
    rows = x.reshape((-1,) + tuple(layer.in_shape))
    shape = (t, batch) + tuple(layer.out_shape)
    if layer.kind is LayerKind.OUTPUT:
        current = _gemm_fp(layer, w, b, rows)
        if static:
            current = np.broadcast_to(current[None], (t,) + current.shape)
        v = accumulator_forward(np.ascontiguousarray(current).reshape(t, -1)).reshape(shape)  # eq. 18
        return LayerState(v, None, v, None)
    n = batch * layer.out_size
    c, lam, threshold, alpha = neuron.c, neuron.lam, neuron.threshold, neuron.alpha
    if not static and layer.kind is LayerKind.CONV and L.event_driven(x, layer.stride):
        state = L.spike_conv_lif_fp(x, w, b, layer.padding, neuron)  # eq. 8-9 and 4-5 fused
    else:
        state = np.empty((t, n), np.uint8)
        d = np.zeros(n, np.float32)
        if static:  # the same current at every timestep: one GEMM
            lif_forward_packed(_gemm_fp(layer, w, b, rows).reshape(1, n), d, c, lam, threshold, alpha, state)  # eq. 4-5
        else:
            chunk = max(1, _FP_CHUNK_BYTES // (4 * n))
            for t0 in range(0, t, chunk):
                t1 = min(t, t0 + chunk)
                current = _gemm_fp(layer, w, b, rows[t0 * batch:t1 * batch]).reshape(t1 - t0, n)
                lif_forward_packed(current, d, c, lam, threshold, alpha, state[t0:t1])  # eq. 4-5
    state = state.reshape(shape)
    if layer.pool == 1:
        return LayerState(state & SPIKE_BIT, state, None, None)
    if layer.pool_kind is PoolKind.MAX:  # pooled straight from the packed states
        pooled, idx = L.maxpool_spikes(state.reshape((t * batch,) + tuple(layer.out_shape)), layer.pool, SPIKE_BIT)
    else:
        pooled, idx = L.pool_fp((state & SPIKE_BIT).reshape((t * batch,) + tuple(layer.out_shape)), layer.pool,
                                layer.pool_kind)
    return LayerState(pooled.reshape((t, batch) + tuple(layer.sent_shape)), state, None, idx)


def layer_wg(layer: ComputeLayer, x: np.ndarray, g_current: np.ndarray,
             static: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """WG task: dL/dW, dL/db from the layer input `x` and dL/di_in (T, B, *out_shape) (eq. 13)."""
    g = g_current.sum(0) if static else g_current  # constant input: sum_t g[t] x == sum_t (g[t] x)
    g = g.reshape((-1,) + tuple(layer.out_shape))
    rows = x.reshape((g.shape[0],) + tuple(layer.in_shape))
    if layer.kind is LayerKind.CONV:
        return L.conv_wg(rows, g, layer.kernel, layer.padding, layer.stride)
    return L.dense_wg(rows, g)


def ig_gemm(layer: ComputeLayer, w: np.ndarray, g_current: np.ndarray) -> np.ndarray:
    """The IG task's transposed GEMM (eq. 12): dL/di_in of layer `l` (T, B, *out_shape) ->
    dL/ds of what layer `l - 1` sends, (T, B, *in_shape) float32."""
    t, batch = g_current.shape[:2]
    g = g_current.reshape((t * batch,) + tuple(layer.out_shape))
    if layer.kind is LayerKind.CONV:
        g_in = L.conv_ig(g, w, layer.padding, layer.in_shape[:2], layer.stride)  # eq. 12
    else:
        g_in = L.dense_ig(g, w)
    return np.ascontiguousarray(g_in, np.float32).reshape((t, batch) + tuple(layer.in_shape))


def grad_filter(prev: ComputeLayer, prev_state: LayerState, g_sent: np.ndarray, neuron: Neuron,
                overwrite: bool = False) -> np.ndarray:
    """Un-pool dL/ds of what layer `l - 1` sends (T, B, *prev.sent_shape or flat) and run its gradient
    filter in reverse time (eq. 17, 22, 23) -> dL/di_in of layer `l - 1` (T, B, *prev.out_shape).
    With `overwrite` a float32 contiguous `g_sent` may be reused for the result."""
    t, batch = g_sent.shape[:2]
    c, lam, alpha = neuron.c, neuron.lam, neuron.alpha
    g_in = np.ascontiguousarray(g_sent, np.float32)
    if prev.sends_counts:  # a sum / average pool spreads each window's gradient over the window
        g_in = L.pool_ig(g_in.reshape((t * batch,) + tuple(prev.sent_shape)), None, prev.pool, prev.pool_kind)
    elif prev.pool != 1:  # max-pool: un-pooling fused into the gradient filter (eq. 17, 22, 23)
        out = np.empty((t, batch) + tuple(prev.out_shape), np.float32)
        lif_backward_pooled(g_in.reshape((t, batch) + tuple(prev.sent_shape)),
                            prev_state.pool_idx.reshape((t, batch) + tuple(prev.sent_shape)),
                            prev_state.state, prev.pool, c, lam, alpha, out)
        return out
    g_spike = g_in.reshape(t, -1) if overwrite or g_in is not g_sent else g_in.reshape(t, -1).copy()
    lif_backward_packed(g_spike, prev_state.state.reshape(t, -1), c, lam, alpha, g_spike)  # eq. 17, 22, 23
    return g_spike.reshape((t, batch) + tuple(prev.out_shape))


def forward(net: Network, params: Params, x: np.ndarray, static: bool) -> tuple[np.ndarray, list[LayerState]]:
    """All FP tasks -> (logits = output potentials at T-1, (B, classes), per-layer states)."""
    states: list[LayerState] = []
    h = x
    for k, (layer, (w, b)) in enumerate(zip(net.compute_layers(), params)):
        st = layer_fp(layer, w, b, h, net.timesteps, net.neuron, static=static and k == 0)
        states.append(st)
        h = st.sent
    return states[-1].v_m[-1], states


def backward(net: Network, params: Params, x: np.ndarray, static: bool, states: list[LayerState],
             g_logits: np.ndarray) -> Params:
    """All WG and IG tasks (BPTT) from dL/dlogits (B, classes) -> per-layer (dL/dW, dL/db)."""
    layers = net.compute_layers()
    t = net.timesteps
    batch = g_logits.shape[0]
    g = accumulator_backward(g_logits.reshape(-1), t).reshape((t, batch) + tuple(layers[-1].out_shape))  # eq. 19
    grads: Params = [None] * len(layers)  # type: ignore[list-item]
    for k in range(len(layers) - 1, -1, -1):
        inp = x if k == 0 else states[k - 1].sent
        grads[k] = layer_wg(layers[k], inp, g, static=static and k == 0)
        if k:  # the IG task: its GEMM, then (layer k's dL/di dropped, its memory free) the filter of layer k - 1
            g_sent = ig_gemm(layers[k], params[k][0], g)
            del g
            g = grad_filter(layers[k - 1], states[k - 1], g_sent, net.neuron, overwrite=True)
            del g_sent
    return grads
