"""The Table VII sweep and the `schedule` / `sweep` subcommands."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from simulator.cli import main
from simulator.cost import ArrayConfig, network_cost
from simulator.des import simulate
from simulator.paper import TABLE_VII
from simulator.reports import plot_gantt, plot_schedule, plot_sweep, sweep, table_vii
from simulator.schedule import make_schedule
from workloads import DVS128, MNIST, NMNIST


@pytest.fixture(scope="module")
def paper_grid():
    """Every network, batch and array of Table VII, at the paper's processor counts."""
    procs = sorted({p for _, p in TABLE_VII})
    return sweep([MNIST, NMNIST, DVS128], procs, schedulers=("pipedream", "finegrained", "compute-optimal"))


def test_pipedream_column_matches_table_vii(paper_grid) -> None:
    rows = {(r.network, r.procs): r for r in table_vii(paper_grid) if r.scheduler == "pipedream"}
    for (net, p), (published, _, _) in TABLE_VII.items():
        if net in ("mnist", "nmnist"):
            assert abs(rows[(net, p)].mean_speedup - published) <= 0.01 + 1e-9, (net, p)
            assert rows[(net, p)].published_speedup == published


def test_optimal_between_algorithm_1_and_bound(paper_grid) -> None:
    by_config: dict[tuple, dict[str, object]] = {}
    for pt in paper_grid:
        by_config.setdefault((pt.network, pt.batch, pt.array, pt.procs), {})[pt.scheduler] = pt
    for config, pts in by_config.items():
        best, fine = pts["compute-optimal"], pts["finegrained"]
        assert best.cycles_per_update <= fine.cycles_per_update, config
        assert best.speedup <= min(best.bound, config[3]) + 1e-9, config
    rows = {(r.network, r.procs, r.scheduler): r for r in table_vii(paper_grid)}
    for (net, p), (_, published_fine, _) in TABLE_VII.items():
        assert rows[(net, p, "finegrained")].difference == pytest.approx(
            rows[(net, p, "finegrained")].mean_speedup - published_fine)
        assert rows[(net, p, "compute-optimal")].mean_speedup >= rows[(net, p, "finegrained")].mean_speedup


def test_schedule_cli_json_and_plot(capsys, tmp_path) -> None:
    plot = tmp_path / "map.svg"
    assert main(["schedule", "--network", "mnist", "--procs", "4", "--scheduler", "pipedream", "--json",
                 "--plot", str(plot)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scheduler"] == "pipedream" and doc["procs"] == 4 and doc["cycles_per_update"] == 13_916
    assert round(doc["speedup"], 2) == 3.37 and round(doc["bound"], 2) == 3.37
    assert len(doc["delays"]) == 4 and len(doc["processors"]) == 4
    assert sum(p["load"] for p in doc["processors"]) == 46_956
    assert doc["processors"][0]["slices"][0]["label"] == "FP0"
    assert plot.read_text().lstrip().startswith("<?xml")
    assert main(["schedule", "--procs", "2", "--scheduler", "layerwise"]) == 0
    out = capsys.readouterr().out
    assert "26,706" in out and "Speedup: 1.76x" in out and "conv1 2" in out


@pytest.mark.parametrize("args", [
    ["schedule", "--procs", "0"], ["schedule", "--procs", "100000"], ["schedule", "--scheduler", "nope"],
    ["schedule", "--array", "0x0"], ["schedule", "--plot", "map.txt"], ["sweep", "--procs", "0,2"],
    ["sweep", "--schedulers", "nope"], ["sweep", "--arrays", "0"],
])
def test_errors_are_one_line(args, tmp_path) -> None:
    run = subprocess.run([sys.executable, "-m", "simulator", *args, "--json"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"spikepipe {args[0]}: error: "), run.stderr


def test_sweep_cli_writes_table_csv_and_figures(capsys, tmp_path) -> None:
    assert main(["sweep", "--networks", "mnist,nmnist", "--procs", "1,2,8", "--batches", "1,32",
                 "--arrays", "32,64", "--out", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * 3 * 5
    assert {"network", "procs", "scheduler", "mean_speedup", "overhead_kb"} <= rows[0].keys()
    mnist2 = {r["scheduler"]: r for r in rows if r["network"] == "mnist" and r["procs"] == 2}
    assert mnist2["finegrained"]["published_speedup"] == 1.97
    assert mnist2["compute-optimal"]["mean_speedup"] >= mnist2["finegrained"]["mean_speedup"]
    with open(tmp_path / "table_vii.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    with open(tmp_path / "points.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2 * 2 * 2 * 3 * 5
    for name in ("fig16.png", "fig17.png", "fig18.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert main(["sweep", "--networks", "mnist", "--procs", "1,4", "--batches", "1", "--arrays", "32",
                 "--out", str(tmp_path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "Table VII" in out and "3.78" in out and "paper KB" in out


def test_plots_return_figures_and_leave_the_backend_alone() -> None:
    import matplotlib
    from matplotlib.figure import Figure
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # not Agg: a plot that switched the backend would show
    try:
        schedule = make_schedule("finegrained", network_cost(MNIST, ArrayConfig(32, 32)), 3)
        figures = [plot_schedule(schedule), plot_gantt(simulate(schedule, 16, trace=True)),
                   *plot_sweep(sweep([MNIST], (1, 8), (1, 32), (32,), ("layerwise", "pipedream"))).values()]
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert len(figures) == 5 and all(isinstance(fig, Figure) for fig in figures)
    for fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG" and fig.axes


def test_schedule_json_reports_procs_used(capsys) -> None:
    assert main(["schedule", "--network", "mnist", "--procs", "8", "--scheduler", "layerwise", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["procs"] == 8 and doc["procs_used"] == 3 and doc["delays"] == [4, 2, 0, 0]


def test_runner_reproduces_the_in_process_table(tmp_path) -> None:
    from simulator.cost import ArrayConfig
    from simulator.experiments import run
    from simulator.reports import sweep_experiment, sweep_points
    grid = sweep_experiment(["mnist", "nmnist"], [1, 2, 8], [1, 32], [ArrayConfig(32, 32), ArrayConfig(64, 64)],
                            ["pipedream", "finegrained", "compute-optimal"])
    assert grid.kind == "schedule"
    got = sweep_points(run(grid, tmp_path / "results.jsonl", workers=1, progress=False).records)
    direct = sweep([MNIST, NMNIST], (1, 2, 8), (1, 32), (32, 64), ("pipedream", "finegrained", "compute-optimal"))
    assert not got.failed and len(got.points) + got.beyond_slices == 2 * 3 * 2 * 2 * 3
    assert sorted(table_vii(got.points), key=repr) == sorted(table_vii(direct), key=repr)
    again = run(grid, tmp_path / "results.jsonl", workers=1, progress=False)
    assert again.computed == 0 and again.skipped == again.points  # resumed: nothing left to do


def test_sweep_on_a_physical_machine_is_simulated(capsys, tmp_path) -> None:
    assert main(["sweep", "--networks", "mnist", "--procs", "2", "--batches", "4", "--arrays", "16x64,32",
                 "--machine", "realistic", "--schedulers", "compute-optimal,machine-optimal,1f1b",
                 "--micro-batches", "2", "--minibatches", "12", "--workers", "1", "--out", str(tmp_path),
                 "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "simulated on machine realistic" in out and "paper" not in out.split("\n")[1]
    assert "Paper's columns left out: arrays 16x64" in out and "uJ per sample" in out
    with open(tmp_path / "points.csv", newline="") as fh:
        pts = list(csv.DictReader(fh))
    assert len(pts) == 2 * 3 and {p["array"] for p in pts} == {"16x64", "32x32"}
    best = {p["array"]: float(p["cycles_per_update"]) for p in pts if p["scheduler"] == "machine-optimal"}
    for p in pts:
        if p["scheduler"] == "compute-optimal":
            assert best[p["array"]] <= float(p["cycles_per_update"])
    sync = [p for p in pts if p["scheduler"] == "1f1b"]
    assert all(p["energy_per_sample_j"] == "-" and float(p["seconds_per_sample"]) > 0 for p in sync)


def test_sweep_says_why_figures_are_skipped(capsys, tmp_path) -> None:
    assert main(["sweep", "--networks", "mnist", "--procs", "2", "--batches", "2", "--arrays", "16",
                 "--workers", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fig16 skipped: it needs batch 1 on a 32x32 array" in out and "fig18 skipped" in out
    assert not (tmp_path / "fig16.png").exists() and (tmp_path / "fig17.png").exists()
