"""Network specifications: typed layer specs, shape inference and validation.

A `Network` is what is trained: an input shape, a list of layer specs
(convolution, non-overlapping max, sum or average pool, dense, output accumulator),
the number of timesteps `T`, the LIF neuron parameters (`Neuron`) and the per-layer
gradient delays (Table I).

Shapes follow the paper's Table I: spatial tensors are `(H, W, C)`, flat ones
`(Q,)`. The paper's convolutions have stride 1 (Section IV-B); a `Conv` may have a
stride `s >= 1` and a zero padding `0 <= p < K`: `H_out = (H + 2p - K) // s + 1`
(`conv_output_size`). A pool belongs to the compute layer before it: its cost is zero
in the cycle model and its output is what that layer sends on. A max-pool of spikes
sends spikes; a sum pool sends each window's spike count and an average pool that
count divided by `size^2`, so the next layer's input is no longer binary.

`Network.compute_layers()` resolves the specs into `ComputeLayer`s with every
shape filled in; the cycle model, the schedulers and the numerics all consume
that one resolved view.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from math import isfinite, prod
from numbers import Real
from typing import ClassVar, Union

from .errors import ConfigError

Shape = tuple[int, ...]


class InputKind(StrEnum):
    """What the first layer receives at each timestep."""

    CURRENT = "current"  # an image, as a constant input current (a real-valued GEMM)
    SPIKES = "spikes"  # event frames: binary spikes


class PoolKind(StrEnum):
    """How a pool combines a window of spikes."""

    MAX = "max"  # a spike iff the window holds one (the paper's 2x2 max-pool)
    SUM = "sum"  # the window's spike count, 0 .. size^2
    AVG = "avg"  # the window's spike count / size^2


class LayerKind(StrEnum):
    """What a compute layer does on the array."""

    CONV = "conv"  # KxK convolution into LIF neurons
    DENSE = "dense"  # fully connected into LIF neurons
    OUTPUT = "output"  # fully connected into non-leaky accumulators (eq. 18)


# Limits far above any network of the paper (Table I) that keep every figure the cycle model,
# the schedulers and the trainer compute finite and quick: a size outside them is a typo.
MAX_SIZE = 1 << 16  # an input dimension, filters, units, kernel, padding, stride, pool size
MAX_TIMESTEPS = 10_000
MAX_DELAY = 10_000  # gradient delay in mini-batches
MAX_LAYERS = 1_000
MAX_NEURONS = 1 << 28  # neurons of one layer's input or output (H * W * C or Q)
MAX_WEIGHTS = 1 << 32  # weights of one layer


@dataclass(frozen=True)
class Neuron:
    """The LIF IIR neuron of every spiking layer (eq. 3-5) and its surrogate gradient (eq. 22).

    The first-order section `H(z) = (1 + z^-1) / ((c + lam) - (c - lam) z^-1)` (eq. 3) with a
    delay element `d` that a spike resets (eq. 4-5, Fig. 2):

        u[n] = (i[n] + (c - lam) d[n-1]) / (c + lam)     v[n] = u[n] + d[n-1]
        s[n] = v[n] >= threshold                          d[n] = (1 - s[n]) u[n]

    Backward the spike's derivative is the surrogate phi'(v) = 1 / (2 alpha) where
    |v - threshold| <= alpha, else 0 (eq. 22). Defaults: c, lam, threshold from Fig. 3, alpha
    from Section III. Validated once, here: every field a finite number, c > 0, lam >= 0,
    alpha > 0 (so the kernels never divide by zero, eq. 4 and 22). The output layer is not
    this neuron but the accumulator of eq. 18."""

    c: float = 4.0
    lam: float = 0.25
    threshold: float = 0.5
    alpha: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, Real) or not isfinite(value):
                raise ConfigError(f"neuron: field '{f.name}' must be a finite number, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        if not self.c > 0:
            raise ConfigError(f"neuron: field 'c' must be > 0, got {self.c}")
        if not self.lam >= 0:
            raise ConfigError(f"neuron: field 'lam' must be >= 0, got {self.lam}")
        if not self.alpha > 0:
            raise ConfigError(f"neuron: field 'alpha' must be > 0, got {self.alpha}")


@dataclass(frozen=True)
class Conv:
    """KxK convolution with zero padding `0 <= padding < kernel` and stride `stride >= 1`,
    `filters` output channels, followed by LIF neurons."""

    filters: int
    kernel: int = 3
    padding: int = 1
    name: str = ""
    delay: int = 0
    stride: int = 1


@dataclass(frozen=True)
class Pool:
    """Non-overlapping `size` x `size` pooling of a convolution's spikes; `kind` is the subclass's."""

    size: int = 2
    name: str = ""
    kind: ClassVar[PoolKind]


@dataclass(frozen=True)
class MaxPool(Pool):
    """Max-pool: a spike iff the window holds one (the paper uses 2x2)."""

    kind: ClassVar[PoolKind] = PoolKind.MAX


@dataclass(frozen=True)
class SumPool(Pool):
    """Sum pool: the window's spike count."""

    kind: ClassVar[PoolKind] = PoolKind.SUM


@dataclass(frozen=True)
class AvgPool(Pool):
    """Average pool: the window's spike count divided by `size^2`."""

    kind: ClassVar[PoolKind] = PoolKind.AVG


@dataclass(frozen=True)
class Dense:
    """Fully connected layer followed by LIF neurons."""

    units: int
    name: str = ""
    delay: int = 0


@dataclass(frozen=True)
class Output:
    """Fully connected layer into non-leaky accumulators (c = 1, lambda = 0, eq. 18)."""

    units: int
    name: str = ""
    delay: int = 0


LayerSpec = Union[Conv, MaxPool, SumPool, AvgPool, Dense, Output]
POOL_SPECS = {cls.kind: cls for cls in (MaxPool, SumPool, AvgPool)}


def conv_output_size(size: int, kernel: int, padding: int, stride: int) -> int:
    """Output positions along one axis: `(size + 2 padding - kernel) // stride + 1` (< 1: the kernel does not fit)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ComputeLayer:
    """A layer that runs on the systolic array, with every shape resolved.

    `in_shape` is the unpadded input (what the previous layer sends),
    `out_shape` the neuron outputs before pooling, `sent_shape` what this layer
    sends to the next one (after its pool of `pool` x `pool` windows of kind
    `pool_kind`, if `pool > 1`).
    """

    index: int
    name: str
    kind: LayerKind
    in_shape: Shape
    out_shape: Shape
    sent_shape: Shape
    kernel: int = 1
    padding: int = 0
    pool: int = 1
    delay: int = 0
    stride: int = 1
    pool_kind: PoolKind = PoolKind.MAX

    @property
    def sends_counts(self) -> bool:
        """True when the layer sends window spike counts (a sum or average pool), not binary spikes."""
        return self.pool > 1 and self.pool_kind is not PoolKind.MAX

    @property
    def sent_levels(self) -> int:
        """Distinct values one sent element takes per timestep: 2 for spikes, `pool^2 + 1` for counts."""
        return self.pool * self.pool + 1 if self.sends_counts else 2

    @property
    def in_size(self) -> int:
        return prod(self.in_shape)

    @property
    def out_size(self) -> int:
        return prod(self.out_shape)

    @property
    def sent_size(self) -> int:
        return prod(self.sent_shape)

    @property
    def in_channels(self) -> int:
        return self.in_shape[-1]

    @property
    def out_channels(self) -> int:
        return self.out_shape[-1]

    @property
    def weight_count(self) -> int:
        """Weights without biases: `K*K*C*F` or `Q_in*Q_out`."""
        if self.kind is LayerKind.CONV:
            return self.kernel * self.kernel * self.in_channels * self.out_channels
        return self.in_size * self.out_size

    @property
    def params(self) -> int:
        """Weights plus one bias per output channel (Table I's '# Params')."""
        return self.weight_count + self.out_channels

    @property
    def spiking(self) -> bool:
        """True for LIF layers; the output layer is a non-spiking accumulator."""
        return self.kind is not LayerKind.OUTPUT


@dataclass(frozen=True)
class Network:
    """A network to train: input, layer specs, timesteps and neuron parameters."""

    name: str
    input_shape: Shape
    layers: tuple[LayerSpec, ...]
    timesteps: int
    neuron: Neuron = field(default_factory=Neuron)
    input_kind: InputKind = InputKind.CURRENT

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        _positive("network", "timesteps", self.timesteps, MAX_TIMESTEPS)
        if not isinstance(self.name, str):
            raise ConfigError(f"network: field 'name' must be a string, got {self.name!r}")
        if self.input_kind not in tuple(InputKind):
            raise ConfigError(
                f"network: field 'input_kind' must be 'current' or 'spikes', got {self.input_kind!r}"
            )
        object.__setattr__(self, "input_kind", InputKind(self.input_kind))
        if len(self.input_shape) not in (1, 3):
            raise ConfigError(
                f"network: field 'input' must be [H, W, C] or [Q], got {list(self.input_shape)}"
            )
        for size in self.input_shape:  # a flat input [Q] may be as large as a layer
            _positive("network", "input", size, MAX_SIZE if len(self.input_shape) == 3 else MAX_NEURONS)
        _within("network", "field 'input' neurons", prod(self.input_shape), MAX_NEURONS)
        if len(self.layers) > MAX_LAYERS:
            raise ConfigError(f"network {self.name}: field 'layers' holds {len(self.layers)} layers, "
                              f"at most {MAX_LAYERS:,} are allowed")
        object.__setattr__(self, "_resolved", _resolve(self))

    def compute_layers(self) -> tuple[ComputeLayer, ...]:
        """The layers that run on the array, in order, with shapes resolved."""
        return self._resolved  # type: ignore[attr-defined]

    @property
    def delays(self) -> tuple[int, ...]:
        """Per compute layer gradient delays in mini-batches (Table I's 'Delay')."""
        return tuple(layer.delay for layer in self.compute_layers())

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.compute_layers())

    def with_delays(self, delays: tuple[int, ...] | list[int]) -> Network:
        """The same network with other per-layer gradient delays."""
        compute = [s for s in self.layers if not isinstance(s, Pool)]
        if len(delays) != len(compute):
            raise ConfigError(
                f"network {self.name}: {len(delays)} delays given for {len(compute)} compute layers"
            )
        it = iter(delays)
        layers = tuple(
            s if isinstance(s, Pool) else type(s)(**{**s.__dict__, "delay": int(next(it))})
            for s in self.layers
        )
        return Network(self.name, self.input_shape, layers, self.timesteps, self.neuron, self.input_kind)


_POOL_NOUN = {PoolKind.MAX: "a max-pool", PoolKind.SUM: "a sum pool", PoolKind.AVG: "an average pool"}


def _positive(where: str, name: str, value: object, limit: int = MAX_SIZE) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: field '{name}' must be a positive integer, got {value!r}")
    if value > limit:
        raise ConfigError(f"{where}: field '{name}' must be at most {limit:,}, got {value:,}")


def _within(where: str, what: str, value: int, limit: int) -> None:
    if value > limit:
        raise ConfigError(f"{where}: {what} {value:,} exceeds the limit of {limit:,}; is a size mistyped?")


def _resolve(net: Network) -> tuple[ComputeLayer, ...]:
    """Shape inference over the layer list; raises ConfigError naming the layer and field."""
    shape: Shape = net.input_shape
    out: list[ComputeLayer] = []
    kinds = {Conv: LayerKind.CONV, Dense: LayerKind.DENSE, Output: LayerKind.OUTPUT}
    counters = dict.fromkeys([*(f"{k}pool" for k in PoolKind), *LayerKind], 0)
    if not net.layers:
        raise ConfigError(f"network {net.name}: field 'layers' is empty")
    for pos, spec in enumerate(net.layers):
        if type(spec) in POOL_SPECS.values():
            label = f"{spec.kind}pool"
            counters[label] += 1
            where = f"layer {pos} ({spec.name or label + str(counters[label])})"
            _positive(where, "size", spec.size)
            if not isinstance(spec.name, str):
                raise ConfigError(f"{where}: field 'name' must be a string, got {spec.name!r}")
            if not out or out[-1].kind is not LayerKind.CONV or out[-1].pool != 1:
                raise ConfigError(f"{where}: {_POOL_NOUN[spec.kind]} must follow a convolution "
                                  "(one pool per convolution)")
            h, w, c = shape
            if h < spec.size or w < spec.size:
                raise ConfigError(f"{where}: field 'size' {spec.size} does not fit input {h}x{w}x{c}")
            if h % spec.size or w % spec.size:
                raise ConfigError(
                    f"{where}: input {h}x{w}x{c} is not divisible by pool field 'size' {spec.size}"
                )
            shape = (h // spec.size, w // spec.size, c)
            pool_kind = spec.kind if spec.size > 1 else PoolKind.MAX  # a 1x1 window sends its spike, whatever the kind
            out[-1] = replace(out[-1], sent_shape=shape, pool=spec.size, pool_kind=pool_kind)
            continue
        kind = kinds.get(type(spec))
        if kind is None:
            raise ConfigError(f"layer {pos}: unknown layer type {type(spec).__name__}")
        counters[kind] += 1
        default = {LayerKind.CONV: "conv", LayerKind.DENSE: "fc"}.get(kind)
        name = spec.name or (f"{default}{counters[kind]}" if default else "output")
        where = f"layer {pos} ({name})"
        if out and out[-1].kind is LayerKind.OUTPUT:
            raise ConfigError(f"{where}: the output layer must be the last layer")
        if not isinstance(spec.name, str):
            raise ConfigError(f"{where}: field 'name' must be a string, got {spec.name!r}")
        if not isinstance(spec.delay, int) or isinstance(spec.delay, bool) or not 0 <= spec.delay <= MAX_DELAY:
            raise ConfigError(f"{where}: field 'delay' must be an integer from 0 to {MAX_DELAY:,}, got {spec.delay!r}")
        if isinstance(spec, Conv):
            _positive(where, "filters", spec.filters)
            _positive(where, "kernel", spec.kernel)
            if not isinstance(spec.padding, int) or isinstance(spec.padding, bool) or not 0 <= spec.padding <= MAX_SIZE:
                raise ConfigError(f"{where}: field 'padding' must be an integer from 0 to {MAX_SIZE:,}, "
                                  f"got {spec.padding!r}")
            _positive(where, "stride", spec.stride)
            if len(shape) != 3:
                raise ConfigError(f"{where}: a convolution needs an [H, W, C] input, got a flat input of {shape[0]}")
            h, w, c = shape
            hout = conv_output_size(h, spec.kernel, spec.padding, spec.stride)
            wout = conv_output_size(w, spec.kernel, spec.padding, spec.stride)
            if hout <= 0 or wout <= 0:
                raise ConfigError(
                    f"{where}: field 'kernel' {spec.kernel} does not fit input {h}x{w}x{c} "
                    f"with padding {spec.padding}"
                )
            if spec.padding >= spec.kernel:
                raise ConfigError(f"{where}: field 'padding' {spec.padding} must be smaller than kernel {spec.kernel}")
            new = (hout, wout, spec.filters)
            _within(where, "weights (kernel^2 x channels x filters)", spec.kernel ** 2 * c * spec.filters, MAX_WEIGHTS)
            out.append(ComputeLayer(len(out), name, LayerKind.CONV, shape, new, new, spec.kernel, spec.padding, 1,
                                    spec.delay, spec.stride))
        else:
            _positive(where, "units", spec.units)
            new = (spec.units,)
            _within(where, "weights (inputs x units)", prod(shape) * spec.units, MAX_WEIGHTS)
            out.append(ComputeLayer(len(out), name, kind, (prod(shape),), new, new, 1, 0, 1, spec.delay))
        _within(where, "neurons", prod(new), MAX_NEURONS)
        shape = new
    if out[-1].kind is not LayerKind.OUTPUT:
        raise ConfigError(f"network {net.name}: the last layer must be of type 'output'")
    return tuple(out)
