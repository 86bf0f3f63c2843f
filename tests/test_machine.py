"""The machine description (simulator.machine) and energy per task (simulator.energy)."""
from __future__ import annotations

import copy
import json
import math
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.cli.machine import ENERGY_ROWS, _json_safe
from simulator.cost import ArrayConfig, TaskKind, network_cost
from simulator.energy import (Activity, dram_energy, link_energy, mapping_efficiency, network_energy,
                              static_energy, task_energy, utilization)
from simulator.machine import (BUS, DEFAULT_MACHINE, PRESETS, Channels, Dram, EnergyTable, Interconnect, LinkId,
                               Machine, ProcessorOverride, Processors, Topology, load_machine, machine_from_dict,
                               machine_to_dict, machine_to_toml, transfer_cycles)
from tests.conftest import random_networks
from workloads import MNIST, AvgPool, ConfigError, Conv, Dense, MaxPool, Network, Output, SumPool

FP, WG, IG = TaskKind.FP, TaskKind.WG, TaskKind.IG


# -- presets and files ---------------------------------------------------------------------------

def test_presets_load_validate_and_describe_what_the_docs_say() -> None:
    assert {"ideal", "realistic"} <= set(PRESETS) and DEFAULT_MACHINE in PRESETS
    for name in PRESETS:
        assert isinstance(load_machine(name), Machine) and load_machine(name.upper()) == load_machine(name)
    ideal = load_machine("ideal")
    assert ideal.ideal and ideal.dram is None and ideal.interconnect.free
    assert math.isinf(ideal.processors.sram_bytes) and ideal.processors.array == ArrayConfig(32, 32)
    real = load_machine("realistic")
    assert not real.ideal and real.clock_ghz == 1.0 and real.processors.array == ArrayConfig(32, 32)
    assert real.processors.sram_bytes == 4 * 2**20
    assert (real.interconnect.topology, real.interconnect.bandwidth, real.interconnect.latency) == \
        (Topology.CHAIN, 16.0, 20)
    assert real.dram == Dram(25.6, 100, Channels.SHARED)


def test_default_energy_constants_follow_their_sources() -> None:
    e = EnergyTable()
    add, mul = 0.9, 3.7  # Horowitz ISSCC 2014, 45 nm, float32
    assert e.accumulate_pj == add and e.mac_pj == pytest.approx(add + mul)
    assert e.iir_forward_pj == pytest.approx(2 * mul + 3 * add)  # eq. 4-5
    assert e.iir_backward_pj == pytest.approx(3 * mul + 2 * add)  # eq. 23, 17
    assert e.sram_read_pj_per_byte == e.sram_write_pj_per_byte == 20.0 / 8  # 32 KB, 64-bit access
    assert e.dram_pj_per_byte == 1300.0 / 8  # 1.3 nJ per 64 bits
    assert e.link_pj_per_byte == pytest.approx(0.54 * 8)  # Poulton JSSC 2013
    assert e.static_mw == pytest.approx(2 * 24.9086 / 144 * 4096, abs=0.05)  # CACTI 7 via SATA_Sim


def _hetero_mesh() -> Machine:
    return Machine(
        name="hetero", description='a "mesh"\twith\x7f odd ütf-8 ✓ 😀', clock_ghz=0.8,
        processors=Processors(ArrayConfig(32, 32), 2**20, 4,
                              (ProcessorOverride(2, ArrayConfig(16, 64), 2**19), ProcessorOverride(0, None, math.inf))),
        dram=Dram(12.8, 80, Channels.PER_PROCESSOR),
        interconnect=Interconnect(Topology.MESH2D, 8.0, 5, 2, 3, (0, 1, 4, 3)),
        energy=EnergyTable(mac_pj=1e-3, static_mw=0.0))


def test_toml_and_json_round_trips(tmp_path) -> None:
    for m in [load_machine(n) for n in PRESETS] + [_hetero_mesh()]:
        path = tmp_path / f"{m.name}.toml"
        path.write_text(machine_to_toml(m))
        assert load_machine(path) == m
        assert machine_from_dict(json.loads(json.dumps(_json_safe(machine_to_dict(m))))) == m


@st.composite
def machines(draw: st.DrawFn) -> Machine:
    topology = draw(st.sampled_from(list(Topology)))
    count = draw(st.none() | st.integers(1, 9))
    rows = cols = placement = None
    if topology is Topology.MESH2D:
        rows, cols = draw(st.integers(1, 4)), draw(st.integers(3, 4))
        count = None if count is None else min(count, rows * cols)
        if draw(st.booleans()):
            placement = tuple(draw(st.permutations(range(rows * cols)))[:draw(st.integers(count or 1, rows * cols))])
    elif topology is not Topology.SHARED and count is not None and draw(st.booleans()):
        placement = tuple(draw(st.permutations(range(count))))
    sizes = st.integers(1, 2**40) | st.just(math.inf)
    arrays = st.builds(ArrayConfig, st.integers(1, 512), st.integers(1, 512))
    indices = draw(st.sets(st.integers(0, (count or 9) - 1), max_size=3))
    overrides = tuple(ProcessorOverride(i, draw(arrays), draw(st.none() | sizes)) for i in sorted(indices))
    reals = st.floats(0, 1e9, allow_nan=False, allow_infinity=False)
    energy = EnergyTable(**{key: draw(reals) for key in ENERGY_ROWS})
    return Machine(
        name=draw(st.text(max_size=8)), description=draw(st.text(max_size=20)),
        clock_ghz=draw(st.floats(1e-3, 10)),
        processors=Processors(draw(arrays), draw(sizes), count, overrides),
        dram=draw(st.none() | st.builds(Dram, st.floats(1e-3, 1e3), st.integers(0, 10**4), st.sampled_from(Channels))),
        interconnect=Interconnect(topology, draw(st.floats(1e-3, 1e3) | st.just(math.inf)), draw(st.integers(0, 100)),
                                  rows, cols, placement),
        energy=energy)


@settings(max_examples=150, deadline=None)
@given(machines())
def test_any_valid_machine_round_trips_through_toml(m) -> None:
    assert machine_from_dict(tomllib.loads(machine_to_toml(m))) == m


def _base_dicts() -> list[dict]:
    return [machine_to_dict(load_machine("realistic")), machine_to_dict(_hetero_mesh()),
            machine_to_dict(load_machine("ideal"))]


BAD_FIELDS = [  # (section, key, bad value, what the message must name)
    ("", "clock_ghz", -1, "clock_ghz"), ("", "clock_ghz", math.inf, "clock_ghz"), ("", "name", 3, "name"),
    ("", "description", ["x"], "description"), ("", "processors", 5, "processors"),
    ("processors", "count", 0, "processors.count"), ("processors", "count", 2.5, "processors.count"),
    ("processors", "array", "0x3", "processors.array"), ("processors", "array", 32, "processors.array"),
    ("processors", "sram_bytes", -5, "processors.sram_bytes"), ("processors", "sram_bytes", 1.5, "processors.sram_bytes"),
    ("processors", "sram_bytes", -math.inf, "processors.sram_bytes"), ("processors", "override", {"a": 1}, "processors.override"),
    ("dram", "bandwidth", -1, "dram.bandwidth"), ("dram", "bandwidth", math.inf, "dram.bandwidth"),
    ("dram", "bandwidth", math.nan, "dram.bandwidth"), ("dram", "latency", -1, "dram.latency"),
    ("dram", "latency", "100", "dram.latency"), ("dram", "channels", "both", "dram.channels"),
    ("interconnect", "topology", "torus", "interconnect.topology"), ("interconnect", "bandwidth", 0, "interconnect.bandwidth"),
    ("interconnect", "bandwidth", True, "interconnect.bandwidth"), ("interconnect", "latency", 1.5, "interconnect.latency"),
    ("interconnect", "placement", "0,1", "interconnect.placement"), ("interconnect", "placement", [0, 0], "interconnect.placement"),
    ("interconnect", "mesh_rows", 2, "interconnect.mesh_rows"),
    ("energy", "mac_pj", -0.1, "energy.mac_pj"), ("energy", "static_mw", math.inf, "energy.static_mw"),
    ("energy", "accumulate_pj", "cheap", "energy.accumulate_pj"), ("energy", "sram_read_pj_per_byte", None, "energy.sram_read_pj_per_byte"),
]


@pytest.mark.parametrize("section,key,value,named", BAD_FIELDS)
def test_each_bad_field_is_one_line_naming_it(tmp_path, section, key, value, named) -> None:
    d = machine_to_dict(load_machine("realistic"))
    (d[section] if section else d)[key] = value
    with pytest.raises(ConfigError) as err:
        machine_from_dict(d)
    assert f"field '{named}'" in str(err.value) and "\n" not in str(err.value)


def test_file_errors_name_the_file_and_are_one_line(tmp_path) -> None:
    cases = {
        "bad.toml": "clock_ghz = -2\n",
        "syntax.toml": "clock_ghz = = 1\n",
        "unknown.toml": "[dram]\nbandwidth = 1\nlatency = 1\nspeed = 3\n",
        "missing.toml": "[dram]\nlatency = 1\n",
        "override.toml": "[processors]\ncount = 2\n[[processors.override]]\nindex = 2\narray = '8x8'\n",
        "mesh.toml": "[processors]\ncount = 5\n[interconnect]\ntopology = 'mesh2d'\nmesh_rows = 2\nmesh_cols = 2\n",
    }
    expect = {"bad.toml": "field 'clock_ghz'", "syntax.toml": "not valid TOML", "unknown.toml": "'dram.speed'",
              "missing.toml": "field 'dram.bandwidth' is missing", "override.toml": "processors.override.index",
              "mesh.toml": "interconnect.mesh_rows"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError) as err:
            load_machine(tmp_path / name)
        msg = str(err.value)
        assert msg.startswith(f"machine file {tmp_path / name}: ") and expect[name] in msg and "\n" not in msg
    (tmp_path / "latin1.toml").write_bytes(b"name = '\xe9'\n")
    (tmp_path / "dir.toml").mkdir()
    for name, what in (("latin1.toml", "not valid TOML"), ("dir.toml", "cannot read it"), ("nope.toml", "cannot read it")):
        with pytest.raises(ConfigError, match=what):
            load_machine(tmp_path / name)
    with pytest.raises(ConfigError, match="unknown machine 'nonesuch': use one of"):
        load_machine("nonesuch")


COUPLED = ("processors.count", "processors.override", "interconnect.topology", "interconnect.mesh_rows",
           "interconnect.mesh_cols", "interconnect.placement")
values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=6),
                   st.lists(st.integers(-3, 20), max_size=6), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _leaves(d: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in d.items():
        out.append(prefix + (k,))
        if isinstance(v, dict):
            out += _leaves(v, prefix + (k,))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for i, item in enumerate(v):
                out.append(prefix + (k, i))
                out += _leaves(item, prefix + (k, i))
    return out


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(3)), st.data())
def test_mutated_machine_dicts_fail_only_with_one_line_config_errors(base, data) -> None:
    d = copy.deepcopy(_base_dicts()[base])
    path = data.draw(st.sampled_from(_leaves(d)))
    op = data.draw(st.sampled_from(["replace", "delete", "add"]))
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    if op == "replace":
        parent[path[-1]] = data.draw(values)
    elif op == "delete":
        del parent[path[-1]]
    else:
        into = path if isinstance(parent[path[-1]], dict) else path[:-1]
        target = parent[path[-1]] if into == path else parent
        new_key = data.draw(st.text(max_size=6).filter(lambda k: k not in target))
        target[new_key] = data.draw(values)
        section = ".".join(str(k) for k in into if not isinstance(k, int))
    try:
        machine_from_dict(d)
    except ConfigError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.startswith("machine: ")
        if op == "add":
            assert repr(f"{section}.{new_key}" if section else new_key) in msg
        else:
            dotted = ".".join(str(k) for k in path if not isinstance(k, int))
            section, key = dotted.split(".")[0], dotted.split(".")[-1]
            assert (section in msg and key in msg) or any(c in msg for c in COUPLED if dotted.startswith(c)
                                                         or dotted in COUPLED), (dotted, msg)


# -- routes --------------------------------------------------------------------------------------

def _bound(topology: Topology, count: int, **kw) -> Machine:
    return Machine(interconnect=Interconnect(topology, 1.0, 0, **kw)).with_processors(count)


def _assert_valid_route(m: Machine, src: int, dst: int) -> tuple[LinkId, ...]:
    route = m.route(src, dst)
    links = set(m.links())
    assert len(links) == len(m.links()) and set(route) <= links and len(set(route)) == len(route)
    if m.interconnect.topology is Topology.SHARED:
        assert route == (() if src == dst else (BUS,))
        return route
    node = m.interconnect.node
    assert [l.src for l in route[1:]] == [l.dst for l in route[:-1]]  # a path
    assert (route[0].src, route[-1].dst) == (node(src), node(dst)) if route else src == dst
    return route


def test_chain_routes_cross_every_link_between() -> None:
    m = _bound(Topology.CHAIN, 5)
    assert len(m.links()) == 8
    for a in range(5):
        for b in range(5):
            assert len(_assert_valid_route(m, a, b)) == abs(a - b)
    assert m.route(3, 1) == (LinkId(3, 2), LinkId(2, 1)) and [l.name for l in m.route(0, 1)] == ["n0->n1"]


def test_ring_routes_go_the_short_way_and_ties_go_up() -> None:
    m = _bound(Topology.RING, 6)
    assert len(m.links()) == 12
    for a in range(6):
        for b in range(6):
            assert len(_assert_valid_route(m, a, b)) == min((a - b) % 6, (b - a) % 6)
    assert m.route(5, 1) == (LinkId(5, 0), LinkId(0, 1))
    assert m.route(1, 4) == (LinkId(1, 2), LinkId(2, 3), LinkId(3, 4))  # tie: up the ring
    assert m.route(4, 1) == (LinkId(4, 5), LinkId(5, 0), LinkId(0, 1))
    assert len(_bound(Topology.RING, 2).links()) == 2


def test_mesh_routes_are_xy() -> None:
    m = _bound(Topology.MESH2D, 12, mesh_rows=3, mesh_cols=4)
    assert len(m.links()) == 2 * (3 * 3 + 2 * 4)
    for a in range(12):
        for b in range(12):
            route = _assert_valid_route(m, a, b)
            (ra, ca), (rb, cb) = divmod(a, 4), divmod(b, 4)
            assert len(route) == abs(ra - rb) + abs(ca - cb)
            vertical = [abs(l.dst - l.src) == 4 for l in route]
            assert vertical == sorted(vertical)  # every X hop before every Y hop
    assert m.route(0, 6) == (LinkId(0, 1), LinkId(1, 2), LinkId(2, 6))


def test_shared_bus_and_placement() -> None:
    m = _bound(Topology.SHARED, 4)
    assert m.links() == (BUS,) and m.route(0, 3) == (BUS,) and m.route(2, 2) == () and BUS.name == "bus"
    snake = load_machine("mesh16").with_processors(8)
    for p in range(7):  # consecutive pipeline stages are neighbours on the snake
        assert len(snake.route(p, p + 1)) == 1
    chain = _bound(Topology.CHAIN, 3, placement=(2, 0, 1))
    assert chain.route(0, 1) == (LinkId(2, 1), LinkId(1, 0))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(Topology)), st.integers(1, 12), st.data())
def test_every_route_is_a_valid_path(topology, count, data) -> None:
    kw = {}
    if topology is Topology.MESH2D:
        cols = data.draw(st.integers(1, 4))
        kw = {"mesh_rows": -(-count // cols) + data.draw(st.integers(0, 1)), "mesh_cols": cols}
        nodes = kw["mesh_rows"] * cols
        kw["placement"] = tuple(data.draw(st.permutations(range(nodes)))[:count])
    elif topology is not Topology.SHARED:
        kw["placement"] = tuple(data.draw(st.permutations(range(count))))
    m = _bound(topology, count, **kw)
    for a in range(count):
        for b in range(count):
            _assert_valid_route(m, a, b)


def test_processor_count_binding_and_overrides() -> None:
    free = load_machine("realistic")
    with pytest.raises(ConfigError, match="processors.count"):
        free.links()
    assert free.with_processors(3).count == 3
    fixed = _hetero_mesh()
    with pytest.raises(ConfigError, match="processors.count"):
        fixed.with_processors(5)
    with pytest.raises(ConfigError, match="interconnect.mesh_rows"):
        load_machine("mesh16").with_processors(17)
    with pytest.raises(ConfigError, match="permutation"):
        Machine(interconnect=Interconnect(placement=(0, 2))).with_processors(2)
    with pytest.raises(ConfigError, match="processors.override.index"):
        Machine(processors=Processors(overrides=(ProcessorOverride(4, ArrayConfig(8, 8)),))).with_processors(4)
    assert fixed.processor(2).array == ArrayConfig(16, 64) and fixed.processor(2).sram_bytes == 2**19
    assert fixed.processor(0).array == ArrayConfig(32, 32) and math.isinf(fixed.processor(0).sram_bytes)
    assert fixed.processor(1).sram_bytes == 2**20 and fixed.processor(2).filters == 64
    o = free.with_overrides(array=ArrayConfig(64, 64), bandwidth=math.inf, latency=0)
    assert o.processors.array == ArrayConfig(64, 64) and o.interconnect.free and o.dram == free.dram
    with pytest.raises(ConfigError, match="interconnect.bandwidth"):
        free.with_overrides(bandwidth=-3)


def test_transfer_cycles() -> None:
    assert transfer_cycles(100, 16.0, 20) == 7 + 20 and transfer_cycles(0, 16.0, 20) == 20
    assert transfer_cycles(10**9, math.inf, 3) == 3
    real = load_machine("realistic")
    assert real.link_cycles(33) == 3 + 20 and real.dram.cycles(256) == 10 + 100
    assert real.seconds(2e9) == pytest.approx(2.0)


# -- energy --------------------------------------------------------------------------------------

TINY = Network("tiny", (4,), (Dense(3), Output(2)), timesteps=2)  # input currents (images)
TABLE = EnergyTable(accumulate_pj=1.0, mac_pj=10.0, iir_forward_pj=100.0, iir_backward_pj=1000.0,
                    sram_read_pj_per_byte=0.5, sram_write_pj_per_byte=0.25, dram_pj_per_byte=7.0,
                    link_pj_per_byte=3.0, static_mw=2.0)


def test_energy_of_a_tiny_network_by_hand() -> None:
    """T = 2, B = 2 (TB = 4); dense 4 -> 3 (LIF), output 3 -> 2. Densities: layer 1 reads 25% ones."""
    cost = network_cost(TINY, ArrayConfig(2, 2), batch=2)
    act = Activity((0.7, 0.25))
    e = {(t.layer, t.kind): t for t in network_energy(cost, TABLE, act)}
    # FP0: 4 x 3 outputs x 4 MACs = 48 real MACs (input currents: not gated, density unused);
    # 3 neurons x TB = 12 LIF steps; reads input 2 x 4 floats (32 B) + 15 params (60 B),
    # writes 12 spike bits (2 B) and the 2-bit state of 12 neuron-steps (3 B).
    fp0 = e[0, FP]
    assert (fp0.gated, fp0.density) == (False, 1.0)
    assert fp0.compute_pj == 48 * 10.0 and fp0.iir_pj == 12 * 100.0
    assert fp0.sram_pj == pytest.approx((32 + 60) * 0.5 + (2 + 3) * 0.25)
    # WG0: 4 x 3 x 4 = 48 real MACs; 12 gradient-filter steps; reads input 32 B + dL/di_in 48 B,
    # and for the filter dL/dv_sp 48 B + state 3 B; writes the weight gradient 60 B + dL/di_in 48 B.
    wg0 = e[0, WG]
    assert wg0.compute_pj == 48 * 10.0 and wg0.iir_pj == 12 * 1000.0
    assert wg0.sram_pj == pytest.approx((32 + 48 + 48 + 3) * 0.5 + (60 + 48) * 0.25)
    # FP1: 4 x 2 x 3 = 24 spike-gated adds at density 0.25; 8 accumulator steps; reads spikes 2 B
    # + 8 params 32 B; writes the logits 2 x 2 floats 16 B (no state beyond them).
    fp1 = e[1, FP]
    assert (fp1.gated, fp1.density) == (True, 0.25)
    assert fp1.compute_pj == 24 * 0.25 * 1.0 and fp1.iir_pj == 8 * 100.0
    assert fp1.sram_pj == pytest.approx((2 + 32) * 0.5 + 16 * 0.25)
    # WG1: 3 x 2 x 4 = 24 gated adds; 8 steps of eq. 19; reads spikes 2 B + dL/di_in 32 B and
    # dL/dv_m[T-1] 2 x 2 floats 16 B; writes gradient 8 floats 32 B + dL/di_in 32 B.
    wg1 = e[1, WG]
    assert wg1.compute_pj == 24 * 0.25 * 1.0 and wg1.iir_pj == 8 * 1000.0
    assert wg1.sram_pj == pytest.approx((2 + 32 + 16) * 0.5 + (32 + 32) * 0.25)
    # IG1: 4 x 3 x 2 = 24 real MACs; no filter; reads dL/di_in 32 B + 6 weights 24 B, writes 3 x 4 floats.
    ig1 = e[1, IG]
    assert (ig1.gated, ig1.density) == (False, 1.0)
    assert (ig1.compute_pj, ig1.iir_pj) == (24 * 10.0, 0.0)
    assert ig1.sram_pj == pytest.approx((32 + 24) * 0.5 + 48 * 0.25)
    assert ig1.total_pj == pytest.approx(240 + 28 + 12)
    assert (0, IG) not in e  # the first layer's IG is not part of training
    dense = task_energy(cost, cost.task(1, FP), TABLE)
    assert (dense.density, dense.compute_pj) == (1.0, 24 * 1.0)


def test_spike_input_layer_is_gated_by_its_event_density() -> None:
    net = Network("events", (4,), (Dense(3), Output(2)), timesteps=2, input_kind="spikes")
    cost = network_cost(net, ArrayConfig(2, 2))
    fp0 = task_energy(cost, cost.task(0, FP), TABLE, Activity((0.5, 1.0)))
    assert fp0.gated and fp0.compute_pj == 2 * 3 * 4 * 0.5 * 1.0


@pytest.mark.parametrize("pool, gated", [(MaxPool(), True), (SumPool(), False), (AvgPool(), False)])
def test_layer_after_a_sum_or_average_pool_multiplies_reals(pool, gated: bool) -> None:
    """Window counts are no binary spikes: the next layer's FP and WG are real MACs, not gated adds."""
    net = Network("pooled", (4, 4, 1), (Conv(2), pool, Output(3)), timesteps=2, input_kind="spikes")
    cost = network_cost(net, ArrayConfig(2, 2))
    for kind in (FP, WG):
        e = task_energy(cost, cost.task(1, kind), TABLE, Activity((1.0, 0.5)))
        assert e.gated == gated
        assert e.compute_pj == cost.task(1, kind).macs * (0.5 * 1.0 if gated else 10.0)


def test_activity_is_validated() -> None:
    cost = network_cost(TINY, ArrayConfig(2, 2))
    with pytest.raises(ConfigError, match="3 densities for the 2 compute layers"):
        task_energy(cost, cost.tasks[0], TABLE, Activity((0.1, 0.2, 0.3)))
    for bad in (1.5, -0.1, math.nan, "0.5"):
        with pytest.raises(ConfigError, match="density of layer 1"):
            Activity((0.2, bad))


def test_slice_shares_add_up_and_transfer_terms() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32))
    e = task_energy(cost, cost.task(0, FP), EnergyTable())
    parts = [e.share(k) for k in (1, e.tiles - 1)]
    assert sum(p.total_pj for p in parts) == pytest.approx(e.total_pj)
    with pytest.raises(ConfigError):
        e.share(e.tiles + 1)
    assert link_energy(100, 3, TABLE) == 900.0 and dram_energy(8, TABLE) == 56.0
    assert static_energy(1e-6, 4, TABLE) == pytest.approx(2.0e-3 * 1e-6 * 4 * 1e12)


def test_filter_counts_match_the_gemm_shapes() -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), batch=3, include_first_ig=True)
    for t in cost.tasks:
        assert t.macs == t.gemm.rows * t.gemm.cols * t.gemm.macs
        expected = {FP: t.gemm.rows * t.gemm.cols, WG: t.gemm.cols * t.gemm.macs, IG: 0}[t.kind]  # Tables IV, V
        assert cost.filter_steps(t.layer, t.kind) == expected
        if t.kind is IG:
            assert cost.filter_bytes(t.layer, t.kind) == (0, 0)


@settings(max_examples=200, deadline=None)
@given(random_networks(), st.integers(1, 70), st.integers(1, 70), st.integers(1, 4))
def test_utilization_is_in_0_1_and_below_mapping_efficiency(net, sr, sc, batch) -> None:
    array = ArrayConfig(sr, sc)
    cost = network_cost(net, array, batch, include_first_ig=True)
    for t in cost.tasks:
        u, m = utilization(t, array), mapping_efficiency(t, array)
        assert 0 < u <= m <= 1
        assert u == pytest.approx(m * t.gemm.macs / t.cycles_per_tile, rel=1e-12)


def test_full_tiles_have_mapping_efficiency_one() -> None:
    net = Network("full", (4,), (Dense(4), Output(2)), timesteps=2)
    cost = network_cost(net, ArrayConfig(2, 2))
    fp0 = cost.task(0, FP)  # 2 x 4 outputs on 2 x 2 tiles: all full
    assert mapping_efficiency(fp0, ArrayConfig(2, 2)) == 1.0
    assert utilization(fp0, ArrayConfig(2, 2)) == pytest.approx(4 / (4 + 2))
    one = network_cost(net, ArrayConfig(1, 1))
    assert all(utilization(t, ArrayConfig(1, 1)) == 1.0 for t in one.tasks)
    with pytest.raises(ConfigError, match="not costed on a 4x4 array"):
        utilization(fp0, ArrayConfig(4, 4))


# -- CLI -----------------------------------------------------------------------------------------

def test_cli_show(capsys, tmp_path) -> None:
    assert main(["machine", "show", "realistic"]) == 0
    out = capsys.readouterr().out
    assert "Machine realistic" in out and "25.6 bytes/cycle" in out and "pJ/byte" in out
    assert all(what in out for what, _ in ENERGY_ROWS.values())
    assert main(["machine", "show", "ideal"]) == 0
    assert "[ideal]" in capsys.readouterr().out
    assert main(["machine", "show", "mesh16", "--json"]) == 0
    assert machine_from_dict(json.loads(capsys.readouterr().out)) == load_machine("mesh16")
    path = tmp_path / "mine.toml"
    path.write_text(machine_to_toml(_hetero_mesh()))
    assert main(["machine", "show", str(path), "--toml"]) == 0
    assert capsys.readouterr().out == machine_to_toml(_hetero_mesh())
    assert main(["machine", "show", str(path)]) == 0
    assert "16x64" in capsys.readouterr().out
    assert main(["machine", "show", "nonesuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown machine 'nonesuch'" in err
