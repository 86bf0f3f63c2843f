"""Run an experiment into a results file, resumably: `run`.

Points already recorded in the file are skipped (failed ones too, unless `retry_failed`);
the rest go to the pool a few at a time, and each record is appended the moment its point
finishes. So a killed sweep loses at most its running points, and a rerun of the same
grid into the same file does exactly the points still missing. Ctrl-C: nothing more is
submitted, records of points already finished are kept, and the KeyboardInterrupt goes on
to the caller (the CLI exits 130).
"""
from __future__ import annotations

import sys
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from workloads import ConfigError
from workloads.environment import environment

from .executors import Pool, open_pool
from .grid import Experiment, Point
from .kinds import PointKind, point_kind
from .results import PointRecord, ResultsFile, Status

PACKAGES = ("spikepipe", "simpy", "distributed")
"""Distributions whose versions a session header records beside the environment (workloads.environment)."""
IN_FLIGHT_PER_WORKER = 4
"""Points submitted ahead per worker: enough to keep workers busy, few to cancel on Ctrl-C."""


@dataclass(frozen=True)
class Outcome:
    """The experiment's records in grid order (points never finished are missing) and what this run did:
    the keys of the points it ran (`ran`), how many it skipped as already recorded."""

    records: tuple[PointRecord, ...]
    points: int
    ran: frozenset[str]
    skipped: int
    truncated_bytes: int

    @property
    def computed(self) -> int:
        return len(self.ran)

    @property
    def failed(self) -> int:
        return sum(r.status is Status.FAILED for r in self.records)

    @property
    def complete(self) -> bool:
        return len(self.records) == self.points


def run(experiment: Experiment, results: str | Path, *, workers: int | None = None, dask: str | None = None,
        progress: bool = True, retry_failed: bool = False) -> Outcome:
    """Run the points of `experiment` not yet in the JSON Lines file `results`, on `open_pool(workers, dask)`."""
    kind = point_kind(experiment.kind)
    points = experiment.points()
    with ResultsFile(results) as out:
        sessions = out.contents.sessions
        ours = _identity(experiment.as_dict())
        held = _identity(sessions[0].get("experiment", {})) if sessions else ours
        if held != ours:
            raise ConfigError(f"results file {out.path}: holds experiment {held}, not {ours} (every key would "
                              f"differ); choose another output folder")
        done = out.contents.records
        todo = [p for p in points if p.key not in done or (retry_failed and done[p.key].status is Status.FAILED)]
        new: dict[str, PointRecord] = {}
        if todo:
            with open_pool(kind, workers, dask) as pool:
                out.append({"type": "session", "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "experiment": experiment.as_dict(), "points": len(points), "to_run": len(todo),
                            "executor": pool.description, "environment": environment().as_dict(),
                            "packages": _versions(PACKAGES)})
                out.sync()
                failed = 0 if retry_failed else sum(done[p.key].status is Status.FAILED for p in points
                                                      if p.key in done)
                _drive(pool, kind, todo, out, new, len(points), failed, experiment.name if progress else None)
        records = tuple(new.get(p.key) or done[p.key] for p in points if p.key in new or p.key in done)
        return Outcome(records, len(points), frozenset(new), len(points) - len(todo), out.contents.tail_bytes)


def _versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    """The installed version of each distribution (None where it is not installed)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _identity(grid: dict) -> str:
    """What every point key depends on besides the parameters."""
    return f"{grid.get('name')!r} (seed {grid.get('seed')}, kind {grid.get('kind')})"


def _record(kind: PointKind, point: Point, future: Future) -> PointRecord:
    """The future's record; an error of the executor itself (its worker died) fails the point."""
    try:
        return future.result()
    except Exception as exc:
        return PointRecord.failure(kind.name, point, exc)


def _drive(pool: Pool, kind: PointKind, todo: list[Point], out: ResultsFile, new: dict[str, PointRecord],
           total: int, failed_before: int, label: str | None) -> None:
    from tqdm import tqdm

    pending = iter(todo)
    running: dict[Future, Point] = {}

    def submit_next() -> None:
        point = next(pending, None)
        if point is not None:
            running[pool.submit(kind.name, kind.target, point)] = point

    def keep(point: Point, record: PointRecord) -> None:
        out.append(record.as_json())
        new[point.key] = record

    with tqdm(total=total, initial=total - len(todo), desc=label, unit="point", file=sys.stderr,
              disable=label is None, dynamic_ncols=True) as bar:
        failed = failed_before
        try:
            for _ in range(pool.capacity * IN_FLIGHT_PER_WORKER):
                submit_next()
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    point = running.pop(future)
                    record = _record(kind, point, future)
                    keep(point, record)
                    failed += record.status is Status.FAILED
                    bar.set_postfix(failed=failed, refresh=False)
                    bar.update()
                    submit_next()
                out.sync()
        except KeyboardInterrupt:
            for future, point in running.items():
                future.cancel()
                if future.done() and not future.cancelled() and future.exception() is None:
                    keep(point, future.result())
            out.sync()
            raise
