"""The emulated systolic array against eq. 27, against `simulator.cost`, and its values against numpy/scipy."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import correlate

from simulator.cost import ArrayConfig, TaskKind, network_cost
from simulator.emulator import emulate_gemm, operands, output_tensor, reference
from workloads import MNIST, NMNIST, AvgPool, ConfigError, Conv, Dense, Network, Output, SumPool


def _tol(a: np.ndarray, b: np.ndarray) -> float:
    """float32 accumulation bound: K * eps * sum of |products| per output."""
    return float(a.shape[1] * np.finfo(np.float32).eps * (np.abs(a) @ np.abs(b)).max() + 1e-30)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(1, 30), n=st.integers(1, 40),
       sr=st.integers(1, 12), sc=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_tile_cycles_and_values(m: int, k: int, n: int, sr: int, sc: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    run = emulate_gemm(a, b, ArrayConfig(sr, sc))
    assert run.tiles == -(-m // sr) * -(-n // sc)
    assert (run.tile_cycles == k + (sr - 1) + (sc - 1)).all()  # eq. 27 for every tile, partial or full
    assert run.macs == m * n * k  # every PE does exactly its MACs, none on bubbles
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert np.abs(run.out - ref).max() <= _tol(a, b)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 20), k=st.integers(1, 10), n=st.integers(1, 20),
       sr=st.integers(1, 8), sc=st.integers(1, 8))
def test_partial_tiles_finish_their_last_mac_early(m: int, k: int, n: int, sr: int, sc: int) -> None:
    run = emulate_gemm(np.ones((m, k)), np.ones((k, n)), ArrayConfig(sr, sc))
    expected = [k + (min(sr, m - r0) - 1) + (min(sc, n - c0) - 1)
                for r0 in range(0, m, sr) for c0 in range(0, n, sc)]
    assert run.tile_cycles_to_last_mac.tolist() == expected
    # output (r, c) leaves its PE one cycle after its last MAC at tile cycle k - 1 + i + j
    starts = np.concatenate([[0], np.cumsum(run.tile_cycles)[:-1]])
    tile = (np.arange(m)[:, None] // sr) * -(-n // sc) + np.arange(n)[None, :] // sc
    local = k + np.arange(m)[:, None] % sr + np.arange(n)[None, :] % sc
    assert (run.ready == starts[tile] + local).all()


def test_bubbles_carry_no_values() -> None:
    # a partial tile: rows and columns outside it never touch the accumulators it returns
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.array([[1.0], [-1.0]], np.float32)
    run = emulate_gemm(a, b, ArrayConfig(4, 3))
    assert run.out.ravel().tolist() == [-1.0, -1.0, -1.0]
    assert run.cycles == 2 + 3 + 2 and run.cycles_to_last_mac == 2 + 2 + 0


def test_bad_operands() -> None:
    with pytest.raises(ConfigError, match="shapes"):
        emulate_gemm(np.ones((2, 3)), np.ones((2, 3)), ArrayConfig(2, 2))
    with pytest.raises(ConfigError, match="non-empty"):
        emulate_gemm(np.ones((0, 3)), np.ones((3, 3)), ArrayConfig(2, 2))


def _scipy_conv_reference(layer, kind, x, w, g):
    """Independent reference with scipy.signal.correlate/convolve, one (t, b, channel pair) at a time.

    A stride s keeps every s-th output of the stride-1 correlation (FP); WG and IG use dL/di spread
    onto that stride-1 output grid (zeros between)."""
    k, p, s = layer.kernel, layer.padding, layer.stride
    h, wd = layer.in_shape[:2]
    if kind is TaskKind.FP:
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (0, 0))).astype(np.float64)
        return np.stack([np.stack([np.stack([sum(correlate(xp[t, b, :, :, c], w[:, :, c, f], "valid")[::s, ::s]
                                                  for c in range(x.shape[-1]))
                                              for f in range(w.shape[-1])], -1)
                                    for b in range(x.shape[1])]) for t in range(x.shape[0])])
    spread = np.zeros(g.shape[:2] + (h + 2 * p - k + 1, wd + 2 * p - k + 1) + g.shape[4:])
    spread[:, :, ::s, ::s] = g
    if kind is TaskKind.WG:
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (0, 0))).astype(np.float64)
        return np.stack([np.stack([sum(correlate(xp[t, b, :, :, c], spread[t, b, :, :, f], "valid")
                                       for t in range(x.shape[0]) for b in range(x.shape[1]))
                                   for f in range(g.shape[-1])], -1) for c in range(x.shape[-1])], -2)
    full = np.stack([np.stack([np.stack([sum(correlate(np.pad(spread[t, b, :, :, f], k - 1),
                                                       w[::-1, ::-1, c, f], "valid") for f in range(g.shape[-1]))
                                         for c in range(w.shape[2])], -1)
                               for b in range(g.shape[1])]) for t in range(g.shape[0])])
    return full[:, :, p:p + h, p:p + wd, :]


@pytest.mark.parametrize("kernel,padding,stride", [(3, 1, 1), (3, 0, 1), (5, 2, 1), (1, 0, 1), (2, 1, 1),
                                                   (3, 1, 2), (3, 0, 2), (5, 2, 3), (1, 0, 2), (2, 1, 3)])
def test_conv_tasks_against_scipy(kernel: int, padding: int, stride: int) -> None:
    rng = np.random.default_rng(kernel * 10 + padding)
    net = Network("t", (7, 6, 3), (Conv(5, kernel=kernel, padding=padding, stride=stride), Output(2)), timesteps=3)
    layer = net.compute_layers()[0]
    t, b = 3, 2
    x = (rng.random((t, b, *layer.in_shape)) < 0.4).astype(np.float32)
    w = rng.standard_normal((kernel, kernel, 3, 5)).astype(np.float32)
    g = rng.standard_normal((t, b, *layer.out_shape)).astype(np.float32)
    for kind in TaskKind:
        a_op, b_op = operands(layer, kind, t, b, x=x, w=w, g=g)
        run = emulate_gemm(a_op, b_op, ArrayConfig(4, 3))
        got = output_tensor(layer, kind, t, b, run.out)
        ref = _scipy_conv_reference(layer, kind, x, w, g)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(reference(layer, kind, x=x, w=w, g=g), ref, rtol=1e-12, atol=1e-10)


def test_dense_tasks_against_numpy() -> None:
    rng = np.random.default_rng(3)
    net = Network("t", (13,), (Dense(7), Output(2)), timesteps=4)
    layer = net.compute_layers()[0]
    x = (rng.random((4, 3, 13)) < 0.5).astype(np.float32)
    w = rng.standard_normal((13, 7)).astype(np.float32)
    g = rng.standard_normal((4, 3, 7)).astype(np.float32)
    refs = {TaskKind.FP: np.einsum("tbi,io->tbo", x, w), TaskKind.WG: np.einsum("tbi,tbo->io", x, g),
            TaskKind.IG: np.einsum("tbo,io->tbi", g, w)}
    for kind, ref in refs.items():
        run = emulate_gemm(*operands(layer, kind, 4, 3, x=x, w=w, g=g), ArrayConfig(5, 2))
        np.testing.assert_allclose(output_tensor(layer, kind, 4, 3, run.out), ref, rtol=1e-5, atol=1e-5)


def test_missing_or_misshaped_operands() -> None:
    layer = MNIST.compute_layers()[0]
    with pytest.raises(ConfigError, match="needs 'g'"):
        operands(layer, TaskKind.WG, 8, 1, x=np.zeros((8, 1, 28, 28, 1)))
    with pytest.raises(ConfigError, match="'w'|w has shape"):
        operands(layer, TaskKind.FP, 8, 1, x=np.zeros((8, 1, 28, 28, 1)), w=np.zeros((3, 3, 1, 9)))


STRIDED = Network("strided", (16, 15, 2), (Conv(6, stride=2), AvgPool(), Conv(5, kernel=4, padding=2, stride=3),
                                           SumPool(), Conv(4, kernel=1, padding=0, stride=2), Output(3)), 3)


@pytest.mark.parametrize("net", [MNIST, NMNIST, STRIDED], ids=lambda n: n.name)
@pytest.mark.parametrize("array", ["32x32", "16x8", "8x24", "7x5"])
def test_every_task_matches_the_cycle_model(net: Network, array: str) -> None:
    """Every FP/WG/IG task (first IG included) on real-shaped operands: cycles equal `cost`, values numpy."""
    arr = ArrayConfig.parse(array)
    batch = 1
    cost = network_cost(net, arr, batch, include_first_ig=True)
    rng = np.random.default_rng(0)
    t = net.timesteps
    for layer in net.compute_layers():
        x = (rng.random((t, batch, *layer.in_shape)) < 0.3).astype(np.float32)
        g = rng.standard_normal((t, batch, *layer.out_shape)).astype(np.float32)
        wshape = ((layer.kernel, layer.kernel, layer.in_channels, layer.out_channels)
                  if layer.kind == "conv" else (layer.in_size, layer.out_size))
        w = rng.standard_normal(wshape).astype(np.float32)
        for kind in TaskKind:
            a_op, b_op = operands(layer, kind, t, batch, x=x, w=w, g=g)
            run = emulate_gemm(a_op, b_op, arr)
            task = cost.task(layer.index, kind)
            assert (run.tiles, run.cycles) == (task.tiles, task.cycles), task.label
            assert run.cycles_to_last_mac <= run.cycles
            got = output_tensor(layer, kind, t, batch, run.out)
            ref = reference(layer, kind, x=x, w=w, g=g)
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=_tol(a_op, b_op), err_msg=task.label)
