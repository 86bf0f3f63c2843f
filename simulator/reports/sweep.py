"""The Table VII sweep: every scheduler over networks, processor counts, batch sizes and arrays.

`sweep` computes the analytic grid in this process: `network_cost` runs once per
(network, batch, array); every scheduler and processor count reuses it. `sweep_experiment`
states the same grid (or its simulated form on a physical machine) for the experiment
runner (`simulator.experiments`), and `sweep_points` reads the runner's records back.
Table VII averages the speedup over batch sizes 1, 2, ..., 128 and square arrays 16, 32,
..., 256; on a physical machine the speedups are simulated (`des` points): total cycles over
the DES's cycles per update.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean, pstdev
from typing import Callable, Iterable, NamedTuple, Sequence

from simulator.cost import ArrayConfig, network_cost
from simulator.experiments import Experiment, PointRecord, Status
from simulator.machine import load_machine
from simulator.paper import TABLE_VII, TABLE_VII_ARRAYS, TABLE_VII_BATCHES, TABLE_VII_COLUMN, TABLE_VII_PROCS
from simulator.schedule import MACHINE_BLIND, SCHEDULERS, make_schedule, max_slices
from workloads import ConfigError, Network, load_network

from .baselines import SYNC_SCHEDULERS


@dataclass(frozen=True)
class SweepPoint:
    """One schedule of the sweep."""

    network: str
    batch: int
    array: ArrayConfig
    procs: int
    scheduler: str
    cycles_per_update: float  # analytic, or simulated on a physical machine
    speedup: float
    bound: float | None  # analytic points only
    overhead_bytes: int | None  # asynchronous schedules only
    weight_overhead_bytes: int | None
    seconds_per_sample: float | None = None  # simulated points only
    energy_per_sample: float | None = None  # J; where the DES prices energy

    @property
    def square(self) -> int | None:
        """The side of a square array (the paper's grid has only those), else None."""
        return self.array.rows if self.array.rows == self.array.cols else None


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
    seconds_per_sample: float | None = None  # means over the points that have them
    energy_per_sample: float | None = None

    @property
    def difference(self) -> float | None:
        """Ours minus published mean speedup, where the paper has the column."""
        return None if self.published_speedup is None else self.mean_speedup - self.published_speedup


def sweep(networks: Sequence[Network], procs: Iterable[int] = TABLE_VII_PROCS,
          batches: Iterable[int] = TABLE_VII_BATCHES, arrays: Iterable[int] = TABLE_VII_ARRAYS,
          schedulers: Sequence[str] = MACHINE_BLIND,
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
                points.append(SweepPoint(net.name, batch, ArrayConfig(size, size), p, name, s.cycles_per_update, s.speedup,
                                         s.bound, s.overhead_bytes, s.weight_overhead_bytes))
    return points


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


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
        overhead, weights = _mean(pt.overhead_bytes for pt in pts), _mean(pt.weight_overhead_bytes for pt in pts)
        rows.append(SweepRow(
            net, p, name, fmean(speed), pstdev(speed), None if overhead is None else overhead / 1000,
            None if weights is None else weights / 1000,
            published[column] if published and column is not None else None,
            published[2] if published and name == "finegrained" else None,
            _mean(pt.seconds_per_sample for pt in pts), _mean(pt.energy_per_sample for pt in pts),
        ))
    return rows


def on_paper_grid(batches: Iterable[int], arrays: Iterable[ArrayConfig]) -> str | None:
    """Why the paper's Table VII columns do not apply to a grid (None: they do): only square arrays
    of its sizes and its batch sizes."""
    off = [str(a) for a in arrays if a.rows != a.cols or a.rows not in TABLE_VII_ARRAYS]
    if off:
        return f"arrays {', '.join(off)} are not among the paper's square {', '.join(map(str, TABLE_VII_ARRAYS))}"
    off_b = [str(b) for b in batches if b not in TABLE_VII_BATCHES]
    if off_b:
        return f"batches {', '.join(off_b)} are not among the paper's {', '.join(map(str, TABLE_VII_BATCHES))}"
    return None


def sweep_experiment(networks: Sequence[str], procs: Sequence[int], batches: Sequence[int],
                     arrays: Sequence[ArrayConfig], schedulers: Sequence[str], machine: str = "ideal",
                     minibatches: int = 32, micro_batches: int = 1) -> Experiment:
    """The sweep as an experiment grid: analytic `schedule` points on the ideal machine, simulated
    `des` points on a physical one (or when synchronous baselines, which only the DES has, are asked for)."""
    known = (*SCHEDULERS, *SYNC_SCHEDULERS)
    for name in schedulers:
        if name not in known:
            raise ConfigError(f"scheduler: unknown {name!r}; choose from {', '.join(known)}")
    vary = {"network": list(networks), "batch": list(batches), "array": [str(a) for a in arrays],
            "procs": list(procs), "scheduler": list(schedulers)}
    if load_machine(machine).ideal and not set(schedulers) & set(SYNC_SCHEDULERS):
        return Experiment("sweep", 0, "schedule", {}, vary)
    fixed = {"machine": machine, "minibatches": minibatches, "micro_batches": micro_batches}
    return Experiment("sweep", 0, "des", fixed, vary)


def _beyond_slices(params: dict) -> bool:
    """The point asks for more processors than its configuration has task slices."""
    cost = network_cost(load_network(params["network"]), ArrayConfig.parse(params["array"]), params["batch"])
    return params["procs"] > max_slices(cost)


class SweepRecords(NamedTuple):
    """The runner's records as sweep points, and the points that have none, with why."""

    points: list[SweepPoint]
    beyond_slices: int  # P above a configuration's task slices (skipped, as `sweep` does)
    failed: list[PointRecord]


def sweep_points(records: Iterable[PointRecord]) -> SweepRecords:
    """Sweep points from the records of a `sweep_experiment` run (network names as loaded)."""
    names: dict[str, str] = {}
    points, beyond, failed = [], 0, []
    for rec in records:
        par, res = rec.params, rec.result
        if rec.status is Status.FAILED:
            if rec.params.get("scheduler") in SCHEDULERS and _beyond_slices(par):
                beyond += 1
            else:
                failed.append(rec)
            continue
        net = names.setdefault(par["network"], load_network(par["network"]).name)
        cycles = res.get("simulated_cycles_per_update", res.get("cycles_per_update"))
        points.append(SweepPoint(net, par["batch"], ArrayConfig.parse(par["array"]), par["procs"], par["scheduler"],
                                 cycles, res["speedup"], res.get("bound"), res.get("overhead_bytes"),
                                 res.get("weight_overhead_bytes"), res.get("seconds_per_sample"),
                                 res.get("energy_per_sample")))
    return SweepRecords(points, beyond, failed)
