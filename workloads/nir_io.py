"""NIR (Neuromorphic Intermediate Representation) graphs <-> SpikePipe networks and weights.

Import (`read_nir`, `nir_params`) walks a chain graph from its `Input` to its `Output`:

    Conv2d -> LIF | IF                       a convolution layer (square stride and padding)
    [SumPool2d | AvgPool2d -> Threshold]     its max-pool, when the Threshold lets a window pass
                                             iff it holds a spike (max of binary spikes)
    [SumPool2d | AvgPool2d]                  its sum or average pool (no Threshold after it);
                                             pools are square, stride = kernel, unpadded
    Flatten                                  (C, H, W) -> flat, before the first Affine/Linear
    Affine | Linear -> LIF | IF              a dense layer (Linear: zero bias)
    Affine | Linear -> I                     the output layer: the accumulator of eq. 18
                                             (c = 1, lambda = 0), i.e. I with r = 2 / dt

A NIR `LIF` (tau dv/dt = (v_leak - v) + r i) discretised with the bilinear transform at step
`dt` is our IIR neuron (eq. 3) with c = 2 tau / (r dt), lambda = 1 / r; an `IF` (dv/dt = r i)
has c = 2 / (r dt), lambda = 0 (docs/nir.md derives both). NIR is channels-first: images
(C, H, W), convolution weights (out, in, kH, kW), a flattened vector in (C, H, W) order;
SpikePipe is channels-last: (H, W, C), (K, K, C, F), (H, W, C) order, dense weights (in, out).

Anything else (a node kind or field value we do not model, a cycle, a branch, a missing dt)
raises one ConfigError naming the node. Export (`network_to_nir`) writes the same chain back,
with `dt`, the number of timesteps, the input kind and the surrogate width `alpha` (eq. 22) in
the graph metadata and each layer's name and gradient delay in its weight node's metadata, so
that import gives the same network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .network import (POOL_SPECS, ComputeLayer, Conv, Dense, LayerSpec, Network, Neuron, Output, PoolKind,
                      conv_output_size)

Params = list[tuple[np.ndarray, np.ndarray]]  # per compute layer (weights, bias), models.snn's layout
EXPORT_DT = 1e-3  # seconds: the default step written into exported files


def _nir() -> Any:
    try:
        import nir
    except ImportError:
        raise ConfigError("NIR files need the 'nir' package: pip install 'spikepipe[nir]'") from None
    return nir


def conv_weights_from_nir(w: np.ndarray) -> np.ndarray:
    """NIR (out, in, kH, kW) -> our (K, K, C, F); both are cross-correlations."""
    return np.ascontiguousarray(np.asarray(w).transpose(2, 3, 1, 0), np.float32)


def conv_weights_to_nir(w: np.ndarray) -> np.ndarray:
    """Our (K, K, C, F) -> NIR (out, in, kH, kW)."""
    return np.ascontiguousarray(np.asarray(w, np.float32).transpose(3, 2, 0, 1))


def dense_weights_from_nir(w: np.ndarray, flat_of: tuple[int, ...] | None) -> np.ndarray:
    """NIR (out, in) -> our (in, out). After a Flatten of (C, H, W) NIR's inputs are in (C, H, W)
    order, ours in (H, W, C) order."""
    w = np.asarray(w)
    if flat_of is not None:
        c, h, wd = flat_of
        return np.ascontiguousarray(w.reshape(-1, c, h, wd).transpose(2, 3, 1, 0).reshape(h * wd * c, -1),
                                    np.float32)
    return np.ascontiguousarray(w.T, np.float32)


def dense_weights_to_nir(w: np.ndarray, flat_of: tuple[int, ...] | None) -> np.ndarray:
    """Our (in, out) -> NIR (out, in); the inverse of `dense_weights_from_nir`."""
    w = np.asarray(w, np.float32)
    if flat_of is not None:
        c, h, wd = flat_of
        return np.ascontiguousarray(w.reshape(h, wd, c, -1).transpose(3, 2, 0, 1).reshape(-1, c * h * wd))
    return np.ascontiguousarray(w.T)


@dataclass(frozen=True)
class _NeuronNode:
    """A NIR neuron node as read: its key, type name and per-layer (uniform) parameters."""

    key: str
    kind: str
    fields: dict[str, float]


@dataclass
class _Layer:
    """A compute layer as read from the graph, before its neuron is discretised."""

    key: str
    name: str
    kind: str            # conv | dense | output
    w: np.ndarray        # our layout
    b: np.ndarray
    delay: int
    padding: int = 0
    stride: int = 1
    pool: int = 1
    pool_kind: PoolKind = PoolKind.MAX
    neuron: _NeuronNode | None = None


@dataclass(frozen=True)
class _Parsed:
    input_shape: tuple[int, ...]  # ours: (H, W, C) or (Q,)
    layers: tuple[_Layer, ...]
    metadata: dict[str, Any]


def read_nir(path: str | Path, dt: float | None = None, timesteps: int | None = None) -> Network:
    """The network a NIR file describes; `dt` (s) and `timesteps` override the graph metadata."""
    parsed = _parse(path)
    meta = parsed.metadata
    where = f"NIR file {path}"
    dt = _number(where, "dt", dt if dt is not None else meta.get("dt"), "--dt SECONDS")
    steps = timesteps if timesteps is not None else meta.get("timesteps")
    steps = int(_number(where, "timesteps", steps, "--timesteps T", integer=True))
    hidden = [lay for lay in parsed.layers if lay.kind != "output"]
    neuron = _common_neuron(where, hidden, dt)
    if "alpha" in meta:  # the surrogate gradient's half-width (eq. 22): training, not the model NIR describes
        neuron = replace(neuron, alpha=_number(where, "alpha", meta["alpha"], "a positive 'alpha'"))
    for lay in parsed.layers:
        if lay.kind == "output":
            _check_accumulator(where, lay.neuron, dt)
    specs: list[LayerSpec] = []
    for lay in parsed.layers:
        if lay.kind == "conv":
            specs.append(Conv(lay.w.shape[3], kernel=lay.w.shape[0], padding=lay.padding, stride=lay.stride,
                              name=lay.name, delay=lay.delay))
            if lay.pool > 1:
                specs.append(POOL_SPECS[lay.pool_kind](lay.pool))
        else:
            specs.append((Dense if lay.kind == "dense" else Output)(lay.w.shape[1], name=lay.name, delay=lay.delay))
    try:
        return Network(name=str(meta.get("name", Path(path).stem)), input_shape=parsed.input_shape,
                       layers=tuple(specs), timesteps=steps, neuron=neuron,
                       input_kind=str(meta.get("input_kind", "current")))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def nir_params(path: str | Path, net: Network | None = None) -> Params:
    """The weights and biases of a NIR file in models.snn's layout (float32), checked
    against `net`'s layers when given (no dt needed: weights do not depend on it)."""
    params = [(lay.w, lay.b) for lay in _parse(path).layers]
    if net is not None:
        check_params(f"NIR file {path}", net, params)
    return params


def param_shapes(layer: ComputeLayer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Weight and bias shapes of a layer in models.snn's layout: (K, K, C, F) or (Q_in, Q_out), (F,)."""
    if layer.kind == "conv":
        return (layer.kernel, layer.kernel, layer.in_channels, layer.out_channels), (layer.out_channels,)
    return (layer.in_size, layer.out_size), (layer.out_size,)


def check_params(where: str, net: Network, params: Params) -> None:
    """ConfigError unless `params` has one (w, b) per compute layer of `net` with its shapes."""
    layers = net.compute_layers()
    if len(params) != len(layers):
        raise ConfigError(f"{where}: {len(params)} weight layers for the {len(layers)} compute layers of {net.name}")
    for layer, (w, b) in zip(layers, params):
        if (tuple(w.shape), tuple(b.shape)) != param_shapes(layer):
            raise ConfigError(f"{where}: layer '{layer.name}' has weights {tuple(w.shape)} and bias "
                              f"{tuple(b.shape)}, {net.name} needs {param_shapes(layer)}")


def network_to_nir(net: Network, params: Params, dt: float = EXPORT_DT) -> Any:
    """`net` with `params` as a `nir.NIRGraph` (NIR's layouts, neurons at step `dt` seconds)."""
    nir = _nir()
    check_params(f"network {net.name}", net, params)
    dt = _number(f"network {net.name}", "dt", dt, "a positive dt")
    keys: list[str] = ["input"]
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(_to_nir_shape(net.input_shape)))}

    def add(base: str, node: Any) -> None:
        key, n = base, 0
        while key in nodes or key == "output":
            n += 1
            key = f"{base}_{n}"
        nodes[key] = node
        keys.append(key)

    for layer, (w, b) in zip(net.compute_layers(), params):
        meta = {"name": layer.name, "delay": layer.delay}
        b = np.asarray(b, np.float32)
        if layer.kind == "conv":
            add(layer.name, nir.Conv2d(input_shape=tuple(layer.in_shape[:2]), weight=conv_weights_to_nir(w),
                                       stride=layer.stride, padding=layer.padding, dilation=1, groups=1, bias=b,
                                       metadata=meta))
        else:
            prev = _previous_shape(net, layer)
            flat_of = _to_nir_shape(prev) if len(prev) == 3 else None
            if flat_of is not None:
                add("flatten", nir.Flatten(input_type={"input": np.array(flat_of)}, start_dim=0, end_dim=-1))
            add(layer.name, nir.Affine(weight=dense_weights_to_nir(w, flat_of), bias=b, metadata=meta))
        shape = _to_nir_shape(layer.out_shape)
        if layer.kind == "output":
            add(f"{layer.name}_accumulator", nir.I(r=np.full(shape, 2.0 / dt)))  # c = 2 / (r dt) = 1
            continue
        add(f"{layer.name}_neuron", _neuron_node(nir, net.neuron, shape, dt))
        if layer.pool > 1:
            s = layer.pool
            window = dict(kernel_size=np.array([s, s]), stride=np.array([s, s]), padding=np.array([0, 0]))
            add(f"{layer.name}_pool", (nir.AvgPool2d if layer.pool_kind is PoolKind.AVG else nir.SumPool2d)(**window))
            if layer.pool_kind is PoolKind.MAX:  # a window passes iff it holds a spike
                add(f"{layer.name}_pool_spike",
                    nir.Threshold(threshold=np.full(_to_nir_shape(layer.sent_shape), 0.5)))
    keys.append("output")
    nodes["output"] = nir.Output(output_type=np.array(_to_nir_shape(net.compute_layers()[-1].out_shape)))
    metadata = {"dt": float(dt), "timesteps": int(net.timesteps), "input_kind": str(net.input_kind), "name": net.name,
                "alpha": float(net.neuron.alpha)}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(keys[:-1], keys[1:])), metadata=metadata)


def _previous_shape(net: Network, layer: ComputeLayer) -> tuple[int, ...]:
    """What the layer before `layer` sends (the network input for the first layer)."""
    return net.input_shape if layer.index == 0 else net.compute_layers()[layer.index - 1].sent_shape


def _neuron_node(nir: Any, neuron: Neuron, shape: tuple[int, ...], dt: float) -> Any:
    """Our (c, lambda, V_th) as a NIR LIF (IF when lambda = 0) at step dt (inverse of `_discretise`)."""
    full = lambda v: np.full(shape, float(v))  # noqa: E731
    if neuron.lam == 0:
        return nir.IF(r=full(2.0 / (neuron.c * dt)), v_threshold=full(neuron.threshold), v_reset=full(0.0))
    r = 1.0 / neuron.lam
    return nir.LIF(tau=full(neuron.c * r * dt / 2.0), r=full(r), v_leak=full(0.0),
                   v_threshold=full(neuron.threshold), v_reset=full(0.0))


def _to_nir_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


# ---------------------------------------------------------------- import


def _parse(path: str | Path) -> _Parsed:
    """Read the file and walk its chain into layers with weights in our layout."""
    nir = _nir()
    try:
        graph = nir.read(str(path), type_check=False)
    except (OSError, KeyError, ValueError, TypeError, AssertionError, AttributeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"NIR file {path}: cannot be read ({reason})") from None
    try:
        return _Walker(nir).walk(_chain(graph), dict(getattr(graph, "metadata", None) or {}))
    except ConfigError as exc:
        raise ConfigError(f"NIR file {path}: {exc}") from None


def _chain(graph: Any) -> list[tuple[str, Any]]:
    """The nodes from the Input to the Output, in order; ConfigError unless the graph is a chain."""
    nodes = graph.nodes
    for key, node in nodes.items():
        if type(node).__name__ == "NIRGraph":
            raise ConfigError(f"node '{key}': a nested graph (recurrence or a subgraph) is not supported")
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in nodes:
                raise ConfigError(f"edge ('{a}', '{b}'): node '{end}' does not exist")
        succ[a].append(b)
        pred[b].append(a)
    for key in nodes:
        if len(succ[key]) > 1:
            raise ConfigError(f"node '{key}': feeds {len(succ[key])} nodes {succ[key]}; only chain graphs "
                              "(no branches, no recurrence) are supported")
        if len(pred[key]) > 1:
            raise ConfigError(f"node '{key}': has {len(pred[key])} inputs {pred[key]}; only chain graphs "
                              "(no merges, no recurrence) are supported")
    inputs = [k for k, n in nodes.items() if type(n).__name__ == "Input"]
    if len(inputs) != 1:
        raise ConfigError(f"the graph needs exactly one Input node, it has {len(inputs)}")
    order = [inputs[0]]
    while succ[order[-1]]:
        nxt = succ[order[-1]][0]
        if nxt in order:
            raise ConfigError(f"node '{nxt}': is on a cycle; recurrence is not supported")
        order.append(nxt)
    if type(nodes[order[-1]]).__name__ != "Output":
        raise ConfigError(f"node '{order[-1]}': the chain ends here without an Output node")
    loose = [k for k in nodes if k not in order]
    if loose:
        raise ConfigError(f"node '{loose[0]}': is not on the chain from '{inputs[0]}' to '{order[-1]}'")
    return [(k, nodes[k]) for k in order]


class _Walker:
    """Turns the chain into `_Layer`s, one node at a time, tracking the tensor shape (NIR layout).

    One method per node kind (`_on_<Type>`); a kind without a method is not supported."""

    def __init__(self, nir: Any) -> None:
        self.nir = nir
        self.shape: tuple[int, ...] = ()
        self.flat_of: tuple[int, ...] | None = None  # the (C, H, W) a flat tensor was flattened from
        self.pending: _Layer | None = None           # a weight layer waiting for its neuron
        self.layers: list[_Layer] = []
        self.finished = False                        # the output layer is complete
        self.pooled_now = False                      # the last thing done was a pool

    def walk(self, chain: list[tuple[str, Any]], metadata: dict[str, Any]) -> _Parsed:
        key, node = chain[0]
        self.shape = _shape_of(key, node.input_type.get("input") if isinstance(node.input_type, dict) else None)
        if len(self.shape) not in (1, 3):
            raise ConfigError(f"node '{key}': input shape {list(self.shape)} must be (C, H, W) or (N,)")
        input_shape = (self.shape[1], self.shape[2], self.shape[0]) if len(self.shape) == 3 else self.shape
        i = 1
        while i < len(chain):
            key, node = chain[i]
            handler = getattr(self, f"_on_{type(node).__name__}", None)
            if handler is None:
                raise ConfigError(f"node '{key}': NIR {type(node).__name__} nodes are not supported")
            i += handler(key, node, chain[i + 1] if i + 1 < len(chain) else None)
        return _Parsed(tuple(int(v) for v in input_shape), tuple(self.layers), metadata)

    # -- helpers

    def _open(self, key: str, what: str) -> None:
        if self.finished:
            raise ConfigError(f"node '{key}': nothing may follow the output accumulator but the Output node")
        if self.pending is not None:
            raise ConfigError(f"node '{key}': {what} follows '{self.pending.key}', which needs a neuron "
                              "(LIF, IF or, for the last layer, I) first")

    # -- node kinds (each returns how many chain nodes it consumed)

    def _on_Conv2d(self, key: str, node: Any, nxt: Any) -> int:
        self._open(key, "a Conv2d")
        w = np.asarray(node.weight)
        if len(self.shape) != 3:
            raise ConfigError(f"node '{key}': a Conv2d needs a (C, H, W) input, got {list(self.shape)}")
        if w.ndim != 4 or w.shape[1] != self.shape[0]:
            raise ConfigError(f"node '{key}': weight {list(w.shape)} does not fit its input {list(self.shape)} "
                              "(expected (out, in, kH, kW) with in = C)")
        f, _, kh, kw = w.shape
        if kh != kw:
            raise ConfigError(f"node '{key}': a {kh}x{kw} kernel is not supported (square kernels only)")
        stride = _ints(node.stride)
        stride = stride * 2 if len(stride) == 1 else stride
        if len(stride) != 2 or stride[0] != stride[1] or stride[0] < 1:
            raise ConfigError(f"node '{key}': stride {stride} is not supported (the same positive stride on both axes)")
        if any(int(d) != 1 for d in np.ravel(node.dilation)):
            raise ConfigError(f"node '{key}': dilation {_ints(node.dilation)} is not supported")
        if int(node.groups) != 1:
            raise ConfigError(f"node '{key}': groups = {int(node.groups)} is not supported (dense convolutions only)")
        pad = _padding(key, node.padding, kh, stride[0])
        c, h, wd = self.shape
        if node.input_shape is not None and tuple(int(v) for v in np.ravel(node.input_shape)) != (h, wd):
            raise ConfigError(f"node '{key}': input_shape {_ints(node.input_shape)} does not match its input {h}x{wd}")
        ho, wo = (conv_output_size(n, kh, pad, stride[0]) for n in (h, wd))
        if ho < 1 or wo < 1:
            raise ConfigError(f"node '{key}': a {kh}x{kw} kernel does not fit its {h}x{wd} input")
        b = _bias(key, node.bias, f)
        self.pending = _Layer(key, _layer_name(key, node), "conv", conv_weights_from_nir(w), b, _delay(key, node),
                              padding=pad, stride=stride[0])
        self.shape, self.flat_of, self.pooled_now = (f, ho, wo), None, False
        return 1

    def _on_Affine(self, key: str, node: Any, nxt: Any) -> int:
        return self._dense(key, node, _bias(key, node.bias, np.asarray(node.weight).shape[0]))

    def _on_Linear(self, key: str, node: Any, nxt: Any) -> int:
        return self._dense(key, node, np.zeros(np.asarray(node.weight).shape[0], np.float32))

    def _dense(self, key: str, node: Any, b: np.ndarray) -> int:
        kind = f"{'an' if type(node).__name__ == 'Affine' else 'a'} {type(node).__name__}"
        self._open(key, kind)
        w = np.asarray(node.weight)
        if len(self.shape) != 1:
            raise ConfigError(f"node '{key}': {kind} needs a flat input; add a Flatten before it "
                              f"(its input is {list(self.shape)})")
        if w.ndim != 2 or w.shape[1] != self.shape[0]:
            raise ConfigError(f"node '{key}': weight {list(w.shape)} does not fit its input of {self.shape[0]} "
                              "(expected (out, in))")
        self.pending = _Layer(key, _layer_name(key, node), "dense", dense_weights_from_nir(w, self.flat_of), b,
                              _delay(key, node))
        self.shape, self.flat_of, self.pooled_now = (w.shape[0],), None, False
        return 1

    def _on_Flatten(self, key: str, node: Any, nxt: Any) -> int:
        self._open(key, "a Flatten")
        nd = len(self.shape)
        start, end = int(node.start_dim), int(node.end_dim)
        start, end = start % nd if start < 0 else start, end % nd if end < 0 else end
        if (start, end) != (0, nd - 1):
            raise ConfigError(f"node '{key}': flattens dims {start}..{end} of {list(self.shape)}; only a full "
                              "flatten (start_dim 0, end_dim -1) is supported")
        if nd == 3:
            self.flat_of, self.shape = self.shape, (prod(self.shape),)
        return 1

    def _on_LIF(self, key: str, node: Any, nxt: Any) -> int:
        return self._neuron(key, node, ("tau", "r", "v_leak", "v_threshold", "v_reset"))

    def _on_IF(self, key: str, node: Any, nxt: Any) -> int:
        return self._neuron(key, node, ("r", "v_threshold", "v_reset"))

    def _on_I(self, key: str, node: Any, nxt: Any) -> int:
        if self.pending is None or self.pending.kind != "dense":
            raise ConfigError(f"node '{key}': an I (the output accumulator) must follow an Affine/Linear")
        self._neuron(key, node, ("r",))
        self.layers[-1].kind = "output"
        self.finished = True
        return 1

    def _neuron(self, key: str, node: Any, fields: tuple[str, ...]) -> int:
        if self.pending is None:
            raise ConfigError(f"node '{key}': a {type(node).__name__} must follow a Conv2d or an Affine/Linear")
        values = {}
        for name in fields:
            arr = np.asarray(getattr(node, name), np.float64)
            if arr.size > 1 and tuple(arr.shape) != self.shape:
                raise ConfigError(f"node '{key}': field '{name}' has shape {list(arr.shape)}, its input "
                                  f"{list(self.shape)}")
            if arr.size == 0 or not np.all(arr == arr.flat[0]):
                raise ConfigError(f"node '{key}': field '{name}' differs between neurons; a SpikePipe layer "
                                  "has one neuron for all its units")
            values[name] = float(arr.flat[0])
        self.pending.neuron = _NeuronNode(key, type(node).__name__, values)
        self.layers.append(self.pending)
        self.pending = None
        return 1

    def _on_SumPool2d(self, key: str, node: Any, nxt: Any) -> int:
        return self._pool(key, node, nxt, PoolKind.SUM)

    def _on_AvgPool2d(self, key: str, node: Any, nxt: Any) -> int:
        return self._pool(key, node, nxt, PoolKind.AVG)

    def _pool(self, key: str, node: Any, nxt: Any, kind: PoolKind) -> int:
        """A square, non-overlapping, unpadded pool on a convolution's spikes: our sum or average pool,
        or, followed by a `Threshold(th)` with 0 <= th < 1 (sum) or 1/k^2 (average), which passes a window
        iff it holds a spike, our max-pool of binary spikes."""
        what = {PoolKind.SUM: "sum", PoolKind.AVG: "average"}[kind]
        self._open(key, f"a {type(node).__name__}")
        if not self.layers or self.layers[-1].kind != "conv" or self.pooled_now or len(self.shape) != 3:
            raise ConfigError(f"node '{key}': {what} pooling is only supported on a convolution's spikes, "
                              "once per convolution")
        k = _ints(node.kernel_size)
        k = k * 2 if len(k) == 1 else k
        stride, pad = _ints(node.stride), _ints(node.padding)
        stride = stride * 2 if len(stride) == 1 else stride
        if len(set(k)) != 1 or stride != k or any(pad):
            raise ConfigError(f"node '{key}': pooling with kernel {k}, stride {stride}, padding {pad} is not "
                              "supported (square, non-overlapping, unpadded only: stride = kernel, padding 0)")
        s = k[0]
        c, h, wd = self.shape
        if h % s or wd % s:
            raise ConfigError(f"node '{key}': a {s}x{s} pool does not tile its {h}x{wd} input")
        thresholded = nxt is not None and type(nxt[1]).__name__ == "Threshold"
        if thresholded:
            tkey, thr = nxt
            scale = 1.0 if kind is PoolKind.SUM else 1.0 / (s * s)
            th = np.asarray(thr.threshold, np.float64)
            if th.size == 0 or not np.all(th == th.flat[0]) or not 0 <= th.flat[0] < scale:
                raise ConfigError(f"node '{tkey}': a max-pool on binary spikes needs one threshold in [0, {scale:g}) "
                                  f"after {what} pooling (fire iff the window holds a spike), got {_ints_or_values(th)}")
        self.layers[-1].pool = s
        self.layers[-1].pool_kind = PoolKind.MAX if thresholded else kind
        self.shape, self.pooled_now = (c, h // s, wd // s), True
        return 2 if thresholded else 1

    def _on_Threshold(self, key: str, node: Any, nxt: Any) -> int:
        raise ConfigError(f"node '{key}': a Threshold is only supported right after a SumPool2d/AvgPool2d "
                          "(together a max-pool on spikes)")

    def _on_LI(self, key: str, node: Any, nxt: Any) -> int:
        raise ConfigError(f"node '{key}': a leaky readout (LI) is not supported yet: SpikePipe's output layer is "
                          "the non-leaky accumulator of eq. 18; use nir.I with r = 2/dt")

    def _on_CubaLIF(self, key: str, node: Any, nxt: Any) -> int:
        raise ConfigError(f"node '{key}': CubaLIF is not supported: its synaptic current filter (tau_syn) makes "
                          "it second order, SpikePipe's neuron is the first-order IIR of eq. 3")

    def _on_Output(self, key: str, node: Any, nxt: Any) -> int:
        if not self.finished:
            accumulator = "the last Affine/Linear must be followed by nir.I (r = 2/dt), the output accumulator of eq. 18"
            if self.pending is None and self.layers and self.layers[-1].neuron is not None:
                neuron = self.layers[-1].neuron
                raise ConfigError(f"node '{neuron.key}': a spiking readout ({neuron.kind}) is not supported yet: "
                                  f"{accumulator}")
            raise ConfigError(f"node '{key}': {accumulator}"
                              + (f"; the graph ends after '{self.pending.key}'" if self.pending else ""))
        want = node.output_type.get("output") if isinstance(node.output_type, dict) else None
        if want is not None and prod(_ints(want)) != prod(self.shape):
            raise ConfigError(f"node '{key}': shape {_ints(want)} does not match its input {list(self.shape)}")
        return 1


def _common_neuron(where: str, layers: list[_Layer], dt: float) -> Neuron:
    """The one Neuron all spiking layers share (ConfigError if their nodes disagree)."""
    first: tuple[_NeuronNode, Neuron] | None = None
    for lay in layers:
        neuron = _discretise(where, lay.neuron, dt)
        if first is None:
            first = (lay.neuron, neuron)
        elif not all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in
                     ((neuron.c, first[1].c), (neuron.lam, first[1].lam), (neuron.threshold, first[1].threshold))):
            raise ConfigError(f"{where}: node '{lay.neuron.key}': neuron {_fmt(neuron)} differs from node "
                              f"'{first[0].key}' ({_fmt(first[1])}); SpikePipe layers share one neuron")
    return Neuron() if first is None else first[1]


def _discretise(where: str, node: _NeuronNode, dt: float) -> Neuron:
    """Bilinear transform of the node's ODE at step dt (eq. 3): LIF c = 2 tau/(r dt), lambda = 1/r;
    IF c = 2/(r dt), lambda = 0. The reset must be to 0 (footnote 1: the delay element is cleared)."""
    f = node.fields
    at = f"{where}: node '{node.key}'"
    if f.get("v_leak", 0.0) != 0.0:
        raise ConfigError(f"{at}: v_leak = {f['v_leak']:g} is not supported (the resting potential is 0, eq. 1)")
    if f["v_reset"] != 0.0:
        raise ConfigError(f"{at}: reset to v_reset = {f['v_reset']:g} is not supported (a spike clears the "
                          "neuron's state, eq. 5: reset to 0)")
    if not f["r"] > 0 or not math.isfinite(f["r"]) or not f.get("tau", 1.0) > 0:
        raise ConfigError(f"{at}: r and tau must be positive and finite, got {f}")
    if node.kind == "LIF":
        c, lam = 2.0 * f["tau"] / (f["r"] * dt), 1.0 / f["r"]
    else:
        c, lam = 2.0 / (f["r"] * dt), 0.0
    try:
        return Neuron(c=c, lam=lam, threshold=f["v_threshold"])
    except ConfigError as exc:
        raise ConfigError(f"{at}: {exc}") from None


def _check_accumulator(where: str, node: _NeuronNode, dt: float) -> None:
    """The output layer's I must be the accumulator of eq. 18: c = 2/(r dt) = 1."""
    c = 2.0 / (node.fields["r"] * dt) if node.fields["r"] > 0 else math.inf
    if not math.isclose(c, 1.0, rel_tol=1e-9):
        raise ConfigError(f"{where}: node '{node.key}': r = {node.fields['r']:g} gives c = 2/(r dt) = {c:g}; the "
                          f"output accumulator (eq. 18) needs c = 1, i.e. r = 2/dt = {2.0 / dt:g}")


def _fmt(n: Neuron) -> str:
    return f"c = {n.c:g}, lambda = {n.lam:g}, threshold = {n.threshold:g}"


def _number(where: str, name: str, value: Any, fix: str, integer: bool = False) -> float:
    """A positive finite number (integer if asked) from an option or the graph metadata."""
    if value is None:
        raise ConfigError(f"{where}: no '{name}': NIR files carry none unless their graph metadata has it; "
                          f"pass {fix}")
    try:
        v = np.asarray(value).item()
    except (ValueError, TypeError):
        v = value
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 \
            or (integer and int(v) != v):
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{where}: '{name}' must be {kind}, got {value!r}")
    return float(v)


def _shape_of(key: str, value: Any) -> tuple[int, ...]:
    if value is None:
        raise ConfigError(f"node '{key}': has no shape")
    return tuple(_ints(value))


def _ints(value: Any) -> list[int]:
    return [int(v) for v in np.ravel(np.asarray(value))]


def _ints_or_values(arr: np.ndarray) -> str:
    vals = np.unique(arr)
    return f"{vals[0]:g}" if vals.size == 1 else f"{vals.size} different values"


def _padding(key: str, padding: Any, k: int, stride: int) -> int:
    """NIR padding ('same', 'valid', int or (ph, pw)) as our symmetric padding < kernel. 'same' (output
    size = input size) is a symmetric padding only for an odd kernel at stride 1."""
    if isinstance(padding, (str, bytes)):
        text = padding.decode() if isinstance(padding, bytes) else padding
        if text == "valid":
            return 0
        if text == "same" and k % 2 == 1 and stride == 1:
            return (k - 1) // 2
        raise ConfigError(f"node '{key}': padding '{text}' with a {k}x{k} kernel at stride {stride} is not "
                          "supported (give the padding as an integer)")
    p = _ints(padding)
    p = p * 2 if len(p) == 1 else p
    if len(p) != 2 or p[0] != p[1] or not 0 <= p[0] < k:
        raise ConfigError(f"node '{key}': padding {p} is not supported (the same padding on both axes, "
                          f"smaller than the kernel {k})")
    return p[0]


def _bias(key: str, bias: Any, n: int) -> np.ndarray:
    b = np.asarray(bias, np.float32)
    if b.size == 1 and n != 1:
        b = np.full(n, b.item(), np.float32)
    if b.shape != (n,):
        raise ConfigError(f"node '{key}': bias of shape {list(b.shape)}, expected ({n},)")
    return np.ascontiguousarray(b)


def _layer_name(key: str, node: Any) -> str:
    return str((getattr(node, "metadata", None) or {}).get("name", key))


def _delay(key: str, node: Any) -> int:
    value = (getattr(node, "metadata", None) or {}).get("delay", 0)
    try:
        d = np.asarray(value).item()
    except (ValueError, TypeError):
        d = value
    if isinstance(d, bool) or not isinstance(d, int) or d < 0:
        raise ConfigError(f"node '{key}': metadata 'delay' must be a non-negative integer, got {value!r}")
    return d
