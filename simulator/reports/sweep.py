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
from simulator.schedule import SCHEDULERS, make_schedule, max_slices
from workloads import ConfigError, Network

PAPER_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
PAPER_ARRAYS = (16, 32, 64, 128, 256)
PAPER_PROCS = (1, 2, 4, 6, 8, 10, 12, 14, 16)

TABLE_VII: dict[tuple[str, int], tuple[float, float, float]] = {
    # (network, P): (PipeDream speedup, fine-grained speedup, overhead KB), as published.
    ("mnist", 1): (1.00, 1.00, 0.00), ("mnist", 2): (1.81, 1.97, 0.73), ("mnist", 4): (2.67, 3.78, 2.62),
    ("mnist", 6): (2.67, 5.04, 9.83), ("mnist", 8): (2.67, 5.49, 10.40), ("mnist", 10): (2.67, 5.57, 16.86),
    ("mnist", 12): (2.67, 5.57, 16.86),
    ("nmnist", 1): (1.00, 1.00, 0.00), ("nmnist", 2): (1.83, 2.00, 0.56), ("nmnist", 4): (2.49, 3.67, 2.08),
    ("nmnist", 6): (2.52, 5.00, 4.03), ("nmnist", 8): (2.52, 4.81, 3.92), ("nmnist", 10): (2.52, 4.81, 3.92),
    ("nmnist", 12): (2.52, 4.81, 3.92),
    ("dvs128", 1): (1.00, 1.00, 0.00), ("dvs128", 2): (1.76, 1.99, 9.00), ("dvs128", 4): (3.26, 3.93, 54.60),
    ("dvs128", 6): (4.04, 5.33, 96.64), ("dvs128", 8): (4.29, 6.89, 133.95), ("dvs128", 10): (4.29, 8.35, 194.10),
    ("dvs128", 12): (4.29, 8.56, 260.18), ("dvs128", 14): (4.29, 9.04, 252.56),
    ("dvs128", 16): (4.29, 9.87, 254.70),
}
PUBLISHED_COLUMN = {"pipedream": 0, "finegrained": 1}


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


def sweep(networks: Sequence[Network], procs: Iterable[int] = PAPER_PROCS,
          batches: Iterable[int] = PAPER_BATCHES, arrays: Iterable[int] = PAPER_ARRAYS,
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
        column = PUBLISHED_COLUMN.get(name)
        rows.append(SweepRow(
            net, p, name, fmean(speed), pstdev(speed), fmean(pt.overhead_bytes for pt in pts) / 1000,
            fmean(pt.weight_overhead_bytes for pt in pts) / 1000,
            published[column] if published and column is not None else None,
            published[2] if published and name == "finegrained" else None,
        ))
    return rows
