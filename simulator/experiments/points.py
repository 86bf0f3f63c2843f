"""The built-in point functions: parameters -> flat record (see `kinds`).

`schedule_point` is analytic (Section V: cycles per update, speedup, its bound, delays);
`des_point` executes the same schedule on the discrete-event model, on a machine (a preset
name or TOML file, `simulator.machine.load_machine`, with the point's array) or else on the
paper's machine with links of given bandwidth and latency (`simulator.des.link_machine`).
Throughput is given as cycles per sample (cycles per weight update over the batch), which
needs no clock, and as seconds per sample at the machine's clock.
"""
from __future__ import annotations

import math
from functools import lru_cache

from simulator.cost import ArrayConfig, NetworkCost, network_cost
from simulator.des import link_machine, simulate
from simulator.des.synchronous import SyncResult
from simulator.machine import Machine, load_machine
from simulator.reports.baselines import SYNC_SCHEDULERS, simulate_baseline
from simulator.schedule import Schedule, make_schedule
from workloads import ConfigError, load_network


@lru_cache(maxsize=256)
def _cost(network: str, array: str | int, batch: int) -> NetworkCost:
    """The network's costs, once per worker for each (network, array, batch) of a grid."""
    if isinstance(array, bool) or not isinstance(array, (str, int)):
        raise ConfigError(f"array: must be ROWSxCOLS (e.g. '32x32') or a square size, got {array!r}")
    if not isinstance(network, str):
        raise ConfigError(f"network: must be a built-in name or a .toml/.json file, got {network!r}")
    return network_cost(load_network(network), ArrayConfig.parse(str(array)), batch)


def _schedule(network: str, array: str | int, batch: int, procs: int, scheduler: str,
              machine: Machine | None = None) -> Schedule:
    return make_schedule(scheduler, _cost(network, array, batch), procs, machine)


def _delays(schedule: Schedule | SyncResult) -> str:
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


def _machine(machine: str, array: ArrayConfig, bandwidth: float | str, latency: int, shared: bool) -> Machine:
    """The named machine with the point's array, or the ideal one with the given links."""
    if not isinstance(machine, str):
        raise ConfigError(f"machine: must be a preset name or a .toml file (or empty), got {machine!r}")
    if isinstance(bandwidth, str) and bandwidth.strip().lower() in ("inf", "infinity"):
        bandwidth = math.inf
    if not isinstance(shared, bool):
        raise ConfigError(f"shared: must be true or false, got {shared!r}")
    if not machine:
        return link_machine(bandwidth, latency, shared, array)
    if (bandwidth, latency, shared) != (math.inf, 0, False):
        raise ConfigError(f"machine: {machine!r} has its own links: give machine or bandwidth/latency/shared, "
                          f"not both")
    return load_machine(machine).with_overrides(array=array)


def des_point(*, network: str = "mnist", array: str | int = "32x32", batch: int = 1, procs: int = 4,
              scheduler: str = "finegrained", minibatches: int = 64, machine: str = "",
              bandwidth: float | str = "inf", latency: int = 0, shared: bool = False, overlap: bool = True,
              micro_batches: int = 1) -> dict:
    """One schedule executed for `minibatches` on `machine` (a preset or TOML file, its default
    array replaced by `array`), or if empty on links of `bandwidth` bytes/cycle ("inf": free).
    A synchronous baseline (`SYNC_SCHEDULERS`) splits the batch into `micro_batches`."""
    if not isinstance(overlap, bool):
        raise ConfigError(f"overlap: must be true or false, got {overlap!r}")
    cost = _cost(network, array, batch)
    m = _machine(machine, cost.array, bandwidth, latency, shared)
    if scheduler in SYNC_SCHEDULERS:
        return _sync_point(scheduler, cost, procs, micro_batches, m, minibatches)
    s = _schedule(network, array, batch, procs, scheduler, m)
    r = simulate(s, minibatches, m, overlap)
    seconds = r.seconds_per_update
    return {"total_cycles": s.cost.total, "analytic_cycles_per_update": r.analytic_cycles_per_update,
            "simulated_cycles_per_update": r.simulated_cycles_per_update,
            "cycles_per_sample": r.simulated_cycles_per_update / batch,
            "speedup": s.cost.total / r.simulated_cycles_per_update, "slowdown": r.slowdown,
            "steady_state": r.steady_state, "fill_latency": r.fill_latency, "run_cycles": r.total_cycles,
            "mean_utilization": sum(r.utilization) / len(r.utilization),
            "bus_bytes_per_minibatch": r.bus_bytes / r.minibatches, "delays": _delays(s),
            "bottleneck": r.bottleneck, "limited_by": r.limited_by.label,
            "seconds_per_sample": None if seconds is None else seconds / batch,
            "energy_per_sample": r.energy_per_sample_j}


def _sync_point(kind: str, cost: NetworkCost, procs: int, micro_batches: int, machine: Machine,
                minibatches: int) -> dict:
    """`des_point`'s record for a synchronous baseline (no delays; no SRAM, DRAM or energy model)."""
    r = simulate_baseline(kind, cost.network, cost.array, cost.batch, procs, micro_batches, machine, minibatches)
    cycles, batch = r.simulated_cycles_per_update, cost.batch
    return {"total_cycles": cost.total, "analytic_cycles_per_update": r.analytic_cycles_per_update,
            "simulated_cycles_per_update": cycles, "cycles_per_sample": cycles / batch,
            "speedup": cost.total / cycles, "slowdown": cycles / r.analytic_cycles_per_update,
            "steady_state": r.steady_state, "fill_latency": r.fill_latency, "run_cycles": r.total_cycles,
            "mean_utilization": sum(p.utilization for p in r.processors) / len(r.processors),
            "bus_bytes_per_minibatch": None, "delays": _delays(r), "bottleneck": None, "limited_by": None,
            "seconds_per_sample": machine.seconds(cycles) / batch, "energy_per_sample": None}
