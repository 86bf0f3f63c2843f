"""Fault injection: every fault ends as one line naming the culprit and an exit code, never a traceback.

Classes (README.md, 'Exit codes'): mutated network files through the loader and the CLI;
bad options and paths; corrupted checkpoints; a changed run on --resume; two writers on one
run folder; a full disk; Ctrl-C inside a numba kernel; numbers that cannot be true (shares
of the simulated machine); one JSON document on stdout under --json.
"""
from __future__ import annotations

import copy
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import models.run_folder as RF
from models.train import TrainConfig
from simulator.cli import main
from simulator.cost import ArrayConfig, network_cost
from simulator.des import link_machine, simulate
from simulator.exits import Exit, is_interrupt, run_guarded
from simulator.schedule import SCHEDULERS, make_schedule
from workloads import MNIST, ConfigError, load_network, network_from_dict
from workloads.datasets import ArrayDataset, DatasetSplits
from workloads.datasets import get_dataset as real_get_dataset
from workloads.network import MAX_SIZE

ROOT = Path(__file__).resolve().parents[1]
TINY = {"name": "tiny", "timesteps": 3, "input": [6, 6, 1], "input_kind": "current",
        "neuron": {"c": 4.0, "lam": 0.25, "threshold": 0.5, "alpha": 0.5},
        "layers": [{"type": "conv", "filters": 3, "kernel": 3, "padding": 1, "delay": 1},
                   {"type": "maxpool", "size": 2},
                   {"type": "dense", "units": 8, "name": "fc"},
                   {"type": "output", "units": 3}]}
NET = network_from_dict(TINY)


def _data(n: int, seed: int) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int64)
    x = (rng.random((n, 6, 6, 1)) * (0.3 + 0.3 * y[:, None, None, None])).astype(np.float32)
    return ArrayDataset("toy", x, y, "image")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`spikepipe argv` in this process -> (exit code, stdout, stderr); whatever escapes main fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    assert isinstance(code, int)
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    """The single line a failure prints (no traceback, nothing else)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def fails(argv: list[str], code: int, *culprits: str) -> str:
    """Run `argv`, expect exit `code` and one stderr line naming every culprit."""
    got, _, err = run_cli(argv)
    assert got == code, (got, err)
    line = one_line(err)
    for culprit in culprits:
        assert culprit in line, (culprit, line)
    return line


@pytest.fixture
def toy_datasets(monkeypatch):
    """`get_dataset` of the CLI without files: 'toy' (48 train / 16 test) and 'no-test' (an empty test split)."""
    import simulator.cli.simulate as sim_cli
    import workloads.datasets as D

    def fake(name, data_dir=None, seed=0, **_):
        test = _data(16, 2) if name != "no-test" else ArrayDataset("no-test", np.zeros((0, 6, 6, 1), np.float32),
                                                                     np.zeros(0, np.int64), "image")
        return DatasetSplits(_data(48, 1), test, True, "toy stand-in")

    monkeypatch.setattr(D, "get_dataset", fake)
    monkeypatch.setattr(sim_cli, "get_dataset", fake)


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


# -- class 1: mutated network files ----------------------------------------------------------------

JUNK = st.one_of(
    st.integers(1, 9),  # often still a valid network: the accepted path runs too
    st.none(), st.booleans(), st.integers(-10**30, 10**30),
    st.sampled_from([0, -1, 10**12, 2**63, 10**100, MAX_SIZE + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "inf", "-1", "", "conv", "output", "1e309", "current"]), st.text(max_size=4),
    st.lists(st.integers(-3, 40), max_size=4), st.dictionaries(st.sampled_from(["type", "units", "x"]),
                                                              st.integers(-2, 9), max_size=2))


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a parsed document a value sits."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    out = []
    for key, value in items:
        out.append(prefix + (key,))
        out += _paths(value, prefix + (key,))
    return out


@st.composite
def mutated_networks(draw: st.DrawFn) -> dict:
    """TINY with 1-3 mutations: a value replaced by junk, a key dropped, a value nested, a key added."""
    doc = copy.deepcopy(TINY)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key, how = path[-1], draw(st.sampled_from(["replace", "drop", "nest", "add"]))
        if how == "replace":
            parent[key] = draw(JUNK)
        elif how == "drop":
            del parent[key]
        elif how == "nest":
            for _ in range(draw(st.sampled_from([1, 2, 40]))):
                parent[key] = [parent[key]] if draw(st.booleans()) else {"type": parent[key]}
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "type", "units", "filters", "size"]))] = draw(JUNK)
        else:
            parent.append(draw(JUNK))
    return doc


@settings(max_examples=400, deadline=None)
@given(mutated_networks())
def test_mutated_network_dicts_build_or_raise_config_error(doc) -> None:
    try:
        net = network_from_dict(doc)
    except ConfigError as exc:
        event("refused")
        assert "\n" not in str(exc)
    else:
        event("accepted")
        assert net.compute_layers()[-1].kind == "output"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=mutated_networks(), command=st.sampled_from(["cycles", "schedule", "simulate"]))
def test_mutated_network_files_through_the_cli(tmp_path, doc, command) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(doc))
    try:
        load_network(path)
        ok = True
    except ConfigError:
        ok = False
    event("accepted" if ok else "refused")
    extra = {"cycles": [], "schedule": ["--procs", "2"],  # a lone output layer has 2 slices (FP, WG)
             "simulate": ["--procs", "2", "--minibatches", "4", "--scheduler", "split"]}[command]
    code, out, err = run_cli([command, "--network", path, "--json", *extra])
    if ok:
        assert code == 0 and json.loads(out), err
    else:
        assert code == Exit.BAD_INPUT
        assert one_line(err).startswith(f"spikepipe {command}: error: network file {path}")


DEEP = 100_000
FIXED_FILES = [  # (suffix, text, what the line names)
    (".json", "[" * DEEP + "]" * DEEP, "nested too deeply"),
    (".json", json.dumps({**TINY, "layers": [[[[["x"]]]]]}), "layer 0: must be a table"),
    (".toml", "a = " + "[" * DEEP + "]" * DEEP, "nested too deeply"),
    (".json", json.dumps({**TINY, "layers": [{"type": ["conv"], "filters": 4}, {"type": "output", "units": 3}]}),
     "unknown layer type ['conv']"),
    (".json", json.dumps({**TINY, "layers": [{"type": {"k": "conv"}, "filters": 4}]}), "unknown layer type"),
    (".json", json.dumps({**TINY, "layers": [{"type": "conv", "filters": 10**12}, {"type": "output", "units": 3}]}),
     "field 'filters' must be at most"),
    (".json", json.dumps({**TINY, "timesteps": 10**9}), "field 'timesteps' must be at most"),
    (".json", json.dumps({**TINY, "input": [65536, 65536, 4096]}), "field 'input' neurons"),
    (".json", json.dumps({**TINY, "input": [65537, 6, 1]}), "field 'input' must be at most 65,536"),
    (".json", json.dumps({**TINY, "layers": [{"type": "dense", "units": 65536}] * 3 + [{"type": "output", "units": 3}],
                          "input": [1 << 20]}), "weights"),
    (".json", json.dumps({**TINY, "neuron": {"c": float("nan")}}), "neuron: field 'c' must be a finite number"),
    (".json", json.dumps({**TINY, "neuron": {"lam": float("inf")}}), "neuron: field 'lam' must be a finite number"),
    (".json", json.dumps({**TINY, "neuron": {"threshold": "NaN"}}), "neuron: field 'threshold'"),
    (".toml", "timesteps = 3\ninput = [6, 6, 1]\n[neuron]\nalpha = nan\n[[layers]]\ntype = 'output'\nunits = 3\n",
     "neuron: field 'alpha' must be a finite number"),
    (".toml", "timesteps = 3\ninput = [6, 6, 1]\n[[layers]]\ntype = ['output']\nunits = 3\n", "unknown layer type"),
    (".json", json.dumps({**TINY, "name": {"n": 1}}), "field 'name' must be a string"),
    (".json", '{"timesteps": 1' + "0" * 5000 + "}", "not valid JSON"),
    (".json", b"\xff\xfe{}", "not UTF-8"),
    (".json", "", "not valid JSON"),
    (".toml", "x = [", "not valid TOML"),
]


@pytest.mark.parametrize("suffix, text, culprit", FIXED_FILES)
def test_hand_made_bad_network_files(tmp_path, suffix, text, culprit) -> None:
    path = tmp_path / f"net{suffix}"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError, match="network file"):
        load_network(path)
    fails(["cycles", "--network", path], Exit.BAD_INPUT, str(path), culprit)


def test_a_network_file_that_is_a_directory_or_unreadable(tmp_path) -> None:
    folder = tmp_path / "net.json"
    folder.mkdir()
    fails(["cycles", "--network", folder], Exit.BAD_INPUT, str(folder), "is a directory")
    unreadable = tmp_path / "mem.json"
    unreadable.symlink_to("/proc/self/mem")  # exists, and read() fails with EIO even as root
    fails(["schedule", "--network", unreadable], Exit.OS_ERROR, f"cannot read {unreadable}")


# -- class 2: options and paths ------------------------------------------------------------------------

def test_bad_options_and_output_paths(tmp_path, tiny_file) -> None:
    cases = [
        (["simulate", "--scheduler", "split", "--minibatches", "4", "--trace", "/proc/x.json"], Exit.OS_ERROR,
         "cannot write /proc/x.json: No such file or directory; choose a writable path"),
        (["simulate", "--scheduler", "split", "--minibatches", "4", "--trace", tmp_path], Exit.BAD_INPUT,
         "--trace", "is a directory"),
        (["simulate", "--scheduler", "split", "--minibatches", "4", "--trace", tiny_file / "x.json"],
         Exit.BAD_INPUT, "--trace", "is a file"),
        (["schedule", "--plot", "x.xyz"], Exit.BAD_INPUT, "--plot", "x.xyz", ".png"),
        (["schedule", "--plot", tmp_path], Exit.BAD_INPUT, "--plot", "is a directory"),
        (["simulate", "--plot", "gantt.xyz", "--minibatches", "4"], Exit.BAD_INPUT, "gantt"),
        (["sweep", "--networks", "mnist", "--procs", "2", "--batches", "1", "--arrays", "32", "--out", tiny_file],
         Exit.BAD_INPUT, "--out", "is a file"),
        (["validate", "--seed", "-1"], Exit.BAD_INPUT, "--seed", "-1"),
        (["simulate", "--functional", "--seed", "-3"], Exit.BAD_INPUT, "--seed"),
        (["train", "--dataset", "toy", "--seed", "-1"], Exit.BAD_INPUT, "--seed"),
        (["cycles", "--batch", "x"], Exit.BAD_INPUT, "--batch", "'x'"),
        (["cycles", "--batch", "0"], Exit.BAD_INPUT, "--batch"),
        (["cycles", "--array", "0x0"], Exit.BAD_INPUT, "array", "rows"),
        (["nonsense"], Exit.BAD_INPUT, "nonsense"),
        (["validate", "--network", "dvs128", "--batch", "1000000"], Exit.BAD_INPUT, "dvs128", "batch 1000000",
         "GiB", "--batch"),
        (["simulate", "--functional", "--scheduler", "split", "--dataset", "x", "--network", "dvs128",
          "--batch", "1000000"], Exit.BAD_INPUT, "needs at least"),
    ]
    for argv, code, *culprits in cases:
        fails(argv, code, *culprits)


def test_training_faults(tmp_path, tiny_file, toy_datasets) -> None:
    base = ["train", "--network", tiny_file, "--epochs", "1", "--no-progress", "--delays", "none"]
    fails([*base, "--dataset", "toy", "--batch", "64", "--out", tmp_path / "a"], Exit.BAD_INPUT,
          "48 training samples make no mini-batch of 64")
    fails([*base, "--dataset", "no-test", "--batch", "8", "--out", tmp_path / "b"], Exit.BAD_INPUT,
          "test split", "empty")
    fails([*base, "--dataset", "toy", "--batch", "8", "--out", tiny_file], Exit.BAD_INPUT, "--out", "is a file")
    fails([*base, "--dataset", "toy", "--batch", "8", "--lr", "1e6", "--out", tmp_path / "c"], Exit.DIVERGED,
          "spikepipe train: stopped: loss", "try a smaller --lr")
    fails(["train", "--network", "dvs128", "--dataset", "toy", "--batch", "1000000", "--out", tmp_path / "d"],
          Exit.BAD_INPUT, "needs at least")


def test_functional_divergence_stops_like_train(tiny_file, toy_datasets) -> None:
    """`simulate --functional --lr 1e6` once exited 0 with a loss of 1.9e9."""
    base = ["simulate", "--functional", "--network", tiny_file, "--dataset", "toy", "--batch", "8", "--procs", "2",
            "--scheduler", "finegrained"]
    fails([*base, "--lr", "1e6"], Exit.DIVERGED, "spikepipe simulate: stopped: loss", "mini-batch",
          "try a smaller --lr")
    fails([*base, "--dataset", "no-test"], Exit.BAD_INPUT, "test split", "empty")
    assert run_cli([*base, "--lr", "0.01"])[0] == Exit.OK


@pytest.mark.parametrize("raised, code, text", [
    (KeyboardInterrupt(), Exit.INTERRUPTED, "interrupted"),
    (SystemError("<built-in function> returned a result with an exception set"), Exit.INTERNAL, "internal error"),
    (RuntimeError("boom\nsecond line"), Exit.INTERNAL, "internal error: RuntimeError: boom second line; please report"),
    (MemoryError(), Exit.OS_ERROR, "out of memory"),
    (OSError(28, "No space left on device"), Exit.OS_ERROR, "No space left on device"),
    (BrokenPipeError(), Exit.OK, None),
])
def test_every_exception_is_one_line(monkeypatch, raised, code, text) -> None:
    import simulator.cli.cycles as cycles

    def boom(args):
        raise raised

    monkeypatch.setattr(cycles, "run", boom)
    monkeypatch.delenv("SPIKEPIPE_DEBUG", raising=False)
    stdout = sys.stdout
    got, _, err = run_cli(["cycles"])
    sys.stdout = stdout  # a broken pipe swaps stdout for devnull
    assert got == code
    if text is None:
        assert err == ""
    else:
        assert text in one_line(err) and one_line(err).startswith("spikepipe cycles: ")


def test_numba_wrapped_interrupt_and_debug_traceback(monkeypatch) -> None:
    def wrapped():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("<numba function> returned a result with an exception set") from exc

    with pytest.raises(SystemError) as info:
        wrapped()
    assert is_interrupt(info.value) and not is_interrupt(SystemError("x")) and not is_interrupt(ValueError())
    err = io.StringIO()
    with redirect_stderr(err):
        assert run_guarded("bench_x", wrapped) == Exit.INTERRUPTED
    assert one_line(err.getvalue()) == "bench_x: interrupted"
    monkeypatch.setenv("SPIKEPIPE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        run_guarded("bench_x", lambda: 1 // 0)


@pytest.mark.parametrize("script, argv, culprit", [
    ("bench_des.py", ["--minibatches", "x"], "--minibatches"),
    ("reproduce_table2.py", ["--networks", "missing.json", "--plan"], "network file missing.json: not found"),
    ("reproduce_table2.py", ["--batch", "0"], "--batch"),
])
def test_benchmark_scripts_share_the_guard(script, argv, culprit) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == Exit.BAD_INPUT
    line = one_line(proc.stderr)
    assert line.startswith(script[:-3]) and culprit in line


# -- class 3: corrupted checkpoints ---------------------------------------------------------------------

CFG = TrainConfig(batch=8, epochs=1, seed=3, delays=(2, 1, 0), lr=0.01, eval_batch=16)


def _train(folder: Path, cfg: TrainConfig = CFG, net=NET, train=None) -> tuple[dict, ...]:
    return RF.train_in_folder(net, train or _data(40, 5), _data(16, 6), cfg, folder, resume=True, progress=False,
                              report=None).history


def _rewrite(path: Path, change) -> None:
    """Rewrite the checkpoint's arrays through `change(arrays)`."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(path, **arrays)


def _meta(change):
    """A corruption that rewrites the checkpoint's `meta` through `change(meta)`."""
    def apply(arrays):
        meta = json.loads(str(arrays["meta"]))
        change(meta)
        arrays["meta"] = np.array(json.dumps(meta))
    return lambda path: _rewrite(path, apply)


CORRUPTIONS = {
    "truncated to half": lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
    "truncated by 10 bytes": lambda p: p.write_bytes(p.read_bytes()[:-10]),
    "empty": lambda p: p.write_bytes(b""),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(len(p.read_bytes()))),
    "bytes flipped inside": lambda p: p.write_bytes(bytes(b ^ 0xFF if 200 <= i < 260 else b
                                                          for i, b in enumerate(p.read_bytes()))),
    "zip of text": lambda p: zipfile.ZipFile(p, "w").writestr("meta.npy", "hello"),
    "meta dropped": lambda p: _rewrite(p, lambda a: a.pop("meta")),
    "meta not JSON": lambda p: _rewrite(p, lambda a: a.__setitem__("meta", np.array("{not json"))),
    "meta without history": _meta(lambda m: m.pop("history")),
    "weights dropped": lambda p: _rewrite(p, lambda a: a.pop("w_1")),
    "weights of another shape": lambda p: _rewrite(p, lambda a: a.__setitem__("w_0", np.zeros((2, 2), np.float32))),
    "Adam's moments dropped": lambda p: _rewrite(p, lambda a: [a.pop(k) for k in list(a) if k.startswith("adam_")]),
    "one Adam slot dropped": lambda p: _rewrite(p, lambda a: a.pop("adam_v_5")),
    "a pending gradient dropped": lambda p: _rewrite(p, lambda a: a.pop("pending_0_1_0")),
    "history rewritten": _meta(lambda m: m.__setitem__("history", [{"epoch": 7}])),
}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_corrupted_checkpoint_is_one_line(tmp_path, how, tiny_file, toy_datasets) -> None:
    folder = tmp_path / "run"

    def train(epochs: int, *more: str) -> list:
        return ["train", "--network", tiny_file, "--dataset", "toy", "--epochs", str(epochs), "--batch", "8",
                "--lr", "0.01", "--delays", "2,1,0", "--no-progress", "--out", folder, *more]

    assert run_cli(train(1))[0] == Exit.OK
    path = folder / RF.CHECKPOINT
    CORRUPTIONS[how](path)
    fails(train(2, "--resume"), Exit.BAD_INPUT, f"checkpoint {path} is damaged", "delete it")


def test_checkpoint_that_cannot_be_read(tmp_path) -> None:
    _train(tmp_path)
    path = tmp_path / RF.CHECKPOINT
    path.unlink()
    path.symlink_to("/proc/self/mem")
    with pytest.raises(OSError) as info:
        RF.load_checkpoint(path)
    assert info.value.filename == str(path) and info.value.action == "read"


# -- class 4: a changed run on --resume -------------------------------------------------------------------

def test_resume_refuses_a_changed_run_listing_the_fields(tmp_path) -> None:
    _train(tmp_path)
    path = tmp_path / RF.CHECKPOINT
    wider = network_from_dict({**TINY, "layers": [{**TINY["layers"][0], "filters": 4}, *TINY["layers"][1:]]})
    changes = [
        (dict(net=wider), ["network_sha256="]),
        (dict(net=network_from_dict({**TINY, "neuron": {"c": 3.0}})), ["network_sha256="]),
        (dict(cfg=TrainConfig(**{**CFG.__dict__, "lr": 0.02})), ["lr=0.01, this run has lr=0.02"]),
        (dict(cfg=TrainConfig(**{**CFG.__dict__, "lr": 0.02, "optimizer": "sgd", "seed": 4})),
         ["lr=0.01, this run has lr=0.02", "optimizer=adam, this run has optimizer=sgd", "seed=3, this run has seed=4"]),
        (dict(cfg=TrainConfig(**{**CFG.__dict__, "delays": (1, 1, 0)})), ["delays=[2, 1, 0], this run has delays=[1, 1, 0]"]),
        (dict(train=_data(48, 5)), ["train_samples=40, this run has train_samples=48", "data_sha256="]),
        (dict(train=_data(40, 9)), ["data_sha256="]),
    ]
    for kwargs, fields in changes:
        with pytest.raises(ConfigError) as info:
            _train(tmp_path, **kwargs)
        text = str(info.value)
        assert text.startswith(f"--resume: checkpoint {path} was made with "), text
        for field in fields:
            assert field in text, (field, text)
    renamed = network_from_dict({**TINY, "name": "renamed"})  # the same network under another name resumes
    assert len(_train(tmp_path, cfg=TrainConfig(**{**CFG.__dict__, "epochs": 2}), net=renamed)) == 2


# -- class 5: two writers on one run folder ------------------------------------------------------------

def test_second_writer_in_this_process_fails_at_once(tmp_path) -> None:
    with RF.folder_lock(tmp_path):
        t0 = time.perf_counter()
        with pytest.raises(ConfigError, match=f"run folder {tmp_path} is in use by process {os.getpid()}"):
            _train(tmp_path)
        assert time.perf_counter() - t0 < 5
    assert len(_train(tmp_path)) == 1  # released


def test_second_writer_across_processes_and_a_dead_holder(tmp_path, tiny_file, toy_datasets) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from models.run_folder import folder_lock
            with folder_lock(Path({str(tmp_path)!r})):
                print("held", flush=True)
                time.sleep(120)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        argv = ["train", "--network", tiny_file, "--dataset", "toy", "--epochs", "1", "--batch", "8",
                "--no-progress", "--out", tmp_path]
        fails(argv, Exit.BAD_INPUT, f"run folder {tmp_path} is in use by process {holder.pid}", "--out")
        holder.kill()  # a holder that dies leaves no stale lock: the kernel drops it
        holder.wait(timeout=30)
        assert run_cli(argv)[0] == Exit.OK
    finally:
        holder.kill()
        holder.wait(timeout=30)


# -- class 6: a full disk -------------------------------------------------------------------------------

@contextmanager
def _full_disk(where: Path):
    """A 1 MiB tmpfs at `where`, filled up; skips the test where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        with open(where / "filler", "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, tiny_file, toy_datasets) -> None:
    with _full_disk(tmp_path / "disk") as disk:
        fails(["simulate", "--scheduler", "split", "--minibatches", "8", "--trace", disk / "t.json"], Exit.OS_ERROR,
              f"cannot write {disk / 't.json'}: No space left on device", "free some space")
        fails(["sweep", "--networks", "mnist", "--procs", "2", "--batches", "1", "--arrays", "32", "--no-plots",
               "--out", disk / "sweep"], Exit.OS_ERROR, f"cannot write {disk / 'sweep'}", "No space left")
        fails(["train", "--network", tiny_file, "--dataset", "toy", "--epochs", "1", "--batch", "8", "--no-progress",
               "--out", disk / "run"], Exit.OS_ERROR, f"cannot write {disk / 'run'}", "No space left")
        left = sorted(p.name for p in disk.rglob("*") if p.is_file())
        assert not [n for n in left if n.endswith(".tmp")], left


# -- class 7: Ctrl-C inside a numba kernel ------------------------------------------------------------------

def test_sigint_during_training_exits_130_with_one_line(tmp_path) -> None:
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import workloads.datasets as D
        from workloads.datasets import ArrayDataset, DatasetSplits
        rng = np.random.default_rng(0)
        def split(n):
            return ArrayDataset("noise", rng.random((n, 28, 28, 1), dtype=np.float32),
                                rng.integers(0, 10, n).astype(np.int64), "image")
        D.get_dataset = lambda *a, **k: DatasetSplits(split(4096), split(256), True, "noise")
        from simulator.cli import main
        sys.exit(main(["train", "--network", "mnist", "--dataset", "noise", "--epochs", "1000", "--threads", "1",
                       "--no-progress", "--out", {str(tmp_path / "run")!r}]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().startswith("note: ")  # the banner: data made, the kernels start
        assert proc.stdout.readline().startswith("training mnist")
        time.sleep(3)  # well inside the numba kernels of the first epochs
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=600)  # a cold numba cache compiles for minutes on a loaded machine
    finally:
        proc.kill()
    assert proc.returncode == Exit.INTERRUPTED, err
    assert one_line(err) == "spikepipe train: interrupted"


# -- class 8: numbers that cannot be true -------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(procs=st.integers(1, 6), scheduler=st.sampled_from(sorted(SCHEDULERS)), minibatches=st.integers(1, 24),
       bandwidth=st.one_of(st.sampled_from([float("inf"), 0.25, 0.5, 1.0, 2.0]), st.floats(0.05, 64)),
       latency=st.one_of(st.just(0), st.integers(0, 2000)),
       shared=st.booleans(), overlap=st.booleans(), batch=st.sampled_from([1, 8]))
def test_every_share_of_the_machine_is_within_its_window(procs, scheduler, minibatches, bandwidth, latency, shared,
                                                          overlap, batch) -> None:
    cost = network_cost(MNIST, ArrayConfig(32, 32), batch)
    try:
        schedule = make_schedule(scheduler, cost, procs)
    except ConfigError:
        return
    r = simulate(schedule, minibatches, link_machine(bandwidth, latency, shared), overlap)
    event("steady state" if r.steady_state else "too short for a steady state")
    for p in r.processors:
        shares = [p.share(c) for c in (p.busy, p.wait_data, p.wait_weights, p.wait_bus, p.idle)]
        assert all(0 <= s <= 1 for s in shares), shares
        assert abs(sum(shares) - 1) < 1e-9
    assert all(0 <= link.occupancy <= 1 for link in r.links), [link.occupancy for link in r.links]
    if r.steady_state:
        assert cost.total / r.simulated_cycles_per_update <= procs + 1e-9
    else:
        assert r.simulated_cycles_per_update is None and r.slowdown is None and r.as_dict()["steady_state"] is False


def test_the_link_that_read_107_percent() -> None:
    code, out, _ = run_cli(["simulate", "--bus-bandwidth", "1", "--scheduler", "split", "--minibatches", "8",
                            "--json"])
    assert code == 0
    links = json.loads(out)[0]["links"]
    assert max(link["occupancy"] for link in links) <= 1
    code, out, _ = run_cli(["simulate", "--scheduler", "all", "--minibatches", "3"])
    assert code == 0 and "not measured" in out


# -- class 9: --json prints exactly one JSON document --------------------------------------------------------

def test_json_stdout_is_one_document_for_every_subcommand(tmp_path, tiny_file, monkeypatch, toy_datasets) -> None:
    runs = {
        "cycles": ["cycles", "--json"],
        "schedule": ["schedule", "--procs", "2", "--json"],
        "sweep": ["sweep", "--networks", "mnist", "--procs", "2", "--batches", "1", "--arrays", "32", "--no-plots",
                  "--out", tmp_path / "sweep", "--json"],
        "simulate": ["simulate", "--minibatches", "4", "--json"],
        "simulate --functional": ["simulate", "--functional", "--network", tiny_file, "--dataset", "toy", "--batch",
                                  "8", "--procs", "2", "--scheduler", "finegrained", "--json"],
        "validate": ["validate", "--network", tiny_file, "--batch", "2", "--json"],
        "train": ["train", "--network", tiny_file, "--dataset", "toy", "--epochs", "1", "--batch", "8",
                  "--out", tmp_path / "run", "--json"],
        "data info": ["data", "info", "dvs128-synthetic", "--train", "11", "--test", "11", "--data-dir",
                      tmp_path / "data", "--json"],
    }
    import simulator.cli.data as data_cli  # bound to the real get_dataset whether or not imported before
    monkeypatch.setattr(data_cli, "get_dataset", real_get_dataset)
    assert run_cli(["data", "generate", "dvs128-synthetic", "--train", "11", "--test", "11", "--data-dir",
                    tmp_path / "data"])[0] == 0  # `data info` only reads
    for name, argv in runs.items():
        code, out, err = run_cli(argv)
        assert code == 0, (name, err)
        json.loads(out)  # the whole of stdout, nothing before or after
