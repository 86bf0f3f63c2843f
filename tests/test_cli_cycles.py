"""`spikepipe cycles` output, JSON shape and one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys

from simulator.cli import main


def test_cycles_table_reproduces_table_6(capsys) -> None:
    assert main(["cycles", "--network", "mnist"]) == 0
    out = capsys.readouterr().out
    for figure in ("13,916", "6,334", "26,264", "4,890", "1,816", "3,640", "2,470", "190", "280", "288"):
        assert figure in out
    assert "Total cycles per weight update: 46,956" in out
    assert "paper: 3.22 MB" in out and "paper: 11.568 MB" in out


def test_cycles_json(capsys) -> None:
    assert main(["cycles", "--network", "mnist", "--array", "32x32", "--batch", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["network"] == "mnist" and doc["array"] == [32, 32] and doc["batch"] == 1
    assert doc["layers"][0] == {"name": "conv1", "fp": 13_916, "wg": 6_334, "ig": 26_264}
    assert doc["total"] == 46_956
    assert main(["cycles", "--json", "--include-first-ig"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 46_956 + 26_264


def test_cycles_errors_are_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('timesteps = 2\ninput = [4, 4, 1]\n[[layers]]\ntype = "conv"\nfilters = 0\n')
    for args in (["--array", "0x0"], ["--network", "nope"], ["--network", str(bad)], ["--batch", "0"]):
        run = subprocess.run([sys.executable, "-m", "simulator", "cycles", *args], capture_output=True, text=True)
        assert run.returncode == 2, args
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("spikepipe cycles: error: "), run.stderr
        assert "Traceback" not in run.stderr


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("spikepipe ")


def test_cycles_per_task_energy_and_utilisation(capsys, tmp_path) -> None:
    from simulator.cost import ArrayConfig, network_cost
    from simulator.energy import Activity, mapping_efficiency, task_energy, utilization
    from simulator.machine import load_machine
    from workloads import MNIST

    cost, array = network_cost(MNIST, ArrayConfig(32, 32), 1), ArrayConfig(32, 32)
    for machine in ("realistic", "ideal"):
        assert main(["cycles", "--network", "mnist", "--json", "--machine", machine]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["machine"] == machine and doc["activity"] is None
        table = load_machine(machine).energy
        for row, task in zip(doc["tasks"], cost.tasks):
            e = task_energy(cost, task, table)
            assert row["energy_uj"] == e.total_pj * 1e-6 and row["sram_energy_uj"] == e.sram_pj * 1e-6
            assert row["utilization_pct"] == 100 * utilization(task, array)
            assert row["mapping_efficiency_pct"] == 100 * mapping_efficiency(task, array)
            assert 0 < row["utilization_pct"] <= row["mapping_efficiency_pct"] <= 100
    wg0 = doc["tasks"][1]
    assert wg0["task"] == "WG0" and wg0["tiles"] == 1 and round(wg0["mapping_efficiency_pct"], 1) == 7.0
    path = tmp_path / "activity.json"
    path.write_text(json.dumps({"densities": [None, 0.1, 0.1, 0.1], "source": "test"}))
    assert main(["cycles", "--network", "mnist", "--json", "--activity", str(path)]) == 0
    sparse = json.loads(capsys.readouterr().out)
    fp1 = next(r for r in sparse["tasks"] if r["task"] == "FP1")
    expected = task_energy(cost, cost.task(1, cost.tasks[0].kind), load_machine("realistic").energy,
                           Activity((1.0, 0.1, 0.1, 0.1)))
    assert fp1["energy_uj"] == expected.total_pj * 1e-6 and fp1["spike_density"] == 0.1
    assert main(["cycles", "--network", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "energy µJ" in out and "mapping efficiency %" in out and "Dynamic energy per weight update" in out
