"""Functional co-simulation: the DES trains a real network (simulator.functional)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from models import layers as L
from models import snn
from simulator.cost import ArrayConfig, TaskKind, network_cost
from simulator.des import simulate
from simulator.energy import network_energy
from simulator.machine import EnergyTable, Interconnect, Machine
from simulator.functional import FunctionalConfig, run_functional, run_ideal
from simulator.functional import shares as S
from simulator.schedule import make_schedule
from workloads import ConfigError
from workloads.builtin import MNIST
from workloads.datasets.types import ArrayDataset
from workloads.network import AvgPool, Conv, Dense, MaxPool, Network, Output, SumPool


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
# strided convolutions followed by an average and a sum pool, on the same MNIST-shaped data
STRIDED = Network("strided", (28, 28, 1), (Conv(4, stride=2), AvgPool(),
                                           Conv(5, stride=2), SumPool(), Dense(16), Output(10)), 4)


def _same(a: snn.Params, b: snn.Params) -> bool:
    return all(np.array_equal(wa, wb) and np.array_equal(ba, bb) for (wa, ba), (wb, bb) in zip(a, b))


def test_one_processor_equals_plain_trainer():
    """P = 1: 240 steps (2 epochs of 120 mini-batches of 2) give the plain trainer's weights bit for bit."""
    train = _data(240, 3)
    cost = network_cost(MNIST, ArrayConfig(32, 32), 2)
    schedule = make_schedule("compute-optimal", cost, 1)
    cfg = FunctionalConfig(epochs=2, lr=2e-3)
    res = run_functional(schedule, train, TEST, cfg, progress=False)
    hist, params = run_ideal(schedule, train, TEST, cfg, progress=False)
    assert schedule.delays == (0, 0, 0, 0)
    assert _same(res.params, params)
    assert [h["test_acc"] for h in res.history] == [h["test_acc"] for h in hist]
    assert [h["train_loss"] for h in res.history] == pytest.approx([h["train_loss"] for h in hist], abs=1e-9)


def test_trainer_and_cosimulation_draw_the_same_minibatches(monkeypatch):
    """Both draw from the one iterator, `models.train.minibatches`, with the same arguments: the same
    sample order per epoch and the same rate coding (so the same inputs and labels, step by step)."""
    import models.train as T
    import simulator.functional.training as FT
    real, drawn = T.minibatches, {"trainer": [], "cosim": []}

    def spy(who):
        def draw(*args, **kwargs):
            for mb in real(*args, **kwargs):
                drawn[who].append((args[1:], kwargs, mb))
                yield mb
        return draw

    monkeypatch.setattr(T, "minibatches", spy("trainer"))
    monkeypatch.setattr(FT, "minibatches", spy("cosim"))
    net = Network("tiny", (6, 6, 1), (Conv(3), MaxPool(), Dense(8), Output(3)), 3)
    rng = np.random.default_rng(7)
    train = ArrayDataset("toy", rng.random((26, 6, 6, 1), dtype=np.float32), rng.integers(0, 3, 26), "image")
    schedule = make_schedule("finegrained", network_cost(net, ArrayConfig(8, 8), 4), 2)
    cfg = FunctionalConfig(epochs=2, encoding="rate", seed=5)
    run_functional(schedule, train, train, cfg, progress=False)
    run_ideal(schedule, train, train, cfg, progress=False)
    a, b = drawn["trainer"], drawn["cosim"]
    assert len(a) == len(b) == 2 * (26 // 4)
    for (args_a, kw_a, mb_a), (args_b, kw_b, mb_b) in zip(a, b):
        assert args_a == args_b and kw_a == kw_b
        assert (mb_a.epoch, mb_a.step, mb_a.static) == (mb_b.epoch, mb_b.step, False)
        assert np.array_equal(mb_a.x, mb_b.x) and mb_a.x.dtype == np.uint8 and np.array_equal(mb_a.y, mb_b.y)
    assert [(mb.epoch, mb.step) for _, _, mb in a] == [(e, s) for e in range(2) for s in range(6)]


@pytest.mark.parametrize("scheduler,procs", [("finegrained", 2), ("finegrained", 4), ("compute-optimal", 4)])
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


def test_pipelined_strided_and_pooled_network_equals_delayed_trainer():
    """The co-simulation of split slices of strided convolutions and of layers before an average and a
    sum pool trains the idealised delayed trainer's weights bit for bit (weight stashing)."""
    cost = network_cost(STRIDED, ArrayConfig(8, 8), 16)
    schedule = make_schedule("finegrained", cost, 3)
    split = {(sl.layer, sl.kind) for p in schedule.processors for sl in p if not sl.whole}
    assert {(0, TaskKind.FP), (1, TaskKind.IG)} <= split  # a strided FP before a pool, a strided IG
    cfg = FunctionalConfig(epochs=1, lr=2e-3)
    res = run_functional(schedule, _data(48, 5), TEST, cfg, progress=False)
    hist, params = run_ideal(schedule, _data(48, 5), TEST, cfg, progress=False)
    assert _same(res.epoch_params[-1], params)
    assert res.history[-1]["test_acc"] == hist[-1]["test_acc"]
    assert not _same(params, snn.init_params(STRIDED, cfg.seed))  # it trained
    emulated = FunctionalConfig(epochs=1, lr=2e-3, emulate=("FP0", "IG1"), emulate_batches=1)
    res = run_functional(schedule, _data(16, 5), TEST, emulated, progress=False)
    assert {r.slice.split("[")[0] for r in res.emulated} == {"FP0", "IG1"} and all(r.ok for r in res.emulated)
    assert sum(r.emulated_cycles for r in res.emulated if r.slice.startswith("IG1")) == cost.task(1, TaskKind.IG).cycles


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


@pytest.mark.parametrize("machine", [None, Machine(interconnect=Interconnect(bandwidth=64, latency=20))])
def test_functional_cycles_equal_timing_only(machine):
    cost = network_cost(MNIST, ArrayConfig(32, 32), 32)
    schedule = make_schedule("compute-optimal", cost, 4)
    res = run_functional(schedule, TRAIN, TEST, CFG, machine=machine, progress=False)
    # the energy uses the densities measured on the real spikes: timing-only with them is the same run
    timing = simulate(schedule, res.sim.minibatches, machine, activity=res.sim.activity)
    assert res.sim == timing
    densities = res.sim.activity.densities
    assert densities[0] == 1.0 and all(0.0 < d < 1.0 for d in densities[1:])  # images: layer 0 reads currents
    assert simulate(schedule, res.sim.minibatches, machine).update_times == timing.update_times  # dense arrays
    table = EnergyTable()  # the gated accumulates cost less than dense ones (the run is too short for energy)
    assert sum(e.compute_pj for e in network_energy(cost, table, res.sim.activity)) < \
        sum(e.compute_pj for e in network_energy(cost, table))


def _layer_inputs(net, layer, t: int, batch: int, rng) -> tuple[np.ndarray, bool]:
    if layer.index == 0:
        return rng.random((batch, *layer.in_shape), dtype=np.float32), True
    prev = net.compute_layers()[layer.index - 1]
    if prev.sends_counts:  # float32 window counts (sum) or their averages
        spikes = (rng.random((t * batch, *prev.out_shape)) < 0.3).astype(np.uint8)
        return L.pool_fp(spikes, prev.pool, prev.pool_kind)[0].reshape((t, batch, *layer.in_shape)), False
    return (rng.random((t, batch, *layer.in_shape)) < 0.3).astype(np.uint8), False


@settings(max_examples=20, deadline=None)
@given(net=st.sampled_from([MNIST, STRIDED]), layer_index=st.integers(0, 3),
       kind=st.sampled_from([TaskKind.FP, TaskKind.IG]), cuts=st.lists(st.floats(0, 1), min_size=1, max_size=3),
       array=st.sampled_from([(8, 4), (32, 32), (5, 3)]), seed=st.integers(0, 2**16))
@example(net=STRIDED, layer_index=1, kind=TaskKind.FP, cuts=[0.3, 0.6], array=(5, 3), seed=1)
@example(net=STRIDED, layer_index=1, kind=TaskKind.IG, cuts=[0.3, 0.6], array=(5, 3), seed=1)
@example(net=STRIDED, layer_index=0, kind=TaskKind.FP, cuts=[0.5], array=(8, 4), seed=2)
def test_split_slices_join_to_the_unsplit_task(net, layer_index, kind, cuts, array, seed):
    """Any tile split of an FP or IG task joins to exactly the unsplit task's values (cut neurons included),
    also for strided convolutions and layers followed by (or fed by) a sum or average pool: exact on any
    BLAS, as every float product runs through the fixed-order `models.gemm.matmul`."""
    if kind is TaskKind.IG and layer_index == 0:
        layer_index = 1
    batch, t = 3, net.timesteps
    layer = net.compute_layers()[layer_index]
    cost = network_cost(net, ArrayConfig(*array), batch, include_first_ig=True)
    task = cost.task(layer_index, kind)
    bounds = sorted({0, task.tiles, *(int(c * task.tiles) for c in cuts)})
    rng = np.random.default_rng(seed)
    w, b = snn.init_params(net, seed)[layer_index]
    n = net.neuron
    shares = []
    if kind is TaskKind.FP:
        x, static = _layer_inputs(net, layer, t, batch, rng)
        for s0, s1 in zip(bounds, bounds[1:]):
            geo = S.geometry(layer, task, t, batch, s0, s1)
            b0, b1 = geo.samples
            cur = S.fp_currents(layer, w, b, x[b0:b1] if static else x[:, b0:b1], t, static)
            shares.append(S.fp_share(layer, geo, cur, n))
        got = S.join_fp(layer, shares[::-1], t, batch, n)
        ref = snn.layer_fp(layer, w, b, x, t, n, static=static)
        for name in ("sent", "state", "v_m", "pool_idx"):
            a, r = getattr(got, name), getattr(ref, name)
            assert (a is None and r is None) or np.array_equal(a, r), name
    else:
        g = rng.standard_normal((t, batch, *layer.out_shape)).astype(np.float32)
        for s0, s1 in zip(bounds, bounds[1:]):
            geo = S.geometry(layer, task, t, batch, s0, s1)
            shares.append(S.ig_share(layer, geo, w, g))
        assert np.array_equal(S.join_ig(layer, shares, t, batch), snn.ig_gemm(layer, w, g))


def test_owned_masks_partition_the_task():
    cost = network_cost(MNIST, ArrayConfig(5, 3), 2)
    layer = MNIST.compute_layers()[1]
    task = cost.task(1, TaskKind.FP)
    total = np.zeros((MNIST.timesteps, 2, *layer.out_shape), int)
    cut = []
    for s0, s1 in [(0, 7), (7, 100), (100, task.tiles)]:
        geo = S.geometry(layer, task, MNIST.timesteps, 2, s0, s1)
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
    assert main(["simulate", "--functional", "--scheduler", "compute-optimal"]) == 2
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
