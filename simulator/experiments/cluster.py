"""Running points on Dask distributed (the optional `distributed` extra).

`dask_pool` connects to a running scheduler, or starts a `LocalCluster` for `'local'` /
`'local:N'` (N worker processes of one thread each, on this machine's loopback address, with
no dashboard),
registers a worker plugin that warms every worker up once, present and future, and yields
the client's `concurrent.futures` executor.
"""
from __future__ import annotations

import logging
import os
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Iterator

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from workloads import ConfigError

from .executors import Pool, positive_int, warm_up
from .kinds import PointKind
from .results import evaluate


class WarmUp(WorkerPlugin):
    """Imports the point function and runs the kind's warm-up when a worker joins."""

    idempotent = True

    def __init__(self, target: str, warmup: str | None) -> None:
        self.target, self.warmup = target, warmup

    def setup(self, worker) -> None:
        warm_up(self.target, self.warmup)


def _local_workers(address: str) -> int | None:
    """N for 'local:N', the core count for 'local', None for a scheduler address."""
    name, _, count = address.partition(":")
    if name != "local":
        return None
    if not count:
        return os.cpu_count() or 1
    try:
        return positive_int(int(count), "dask local:N")
    except ValueError:
        raise ConfigError(f"dask: 'local:N' needs a positive integer N, got {address!r}") from None


@contextmanager
def dask_pool(address: str, kind: PointKind) -> Iterator[Pool]:
    """A pool on the Dask scheduler at `address` (or a local cluster); closed on leaving."""
    with ExitStack() as stack:
        local = _local_workers(address)
        if local is not None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=local, processes=True, threads_per_worker=1, host="127.0.0.1", silence_logs=logging.ERROR,
                # no dashboard, and the scheduler's HTTP server on a free port, not 8787 (maybe taken)
                dashboard_address=None, scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(Client(cluster, set_as_default=False))
            where = f"a local Dask cluster of {local} processes"
        else:
            try:
                client = stack.enter_context(Client(address, set_as_default=False))
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"dask: cannot reach a scheduler at {address!r} ({' '.join(str(exc).split())})") \
                    from None
            where = f"Dask scheduler {address}"
        client.register_plugin(WarmUp(kind.target, kind.warmup), name=f"spikepipe-warmup:{kind.target}")
        threads = sum(client.nthreads().values())
        executor = client.get_executor(pure=False)
        try:
            yield Pool(partial(executor.submit, evaluate), max(1, threads), f"{where} ({threads} threads)")
        except BaseException:
            executor.shutdown(wait=False)
            raise
        executor.shutdown(wait=True)
