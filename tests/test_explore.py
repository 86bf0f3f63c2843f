"""`spikepipe explore`: a grid file run through the resumable runner, its CSV, table, plots and exit codes."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.experiments import KINDS, load_experiment, register
from simulator.experiments.points import des_point

ROOT = Path(__file__).resolve().parent.parent

GRID = """name = "tiny"
seed = 1
kind = "des"
[fixed]
minibatches = 12
bandwidth = 4.0
[vary]
procs = [2, 4]
scheduler = ["layerwise", "finegrained"]
"""


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(GRID)
    return path


def _points(results: Path) -> list[dict]:
    return [obj for obj in map(json.loads, results.read_text().splitlines()) if obj["type"] == "point"]


def test_explore_runs_the_grid_and_writes_csv_table_and_plots(grid, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["explore", str(grid), "--workers", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tiny: 4 points, 4 run now, 0 already in" in text
    assert "throughput (samples/s)" in text and "energy per sample (J)" in text and "speedup (x)" in text  # units
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    points = load_experiment(grid).points()
    assert [row["key"] for row in rows] == [p.key for p in points]  # grid order
    assert [(int(row["procs"]), row["scheduler"]) for row in rows] == \
        [(2, "layerwise"), (2, "finegrained"), (4, "layerwise"), (4, "finegrained")]
    for row, point in zip(rows, points):
        expected = des_point(**point.params)
        assert row["status"] == "ok" and row["error"] == ""
        assert row["network"] == "mnist" and float(row["bandwidth"]) == 4.0 and int(row["minibatches"]) == 12
        assert float(row["cycles_per_sample"]) == pytest.approx(expected["cycles_per_sample"], rel=1e-12)
        assert row["delays"] == expected["delays"]
    assert {p.name for p in out.glob("*.png")} == {"throughput-energy-procs.png", "throughput-energy-scheduler.png",
                                                   "pareto.png"}
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in out.glob("*.png"))
    assert not [p for p in out.iterdir() if p.suffix == ".tmp"]  # written through temporary files, none left


def test_rerun_skips_every_point_and_json_is_one_document(grid, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["explore", str(grid), "--workers", "1", "--out", str(out), "--no-plots"]) == 0
    capsys.readouterr()
    first_csv = (out / "results.csv").read_text()
    assert main(["explore", str(grid), "--workers", "1", "--out", str(out), "--no-plots", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["points"], doc["computed"], doc["skipped"], doc["failed"], doc["complete"]) == (4, 0, 4, 0, True)
    assert doc["figures"] == [] and not list(out.glob("*.png"))
    assert len(doc["summary"]) == 4 and set(doc["summary"][0]) == \
        {"procs", "scheduler", "throughput (samples/s)", "energy per sample (J)", "speedup (x)"}
    assert len(_points(out / "results.jsonl")) == 4  # nothing ran twice
    assert (out / "results.csv").read_text() == first_csv


def test_default_output_folder_is_named_for_the_experiment(grid, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["explore", str(grid), "--workers", "1", "--no-plots", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["csv"] == str(Path("results", "explore", "tiny", "results.csv"))
    assert len(_points(tmp_path / "results" / "explore" / "tiny" / "results.jsonl")) == 4
    (tmp_path / "up.toml").write_text(GRID.replace('"tiny"', '"../up"'))
    assert main(["explore", str(tmp_path / "up.toml"), "--workers", "1"]) == 2
    assert "name '../up' cannot name a folder; give --out DIR" in capsys.readouterr().err


@pytest.mark.parametrize("text, culprit", [
    ('name = "g"\nseed = 0\nkind = "des"\n[vary]\nproc = [2, 4]\n', "kind 'des' has no parameter 'proc'"),
    ('name = "g"\nseed = 0\nkind = "des"\n[vary\n', "grid file"),
    (None, "cannot be read"),
])
def test_bad_grid_file_is_one_line_and_exit_2(tmp_path, capsys, text, culprit):
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text)
    assert main(["explore", str(path), "--workers", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikepipe explore: error: grid file") and culprit in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing written


def test_bad_options_are_one_line_and_exit_2(grid, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for argv, culprit in ((["--workers", "0"], "--workers: must be a positive integer"),
                          (["--out", str(tmp_path / "file")], "--out:"),
                          (["--workers", "2", "--dask", "local"], "not allowed with argument")):
        assert main(["explore", str(grid), *argv]) == 2
        err = capsys.readouterr().err
        assert culprit in err and err.count("\n") == 1


def interrupting_point(*, n: int) -> dict:
    if n == 2:
        raise KeyboardInterrupt  # Ctrl-C while the third point runs
    return {"cycles_per_sample": 100.0 + n}


def test_ctrl_c_exits_130_and_keeps_the_finished_points(tmp_path, capsys):
    register("interrupting_explore", f"{__name__}:interrupting_point")
    try:
        path = tmp_path / "i.toml"
        path.write_text('name = "i"\nseed = 0\nkind = "interrupting_explore"\n[vary]\nn = [0, 1, 2, 3]\n')
        assert main(["explore", str(path), "--workers", "1", "--out", str(tmp_path / "out")]) == 130
    finally:
        del KINDS["interrupting_explore"]
    assert capsys.readouterr().err.strip().endswith("spikepipe explore: interrupted")
    assert [obj["params"]["n"] for obj in _points(tmp_path / "out" / "results.jsonl")] == [0, 1]


@pytest.mark.parametrize("name", ["explore-des.toml", "explore-schedule.toml"])
def test_example_grids_load(name):
    exp = load_experiment(ROOT / "docs" / "examples" / name)
    assert len(exp.points()) > 1 and exp.kind in name
