"""What machine and libraries produced a result: recorded in every results file's session header."""
from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Python, CPU, core count, numpy / numba / simpy versions, numba threads and BLAS (threadpoolctl)."""
    import numba
    import numpy

    info: dict[str, Any] = {
        "spikepipe": _version("spikepipe"), "python": platform.python_version(), "platform": platform.platform(),
        "cpu": _cpu_model(), "cpus": os.cpu_count(), "numpy": numpy.__version__, "numba": numba.__version__,
        "simpy": _version("simpy"), "numba_threads": numba.get_num_threads(), "blas": None,
    }
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return info
    info["blas"] = [{k: pool.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                    for pool in threadpool_info()]
    return info
