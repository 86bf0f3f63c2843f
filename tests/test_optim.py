"""SGD (eq. 24) and Adam (eq. 25) against an independent float64 transcription of the equations."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.optim import SGD, Adam, make_optimizer
from workloads import ConfigError


def test_sgd_is_eq24():
    w = np.array([1.0, -2.0], np.float32)
    SGD(0.1).update(0, w, np.array([0.5, 1.0], np.float32))
    np.testing.assert_allclose(w, [0.95, -2.1], rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.floats(1e-4, 1e-1), st.integers(0, 2**31 - 1))
def test_adam_matches_eq25_reference(steps, lr, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=5).astype(np.float32)
    ref, m, v = w.astype(np.float64), np.zeros(5), np.zeros(5)
    opt = Adam(lr)
    for t in range(steps):
        g = rng.normal(size=5).astype(np.float32)
        opt.update(3, w, g)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g.astype(np.float64) ** 2
        eta = lr * np.sqrt(1 - 0.999 ** (t + 1)) / (1 - 0.9 ** (t + 1))
        ref = ref - eta * m / (np.sqrt(v) + 1e-8)
    # float32 state and arithmetic: each step's update (at most about lr) carries a relative error
    # of order 1e-6, so the absolute tolerance grows with lr * steps; a wrong eq. 25 is off by ~lr
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-6 + 2e-5 * lr * steps)
    # the state round-trips through the checkpoint arrays
    again = Adam(lr)
    again.load_state_arrays(opt.state_arrays())
    assert again.t == opt.t and all(np.array_equal(again.m[i], opt.m[i]) for i in opt.m)


def test_adam_counts_steps_per_tensor():
    opt = Adam(0.01)
    a, b = np.zeros(2, np.float32), np.zeros(2, np.float32)
    for _ in range(3):
        opt.update(0, a, np.ones(2, np.float32))
    opt.update(1, b, np.ones(2, np.float32))
    assert opt.t == {0: 3, 1: 1}
    np.testing.assert_allclose(b, -0.01, rtol=1e-5)  # first step of Adam moves by lr


def test_bad_optimizer_names_the_field():
    with pytest.raises(ConfigError, match="optimizer"):
        make_optimizer("rmsprop", 1e-3)
    with pytest.raises(ConfigError, match="lr"):
        make_optimizer("adam", 0.0)
