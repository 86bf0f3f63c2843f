"""Writing files so that an interrupted job never leaves a half-written one.

Every result, cache and checkpoint SpikePipe writes goes through `atomic_path`: the data is
written to a temporary file beside the target and moved onto it with one `os.replace`.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success move it onto `target`, else delete it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as written:  # on disk before it takes the target's name
            os.fsync(written.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are readable like any other file
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(target: str | Path, data: bytes | str) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)


def write_csv_atomic(target: str | Path, rows: Sequence[dict]) -> None:
    """Write dicts with the same keys as a CSV table (header: the first row's keys) atomically."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_atomic(target, buf.getvalue())
