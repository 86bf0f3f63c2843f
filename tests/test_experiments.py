"""Experiments: grids, stable keys, the resumable runner on every executor, reports."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.cost import ArrayConfig, network_cost
from simulator.experiments import (KINDS, Status, experiment_from_dict, load_experiment, point_key, read_results,
                                   register, run)
from simulator.experiments.executors import open_pool
from simulator.experiments.points import des_point, schedule_point
from simulator.experiments.report import figures, pareto_front, results_table, summary_table
from simulator.experiments.results import PointRecord, ResultsFile
from simulator.schedule import make_schedule
from workloads import ConfigError, load_network

ROOT = Path(__file__).resolve().parent.parent

DES_GRID = {"name": "bus", "seed": 3, "kind": "des",
            "fixed": {"network": "mnist", "minibatches": 12},
            "vary": {"procs": [2, 4], "scheduler": ["layerwise", "finegrained"], "bandwidth": ["inf", 2.0]}}


@pytest.fixture
def test_kind():
    """Register point kinds from this module for one test."""
    names = []

    def add(name: str, function, warmup=None) -> None:
        register(name, f"{__name__}:{function.__name__}", None if warmup is None else f"{__name__}:{warmup.__name__}")
        names.append(name)

    yield add
    for name in names:
        del KINDS[name]


def _outcomes(records):
    """Records without their wall time, by key."""
    return {r.key: {**r.as_json(), "seconds": None} for r in records}


def _point_lines(path: Path) -> list[dict]:
    return [obj for obj in map(json.loads, path.read_text().splitlines()) if obj["type"] == "point"]


# -- grids and keys -----------------------------------------------------------------------------------

def test_keys_do_not_depend_on_dict_order():
    a = experiment_from_dict(DES_GRID)
    reordered = {"vary": {"bandwidth": ["inf", 2.0], "scheduler": ["layerwise", "finegrained"], "procs": [2, 4]},
                 "fixed": {"minibatches": 12, "network": "mnist"}, "kind": "des", "seed": 3, "name": "bus"}
    b = experiment_from_dict(reordered)
    assert {(p.key, p.seed) for p in a.points()} == {(p.key, p.seed) for p in b.points()}
    assert point_key("x", 0, "des", {"procs": 2, "batch": 1}) == point_key("x", 0, "des", {"batch": 1, "procs": 2})
    # the key covers the experiment's name and seed and the parameters' types
    assert point_key("x", 0, "des", {"procs": 2}) != point_key("x", 1, "des", {"procs": 2})
    assert point_key("x", 0, "des", {"procs": 2}) != point_key("y", 0, "des", {"procs": 2})
    assert point_key("x", 0, "des", {"v": 1}) != point_key("x", 0, "des", {"v": 1.5})
    assert len({p.seed for p in a.points()}) == len(a.points())


def test_grid_order_defaults_and_seeds():
    points = experiment_from_dict(DES_GRID).points()
    assert len(points) == 8
    assert [(p.params["procs"], p.params["scheduler"], p.params["bandwidth"]) for p in points[:3]] == \
        [(2, "layerwise", "inf"), (2, "layerwise", 2.0), (2, "finegrained", "inf")]
    assert points[0].params["array"] == "32x32" and points[0].params["latency"] == 0  # the kind's defaults
    again = experiment_from_dict(DES_GRID).points()
    assert [(p.key, p.seed) for p in again] == [(p.key, p.seed) for p in points]
    other_seed = experiment_from_dict({**DES_GRID, "seed": 4}).points()
    assert not {p.seed for p in other_seed} & {p.seed for p in points}


@pytest.mark.parametrize("text, culprit", [
    ('name = "g"\nseed = 0\nkind = "des"\nfixd = {}\n', "unknown field 'fixd'"),
    ('name = "g"\nseed = 0\nkind = "desk"\n', "field 'kind' must be one of"),
    ('name = "g"\nseed = -1\nkind = "des"\n', "field 'seed'"),
    ('seed = 0\nkind = "des"\n', "field 'name' is missing"),
    ('name = "g"\nseed = 0\nkind = "des"\n[vary]\nproc = [2, 4]\n', "no parameter 'proc'"),
    ('name = "g"\nseed = 0\nkind = "des"\n[vary]\nprocs = []\n', "vary parameter 'procs'"),
    ('name = "g"\nseed = 0\nkind = "des"\n[vary]\nprocs = 4\n', "vary parameter 'procs'"),
    ('name = "g"\nseed = 0\nkind = "des"\n[vary]\nprocs = [2, 2]\n', "lists a value twice"),
    ('name = "g"\nseed = 0\nkind = "des"\n[fixed]\nprocs = 2\n[vary]\nprocs = [4]\n', "both fixed and varied"),
    ('name = "g"\nseed = 0\nkind = "des"\n[fixed]\nbandwidth = inf\n', "must be finite"),
    ('name = "g"\nseed = 0\nkind = "des"\n[fixed]\nnetwork = [1]\n', "fixed parameter 'network'"),
    ('name = "g"\nseed = 0\nkind = "des"\n[fixed\n', "grid file"),
])
def test_bad_grid_file_is_one_line_config_error(tmp_path, text, culprit):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert culprit in str(err.value) and "\n" not in str(err.value)


def test_grid_file_round_trip(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('name = "bus"\nseed = 3\nkind = "des"\n[fixed]\nnetwork = "mnist"\nminibatches = 12\n'
                    '[vary]\nprocs = [2, 4]\nscheduler = ["layerwise", "finegrained"]\nbandwidth = ["inf", 2.0]\n')
    assert [p.key for p in load_experiment(path).points()] == [p.key for p in experiment_from_dict(DES_GRID).points()]
    with pytest.raises(ConfigError, match="must be .toml or .json"):
        load_experiment(tmp_path / "grid.yaml")


# -- point functions ------------------------------------------------------------------------------------

def test_point_functions_agree_with_the_apis():
    s = make_schedule("layerwise", network_cost(load_network("mnist"), ArrayConfig(32, 32), 1), 2)
    r = schedule_point(network="mnist", procs=2, scheduler="layerwise")
    assert r["cycles_per_update"] == s.cycles_per_update == 26706  # NOTES: layer-wise, P = 2
    assert r["total_cycles"] == 46956 and r["speedup"] == pytest.approx(46956 / 26706)
    assert r["delays"] == " ".join(map(str, s.delays))
    assert schedule_point(network="mnist", batch=4, procs=2, scheduler="layerwise")["cycles_per_sample"] == \
        pytest.approx(make_schedule("layerwise", network_cost(load_network("mnist"), ArrayConfig(32, 32), 4),
                                    2).cycles_per_update / 4)
    free = des_point(procs=4, minibatches=20)
    assert free["simulated_cycles_per_update"] == free["analytic_cycles_per_update"]  # a free bus keeps the schedule's pace
    slow = des_point(procs=4, minibatches=20, bandwidth=0.5, latency=100)
    assert slow["simulated_cycles_per_update"] > free["simulated_cycles_per_update"] and slow["slowdown"] > 1


# -- the runner -----------------------------------------------------------------------------------------

def test_serial_process_pool_and_dask_give_the_same_records(tmp_path):
    pytest.importorskip("distributed")
    exp = experiment_from_dict(DES_GRID)
    serial = run(exp, tmp_path / "serial.jsonl", workers=1, progress=False)
    pool = run(exp, tmp_path / "pool.jsonl", workers=2, progress=False)
    dask = run(exp, tmp_path / "dask.jsonl", dask="local:2", progress=False)
    assert serial.complete and serial.failed == 0 and serial.computed == 8
    assert [r.key for r in serial.records] == [p.key for p in exp.points()]  # grid order
    assert _outcomes(serial.records) == _outcomes(pool.records) == _outcomes(dask.records)
    assert _outcomes(read_results(tmp_path / "dask.jsonl").records.values()) == _outcomes(serial.records)
    sessions = read_results(tmp_path / "dask.jsonl").sessions
    assert len(sessions) == 1 and "Dask" in sessions[0]["executor"] and sessions[0]["environment"]["numpy"]
    assert sessions[0]["packages"]["simpy"] and sessions[0]["packages"]["distributed"]
    again = run(exp, tmp_path / "pool.jsonl", workers=2, progress=False)  # all done: nothing runs
    assert (again.computed, again.skipped) == (0, 8) and len(_point_lines(tmp_path / "pool.jsonl")) == 8


def test_failing_point_is_recorded_and_the_others_finish(tmp_path):
    grid = {"name": "fail", "seed": 0, "kind": "schedule", "vary": {"procs": [2, 100000, 4]}}
    exp = experiment_from_dict(grid)
    out = run(exp, tmp_path / "r.jsonl", workers=2, progress=False)
    assert [r.status for r in out.records] == [Status.OK, Status.FAILED, Status.OK] and out.failed == 1
    bad = out.records[1]
    assert bad.error.startswith("ConfigError: procs: 100000 processors") and "\n" not in bad.error
    assert bad.result == {} and bad.params["procs"] == 100000
    assert run(exp, tmp_path / "r.jsonl", workers=1, progress=False).computed == 0  # a failure counts as done
    retried = run(exp, tmp_path / "r.jsonl", workers=1, progress=False, retry_failed=True)
    assert retried.computed == 1 and retried.failed == 1
    assert len(read_results(tmp_path / "r.jsonl").records) == 3  # the retried point's last record counts


def test_point_function_must_return_a_flat_record(tmp_path, test_kind):
    test_kind("echoing", echoing_point)
    out = run(experiment_from_dict({"name": "e", "seed": 0, "kind": "echoing", "vary": {"n": [1, 2, 3]}}),
              tmp_path / "r.jsonl", workers=1, progress=False)
    assert [r.status for r in out.records] == [Status.OK, Status.FAILED, Status.FAILED]
    assert out.records[0].result == {"twice": 2, "seed_parity": out.records[0].seed % 2}
    assert "'n', which is also a parameter" in out.records[1].error
    assert "field 'twice' is list" in out.records[2].error


def echoing_point(*, n: int, seed: int) -> dict:
    if n == 2:
        return {"n": n}
    return {"twice": 2 * n if n == 1 else [n], "seed_parity": seed % 2}


INTERRUPT_AT: list[int] = []


def interrupting_point(*, n: int, seed: int) -> dict:
    if n in INTERRUPT_AT:  # Ctrl-C while this point runs
        raise KeyboardInterrupt
    return {"value": seed % 1000 + n}


def test_interrupted_sweep_resumes_without_duplicates(tmp_path, test_kind):
    test_kind("interrupting", interrupting_point)
    exp = experiment_from_dict({"name": "i", "seed": 5, "kind": "interrupting", "vary": {"n": list(range(6))}})
    INTERRUPT_AT.append(3)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(exp, tmp_path / "r.jsonl", workers=1, progress=False)
    finally:
        INTERRUPT_AT.clear()
    assert len(_point_lines(tmp_path / "r.jsonl")) == 3  # the points before the interrupt are kept
    resumed = run(exp, tmp_path / "r.jsonl", workers=1, progress=False)
    reference = run(exp, tmp_path / "reference.jsonl", workers=1, progress=False)
    assert (resumed.computed, resumed.skipped) == (3, 3) and resumed.complete
    keys = [obj["key"] for obj in _point_lines(tmp_path / "r.jsonl")]
    assert sorted(keys) == sorted(p.key for p in exp.points())  # each once
    assert _outcomes(resumed.records) == _outcomes(reference.records)
    assert len(read_results(tmp_path / "r.jsonl").sessions) == 2


def slow_point(*, n: int, seed: int) -> dict:
    time.sleep(0.05)
    return {"value": seed % 1000 + n}


SWEEP_SCRIPT = """
import sys
from simulator.experiments import experiment_from_dict, register, run
path, function, points, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
register(function, "test_experiments:" + function)
try:
    run(experiment_from_dict({"name": "k", "seed": 1, "kind": function, "vary": {"n": list(range(points))}}),
        path, workers=workers, progress=False)
except KeyboardInterrupt:
    sys.exit("interrupted")
"""


def _start_sweep(results: Path, function, points: int, workers: int) -> subprocess.Popen:
    """The sweep in another process (its own process group, like a terminal's job), once it has recorded a point."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    proc = subprocess.Popen([sys.executable, "-c", SWEEP_SCRIPT, str(results), function.__name__, str(points),
                             str(workers)], env=env, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b'"type":"point"') >= 3:
            return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"the sweep ended or stalled before it recorded 3 points: {proc.communicate()[1]!r}")


def test_killed_sweep_resumes_to_the_same_records(tmp_path, test_kind):
    results = tmp_path / "r.jsonl"
    proc = _start_sweep(results, slow_point, 40, 1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    before = len(_point_lines(results))
    assert 3 <= before < 40
    test_kind("slow_point", slow_point)
    exp = experiment_from_dict({"name": "k", "seed": 1, "kind": "slow_point", "vary": {"n": list(range(40))}})
    with results.open("ab") as fh:  # and a crash in the middle of a write
        fh.write(b'{"type":"point","key":"0123')
    resumed = run(exp, results, workers=2, progress=False)
    assert resumed.truncated_bytes == len(b'{"type":"point","key":"0123')
    assert resumed.complete and resumed.computed == 40 - before
    assert sorted(obj["key"] for obj in _point_lines(results)) == sorted(p.key for p in exp.points())
    assert [r.result["value"] for r in resumed.records] == [p.seed % 1000 + p.index for p in exp.points()]


def test_partial_and_corrupt_lines(tmp_path):
    exp = experiment_from_dict({"name": "p", "seed": 0, "kind": "schedule", "vary": {"procs": [1, 2, 3]}})
    results = tmp_path / "r.jsonl"
    full = run(exp, results, workers=1, progress=False)
    lines = results.read_bytes().splitlines(keepends=True)
    results.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])  # the last record cut mid-way
    assert len(read_results(results).records) == 2 and read_results(results).tail_bytes == 25
    again = run(exp, results, workers=1, progress=False)
    assert again.computed == 1 and again.truncated_bytes == 25
    assert _outcomes(again.records) == _outcomes(full.records)
    results.write_bytes(results.read_bytes() + b"garbage\n")  # a corrupt last line, with its line end
    assert run(exp, results, workers=1, progress=False).truncated_bytes == len(b"garbage\n")
    lines = results.read_bytes().splitlines(keepends=True)
    results.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))  # damage before the end is not guessed at
    with pytest.raises(ConfigError, match=r"line 2 is not a record"):
        run(exp, results, workers=1, progress=False)


def test_one_runner_per_results_file(tmp_path):
    with ResultsFile(tmp_path / "r.jsonl"):
        with pytest.raises(ConfigError, match="another runner is writing it"):
            ResultsFile(tmp_path / "r.jsonl")
    with ResultsFile(tmp_path / "r.jsonl"):  # released on close
        pass


def test_a_results_file_that_cannot_be_made_names_itself(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError) as err:  # the CLI's edge turns it into one line (exit 74)
        run(experiment_from_dict({"name": "a", "seed": 0, "kind": "schedule"}), tmp_path / "file" / "r.jsonl",
            workers=1, progress=False)
    assert err.value.action == "create" and err.value.filename == str(tmp_path / "file" / "r.jsonl")


def test_results_file_of_another_experiment_is_refused(tmp_path):
    run(experiment_from_dict({"name": "a", "seed": 0, "kind": "schedule"}), tmp_path / "r.jsonl", workers=1,
        progress=False)
    with pytest.raises(ConfigError, match=r"holds experiment 'a' \(seed 0, kind schedule\), not 'b'"):
        run(experiment_from_dict({"name": "b", "seed": 0, "kind": "schedule"}), tmp_path / "r.jsonl", workers=1,
            progress=False)
    with pytest.raises(ConfigError, match=r"not 'a' \(seed 1, kind schedule\)"):
        run(experiment_from_dict({"name": "a", "seed": 1, "kind": "schedule"}), tmp_path / "r.jsonl", workers=1,
            progress=False)
    extended = run(experiment_from_dict({"name": "a", "seed": 0, "kind": "schedule", "vary": {"procs": [4, 2]}}),
                   tmp_path / "r.jsonl", workers=1, progress=False)  # a grown grid keeps the finished point
    assert (extended.computed, extended.skipped) == (1, 1)


def test_executor_choice():
    kind = KINDS["schedule"]
    with pytest.raises(ConfigError, match="workers or dask, not both"):
        with open_pool(kind, workers=2, dask="local"):
            pass
    with pytest.raises(ConfigError, match="workers: must be a positive integer"):
        with open_pool(kind, workers=0):
            pass
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match="'local:N' needs a positive integer"):  # taken from the environment
        with open_pool(kind, environ={"DASK_SCHEDULER_ADDRESS": "local:two"}):
            pass
    with open_pool(kind, workers=1, environ={"DASK_SCHEDULER_ADDRESS": "local:two"}) as pool:  # workers wins
        assert pool.capacity == 1


# -- reports --------------------------------------------------------------------------------------------

def _record(key: str, params: dict, result: dict, status: Status = Status.OK) -> PointRecord:
    return PointRecord(key, "x", 0, params, status, result, None if status is Status.OK else "E: e", 0.1)


def test_pareto_front():
    pts = [(1.0, 5.0), (2.0, 3.0), (2.5, 4.0), (3.0, 1.0), (4.0, 1.0), (1.0, 6.0)]
    assert pareto_front(pts) == [(1.0, 5.0), (2.0, 3.0), (3.0, 1.0)]


def test_report_without_and_with_energy():
    records = [_record(f"k{p}{s}", {"procs": p, "scheduler": s, "batch": 1},
                       {"cycles_per_sample": 1000.0 / p * (1 if s == "a" else 2), "speedup": p / 2})
               for p in (1, 2, 4, 8, 16, 32) for s in ("a", "b")]
    records.append(_record("bad", {"procs": 64, "scheduler": "a", "batch": 1}, {}, Status.FAILED))
    rows = results_table(records)
    assert len(rows) == 13 and all(list(row) == list(rows[0]) for row in rows)  # one header fits all
    assert list(rows[0])[:5] == ["key", "status", "procs", "scheduler", "batch"]
    assert list(rows[0])[-2:] == ["error", "seconds"]
    assert rows[-1]["status"] == "failed" and rows[-1]["speedup"] is None and rows[-1]["error"] == "E: e"
    header, rows = summary_table(records)
    assert header == ["procs", "scheduler", "throughput (samples per 10^6 cycles)", "speedup (x)"]
    assert rows[0][:3] == [32, "a", pytest.approx(32000.0)] and len(rows) == 12
    figs = figures(records)
    assert sorted(figs) == ["throughput-procs", "throughput-scheduler"]  # no energy: no energy panel, no Pareto
    ax = figs["throughput-procs"].axes[0]
    assert ax.get_xscale() == "log" and len(ax.get_lines()) == 2  # a line per scheduler
    with_energy = [_record(r.key, r.params, {**r.result, "seconds_per_sample": r.result["cycles_per_sample"] / 1e9,
                                             "energy_per_sample": r.result["cycles_per_sample"] ** -0.5})
                   for r in records[:-1]]
    figs = figures(with_energy)
    assert sorted(figs) == ["pareto", "throughput-energy-procs", "throughput-energy-scheduler"]
    assert len(figs["throughput-energy-procs"].axes) == 2
    header, rows = summary_table(with_energy)  # samples/s when the records have seconds per sample
    assert header[2:] == ["throughput (samples/s)", "speedup (x)", "energy per sample (J)"]
    assert rows[0][:3] == [32, "a", pytest.approx(32e6)] and rows[0][-1] == pytest.approx((1000 / 32) ** -0.5)
    pareto = figs["pareto"].axes[0]  # time per sample in seconds against energy
    assert pareto.get_xlabel() == "time per sample (s)"
    front = pareto.get_lines()[0].get_xydata()
    assert front[0] == pytest.approx([1000 / 32 / 1e9, (1000 / 32) ** -0.5])
    assert figures([]) == {} and summary_table([]) == ([], [])


def stalling_point(*, n: int) -> dict:
    time.sleep(0.01 if n < 3 else 60)
    return {"value": n}


@pytest.mark.parametrize("whom", ["process group", "runner"])
def test_ctrl_c_stops_a_process_pool_at_once(tmp_path, whom):
    results = tmp_path / "r.jsonl"
    proc = _start_sweep(results, stalling_point, 8, 2)
    time.sleep(0.5)  # both workers inside a 60 s point
    start = time.monotonic()
    if whom == "process group":  # Ctrl-C at a terminal
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 20  # the running and queued points were stopped, not waited for
    assert proc.returncode == 1 and err.decode().strip() == "interrupted"  # one line, no worker tracebacks
    assert sorted(obj["params"]["n"] for obj in _point_lines(results)) == [0, 1, 2]


def dying_point(*, n: int) -> dict:
    if n == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies (as if out of memory)
    time.sleep(0.2)
    return {"value": n}


def test_a_dead_worker_fails_its_points_and_the_sweep_goes_on(tmp_path, test_kind):
    test_kind("dying_point", dying_point)
    exp = experiment_from_dict({"name": "d", "seed": 0, "kind": "dying_point", "vary": {"n": list(range(12))}})
    out = run(exp, tmp_path / "r.jsonl", workers=2, progress=False)
    assert out.complete
    assert out.records[1].status is Status.FAILED and out.records[1].error.startswith("BrokenProcessPool")
    assert out.records[-1].status is Status.OK  # submitted to a fresh pool
    assert all(r.result == {"value": i} for i, r in enumerate(out.records) if r.status is Status.OK)


WARM_UPS = 0


def count_warm_up() -> None:
    global WARM_UPS
    WARM_UPS += 1


def warmed_point(*, n: int) -> dict:
    return {"warm_ups": WARM_UPS, "process": os.getpid()}


@pytest.fixture
def dask_scheduler():
    """The address of a running Dask cluster of two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("where", [{"workers": 1}, {"workers": 2}, {"dask": "scheduler"}])
def test_warm_up_runs_once_per_worker_before_its_first_point(tmp_path, test_kind, where, request):
    if "dask" in where:
        where = {"dask": request.getfixturevalue("dask_scheduler")}  # a running cluster, by its address
    global WARM_UPS
    WARM_UPS = 0
    test_kind("warmed_point", warmed_point, warmup=count_warm_up)
    exp = experiment_from_dict({"name": "w", "seed": 0, "kind": "warmed_point", "vary": {"n": list(range(12))}})
    out = run(exp, tmp_path / "r.jsonl", progress=False, **where)
    assert [r.result["warm_ups"] for r in out.records] == [1] * 12
    processes = {r.result["process"] for r in out.records}
    assert len(processes) <= (1 if where == {"workers": 1} else 2)
    assert (os.getpid() in processes) == (where == {"workers": 1})


def failing_warm_up() -> None:
    raise RuntimeError("no compiler")


def test_a_pool_whose_workers_cannot_start_is_one_config_error(tmp_path, test_kind):
    test_kind("cold_point", warmed_point, warmup=failing_warm_up)
    exp = experiment_from_dict({"name": "c", "seed": 0, "kind": "cold_point", "vary": {"n": [1, 2, 3]}})
    with pytest.raises(ConfigError, match="worker processes died on start"):
        run(exp, tmp_path / "r.jsonl", workers=2, progress=False)
    assert not _point_lines(tmp_path / "r.jsonl")  # no point was charged with it
    with pytest.raises(RuntimeError, match="no compiler"):  # in this process the warm-up's own error shows
        run(exp, tmp_path / "r.jsonl", workers=1, progress=False)


def numba_interrupted_point(*, n: int) -> dict:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:  # what numba raises when Ctrl-C lands inside a kernel
        raise SystemError("<numba.core.dispatcher> returned a result with an exception set") from exc


def test_ctrl_c_inside_a_numba_kernel_is_an_interrupt_not_a_failed_point(tmp_path, test_kind):
    test_kind("numba_interrupted_point", numba_interrupted_point)
    exp = experiment_from_dict({"name": "n", "seed": 0, "kind": "numba_interrupted_point", "fixed": {"n": 1}})
    with pytest.raises(KeyboardInterrupt):
        run(exp, tmp_path / "r.jsonl", workers=1, progress=False)
    assert not _point_lines(tmp_path / "r.jsonl")
