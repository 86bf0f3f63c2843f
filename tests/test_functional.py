"""Functional co-simulation: the DES trains a real network (simulator.functional)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from models import snn
from simulator.cost import ArrayConfig, TaskKind, network_cost
from simulator.des import BusConfig, simulate
from simulator.functional import FunctionalConfig, run_functional, run_ideal
from simulator.functional import shares as S
from simulator.schedule import make_schedule
from workloads import ConfigError
from workloads.builtin import MNIST
from workloads.datasets.types import ArrayDataset


def _data(n: int, seed: int) -> ArrayDataset:
    """MNIST-shaped images whose label is the brightest quadrant-ish band (learnable, seeded)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, 28, 28, 1), dtype=np.float32) * 0.3
    for i, label in enumerate(y):
        x[i, 2 * label + 4:2 * label + 8, 4:24, 0] += 0.7
    return ArrayDataset("toy", np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64), "image")


TRAIN, TEST = _data(96, 1), _data(32, 2)
CFG = FunctionalConfig(epochs=1)


def _same(a: snn.Params, b: snn.Params) -> bool:
    return all(np.array_equal(wa, wb) and np.array_equal(ba, bb) for (wa, ba), (wb, bb) in zip(a, b))


def test_one_processor_equals_plain_trainer():
    """P = 1: 240 steps (2 epochs of 120 mini-batches of 2) give the plain trainer's weights bit for bit."""
    train = _data(240, 3)
    cost = network_cost(MNIST, ArrayConfig(32, 32), 2)
    schedule = make_schedule("optimal", cost, 1)
    cfg = FunctionalConfig(epochs=2, lr=2e-3)
    res = run_functional(schedule, train, TEST, cfg, progress=False)
    hist, params = run_ideal(schedule, train, TEST, cfg, progress=False)
    assert schedule.delays == (0, 0, 0, 0)
    assert _same(res.params, params)
    assert [h["test_acc"] for h in res.history] == [h["test_acc"] for h in hist]
    assert [h["train_loss"] for h in res.history] == pytest.approx([h["train_loss"] for h in hist], abs=1e-9)


@pytest.mark.parametrize("scheduler,procs", [("finegrained", 2), ("finegrained", 4), ("optimal", 4)])
def test_pipelined_equals_delayed_trainer_where_semantics_agree(scheduler, procs):
    """With weight stashing, the weights each mini-batch uses are the idealised trainer's with the same
    delays: the version before the pending gradients equals its final weights bit for bit. The drained
    pipeline applies the last D_l gradients, so layers with a delay differ there."""
    cost = network_cost(MNIST, ArrayConfig(32, 32), 32)
    schedule = make_schedule(scheduler, cost, procs)
    assert any(not sl.whole for p in schedule.processors for sl in p)  # split FP / IG slices are exercised
    res = run_functional(schedule, TRAIN, TEST, CFG, progress=False)
    hist, params = run_ideal(schedule, TRAIN, TEST, CFG, progress=False)
    assert _same(res.epoch_params[-1], params)
    assert res.history[-1]["test_acc"] == hist[-1]["test_acc"]
    for layer, d in enumerate(schedule.delays):
        assert np.array_equal(res.params[layer][0], params[layer][0]) == (d == 0)


def test_latest_weights_differ_from_stashing_only_with_delays():
    cost = network_cost(MNIST, ArrayConfig(32, 32), 32)
    p4 = make_schedule("finegrained", cost, 4)
    stash = run_functional(p4, TRAIN, TEST, CFG, progress=False)
    latest = run_functional(p4, TRAIN, TEST, FunctionalConfig(epochs=1, weights="latest"), progress=False)
    assert not _same(stash.params, latest.params)
    assert latest.sim.simulated_cycles_per_update == stash.sim.simulated_cycles_per_update
    p1 = make_schedule("finegrained", cost, 1)
    a = run_functional(p1, TRAIN, TEST, CFG, progress=False)
    b = run_functional(p1, TRAIN, TEST, FunctionalConfig(epochs=1, weights="latest"), progress=False)
    assert _same(a.params, b.params)


@pytest.mark.parametrize("bus", [BusConfig(), BusConfig(bandwidth=64, latency=20)])
def test_functional_cycles_equal_timing_only(bus):
    cost = network_cost(MNIST, ArrayConfig(32, 32), 32)
    schedule = make_schedule("optimal", cost, 4)
    res = run_functional(schedule, TRAIN, TEST, CFG, bus=bus, progress=False)
    timing = simulate(schedule, res.sim.minibatches, bus)
    assert res.sim == timing


def _layer_inputs(layer, t: int, batch: int, rng) -> tuple[np.ndarray, bool]:
    if layer.index == 0:
        return rng.random((batch, *layer.in_shape), dtype=np.float32), True
    return (rng.random((t, batch, *layer.in_shape)) < 0.3).astype(np.uint8), False


@settings(max_examples=12, deadline=None)
@given(layer_index=st.integers(0, 3), kind=st.sampled_from([TaskKind.FP, TaskKind.IG]),
       cuts=st.lists(st.floats(0, 1), min_size=1, max_size=3), array=st.sampled_from([(8, 4), (32, 32), (5, 3)]),
       seed=st.integers(0, 2**16))
def test_split_slices_join_to_the_unsplit_task(layer_index, kind, cuts, array, seed):
    """Any tile split of an FP or IG task joins to exactly the unsplit task's values (cut neurons included):
    exact on any BLAS, as every float product runs through the fixed-order `models.gemm.matmul`."""
    if kind is TaskKind.IG and layer_index == 0:
        layer_index = 1
    net, batch, t = MNIST, 3, MNIST.timesteps
    layer = net.compute_layers()[layer_index]
    cost = network_cost(net, ArrayConfig(*array), batch, include_first_ig=True)
    task = cost.task(layer_index, kind)
    bounds = sorted({0, task.tiles, *(int(c * task.tiles) for c in cuts)})
    rng = np.random.default_rng(seed)
    w, b = snn.init_params(net, seed)[layer_index]
    n = net.neuron
    shares = []
    if kind is TaskKind.FP:
        x, static = _layer_inputs(layer, t, batch, rng)
        for s0, s1 in zip(bounds, bounds[1:]):
            geo = S.geometry(layer, task, t, batch, array[0], array[1], s0, s1)
            b0, b1 = geo.samples
            cur = S.fp_currents(layer, w, b, x[b0:b1] if static else x[:, b0:b1], t, static)
            shares.append(S.fp_share(layer, geo, cur, n.c, n.lam, n.threshold, 0.5))
        got = S.join_fp(layer, shares[::-1], t, batch, n.c, n.lam, n.threshold, 0.5)
        ref = snn.layer_fp(layer, w, b, x, t, n.c, n.lam, n.threshold, 0.5, static=static)
        for name in ("sent", "state", "v_m", "pool_idx"):
            a, r = getattr(got, name), getattr(ref, name)
            assert (a is None and r is None) or np.array_equal(a, r), name
    else:
        g = rng.standard_normal((t, batch, *layer.out_shape)).astype(np.float32)
        for s0, s1 in zip(bounds, bounds[1:]):
            geo = S.geometry(layer, task, t, batch, array[0], array[1], s0, s1)
            shares.append(S.ig_share(layer, geo, w, g))
        assert np.array_equal(S.join_ig(layer, shares, t, batch), snn.ig_gemm(layer, w, g))


def test_owned_masks_partition_the_task():
    cost = network_cost(MNIST, ArrayConfig(5, 3), 2)
    layer = MNIST.compute_layers()[1]
    task = cost.task(1, TaskKind.FP)
    total = np.zeros((MNIST.timesteps, 2, *layer.out_shape), int)
    cut = []
    for s0, s1 in [(0, 7), (7, 100), (100, task.tiles)]:
        geo = S.geometry(layer, task, MNIST.timesteps, 2, 5, 3, s0, s1)
        b0, b1 = geo.samples
        total[:, b0:b1] += geo.owned
        f0, f1 = geo.whole_samples
        assert geo.owned[:, f0 - b0:f1 - b0].all()
        cut.append(geo.cut_elements[1])
    assert (total == 1).all()
    cut = np.concatenate(cut)
    assert len(cut) and len(np.unique(cut)) == len(cut)  # this split cuts neurons; each element once


def test_emulated_slices_match_cycles_and_values():
    cost = network_cost(MNIST, ArrayConfig(32, 32), 32)
    schedule = make_schedule("finegrained", cost, 4)
    cfg = FunctionalConfig(epochs=1, emulate=("FP0", "IG1", "FP3"), emulate_batches=1)
    res = run_functional(schedule, _data(32, 4), TEST, cfg, progress=False)
    labels = {r.slice for r in res.emulated}
    assert labels == {"FP0[0:1656]", "FP0[1656:6138]", "FP0[6138:6272]", "IG1[0:1179]", "IG1[1179:1568]", "FP3"}
    assert all(r.ok and r.batch == 0 for r in res.emulated)
    assert sum(r.emulated_cycles for r in res.emulated if r.slice.startswith("FP0")) == cost.task(0, TaskKind.FP).cycles


def test_bad_configuration_names_the_field():
    cost = network_cost(MNIST, ArrayConfig(32, 32), 32)
    schedule = make_schedule("finegrained", cost, 2)
    with pytest.raises(ConfigError, match="weights"):
        FunctionalConfig(weights="newest")
    with pytest.raises(ConfigError, match="emulate"):
        run_functional(schedule, TRAIN, TEST, FunctionalConfig(emulate=("WG0",)), progress=False)
    with pytest.raises(ConfigError, match="mini-batch"):
        run_functional(schedule, _data(8, 0), TEST, CFG, progress=False)


def test_cli_functional(capsys, tmp_path):
    from simulator.cli import main
    assert main(["simulate", "--functional", "--dataset", "mnist"]) == 2  # needs one --scheduler
    assert "--scheduler" in capsys.readouterr().err
    assert main(["simulate", "--functional", "--scheduler", "optimal"]) == 2
    assert "--dataset" in capsys.readouterr().err
    try:
        from workloads.datasets import get_dataset
        get_dataset("mnist")
    except ConfigError:
        pytest.skip("MNIST is not fetched on this machine")
    out = tmp_path / "r.json"
    assert main(["simulate", "--functional", "--dataset", "mnist", "--batch", "32", "--procs", "2",
                 "--scheduler", "finegrained", "--train-subset", "64", "--test-subset", "64",
                 "--emulate", "fp0", "--emulate-batches", "1", "--json", "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(out.read_text())
    assert doc["delays"] == [2, 0, 0, 0] and len(doc["functional"]["history"]) == 1
    assert all(r["ok"] for r in doc["functional"]["emulated"])
