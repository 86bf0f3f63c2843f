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

from .errors import path_error


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success move it onto `target`, else delete it.
    An OSError (here or in the caller's writing) comes out naming `target` (`path_error`)."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise path_error(exc, "write", target) from exc
    try:
        yield Path(tmp)
        with open(tmp, "rb") as written:  # on disk before it takes the target's name
            os.fsync(written.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are readable like any other file
        os.replace(tmp, target)
    except OSError as exc:  # a full disk, a directory in the target's place: name the target
        Path(tmp).unlink(missing_ok=True)
        if exc.filename not in (None, tmp, str(target)):
            raise  # about another file the caller touched
        raise path_error(exc, "write", target) from exc
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
