"""The software and machine a result was computed on, recorded beside every results file.

Accuracy figures and timings are reproducible per environment, not across environments:
the float32 products that remain on BLAS (the weight gradients) round differently with
another BLAS library, CPU kernel (`OPENBLAS_CORETYPE`) or thread count, and a different
rounding early in training leads to a different trained network.
"""
from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass

import numba
import numpy as np
from threadpoolctl import threadpool_info

RECORDED_VARIABLES = ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY")  # and every *_NUM_THREADS


@dataclass(frozen=True)
class ThreadPool:
    """A native thread pool the process has loaded (threadpoolctl's view)."""

    api: str                  # "blas" or "openmp"
    library: str              # "openblas", "mkl", "blis", "libgomp", ...
    version: str | None
    architecture: str | None  # the CPU kernel a BLAS chose (e.g. "Haswell", "SkylakeX")
    threads: int
    filepath: str             # the shared library loaded


@dataclass(frozen=True)
class Environment:
    python: str
    numpy: str
    numba: str
    numba_threads: int
    thread_pools: tuple[ThreadPool, ...]
    cpu: str
    cpus: int | None
    platform: str
    variables: dict[str, str]  # OPENBLAS_CORETYPE, OMP_WAIT_POLICY and *_NUM_THREADS, as set

    def as_dict(self) -> dict:
        """JSON-ready, with the one-line `summary` too."""
        return asdict(self) | {"summary": self.summary()}

    def summary(self) -> str:
        """One line for printed results."""
        pools = ", ".join(" ".join(filter(None, (p.library, p.version, p.architecture))) + f" x{p.threads}"
                          for p in self.thread_pools)
        variables = " ".join(f"{k}={v}" for k, v in self.variables.items())
        return (f"python {self.python}, numpy {self.numpy}, numba {self.numba} x{self.numba_threads}, "
                f"{pools or 'no BLAS loaded'}; {self.cpu} ({self.cpus} CPUs), {self.platform}"
                + (f"; {variables}" if variables else ""))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo where there is one, else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> Environment:
    """The environment of this process now (call it after setting the thread counts)."""
    pools = tuple(ThreadPool(p.get("user_api", "?"), p.get("internal_api", "?"), p.get("version"),
                             p.get("architecture"), int(p.get("num_threads", 0)), p.get("filepath", "?"))
                  for p in threadpool_info())
    variables = {k: os.environ[k] for k in sorted(os.environ)
                 if k in RECORDED_VARIABLES or k.endswith("_NUM_THREADS")}
    return Environment(platform.python_version(), np.__version__, numba.__version__, numba.get_num_threads(), pools,
                       cpu_model(), os.cpu_count(), platform.platform(), variables)
