"""The discrete-event model on a physical machine: routes, SRAM spills to DRAM, heterogeneous
arrays, energy per update term by term, the limiting resource, and `spikepipe simulate --machine`."""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.cost import ArrayConfig, Gemm, cycles_per_tile, network_cost, zero_skip_cycles, zero_skip_cycles_per_tile
from simulator.des import DRAM_END, Resource, simulate
from simulator.des import Processor as DesProcessor
from simulator.des.memory import Plan
from simulator.des.steps import build_programs
from simulator.schedule.dataflow import Item, ItemKind
from simulator.schedule.machine_load import slice_cycles
from simulator.energy import Activity, spike_gated, task_density, task_energy
from simulator.machine import (Dram, Interconnect, Machine, ProcessorOverride, Processors, load_machine,
                               machine_from_dict, machine_to_toml)
from simulator.schedule import SCHEDULERS, make_schedule
from tests.conftest import random_networks
from workloads import MNIST, NMNIST, ConfigError, Dense, Network, Output


def enough(procs: int) -> int:
    return 4 * procs + 8


def machine(array: ArrayConfig = ArrayConfig(32, 32), sram: float = math.inf, bandwidth: float = math.inf,
            latency: int = 0, topology: str = "chain", dram: Dram | None = None, **kw) -> Machine:
    return Machine(processors=Processors(array, sram, **kw), dram=dram,
                   interconnect=Interconnect(topology, bandwidth, latency))


TINY = Network("tiny", (2, 2, 1), (Dense(4), Output(2)), 2)


def test_energy_of_a_tiny_network_term_by_term() -> None:
    """Tiny network (2x2 image -> dense 4 -> output 2, T = 2, batch 1) on 4x4 arrays, P = 2,
    layer-wise (p0: FP0 WG0; p1: FP1 WG1 IG1), default energy table (pJ: accumulate 0.9, MAC 4.6,
    IIR 10.1 forward / 12.9 backward per step, SRAM 2.5 per byte, DRAM 162.5 per byte, link 4.32
    per byte and hop; static 1,417 mW per processor). p0's SRAM holds exactly its weights
    (80 bytes), so every buffer it receives or keeps spills; DRAM and links take 1 cycle per access."""
    cost = network_cost(TINY, ArrayConfig(4, 4), 1)
    schedule = make_schedule("layerwise", cost, 2)
    assert [[s.label for s in p] for p in schedule.processors] == [["FP0", "WG0"], ["FP1", "WG1", "IG1"]]
    m = machine(ArrayConfig(4, 4), overrides=(ProcessorOverride(0, sram_bytes=80),), bandwidth=1e12,
                dram=Dram(1e12, 0))
    r = simulate(schedule, 40, m)
    e = r.energy
    # cycles (eq. 27: N_MAC + SR + SC - 2 per tile, one tile each): FP0 4+6, WG0 2+6 on p0 (18);
    # FP1 4+6, WG1 2+6, IG1 2+6 on p1 (26): p0 has 8 cycles of slack for its DRAM reads
    assert r.simulated_cycles_per_update == r.analytic_cycles_per_update == 26
    # compute: layer 0 is fed with currents (real MACs); FP1 and WG1 are gated accumulates; IG1 MACs
    # FP0 2x4x4 = 32 MACs * 4.6, WG0 4x4x2 = 32 * 4.6, FP1 2x2x4 = 16 * 0.9, WG1 4x2x2 = 16 * 0.9, IG1 2x4x2 = 16 * 4.6
    assert e.compute == pytest.approx((147.2 + 147.2 + 14.4 + 14.4 + 73.6) * 1e-12, rel=1e-12)
    # IIR: 4 neurons x 2 steps forward and backward on layer 0, 2 x 2 on the output layer
    assert e.iir == pytest.approx((8 * 10.1 + 8 * 12.9 + 4 * 10.1 + 4 * 12.9) * 1e-12, rel=1e-12)
    # SRAM bytes read + written: FP0 16 in + 80 weights + 1 spikes out + 2 state; WG0 48 in + 34 filter
    # reads + 80 out + 32 filter writes; FP1 1 + 40 + 8; WG1 17 + 8 + 40 + 16; IG1 16 + 32 + 32
    assert e.sram == pytest.approx((99 + 194 + 49 + 81 + 80) * 2.5e-12, rel=1e-12)
    # links: act0 (1 byte) p0 -> p1 and grad0 (32 bytes) p1 -> p0, one hop each
    assert e.link == pytest.approx(33 * 4.32e-12, rel=1e-12)
    # DRAM on p0: state0 (2 bytes) and grad0 (32) written once and read back by WG0
    assert r.dram_bytes_per_update == 68
    assert e.dram == pytest.approx(68 * 162.5e-12, rel=1e-12)
    # static: 26 ns at 1 GHz, 1,417 mW, two processors
    assert e.static == pytest.approx(26e-9 * 1.417 * 2, rel=1e-12)
    assert r.energy_per_update_j == pytest.approx(sum(e), rel=1e-12) == r.energy_per_sample_j
    assert r.seconds_per_update == pytest.approx(26e-9) and r.samples_per_second == pytest.approx(1 / 26e-9)
    assert r.power_per_processor_w == pytest.approx(sum(e) / 26e-9 / 2)
    assert [p.peak_sram for p in r.processors][0] == 80  # only its weights ever stay


def test_dynamic_energy_is_the_tasks_whatever_the_split() -> None:
    """Split slices add up to their tasks (TaskEnergy.share)."""
    cost = network_cost(MNIST, ArrayConfig(32, 32), 1)
    table = load_machine("ideal").energy
    whole = [task_energy(cost, t, table) for t in cost.tasks]
    for scheduler in SCHEDULERS:
        e = simulate(make_schedule(scheduler, cost, 5), enough(5)).energy
        assert e.compute == pytest.approx(sum(t.compute_pj for t in whole) * 1e-12, rel=1e-9)
        assert e.iir == pytest.approx(sum(t.iir_pj for t in whole) * 1e-12, rel=1e-9)
        assert e.sram == pytest.approx(sum(t.sram_pj for t in whole) * 1e-12, rel=1e-9)
        assert e.dram == 0


def test_ideal_preset_is_the_default() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), 1)
    for scheduler in SCHEDULERS:
        schedule = make_schedule(scheduler, cost, 4)
        assert simulate(schedule, 24, load_machine("ideal")) == simulate(schedule, 24)


def test_spilling_costs_time_and_energy() -> None:
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 4), 4)
    roomy = simulate(schedule, 24, load_machine("realistic"))
    tight = simulate(schedule, 24, replace(load_machine("realistic"),
                                           processors=Processors(ArrayConfig(32, 32), 16 * 1024)))
    assert roomy.dram_bytes_per_update == 0 and tight.dram_bytes_per_update > 0
    assert tight.simulated_cycles_per_update > roomy.simulated_cycles_per_update
    assert tight.energy.dram > 0 and tight.energy_per_update_j > roomy.energy_per_update_j
    assert all(p.peak_sram <= 16 * 1024 for p in tight.processors)
    assert any(p.wait_memory > 0 for p in tight.processors)
    assert 0 < tight.dram_busy_share <= 1


def test_dram_traffic_is_traced_like_link_traffic() -> None:
    schedule = make_schedule("layerwise", network_cost(MNIST, ArrayConfig(32, 32), 4), 2)
    r = simulate(schedule, 12, replace(load_machine("realistic"),
                                       processors=Processors(ArrayConfig(32, 32), 16 * 1024)), trace=True)
    dram = [t for t in r.transfers if t.link == "dram"]
    writes = [t for t in dram if t.dst == DRAM_END]
    reads = [t for t in dram if t.src == DRAM_END]
    assert writes and reads and len(writes) + len(reads) == len(dram)
    assert sum(t.nbytes for t in dram) == r.dram[0].nbytes
    # a spilled buffer is read back only after it was written (weights: reads carry the reader's mini-batch)
    written = {}
    for t in writes:
        written[t.item, t.layer, t.batch, t.src] = max(written.get((t.item, t.layer, t.batch, t.src), 0), t.end)
    for t in reads:
        if t.item != "weights" and (t.item, t.layer, t.batch, t.dst) in written:
            assert t.start >= written[t.item, t.layer, t.batch, t.dst]
    # channels serve one access at a time
    spans = sorted((t.start, t.end) for t in dram)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


@pytest.mark.parametrize("topology, hops", [("chain", 3), ("ring", 1), ("shared", 1)])
def test_transfers_follow_the_routes(topology: str, hops: int) -> None:
    """p0 -> p3 crosses 3 links on a chain, the wrap-around link on a ring of 4, the bus when shared."""
    cost = network_cost(MNIST, ArrayConfig(32, 32), 1)
    schedule = make_schedule("layerwise", cost, 4)
    m = machine(bandwidth=8, latency=2, topology=topology).with_processors(4)
    r = simulate(schedule, 10, machine(bandwidth=8, latency=2, topology=topology), trace=True)
    assert len(m.route(0, 3)) == hops
    by_transfer: dict = {}
    for t in r.transfers:
        by_transfer.setdefault((t.item, t.layer, t.batch, t.src, t.dst), []).append(t)
    for (item, layer, batch, src, dst), hops_taken in by_transfer.items():
        assert len(hops_taken) == len(m.route(src, dst))
        assert all(a.end <= b.start for a, b in zip(hops_taken, hops_taken[1:]))  # store and forward
    assert sum(l.nbytes for l in r.links) == sum(t.nbytes for t in r.transfers)


def test_mesh_preset_places_processors_on_a_snake() -> None:
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 1), 8)
    r = simulate(schedule, enough(8), load_machine("mesh16"))
    assert len(r.dram) == 8 and len(r.links) == 2 * (3 * 4 + 4 * 3)
    used = {l.name for l in r.links if l.nbytes}
    assert used and all(name.count("p") == 2 for name in used)  # neighbours in pipeline order, no empty nodes
    assert r.simulated_cycles_per_update >= r.analytic_cycles_per_update


def test_heterogeneous_arrays_take_their_share_of_their_own_cycles() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), 1)
    schedule = make_schedule("finegrained", cost, 3)
    small = ArrayConfig(16, 16)
    m = machine(overrides=(ProcessorOverride(1, array=small),))
    r = simulate(schedule, enough(3), m)
    other = network_cost(MNIST, small, 1)
    expected = 0
    for s in schedule.processors[1]:
        total = other.task(s.layer, s.kind).cycles
        share = total * s.tile_stop // s.task_tiles - total * s.tile_start // s.task_tiles
        assert slice_cycles(s, cost, small, {}) == share
        expected += share
    assert r.processors[1].work == expected != r.processors[1].load
    assert [p.work for p in r.processors][0::2] == [r.processors[0].load, r.processors[2].load]
    assert r.simulated_cycles_per_update >= max(p.work for p in r.processors)
    assert r.energy == simulate(schedule, enough(3)).energy._replace(static=r.energy.static)


def test_bad_machines_are_refused() -> None:
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 1), 4)
    with pytest.raises(ConfigError, match="costed on 32x32"):
        simulate(schedule, 8, machine(ArrayConfig(16, 16)))
    with pytest.raises(ConfigError, match="processors.count"):
        simulate(schedule, 8, replace(load_machine("ideal"), processors=Processors(count=2)))
    with pytest.raises(ConfigError, match="no DRAM"):
        simulate(schedule, 8, machine(sram=8 * 1024))
    with pytest.raises(ConfigError, match="expected a Machine"):
        simulate(schedule, 8, "realistic")
    with pytest.raises(ConfigError, match="no DRAM to spill"):  # weights fit, the buffers do not
        simulate(make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 32), 4), 8, machine(sram=400 * 1024))
    with pytest.raises(ConfigError, match="overlap"):
        simulate(schedule, 8, overlap="no")


SCHEDULE_CASES = st.tuples(random_networks(max_convs=2), st.integers(1, 5), st.sampled_from(sorted(SCHEDULERS)),
                           st.integers(1, 2))


def _schedule(case):
    net, procs, scheduler, batch = case
    try:
        return make_schedule(scheduler, network_cost(net, ArrayConfig(16, 16), batch), procs)
    except ConfigError:  # more processors than slices can exist
        return None


def _check_shares(r) -> None:
    for p in r.processors:
        for cycles in (p.busy, p.wait_data, p.wait_weights, p.wait_memory, p.wait_bus, p.idle):
            assert 0 <= p.share(cycles) <= 1
    for c in r.links + r.dram:
        assert 0 <= c.steady_share <= 1 + 1e-12
    assert 0 <= r.limited_by.share <= 1 + 1e-12 and 0 <= r.dram_busy_share <= 1 + 1e-12


@settings(max_examples=40, deadline=None)
@given(SCHEDULE_CASES, st.sampled_from(["chain", "ring", "shared"]), st.sampled_from(["shared", "per_processor"]),
       st.floats(0.02, 1.0), st.sampled_from([0, 1]), st.booleans())
def test_time_is_monotone_in_every_resource(case, topology, channels, room, longer, overlap) -> None:
    """The static machine (docs/machine.md, "Why time is monotone in every resource"): more SRAM,
    faster or shorter links and a faster or shorter DRAM never make an update slower, exactly
    (0 cycles of tolerance: every update time by construction, the steady state measured over a
    window of it), and no physical machine beats the ideal one. The bytes spilled are
    fixed by the schedule and the capacity alone: never more with more SRAM, the same whatever
    the links and the DRAM, none with unbounded SRAM."""
    schedule = _schedule(case)
    if schedule is None:
        return
    n = (4 * schedule.procs + 8, 60)[longer]
    ideal = simulate(schedule, n, overlap=overlap)
    need = max(p.peak_sram for p in ideal.processors)
    sram = max(1, int(room * need))

    def run(capacity: float = sram, bandwidth: float = 8, latency: int = 5, dram_bandwidth: float = 4,
            dram_latency: int = 50):
        m = machine(ArrayConfig(16, 16), capacity, bandwidth, latency, topology,
                    Dram(dram_bandwidth, dram_latency, channels))
        r = simulate(schedule, n, m, overlap=overlap)
        _check_shares(r)
        assert r.simulated_cycles_per_update >= ideal.simulated_cycles_per_update >= r.analytic_cycles_per_update
        return r

    def slower_to_faster(runs) -> None:
        for a, b in zip(runs, runs[1:]):  # every event time is a max-plus expression of the durations
            assert all(x >= y for x, y in zip(a.update_times, b.update_times)) and a.total_cycles >= b.total_cycles
        cycles = [r.simulated_cycles_per_update for r in runs]
        assert all(a >= b for a, b in zip(cycles, cycles[1:])), cycles
        seconds = [r.seconds_per_update for r in runs]
        assert all(a >= b for a, b in zip(seconds, seconds[1:])), seconds

    by_sram = [run(capacity=c) for c in (sram, 2 * sram, 4 * sram, math.inf)]
    slower_to_faster(by_sram)
    spilled = [r.dram_bytes_per_update for r in by_sram]
    assert all(a >= b for a, b in zip(spilled, spilled[1:])) and spilled[-1] == 0, spilled
    by_links = [run(bandwidth=bw) for bw in (1, 4, 16, math.inf)]
    slower_to_faster(by_links)
    slower_to_faster([run(latency=lat) for lat in (200, 40, 5, 0)])
    by_dram = [run(dram_bandwidth=bw) for bw in (0.5, 2, 8, 64)]
    slower_to_faster(by_dram)
    slower_to_faster([run(dram_latency=lat) for lat in (400, 50, 0)])
    assert len({r.dram_bytes_per_update for r in by_links + by_dram}) == 1  # static: not a matter of timing


@settings(max_examples=60, deadline=None)
@given(SCHEDULE_CASES, st.floats(0.02, 1.0))
def test_every_dram_access_shrinks_with_more_sram(case, room) -> None:
    """The residency plan (simulator.des.memory) by construction: at every position of every
    processor's program, the bytes written and read never grow with the capacity, and no
    processor holds more than its capacity."""
    schedule = _schedule(case)
    if schedule is None:
        return
    n = 4 * schedule.procs + 8
    steps = build_programs(schedule)
    items = tuple(Item(kind, layer) for layer in range(len(steps.delays)) for kind in ItemKind)
    need = max(simulate(schedule, n).processors, key=lambda p: p.peak_sram).peak_sram
    plans, smallest = [], max(1, int(room * need))
    for capacity in (smallest, 2 * smallest, 4 * smallest, math.inf):
        m = machine(ArrayConfig(16, 16), capacity, dram=Dram(4, 50)).with_processors(schedule.procs)
        procs = [DesProcessor(p, ArrayConfig(16, 16), capacity) for p in range(schedule.procs)]
        plan = Plan(steps, procs, items, n, m)
        assert all(peak <= capacity for peak in plan.peak)
        plans.append(plan)
    for small, large in zip(plans, plans[1:]):
        for few, many in zip(small.access, large.access):
            for position, a in many.items():
                b = few.get(position)
                assert b is not None and a.write <= b.write and a.read <= b.read
    assert not any(plans[-1].access)


def test_limited_by_names_the_busiest_resource() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), 4)
    schedule = make_schedule("compute-optimal", cost, 4)
    assert simulate(schedule, 24).limited_by.resource is Resource.PROCESSOR
    slow_link = simulate(schedule, 24, machine(bandwidth=0.5))
    assert slow_link.limited_by.resource is Resource.LINK and slow_link.limited_by.share == pytest.approx(1.0)
    slow_dram = simulate(schedule, 24, machine(sram=32 * 1024, dram=Dram(0.05, 100)))
    assert slow_dram.limited_by.resource is Resource.DRAM and slow_dram.limited_by.name == "dram"
    assert slow_dram.simulated_cycles_per_update >= slow_dram.limited_by.busy_per_update


def test_cli_default_is_the_realistic_machine(capsys) -> None:
    assert main(["simulate", "--minibatches", "24"]) == 0
    out = capsys.readouterr().out
    assert "machine realistic" in out
    for header in ("ideal cycles/update", "physical cycles/update", "time/update µs", "samples/s",
                   "energy/sample mJ", "limited by", "peak SRAM KB", "of capacity %"):
        assert header in out
    assert main(["simulate", "--minibatches", "24", "--machine", "ideal"]) == 0
    out = capsys.readouterr().out
    assert "analytic cyc/update" in out and "bus KB/mini-batch" in out


def test_cli_json_has_the_physical_fields(capsys, tmp_path) -> None:
    assert main(["simulate", "--procs", "3", "--minibatches", "20", "--scheduler", "compute-optimal", "--json",
                 "--bus-bandwidth", "2", "--bus-latency", "7", "--array", "16x16"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert {"scheduler", "analytic_cycles_per_update", "simulated_cycles_per_update", "seconds_per_update",
            "samples_per_second", "energy_per_sample_j", "energy_breakdown_j", "peak_sram_bytes",
            "sram_capacity_bytes", "dram_bytes_per_update", "limited_by"} <= set(row)
    assert set(row["energy_breakdown_j"]) == {"compute", "iir", "sram", "dram", "link", "static"}
    assert row["sram_capacity_bytes"] == [4 * 2**20] * 3 and len(row["peak_sram_bytes"]) == 3
    assert row["machine"]["link_bandwidth"] == 2 and row["machine"]["link_latency"] == 7
    assert row["array"] == [16, 16]
    path = tmp_path / "m.toml"
    path.write_text('[processors]\nsram_bytes = inf\n[interconnect]\ntopology = "shared"\nbandwidth = 4\n')
    assert main(["simulate", "--procs", "3", "--minibatches", "20", "--scheduler", "compute-optimal", "--json",
                 "--machine", str(path)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["sram_capacity_bytes"] == [None] * 3 and row["machine"]["topology"] == "shared"
    assert [l["name"] for l in row["links"]] == ["bus"]
    assert main(["simulate", "--machine", "nonesuch"]) == 2
    assert "unknown machine" in capsys.readouterr().err


# -- activity and zero skipping ---------------------------------------------------------------

def test_activity_file_format() -> None:
    a = Activity.from_dict({"densities": [None, 0.25, 0.5], "source": "trained 3 epochs"})
    assert a.densities == (1.0, 0.25, 0.5) and a.source == "trained 3 epochs"
    for bad, match in (({"densities": [0.1, 2.0]}, "density of layer 1"), ({"density": [0.1]}, "list 'densities'"),
                       ({"densities": [0.1], "extra": 1}, "unknown field 'extra'"), ([0.1], "JSON object")):
        with pytest.raises(ConfigError, match=match):
            Activity.from_dict(bad, "file a.json")


def test_zero_skip_cycles_per_tile() -> None:
    """eq. 27 with the MAC phase ceil(d * N_MAC) + ceil(N_MAC / SR), never above N_MAC."""
    gemm, array = Gemm(64, 32, 1000), ArrayConfig(32, 32)
    dense = cycles_per_tile(gemm, array)
    assert zero_skip_cycles_per_tile(gemm, array, 1.0) == dense == 1000 + 62
    assert zero_skip_cycles_per_tile(gemm, array, 0.1) == 100 + 32 + 62
    assert zero_skip_cycles_per_tile(gemm, array, 0.0) == 32 + 62
    assert zero_skip_cycles_per_tile(gemm, array, 0.97) == dense  # 970 + 32 > 1000: stream densely
    assert zero_skip_cycles_per_tile(gemm, array, 0.001) == 1 + 32 + 62
    with pytest.raises(ConfigError, match="density"):
        zero_skip_cycles_per_tile(gemm, array, 1.5)


def test_zero_skip_machine_field() -> None:
    m = machine_from_dict({"processors": {"zero_skip": True}})
    assert m.processors.zero_skip and not m.ideal
    assert load_machine("ideal").processors.zero_skip is False
    with pytest.raises(ConfigError, match="processors.zero_skip"):
        machine_from_dict({"processors": {"zero_skip": "yes"}})
    assert machine_from_dict(tomllib.loads(machine_to_toml(m))) == replace(m, name="custom")


@pytest.mark.parametrize("net", [MNIST, NMNIST])
def test_activity_scales_energy_and_zero_skip_cycles(net) -> None:
    """Dense arrays: only the gated energy changes. Zero-skipping arrays at P = 1: the update takes
    the sum of the tasks' cycles, the spike-gated ones at `zero_skip_cycles`."""
    cost = network_cost(net, ArrayConfig(32, 32), 2)
    n = len(net.compute_layers())
    activity = Activity(tuple(0.1 + 0.05 * l for l in range(n)), "test")
    one = make_schedule("layerwise", cost, 1)
    dense, sparse = simulate(one, 8), simulate(one, 8, activity=activity)
    assert sparse.simulated_cycles_per_update == dense.simulated_cycles_per_update == cost.total
    assert sparse.energy.compute < dense.energy.compute and sparse.energy.iir == dense.energy.iir
    assert dense.activity is None and sparse.activity == activity
    skip = load_machine("ideal").with_overrides(array=cost.array)
    skip = replace(skip, processors=replace(skip.processors, zero_skip=True))
    fast = simulate(one, 8, skip, activity=activity)
    expected = sum(zero_skip_cycles(t, cost.array, task_density(cost, t, activity)) for t in cost.tasks)
    assert fast.simulated_cycles_per_update == expected < cost.total
    gated = [t for t in cost.tasks if spike_gated(cost, t)]
    assert gated and all(zero_skip_cycles(t, cost.array, task_density(cost, t, activity)) < t.cycles for t in gated)
    assert simulate(one, 8, skip).simulated_cycles_per_update == cost.total  # no densities: dense
    four = simulate(make_schedule("compute-optimal", cost, 4), 24, skip, activity=activity)
    assert four.simulated_cycles_per_update < simulate(make_schedule("compute-optimal", cost, 4), 24).simulated_cycles_per_update


def test_simulate_activity_cli(capsys, tmp_path) -> None:
    path = tmp_path / "activity.json"
    path.write_text(json.dumps({"densities": [None, 0.2, 0.3, 0.4], "source": "spikepipe train"}))
    base = ["simulate", "--network", "mnist", "--procs", "2", "--scheduler", "compute-optimal", "--minibatches", "12"]
    assert main(base) == 0
    assert "activity: dense" in capsys.readouterr().out
    assert main(base + ["--activity", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"activity: measured from {path} (spikepipe train)" in out and "0.200" in out
    assert main(base + ["--activity", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["activity"]["densities"] == [1.0, 0.2, 0.3, 0.4]
    path.write_text(json.dumps({"densities": [0.5], "source": "x"}))
    assert main(base + ["--activity", str(path)]) == 2
    assert "1 densities for the 4 compute layers" in capsys.readouterr().err
    assert main(base + ["--activity", str(tmp_path / "missing.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err
