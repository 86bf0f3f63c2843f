"""The code of docs/api.md runs, in order, as one notebook would run it (so the examples cannot rot)."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API.read_text(), flags=re.S)


def test_api_examples_run(tmp_path, monkeypatch) -> None:
    blocks = _blocks()
    assert len(blocks) >= 5, "docs/api.md lost its examples"
    monkeypatch.chdir(tmp_path)
    backend = matplotlib.get_backend()
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/api.md block {i + 1}", "exec"), namespace)
    assert matplotlib.get_backend() == backend  # plotting never switches the global backend
