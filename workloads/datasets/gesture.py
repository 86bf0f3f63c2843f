"""DVS128 Gesture: readers for the real dataset and a synthetic 11-class gesture-like generator.

Real dataset (Amir et al. 2017), two layouts under ``<data>/dvs128/raw/``:
- as distributed by IBM: ``DvsGesture/userNN_<lighting>.aedat`` (AEDAT 3.1)
  with ``userNN_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``,
  classes 1..11) and ``trials_to_train.txt`` / ``trials_to_test.txt`` (if
  those lists are absent, users 1-23 train and 24-29 test, the official split);
- tonic's preprocessed release: ``ibmGestureTrain/userNN_<lighting>/<label>.npy``
  and ``ibmGestureTest/...``, rows ``x, y, p, t`` with ``t`` in milliseconds,
  labels 0..10.

AEDAT 3.1: text header lines starting with ``#`` up to ``#!END-HEADER``, then
packets of a 28-byte little-endian header (eventType i16, eventSource i16,
eventSize i32, eventTSOffset i32, eventTSOverflow i32, eventCapacity i32,
eventNumber i32, eventValid i32) and ``eventCapacity * eventSize`` bytes.
Polarity events (type 1, 8 bytes): u32 data (bit 0 valid, bit 1 polarity,
bits 2-16 y, bits 17-31 x) and i32 timestamp; the full time is
``eventTSOverflow << 31 | timestamp`` in microseconds.

Synthetic (``dvs128-synthetic``, NOT DVS128 Gesture): soft-edged disks ("hands")
move over a still textured background on a 128 x 128 sensor in 11
class-specific ways named after the real classes (clapping, waving right or
left, circling clockwise or counter-clockwise on either side, rolling,
drumming up and down, strumming, and random motion), through the event-camera
model of `camera`. Both go through 2x downsampling and `functional.to_frames`
into 40 frames of 64 x 64 x 2.
"""
from __future__ import annotations

import csv
import re
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from . import framesets
from .camera import disk_scene_events, run_with_capacity, thresholds, with_shot_noise
from .events import make_events
from .functional import downsample, to_frames
from .framesets import Access, command, size_options
from .store import data_root, readable_dir, readable_file
from .types import DatasetSplits

SENSOR = 128
FACTOR = 2
SIZE = SENSOR // FACTOR
TIME_BINS = 40
FRAME_SHAPE = (TIME_BINS, SIZE, SIZE, 2)
CLASSES = ("hand_clap", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
           "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
           "arm_roll", "air_drums", "air_guitar", "other_gestures")
TEST_USERS = range(24, 30)
RAW_HINT = ("download DVS128 Gesture (IBM's DvsGesture.tar.gz with the .aedat files and label CSVs, or tonic's "
            "ibmGestureTrain/ibmGestureTest .npy release), extract it and run `spikepipe data import dvs128 DIR` "
            "(or place it at <data>/dvs128/raw/); 'dvs128-synthetic' is a stand-in that needs nothing")
_PACKET = struct.Struct("<hhiiiiii")
_POLARITY_EVENT = np.dtype([("data", "<u4"), ("ts", "<i4")])

# Synthetic recordings.
DURATION_US = 1_500_000.0
STEPS = 150
CONTRAST = 0.3
MISMATCH = 0.05
NOISE_HZ = 0.05
DEFAULT_SIZES = (1_100, 264)


def read_aedat31(path: str | Path) -> np.ndarray:
    """The valid polarity events of an AEDAT 3.1 file, in file order."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not buf.startswith(b"#!AER-DAT3"):
        raise ConfigError(f"{path}: not an AEDAT 3.x file (no '#!AER-DAT3' header); {RAW_HINT}")
    end = buf.find(b"#!END-HEADER")
    if end < 0:
        raise ConfigError(f"{path}: AEDAT header has no '#!END-HEADER' line (truncated?)")
    pos = buf.index(b"\n", end) + 1
    chunks = []
    while pos < len(buf):
        if pos + _PACKET.size > len(buf):
            raise ConfigError(f"{path}: truncated packet header at byte {pos}")
        etype, _src, size, _off, overflow, capacity, number, _valid = _PACKET.unpack_from(buf, pos)
        body = pos + _PACKET.size
        if size <= 0 or capacity < number or number < 0 or body + capacity * size > len(buf):
            raise ConfigError(f"{path}: packet at byte {pos} (type {etype}, {number} events of {size} bytes) "
                              "runs past the end of the file (truncated or corrupt)")
        if etype == 1:
            if size != _POLARITY_EVENT.itemsize:
                raise ConfigError(f"{path}: polarity events of {size} bytes, expected 8")
            chunk = np.frombuffer(buf, _POLARITY_EVENT, number, body)
            chunks.append((chunk[chunk["data"] & 1 == 1], overflow))
        pos = body + capacity * size
    if not chunks:
        return make_events(*(np.zeros(0, np.int64),) * 4)
    data = np.concatenate([c["data"] for c, _ in chunks]).astype(np.int64)
    t = np.concatenate([(np.int64(o) << 31) | c["ts"].astype(np.int64) for c, o in chunks])
    return make_events((data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, t, (data >> 1) & 1)


def read_labels_csv(path: Path) -> list[tuple[int, int, int]]:
    """Rows (label 0..10, start_us, end_us) of an AEDAT file's ``_labels.csv``."""
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and r[0].strip().isdigit()]
        out = [(int(c) - 1, int(s), int(e)) for c, s, e in (r[:3] for r in rows)]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a DVS128 Gesture label file ({exc})") from None
    if any(not 0 <= c < len(CLASSES) or e <= s for c, s, e in out):
        raise ConfigError(f"{path}: classes must be 1..11 with startTime_usec < endTime_usec")
    return out


@lru_cache(maxsize=1)
def _aedat_cached(path: Path) -> np.ndarray:
    return read_aedat31(path)  # the samples of one recording are produced one after another


def aedat_sample(path: Path, start_us: int, end_us: int) -> np.ndarray:
    """Events of `path` with start <= t < end, times relative to start."""
    ev = _aedat_cached(path)
    sel = ev[(ev["t"] >= start_us) & (ev["t"] < end_us)].copy()
    sel["t"] -= start_us
    return sel


def read_npy_sample(path: str | Path) -> np.ndarray:
    """One sample of tonic's preprocessed release: rows x, y, p, t (ms) -> events with t in us."""
    path = Path(path)
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path}: unreadable .npy ({exc}); {RAW_HINT}") from None
    if a.ndim != 2 or a.shape[1] != 4:
        raise ConfigError(f"{path}: expected rows of (x, y, p, t), got shape {a.shape}")
    ev = make_events(a[:, 0], a[:, 1], np.rint(a[:, 3] * 1000), a[:, 2])
    return ev[np.argsort(ev["t"], kind="stable")]


def _user(name: str) -> int:
    m = re.match(r"user(\d+)_", name)
    if not m:
        raise ConfigError(f"{name}: expected a name like user01_fluorescent")
    return int(m.group(1))


def _aedat_sources(folder: Path) -> dict[str, tuple[list, np.ndarray]]:
    """(file, start, end) per sample and labels, per split, from an AEDAT 3.1 release."""
    files = sorted(folder.glob("user*.aedat"))
    lists = {s: folder / f"trials_to_{s}.txt" for s in framesets.SPLITS}
    if all(p.is_file() for p in lists.values()):
        chosen = {s: {ln.strip() for ln in p.read_text().splitlines() if ln.strip()} for s, p in lists.items()}
        split_of = {f: next((s for s in chosen if f.name in chosen[s]), None) for f in files}
    else:
        split_of = {f: "test" if _user(f.name) in TEST_USERS else "train" for f in files}
    out: dict[str, tuple[list, list]] = {s: ([], []) for s in framesets.SPLITS}
    for f, split in split_of.items():
        if split is None:
            continue
        labels_csv = f.with_name(f.stem + "_labels.csv")
        if not labels_csv.is_file():
            raise ConfigError(f"{f}: no {labels_csv.name} beside it; {RAW_HINT}")
        for label, start, end in read_labels_csv(labels_csv):
            out[split][0].append((f, start, end))
            out[split][1].append(label)
    return {s: (items, np.array(labels, np.int64)) for s, (items, labels) in out.items()}


def _npy_sources(root: Path) -> dict[str, tuple[list, np.ndarray]]:
    out = {}
    for split, folder in (("train", root / "ibmGestureTrain"), ("test", root / "ibmGestureTest")):
        files = sorted(folder.glob("user*/*.npy"))
        labels = np.array([int(re.match(r"\d+", f.name).group(0)) if re.match(r"\d+", f.name) else -1
                           for f in files], np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
            raise ConfigError(f"{folder}: sample files must be named <label>.npy with label 0..10")
        out[split] = (files, labels)
    return out


def _frames(events: np.ndarray) -> np.ndarray:
    return to_frames(downsample(events, FACTOR), SIZE, SIZE, TIME_BINS)


def scan(root: Path) -> tuple[dict[str, tuple[list, np.ndarray]], str]:
    """Samples and labels of both splits of the DVS128 Gesture copy at `root`, and its layout ('npy' or 'aedat').

    ConfigError naming what is wrong there: not a readable folder, no samples
    for a split, a sample file that is not a readable file.
    """
    readable_dir(root)
    if (root / "ibmGestureTrain").is_dir() and (root / "ibmGestureTest").is_dir():
        found, layout = _npy_sources(root), "npy"
    else:
        folder = root / "DvsGesture" if (root / "DvsGesture").is_dir() else root
        readable_dir(folder)
        found, layout = _aedat_sources(folder), "aedat"
    empty = [s for s in framesets.SPLITS if not found[s][0]]
    if empty:
        raise ConfigError(f"{root}: found no samples for {' and '.join(empty)}; {RAW_HINT}")
    for items, _ in found.values():
        for path in sorted({item if layout == "npy" else item[0] for item in items}):
            readable_file(path)
    return found, layout


def load_real(data_dir: str | Path | None = None, access: Access = Access.BUILD, verify: bool = False) -> DatasetSplits:
    """Real DVS128 Gesture as frames, converted from ``<data>/dvs128/raw`` on first use (resumable) and cached."""
    real = framesets.Imported("dvs128", "DVS128 Gesture", data_dir, TIME_BINS, RAW_HINT)
    done = real.existing(access, verify)
    if done is not None:
        return done
    root = real.root.resolve()
    found, layout = scan(root)  # errors name the user's files
    sources = {}
    for split, (items, labels) in found.items():
        if layout == "npy":
            sources[split] = (labels, lambda i, items=items: _frames(read_npy_sample(items[i])))
        else:
            sources[split] = (labels, lambda i, items=items: _frames(aedat_sample(*items[i])))
    n = {s: len(found[s][1]) for s in framesets.SPLITS}
    return framesets.build(real.cache, "dvs128", FRAME_SHAPE, len(CLASSES), False,
                           f"DVS128 Gesture (real, {layout} layout): {n['train']:,} training and {n['test']:,} test "
                           f"samples from {root}, 128x128 downsampled to {SIZE}x{SIZE}, {TIME_BINS} frames",
                           sources, {"raw": str(root), "layout": layout, "time_bins": TIME_BINS}, real.make,
                           fresh=access is Access.REBUILD)


def gesture_paths(label: int, rng: np.random.Generator, times_s: np.ndarray) -> np.ndarray:
    """Centers (steps, disks, 2) as (y, x) of the moving disks of one synthetic gesture of class `label`."""
    f = rng.uniform(0.9, 1.6)           # gesture frequency, Hz
    a = rng.uniform(16.0, 26.0)         # amplitude, pixels
    ph = rng.uniform(0.0, 2 * np.pi)
    cy, cx = 56 + rng.uniform(-8, 8), 64 + rng.uniform(-8, 8)
    w = 2 * np.pi * f * times_s + ph
    side = {1: 24, 2: -24, 3: 24, 4: 24, 5: -24, 6: -24}.get(label, 0)

    def disk(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.stack([np.broadcast_to(y, times_s.shape), np.broadcast_to(x, times_s.shape)], axis=-1)

    if label == 0:    # clap: two hands meet in the middle and part again
        gap = 8 + a * 0.5 * (1 + np.cos(w))
        disks = [disk(cy, cx - gap), disk(cy, cx + gap)]
    elif label in (1, 2):  # wave: side to side along a shallow arc
        disks = [disk(cy - 12 + 0.2 * a * np.cos(2 * w), cx + side + 0.8 * a * np.sin(w))]
    elif label in (3, 4, 5, 6):  # arm circles; with y pointing down, a growing angle turns clockwise on screen
        turn = w if label in (3, 5) else -w
        disks = [disk(cy + a * np.sin(turn), cx + side + a * np.cos(turn))]
    elif label == 7:  # arm roll: two hands circling each other
        r = 0.35 * a
        disks = [disk(cy + 10 + r * np.sin(1.5 * w), cx + r * np.cos(1.5 * w)),
                 disk(cy + 10 - r * np.sin(1.5 * w), cx - r * np.cos(1.5 * w))]
    elif label == 8:  # air drums: two hands beating up and down in alternation
        disks = [disk(cy + 12 + 0.6 * a * np.sin(1.5 * w), cx - 22), disk(cy + 12 - 0.6 * a * np.sin(1.5 * w), cx + 22)]
    elif label == 9:  # air guitar: fast strumming low right, slow fretting high left
        disks = [disk(cy + 14 + 0.5 * a * np.sin(2 * w), cx + 12),
                 disk(cy - 14 + 3 * np.sin(0.5 * w), cx - 28 + 3 * np.sin(0.5 * w))]
    else:             # other: one or two hands on random smooth paths
        disks = []
        for _ in range(rng.integers(1, 3)):
            fr, amp, p0 = rng.uniform(0.3, 1.5, (2, 3)), rng.uniform(4, 12, (2, 3)), rng.uniform(0, 2 * np.pi, (2, 3))
            wobble = (amp[..., None] * np.sin(2 * np.pi * fr[..., None] * times_s + p0[..., None])).sum(axis=1)
            disks.append(disk(cy + wobble[0], cx + rng.uniform(-20, 20) + wobble[1]))
    return np.ascontiguousarray(np.stack(disks, axis=1))


def synthetic_events(label: int, rng: np.random.Generator) -> np.ndarray:
    """Gesture-like events of class `label` on the 128 x 128 sensor."""
    times = np.linspace(0.0, DURATION_US, STEPS + 1)
    centers = gesture_paths(label, rng, times * 1e-6)
    k = centers.shape[1]
    coarse = rng.uniform(0.15, 0.45, (9, 9))  # a still, smoothly varying background with a brighter torso
    background = np.kron(coarse, np.ones((16, 16)))[:SENSOR, :SENSOR]
    background[70:, 40:88] += 0.15
    radii = rng.uniform(5.0, 8.0, k)
    levels = rng.uniform(0.7, 1.0, k) if rng.random() < 0.8 else rng.uniform(0.0, 0.05, k)
    thresh = thresholds(rng, (SENSOR, SENSOR), CONTRAST, MISMATCH)
    fields = run_with_capacity(disk_scene_events, (background, centers, radii, levels, times, thresh), 1 << 16)
    return with_shot_noise(rng, fields, NOISE_HZ, (SENSOR, SENSOR), DURATION_US)


def load_synthetic(data_dir: str | Path | None = None, seed: int = 0, sizes: tuple[int, int] | None = None,
                   access: Access = Access.BUILD, verify: bool = False) -> DatasetSplits:
    """The 11-class gesture-like set (`sizes` = train, test; classes in turn), generated once and cached."""
    n_train, n_test = sizes or DEFAULT_SIZES
    if n_train < 1 or n_test < 1:
        raise ConfigError(f"dvs128-synthetic: sizes must be positive, got {n_train}, {n_test}")
    cache = data_root(data_dir) / "dvs128-synthetic" / f"train{n_train}-test{n_test}-seed{seed}"
    make = command("generate", "dvs128-synthetic", data_dir, *size_options((n_train, n_test), seed, DEFAULT_SIZES))
    done = framesets.cached(cache, make, access, verify)
    if done is not None:
        return done
    sources = {}
    for k, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        labels = np.arange(n, dtype=np.int64) % len(CLASSES)

        def produce(i: int, labels: np.ndarray = labels, k: int = k) -> np.ndarray:
            return _frames(synthetic_events(int(labels[i]), np.random.default_rng([seed, k, i])))
        sources[split] = (labels, produce)
    return framesets.build(cache, "dvs128-synthetic", FRAME_SHAPE, len(CLASSES), True,
                           f"SYNTHETIC gesture-like events (not DVS128 Gesture): {n_train:,} training and {n_test:,} "
                           f"test samples of 11 classes of moving disks on a simulated 128x128 event camera "
                           f"(seed {seed}), downsampled to {SIZE}x{SIZE}, {TIME_BINS} frames",
                           sources, {"seed": seed, "train": n_train, "test": n_test, "contrast": CONTRAST,
                                     "mismatch": MISMATCH, "noise_hz": NOISE_HZ}, make,
                           fresh=access is Access.REBUILD)
