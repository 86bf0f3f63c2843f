"""Synchronous baselines (no delays) beside the asynchronous schedulers in `spikepipe simulate`."""
from __future__ import annotations

from simulator.cli import main
from simulator.cost import ArrayConfig
from simulator.des.synchronous import simulate_sync
from simulator.machine import load_machine
from simulator.reports.baselines import SYNC_SCHEDULERS, baseline_table
from simulator.schedule.synchronous import make_sync_schedule
from workloads import MNIST


def test_baseline_rows_are_the_sync_des_on_the_machines_links() -> None:
    machine = load_machine("realistic")
    got = baseline_table(MNIST, ArrayConfig(32, 32), 8, 4, 4, machine, 12)
    assert got.skipped is None and [r[0] for r in got.rows] == [f"{k} (m = 4)" for k in SYNC_SCHEDULERS]
    ref = simulate_sync(make_sync_schedule("1f1b", MNIST, "32x32", 8, 4, 4), 12, 16.0, 20)
    assert got.rows[1][2] == round(ref.simulated_cycles_per_update)


def test_baselines_say_why_they_are_not_run() -> None:
    got = baseline_table(MNIST, ArrayConfig(32, 32), 4, 2, 3, load_machine("realistic"), 8)
    assert got.rows == [] and "micro_batches" in got.skipped
    mesh = baseline_table(MNIST, ArrayConfig(32, 32), 4, 2, 2, load_machine("mesh16"), 8)
    assert mesh.rows == [] and "chain" in mesh.skipped


def test_simulate_all_lists_sync_baselines(capsys) -> None:
    assert main(["simulate", "--procs", "2", "--batch", "4", "--minibatches", "12", "--micro-batches", "2"]) == 0
    out = capsys.readouterr().out
    assert "synchronous (no delays)" in out and "zb-h2 (m = 2)" in out and "machine-optimal" in out
