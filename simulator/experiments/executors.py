"""Where points run: in this process, on a local process pool, or on a Dask cluster.

All three are `concurrent.futures.Executor`s (Dask's through `Client.get_executor()`), so
the runner has one code path. What is submitted is `results.evaluate(kind, target, point)`:
the kind's name and import path and the point's parameters, nothing else. Each worker
imports the point function and runs the kind's warm-up once, before its first point.

Ctrl-C: the runner stops submitting; leaving `open_pool` by the KeyboardInterrupt cancels
what has not started. A local pool also interrupts its running points (see below); a Dask
cluster drops their results (a started task runs on in its worker thread).
"""
from __future__ import annotations

import ctypes
import importlib.util
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator, Mapping

from workloads import ConfigError

from .grid import Point
from .kinds import PointKind, resolve
from .results import PointRecord, evaluate

DASK_ENV = "DASK_SCHEDULER_ADDRESS"


def warm_up(target: str, warmup: str | None) -> None:
    """Import the point function and run the kind's warm-up (once per worker)."""
    resolve(target)
    if warmup is not None:
        resolve(warmup)()


class InlineExecutor(Executor):
    """Runs each call at submission, in this process (`workers=1`); KeyboardInterrupt propagates."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


@dataclass(frozen=True)
class Pool:
    """How to submit a point (`submit(kind, target, point) -> Future` of its record), how many
    points run at once, and where."""

    submit: Callable[[str, str, Point], Future]
    capacity: int
    description: str


# -- the local process pool and Ctrl-C ---------------------------------------------------------
# A worker ignores SIGINT except while a point runs; it is born with SIGINT blocked (the pool
# submits with it blocked, and `submit` is what starts workers), so a Ctrl-C cannot hit it
# before its initializer has set that up. When the runner stops it sets the shared `stopped`
# flag: a thread in each worker then interrupts the running point, and points already queued
# to the worker are skipped. The flag is a plain shared byte, read without a lock: a
# KeyboardInterrupt raised while a worker held a lock would leave it held for good.

_stopped: ctypes.c_bool | None = None
STOP_POLL = 0.1
"""Seconds between a worker's looks at the stop flag."""


def _init_pool_worker(target: str, warmup: str | None, stopped: ctypes.c_bool) -> None:
    global _stopped
    _stopped = stopped
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # drops a Ctrl-C pending since birth
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_interrupt_on_stop, args=(stopped, threading.main_thread().ident), daemon=True).start()
    warm_up(target, warmup)


def _interrupt_on_stop(stopped: ctypes.c_bool, main: int) -> None:
    while not stopped.value:
        time.sleep(STOP_POLL)
    signal.pthread_kill(main, signal.SIGINT)


def _evaluate_in_pool_worker(kind: str, target: str, point: Point) -> PointRecord:
    """`evaluate` with Ctrl-C enabled while the point runs (a KeyboardInterrupt goes back to the runner)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if _stopped is not None and _stopped.value:
            raise KeyboardInterrupt
        return evaluate(kind, target, point)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ready() -> None:
    """Runs once on a fresh pool: a pool whose workers cannot start fails here, not point by point."""


class _ProcessPool:
    """A spawn-context process pool that starts afresh if a worker dies (killed, out of memory):
    the points it was running fail with BrokenProcessPool, the sweep goes on. A new pool whose
    workers die before running anything (they cannot import the main script, the warm-up fails)
    is a one-line ConfigError instead."""

    def __init__(self, kind: PointKind, workers: int) -> None:
        self.kind, self.workers = kind, workers
        self.context = multiprocessing.get_context("spawn")
        self.stopped = self.context.RawValue(ctypes.c_bool, False)
        self.executor = self._start()

    def _submit(self, executor: ProcessPoolExecutor, fn: Callable, *args) -> Future:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return executor.submit(fn, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_init_pool_worker,
                                       initargs=(self.kind.target, self.kind.warmup, self.stopped))
        try:
            self._submit(executor, _ready).result()
        except BrokenProcessPool:
            executor.shutdown(wait=False)
            raise ConfigError("workers: the local worker processes died on start; a script that runs a pool "
                              "needs `if __name__ == '__main__':` and cannot be read from stdin, and the "
                              f"warm-up of kind {self.kind.name!r} must succeed (workers=1 shows its error)") \
                from None
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        return executor

    def submit(self, kind: str, target: str, point: Point) -> Future:
        try:
            return self._submit(self.executor, _evaluate_in_pool_worker, kind, target, point)
        except BrokenProcessPool:
            self.executor.shutdown(wait=False)
            self.executor = self._start()
            return self._submit(self.executor, _evaluate_in_pool_worker, kind, target, point)


@contextmanager
def _process_pool(kind: PointKind, workers: int) -> Iterator[Pool]:
    pool = _ProcessPool(kind, workers)
    try:
        yield Pool(pool.submit, workers, f"{workers} local processes")
    except BaseException:
        pool.stopped.value = True
        pool.executor.shutdown(wait=False, cancel_futures=True)
        raise
    pool.executor.shutdown(wait=True)


def positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what}: must be a positive integer, got {value!r}")
    return value


@contextmanager
def open_pool(kind: PointKind, workers: int | None = None, dask: str | None = None,
              environ: Mapping[str, str] = os.environ) -> Iterator[Pool]:
    """The pool to run `kind`'s points on.

    `dask` (an address, `'local'` or `'local:N'`) wins, then `workers`; with neither, the
    address in $DASK_SCHEDULER_ADDRESS if set, else a process pool of `os.cpu_count()`.
    `workers=1` runs the points one by one in this process. Leaving the block normally
    waits for the pool; leaving it by an exception (Ctrl-C) cancels what has not started.
    """
    if dask is not None and workers is not None:
        raise ConfigError("executor: give workers or dask, not both")
    if dask is None and workers is None:
        dask = environ.get(DASK_ENV) or None
    if dask is not None:
        if not isinstance(dask, str) or not dask.strip():
            raise ConfigError(f"dask: must be a scheduler address, 'local' or 'local:N', got {dask!r}")
        if importlib.util.find_spec("distributed") is None:
            raise ConfigError("dask: needs Dask distributed; install it with pip install 'spikepipe[distributed]'")
        from .cluster import dask_pool
        with dask_pool(dask.strip(), kind) as pool:
            yield pool
        return
    workers = positive_int((os.cpu_count() or 1) if workers is None else workers, "workers")
    if workers == 1:
        warm_up(kind.target, kind.warmup)
        yield Pool(partial(InlineExecutor().submit, evaluate), 1, "this process")
        return
    with _process_pool(kind, workers) as pool:
        yield pool
