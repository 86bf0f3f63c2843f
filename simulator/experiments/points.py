"""The built-in point functions: parameters -> flat record (see `kinds`).

`schedule_point` is analytic (Section V: cycles per update, speedup, its bound, delays);
`des_point` executes the same schedule on the discrete-event model, on the paper's machine
with links of given bandwidth and latency (`simulator.des.link_machine`). Throughput is given as cycles per sample (cycles per weight
update over the batch), which needs no clock.
"""
from __future__ import annotations

import math

from simulator.cost import ArrayConfig, network_cost
from simulator.des import link_machine, simulate
from simulator.schedule import Schedule, make_schedule
from workloads import ConfigError, load_network


def _schedule(network: str, array: str | int, batch: int, procs: int, scheduler: str) -> Schedule:
    if isinstance(array, bool) or not isinstance(array, (str, int)):
        raise ConfigError(f"array: must be ROWSxCOLS (e.g. '32x32') or a square size, got {array!r}")
    if not isinstance(network, str):
        raise ConfigError(f"network: must be a built-in name or a .toml/.json file, got {network!r}")
    cost = network_cost(load_network(network), ArrayConfig.parse(str(array)), batch)
    return make_schedule(scheduler, cost, procs)


def _delays(schedule: Schedule) -> str:
    """Per compute layer, gradient delay in mini-batches, space-separated."""
    return " ".join(map(str, schedule.delays))


def schedule_point(*, network: str = "mnist", array: str | int = "32x32", batch: int = 1, procs: int = 4,
                   scheduler: str = "finegrained") -> dict:
    """One schedule's analytic throughput, bound (eq. 30-33), delays and communication."""
    s = _schedule(network, array, batch, procs, scheduler)
    return {"total_cycles": s.cost.total, "cycles_per_update": s.cycles_per_update,
            "cycles_per_sample": s.cycles_per_update / batch, "speedup": s.speedup, "bound": s.bound,
            "delays": _delays(s), "max_delay": max(s.delays), "boundary_bytes": sum(s.boundary_bytes),
            "overhead_bytes": s.overhead_bytes, "weight_overhead_bytes": s.weight_overhead_bytes}


def des_point(*, network: str = "mnist", array: str | int = "32x32", batch: int = 1, procs: int = 4,
              scheduler: str = "finegrained", minibatches: int = 64, bandwidth: float | str = "inf",
              latency: int = 0, shared: bool = False, overlap: bool = True) -> dict:
    """One schedule executed for `minibatches` on a bus of `bandwidth` bytes/cycle ("inf": free)."""
    s = _schedule(network, array, batch, procs, scheduler)
    if isinstance(bandwidth, str) and bandwidth.strip().lower() in ("inf", "infinity"):
        bandwidth = math.inf
    for name, value in (("shared", shared), ("overlap", overlap)):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: must be true or false, got {value!r}")
    r = simulate(s, minibatches, link_machine(bandwidth, latency, shared, s.cost.array), overlap)
    return {"total_cycles": s.cost.total, "analytic_cycles_per_update": r.analytic_cycles_per_update,
            "simulated_cycles_per_update": r.simulated_cycles_per_update,
            "cycles_per_sample": r.simulated_cycles_per_update / batch,
            "speedup": s.cost.total / r.simulated_cycles_per_update, "slowdown": r.slowdown,
            "steady_state": r.steady_state, "fill_latency": r.fill_latency, "run_cycles": r.total_cycles,
            "mean_utilization": sum(r.utilization) / len(r.utilization),
            "bus_bytes_per_minibatch": r.bus_bytes / r.minibatches, "delays": _delays(s),
            "bottleneck": r.bottleneck}
