"""Synchronous baselines (GPipe, 1F1B, ZB-H1, ZB-H2: no gradient delay) beside the asynchronous
schedulers on one machine: `simulate_baseline`, used by `spikepipe simulate` and the sweep.

The synchronous DES (`simulator.des.synchronous`) books chain links of the machine's bandwidth
and latency; it does not model SRAM, DRAM or energy, so those are absent from its rows.
"""
from __future__ import annotations

from simulator.cost import ArrayConfig
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
