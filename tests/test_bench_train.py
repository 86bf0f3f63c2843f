"""benchmarks/bench_train.py: without torch it says so, measures SpikePipe alone and exits 0; the timed rounds
alternate between the two sides (ABBA) and the ratios are medians of per-round ratios."""
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


class _FakeWorker:
    """Stands in for `bench_train.Worker`: fixed CPU and wall seconds per step, calls logged."""

    def __init__(self, name, cpu, wall, log, mode=None):
        self.info = {"threads": 1, "mode": mode}
        self.rounds, self.name, self.cpu, self.wall, self.log = [], name, cpu, wall, log

    def round(self):
        self.log.append(self.name)
        self.rounds.append(B.RoundTimes(2, 2 * self.cpu[len(self.rounds)], 2 * self.wall, 0.1, 1.0))
        return self.rounds[-1]


def test_compare_alternates_abba_and_takes_the_median_of_per_round_ratios():
    log = []
    ours = _FakeWorker("ours", [1.0, 2.0, 1.0, 1.0], 1.0, log)
    peer = _FakeWorker("peer", [3.0, 4.0, 5.0, 3.0], 4.0, log, mode="step")
    out = B.compare(ours, peer, 4)
    assert log == ["ours", "peer", "peer", "ours", "ours", "peer", "peer", "ours"]
    assert out["cpu_ratios"] == [3.0, 2.0, 5.0, 3.0] and out["cpu_ratio"] == 3.0  # per round, then the median
    assert out["wall_ratio"] == 4.0 and out["peer_mode"] == "step" and out["ours_cpu_s_per_step"] == 1.0
