"""The operand matrices of every task (Tables IV and V) and the way back to tensors.

Tensor layouts: activations and gradients are `(T, B, H, W, C)` for
convolutions and `(T, B, Q)` for dense layers; convolution weights are
`(K, K, C, F)`, dense weights `(Q_in, Q_out)`. Convolutions have zero padding
`p` and stride `s` (1 in the paper, Section IV-B): `Hout = (H + 2p - K) // s + 1`.

GEMM row order is `(b, h, w, t)` for convolutions and `(b, t)` for dense
layers: the timestep is innermost, so a neuron's `T` samples are consecutive
rows. A column of the array therefore drains one neuron's samples in time
order into its IIR filter (Fig. 11), and a neuron split across two row tiles
keeps its filter state in the bank's state memory (`simulator.emulator.iir_bank`).

- conv FP: rows `Hout*Wout*T*B`, columns `F`, MACs `K*K*C`:
  `A = im2col(x padded by p, every s-th window)` (columns ordered `(kh, kw, c)`),
  `B = W` as `(K*K*C, F)`.
- conv WG: rows `K*K*C`, columns `F`, MACs `Hout*Wout*T*B`:
  `A = im2col(x)^T` (as FP's), `B = dL/di` as `(Hout*Wout*T*B, F)`.
- conv IG: rows `H*W*T*B` (unpadded input), columns `C`, MACs `K*K*F`:
  `A = im2col(dL/di dilated by s - 1 zeros between elements and padded by K-1-p before
  and H+p-1-(Hout-1)s >= K-1-p after)`, `B = W` rotated by 180 degrees as `(K*K*F, C)`: the
  dense transposed convolution, which an output-stationary array without zero skipping
  computes (`simulator.cost`); with `s = 1` the padding is `K-1-p` on both sides.
- dense FP `(T*B, Q_out, Q_in)`, WG `(Q_in, Q_out, T*B)`, IG `(T*B, Q_in, Q_out)`.
Biases are not part of the array's work (the paper's cycle model has none).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from simulator.cost import TaskKind
from workloads import ComputeLayer, ConfigError, LayerKind


def _im2col(xp: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Padded `(T, B, Hp, Wp, C)` -> `(B*Ho*Wo*T, K*K*C)`: every `stride`-th window, rows `(b, h, w, t)`,
    columns `(kh, kw, c)`."""
    win = sliding_window_view(xp, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]  # (T, B, Ho, Wo, C, K, K)
    t, b, ho, wo = win.shape[:4]
    return win.transpose(1, 2, 3, 0, 5, 6, 4).reshape(b * ho * wo * t, -1)


def _padded(x: np.ndarray, pad: int) -> np.ndarray:
    """`(T, B, H, W, C)` with `pad` zeros around each image."""
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)))


def _dilated(g: np.ndarray, layer: ComputeLayer) -> np.ndarray:
    """dL/di `(T, B, Hout, Wout, F)` with `s - 1` zeros between its elements, padded by `K-1-p` before and
    `H+p-1-(Hout-1)s` after: `(T, B, H+K-1, W+K-1, F)`, whose stride-1 windows are IG's GEMM rows."""
    k, p, s = layer.kernel, layer.padding, layer.stride
    t, b, ho, wo, f = g.shape
    h, wd = layer.in_shape[:2]
    out = np.zeros((t, b, h + k - 1, wd + k - 1, f), g.dtype)
    out[:, :, k - 1 - p:k - 1 - p + (ho - 1) * s + 1:s, k - 1 - p:k - 1 - p + (wo - 1) * s + 1:s] = g
    return out


def to_rows(x: np.ndarray) -> np.ndarray:
    """`(T, B, ..., C)` -> `(B*...*T, C)`: GEMM rows with the timestep innermost."""
    order = (*range(1, x.ndim - 1), 0, x.ndim - 1)
    return x.transpose(order).reshape(-1, x.shape[-1])


def from_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of `to_rows` for a `(T, B, ..., C)` tensor of `shape`."""
    t, *mid, c = shape
    back = rows.reshape(*mid, t, c)
    order = (len(mid), *range(len(mid)), len(mid) + 1)
    return back.transpose(order)


def _check(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(arr, np.float32)
    if arr.shape != shape:
        raise ConfigError(f"task operands: {name} has shape {arr.shape}, expected {shape}")
    return arr


def operands(layer: ComputeLayer, kind: TaskKind, timesteps: int, batch: int,
             x: np.ndarray | None = None, w: np.ndarray | None = None,
             g: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The `(A, B)` GEMM operands of a task, whose product is the task's output rows.

    FP needs the layer input `x` and weights `w`; WG needs `x` and the
    gradient of the layer's input currents `g`; IG needs `g` and `w`.
    """
    t, b = timesteps, batch
    need = {TaskKind.FP: ("x", "w"), TaskKind.WG: ("x", "g"), TaskKind.IG: ("g", "w")}[kind]
    given = {"x": x, "w": w, "g": g}
    for name in need:
        if given[name] is None:
            raise ConfigError(f"task operands: {kind.value} of {layer.name} needs '{name}'")
    if layer.kind is LayerKind.CONV:
        k, p = layer.kernel, layer.padding
        shapes = {"x": (t, b, *layer.in_shape), "g": (t, b, *layer.out_shape),
                  "w": (k, k, layer.in_channels, layer.out_channels)}
        arr = {name: _check(name, given[name], shapes[name]) for name in need}
        if kind is TaskKind.FP:
            return _im2col(_padded(arr["x"], p), k, layer.stride), arr["w"].reshape(-1, layer.out_channels)
        if kind is TaskKind.WG:
            return _im2col(_padded(arr["x"], p), k, layer.stride).T, to_rows(arr["g"])
        rotated = arr["w"][::-1, ::-1].transpose(0, 1, 3, 2)  # (K, K, F, C), rotated 180 degrees
        return _im2col(_dilated(arr["g"], layer), k, 1), rotated.reshape(-1, layer.in_channels)
    shapes = {"x": (t, b, layer.in_size), "g": (t, b, layer.out_size), "w": (layer.in_size, layer.out_size)}
    arr = {name: _check(name, given[name], shapes[name]) for name in need}
    if kind is TaskKind.FP:
        return to_rows(arr["x"]), arr["w"]
    if kind is TaskKind.WG:
        return to_rows(arr["x"]).T, to_rows(arr["g"])
    return to_rows(arr["g"]), arr["w"].T


def output_tensor(layer: ComputeLayer, kind: TaskKind, timesteps: int, batch: int,
                  rows: np.ndarray) -> np.ndarray:
    """A task's GEMM output as a tensor: FP currents `(T, B, *out)`, WG weights, IG `(T, B, *in)`."""
    t, b = timesteps, batch
    if kind is TaskKind.WG:
        if layer.kind is LayerKind.CONV:
            return rows.reshape(layer.kernel, layer.kernel, layer.in_channels, layer.out_channels)
        return rows
    shape = layer.out_shape if kind is TaskKind.FP else layer.in_shape
    if layer.kind is not LayerKind.CONV:
        shape = (int(np.prod(shape)),)
    return from_rows(rows, (t, b, *shape))


def reference(layer: ComputeLayer, kind: TaskKind, x: np.ndarray | None = None,
              w: np.ndarray | None = None, g: np.ndarray | None = None) -> np.ndarray:
    """The task's output tensor computed directly in float64 (einsum over the convolution), no GEMM mapping."""
    if layer.kind is not LayerKind.CONV:
        if kind is TaskKind.FP:
            return np.einsum("tbi,io->tbo", x.astype(np.float64), w.astype(np.float64))
        if kind is TaskKind.WG:
            return np.einsum("tbi,tbo->io", x.astype(np.float64), g.astype(np.float64))
        return np.einsum("tbo,io->tbi", g.astype(np.float64), w.astype(np.float64))
    k, p, s = layer.kernel, layer.padding, layer.stride
    h, wd = layer.in_shape[:2]
    ho, wo = layer.out_shape[:2]
    w64 = w.astype(np.float64) if w is not None else None

    def tap(kh: int, kw: int) -> tuple[slice, ...]:
        """The padded input positions tap (kh, kw) meets, one per output position."""
        return (slice(None), slice(None), slice(kh, kh + (ho - 1) * s + 1, s), slice(kw, kw + (wo - 1) * s + 1, s))

    if kind is TaskKind.IG:
        out = np.zeros((g.shape[0], g.shape[1], h + 2 * p, wd + 2 * p, layer.in_channels))
        for kh in range(k):
            for kw in range(k):  # scatter each output's gradient back through tap (kh, kw)
                out[tap(kh, kw)] += np.einsum("tbhwf,cf->tbhwc", g, w64[kh, kw])
        return out[:, :, p:p + h, p:p + wd, :]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p), (0, 0)))
    if kind is TaskKind.FP:
        out = np.zeros((x.shape[0], x.shape[1], ho, wo, layer.out_channels))
        for kh in range(k):
            for kw in range(k):
                out += np.einsum("tbhwc,cf->tbhwf", xp[tap(kh, kw)], w64[kh, kw])
        return out
    dw = np.zeros((k, k, layer.in_channels, layer.out_channels))
    for kh in range(k):
        for kw in range(k):
            dw[kh, kw] = np.einsum("tbhwc,tbhwf->cf", xp[tap(kh, kw)], g)
    return dw
