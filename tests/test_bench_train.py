"""benchmarks/bench_train.py without torch: it says so, measures SpikePipe alone and exits 0."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # the script imports its neighbour machine_load, as when run from there
    sys.path.insert(0, str(BENCHMARKS))
_SPEC = importlib.util.spec_from_file_location("bench_train", BENCHMARKS / "bench_train.py")
B = sys.modules.setdefault("bench_train", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(B)


def test_without_torch_ours_only_and_exit_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(B, "torch_available", lambda: False)
    out = tmp_path / "bench.json"
    assert B.main(["--nets", "mnist", "--threads", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "torch is not installed" in text and "only SpikePipe's figures" in text
    row = json.loads(out.read_text())["rows"][0]
    assert row["peer"] is None and "pip install torch" in row["peer_note"]
    assert row["spikepipe"]["samples_per_s"] > 0 and row["spikepipe"]["init"] == "firing"
    assert len(row["spikepipe"]["firing_rates"]) == 3


def test_unknown_network_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        B.main(["--nets", "mnist,lenet"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "unknown network 'lenet'" in err and len(err.strip().splitlines()) == 1
