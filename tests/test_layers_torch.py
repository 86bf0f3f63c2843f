"""Optional oracle: PyTorch autograd on the Table I MNIST and N-MNIST networks and on networks with
strided convolutions and sum / average pools (skipped without torch).

The torch model is written from the paper's equations, independently of `models/`: eq. 4-5 with
the reset gate detached, the spike's gradient the rectangular surrogate of eq. 22, the output
accumulator of eq. 18, mean softmax cross-entropy (eq. 7), in float64."""
from __future__ import annotations

import numpy as np
import pytest

from models import snn
from models.layers import softmax_cross_entropy
from workloads.builtin import MNIST, NMNIST
from workloads.network import AvgPool, Conv, Dense, Network, Output, SumPool

torch = pytest.importorskip("torch")
F = torch.nn.functional
C, LAM, TH, ALPHA = 4.0, 0.25, 0.5, 0.5


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v >= TH).to(v.dtype)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g * ((v - TH).abs() <= ALPHA).to(g.dtype) / (2 * ALPHA)  # eq. 22


def _torch_loss(net, params, x, static, y):
    t_steps = net.timesteps
    h = torch.tensor(np.asarray(x, np.float64))
    h = h.expand((t_steps,) + h.shape) if static else h  # (T, B, H, W, C)
    for layer, (w, b) in zip(net.compute_layers(), params):
        tb = h.shape[0] * h.shape[1]
        if layer.kind == "conv":
            inp = h.reshape((tb,) + tuple(layer.in_shape)).permute(0, 3, 1, 2)
            cur = F.conv2d(inp, w.permute(3, 2, 0, 1), b, padding=layer.padding, stride=layer.stride)
            cur = cur.permute(0, 2, 3, 1)
        else:
            cur = h.reshape(tb, -1) @ w + b
        cur = cur.reshape((t_steps, -1) + tuple(layer.out_shape))
        d = torch.zeros_like(cur[0])
        outs = []
        for n in range(t_steps):
            if layer.kind == "output":  # eq. 18: c = 1, lam = 0, no reset
                u = cur[n] + d
                outs.append(u + d)
                d = u
                continue
            u = (cur[n] + (C - LAM) * d) / (C + LAM)  # eq. 4
            v = u + d
            s = _Spike.apply(v)
            d = u * (1 - s.detach())  # eq. 5, the reset gate detached
            outs.append(s)
        h = torch.stack(outs)
        if layer.kind == "output":
            return F.cross_entropy(h[-1], torch.tensor(y))
        if layer.pool != 1:
            flat = h.reshape((-1,) + tuple(layer.out_shape)).permute(0, 3, 1, 2)
            pooled = {"max": lambda v: F.max_pool2d(v, layer.pool),
                      "avg": lambda v: F.avg_pool2d(v, layer.pool),
                      "sum": lambda v: F.avg_pool2d(v, layer.pool, divisor_override=1)}[layer.pool_kind](flat)
            h = pooled.permute(0, 2, 3, 1).reshape((t_steps, -1) + tuple(layer.sent_shape))
    raise AssertionError("no output layer")


STRIDED = Network("strided", (28, 28, 1), (Conv(8, stride=2), AvgPool(), Conv(8, stride=2), SumPool(), Dense(32),
                                           Output(10)), 8)
STRIDED_SPIKES = Network("strided-spikes", (34, 34, 2), (Conv(8, kernel=5, padding=1, stride=2), SumPool(),
                                                         Conv(8, padding=0, stride=3), AvgPool(), Output(10)),
                         6, input_kind="spikes")


@pytest.mark.parametrize("net", [MNIST, NMNIST, STRIDED, STRIDED_SPIKES], ids=lambda n: n.name)
def test_table1_network_gradients_match_torch_autograd(net):
    rng = np.random.default_rng(0)
    batch = 2
    static = net.input_kind == "current"
    params = snn.init_params(net, 0)
    x = rng.random((batch,) + net.input_shape, dtype=np.float32) if static else \
        (rng.random((net.timesteps, batch) + net.input_shape) < 0.2).astype(np.uint8)
    y = rng.integers(0, 10, batch)
    logits, states = snn.forward(net, params, x, static)
    loss, g = softmax_cross_entropy(logits, y)
    grads = snn.backward(net, params, x, static, states, g)
    tp = [(torch.tensor(w.astype(np.float64), requires_grad=True), torch.tensor(b.astype(np.float64), requires_grad=True))
          for w, b in params]
    ref = _torch_loss(net, tp, x, static, y)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-4)
    for (gw, gb), (w, b) in zip(grads, tp):
        scale = float(w.grad.abs().max()) + 1e-12
        np.testing.assert_allclose(gw, w.grad.numpy(), atol=2e-4 * scale, rtol=1e-3)
        np.testing.assert_allclose(gb, b.grad.numpy(), atol=2e-4 * (float(b.grad.abs().max()) + 1e-12), rtol=1e-3)
