"""Initialisation that makes every layer fire, and the activity records (`models.init`, `models.activity`)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models import snn
from models.activity import (ACTIVITY_FILE, SpikeActivity, activity_json, activity_of, load_activity,
                             measure_activity)
from models.init import RATE_TOLERANCE, TARGET_RATE, InitKind, initial_params, scale_to_fire
from simulator.energy import Activity
from workloads import ConfigError, InputKind
from workloads.builtin import BUILTIN, DVS128, MNIST
from workloads.network import Dense, Network, Output


def _batch(net: Network, batch: int, seed: int = 0) -> tuple[np.ndarray, bool]:
    """A random batch like the network's data: an analog image (current), or event frames with 10 % active."""
    rng = np.random.default_rng(seed)
    if net.input_kind is InputKind.CURRENT:
        return rng.random((batch,) + net.input_shape, dtype=np.float32), True
    return (rng.random((net.timesteps, batch) + net.input_shape) < 0.1).astype(np.uint8), False


@pytest.mark.parametrize("name", ["mnist", "nmnist", "dvs128"])
def test_firing_init_makes_every_layer_fire_at_the_target(name):
    net = BUILTIN[name]
    x, static = _batch(net, 2)
    params = initial_params(net, InitKind.FIRING, 0, x, static)
    act = measure_activity(net, params, x, static)
    assert len(act.firing) == len(net.compute_layers()) - 1
    for rate in act.firing:
        assert abs(rate - TARGET_RATE) <= RATE_TOLERANCE * TARGET_RATE
    logits, _ = snn.forward(net, params, x, static)
    assert logits.std() == pytest.approx(1.0, rel=1e-3)  # LSUV's unit variance for the output layer
    # the same draw, each layer scaled by one positive factor
    for (w, b), (w0, b0) in zip(params, snn.init_params(net, 0)):
        a = float(np.abs(w).sum() / np.abs(w0).sum())
        assert a > 0 and np.allclose(w, a * w0, rtol=1e-5, atol=0) and np.allclose(b, a * b0, rtol=1e-5, atol=0)


def test_default_init_leaves_the_deep_dvs128_layers_silent():
    """The finding that motivates FIRING: with the default draw the deep layers never spike at step 0."""
    x, static = _batch(DVS128, 2)
    act = measure_activity(DVS128, initial_params(DVS128, InitKind.DEFAULT, 0, x, static), x, static)
    assert act.firing[0] > 0 and act.firing[-1] == 0.0


def test_firing_init_is_deterministic_under_the_seed():
    x, static = _batch(MNIST, 4)
    a, b = (initial_params(MNIST, InitKind.FIRING, 3, x, static) for _ in range(2))
    c = initial_params(MNIST, InitKind.FIRING, 4, x, static)
    assert all(np.array_equal(w1, w2) and np.array_equal(b1, b2) for (w1, b1), (w2, b2) in zip(a, b))
    assert not np.array_equal(a[0][0], c[0][0])


def test_a_layer_that_cannot_fire_is_a_config_error():
    net = Network("flat", (4, 4, 1), (Dense(6), Output(2)), 3, input_kind=InputKind.SPIKES)
    params = [(w, np.zeros_like(b)) for w, b in snn.init_params(net, 0)]
    silent = np.zeros((3, 2, 4, 4, 1), np.uint8)  # no input spike, no bias: no scale makes a current
    with pytest.raises(ConfigError, match=r"init firing: layer 0 .*--init default"):
        scale_to_fire(net, params, silent, False)
    with pytest.raises(ConfigError, match="target rate"):
        scale_to_fire(net, params, silent, False, target=1.5)


def test_activity_counts_spikes_before_and_after_pooling():
    x, static = _batch(DVS128, 1)
    x = x[:, :, :16, :16]  # a smaller input for a quick check: a network of the same layers on 16 x 16
    net = Network("small", (16, 16, 2), DVS128.layers[:2] + (Output(3),), DVS128.timesteps, input_kind=InputKind.SPIKES)
    params = initial_params(net, InitKind.FIRING, 0, x, False)
    _, states = snn.forward(net, params, x, False)
    act = activity_of(x, False, states)
    spikes = states[0].state & 1
    pooled = spikes.reshape(spikes.shape[:2] + (8, 2, 8, 2, 32)).max(axis=(3, 5))
    assert act.input_density == x.mean()
    assert act.firing == (spikes.mean(),) and act.sent == (pooled.mean(),)
    assert act.reads == (x.mean(), pooled.mean())
    back = SpikeActivity.from_metrics(json.loads(json.dumps(act.metrics())))
    assert back.input_density == pytest.approx(act.input_density, abs=1e-6)
    assert back.firing == pytest.approx(act.firing, abs=1e-6) and back.sent == pytest.approx(act.sent, abs=1e-6)


def test_activity_file_round_trip_and_energy_model(tmp_path):
    act = SpikeActivity(None, (0.1, 0.2, 0.05), (0.3, 0.4, 0.05))
    path = tmp_path / ACTIVITY_FILE
    path.write_text(activity_json(MNIST, act, "test"))
    doc = json.loads(path.read_text())
    assert [e["reads"] for e in doc["layers"]] == ["current", "spikes", "spikes", "spikes"]
    loaded = load_activity(path, MNIST)
    assert loaded.densities == (1.0, 0.3, 0.4, 0.05) and loaded.source == "test"
    assert Activity(*loaded).densities == loaded.densities  # what simulator.energy takes
    with pytest.raises(ConfigError, match="not on"):
        load_activity(path, DVS128)
    doc["layers"][2]["density"] = 1.5
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=f"activity file {path}: layer 2"):
        load_activity(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        load_activity(path)
