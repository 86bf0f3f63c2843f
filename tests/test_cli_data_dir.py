"""`--data-dir`: every command that reads a dataset reads it from there, not from $SPIKEPIPE_DATA."""
from __future__ import annotations

import argparse
import json

import numpy as np

from simulator.cli import build_parser, main
from simulator.emulator.step import step_input
from workloads import load_network
from workloads.datasets import ENV_VAR

from tests.test_cli_tables import SMALL, fake_mnist

READERS = ("train", "simulate", "validate", "explore", "data fetch", "data generate", "data import", "data info")


def test_every_command_that_reads_data_takes_it() -> None:
    progs = {}
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                progs[name] = sub
                for verbs in sub._actions:
                    if isinstance(verbs, argparse._SubParsersAction):
                        progs.update({f"{name} {v}": p for v, p in verbs.choices.items()})
    for name in READERS:
        assert "--data-dir" in progs[name]._option_string_actions, name


def test_validate_reads_the_data_dir(tmp_path, monkeypatch, capsys) -> None:
    net_file = tmp_path / "small-mnist.toml"
    net_file.write_text(SMALL.replace('name = "small"', 'name = "mnist"'))  # inputs: the dataset of its name
    given, elsewhere, empty = tmp_path / "given", tmp_path / "env", tmp_path / "empty"
    images = fake_mnist(given, seed=0)
    fake_mnist(elsewhere, seed=1)
    empty.mkdir()
    argv = ["validate", "--network", str(net_file), "--array", "8", "--batch", "2", "--json"]

    monkeypatch.setenv(ENV_VAR, str(empty))
    assert main(argv + ["--data-dir", str(given)]) == 0
    assert json.loads(capsys.readouterr().out)["data"] == "dataset mnist (first 2)"
    monkeypatch.setenv(ENV_VAR, str(elsewhere))
    assert main(argv + ["--data-dir", str(empty)]) == 0  # --data-dir wins over the environment
    assert json.loads(capsys.readouterr().out)["data"] == "seeded random data (seed 0)"
    assert main(argv) == 0  # without it: the environment's
    assert json.loads(capsys.readouterr().out)["data"] == "dataset mnist (first 2)"

    x, labels, source = step_input(load_network(str(net_file)), 2, 0, given)
    assert source == "dataset mnist (first 2)" and list(labels) == [0, 1]
    np.testing.assert_allclose(x[0, :, :, :, 0], images[:2] / 255, atol=1e-6)  # the images of `given`, as currents


def test_explore_passes_it_to_training_points(tmp_path, capsys) -> None:
    (tmp_path / "small.toml").write_text(SMALL)
    data, empty = tmp_path / "data", tmp_path / "empty"
    fake_mnist(data)
    grid = tmp_path / "grid.toml"
    grid.write_text(f'name = "g"\nseed = 1\nkind = "train"\n[fixed]\nnetwork = "{tmp_path / "small.toml"}"\n'
                    f'dataset = "mnist"\nbatch = 10\nout = "{tmp_path / "runs"}"\n[vary]\nrun_seed = [0]\n')
    argv = ["explore", str(grid), "--workers", "1", "--no-plots", "--json"]
    assert main(argv + ["--out", str(tmp_path / "none"), "--data-dir", str(empty)]) == 0
    assert json.loads(capsys.readouterr().out)["failed"] == 1
    error = json.loads((tmp_path / "none" / "results.jsonl").read_text().splitlines()[-1])["error"]
    assert f"{empty / 'mnist' / 'mnist.npz'} missing" in error, error
    assert main(argv + ["--out", str(tmp_path / "ok"), "--data-dir", str(data)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"] == 0 and doc["experiment"]["fixed"]["data_dir"] == str(data)
    assert (tmp_path / "runs").is_dir()  # the point trained on the images under --data-dir

    grid.write_text(grid.read_text().replace("[vary]", f'data_dir = "{data}"\n[vary]'))
    assert main(argv + ["--data-dir", str(data)]) == 2  # set twice
    assert "sets 'data_dir' already" in capsys.readouterr().err
    des = tmp_path / "des.toml"
    des.write_text('name = "d"\nseed = 1\nkind = "des"\n[vary]\nprocs = [2]\n')
    assert main(["explore", str(des), "--workers", "1", "--data-dir", str(data)]) == 2
    assert "points of kind 'des' read no dataset" in capsys.readouterr().err
