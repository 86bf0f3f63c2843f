"""Initial weights: the default draw, or that draw scaled so that every layer fires from the first step.

`InitKind.DEFAULT` is `snn.init_params` (uniform +-1/sqrt(fan_in), PyTorch's default). With it the
deep DVS128 layers never spike at the start: their inputs are silent, their weight gradients
(eq. 13) are exactly zero, and SGD cannot move them.

`InitKind.FIRING` takes that draw and rescales it, layer by layer from the first, on one batch of
real training inputs (data-driven and layer-sequential, like LSUV, Mishkin & Matas 2016, and like
the data-based weight normalisation of ANN-to-SNN conversion, Diehl et al. 2015, Rueckauer et al.
2017): each spiking layer's weights and bias are multiplied by the one factor `a` for which its
firing rate on that batch (the share of ones among its spikes before pooling, eq. 5) is within
`tolerance` (relative) of `target`; the next layer is scaled on the spikes this scaled layer
sends. The input current of a layer is linear in `a` (eq. 8-9), its rate grows with it; `a` is
found by a safeguarded secant search on log a against log rate. The output layer (the
accumulator of eq. 18) is scaled so that the logits have unit standard deviation over the batch
and classes, LSUV's unit-variance rule, exact in one step since the logits are linear in `a`.
The result depends only on the seed and the batch.
"""
from __future__ import annotations

import math
from enum import StrEnum
from typing import Callable

import numpy as np

from workloads.errors import ConfigError
from workloads.network import LayerKind, Network

from . import snn
from .activity import density

TARGET_RATE = 0.1  # firing rate every spiking layer starts at (10 % of neuron-timesteps spike)
RATE_TOLERANCE = 0.05  # relative: 0.095 .. 0.105 for the default target
MAX_TRIALS = 40  # forward passes of one layer the search may take
MAX_SCALE = 1e6  # beyond this factor a layer counts as unable to fire


class InitKind(StrEnum):
    """How the weights start (`TrainConfig.init`, `spikepipe train --init`)."""

    DEFAULT = "default"
    FIRING = "firing"


INIT_KINDS = tuple(InitKind)


def initial_params(net: Network, kind: InitKind, seed: int, x: np.ndarray, static: bool) -> snn.Params:
    """The seeded draw (`snn.init_params`), scaled to fire on the batch `x` if `kind` is FIRING."""
    params = snn.init_params(net, seed)
    return params if kind is InitKind.DEFAULT else scale_to_fire(net, params, x, static)


def scale_to_fire(net: Network, params: snn.Params, x: np.ndarray, static: bool, target: float = TARGET_RATE,
                  tolerance: float = RATE_TOLERANCE) -> snn.Params:
    """`params` rescaled layer by layer so that every spiking layer fires at `target` (within the relative
    `tolerance`) on the batch `x`, and the logits have unit standard deviation (module docstring)."""
    if not 0.0 < target < 1.0 or not 0.0 < tolerance < 1.0:
        raise ConfigError(f"init firing: target rate and tolerance must be in (0, 1), got {target}, {tolerance}")
    out: snn.Params = []
    h = x
    for k, (layer, (w, b)) in enumerate(zip(net.compute_layers(), params)):
        def fp(a: float) -> snn.LayerState:
            s = np.float32(a)
            return snn.layer_fp(layer, w * s, b * s, h, net.timesteps, net.neuron, static=static and k == 0)

        if layer.kind is LayerKind.OUTPUT:
            std = float(fp(1.0).v_m[-1].std())
            a = 1.0 / std if std > 0 else 1.0
        else:
            a, state = _rate_scale(fp, target, tolerance, f"init firing: layer {k} ({layer.name})")
            h = state.sent
        s = np.float32(a)
        out.append((w * s, b * s))
    return out


def _rate_scale(fp: Callable[[float], snn.LayerState], target: float, tolerance: float,
                where: str) -> tuple[float, snn.LayerState]:
    """The factor `a` at which the layer's firing rate is within `tolerance` of `target`, and its state there.

    Starts at a = 1; until the rate is bracketed, steps by log(target / rate) (at least 0.1, at most
    log 16; x4 while silent); then a secant on (log a, log rate) kept inside the middle 80 % of the
    bracket (bisection while the lower end is silent)."""
    lo: tuple[float, float] | None = None  # (log a, rate) below the band
    hi: tuple[float, float] | None = None  # above it
    log_a = 0.0
    for _ in range(MAX_TRIALS):
        if log_a > math.log(MAX_SCALE):
            raise ConfigError(f"{where}: no weight scale up to {MAX_SCALE:g} makes it fire at {target:g} on this "
                              f"batch (its input carries too few spikes); use --init default")
        state = fp(math.exp(log_a))
        rate = density(state.spikes)
        if abs(rate - target) <= tolerance * target:
            return math.exp(log_a), state
        if rate < target:
            lo = (log_a, rate)
        else:
            hi = (log_a, rate)
        if lo is not None and hi is not None:
            frac = 0.5 if lo[1] == 0 else (math.log(target / lo[1]) / math.log(hi[1] / lo[1]))
            log_a = lo[0] + min(max(frac, 0.1), 0.9) * (hi[0] - lo[0])
        else:
            step = math.log(4.0) if rate == 0 else math.log(target / rate)
            log_a += math.copysign(min(max(abs(step), 0.1), math.log(16.0)), step)
    raise ConfigError(f"{where}: no weight scale found that makes it fire at {target:g} +- {100 * tolerance:g}% "
                      f"in {MAX_TRIALS} trials; use --init default")
