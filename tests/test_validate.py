"""`spikepipe validate`: a whole training step through the emulator agrees with `cost` and numpy."""
from __future__ import annotations

import json

import numpy as np

from simulator.cli import main
from simulator.cost import ArrayConfig, network_cost
from simulator.emulator import emulate_step
from simulator.emulator.step import step_input
from workloads import MNIST, load_network

TINY = """name = "tiny"
timesteps = 5
input = [9, 7, 2]
input_kind = "spikes"

[[layers]]
type = "conv"
filters = 6
kernel = 3
padding = 0

[[layers]]
type = "conv"
filters = 4
kernel = 2
padding = 1

[[layers]]
type = "maxpool"

[[layers]]
type = "dense"
units = 11

[[layers]]
type = "output"
units = 3
"""


STRIDED = """name = "strided"
timesteps = 4
input = [12, 11, 2]
input_kind = "spikes"

[[layers]]
type = "conv"
filters = 5
stride = 2

[[layers]]
type = "avgpool"

[[layers]]
type = "conv"
filters = 4
kernel = 2
padding = 1
stride = 2

[[layers]]
type = "sumpool"

[[layers]]
type = "output"
units = 3
"""


def _run_json(capsys, *args: str) -> dict:
    assert main(["validate", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_mnist_step_on_32x32(capsys) -> None:
    doc = _run_json(capsys, "--network", "mnist")
    assert doc["all_match"] and doc["all_within_bound"]
    assert doc["emulated_total"] == doc["analytic_total"] == 46_956
    assert [t["task"] for t in doc["tasks"]] == [t.label for t in network_cost(MNIST, ArrayConfig(32, 32)).tasks]
    assert doc["tasks"][0]["emulated_cycles"] == 13_916 and doc["tasks"][0]["cycles_to_last_mac"] < 13_916
    forward = [b for b in doc["filter_bank"] if b["pass"] == "forward"]
    assert len(forward) == 4 and all(b["stall_cycles"] == 0 and b["extra_cycles"] <= 1 for b in forward)
    assert doc["data"].startswith(("dataset mnist", "seeded random data"))


def test_nmnist_non_square_array_batch_2(capsys) -> None:
    doc = _run_json(capsys, "--network", "nmnist", "--array", "24x40", "--batch", "2", "--seed", "3")
    assert doc["all_match"] and doc["all_within_bound"]
    assert doc["emulated_total"] == doc["analytic_total"]
    assert all(b["stall_cycles"] == 0 for b in doc["filter_bank"])


def test_user_network_with_first_ig(capsys, tmp_path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    doc = _run_json(capsys, "--network", str(path), "--array", "5x3", "--include-first-ig")
    net = load_network(str(path))
    cost = network_cost(net, ArrayConfig(5, 3), 1, include_first_ig=True)
    assert doc["data"] == "seeded random data (seed 0)"
    assert doc["all_match"] and doc["all_within_bound"] and doc["emulated_total"] == cost.total
    assert len(doc["tasks"]) == 3 * len(net.compute_layers())
    assert [b["pass"] for b in doc["filter_bank"]] == ["forward"] * 4 + ["backward"] * 3


def test_stride_two_and_pools(capsys, tmp_path) -> None:
    """Strided convolutions (IG: the dense transposed convolution over the dilated gradient) behind an
    average and a sum pool: every task's emulated cycles equal `cost`, its values numpy's."""
    path = tmp_path / "strided.toml"
    path.write_text(STRIDED)
    net = load_network(str(path))
    assert [(l.out_shape, l.sent_shape) for l in net.compute_layers()[:2]] == [((6, 6, 5), (3, 3, 5)),
                                                                              ((2, 2, 4), (1, 1, 4))]
    doc = _run_json(capsys, "--network", str(path), "--array", "4x3", "--batch", "2", "--include-first-ig")
    cost = network_cost(net, ArrayConfig(4, 3), 2, include_first_ig=True)
    assert doc["all_match"] and doc["all_within_bound"] and doc["emulated_total"] == cost.total
    ig = {t["task"]: t for t in doc["tasks"]}["IG1"]
    assert (ig["rows"], ig["cols"], ig["macs"]) == (3 * 3 * 4 * 2, 5, 2 * 2 * 4)  # every input position, K*K*F taps
    assert [b["pass"] for b in doc["filter_bank"]] == ["forward"] * 3 + ["backward"] * 2


def test_table_and_errors(capsys) -> None:
    assert main(["validate", "--network", "mnist", "--array", "16x8"]) == 0
    out = capsys.readouterr().out
    assert "All tasks match the analytic model and numpy." in out and "IIR filter bank" in out
    assert main(["validate", "--array", "0x4"]) == 2
    assert "array: field 'rows'" in capsys.readouterr().err


def test_step_input_is_encoded_like_the_trainer_input(tmp_path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    frames, labels, source = step_input(load_network(str(path)), 3, seed=1)
    assert frames.shape == (5, 3, 9, 7, 2) and frames.dtype == np.float32
    assert set(np.unique(frames)) <= {0.0, 1.0} and source == "seeded random data (seed 1)"
    assert labels.shape == (3,) and labels.max() < 3
    image, _, _ = step_input(MNIST, 2, seed=1)
    assert image.shape == (MNIST.timesteps, 2, 28, 28, 1)
    assert (image == image[:1]).all()  # a constant current at every timestep
    step = emulate_step(load_network(str(path)), ArrayConfig(4, 4), 2, seed=1)
    assert step.ok and [t.task for t in step.tasks] == [
        t.label for t in network_cost(load_network(str(path)), ArrayConfig(4, 4), 2).tasks]
