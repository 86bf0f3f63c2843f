"""The throughput peer of `bench_train.py`: the same network and neuron written in plain PyTorch.

Built from the same `workloads.Network` as SpikePipe's trainer (its compute layers: convolutions
with their kernel and padding, 2 x 2 max-pools, dense layers, the output accumulator) and its
`Neuron` record (c, lambda, V_th, alpha):

* LIF IIR neuron (eq. 3-5): `u = (i + (c - lam) d) / (c + lam)`, `v = u + d`, `s = v >= V_th`,
  `d = (1 - s) u` with the reset gate detached, as SpikePipe's backward treats it;
* the spike's surrogate derivative (eq. 22): `1 / (2 alpha)` where `|v - V_th| <= alpha`;
* the output accumulator (eq. 18): logits `v[T-1] = 2 sum_t i[t] - i[T-1]`;
* softmax cross-entropy, BPTT through all timesteps by autograd, `torch.optim.Adam`.

Two loop orders, both timed by the benchmark (the better one counts): `layer` (layers outer,
time inner: each layer's convolution runs once over all T x B rows, only the neuron recurrence is
sequential, SpikePipe's own order) and `step` (time outer, layers inner, the usual snnTorch
style). A static image input (MNIST) is convolved once and fed at every timestep, as SpikePipe
does. Channels are PyTorch's NCHW; the flattening order before the first dense layer differs
from SpikePipe's NHWC, which changes no amount of work.

torch is not a dependency of SpikePipe: `pip install torch` to run this (the figures in
`benchmarks/results/bench_train.json` used torch 2.13.0, CPU build).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workloads.network import InputKind, LayerKind, Network, Neuron

MODES = ("layer", "step")


class _Spike(torch.autograd.Function):
    """Heaviside spike (eq. 5) whose backward is the rectangular surrogate of eq. 22."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, threshold: float, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.threshold, ctx.alpha = threshold, alpha
        return (v >= threshold).to(v.dtype)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (v,) = ctx.saved_tensors
        window = ((v - ctx.threshold).abs() <= ctx.alpha).to(g.dtype)
        return g * window / (2 * ctx.alpha), None, None


def lif_step(i: torch.Tensor, d: torch.Tensor, neuron: Neuron) -> tuple[torch.Tensor, torch.Tensor]:
    """One timestep of the LIF IIR neuron (eq. 4-5) -> (spikes, new delay element)."""
    u = (i + (neuron.c - neuron.lam) * d) / (neuron.c + neuron.lam)
    s = _Spike.apply(u + d, neuron.threshold, neuron.alpha)
    return s, u * (1.0 - s.detach())


class PeerNet(nn.Module):
    """The compute layers of `net` as PyTorch modules (default PyTorch initialisation)."""

    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = net
        self.layers = net.compute_layers()
        self.ops = nn.ModuleList(
            nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel, padding=layer.padding)
            if layer.kind is LayerKind.CONV else nn.Linear(layer.in_size, layer.out_size) for layer in self.layers)

    def _gemm(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Layer k's GEMM on rows x (R, C, H, W) or (R, ...) flattened for a dense layer."""
        return self.ops[k](x if self.layers[k].kind is LayerKind.CONV else x.flatten(1))

    def _pool(self, k: int, s: torch.Tensor) -> torch.Tensor:
        pool = self.layers[k].pool
        return s if pool == 1 else F.max_pool2d(s, pool)

    def forward_layer(self, x: torch.Tensor, static: bool) -> torch.Tensor:
        """Layers outer, time inner: x (B, C, H, W) if static else (T, B, C, H, W) -> logits (B, classes)."""
        t = self.net.timesteps

        def currents(k: int, h: torch.Tensor) -> torch.Tensor:  # (T, B, ...) input currents of layer k
            if k == 0 and static:
                return self._gemm(0, h).unsqueeze(0).expand(t, *([-1] * h.dim()))
            return self._gemm(k, h.flatten(0, 1)).unflatten(0, (t, -1))

        h = x
        for k in range(len(self.layers) - 1):
            current = currents(k, h)
            d = torch.zeros_like(current[0])
            spikes = []
            for n in range(t):
                s, d = lif_step(current[n], d, self.net.neuron)
                spikes.append(s)
            h = self._pool(k, torch.stack(spikes).flatten(0, 1)).unflatten(0, (t, -1))
        current = currents(len(self.layers) - 1, h)
        return 2 * current.sum(0) - current[-1]  # eq. 18

    def forward_step(self, x: torch.Tensor, static: bool) -> torch.Tensor:
        """Time outer, layers inner: the same function as `forward_layer`."""
        last = len(self.layers) - 1
        first = self._gemm(0, x) if static else None
        d = [torch.zeros(0)] * last
        for n in range(self.net.timesteps):
            h = None if static else x[n]
            for k in range(last + 1):
                current = first if k == 0 and static else self._gemm(k, h)
                if k == last:
                    break
                s, d[k] = lif_step(current, torch.zeros_like(current) if n == 0 else d[k], self.net.neuron)
                h = self._pool(k, s)
            total = current if n == 0 else total + current
        return 2 * total - current  # eq. 18


def make_step(net: Network, mode: str, batch: int, seed: int,
              threads: int) -> tuple[Callable[[], tuple], Callable[[tuple], float]]:
    """`bench_train`'s two callables: one draws a random batch like SpikePipe's (an analog image as a
    constant current, or event frames with 10 % active pixels; labels), the other runs one training step
    on it (FP, BPTT, Adam) and returns the loss."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = PeerNet(net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    forward = model.forward_layer if mode == "layer" else model.forward_step
    static = net.input_kind is InputKind.CURRENT
    h, w, c = net.input_shape
    classes = net.compute_layers()[-1].out_size
    rng = np.random.default_rng(seed)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        if static:
            x = torch.from_numpy(rng.random((batch, c, h, w), dtype=np.float32))
        else:
            x = torch.from_numpy((rng.random((net.timesteps, batch, c, h, w)) < 0.1).astype(np.float32))
        return x, torch.from_numpy(rng.integers(0, classes, batch))

    def step(data: tuple[torch.Tensor, torch.Tensor]) -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(data[0], static), data[1])
        loss.backward()
        opt.step()
        return float(loss.detach())

    return draw, step
