"""benchmarks/bench_machine.py: one resource varied at a time, cliff edges, memory rows, and the
committed results agree with what the simulator gives now."""
from __future__ import annotations

import csv
import importlib.util
import math
import sys
from pathlib import Path

from simulator.cost import ArrayConfig, network_cost
from simulator.des import simulate
from simulator.machine import load_machine
from simulator.schedule import make_schedule
from workloads import MNIST

ROOT = Path(__file__).parents[1] / "benchmarks"
_SPEC = importlib.util.spec_from_file_location("bench_machine", ROOT / "bench_machine.py")
B = sys.modules.setdefault("bench_machine", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(B)


def test_machine_with_changes_one_resource() -> None:
    base = load_machine("realistic")
    small = B.machine_with(base, "sram", 65536)
    assert small.processors.sram_bytes == 65536 and small.interconnect == base.interconnect
    free = B.machine_with(base, "bandwidth", math.inf)
    assert free.interconnect.bandwidth == math.inf and free.processors == base.processors
    assert free.interconnect.latency == base.interconnect.latency


def test_cliff_is_the_largest_value_below_90_percent() -> None:
    rows = [{"network": n.name, "procs": p, "scheduler": s, "axis": a, "value": v, "samples_per_s": t}
            for n in B.NETWORKS for p in B.PROCS for s in B.SCHEDULERS
            for a, pts in (("sram", ((65536, 10.0), (262144, 50.0), (1048576, 95.0), (None, 100.0))),
                           ("bandwidth", ((1.0, 95.0), (None, 100.0))))
            for v, t in pts]
    lines = B.cliffs(rows)
    assert len(lines) == len(B.NETWORKS) * len(B.PROCS) * len(B.SCHEDULERS)
    assert all("below 90% up to 262,144 B SRAM" in line and "bandwidth: no cliff" in line for line in lines)


def test_committed_results_match_the_simulator() -> None:
    """A row of the committed sweep and of the memory table, recomputed."""
    results = Path(__file__).parents[1] / "benchmarks" / "results" / "machine"
    sweep = list(csv.DictReader((results / "sweep.csv").open()))
    assert len(sweep) == len(B.NETWORKS) * len(B.PROCS) * len(B.SCHEDULERS) * (len(B.SRAM_BYTES) + len(B.BANDWIDTHS))
    row = next(r for r in sweep if r["network"] == "mnist" and r["procs"] == "4" and r["scheduler"] == "compute-optimal"
               and r["axis"] == "sram" and r["value"] == "65536")
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 1), 4)
    r = simulate(schedule, 4 * 4 + 10, B.machine_with(load_machine("realistic"), "sram", 65536))
    assert float(row["cycles_per_update"]) == r.simulated_cycles_per_update
    memory = list(csv.DictReader((results / "memory.csv").open()))
    one = next(m for m in memory if m["network"] == "mnist" and m["scheduler"] == "compute-optimal" and m["procs"] == "1")
    r1 = simulate(make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 32), 1), 18, load_machine("ideal"))
    assert float(one["peak_sram_mb_max"]) == max(p.peak_sram for p in r1.processors) / 1e6
    assert float(one["paper_mb_one_processor"]) == 11.568
