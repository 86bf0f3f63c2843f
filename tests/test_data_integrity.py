"""No corrupt data is ever used: manifests with checksums, read-only `data info`, clean failures of import and
generate (a full disk included), each reported as one line naming the file and the command that fixes it."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import main
from workloads import ConfigError
from workloads.datasets import NAMES, Access, get_dataset, import_raw, manifest, mnist, store

ROOT = Path(__file__).resolve().parents[1]
SIZES = (2, 1)  # dvs128-synthetic samples (train, test): 0.3 MB each, about a second to generate
CACHE = f"dvs128-synthetic/train{SIZES[0]}-test{SIZES[1]}-seed0"
ARGS = ["--train", str(SIZES[0]), "--test", str(SIZES[1])]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_line_error(capsys: pytest.CaptureFixture, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished dvs128-synthetic cache, copied by `data` for each test to damage."""
    root = tmp_path_factory.mktemp("built")
    get_dataset("dvs128-synthetic", root, sizes=SIZES)
    return root


def _edit_manifest(cache: Path, edit=lambda raw: None) -> None:
    """Record the files' present (mtime, ctime) in the manifest, after `edit(raw JSON)`: as if built in place."""
    path = cache / manifest.FILENAME
    raw = json.loads(path.read_text())
    edit(raw)
    for name, rec in raw["files"].items():
        st = (cache / name).stat()
        rec["stamp"] = [st.st_mtime_ns, st.st_ctime_ns]
    path.write_text(json.dumps(raw))


@pytest.fixture
def data(built: Path, tmp_path: Path) -> Path:
    """A copy of `built` whose manifest trusts the copied files as a build's own (a copy gets new ctimes)."""
    shutil.copytree(built, tmp_path / "data")
    _edit_manifest(tmp_path / "data" / CACHE)
    return tmp_path / "data"


def _overwrite_quarter(path: Path) -> None:
    """Overwrite the middle quarter of `path` in place: size and .npy header stay as they were."""
    n = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(n // 2)
        f.write(np.random.default_rng(0).integers(0, 256, n // 4, dtype=np.uint8).tobytes())


def test_a_finished_cache_carries_a_manifest(data: Path) -> None:
    m = manifest.read(data / CACHE, "unused")
    assert m is not None and m.classes == 11 and m.config["train"] == SIZES[0]
    for name, rec in m.files.items():
        assert rec.sha256 == store.sha256_file(data / CACHE / name) and rec.size == (data / CACHE / name).stat().st_size
    assert m.files["train_x.npy"].shape == (SIZES[0], 40, 64, 64, 2) and m.files["test_y.npy"].dtype == "int64"
    assert sorted(os.listdir(data / CACHE)) == ["manifest.json", "test_x.npy", "test_y.npy", "train_x.npy",
                                                "train_y.npy"]


def test_corrupt_quarter_fails_info_verify_and_loading_for_training(data: Path, capsys) -> None:
    target = data / CACHE / "train_x.npy"
    _overwrite_quarter(target)
    rebuild = f"spikepipe data generate dvs128-synthetic --train 2 --test 1 --data-dir {data} --force"
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS, "--verify"]) == 2
    _one_line_error(capsys, str(target), rebuild)
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 2  # changed since its build
    _one_line_error(capsys, str(target), rebuild)
    with pytest.raises(ConfigError, match="SHA-256") as exc:
        get_dataset("dvs128-synthetic", data, sizes=SIZES)  # what the trainer calls
    assert str(target) in str(exc.value) and rebuild in str(exc.value)
    assert main(rebuild.split()[1:]) == 0  # the command the message names repairs the cache
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS, "--verify"]) == 0


def test_train_refuses_a_corrupt_cache(data: Path, tmp_path: Path, capsys) -> None:
    """`spikepipe train` loads the default-sized set: here the tiny cache stands in under that name."""
    default = data / "dvs128-synthetic" / "train1100-test264-seed0"
    (data / CACHE).rename(default)
    _overwrite_quarter(default / "test_x.npy")
    assert main(["train", "--network", "dvs128", "--dataset", "dvs128-synthetic", "--data-dir", str(data),
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    _one_line_error(capsys, str(default / "test_x.npy"), "--force")
    assert not (tmp_path / "run").exists()


def test_verify_hashes_files_that_look_unchanged(data: Path, capsys) -> None:
    _edit_manifest(data / CACHE, lambda raw: raw["files"]["test_x.npy"].update(sha256="0" * 64))
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 0  # size, header, stamp
    capsys.readouterr()
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS, "--verify", "--json"]) == 2
    _one_line_error(capsys, str(data / CACHE / "test_x.npy"), "SHA-256")


def test_a_copied_cache_is_hashed_on_load(data: Path, tmp_path: Path) -> None:
    _overwrite_quarter(data / CACHE / "test_x.npy")
    _edit_manifest(data / CACHE)  # the damage now looks like part of the build, to every check but SHA-256
    get_dataset("dvs128-synthetic", data, sizes=SIZES)
    shutil.copytree(data, tmp_path / "copy")  # new ctimes: the copy's files are hashed
    with pytest.raises(ConfigError, match="test_x.npy: content does not match its SHA-256"):
        get_dataset("dvs128-synthetic", tmp_path / "copy", sizes=SIZES)


@pytest.mark.parametrize("label", [-1, 11])
def test_label_out_of_range_is_one_line(data: Path, capsys, label: int) -> None:
    path = data / CACHE / "train_y.npy"
    y = np.load(path)
    y[0] = label
    np.save(path, y)
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 2
    _one_line_error(capsys, str(path), f"class indices 0..10, found {min(y)}..{max(y)}", "--force")
    with pytest.raises(ConfigError, match="class indices"):
        get_dataset("dvs128-synthetic", data, sizes=SIZES)


@pytest.mark.parametrize("damage", ["truncate", "delete", "directory", "header"])
def test_damaged_files_are_named(data: Path, capsys, damage: str) -> None:
    path = data / CACHE / "test_x.npy"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-1000])
    elif damage == "header":
        path.write_bytes(b"garbage!" + path.read_bytes()[8:])
    else:
        path.unlink()
        if damage == "directory":
            path.mkdir()
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 2
    _one_line_error(capsys, str(path), "--force")


def test_cache_of_an_older_version_must_be_rebuilt(data: Path, capsys) -> None:
    (data / CACHE / manifest.FILENAME).rename(data / CACHE / manifest.LEGACY)
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 2
    _one_line_error(capsys, "older SpikePipe", "no manifest", "--force")
    with pytest.raises(ConfigError, match="older SpikePipe"):
        get_dataset("dvs128-synthetic", data, sizes=SIZES)
    assert main(["data", "generate", "dvs128-synthetic", "--data-dir", str(data), *ARGS, "--force"]) == 0
    assert not (data / CACHE / manifest.LEGACY).exists() and (data / CACHE / manifest.FILENAME).is_file()


def test_force_rebuilds_bit_for_bit(data: Path, built: Path) -> None:
    _overwrite_quarter(data / CACHE / "train_x.npy")
    get_dataset("dvs128-synthetic", data, sizes=SIZES, access=Access.REBUILD)
    for name in ("train_x.npy", "test_x.npy"):
        assert (data / CACHE / name).read_bytes() == (built / CACHE / name).read_bytes()


def test_info_reports_an_interrupted_generate_which_resumes_bit_for_bit(built: Path, tmp_path: Path, monkeypatch,
                                                                         capsys) -> None:
    from workloads.datasets import gesture
    real, calls = gesture.synthetic_events, []

    def interrupted_once(label: int, rng: np.random.Generator) -> np.ndarray:
        calls.append(label)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(label, rng)
    monkeypatch.setattr(gesture, "synthetic_events", interrupted_once)
    monkeypatch.setattr(store, "_FLUSH_EVERY", 1)
    data = tmp_path / "data"
    assert main(["data", "generate", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 130
    before = _files(data)
    assert f"{CACHE}/train_x.npy.partial" in before and f"{CACHE}/train_x.npy.progress" in before
    capsys.readouterr()
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 2
    _one_line_error(capsys, "unfinished build", "spikepipe data generate dvs128-synthetic --train 2 --test 1")
    assert _files(data) == before
    assert main(["data", "generate", "dvs128-synthetic", "--data-dir", str(data), *ARGS]) == 0
    assert len(calls) == 4  # sample 0 was not made again
    for name in ("train_x.npy", "test_x.npy", "train_y.npy", "test_y.npy"):
        assert (data / CACHE / name).read_bytes() == (built / CACHE / name).read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_info_on_an_absent_set_writes_nothing(tmp_path: Path, capsys, name: str) -> None:
    assert main(["data", "info", name, "--data-dir", str(tmp_path)]) == 2
    verb = {"mnist": "fetch", "nmnist": "import", "dvs128": "import"}.get(name, "generate")
    _one_line_error(capsys, f"spikepipe data {verb} {name}")
    assert _files(tmp_path) == []


def test_info_on_an_unconverted_import_writes_nothing(tmp_path: Path, capsys) -> None:
    (tmp_path / "src" / "Train").mkdir(parents=True)
    (tmp_path / "data" / "nmnist").mkdir(parents=True)
    (tmp_path / "data" / "nmnist" / "raw").symlink_to(tmp_path / "src")
    before = _files(tmp_path / "data")
    assert main(["data", "info", "nmnist", "--data-dir", str(tmp_path / "data")]) == 2
    _one_line_error(capsys, f"spikepipe data import nmnist {tmp_path / 'src'}")
    assert _files(tmp_path / "data") == before


def _nmnist_source(root: Path) -> Path:
    for split in ("Train", "Test"):
        (root / split / "3").mkdir(parents=True)
        (root / split / "3" / "00001.bin").write_bytes(bytes([1, 2, 0x80, 0, 9]) * 3)
    return root


@pytest.mark.parametrize("fault", ["no folder", "no Test", "bin is a directory", "truncated bin"])
def test_failed_import_leaves_nothing_and_names_the_users_folder(tmp_path: Path, capsys, fault: str) -> None:
    src = _nmnist_source(tmp_path / "src")
    culprit = {"no folder": tmp_path / "nowhere", "no Test": src, "bin is a directory": src / "Test" / "3" / "x.bin",
               "truncated bin": src / "Train" / "3" / "00001.bin"}[fault]
    if fault == "no Test":
        shutil.rmtree(src / "Test")
    elif fault == "bin is a directory":
        culprit.mkdir()
    elif fault == "truncated bin":
        culprit.write_bytes(b"\x01\x02\x03")  # passes the layout check, fails the conversion
    data = tmp_path / "data"
    source = tmp_path / "nowhere" if fault == "no folder" else src
    assert main(["data", "import", "nmnist", str(source), "--data-dir", str(data)]) == 2
    _one_line_error(capsys, str(culprit))
    assert not data.exists() or _files(data) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_bin_is_named_before_anything_is_linked(tmp_path: Path) -> None:
    src = _nmnist_source(tmp_path / "src")
    (src / "Train" / "3" / "00001.bin").chmod(0)
    with pytest.raises(ConfigError, match="00001.bin: file not readable"):
        import_raw("nmnist", src, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_failed_forced_reimport_restores_the_previous_link(tmp_path: Path) -> None:
    good, bad = _nmnist_source(tmp_path / "good"), _nmnist_source(tmp_path / "bad")
    (bad / "Test" / "3" / "00001.bin").write_bytes(b"\x00")
    data = tmp_path / "data"
    import_raw("nmnist", good, data)
    with pytest.raises(ConfigError, match="already points to"):
        import_raw("nmnist", bad, data)
    with pytest.raises(ConfigError, match="not a whole number"):
        import_raw("nmnist", bad, data, force=True)
    assert (data / "nmnist" / "raw").resolve() == good.resolve() and not (data / "nmnist" / "frames-T30").exists()
    assert len(import_raw("nmnist", good, data).train) == 1


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    from workloads.datasets import gesture, nmnist
    (tmp_path / "d.bin").mkdir()
    with pytest.raises(ConfigError, match="d.bin: cannot read"):
        nmnist.read_bin(tmp_path / "d.bin")
    (tmp_path / "d.aedat").mkdir()
    with pytest.raises(ConfigError, match="d.aedat: cannot read"):
        gesture.read_aedat31(tmp_path / "d.aedat")


def test_write_error_during_generation_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    def full(path: Path, start: int, end: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    monkeypatch.setattr(store, "_reserve", full)
    assert main(["data", "generate", "dvs128-synthetic", "--data-dir", str(tmp_path / "data"), *ARGS]) == 2
    _one_line_error(capsys, "disk full while writing", "bytes", "available")
    assert not (tmp_path / "data").exists()


def test_disk_space_is_checked_before_anything_is_written(tmp_path: Path, monkeypatch, capsys) -> None:
    from workloads.datasets import framesets
    monkeypatch.setattr(framesets, "free_bytes", lambda directory: 1000)
    assert main(["data", "generate", "dvs128-synthetic", "--data-dir", str(tmp_path / "data"), *ARGS]) == 2
    need = SIZES[0] * 327_680 + SIZES[1] * 327_680
    err = _one_line_error(capsys, "not enough disk space", "1,000 are available")
    assert int(err.split(" needs ")[1].split(" bytes")[0].replace(",", "")) > need
    assert not (tmp_path / "data").exists()


def test_mnist_cache_corruption_and_labels_are_one_line(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40, dtype=np.uint8) % 10
    mnist.save_npz(mnist.cache_path(tmp_path), x_train=x, y_train=y, x_test=x[:5], y_test=y[:5],
                   source=np.array("test"))
    assert main(["data", "info", "mnist", "--data-dir", str(tmp_path), "--verify"]) == 0
    capsys.readouterr()
    _overwrite_quarter(mnist.cache_path(tmp_path))
    assert main(["data", "info", "mnist", "--data-dir", str(tmp_path), "--verify"]) == 2
    _one_line_error(capsys, str(mnist.cache_path(tmp_path)), "spikepipe data fetch mnist")
    y[3] = 12
    mnist.save_npz(mnist.cache_path(tmp_path), x_train=x, y_train=y, x_test=x[:5], y_test=y[:5],
                   source=np.array("test"))
    with pytest.raises(ConfigError, match="train labels must be digits 0..9, found 0..12"):
        get_dataset("mnist", tmp_path)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB tmpfs (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def _spikepipe_on(disk: Path, *args: str, patch: str = "") -> subprocess.CompletedProcess:
    """Run spikepipe in a child process: if a full disk still ended in SIGBUS, only the child would die."""
    code = f"import sys\n{patch}\nfrom simulator.cli import main\nsys.exit(main(sys.argv[1:]))"
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, SPIKEPIPE_DATA=str(disk), PYTHONPATH=path)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)


def test_full_disk_is_refused_up_front(small_disk: Path) -> None:
    proc = _spikepipe_on(small_disk, "data", "generate", "dvs128-synthetic", "--train", "8", "--test", "2")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "not enough disk space" in proc.stderr and str(small_disk) in proc.stderr
    assert _files(small_disk) == []


def test_disk_filling_up_while_writing_is_one_line(small_disk: Path) -> None:
    """The free-space check is fooled, so the real write meets ENOSPC: one line, no SIGBUS, nothing kept."""
    patch = "import workloads.datasets.framesets as f; f.free_bytes = lambda directory: 1 << 40"
    proc = _spikepipe_on(small_disk, "data", "generate", "dvs128-synthetic", "--train", "8", "--test", "2",
                         patch=patch)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (proc.returncode, proc.stderr)
    assert "disk full while writing" in proc.stderr and "train_x.npy.partial" in proc.stderr
    assert _files(small_disk) == []
