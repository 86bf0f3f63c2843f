"""benchmarks/reproduce_table2.py: the grid trains through the experiment runner (`train` points),
the table is written, resume skips finished runs and extends unfinished ones, a local pool gives
the same runs as this process, and the mean +- std match an independent computation."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulator.experiments.training import RUN_FILE, RunSpec, mode_key, run_history, subset
from workloads import ConfigError
from workloads.datasets import ArrayDataset, DatasetSplits

_SPEC = importlib.util.spec_from_file_location(
    "reproduce_table2", Path(__file__).parents[1] / "benchmarks" / "reproduce_table2.py")
R = sys.modules.setdefault("reproduce_table2", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(R)

NET = {"name": "tiny", "input": [6, 6, 1], "timesteps": 3,
       "layers": [{"type": "conv", "filters": 3, "delay": 2}, {"type": "maxpool"},
                  {"type": "dense", "units": 8, "delay": 1}, {"type": "output", "units": 3, "delay": 0}]}
TOY = "test_reproduce_table2:toy_splits"  # the train points load the data through this import path


def _split(n: int, seed: int) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int64)
    x = (rng.random((n, 6, 6, 1)) * (0.3 + 0.3 * y[:, None, None, None])).astype(np.float32)
    return ArrayDataset("toy", x, y, "image")


def toy_splits() -> DatasetSplits:
    return DatasetSplits(_split(32, 0), _split(16, 1), True, "toy data")


SIZES = {"tiny": (32, 16)}


@pytest.fixture
def nets(tmp_path) -> dict[str, str]:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(NET))
    return {"tiny": str(path)}


TWO_MODES = ("none", "table")


def _grid(seeds: int, epochs: int, modes: tuple[str, ...] = TWO_MODES, **kw) -> list:
    return R.make_grid(["tiny"], {"tiny": TOY}, {"tiny": True}, ["sgd", "adam"], {"tiny": seeds}, {"tiny": epochs},
                       {"tiny": None}, {"tiny": None}, lr=0.01, batch=8, delay_modes=modes, **kw)


def _meta(modes: tuple[str, ...] = TWO_MODES) -> dict:
    return {"command": "test", "lr": 0.01, "batch": 8, "subset_seed": 0, "seeds": {"tiny": 2}, "classes": {"tiny": 3},
            "delay_modes": list(modes)}


def _reproduce(specs, nets, out, modes=TWO_MODES, **kw) -> list:
    return R.reproduce(specs, nets, out, _meta(modes), SIZES, progress=False, **kw)


def test_grid_writes_table_resume_skips_finished_and_extends(tmp_path, nets):
    specs = _grid(seeds=2, epochs=1)
    assert len(specs) == 8 and len({s.folder for s in specs}) == 8
    assert _reproduce(specs, nets, tmp_path) == specs
    for name in ("table2.md", "table2.csv", "table2.json", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    table = json.loads((tmp_path / "table2.json").read_text())
    assert [(r["optimizer"], r["none_runs"], r["table_runs"]) for r in table["rows"]] == [("sgd", 2, 2),
                                                                                        ("adam", 2, 2)]
    assert f"{TOY} (SYNTHETIC)" in (tmp_path / "table2.md").read_text()
    records = [json.loads(line) for line in (tmp_path / "tiny" / R.POINTS_FILE).read_text().splitlines()]
    points = {r["result"]["folder"]: r["result"] for r in records if r["type"] == "point"}
    assert len(points) == 8
    for spec in specs:  # each record is its run's metrics
        acc = [100 * h["test_acc"] for h in run_history(spec, tmp_path)]
        assert (points[spec.folder]["final_test_acc"], points[spec.folder]["best_test_acc"]) == (acc[-1], max(acc))
    first = {s.folder: (tmp_path / s.folder / "metrics.json").stat().st_mtime_ns for s in specs}
    assert _reproduce(specs, nets, tmp_path) == []
    assert first == {s.folder: (tmp_path / s.folder / "metrics.json").stat().st_mtime_ns for s in specs}
    longer = _grid(seeds=2, epochs=2)  # a larger budget continues each run from its checkpoint
    assert _reproduce(longer, nets, tmp_path) == longer
    assert all(len(run_history(s, tmp_path)) == 2 for s in longer)


def test_a_local_pool_trains_the_same_runs_as_this_process(tmp_path, nets):
    """The fixed-order kernels make a run's metrics independent of the process and its threads."""
    specs = _grid(seeds=1, epochs=1)
    assert _reproduce(specs, nets, tmp_path / "serial") == specs
    assert _reproduce(specs, nets, tmp_path / "pool", workers=2) == specs
    for spec in specs:
        a, b = (json.loads((tmp_path / where / spec.folder / "metrics.json").read_text()) for where in ("serial", "pool"))
        assert [(h["train_loss"], h["test_acc"]) for h in a] == [(h["train_loss"], h["test_acc"]) for h in b]


def test_the_committed_short_table_comes_back_through_the_runner(tmp_path):
    """Every run of the committed short budget is finished, so its train point reads it back (no data, no
    checkpoint needed) and the table rebuilt from the runner's pass equals the committed one."""
    committed = Path(__file__).parents[1] / "benchmarks" / "results" / "table2-short"
    shutil.copytree(committed, tmp_path / "t", ignore=shutil.ignore_patterns("*.png", "data_info"))
    before = json.loads((committed / "table2.json").read_text())
    rows, meta = before["rows"], before["meta"] | {"delay_modes": ["none", "table"]}
    nets = list(dict.fromkeys(r["network"] for r in rows))
    first = {n: next(r for r in rows if r["network"] == n) for n in nets}
    specs = R.make_grid(nets, {n: first[n]["dataset"] for n in nets}, {n: first[n]["synthetic"] for n in nets},
                        ["sgd", "adam"], meta["seeds"], {n: first[n]["epochs"] for n in nets},
                        {n: first[n]["train_subset"] for n in nets}, {n: first[n]["test_subset"] for n in nets},
                        meta["subset_seed"], meta["lr"], meta["batch"], ("none", "table"))
    sizes = {n: (first[n]["train_size"], first[n]["test_size"]) for n in nets}
    assert R.reproduce(specs, {n: n for n in nets}, tmp_path / "t", meta, sizes, progress=False) == specs
    after = json.loads((tmp_path / "t" / "table2.json").read_text())["rows"]
    assert len(after) == len(rows) == 6
    for old, new in zip(rows, after):
        assert {k: new[k] for k in old} == old
    assert not list((tmp_path / "t").glob("*/*/checkpoint.npz"))  # nothing was trained


def _fake_run(spec, out: Path, accs: list[float]) -> None:
    folder = out / spec.folder
    folder.mkdir(parents=True)
    (folder / RUN_FILE).write_text(json.dumps(spec.identity()))
    (folder / "metrics.json").write_text(json.dumps([{"epoch": i + 1, "test_acc": a} for i, a in enumerate(accs)]))


def test_mean_and_std_of_known_metrics(tmp_path):
    specs = _grid(seeds=3, epochs=3)
    accs = {}
    rng = np.random.default_rng(0)
    for spec in specs:
        if spec.optimizer == "adam" and spec.delays == "table" and spec.seed == 2:
            continue  # one unfinished run: only two seeds count in that cell
        accs[spec.folder] = rng.uniform(0.3, 0.9, 3).tolist()
        _fake_run(spec, tmp_path, accs[spec.folder])
    rows, curves = R.summarize(specs, tmp_path)
    for row in rows:
        for d in TWO_MODES:
            runs = [accs[s.folder] for s in specs if (s.optimizer, s.delays) == (row["optimizer"], d)
                    and s.folder in accs]
            final = 100 * np.array([a[-1] for a in runs])
            best = 100 * np.array([max(a) for a in runs])
            assert row[f"{d}_runs"] == len(runs)
            assert row[f"{d}_final_mean"] == pytest.approx(final.mean())
            assert row[f"{d}_final_std"] == pytest.approx(final.std(ddof=1))
            assert row[f"{d}_best_mean"] == pytest.approx(best.mean())
            assert row[f"{d}_best_std"] == pytest.approx(best.std(ddof=1))
    assert [(r["optimizer"], r["none_runs"], r["table_runs"]) for r in rows] == [("sgd", 3, 3), ("adam", 3, 2)]
    assert len(curves[("tiny", TOY, "adam", "table")]) == 2


def test_single_run_has_no_std_and_paper_values_are_attached(tmp_path):
    spec = R.make_grid(["mnist"], {"mnist": "mnist"}, {"mnist": False}, ["adam"], {"mnist": 1}, {"mnist": 1},
                       {"mnist": 100}, {"mnist": 100})[0]
    _fake_run(spec, tmp_path, [0.5])
    row = R.summarize([spec], tmp_path)[0][0]
    assert (row["none_final_mean"], row["none_final_std"]) == (50.0, None)
    assert (row["none_paper_mean"], row["table_paper_mean"]) == (98.64, 98.59)


def test_a_folder_of_another_configuration_is_refused(tmp_path):
    spec = _grid(seeds=1, epochs=1)[0]
    _fake_run(spec, tmp_path, [0.5])
    other = R.make_grid(["tiny"], {"tiny": TOY}, {"tiny": True}, ["sgd"], {"tiny": 1}, {"tiny": 1}, {"tiny": 10},
                        {"tiny": None}, lr=0.01, batch=8)[0]
    assert other.folder == spec.folder
    with pytest.raises(ConfigError, match="another configuration"):
        R.is_finished(other, tmp_path)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from(["mnist", "nmnist", "dvs128"]), st.integers(1, 50), min_size=1),
       st.integers(1, 50))
def test_per_network_values(given_values, fallback):
    names = ["mnist", "nmnist", "dvs128"]
    text = ",".join([str(fallback)] + [f"{k}={v}" for k, v in given_values.items()])
    assert R.parse_per_network(text, names, "epochs", R._positive) == {n: given_values.get(n, fallback)
                                                                       for n in names}


def test_per_network_errors_and_cli_guard(tmp_path, capsys):
    with pytest.raises(ConfigError, match="no value for dvs128"):
        R.parse_per_network("mnist=1,nmnist=2", ["mnist", "dvs128"], "epochs", R._positive)
    with pytest.raises(ConfigError, match="bad value"):
        R.parse_per_network("mnist=0", ["mnist"], "epochs", R._positive)
    assert R.parse_per_network("all,dvs128=5", ["mnist", "dvs128"], "train-subset", R._subset_size) == \
        {"mnist": None, "dvs128": 5}
    _fake_run(_grid(seeds=1, epochs=1)[0], tmp_path, [0.5])
    assert R.main(["--out", str(tmp_path), "--networks", "mnist", "--no-progress"]) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_subset_is_fixed_and_in_file_order():
    ds = _split(50, 3)
    a, b = subset(ds, 20, 7, 0), subset(ds, 20, 7, 0)
    assert len(a) == 20 and np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    rows = [int(np.flatnonzero((ds.x == x).all(axis=(1, 2, 3)))[0]) for x in a.x]
    assert rows == sorted(rows)
    assert subset(ds, None, 7, 0) is ds and subset(ds, 500, 7, 0) is ds


THREE_MODES = ("none", "table", "schedule:finegrained:2")


def test_three_delay_modes_train_and_the_table_shows_their_cost(tmp_path, nets):
    specs = _grid(seeds=2, epochs=1, modes=THREE_MODES)
    assert len(specs) == 12 and {s.folder.split("/")[1] for s in specs if s.seed == 0} >= {
        "sgd-none-s0", "adam-table-s0", "adam-schedule-finegrained-2-s0"}
    assert _reproduce(specs, nets, tmp_path, THREE_MODES) == specs
    table = json.loads((tmp_path / "table2.json").read_text())
    for row in table["rows"]:
        assert row["none_runs"] == row["table_runs"] == row["schedule-finegrained-2_runs"] == 2
        for k in ("table", "schedule-finegrained-2"):
            assert row[f"{k}_cost_pairs"] == 2
            assert row[f"{k}_cost_ci95_low"] <= row[f"{k}_cost_mean"] <= row[f"{k}_cost_ci95_high"]
    md = (tmp_path / "table2.md").read_text()
    assert "Finegrained P=2 delays: final" in md and "Cost of the delays" in md and "| finegrained P=2 delays |" in md
    # the schedule mode trained with the scheduler's delays (6 would be finegrained:4's; P=2 gives 2, 0, 0)
    saved = json.loads(np.load(tmp_path / specs[2].folder / "checkpoint.npz")["meta"].item())["config"]
    assert specs[2].delays == "schedule:finegrained:2" and saved["delays"] == [2, 0, 0]


def test_delay_cost_is_paired_by_seed_with_a_t_interval(tmp_path):
    stats = pytest.importorskip("scipy.stats")
    specs = _grid(seeds=4, epochs=2, modes=THREE_MODES)
    rng = np.random.default_rng(1)
    accs = {}
    for spec in specs:
        if spec.optimizer == "sgd" and spec.delays == "none" and spec.seed == 3:
            continue  # seed 3 has no baseline in sgd: its delayed runs pair with nothing
        accs[spec.folder] = rng.uniform(0.3, 0.9, 2).tolist()
        _fake_run(spec, tmp_path, accs[spec.folder])
    rows, _ = R.summarize(specs, tmp_path)
    for row in rows:
        for mode in THREE_MODES[1:]:
            def final(d: str, seed: int) -> float | None:
                key = f"tiny/{row['optimizer']}-{mode_key(d)}-s{seed}"
                return 100 * accs[key][-1] if key in accs else None

            diffs = np.array([final(mode, s) - final("none", s) for s in range(4) if final("none", s) is not None])
            k = mode_key(mode)
            half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
            assert row[f"{k}_cost_pairs"] == len(diffs) == (3 if row["optimizer"] == "sgd" else 4)
            assert row[f"{k}_cost_mean"] == pytest.approx(diffs.mean())
            assert row[f"{k}_cost_std"] == pytest.approx(diffs.std(ddof=1))
            assert row[f"{k}_cost_ci95_low"] == pytest.approx(diffs.mean() - half, abs=1e-3)
            assert row[f"{k}_cost_ci95_high"] == pytest.approx(diffs.mean() + half, abs=1e-3)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 60), 100, 1000, 10**6]:
        assert R.t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=5e-5)
    with pytest.raises(ValueError):
        R.t_quantile_975(0)


def test_firing_init_and_finetune_epochs_in_the_grid(tmp_path, nets):
    specs = _grid(seeds=1, epochs=1, modes=("none", "table"), init="firing", finetune_epochs=1)
    assert [s.folder for s in specs] == ["tiny/sgd-none-firing-s0", "tiny/sgd-table-firing-s0",
                                         "tiny/adam-none-firing-s0", "tiny/adam-table-firing-s0"]
    assert _reproduce(specs, nets, tmp_path) == specs
    for spec in specs:
        hist = run_history(spec, tmp_path)
        assert [h["finetune"] for h in hist] == [False, True]
        assert all(r > 0 for r in hist[0]["step0_firing_rates"])
    row = json.loads((tmp_path / "table2.json").read_text())["rows"][0]
    assert (row["epochs"], row["finetune_epochs"], row["init"]) == (1, 1, "firing")
    assert "1 + 1" in (tmp_path / "table2.md").read_text()
    more = _grid(seeds=1, epochs=1, modes=("none", "table"), init="firing", finetune_epochs=2)
    assert _reproduce(more, nets, tmp_path) == more  # resumed, one more
    assert all([h["finetune"] for h in run_history(s, tmp_path)] == [False, True, True] for s in more)


def test_committed_runs_still_match_their_identity():
    """Runs recorded before the init and fine-tuning options existed are still the same runs."""
    folder = Path(__file__).parents[1] / "benchmarks" / "results" / "table2-short" / "mnist" / "adam-table-s0"
    recorded = json.loads((folder / RUN_FILE).read_text())
    spec = RunSpec(**recorded, epochs=1)
    assert spec.folder == "mnist/adam-table-s0" and spec.identity() == recorded


def test_bad_delay_modes_fail_in_one_line(capsys):
    for bad in ("table,none", "none,schedule:x", "none,sometimes"):
        assert R.main(["--networks", "mnist", "--delays", bad, "--plan", "--out", "/nonexistent/x"]) == 2
        err = capsys.readouterr().err
        assert "--delays" in err and len(err.strip().splitlines()) == 1
