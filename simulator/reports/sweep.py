"""The Table VII sweep: every scheduler over networks, processor counts, batch sizes and arrays.

`network_cost` runs once per (network, batch, array); every scheduler and
processor count reuses it. Table VII averages the speedup over batch sizes
1, 2, ..., 128 and square arrays 16, 32, ..., 256.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean, pstdev
from typing import Callable, Iterable, Sequence

from simulator.cost import ArrayConfig, network_cost
from simulator.paper import TABLE_VII, TABLE_VII_ARRAYS, TABLE_VII_BATCHES, TABLE_VII_COLUMN, TABLE_VII_PROCS
from simulator.schedule import SCHEDULERS, make_schedule, max_slices
from workloads import ConfigError, Network


@dataclass(frozen=True)
class SweepPoint:
    """One schedule of the sweep."""

    network: str
    batch: int
    array: int
    procs: int
    scheduler: str
    cycles_per_update: int
    speedup: float
    bound: float
    overhead_bytes: int
    weight_overhead_bytes: int


@dataclass(frozen=True)
class SweepRow:
    """Table VII: one network, P and scheduler, averaged over batches and arrays."""

    network: str
    procs: int
    scheduler: str
    mean_speedup: float
    std_speedup: float
    overhead_kb: float
    weight_overhead_kb: float
    published_speedup: float | None
    published_overhead_kb: float | None

    @property
    def difference(self) -> float | None:
        """Ours minus published mean speedup, where the paper has the column."""
        return None if self.published_speedup is None else self.mean_speedup - self.published_speedup


def sweep(networks: Sequence[Network], procs: Iterable[int] = TABLE_VII_PROCS,
          batches: Iterable[int] = TABLE_VII_BATCHES, arrays: Iterable[int] = TABLE_VII_ARRAYS,
          schedulers: Sequence[str] = tuple(SCHEDULERS),
          progress: Callable[[Iterable], Iterable] = iter) -> list[SweepPoint]:
    """Every scheduler for every network, batch, square array and P.

    A P larger than a configuration's possible slice count is skipped for it
    (it can only occur for tiny networks on huge arrays).
    """
    procs, batches, arrays = list(procs), list(batches), list(arrays)
    for name in schedulers:
        if name not in SCHEDULERS:
            raise ConfigError(f"scheduler: unknown {name!r}; choose from {', '.join(SCHEDULERS)}")
    grid = [(net, b, a) for net in networks for b in batches for a in arrays]
    points = []
    for net, batch, size in progress(grid):
        cost = network_cost(net, ArrayConfig(size, size), batch)
        limit = max_slices(cost)
        for p in procs:
            if p > limit:
                continue
            for name in schedulers:
                s = make_schedule(name, cost, p)
                points.append(SweepPoint(net.name, batch, size, p, name, s.cycles_per_update, s.speedup,
                                         s.bound, s.overhead_bytes, s.weight_overhead_bytes))
    return points


def table_vii(points: Sequence[SweepPoint]) -> list[SweepRow]:
    """Mean speedup and mean overhead (KB = 1000 bytes) per network, P and scheduler."""
    groups: dict[tuple[str, int, str], list[SweepPoint]] = {}
    for pt in points:
        groups.setdefault((pt.network, pt.procs, pt.scheduler), []).append(pt)
    rows = []
    for (net, p, name), pts in groups.items():
        speed = [pt.speedup for pt in pts]
        published = TABLE_VII.get((net, p))
        column = TABLE_VII_COLUMN.get(name)
        rows.append(SweepRow(
            net, p, name, fmean(speed), pstdev(speed), fmean(pt.overhead_bytes for pt in pts) / 1000,
            fmean(pt.weight_overhead_bytes for pt in pts) / 1000,
            published[column] if published and column is not None else None,
            published[2] if published and name == "finegrained" else None,
        ))
    return rows
