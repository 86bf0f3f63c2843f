"""Synchronous baselines (GPipe, 1F1B, ZB-H1, ZB-H2: no gradient delay) beside the asynchronous
schedulers on one machine: `simulate_baseline`, used by the sweep, and `baseline_table`, the
rows `spikepipe simulate --scheduler all` prints beside the asynchronous ones.

The synchronous DES (`simulator.des.synchronous`) books chain links of the machine's bandwidth
and latency; it does not model SRAM, DRAM or energy, so those are absent from its rows.
"""
from __future__ import annotations

from typing import NamedTuple

from simulator.cost import ArrayConfig, network_cost
from simulator.des.synchronous import SyncResult, simulate_sync
from simulator.machine import Machine, Topology
from simulator.schedule.synchronous import SyncKind, make_sync_schedule
from workloads import ConfigError, Network

SYNC_SCHEDULERS = tuple(k.value for k in SyncKind)


def simulate_baseline(kind: str, net: Network, array: ArrayConfig, batch: int, procs: int, micro_batches: int,
                      machine: Machine, minibatches: int) -> SyncResult:
    """Synchronous schedule `kind` of `batch` in `micro_batches` micro-batches on `procs` stages of
    `machine`'s links, run for `minibatches` mini-batches."""
    ic = machine.interconnect
    if ic.topology is not Topology.CHAIN or ic.placement is not None:
        raise ConfigError(f"machine {machine.name}: synchronous baselines run on a chain of links in "
                          f"pipeline order, not on topology {ic.topology.value!r}")
    schedule = make_sync_schedule(kind, net, array, batch, procs, micro_batches)
    return simulate_sync(schedule, minibatches, ic.bandwidth, ic.latency)


class BaselineTable(NamedTuple):
    """The synchronous baselines' rows for `spikepipe simulate` (headers `BASELINE_HEADERS`), or why there are none."""

    rows: list[tuple]
    skipped: str | None


BASELINE_HEADERS = ("synchronous (no delays)", "formula cycles/update", "simulated cycles/update", "speedup (x)",
                    "time/update µs", "samples/s", "bubble %")


def baseline_table(net: Network, array: ArrayConfig, batch: int, procs: int, micro_batches: int | None,
                   machine: Machine, minibatches: int) -> BaselineTable:
    """Every synchronous baseline on `machine`, `micro_batches` per mini-batch (None: one per sample)."""
    m = batch if micro_batches is None else micro_batches
    total = network_cost(net, array, batch).total
    rows = []
    try:
        for kind in SYNC_SCHEDULERS:
            r = simulate_baseline(kind, net, array, batch, procs, m, machine, minibatches)
            cycles = r.simulated_cycles_per_update
            seconds = machine.seconds(cycles)
            rows.append((f"{kind} (m = {m})", r.analytic_cycles_per_update, round(cycles), total / cycles,
                         seconds * 1e6, round(batch / seconds), 100 * r.bubble_fraction))
    except ConfigError as exc:
        return BaselineTable([], f"synchronous baselines not run: {exc}")
    return BaselineTable(rows, None)
