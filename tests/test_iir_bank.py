"""The IIR filter bank against the software neuron (bit for bit) and its timing against the array."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.neuron import accumulator_forward, lif_backward, lif_forward
from simulator.cost import ArrayConfig
from simulator.emulator import bank_backward, bank_forward, emulate_gemm, from_rows, to_rows
from workloads import ConfigError, Neuron

params = st.tuples(st.floats(0.5, 8.0), st.floats(0.0, 2.0), st.floats(0.05, 2.0), st.floats(0.1, 1.0))


@settings(max_examples=40, deadline=None)
@given(t=st.integers(1, 12), batch=st.integers(1, 3), neurons=st.integers(1, 9), channels=st.integers(1, 11),
       sr=st.integers(1, 10), sc=st.integers(1, 6), p=params, seed=st.integers(0, 2**32 - 1))
def test_bank_equals_software_neuron(t, batch, neurons, channels, sr, sc, p, seed) -> None:
    """Any T against any SR (neurons split across row tiles), forward and backward, bit for bit."""
    c, lam, th, alpha = p
    rng = np.random.default_rng(seed)
    current = (rng.standard_normal((t, batch, neurons, channels)) * 2 * th).astype(np.float32)
    array = ArrayConfig(sr, sc)
    v_rows, s_rows, timing = bank_forward(to_rows(current), t, array, Neuron(c, lam, th, alpha))
    v_ref, s_ref = lif_forward(current.reshape(t, -1), c, lam, th)
    shape = current.shape
    assert np.array_equal(from_rows(v_rows, shape).reshape(t, -1), v_ref)
    assert np.array_equal(from_rows(s_rows, shape).reshape(t, -1), s_ref)
    assert timing.stall_cycles == 0 and timing.samples_per_filter == -(-channels // sc) * batch * neurons * t
    g_spike = rng.standard_normal(shape).astype(np.float32)
    g_rows, btiming = bank_backward(to_rows(g_spike), v_rows, s_rows, t, array, Neuron(c, lam, th, alpha))
    g_ref = lif_backward(g_spike.reshape(t, -1), v_ref, s_ref, c, lam, th, alpha)
    assert np.array_equal(from_rows(g_rows, shape).reshape(t, -1), g_ref)
    assert btiming.stall_cycles == 0 and btiming.finish == btiming.samples_per_filter


def test_bank_as_output_accumulator() -> None:
    """No neuron: the section with c = 1, lam = 0, V_th = inf is eq. 18's accumulator, bit for bit."""
    rng = np.random.default_rng(1)
    current = rng.standard_normal((7, 2, 5)).astype(np.float32)
    v_rows, s_rows, _ = bank_forward(to_rows(current), 7, ArrayConfig(4, 4), None)
    expected = accumulator_forward(current.reshape(7, -1)).reshape(current.shape)
    assert np.array_equal(from_rows(v_rows, current.shape), expected)
    assert not s_rows.any()


@pytest.mark.parametrize("m,k,n,sr,sc", [(64, 9, 8, 32, 32), (70, 3, 20, 8, 6), (5, 1, 1, 4, 1), (30, 40, 33, 16, 8)])
def test_bank_hidden_behind_the_array(m, k, n, sr, sc) -> None:
    """Fed at the cycles the array emulation reports, no filter ever waits, and the bank ends one cycle after the array."""
    rng = np.random.default_rng(m + k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    array = ArrayConfig(sr, sc)
    run = emulate_gemm(a, b, array)
    t = 1 if m % 2 else 2
    _, _, timing = bank_forward(run.out, t, array, Neuron(4.0, 0.25, 0.5), ready=run.ready)
    assert timing.stall_cycles == 0
    assert timing.finish <= run.cycles + 1
    if m % sr == 0 and n % sc == 0:  # the last tile's corner PE is real: its sample is filtered one cycle late
        assert timing.finish == run.cycles + 1


def test_bad_shapes() -> None:
    with pytest.raises(ConfigError, match="neurons \\* T"):
        bank_forward(np.zeros((5, 2)), 2, ArrayConfig(2, 2), Neuron())
    with pytest.raises(ConfigError, match="must match"):
        bank_backward(np.zeros((4, 2)), np.zeros((4, 3)), np.zeros((4, 2)), 2, ArrayConfig(2, 2),
                      Neuron())
