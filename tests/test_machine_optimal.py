"""machine-optimal: never slower in the DES than any other scheduler on the same machine; the
compute optimum on the ideal machine."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.cost import ArrayConfig, network_cost
from simulator.des import simulate
from simulator.machine import Dram, Interconnect, Machine, ProcessorOverride, Processors, load_machine
from simulator.schedule import SCHEDULERS, make_schedule, max_slices
from simulator.schedule.machine_load import machine_load
from simulator.schedule.machine_optimal import des_minibatches
from tests.conftest import random_networks

ARRAY = ArrayConfig(8, 8)


def _case(draw, net):
    cost = network_cost(net, ARRAY, draw(st.integers(1, 4)))
    procs = draw(st.integers(1, min(5, max_slices(cost))))
    return cost, procs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), random_networks(max_convs=2, max_dense=1))
def test_machine_optimal_never_slower_in_the_des(data, net) -> None:
    cost, procs = _case(data.draw, net)
    sram = data.draw(st.sampled_from([math.inf, 4096, 512]))
    slow = (ProcessorOverride(0, array=ArrayConfig(4, 4)),) if data.draw(st.booleans()) else ()  # heterogeneous
    machine = Machine(processors=Processors(array=ARRAY, sram_bytes=sram, overrides=slow),
                      dram=None if math.isinf(sram) else Dram(bandwidth=data.draw(st.sampled_from([1.0, 8.0])), latency=50),
                      interconnect=Interconnect(bandwidth=data.draw(st.sampled_from([0.5, 2.0, 8.0, 64.0])),
                                                latency=data.draw(st.integers(0, 200))))
    n = des_minibatches(procs)
    best = simulate(make_schedule("machine-optimal", cost, procs, machine), n, machine).simulated_cycles_per_update
    for name in SCHEDULERS:
        other = simulate(make_schedule(name, cost, procs, machine), n, machine).simulated_cycles_per_update
        assert best <= other, name


@settings(max_examples=25, deadline=None)
@given(st.data(), random_networks())
def test_machine_optimal_is_compute_optimal_on_the_ideal_machine(data, net) -> None:
    cost, procs = _case(data.draw, net)
    compute = make_schedule("compute-optimal", cost, procs)
    for machine in (None, load_machine("ideal").with_overrides(array=ARRAY)):
        s = make_schedule("machine-optimal", cost, procs, machine)
        assert s.processors == compute.processors


def test_machine_load_on_the_ideal_machine_is_the_compute_load() -> None:
    from workloads import load_network
    cost = network_cost(load_network("mnist"), ArrayConfig(32, 32), 4)
    s = make_schedule("finegrained", cost, 4)
    load = machine_load(s, load_machine("ideal").with_overrides(array=ArrayConfig(32, 32)))
    assert load.bottleneck == s.cycles_per_update and not load.links and not load.dram
