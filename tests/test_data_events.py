"""Event readers on files the tests write in the real formats, binning, the camera model, synthetic sets."""
from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cli import main
from workloads import ConfigError
from workloads.datasets import get_dataset, gesture, nmnist
from workloads.datasets.camera import run_with_capacity, saccade_events
from workloads.datasets.events import EVENT_DTYPE, make_events
from workloads.datasets.functional import downsample, to_frames

TONIC_SAMPLE_SHA256 = "3c9159329633efbb6879bba1b430598b78cc06a779a55d1259ec13e203ad00ee"


def _random_events(rng: np.random.Generator, n: int, size: int, t_max: int) -> np.ndarray:
    t = np.sort(rng.integers(0, t_max, n))
    return make_events(rng.integers(0, size, n), rng.integers(0, size, n), t, rng.integers(0, 2, n))


# ---- N-MNIST .bin: an independent writer, one event at a time -------------------------------------------

def _nmnist_bytes(events: np.ndarray, overflow_before: tuple[int, ...] = ()) -> bytes:
    """5 bytes per event; a y == 240 marker before event i for i in `overflow_before` (t then counts from 0)."""
    out = bytearray()
    for i, e in enumerate(events):
        if i in overflow_before:
            out += bytes([0, 240, 0, 0, 0])
        t = int(e["t"]) & 0x7FFFFF
        out += bytes([int(e["x"]), int(e["y"]), (int(e["p"]) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_nmnist_reader_event_for_event(tmp_path: Path) -> None:
    ev = _random_events(np.random.default_rng(0), 300, 34, (1 << 23) - 1)
    (tmp_path / "a.bin").write_bytes(_nmnist_bytes(ev))
    got = nmnist.read_bin(tmp_path / "a.bin")
    assert got.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(got, ev)


def test_nmnist_overflow_markers_add_2_to_the_23(tmp_path: Path) -> None:
    ev = make_events([1, 2, 3], [4, 5, 6], [100, 7, 9], [1, 0, 1])
    (tmp_path / "o.bin").write_bytes(_nmnist_bytes(ev, overflow_before=(1,)))
    got = nmnist.read_bin(tmp_path / "o.bin")
    np.testing.assert_array_equal(got["t"], [100, 7 + (1 << 23), 9 + (1 << 23)])
    np.testing.assert_array_equal(got["y"], [4, 5, 6])


def test_nmnist_truncated_or_foreign_files_say_how_to_get_the_data(tmp_path: Path) -> None:
    (tmp_path / "t.bin").write_bytes(b"\x01\x02\x03\x04\x05\x06\x07")
    with pytest.raises(ConfigError, match="not a whole number.*download N-MNIST"):
        nmnist.read_bin(tmp_path / "t.bin")
    (tmp_path / "f.bin").write_bytes(bytes([200, 3, 0, 0, 1]))
    with pytest.raises(ConfigError, match="outside the 34 x 34"):
        nmnist.read_bin(tmp_path / "f.bin")


def _write_nmnist_tree(root: Path, rng: np.random.Generator) -> dict[str, list[tuple[int, np.ndarray]]]:
    written: dict[str, list[tuple[int, np.ndarray]]] = {}
    for split, n in (("Train", 4), ("Test", 3)):
        written[split] = []
        for i in range(n):
            label = int(rng.integers(0, 10))
            ev = _random_events(rng, int(rng.integers(1, 80)), 34, 300_000)
            (root / split / str(label)).mkdir(parents=True, exist_ok=True)
            (root / split / str(label) / f"{i:05d}.bin").write_bytes(_nmnist_bytes(ev))
            written[split].append((label, ev))
    return written


def test_nmnist_folder_import_gives_frames_of_every_file(tmp_path: Path, capsys) -> None:
    written = _write_nmnist_tree(tmp_path / "src", np.random.default_rng(1))
    data = tmp_path / "data"
    with pytest.raises(ConfigError, match="N-MNIST is not on this machine.*spikepipe data import nmnist"):
        get_dataset("nmnist", data)
    assert main(["data", "import", "nmnist", str(tmp_path / "src"), "--data-dir", str(data)]) == 0
    d = get_dataset("nmnist", data)
    assert not d.synthetic and d.train.kind == "frames" and d.train.x.shape == (4, 30, 34, 34, 2)
    for split, ds in (("Train", d.train), ("Test", d.test)):
        order = sorted(range(len(written[split])), key=lambda i: written[split][i][0])  # by digit folder
        for j, i in enumerate(order):
            label, ev = written[split][i]
            assert ds.y[j] == label
            np.testing.assert_array_equal(ds.x[j], to_frames(ev, 34, 34, 30))
            assert int(ds.x[j].sum()) == len(ev)


def _tonic_sample(cache_dir: Path) -> bytes:
    """sample_nmnist.bin from tonic 1.6.0's source distribution, downloaded once into pytest's cache."""
    cached = cache_dir / "sample_nmnist.bin"
    if cached.is_file() and hashlib.sha256(cached.read_bytes()).hexdigest() == TONIC_SAMPLE_SHA256:
        return cached.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                           "--disable-pip-version-check", "-d", str(cache_dir), "tonic==1.6.0"],
                          capture_output=True, text=True)
    sdist = cache_dir / "tonic-1.6.0.tar.gz"
    if proc.returncode != 0 or not sdist.is_file():
        reason = " ".join(proc.stderr.split())[-160:] or "no file"
        pytest.skip(f"the real N-MNIST sample comes from tonic 1.6.0's source distribution on PyPI and pip could not "
                    f"download it ({reason}); to enable this test, give the machine access to PyPI, or copy "
                    f"tonic-1.6.0/test/test_data/sample_nmnist.bin (SHA-256 {TONIC_SAMPLE_SHA256}) to {cached}")
    with tarfile.open(sdist) as tar:
        raw = tar.extractfile("tonic-1.6.0/test/test_data/sample_nmnist.bin").read()
    cached.write_bytes(raw)
    sdist.unlink()
    return raw


def test_tonic_sample_nmnist_recording(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """One real N-MNIST recording from tonic's source distribution (GPL-3.0: fetched at test time, never committed)."""
    raw = _tonic_sample(pytestconfig.cache.mkdir("tonic-1.6.0"))
    assert hashlib.sha256(raw).hexdigest() == TONIC_SAMPLE_SHA256
    (tmp_path / "s.bin").write_bytes(raw)
    ev = nmnist.read_bin(tmp_path / "s.bin")
    assert len(ev) == len(raw) // 5 == 4325
    b = np.frombuffer(raw, np.uint8).reshape(-1, 5).astype(np.int64)  # reference decode, field by field
    np.testing.assert_array_equal(ev["x"], b[:, 0])
    np.testing.assert_array_equal(ev["t"], ((b[:, 2] & 127) << 16) + (b[:, 3] << 8) + b[:, 4])
    assert np.all(np.diff(ev["t"]) >= 0) and 0.2e6 < ev["t"][-1] < 0.4e6  # three saccades, about 0.3 s
    assert 0.4 < ev["p"].mean() < 0.6


# ---- DVS128 Gesture: AEDAT 3.1 and the .npy layout -----------------------------------------------------

def _aedat31(events: np.ndarray, per_packet: int = 5, junk_packet: bool = True) -> bytes:
    out = bytearray(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n")
    if junk_packet:  # a special-event packet (type 0) the reader must skip
        out += struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, 2, 2, 2) + bytes(16)
    for i in range(0, len(events), per_packet):
        chunk = events[i:i + per_packet]
        overflow = int(chunk["t"][0]) >> 31
        out += struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, len(chunk), len(chunk), len(chunk))
        for e in chunk:
            data = (int(e["x"]) << 17) | (int(e["y"]) << 2) | (int(e["p"]) << 1) | 1
            out += struct.pack("<Ii", data, int(e["t"]) & 0x7FFFFFFF)
    return bytes(out)


def test_aedat31_reader_event_for_event(tmp_path: Path) -> None:
    ev = _random_events(np.random.default_rng(2), 23, 128, 5_000_000)
    (tmp_path / "u.aedat").write_bytes(_aedat31(ev))
    np.testing.assert_array_equal(gesture.read_aedat31(tmp_path / "u.aedat"), ev)
    invalid = bytearray(_aedat31(ev[:1], junk_packet=False))
    invalid[-8] &= 0xFE  # clear the valid bit of the one event
    (tmp_path / "i.aedat").write_bytes(bytes(invalid))
    assert len(gesture.read_aedat31(tmp_path / "i.aedat")) == 0


def test_aedat31_timestamp_overflow(tmp_path: Path) -> None:
    ev = make_events([1, 2], [3, 4], [(1 << 31) - 5, (1 << 31) + 7], [0, 1])
    (tmp_path / "o.aedat").write_bytes(_aedat31(ev, per_packet=1))
    np.testing.assert_array_equal(gesture.read_aedat31(tmp_path / "o.aedat")["t"], ev["t"])


def test_aedat31_corrupt_files_are_named(tmp_path: Path) -> None:
    good = _aedat31(_random_events(np.random.default_rng(3), 10, 128, 1000))
    for name, blob, msg in (("trunc", good[:-3], "truncated"), ("nohead", b"hello", "not an AEDAT 3"),
                            ("noend", b"#!AER-DAT3.1\r\n#x\r\n", "END-HEADER")):
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(ConfigError, match=msg):
            gesture.read_aedat31(tmp_path / name)


def test_dvs128_aedat_release_is_cut_by_the_label_csvs(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    src = tmp_path / "DvsGesture"
    src.mkdir()
    samples = {}
    for user in (1, 24):
        name = f"user{user:02d}_fluorescent"
        ev = _random_events(rng, 400, 128, 3_000_000)
        (src / f"{name}.aedat").write_bytes(_aedat31(ev, per_packet=64))
        rows = [(3, 100_000, 1_000_000), (11, 1_500_000, 2_900_000)]
        (src / f"{name}_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                                + "".join(f"{c},{s},{e}\n" for c, s, e in rows))
        samples[user] = [(c - 1, ev[(ev["t"] >= s) & (ev["t"] < e)]) for c, s, e in rows]
    data = tmp_path / "data"
    assert main(["data", "import", "dvs128", str(tmp_path), "--data-dir", str(data)]) == 0
    d = get_dataset("dvs128", data)
    assert d.train.x.shape == (2, 40, 64, 64, 2) and len(d.test) == 2  # user 24 is in the official test split
    for ds, user in ((d.train, 1), (d.test, 24)):
        for j, (label, ev) in enumerate(samples[user]):
            assert ds.y[j] == label
            np.testing.assert_array_equal(ds.x[j], to_frames(downsample(ev, 2), 64, 64, 40))


def test_dvs128_npy_release(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    raw = tmp_path / "data" / "dvs128" / "raw"
    expect = {}
    for split, folder in (("train", "ibmGestureTrain"), ("test", "ibmGestureTest")):
        for label in (2, 7):
            ev = _random_events(rng, 50, 128, 6_000_000)
            (raw / folder / "user05_led").mkdir(parents=True, exist_ok=True)
            rows = np.stack([ev["x"], ev["y"], ev["p"], ev["t"] / 1000.0], axis=1)  # t in ms, as released
            np.save(raw / folder / "user05_led" / f"{label}.npy", rows)
            expect.setdefault(split, []).append((label, ev))
    d = get_dataset("dvs128", tmp_path / "data")
    for split, ds in (("train", d.train), ("test", d.test)):
        for j, (label, ev) in enumerate(expect[split]):
            assert ds.y[j] == label
            np.testing.assert_array_equal(ds.x[j], to_frames(downsample(ev, 2), 64, 64, 40))
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    with pytest.raises(ConfigError, match=r"rows of \(x, y, p, t\)"):
        gesture.read_npy_sample(tmp_path / "bad.npy")


def test_missing_dvs128_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DVS128 Gesture is not on this machine.*spikepipe data import dvs128"):
        get_dataset("dvs128", tmp_path)


# ---- binning --------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.integers(0, 200), st.integers(1, 12), st.integers(0, 2**31))
def test_to_frames_matches_a_loop_reference(n: int, bins: int, seed: int) -> None:
    ev = _random_events(np.random.default_rng(seed), n, 9, 10_000)
    ref = np.zeros((bins, 9, 9, 2), np.int64)
    if n:
        t0, span = ev["t"].min(), ev["t"].max() - ev["t"].min() + 1
        for e in ev:
            ref[(e["t"] - t0) * bins // span, e["y"], e["x"], e["p"]] += 1
    np.testing.assert_array_equal(to_frames(ev, 9, 9, bins), np.minimum(ref, 255))


def test_to_frames_saturates_and_rejects_out_of_range() -> None:
    ev = make_events(np.zeros(300), np.zeros(300), np.zeros(300), np.ones(300))
    assert to_frames(ev, 2, 2, 1)[0, 0, 0, 1] == 255
    with pytest.raises(ConfigError, match="outside a 2 x 2 sensor"):
        to_frames(make_events([5], [0], [0], [0]), 2, 2, 1)


# ---- camera model and synthetic sets --------------------------------------------------------------------

def test_camera_counts_threshold_crossings_of_log_intensity() -> None:
    """A uniform step from intensity a to b fires floor(|log((e+b)/(e+a))| / C) events per pixel, of one sign."""
    from workloads.datasets.camera import LOG_EPS
    img = np.zeros((4, 4))
    img[:, :2] = 1.0
    # shifting right by one pixel brightens column 2 (0 -> 1) and darkens column 0 (1 -> 0)
    offsets, times = np.array([[0.0, 0.0], [0.0, 1.0]]), np.array([0.0, 1000.0])
    thresh = np.full((4, 4), 0.4)
    xs, ys, ts, ps = run_with_capacity(saccade_events, (img, 4, offsets, times, thresh), 2)
    k = int(np.log((LOG_EPS + 1) / LOG_EPS) // 0.4)
    assert np.sum((xs == 2) & (ps == 1)) == 4 * k and np.sum((xs == 0) & (ps == 0)) == 4 * k
    assert len(xs) == 8 * k and np.all((ts >= 0) & (ts <= 1000)) and np.all(np.diff(ts[ys == 0][xs[ys == 0] == 2]) > 0)


def _fake_mnist(data: Path) -> None:
    from workloads.datasets import mnist
    rng = np.random.default_rng(0)
    x = np.zeros((40, 28, 28), np.uint8)
    for i in range(40):  # a bright bar per image, so every sample produces events
        r = rng.integers(4, 20)
        x[i, r:r + 6, 6:22] = 255
    mnist.save_npz(mnist.cache_path(data), x_train=x[:30], y_train=np.arange(30, dtype=np.uint8) % 10,
                   x_test=x[30:], y_test=np.arange(10, dtype=np.uint8), source=np.array("test"))


def test_nmnist_synthetic_is_named_deterministic_and_needs_mnist(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="made from real MNIST digits.*spikepipe data fetch mnist"):
        get_dataset("nmnist-synthetic", tmp_path, sizes=(5, 3))
    _fake_mnist(tmp_path)
    assert main(["data", "generate", "nmnist-synthetic", "--data-dir", str(tmp_path),
                 "--train", "6", "--test", "3", "--seed", "3"]) == 0
    d = get_dataset("nmnist-synthetic", tmp_path, seed=3, sizes=(6, 3))
    assert d.synthetic and "SYNTHETIC" in d.description and "not N-MNIST" in d.description
    assert d.train.x.shape == (6, 30, 34, 34, 2) and d.train.x.dtype == np.uint8
    again = nmnist.synthetic_events(np.zeros((28, 28)) + 0.5, np.random.default_rng(1))
    np.testing.assert_array_equal(again, nmnist.synthetic_events(np.zeros((28, 28)) + 0.5, np.random.default_rng(1)))
    shutil.rmtree(tmp_path / "nmnist-synthetic")
    np.testing.assert_array_equal(get_dataset("nmnist-synthetic", tmp_path, seed=3, sizes=(6, 3)).train.x, d.train.x)
    assert main(["data", "info", "nmnist-synthetic", "--data-dir", str(tmp_path), "--seed", "3",
                 "--train", "6", "--test", "3", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 2)[-1])
    assert info["synthetic"] and info["train"]["events_per_sample_mean"] > 100
    assert 0.3 < info["train"]["on_fraction"] < 0.7


def test_dvs128_synthetic_classes_and_stats(tmp_path: Path, capsys) -> None:
    d = get_dataset("dvs128-synthetic", tmp_path, seed=1, sizes=(22, 11))
    assert d.synthetic and "not DVS128 Gesture" in d.description
    assert d.train.x.shape == (22, 40, 64, 64, 2)
    np.testing.assert_array_equal(np.bincount(d.train.y), [2] * 11)
    events = d.train.x.sum(axis=(1, 2, 3, 4))
    assert np.all(events > 1000)
    assert main(["data", "info", "dvs128-synthetic", "--data-dir", str(tmp_path), "--seed", "1",
                 "--train", "22", "--test", "11"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "ON fraction" in out and "events/sample" in out


def test_clockwise_and_counter_clockwise_turn_opposite_ways() -> None:
    t = np.linspace(0, 0.5, 50)
    for cw, ccw in ((3, 4), (5, 6)):
        for label, sign in ((cw, 1), (ccw, -1)):
            c = gesture.gesture_paths(label, np.random.default_rng(0), t)[:, 0]
            rel = c - c.mean(axis=0)
            angle = np.unwrap(np.arctan2(rel[:, 0], rel[:, 1]))  # y down: growing angle = clockwise on screen
            assert np.sign(angle[-1] - angle[0]) == sign


def test_damaged_frame_cache_says_how_to_rebuild(tmp_path: Path) -> None:
    get_dataset("dvs128-synthetic", tmp_path, sizes=(1, 1))
    path = next((tmp_path / "dvs128-synthetic").glob("*/train_x.npy"))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ConfigError, match="dvs128-synthetic.*spikepipe data generate dvs128-synthetic"):
        get_dataset("dvs128-synthetic", tmp_path, sizes=(1, 1))


@pytest.mark.parametrize("damage, resumed_from", [(False, 4), (True, 0)])
def test_interrupted_frame_build_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          damage: bool, resumed_from: int) -> None:
    """The samples the progress record counts as done are hashed again on resuming: changed on disk, it starts over."""
    from workloads.datasets import store
    monkeypatch.setattr(store, "_FLUSH_EVERY", 2)
    calls: list[int] = []

    def produce(i: int) -> np.ndarray:
        calls.append(i)
        if i == 5 and calls.count(5) == 1:
            raise KeyboardInterrupt
        return np.full((2, 3), i, np.uint8)

    target = tmp_path / "x.npy"
    with pytest.raises(KeyboardInterrupt):
        store.build_frames(target, 8, (2, 3), produce, "t")
    assert not target.exists() and json.loads((tmp_path / "x.npy.progress").read_text())["done"] == 4
    if damage:
        raw = bytearray((tmp_path / "x.npy.partial").read_bytes())
        raw[-8 * 6 + 7] ^= 1  # a byte of sample 1
        (tmp_path / "x.npy.partial").write_bytes(bytes(raw))
    digest = store.build_frames(target, 8, (2, 3), produce, "t")
    assert calls == [0, 1, 2, 3, 4, 5, *range(resumed_from, 8)]
    np.testing.assert_array_equal(np.load(target)[:, 0, 0], np.arange(8))
    assert digest == store.sha256_file(target)
    assert not (tmp_path / "x.npy.progress").exists() and not (tmp_path / "x.npy.partial").exists()


def test_frame_statistics_count_events_per_sample() -> None:
    from workloads.datasets.stats import split_stats
    from workloads.datasets.types import ArrayDataset

    x = np.zeros((3, 2, 4, 4, 2), np.uint8)
    x[0, 0, 0, 0, 1] = 5  # 5 ON events
    x[1, 1, 2, 3, 0] = 7  # 7 OFF events
    x[1, 0, 1, 1, 1] = 1
    x[2, :, :, :, 1] = 1  # 32 ON events
    stats = split_stats(ArrayDataset("toy", x, np.array([0, 1, 1]), "frames"))
    assert (stats["events_per_sample_min"], stats["events_per_sample_max"]) == (5, 32)
    assert stats["events_per_sample_mean"] == pytest.approx((5 + 8 + 32) / 3)
    assert stats["on_fraction"] == pytest.approx((5 + 1 + 32) / 45)
