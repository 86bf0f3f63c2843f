"""Thread control for the numba kernels and the BLAS behind numpy's float32 GEMMs.

On a shared machine one thread per process is often fastest: a parallel region waits for
its slowest thread, and an OpenBLAS pool that spins after a call steals time from numba's
threads. `set_threads` sets both (OpenBLAS through its C entry point, best effort, the way
threadpoolctl does it).
"""
from __future__ import annotations

import ctypes
import glob
import os

import numba
import numpy as np

from workloads.errors import ConfigError

_OPENBLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")


def _openblas_libraries() -> list[str]:
    base = os.path.dirname(np.__file__)
    return sorted(glob.glob(os.path.join(base, os.pardir, "numpy.libs", "*openblas*"))
                  + glob.glob(os.path.join(base, ".libs", "*openblas*")))


def set_threads(n: int) -> None:
    """Use `n` threads in numba kernels and in OpenBLAS (if found)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise ConfigError(f"threads: must be an integer in 1..{numba.config.NUMBA_NUM_THREADS}, got {n!r}")
    numba.set_num_threads(n)
    for path in _openblas_libraries():
        lib = ctypes.CDLL(path)
        for name in _OPENBLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                break
