"""The discrete-event model: free transfers reproduce the analytic schedules exactly, finite buses
degrade them the way they should, traces are consistent, bad input is refused."""
from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.cost import ArrayConfig, TaskKind, input_activation_bytes, network_cost
from simulator.des import link_machine as bus
from simulator.des import simulate
from simulator.des.memory import _stack
from simulator.machine import Interconnect, load_machine
from simulator.schedule import SCHEDULERS, make_schedule
from simulator.schedule.types import Schedule
from tests.conftest import random_networks
from workloads import BUILTIN, MNIST, NMNIST, ConfigError


def enough(procs: int) -> int:
    """Mini-batches for a steady-state window at P processors."""
    return 4 * procs + 8


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_free_bus_reproduces_every_schedule_exactly(name: str) -> None:
    cost = network_cost(BUILTIN[name], ArrayConfig(32, 32), 1)
    for procs in range(1, 17):
        for scheduler in SCHEDULERS:
            schedule = make_schedule(scheduler, cost, procs)
            result = simulate(schedule, enough(procs))
            assert result.steady_state
            assert result.simulated_cycles_per_update == schedule.cycles_per_update, (scheduler, procs)
            assert result.analytic_cycles_per_update == schedule.cycles_per_update
            assert all(p.wait_bus == 0 for p in result.processors)


@settings(max_examples=40, deadline=None)
@given(random_networks(max_convs=2), st.integers(1, 8), st.sampled_from(sorted(SCHEDULERS)),
       st.sampled_from([(8, 8), (16, 32), (32, 32)]), st.integers(1, 4))
def test_free_bus_reproduces_random_schedules(net, procs, scheduler, array, batch) -> None:
    cost = network_cost(net, ArrayConfig(*array), batch)
    try:
        schedule = make_schedule(scheduler, cost, procs)
    except ConfigError:  # more processors than slices can exist
        return
    result = simulate(schedule, enough(procs))
    assert result.simulated_cycles_per_update == schedule.cycles_per_update


@pytest.mark.parametrize("net, scheduler, procs", [(MNIST, "compute-optimal", 4), (MNIST, "layerwise", 3),
                                                   (NMNIST, "finegrained", 6), (NMNIST, "pipedream", 4)])
def test_finite_bus_degrades_monotonically(net, scheduler, procs) -> None:
    schedule = make_schedule(scheduler, network_cost(net, ArrayConfig(32, 32), 1), procs)
    n = enough(procs)

    def cycles(bandwidth: float, latency: int) -> float:
        return simulate(schedule, n, bus(bandwidth, latency)).simulated_cycles_per_update

    by_bandwidth = [cycles(bw, 0) for bw in (0.25, 1, 4, 16, 64, math.inf)]
    assert all(a >= b for a, b in zip(by_bandwidth, by_bandwidth[1:])), by_bandwidth
    by_latency = [cycles(16, lat) for lat in (0, 10, 100, 1000, 10_000)]
    assert all(a <= b for a, b in zip(by_latency, by_latency[1:])), by_latency
    assert min(by_bandwidth + by_latency) >= schedule.cycles_per_update
    assert by_bandwidth[-1] == schedule.cycles_per_update
    assert by_bandwidth[0] > schedule.cycles_per_update


def test_slow_link_is_named_as_the_bottleneck() -> None:
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 1), 4)
    slow = simulate(schedule, 24, bus(bandwidth=1))
    assert slow.bottleneck.startswith("link p")
    fast = simulate(schedule, 24)
    assert fast.bottleneck.startswith("processor p")


def test_no_overlap_and_shared_bus_cost_time() -> None:
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 1), 4)
    base = simulate(schedule, 24, bus(bandwidth=8))
    serial = simulate(schedule, 24, bus(bandwidth=8), overlap=False)
    shared = simulate(schedule, 24, bus(bandwidth=8, shared=True))
    assert serial.simulated_cycles_per_update >= base.simulated_cycles_per_update
    assert sum(p.wait_bus for p in serial.processors) > 0 == sum(p.wait_bus for p in base.processors)
    assert shared.simulated_cycles_per_update >= base.simulated_cycles_per_update
    assert len(shared.links) == 1


@pytest.mark.parametrize("procs", [2, 3, 4])
def test_bytes_moved_match_the_data_flow(procs: int) -> None:
    """Layer-wise: each layer boundary's bytes (cost model) cross every link between the two layers."""
    cost = network_cost(MNIST, ArrayConfig(32, 32), 2)
    schedule = make_schedule("layerwise", cost, procs)
    home = [schedule.holders(l.index, TaskKind.FP)[0] for l in MNIST.compute_layers()]
    expected = defaultdict(int)
    for layer, nbytes in enumerate(cost.boundary_bytes()):
        for p in range(home[layer], home[layer + 1]):
            expected[p] += nbytes
    n = 10
    result = simulate(schedule, n)
    moved = {l.name: l.nbytes // n for l in result.links}
    for p in range(procs - 1):
        assert moved[f"p{p}->p{p + 1}"] + moved[f"p{p + 1}->p{p}"] == expected[p]


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
@pytest.mark.parametrize("net, procs", [(MNIST, 4), (NMNIST, 7)])
def test_bytes_moved_are_the_schedules_boundary_bytes(net, procs, scheduler) -> None:
    """The DES moves exactly the traffic `Schedule.boundary_bytes` accounts for, split tasks included."""
    schedule = make_schedule(scheduler, network_cost(net, ArrayConfig(32, 32), 2), procs)
    n = 6
    result = simulate(schedule, n)
    moved = {l.name: l.nbytes for l in result.links}
    got = tuple((moved[f"p{p}->p{p + 1}"] + moved[f"p{p + 1}->p{p}"]) // n for p in range(procs - 1))
    assert got == schedule.boundary_bytes


def test_single_processor_memory_matches_the_cost_model() -> None:
    """P = 1: what the DES holds at its peak is the cost model's backward-pass memory plus weights."""
    cost = network_cost(MNIST, ArrayConfig(32, 32), 4)
    result = simulate(make_schedule("layerwise", cost, 1), 3)
    layers = MNIST.compute_layers()
    weights = sum(cost.task(l.index, TaskKind.FP).weight_bytes for l in layers)
    dataset_input = input_activation_bytes(MNIST, layers[0], 4, cost.bytes_model)  # not on chip in the DES
    kept = weights + cost.memory_bytes - dataset_input
    # in the backward pass IG of a layer runs before its WG, so dL/dv_sp of layer l is still held
    # when IG writes that of layer l - 1
    grads = [cost.task(l, TaskKind.IG).output_bytes for l in range(1, len(layers))]
    two_gradients = max(a + b for a, b in zip(grads, grads[1:]))
    assert kept <= result.processors[0].peak_sram <= kept + two_gradients


def test_trace_is_valid_and_causal(tmp_path) -> None:
    path = tmp_path / "trace.json"
    assert main(["simulate", "--network", "mnist", "--procs", "4", "--scheduler", "compute-optimal",
                 "--bus-bandwidth", "8", "--bus-latency", "5", "--minibatches", "12",
                 "--trace", str(path), "--plot", str(tmp_path / "gantt.png")]) == 0
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    assert all(e["ph"] in ("X", "M", "C", "s", "f") for e in events)
    slices = [e for e in events if e["ph"] == "X" and e["pid"] == 1 and e["cat"] != "wait"]
    transfers = [e for e in events if e["ph"] == "X" and e["pid"] == 2]
    assert slices and transfers and (tmp_path / "gantt.png").stat().st_size > 0
    # no processor runs two slices at once
    by_proc = defaultdict(list)  # in cycles (args): ts and dur are microseconds, rounded
    for e in slices:
        by_proc[e["tid"]].append((e["args"]["start_cycle"], e["args"]["start_cycle"] + e["args"]["cycles"]))
    for spans in by_proc.values():
        spans.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    # every slice starts after the transfers of its inputs into its processor arrived
    arrival = defaultdict(int)  # (item, layer, minibatch, dst) -> last arrival at dst
    for t in transfers:
        a = t["args"]
        end = a["start_cycle"] + a["cycles"]
        if t["name"] and end > arrival[a["item"], a["layer"], a["minibatch"], a["dst"]]:
            arrival[a["item"], a["layer"], a["minibatch"], a["dst"]] = end
    last = len(MNIST.compute_layers()) - 1
    checked = 0
    for e in slices:
        kind, layer, b, p = e["cat"], e["args"]["layer"], e["args"]["minibatch"], e["tid"]
        needs = {"FP": [("act", layer - 1)],
                 "WG": [("act", layer - 1), ("grad" if layer < last else "act", layer if layer < last else last)],
                 "IG": [("grad" if layer < last else "act", layer if layer < last else last)]}[kind]
        for item, l in needs:
            key = (item, l, b, p)
            if key in arrival:
                assert arrival[key] <= e["args"]["start_cycle"], (e, key)
                checked += 1
        if kind in ("FP", "IG"):  # weights of the version its delay allows
            version = b - 1 - doc_delays(layer)
            if ("weights", layer, version, p) in arrival:
                assert arrival["weights", layer, version, p] <= e["args"]["start_cycle"]
                checked += 1
    assert checked > 50


def doc_delays(layer: int) -> int:
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 1), 4)
    return schedule.delays[layer]


def test_bad_input_is_refused() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), 1)
    schedule = make_schedule("compute-optimal", cost, 2)
    with pytest.raises(ConfigError, match="bandwidth"):
        Interconnect(bandwidth=-1)
    with pytest.raises(ConfigError, match="latency"):
        Interconnect(latency=-5)
    with pytest.raises(ConfigError, match="minibatches"):
        simulate(schedule, 0)
    with pytest.raises(ConfigError, match="made for network 'mnist'"):
        simulate(schedule, 4, network=NMNIST)
    with pytest.raises(ConfigError, match="expected a Schedule"):
        simulate("compute-optimal", 4)
    with pytest.raises(ConfigError):
        Schedule("broken", cost, (schedule.processors[0],), 1.0)  # tasks missing


@pytest.mark.parametrize("args, message", [
    (["--procs", "0"], "--procs"), (["--bus-bandwidth", "-3"], "bandwidth"), (["--bus-bandwidth", "fast"], "bandwidth"),
    (["--minibatches", "0"], "minibatches"), (["--scheduler", "greedy"], "unknown scheduler"),
    (["--array", "0x0"], "array"),
])
def test_cli_errors_are_one_line(capsys, args, message) -> None:
    assert main(["simulate", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_json_has_the_promised_fields(capsys) -> None:
    assert main(["simulate", "--procs", "2", "--minibatches", "16", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["scheduler"] for r in rows] == list(SCHEDULERS)
    for r in rows:
        assert {"scheduler", "procs", "analytic_cycles_per_update", "simulated_cycles_per_update",
                "fill_latency", "utilization", "bus_bytes"} <= set(r)
        assert r["procs"] == 2 and len(r["utilization"]) == 2
        assert r["simulated_cycles_per_update"] == r["analytic_cycles_per_update"]


def test_result_repr_is_short() -> None:
    r = simulate(make_schedule("compute-optimal", network_cost(MNIST, "32x32"), 4), 16, trace=True)
    assert len(repr(r)) < 200 and f"{r.analytic_cycles_per_update:,}" in repr(r)


@pytest.mark.parametrize("machine", ["ideal", "realistic"])
@pytest.mark.parametrize("overlap", [True, False])
def test_the_run_is_a_simpy_model_of_few_events(machine: str, overlap: bool) -> None:
    """One `timeout` per slice, and at most one wake per awaited item or channel booking: the
    events SimPy scheduled (`SimResult.events`) follow slices and bookings, never cycles."""
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 1), 4)
    r = simulate(schedule, 30, load_machine(machine), overlap=overlap, trace=True)
    assert len(r.slices) <= r.events <= 2 * (len(r.slices) + len(r.transfers))
    assert r.total_cycles > 100 * r.events


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 12), st.integers(1, 100)),
                                    min_size=1, max_size=30), st.integers(0, 300))
def test_stack_ranking_spills_what_does_not_fit_below_the_room(points: int, spans: list, room: int) -> None:
    """The residency plan's stack (simulator.des.memory._stack): each buffer, in rank order, keeps in
    SRAM what fits below the room after those ranked before it at its fullest point, so no point
    holds more than the room."""
    starts = [min(s, points - 1) for s, _, _ in spans]
    ends = [min(points - 1, s + length) for s, (_, length, _) in zip(starts, spans)]
    sizes = [b for _, _, b in spans]
    outs = _stack(np.array(starts), np.array(ends), np.array(sizes), room, points).tolist()
    ranked, held = [0] * points, [0] * points
    for start, end, size, out in zip(starts, ends, sizes, outs):
        assert out == min(size, max(0, max(ranked[start:end + 1]) + size - room))
        for x in range(start, end + 1):
            ranked[x] += size
            held[x] += size - out
    assert max(held) <= room
