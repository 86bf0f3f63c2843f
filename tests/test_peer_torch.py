"""benchmarks/peer_torch.py computes what SpikePipe's trainer computes: the same logits and weight
gradients from the same weights, in both loop orders (so the throughput comparison is of equal work)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models import snn  # noqa: E402
from models.init import InitKind, initial_params  # noqa: E402
from models.layers import softmax_cross_entropy  # noqa: E402
from workloads.network import Conv, Dense, InputKind, LayerKind, MaxPool, Network, Output  # noqa: E402

_SPEC = importlib.util.spec_from_file_location("peer_torch", Path(__file__).parents[1] / "benchmarks" / "peer_torch.py")
P = sys.modules.setdefault("peer_torch", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(P)


def _as_torch(net: Network, k: int, w: np.ndarray) -> np.ndarray:
    """SpikePipe's weights (or their gradient) of layer k, (K, K, C, F) or (in, out) over NHWC rows, in the
    peer's layout, (F, C, K, K) or (out, in) over NCHW rows."""
    layers = net.compute_layers()
    if layers[k].kind is LayerKind.CONV:
        return w.transpose(3, 2, 0, 1)
    if k and len(layers[k - 1].sent_shape) == 3:
        h, wd, c = layers[k - 1].sent_shape
        w = w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(h * wd * c, -1)
    return w.T


def _load(model, net: Network, params: snn.Params) -> None:
    with torch.no_grad():
        for k, (op, (w, b)) in enumerate(zip(model.ops, params)):
            op.weight.copy_(torch.from_numpy(_as_torch(net, k, w).copy()))
            op.bias.copy_(torch.from_numpy(b))


@pytest.mark.parametrize("kind", [InputKind.CURRENT, InputKind.SPIKES])
@pytest.mark.parametrize("mode", P.MODES)
def test_peer_matches_spikepipe(kind, mode):
    net = Network("peer-check", (8, 8, 2), (Conv(4), MaxPool(), Conv(5, padding=0), Dense(7), Output(3)), 5,
                  input_kind=kind)
    rng = np.random.default_rng(0)
    if kind is InputKind.CURRENT:
        x, static = rng.random((4, 8, 8, 2), dtype=np.float32), True
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    else:
        x, static = (rng.random((5, 4, 8, 8, 2)) < 0.3).astype(np.uint8), False
        xt = torch.from_numpy(x.transpose(0, 1, 4, 2, 3).astype(np.float32))
    y = rng.integers(0, 3, 4)
    params = initial_params(net, InitKind.FIRING, 0, x, static)  # every layer fires: the surrogate path is used
    logits, states = snn.forward(net, params, x, static)
    _, g = softmax_cross_entropy(logits, y)
    grads = snn.backward(net, params, x, static, states, g)

    model = P.PeerNet(net)
    _load(model, net, params)
    out = (model.forward_layer if mode == "layer" else model.forward_step)(xt, static)
    torch.nn.functional.cross_entropy(out, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(out.detach().numpy(), logits, rtol=1e-4, atol=1e-4)
    for k, (op, (gw, gb)) in enumerate(zip(model.ops, grads)):
        np.testing.assert_allclose(op.bias.grad.numpy(), gb, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(op.weight.grad.numpy(), _as_torch(net, k, gw), rtol=1e-3, atol=1e-5)


def test_make_step_trains():
    net = Network("peer-step", (8, 8, 1), (Conv(4), MaxPool(), Dense(6), Output(3)), 4)
    draw, step = P.make_step(net, "layer", 8, 0, 1)
    losses = [step(draw()) for _ in range(3)]
    assert all(np.isfinite(losses))
    with pytest.raises(ValueError, match="mode"):
        P.make_step(net, "fast", 8, 0, 1)
