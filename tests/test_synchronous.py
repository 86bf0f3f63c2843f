"""Synchronous baselines (GPipe, 1F1B, ZB-H1, ZB-H2): the DES meets the published formulas on
uniform stages, the in-flight limits hold, non-uniform stages stay within their bounds."""
from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cost import ArrayConfig, TaskKind, network_cost
from simulator.des.synchronous import simulate_sync
from simulator.schedule.synchronous import (Flush, OpKind, StageCost, SyncKind, SyncSchedule,
                                            make_sync_schedule)
from workloads import MNIST, NMNIST, ConfigError

GPIPE, ONE_F_ONE_B, ZB_H1, ZB_H2 = SyncKind.GPIPE, SyncKind.ONE_F_ONE_B, SyncKind.ZB_H1, SyncKind.ZB_H2


def uniform(kind: SyncKind, p: int, m: int, f: int, b: int, w: int) -> SyncSchedule:
    """p stages of F = f, B = b, W = w cycles per micro-batch."""
    return SyncSchedule(kind, tuple(StageCost((s,), f, b, w, 100, 400) for s in range(p)), m)


def cycles(schedule: SyncSchedule, flush: Flush = Flush.GLOBAL, **links) -> float:
    result = simulate_sync(schedule, 4, flush=flush, **links)
    assert result.steady_state
    return result.simulated_cycles_per_update


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 16), st.integers(1, 40))
def test_equal_ops_meet_the_published_formulas(p: int, m: int, t: int) -> None:
    """F = B = W = t: GPipe, 1F1B (m + p - 1)(F + B + W); ZB-H1 a third of 1F1B's bubble once
    m >= p; ZB-H2 none once m >= 2p - 1 without a global flush, the skew (p - 1) F with one."""
    work = m * 3 * t
    for flush in Flush:
        assert cycles(uniform(GPIPE, p, m, t, t, t), flush) == (m + p - 1) * 3 * t
        assert cycles(uniform(ONE_F_ONE_B, p, m, t, t, t), flush) == (m + p - 1) * 3 * t
        if m >= p:
            assert cycles(uniform(ZB_H1, p, m, t, t, t), flush) - work == (p - 1) * 3 * t / 3
    if m >= 2 * p - 1:
        assert cycles(uniform(ZB_H2, p, m, t, t, t), Flush.PER_STAGE) == work
        assert cycles(uniform(ZB_H2, p, m, t, t, t), Flush.GLOBAL) == work + (p - 1) * t


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(list(SyncKind)), st.integers(1, 7), st.integers(1, 16),
       st.integers(1, 30), st.integers(1, 30), st.integers(1, 30))
def test_uniform_stages_meet_the_formula_where_it_holds(kind, p, m, f, b, w) -> None:
    """Uneven F, B, W: (m + p - 1)(F+B+W) for GPipe and 1F1B always; m(F+B+W) + (p-1)(F+B-W) for
    ZB-H1 and + (p-1)(F+B-2W) for ZB-H2 (per-stage flush) under `formula_holds`."""
    schedule = uniform(kind, p, m, f, b, w)
    published = m * (f + b + w) + (p - 1) * {GPIPE: f + b + w, ONE_F_ONE_B: f + b + w,
                                             ZB_H1: f + b - w, ZB_H2: f + b - 2 * w}[kind]
    if schedule.formula_holds:
        assert schedule.analytic_cycles() == published
        assert cycles(schedule, schedule.published_flush) == published
        for flush in Flush:
            assert cycles(schedule, flush) == schedule.analytic_cycles(flush)


@pytest.mark.parametrize("p, m, f, b, w, per_stage, with_flush", [
    (3, 5, 10, 5, 1, 80 + 2 * 13, 80 + 2 * 13),  # F+B-2W > F: the global flush adds nothing
    (4, 9, 6, 2, 2, 90 + 3 * 4, 90 + 3 * 6),  # F+B-2W < F: it adds (p-1)(2W-B)
])
def test_zb_h2_with_and_without_a_global_flush(p, m, f, b, w, per_stage, with_flush) -> None:
    schedule = uniform(ZB_H2, p, m, f, b, w)
    assert schedule.formula_holds
    assert cycles(schedule, Flush.PER_STAGE) == schedule.analytic_cycles(Flush.PER_STAGE) == per_stage
    assert cycles(schedule, Flush.GLOBAL) == schedule.analytic_cycles(Flush.GLOBAL) == with_flush


@pytest.mark.parametrize("kind, p, m, t, flush, measured", [
    (ZB_H1, 4, 2, 1, Flush.GLOBAL, 11),  # m < p: the formula says 9
    (ZB_H2, 4, 4, 3, Flush.PER_STAGE, 45),  # m < 2p - 1: the formula says 36 (zero bubble)
])
def test_outside_its_conditions_the_formula_fails(kind, p, m, t, flush, measured) -> None:
    schedule = uniform(kind, p, m, t, t, t)
    assert not schedule.formula_holds
    assert cycles(schedule, flush) == measured > schedule.analytic_cycles(flush)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 16))
def test_peak_in_flight_micro_batches(p: int, m: int) -> None:
    """Micro-batches with F done and B not, per stage s: GPipe m, 1F1B and ZB-H1 p - s,
    ZB-H2 2(p - 1 - s) + 1 (Qi et al.: (2p - 1) M_B on the first stage); never above m."""
    limit = {GPIPE: lambda s: m, ONE_F_ONE_B: lambda s: p - s, ZB_H1: lambda s: p - s,
             ZB_H2: lambda s: 2 * (p - 1 - s) + 1}
    for kind, of in limit.items():
        result = simulate_sync(uniform(kind, p, m, 2, 2, 2), 2)
        assert [s.peak_in_flight for s in result.processors] == [min(m, of(s)) for s in range(p)], kind
        if kind in (GPIPE, ONE_F_ONE_B):
            assert all(s.peak_weight_pending == 0 for s in result.processors)


@st.composite
def uneven(draw: st.DrawFn) -> SyncSchedule:
    p = draw(st.integers(1, 6))
    costs = st.integers(0, 25)
    stages = tuple(StageCost((s,), draw(costs), draw(costs), draw(costs)) for s in range(p))
    return SyncSchedule(draw(st.sampled_from(list(SyncKind))), stages, draw(st.integers(1, 12)))


@settings(max_examples=100, deadline=None)
@given(uneven(), st.sampled_from(list(Flush)))
def test_uneven_stages_stay_within_their_bounds(schedule: SyncSchedule, flush: Flush) -> None:
    """max_s m(F_s + B_s + W_s) <= DES; DES <= the formula at the stages' largest F, B, W where it holds."""
    measured = cycles(schedule, flush)
    assert measured >= schedule.lower_bound
    if schedule.formula_holds:
        assert measured <= schedule.analytic_cycles(flush)


@pytest.mark.parametrize("kind", list(SyncKind))
def test_programs_run_every_op_once_in_dependency_order(kind: SyncKind) -> None:
    for p, m in [(1, 1), (3, 2), (4, 7), (5, 12)]:
        schedule = uniform(kind, p, m, 1, 1, 1)
        for program in schedule.programs:
            position = {op: i for i, op in enumerate(program)}
            assert len(position) == len(program)
            fused = kind in (GPIPE, ONE_F_ONE_B)
            kinds = (OpKind.F, OpKind.BW) if fused else (OpKind.F, OpKind.B, OpKind.W)
            assert Counter(op.kind for op in program) == {k: m for k in kinds}
            for i in range(m):
                order = [position[(k, i)] for k in kinds]
                assert order == sorted(order)


def test_network_stages_are_the_micro_batch_costs() -> None:
    """MNIST, batch 8 in 4 micro-batches: stages hold whole layers, costs of batch 2, no delays."""
    schedule = make_sync_schedule("1f1b", MNIST, "32x32", 8, 4, 4)
    micro = network_cost(MNIST, ArrayConfig(32, 32), 2)
    assert schedule.cost == micro
    assert [l for s in schedule.stages for l in s.layers] == list(range(len(MNIST.compute_layers())))
    for kind, field in ((TaskKind.FP, "fp"), (TaskKind.IG, "ig"), (TaskKind.WG, "wg")):
        for s in schedule.stages:
            assert getattr(s, field) == sum(t.cycles for t in micro.tasks if t.kind is kind and t.layer in s.layers)
    assert schedule.delays == (0,) * len(MNIST.compute_layers())
    assert schedule.stages[0].gradient_bytes == 0 and schedule.stages[-1].activation_bytes == 0
    result = simulate_sync(schedule, 4)
    assert result.delays == schedule.delays
    assert schedule.lower_bound <= result.simulated_cycles_per_update <= schedule.analytic_cycles()


@pytest.mark.parametrize("kind", list(SyncKind))
def test_links_carry_each_micro_batch_once_and_cost_time(kind: SyncKind) -> None:
    schedule = make_sync_schedule(kind, NMNIST, "32x32", 4, 3, 4)
    n, m = 3, schedule.micro_batches
    free = simulate_sync(schedule, n)
    links = {l.name: l for l in free.links}
    for s, stage in enumerate(schedule.stages[:-1]):
        assert links[f"p{s}->p{s + 1}"].nbytes == n * m * stage.activation_bytes
        assert links[f"p{s + 1}->p{s}"].nbytes == n * m * schedule.stages[s + 1].gradient_bytes
        assert links[f"p{s}->p{s + 1}"].transfers == links[f"p{s + 1}->p{s}"].transfers == n * m
    previous = free.simulated_cycles_per_update
    for bandwidth, latency in [(64.0, 0), (64.0, 500), (4.0, 500), (1.0, 5000)]:
        slower = simulate_sync(schedule, n, bandwidth, latency).simulated_cycles_per_update
        assert slower >= previous
        previous = slower
    assert previous > free.simulated_cycles_per_update


@pytest.mark.parametrize("flush", list(Flush))
def test_trace_is_causal(flush: Flush) -> None:
    schedule = make_sync_schedule("zb-h1", MNIST, "32x32", 4, 3, 4)
    result = simulate_sync(schedule, 3, bandwidth=8.0, latency=20, flush=flush, trace=True)
    end = {(r.stage, r.op, r.minibatch): r.end for r in result.ops}
    arrival = {(t.src, t.dst, t.batch): t.end for t in result.transfers}
    m, last = schedule.micro_batches, schedule.procs - 1
    for r in result.ops:
        micro = r.minibatch * m + r.op.micro
        if r.op.kind is OpKind.F and r.stage > 0:
            assert r.start >= arrival[r.stage - 1, r.stage, micro] >= end[r.stage - 1, r.op, r.minibatch]
        if r.op.kind is OpKind.B and r.stage < last:
            assert r.start >= arrival[r.stage + 1, r.stage, micro]
        if r.op.kind is OpKind.W:
            assert r.start >= end[r.stage, (OpKind.B, r.op.micro), r.minibatch]
        if flush is Flush.GLOBAL and r.minibatch > 0:
            assert r.start >= result.update_times[r.minibatch - 1]
    for s in range(schedule.procs):
        ops = sorted((r for r in result.ops if r.stage == s), key=lambda r: r.start)
        assert all(a.end <= b.start for a, b in zip(ops, ops[1:]))
        stats = result.processors[s]
        assert stats.busy == sum(r.end - r.start for r in ops) == 3 * stats.load
        assert stats.idle >= 0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ConfigError, match="micro_batches: must be a positive divisor of batch 8, got 3"):
        make_sync_schedule("gpipe", MNIST, "32x32", 8, 4, 3)
    with pytest.raises(ConfigError, match="unknown kind 'pipedream'"):
        make_sync_schedule("pipedream", MNIST, "32x32", 8, 4, 4)
    with pytest.raises(ConfigError, match="field 'fp' must be a non-negative integer"):
        StageCost((0,), -1, 0, 0)
    with pytest.raises(ConfigError, match="field 'micro_batches'"):
        uniform(GPIPE, 2, 0, 1, 1, 1)
    with pytest.raises(ConfigError, match="flush: must be one of"):
        simulate_sync(uniform(GPIPE, 2, 2, 1, 1, 1), 2, flush="sometimes")
    with pytest.raises(ConfigError, match="bandwidth"):
        simulate_sync(uniform(GPIPE, 2, 2, 1, 1, 1), 2, bandwidth=0)
    with pytest.raises(ConfigError, match="minibatches"):
        simulate_sync(uniform(GPIPE, 2, 2, 1, 1, 1), 0)
    assert math.isinf(simulate_sync(uniform(GPIPE, 2, 2, 1, 1, 1), 2).machine.interconnect.bandwidth)
