"""N-MNIST: the real dataset's reader and an N-MNIST-like generator from real MNIST digits.

Real format (Orchard et al. 2015): one ``.bin`` file per sample, 5 bytes per
event: byte 0 = x, byte 1 = y, byte 2 bit 7 = polarity, bits 22..0 of bytes
2-4 = timestamp in microseconds (big-endian). An event with ``y == 240`` is a
timestamp-overflow marker: later timestamps gain 2**23 (the 23-bit counter
wrapped). The reference MATLAB/Python readers add 2**13 instead; N-MNIST
recordings last about 0.3 s, far below 2**23 us, so no marker occurs in them.
Layout: ``Train/<digit>/<id>.bin`` and ``Test/<digit>/<id>.bin`` (the
extracted ``Train.zip`` / ``Test.zip``), placed at ``<data>/nmnist/raw/``.

Synthetic (``nmnist-synthetic``, NOT N-MNIST): each MNIST digit is shown on a
34 x 34 sensor that moves along three saccades forming an isosceles triangle,
as the real recordings were made, and passes through the event-camera model of
`camera`. Both go through `functional.to_frames` into 30 frames of 34 x 34 x 2.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from . import framesets, mnist
from .camera import run_with_capacity, saccade_events, thresholds, with_shot_noise
from .events import make_events
from .functional import to_frames
from .framesets import Access, command, size_options
from .store import data_root, readable_dir, readable_file
from .types import DatasetSplits

SENSOR = 34
TIME_BINS = 30
CLASSES = mnist.CLASSES  # the ten digits
FRAME_SHAPE = (TIME_BINS, SENSOR, SENSOR, 2)
OVERFLOW_Y = 240
RAW_HINT = ("download N-MNIST (Orchard et al. 2015: Train.zip and Test.zip), extract both and run "
            "`spikepipe data import nmnist DIR` with the folder holding Train/ and Test/ "
            "(or place them at <data>/nmnist/raw/); 'nmnist-synthetic' is a stand-in that needs only MNIST")

# Synthetic recording: three saccades of SACCADE_US each along the triangle's vertices (dy, dx) in pixels.
SACCADE_VERTICES = np.array([[0.0, 0.0], [6.0, 3.0], [0.0, 6.0], [0.0, 0.0]])
SACCADE_US = 100_000.0
STEPS_PER_SACCADE = 50
CONTRAST = 0.5         # threshold on log intensity
MISMATCH = 0.05        # relative spread of thresholds over pixels
NOISE_HZ = 0.2         # shot noise per pixel and polarity
DEFAULT_SIZES = (10_000, 2_000)


def read_bin(path: str | Path) -> np.ndarray:
    """Events of one N-MNIST ``.bin`` file, overflow markers removed, in file order."""
    path = Path(path)
    try:
        raw = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw.size % 5:
        raise ConfigError(f"{path}: {raw.size} bytes is not a whole number of 5-byte N-MNIST events "
                          f"(truncated or not N-MNIST); {RAW_HINT}")
    ev = raw.reshape(-1, 5).astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    p = ev[:, 2] >> 7
    t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    marker = y == OVERFLOW_Y
    t = t + (np.cumsum(marker) << 23)
    keep = ~marker
    if keep.any() and (x[keep].max() >= SENSOR or y[keep].max() >= SENSOR):
        raise ConfigError(f"{path}: pixel outside the {SENSOR} x {SENSOR} N-MNIST sensor (not an N-MNIST file?)")
    return make_events(x[keep], y[keep], t[keep], p[keep])


def list_split(root: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """The ``.bin`` files of ``root/<Split>/<digit>/`` in a fixed order, with their labels; each a readable file."""
    folder = next((root / s for s in (split.capitalize(), split) if (root / s).is_dir()), None)
    if folder is None:
        raise ConfigError(f"{root}: no {split.capitalize()}/ folder; {RAW_HINT}")
    readable_dir(folder)
    files, labels = [], []
    for digit in range(CLASSES):
        if (folder / str(digit)).exists():
            readable_dir(folder / str(digit))
        found = sorted((folder / str(digit)).glob("*.bin"))
        for f in found:
            readable_file(f)
        files += found
        labels += [digit] * len(found)
    if not files:
        raise ConfigError(f"{folder}: no <digit>/*.bin files; {RAW_HINT}")
    return files, np.array(labels, np.int64)


def scan(root: Path) -> dict[str, tuple[list[Path], np.ndarray]]:
    """Files and labels of both splits of the N-MNIST copy at `root`; ConfigError naming what is wrong there."""
    readable_dir(root)
    return {split: list_split(root, split) for split in framesets.SPLITS}


def load_real(data_dir: str | Path | None = None, access: Access = Access.BUILD, verify: bool = False) -> DatasetSplits:
    """Real N-MNIST as frames, converted from ``<data>/nmnist/raw`` on first use (resumable) and cached."""
    real = framesets.Imported("nmnist", "N-MNIST", data_dir, TIME_BINS, RAW_HINT)
    done = real.existing(access, verify)
    if done is not None:
        return done
    root = real.root.resolve()
    sources = {}
    for split, (files, labels) in scan(root).items():  # errors name the user's files
        sources[split] = (labels, lambda i, files=files: to_frames(read_bin(files[i]), SENSOR, SENSOR, TIME_BINS))
    counts = {s: len(v[0]) for s, v in sources.items()}
    return framesets.build(real.cache, "nmnist", FRAME_SHAPE, CLASSES, False,
                           f"N-MNIST (real): {counts['train']:,} training and {counts['test']:,} test recordings "
                           f"from {root}, binned into {TIME_BINS} frames of {SENSOR}x{SENSOR}x2",
                           sources, {"raw": str(root), "time_bins": TIME_BINS}, real.make,
                           fresh=access is Access.REBUILD)


def saccade_path(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sensor offsets (dy, dx) and times (us) of the three saccades, with a small per-sample jitter."""
    u = np.linspace(0.0, 1.0, STEPS_PER_SACCADE + 1)[1:]
    ease = (1.0 - np.cos(np.pi * u)) / 2.0  # smooth start and stop, like a pan-tilt saccade
    scale = rng.uniform(0.85, 1.0)
    vertices = SACCADE_VERTICES * scale + rng.uniform(-0.5, 0.5, 2) + 0.5
    offsets = [vertices[:1]]
    times = [np.zeros(1)]
    for k in range(3):
        offsets.append(vertices[k] + ease[:, None] * (vertices[k + 1] - vertices[k]))
        times.append(SACCADE_US * (k + u * rng.uniform(0.95, 1.05)))
    return np.concatenate(offsets), np.concatenate(times)


def synthetic_events(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """N-MNIST-like events of one 28 x 28 image (float in [0, 1]) on the 34 x 34 sensor."""
    offsets, times = saccade_path(rng)
    thresh = thresholds(rng, (SENSOR, SENSOR), CONTRAST, MISMATCH)
    fields = run_with_capacity(saccade_events, (image.astype(np.float64), SENSOR, offsets, times, thresh), 16_384)
    return with_shot_noise(rng, fields, NOISE_HZ, (SENSOR, SENSOR), 3 * SACCADE_US)


def load_synthetic(data_dir: str | Path | None = None, seed: int = 0, sizes: tuple[int, int] | None = None,
                   access: Access = Access.BUILD, verify: bool = False) -> DatasetSplits:
    """The N-MNIST-like set made from real MNIST digits (`sizes` = train, test), generated once and cached."""
    n_train, n_test = sizes or DEFAULT_SIZES
    if not (0 < n_train <= 60_000 and 0 < n_test <= 10_000):
        raise ConfigError(f"nmnist-synthetic: sizes must be 1..60,000 train and 1..10,000 test, got {n_train}, {n_test}")
    cache = data_root(data_dir) / "nmnist-synthetic" / f"train{n_train}-test{n_test}-seed{seed}"
    make = command("generate", "nmnist-synthetic", data_dir, *size_options((n_train, n_test), seed, DEFAULT_SIZES))
    done = framesets.cached(cache, make, access, verify)
    if done is not None:
        return done
    try:
        digits = mnist.load(data_dir)
    except ConfigError as exc:
        raise ConfigError(f"nmnist-synthetic is made from real MNIST digits, which are not available: {exc}") from None
    sources = {}
    for k, (split, ds, n) in enumerate((("train", digits.train, n_train), ("test", digits.test, n_test))):
        pick = np.sort(np.random.default_rng([seed, k]).permutation(len(ds))[:n])
        images = ds.x[pick, :, :, 0]

        def produce(i: int, images: np.ndarray = images, k: int = k) -> np.ndarray:
            events = synthetic_events(images[i], np.random.default_rng([seed, k, i]))
            return to_frames(events, SENSOR, SENSOR, TIME_BINS)
        sources[split] = (ds.y[pick], produce)
    return framesets.build(cache, "nmnist-synthetic", FRAME_SHAPE, CLASSES, True,
                           f"SYNTHETIC N-MNIST-like events (not N-MNIST): {n_train:,} training and {n_test:,} test "
                           f"MNIST digits seen by a simulated event camera on a {SENSOR}x{SENSOR} sensor over three "
                           f"saccades (seed {seed}), binned into {TIME_BINS} frames of {SENSOR}x{SENSOR}x2",
                           sources, {"seed": seed, "train": n_train, "test": n_test, "contrast": CONTRAST,
                                     "mismatch": MISMATCH, "noise_hz": NOISE_HZ}, make,
                           fresh=access is Access.REBUILD)
