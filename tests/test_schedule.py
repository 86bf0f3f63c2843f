"""Schedulers, bounds, the Schedule type and its communication model."""
from __future__ import annotations

from itertools import permutations, product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import random_networks
from simulator.cost import ArrayConfig, NetworkCost, TaskKind, network_cost
from simulator.schedule import SCHEDULERS, Schedule, TaskSlice, make_schedule, max_slices
from simulator.schedule.bounds import finegrained_bound, layerwise_bound, pipedream_bound, split_bound
from simulator.schedule.chain import layer_tasks
from simulator.paper import (BOUNDS_MNIST, FINEGRAINED_P4_CYCLES, LAYERWISE_P2_CYCLES, PIPEDREAM_P4_CYCLES,
                             TABLE_VI_TOTAL)
from workloads import MNIST, ConfigError

MNIST_COST = network_cost(MNIST, ArrayConfig(32, 32))


def test_mnist_bounds_match_section_v() -> None:
    assert round(layerwise_bound(MNIST_COST), 2) == BOUNDS_MNIST["layerwise"]  # eq. 30
    assert round(pipedream_bound(MNIST_COST), 2) == BOUNDS_MNIST["pipedream"]  # eq. 31
    assert round(split_bound(MNIST_COST), 2) == BOUNDS_MNIST["pipedream"]  # eq. 32: FP0 is the longest task
    assert round(finegrained_bound(MNIST_COST), 2) == BOUNDS_MNIST["finegrained"]  # eq. 33


def test_mnist_cycles_per_update_match_section_v() -> None:
    lw = make_schedule("layerwise", MNIST_COST, 2)
    assert lw.cycles_per_update == LAYERWISE_P2_CYCLES and lw.loads == (20_250, LAYERWISE_P2_CYCLES)
    assert make_schedule("pipedream", MNIST_COST, 4).cycles_per_update == PIPEDREAM_P4_CYCLES
    fine = make_schedule("finegrained", MNIST_COST, 4)
    assert -(-TABLE_VI_TOTAL // 4) <= fine.cycles_per_update <= FINEGRAINED_P4_CYCLES
    assert make_schedule("compute-optimal", MNIST_COST, 4).cycles_per_update >= -(-MNIST_COST.total // 4)


def test_delays_follow_the_weight_gradient() -> None:
    s = make_schedule("layerwise", MNIST_COST, 2)
    assert s.delays == (2, 0, 0, 0)  # conv1 on P0 of 2, the rest on P1
    for name in SCHEDULERS:
        s = make_schedule(name, MNIST_COST, 5)
        n = s.procs_used  # idle processors are no pipeline stages
        for layer, d in enumerate(s.delays):
            (q,) = s.holders(layer, TaskKind.WG)
            p = s.holders(layer, TaskKind.FP)[0]
            q, p = s.stages[q], s.stages[p]
            # the paper's 2 (P - 1 - q) when FP does not start before WG's processor, else enough
            # for the updated weights to reach FP in time
            assert d == (2 * (n - 1 - q) if p >= q else 2 * n - 2 - p - q)
    pipedream = make_schedule("pipedream", MNIST_COST, 4)  # FP0 on P0, WG0 on P1 (Fig. 13)
    assert pipedream.holders(0, TaskKind.FP) == (0,) and pipedream.holders(0, TaskKind.WG) == (1,)
    assert pipedream.delays[0] == 5


def test_bad_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="procs"):
        make_schedule("compute-optimal", MNIST_COST, 0)
    with pytest.raises(ConfigError, match="unknown 'nope'"):
        make_schedule("nope", MNIST_COST, 2)
    with pytest.raises(ConfigError, match="at most 320 task slices"):
        make_schedule("layerwise", MNIST_COST, max_slices(MNIST_COST) + 1)
    assert make_schedule("compute-optimal", MNIST_COST, max_slices(MNIST_COST)).cycles_per_update == 6_334


def _whole(cost: NetworkCost, *labels: str) -> tuple[TaskSlice, ...]:
    by_label = {t.label: t for t in cost.tasks}
    return tuple(TaskSlice.of(by_label[x]) for x in labels)


def test_schedule_rejects_broken_chains() -> None:
    fp0 = MNIST_COST.task(0, TaskKind.FP)
    rest = _whole(MNIST_COST, "WG0", "FP1", "WG1", "IG1", "FP2", "WG2", "IG2", "FP3", "WG3", "IG3")
    ok = Schedule("t", MNIST_COST, ((TaskSlice.of(fp0, 0, 100),), (TaskSlice.of(fp0, 100),) + rest), 1.0)
    assert ok.loads == (100 * 71, MNIST_COST.total - 100 * 71)
    cases = {
        "not allocated: WG0": ((TaskSlice.of(fp0),), rest[1:]),
        "stops at tile 100": ((TaskSlice.of(fp0, 0, 100),), rest),
        "jump": ((TaskSlice.of(fp0, 0, 100),), (TaskSlice.of(fp0, 101),) + rest),
        "chain order": ((TaskSlice.of(fp0),) + rest[1:], rest[:1]),
        "contiguous run": ((TaskSlice.of(fp0),) + rest[:1] + (TaskSlice.of(fp0),), rest[1:]),
    }
    for message, procs in cases.items():
        with pytest.raises(ConfigError, match=message):
            Schedule("t", MNIST_COST, procs, 1.0)
    with pytest.raises(ConfigError, match="tiles"):
        TaskSlice.of(fp0, 0, fp0.tiles + 1)
    assert TaskSlice.of(fp0, 0, 98).label == "FP0[0:98]" and TaskSlice.of(fp0).label == "FP0"


def test_communication_model_by_hand() -> None:
    """Cut between layers: the layer boundary's bytes. Moved slices send what their consumers need."""
    lw = make_schedule("layerwise", MNIST_COST, 2)
    assert lw.boundary_bytes == (MNIST_COST.boundary_bytes()[0],) and lw.overhead_bytes == 0
    fp0, ig1 = MNIST_COST.task(0, TaskKind.FP), MNIST_COST.task(1, TaskKind.IG)
    rest = _whole(MNIST_COST, "FP1", "WG1", "IG1", "FP2", "WG2", "IG2", "FP3", "WG3", "IG3")
    moved = Schedule("t", MNIST_COST, (_whole(MNIST_COST, "WG0") + (TaskSlice.of(fp0, 0, 100),),
                                       (TaskSlice.of(fp0, 100),) + rest), 1.0)
    # P0 -> P1: the spikes of FP0's first 100 of 196 tiles; P1 -> P0: the 2-bit state of the other
    # 96 tiles (WG0's gradient filter needs it) and IG1's gradient; layer 0's 80 weights and biases
    # (320 bytes) go to P1. Layer 0's input comes from the host.
    act0, state0 = fp0.output_bytes, MNIST_COST.state_bytes(0)
    first, second = act0 * 100 // 196, state0 - state0 * 100 // 196
    assert moved.boundary_bytes == (first + second + ig1.output_bytes + 320,)
    assert moved.weight_overhead_bytes == 320
    assert moved.overhead_bytes == moved.boundary_bytes[0] - MNIST_COST.boundary_bytes()[0]
    # IG of fc1 (13 column tiles of 1 row) moved back to P1 from its home P2: P1 gets 5/13 of the
    # layer's weights, the layer's gradient from IG3 and its state, and sends its share of
    # dL/dv_sp of layer 1 straight to P0 without crossing P1|P2.
    ig2, ig3 = MNIST_COST.task(2, TaskKind.IG), MNIST_COST.task(3, TaskKind.IG)
    three = Schedule("t", MNIST_COST, (
        _whole(MNIST_COST, "FP0", "WG0", "FP1", "WG1", "IG1"),
        (TaskSlice.of(ig2, 0, 5),),
        (TaskSlice.of(ig2, 5),) + _whole(MNIST_COST, "WG2", "FP2", "FP3", "WG3", "IG3")), 1.0)
    assert three.homes == (0, 0, 2, 2)
    weights = round(5 / 13 * MNIST_COST.task(2, TaskKind.FP).weight_bytes)
    grad1 = ig2.output_bytes
    share_p1 = grad1 * 5 // 13
    assert three.boundary_bytes[0] == MNIST_COST.boundary_bytes()[1]
    assert three.boundary_bytes[1] == (MNIST_COST.task(1, TaskKind.FP).output_bytes + (grad1 - share_p1)
                                       + weights + ig3.output_bytes + MNIST_COST.state_bytes(2))
    assert three.boundary_overhead_bytes == (0, three.boundary_bytes[1] - MNIST_COST.boundary_bytes()[1])
    assert three.weight_overhead_bytes == weights


def _reference_optimum(cost: NetworkCost, procs: int) -> int:
    """Brute force: every order of every layer's tasks, then the classic O(n^2 P) partition DP over chunks."""
    layers = layer_tasks(cost)
    best = None
    per_layer = [list(permutations(tasks.values())) for tasks in layers]
    for orders in product(*per_layer):
        chunks = [t.cycles if t.kind is TaskKind.WG else t.cycles_per_tile
                  for order in orders for t in order
                  for _ in range(1 if t.kind is TaskKind.WG else t.tiles)]
        # boundaries may fall between chunks; prefix sums and DP over (chunks, processors)
        prefix = [0]
        for c in chunks:
            prefix.append(prefix[-1] + c)
        n = len(chunks)
        inf = float("inf")
        dp = [0] + [inf] * n
        for _ in range(procs):
            new = [0] + [inf] * n
            for j in range(1, n + 1):
                new[j] = min(max(dp[i], prefix[j] - prefix[i]) for i in range(j + 1))
            dp = new
        best = dp[n] if best is None else min(best, dp[n])
    return int(best)


small_configs = st.tuples(
    random_networks(max_convs=1, max_dense=1),
    st.integers(8, 64), st.integers(8, 64), st.integers(1, 2), st.integers(1, 6))


@settings(max_examples=60, deadline=None)
@given(small_configs)
def test_optimal_matches_brute_force(config) -> None:
    net, rows, cols, batch, procs = config
    cost = network_cost(net, ArrayConfig(rows, cols), batch)
    if sum(t.tiles for t in cost.tasks) > 60:  # keep the brute force small
        return
    procs = min(procs, max_slices(cost))
    assert make_schedule("compute-optimal", cost, procs).cycles_per_update == _reference_optimum(cost, procs)


@settings(max_examples=40, deadline=None)
@given(random_networks(), st.sampled_from([8, 16, 32, 64]), st.integers(1, 4), st.integers(1, 16))
def test_schedule_properties(net, size, batch, procs) -> None:
    cost = network_cost(net, ArrayConfig(size, size), batch)
    procs = min(procs, max_slices(cost))
    schedules = {name: make_schedule(name, cost, procs) for name in SCHEDULERS}
    for name, s in schedules.items():
        assert s.procs == procs
        flat = [(p, x) for p, slices in enumerate(s.processors) for x in slices]
        # every task's cycles allocated exactly once, tiles ascending along the processors
        for t in cost.tasks:
            parts = [(p, x) for p, x in flat if (x.layer, x.kind) == (t.layer, t.kind)]
            assert sum(x.cycles for _, x in parts) == t.cycles
            assert [x.tile_start for _, x in parts] == [0] + [x.tile_stop for _, x in parts[:-1]]
            if t.kind is TaskKind.WG or name in ("layerwise", "pipedream", "split"):
                assert len(parts) == 1
        # chain order: layers never go back along the pipeline
        assert [x.layer for _, x in flat] == sorted(x.layer for _, x in flat)
        assert s.loads == tuple(sum(x.cycles for x in slices) for slices in s.processors)
        assert sum(s.loads) == cost.total
        assert s.speedup <= procs + 1e-9 and s.speedup <= s.bound + 1e-9
        assert len(s.boundary_bytes) == procs - 1
        assert all(0 <= extra <= total for extra, total in zip(s.boundary_overhead_bytes, s.boundary_bytes))
        assert 0 <= s.weight_overhead_bytes <= sum(s.boundary_bytes)
    best = schedules["compute-optimal"].cycles_per_update
    assert all(best <= s.cycles_per_update for s in schedules.values())
    assert best >= -(-cost.total // procs)


def test_reprs_are_short_and_say_what_matters() -> None:
    s = make_schedule("compute-optimal", MNIST_COST, 4)
    assert len(repr(s)) < 200 and "compute-optimal" in repr(s) and f"{s.cycles_per_update:,}" in repr(s)
    assert len(repr(MNIST_COST)) < 120 and f"{TABLE_VI_TOTAL:,}" in repr(MNIST_COST)


def test_idle_processors_are_not_pipeline_stages() -> None:
    """Layer-wise puts MNIST's layers on three processors from P = 3 on: the same pipeline at P = 3, 4 and 8."""
    three, four, eight = (make_schedule("layerwise", MNIST_COST, p) for p in (3, 4, 8))
    assert three.procs_used == four.procs_used == eight.procs_used == 3 and eight.procs == 8
    assert three.delays == four.delays == eight.delays == (4, 2, 0, 0)


@settings(max_examples=25, deadline=None)
@given(random_networks(), st.integers(1, 6), st.integers(1, 3), st.sampled_from(sorted(SCHEDULERS)))
def test_padding_with_empty_processors_changes_nothing(net, procs, pad, name) -> None:
    from simulator.des import simulate
    cost = network_cost(net, ArrayConfig(8, 8))
    s = make_schedule(name, cost, min(procs, max_slices(cost)))
    padded = Schedule(s.scheduler, s.cost, s.processors + ((),) * pad, s.bound)
    assert padded.delays == s.delays and padded.procs_used == s.procs_used
    a, b = simulate(s, 12), simulate(padded, 12)
    assert a.simulated_cycles_per_update == b.simulated_cycles_per_update
    assert a.fill_latency == b.fill_latency
    assert [p.peak_sram for p in a.processors] == [p.peak_sram for p in b.processors][:s.procs]
