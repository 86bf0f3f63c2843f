"""Runtime tuning: threads for the numba kernels and the BLAS behind numpy's float32 GEMMs,
and the C allocator's reuse of freed memory.

On a shared machine one thread per process is often fastest: a parallel region waits for
its slowest thread, and an OpenBLAS pool that spins after a call steals time from numba's
threads. `set_threads` sets both (the BLAS libraries loaded in the process through threadpoolctl).
"""
from __future__ import annotations

import ctypes

import numba
from threadpoolctl import threadpool_limits

from workloads.errors import ConfigError


def set_threads(n: int, blas: int | None = None) -> None:
    """Use `n` threads in numba kernels and `blas` (default `n`) in the BLAS behind numpy.

    One BLAS thread suits the small GEMMs of the MNIST and N-MNIST networks (an idle
    OpenBLAS thread spins and slows the numba kernels: 500 vs 400 N-MNIST samples/s on two
    cores); the large input-gradient GEMMs of DVS128 gain from two (5.1 vs 4.2 samples/s)."""
    limit = numba.config.NUMBA_NUM_THREADS
    blas = n if blas is None else blas
    for name, value in (("threads", n), ("blas threads", blas)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ConfigError(f"{name}: must be an integer in 1..{limit}, got {value!r}")
    numba.set_num_threads(n)
    threadpool_limits(blas, user_api="blas")  # called, not entered: the limit stays


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -2, -3, -4  # glibc mallopt parameters


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks in the heap instead of returning them to the system: each
    training step allocates the same large arrays again, and fresh pages cost a page fault each
    (measured: N-MNIST training 1.4x faster). Blocks up to 32 MiB stay in the heap once the mmap
    threshold is raised; larger ones (DVS128's 671 MB input gradient of its first layer) only if
    no block is served by mmap at all (`M_MMAP_MAX` 0; glibc still falls back to mmap when the
    heap cannot grow): measured 11.6 -> 10.4 s CPU per DVS128 step, peak 1.93 -> 1.97 GiB. The heap
    is trimmed only above 2 GiB (mallopt's largest value): with 1 GiB, DVS128's freed arrays went
    back to the system after every step and came back as 20,000 page faults in the next (1.0 s of
    system time per step, now none after the second step; peak 1,980 MiB, where the heap, no
    longer trimmed, would settle at 2,288 MiB if `snn.backward` did not free each layer's gradient
    before the next is allocated). False if not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
    ok &= libc.mallopt(_M_MMAP_MAX, 0)
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    ok &= libc.mallopt(_M_TOP_PAD, 64 * 2**20)
    return bool(ok)
