"""The environment recorded beside results: versions, BLAS, CPU, thread variables."""
from __future__ import annotations

import json

import numba
import numpy as np

from workloads.environment import environment


def test_environment_records_versions_blas_and_variables(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    env = environment()
    assert env.numpy == np.__version__ and env.numba == numba.__version__
    assert env.numba_threads == numba.get_num_threads() and env.cpu
    assert any(p.api == "blas" and p.threads >= 1 for p in env.thread_pools)  # numpy's BLAS is loaded
    assert env.variables["OPENBLAS_CORETYPE"] == "Haswell" and env.variables["OMP_NUM_THREADS"] == "1"
    assert "OPENBLAS_NUM_THREADS" not in env.variables
    doc = json.loads(json.dumps(env.as_dict()))
    assert doc["numpy"] == np.__version__ and doc["thread_pools"][0]["library"]
    line = env.summary()
    assert "\n" not in line and f"numpy {np.__version__}" in line and "OPENBLAS_CORETYPE=Haswell" in line
