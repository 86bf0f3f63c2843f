"""Point records and the append-only results file that holds them.

A results file is JSON Lines: a `session` header each time a runner starts on it (the
grid and the environment), then one `point` record per finished point, in the order
points finished. Each line goes to the file with one `os.write` on a descriptor opened
with O_APPEND (the runner `fsync`s after each batch of finished points); an exclusive
`flock` keeps a second runner off the file.
A crash can leave only a partial last line; opening the file for writing cuts it off
(its point runs again), and reading ignores it. A point appears once, unless it failed
and was run again (`retry_failed`): then the last record of a key is the one that counts.
"""
from __future__ import annotations

import errno
import fcntl
import inspect
import json
import math
import os
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

from workloads import ConfigError
from workloads.errors import path_error

from .grid import Point
from .kinds import resolve


class Status(str, Enum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class PointRecord:
    """The outcome of one point: its parameters, result fields or one-line error, and wall time."""

    key: str
    kind: str
    seed: int
    params: dict[str, Any]
    status: Status
    result: dict[str, Any]
    error: str | None
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {"type": "point", "key": self.key, "kind": self.kind, "status": self.status.value,
                "params": self.params, "result": self.result, "error": self.error, "seconds": self.seconds,
                "seed": self.seed}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PointRecord:
        return cls(data["key"], data["kind"], data["seed"], data["params"], Status(data["status"]),
                   data["result"], data["error"], data["seconds"])

    @classmethod
    def failure(cls, kind: str, point: Point, error: BaseException, seconds: float = 0.0) -> PointRecord:
        return cls(point.key, kind, point.seed, point.params, Status.FAILED, {}, one_line(error), seconds)


def one_line(error: BaseException) -> str:
    """'ConfigError: procs: must be ...' with any line breaks folded."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _check_result(result: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise TypeError(f"point function returned {type(result).__name__}, not a dict of fields")
    for name, value in result.items():
        if not isinstance(name, str):
            raise TypeError(f"point function returned a field named {name!r}, not a string")
        if name in params:
            raise TypeError(f"point function returned field '{name}', which is also a parameter")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise TypeError(f"field '{name}' is {type(value).__name__}; fields are str, int, float, bool or None")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"field '{name}' is {value}; fields must be finite")
    return dict(result)


def evaluate(kind: str, target: str, point: Point) -> PointRecord:
    """Run one point (on a worker): its record, `failed` with a one-line error if it raised."""
    start = time.perf_counter()
    try:
        function = resolve(target)
        seed = {"seed": point.seed} if "seed" in inspect.signature(function).parameters else {}
        result = _check_result(function(**point.params, **seed), point.params)
    except Exception as exc:  # a failed point is recorded, and the sweep goes on
        from simulator.exits import is_interrupt
        if is_interrupt(exc):  # Ctrl-C inside a numba kernel arrives wrapped in a SystemError
            raise KeyboardInterrupt from exc
        return PointRecord.failure(kind, point, exc, time.perf_counter() - start)
    return PointRecord(point.key, kind, point.seed, point.params, Status.OK, result, None,
                       time.perf_counter() - start)


@dataclass
class Contents:
    """What a results file holds: session headers, the record of each key, and any partial tail."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, PointRecord] = field(default_factory=dict)
    valid_bytes: int = 0
    tail_bytes: int = 0


def parse_results(data: bytes, path: str | Path) -> Contents:
    """Parse a results file's bytes; a bad line before the last is a ConfigError naming it."""
    contents = Contents()
    offset = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        last = number == len(lines)
        if last and not raw:
            break
        try:
            if last:
                raise ValueError("no line end")
            obj = json.loads(raw)
            kind = obj["type"]
            if kind == "session":
                contents.sessions.append(obj)
            elif kind == "point":
                record = PointRecord.from_json(obj)
                contents.records[record.key] = record
            else:
                raise ValueError(f"unknown type {kind!r}")
        except (ValueError, KeyError, TypeError) as exc:
            if last or (number == len(lines) - 1 and not lines[-1]):
                contents.tail_bytes = len(data) - offset
                break
            raise ConfigError(f"results file {path}: line {number} is not a record ({one_line(exc)}); "
                              f"move the file away or repair that line") from None
        offset += len(raw) + 1
    contents.valid_bytes = offset
    return contents


def read_results(path: str | Path) -> Contents:
    """Read a results file (a partial last line is ignored, not removed)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise path_error(exc, "read", path) from None
    return parse_results(data, path)


class ResultsFile:
    """A results file open for appending by this runner alone (a context manager)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise path_error(exc, "create", self.path) from None
        try:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(f"results file {self.path}: another runner is writing it; "
                                  f"wait for it or choose another output folder") from None
            try:
                self.contents = parse_results(os.pread(self.fd, os.fstat(self.fd).st_size, 0), self.path)
            except OSError as exc:
                raise path_error(exc, "read", self.path) from None
            if self.contents.tail_bytes:  # a partial line from a crash: its point runs again
                try:
                    os.ftruncate(self.fd, self.contents.valid_bytes)
                except OSError as exc:
                    raise path_error(exc, "write", self.path) from None
                self.sync()
        except BaseException:
            os.close(self.fd)
            raise

    def append(self, obj: Mapping[str, Any]) -> None:
        """One line, one write: a crash of this process leaves at most a partial last line."""
        data = (json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n").encode()
        try:
            written = os.write(self.fd, data)
        except OSError as exc:  # a full disk
            raise path_error(exc, "write", self.path) from None
        if written != len(data):
            raise path_error(OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)"), "write",
                             self.path)

    def sync(self) -> None:
        """fsync: what was appended survives a crash of the machine too (about 5 ms here, so once per batch)."""
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise path_error(exc, "write", self.path) from None

    def close(self) -> None:
        os.close(self.fd)  # releases the lock

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
