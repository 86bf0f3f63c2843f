"""Every table a `spikepipe` command prints says the units of its quantities in its header line."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import main

# A network of the MNIST input shape, small enough to emulate, train and co-simulate in seconds.
SMALL = """name = "small"
timesteps = 2
input = [28, 28, 1]

[[layers]]
type = "conv"
filters = 2
kernel = 4
stride = 2

[[layers]]
type = "maxpool"
size = 2

[[layers]]
type = "output"
units = 10
"""


def fake_mnist(data_dir: Path, seed: int = 0) -> np.ndarray:
    """A 30 + 10 image MNIST cache under `data_dir` (random pixels); its training images."""
    from workloads.datasets import mnist
    x = np.random.default_rng(seed).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    mnist.save_npz(mnist.cache_path(data_dir), x_train=x[:30], y_train=np.arange(30, dtype=np.uint8) % 10,
                   x_test=x[30:], y_test=np.arange(10, dtype=np.uint8), source=np.array("test"))
    return x[:30]


def headers(text: str) -> list[list[str]]:
    """The header cells of every table in `text` (`simulator.cli.common.table`: a header line, then dashes)."""
    lines = text.splitlines()
    return [re.split(r"\s{2,}", lines[i - 1].strip()) for i in range(1, len(lines))
            if re.fullmatch(r"-+( +-+)*", lines[i]) and lines[i - 1].strip()]


def check(text: str, *tables: list[str]) -> None:
    """Each of `tables` (the header cells that carry units) is one of the tables printed in `text`."""
    printed = headers(text)
    for cells in tables:
        assert any(set(cells) <= set(h) for h in printed), (cells, printed)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def _run(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0, argv
    return capsys.readouterr().out


def test_cycles_schedule_export(capsys, tmp_path) -> None:
    check(_run(capsys, "cycles"), ["Forward pass cycles", "Weight gradient cycles", "Input gradient cycles"],
          ["cycles", "energy µJ", "utilisation %", "mapping efficiency %"])
    check(_run(capsys, "schedule", "--procs", "2"), ["Load cycles", "Idle %"],
          ["Bytes / mini-batch", "of which overhead, bytes"])
    check(_run(capsys, "export", "--format", "scalesim", "--network", "mnist", "--out", str(tmp_path / "ss")),
          ["Cycles (eq. 28)", "SCALE-Sim reports, cycles"])


def test_sweep(capsys, tmp_path) -> None:
    check(_run(capsys, "sweep", "--networks", "mnist", "--procs", "1,2", "--batches", "1", "--arrays", "32",
               "--workers", "1", "--no-plots", "--out", str(tmp_path)), ["FG ovh KB", "FG weights KB", "paper KB"])


def test_simulate(capsys) -> None:
    check(_run(capsys, "simulate", "--procs", "2", "--minibatches", "12", "--scheduler", "finegrained"),
          ["ideal cycles/update", "physical cycles/update", "time/update µs", "samples/s", "energy/sample mJ",
           "peak SRAM KB", "of capacity %"],
          ["load cycles", "busy %", "wait data %", "wait weights %", "wait DRAM %", "wait bus %", "idle %",
           "peak SRAM KB", "SRAM KB"],
          ["occupancy %", "steady share %", "KB moved"])
    check(_run(capsys, "simulate", "--procs", "2", "--minibatches", "12", "--machine", "ideal"),
          ["analytic cyc/update", "simulated cyc/update", "speedup (x)", "fill latency cycles", "mean utilization %",
           "bus KB/mini-batch"],
          ["formula cycles/update", "simulated cycles/update", "speedup (x)", "time/update µs", "samples/s",
           "bubble %"])


def test_validate(capsys, small) -> None:
    check(_run(capsys, "validate", "--network", str(small), "--array", "8", "--batch", "2"),
          ["Emulated cycles", "Analytic cycles (eq. 28)", "To last MAC cycles"],
          ["Samples/filter", "Bank done cycle", "Array cycles", "Stall cycles", "Extra cycles"])


def test_train_and_functional_simulation(capsys, small, tmp_path) -> None:
    data = tmp_path / "data"
    fake_mnist(data)
    common = ["--network", str(small), "--dataset", "mnist", "--data-dir", str(data), "--batch", "10",
              "--threads", "1"]
    check(_run(capsys, "train", *common, "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"),
          ["Train acc %", "Test acc %", "Firing rates, spikes per neuron per timestep"])
    check(_run(capsys, "simulate", "--functional", *common, "--procs", "2", "--scheduler", "finegrained",
               "--emulate", "FP0", "--emulate-batches", "1"),
          ["analytic cyc/update", "simulated cyc/update", "fill latency cycles", "total cycles"],
          ["pipelined (functional) test acc %"],
          ["emulated cycles", "slice cycles"])


def test_data_info_machine_show_explore(capsys, tmp_path) -> None:
    fake_mnist(tmp_path / "data")
    text = _run(capsys, "data", "info", "mnist", "--data-dir", str(tmp_path / "data"))
    check(text, ["train", "test"])  # one column per split: the rows say what they count
    assert re.search(r"^samples +30 +10$", text, flags=re.M)
    assert re.search(r"^sample shape, HxWxC +28x28x1 +28x28x1$", text, flags=re.M)
    check(_run(capsys, "machine", "show", "realistic"), ["item", "value", "unit"])
    grid = tmp_path / "grid.toml"
    grid.write_text('name = "g"\nseed = 1\nkind = "des"\n[fixed]\nminibatches = 12\n[vary]\nprocs = [2, 4]\n')
    check(_run(capsys, "explore", str(grid), "--workers", "1", "--out", str(tmp_path / "out"), "--no-plots"),
          ["throughput (samples/s)", "speedup (x)", "energy per sample (J)"])
