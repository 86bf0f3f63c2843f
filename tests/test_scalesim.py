"""SCALE-Sim round trip: a convolution topology imports as a network (Table I's, for the Table I
topologies), and every task exports as a GEMM row whose M, N, K give the cost model's cycles."""
from __future__ import annotations

import configparser
import json
from math import ceil

import pytest

from simulator.cli import main
from simulator.cost import ArrayConfig, network_cost
from simulator.scalesim import GEMM_HEADER, gemm_topology, scale_config, scalesim_cycles
from workloads import BUILTIN, MNIST, ConfigError, Network, load_network

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"

# Table I's MNIST network as a SCALE-Sim topology: IFMAP is each layer's unpadded input, fully
# connected layers are 1x1 rows (channels = inputs). T = 8 (Table I) is not in the file.
MNIST_TOPOLOGY = f"""{HEADER}
conv1, 28, 28, 3, 3, 1, 8, 1,
conv2, 14, 14, 3, 3, 8, 8, 1,
fc1, 1, 1, 1, 1, 392, 128, 1,
output, 1, 1, 1, 1, 128, 10, 1,
"""


def _shapes(net: Network) -> list[tuple]:
    return [(l.name, l.kind, l.in_shape, l.out_shape, l.sent_shape, l.kernel, l.padding, l.pool)
            for l in net.compute_layers()]


def _topology(net: Network) -> str:
    """A topology file for a network: each layer's unpadded input, filter, channels, filters."""
    rows = [HEADER]
    for l in net.compute_layers():
        if l.kind == "conv":
            h, w, c = l.in_shape
            rows.append(f"{l.name}, {h}, {w}, {l.kernel}, {l.kernel}, {c}, {l.out_channels}, 1,")
        else:
            rows.append(f"{l.name}, 1, 1, 1, 1, {l.in_size}, {l.out_size}, 1,")
    return "\n".join(rows) + "\n"


def test_mnist_topology_imports_as_table_1_and_costs_table_6(tmp_path, capsys) -> None:
    path = tmp_path / "mnist.csv"
    path.write_text(MNIST_TOPOLOGY)
    net = load_network(path, timesteps=MNIST.timesteps)
    assert _shapes(net) == _shapes(MNIST)
    assert net.params == MNIST.params and net.delays == (0, 0, 0, 0)
    assert network_cost(net, ArrayConfig(32, 32), 1).total == 46_956  # Table VI
    assert main(["cycles", "--network", str(path), "--timesteps", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 46_956


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_table_1_topologies_round_trip(tmp_path, name: str) -> None:
    """Padding and pooling, which SCALE-Sim files do not state, are recovered from the next row."""
    net = BUILTIN[name]
    path = tmp_path / f"{name}.csv"
    path.write_text(_topology(net))
    back = load_network(path, timesteps=net.timesteps)
    assert _shapes(back) == _shapes(net)
    for array, batch in ((ArrayConfig(32, 32), 1), (ArrayConfig(16, 64), 4)):
        assert network_cost(back, array, batch).total == network_cost(net, array, batch).total


def test_ambiguous_sizes_take_the_smallest_pool(tmp_path) -> None:
    """4x4 -> 3x3 filter -> 2x2 is a valid convolution (padding 0, no pool) or padding 1 and a 2x2
    pool; the importer takes no pool."""
    (tmp_path / "t.csv").write_text(f"{HEADER}\na, 4, 4, 3, 3, 1, 2, 1,\nb, 2, 2, 1, 1, 2, 2, 1,\n"
                                    "out, 1, 1, 1, 1, 8, 3, 1,\n")
    a = load_network(tmp_path / "t.csv", timesteps=2).compute_layers()[0]
    assert (a.padding, a.pool, a.out_shape) == (0, 1, (2, 2, 2))


def test_extra_columns_and_blank_rows_are_ignored(tmp_path) -> None:
    lines = MNIST_TOPOLOGY.splitlines()
    text = "\n".join([lines[0] + " Sparsity,", ",,,,,,,,", *(l + " 2:4," for l in lines[1:])]) + "\n"
    (tmp_path / "m.csv").write_text(text)
    assert _shapes(load_network(tmp_path / "m.csv", timesteps=8)) == _shapes(MNIST)


def _gemm_rows(text: str) -> list[tuple[str, int, int, int]]:
    """Rows as SCALE-Sim reads them: header skipped, `row.split(',')[:-1]`, at least 4 entries."""
    lines = text.strip().splitlines()
    assert lines[0] == GEMM_HEADER
    rows = []
    for line in lines[1:]:
        elems = line.strip().split(",")[:-1]
        assert len(elems) == 4
        rows.append((elems[0].strip(), int(elems[1]), int(elems[2]), int(elems[3])))
    return rows


@pytest.mark.parametrize("name", sorted(BUILTIN))
@pytest.mark.parametrize("array, batch", [(ArrayConfig(32, 32), 1), (ArrayConfig(8, 128), 3), (ArrayConfig(64, 16), 32)])
def test_gemm_export_reproduces_every_task(name: str, array: ArrayConfig, batch: int) -> None:
    cost = network_cost(BUILTIN[name], array, batch, include_first_ig=True)
    rows = _gemm_rows(gemm_topology(cost))
    assert [r[0] for r in rows] == [f"{t.label}_{t.name}" for t in cost.tasks]
    sr, sc = array.rows, array.cols
    for (_, m, n, k), task in zip(rows, cost.tasks):
        assert ceil(m / sr) * ceil(n / sc) * (k + sr + sc - 2) == task.cycles  # eq. 26-28
        assert scalesim_cycles(task) == task.cycles - 1
    assert sum(t.cycles for t in cost.tasks) == cost.total


def test_scale_config_is_an_output_stationary_array() -> None:
    cfg = configparser.ConfigParser()
    cfg.read_string(scale_config(ArrayConfig(16, 64), "run"))
    arch = cfg["architecture_presets"]
    assert (arch["ArrayHeight"], arch["ArrayWidth"], arch["Dataflow"]) == ("16", "64", "os")
    assert cfg["run_presets"]["InterfaceBandwidth"] == "CALC" and cfg["general"]["run_name"] == "run"
    # every key SCALE-Sim v3's scale_config.read_conf_file asks for (v2 reads a subset)
    for section, keys in {"architecture_presets": ("ifmapsramszkB", "filtersramszkB", "ofmapsramszkB", "IfmapOffset",
                                                   "FilterOffset", "OfmapOffset", "ReadRequestBuffer",
                                                   "WriteRequestBuffer", "MemoryBanks"),
                          "layout": ("IfmapCustomLayout", "FilterCustomLayout", "IfmapSRAMBankBandwidth",
                                     "IfmapSRAMBankNum", "IfmapSRAMBankPort", "FilterSRAMBankBandwidth",
                                     "FilterSRAMBankNum", "FilterSRAMBankPort"),
                          "sparsity": ("SparsitySupport",), "run_presets": ("UseRamulatorTrace",)}.items():
        for key in keys:
            assert cfg.has_option(section, key), (section, key)


def test_cli_export_writes_the_files(tmp_path, capsys) -> None:
    out = tmp_path / "ss"
    assert main(["export", "--format", "scalesim", "--network", "mnist", "--array", "32x32", "--batch", "1",
                 "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"] == 46_956 and sum(t["scalesim_cycles"] for t in doc["tasks"]) == 46_956 - 11
    rows = _gemm_rows((out / "mnist_gemm.csv").read_text())
    assert rows[0] == ("FP0_conv1", 6272, 8, 9)
    assert (out / "scale.cfg").is_file() and (out / "layout.csv").read_text().startswith("Layer name")
    assert main(["export", "--format", "scalesim", "--out", str(out)]) == 2
    assert "needs --network" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    (MNIST_TOPOLOGY.replace("conv2, 14, 14, 3, 3, 8, 8, 1,", "conv2, 14, 14, 3, 3, 8, 8, 2,"),
     "row 'conv2': stride 2 is not supported yet (stride 1 only)"),
    (MNIST_TOPOLOGY.replace("conv2,", "DP_conv2,"), "row 'DP_conv2': depth-wise convolution is not supported"),
    (MNIST_TOPOLOGY.replace("conv2, 14, 14, 3, 3, 8,", "conv2, 14, 14, 3, 3, 4,"),
     "row 'conv2' reads a 14x14x4 input, which no padding < 3 and max-pool of 'conv1'"),
    (MNIST_TOPOLOGY.replace("conv2, 14, 14,", "conv2, 12, 12,"), "row 'conv2' reads a 12x12x8 input"),
    (MNIST_TOPOLOGY.replace("392", "390"), "row 'fc1' reads 390 inputs"),
    (MNIST_TOPOLOGY.replace("output, 1, 1, 1, 1, 128, 10, 1,", "output, 4, 4, 3, 3, 128, 10, 1,"),
     "row 'output': the last row is the output layer and must be fully connected"),
    (MNIST_TOPOLOGY.replace("conv1, 28, 28, 3, 3,", "conv1, 28, 28, 3, 5,"), "row 'conv1': a 3x5 filter"),
    (MNIST_TOPOLOGY.replace("fc1, 1, 1,", "fc1, x, 1,"), "row 'fc1': needs 7 integers"),
    (MNIST_TOPOLOGY.replace("output, 1, 1, 1, 1, 128,", "output, 1, 1, 1, 1, 127,"),
     "row 'output' must be fully connected with 128 channels to follow 'fc1'"),
    ("Layer Name, M, N, K,\nFP0, 1, 2, 3,\n", "a GEMM (M, N, K) topology lists matrix products"),
    (HEADER + "\n", "no layer rows after the header"),
])
def test_bad_topologies_fail_with_one_line(tmp_path, capsys, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert main(["cycles", "--network", str(path), "--timesteps", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"spikepipe cycles: error: SCALE-Sim topology {path}: ")
    assert message in err, err


def test_timesteps_are_required(tmp_path) -> None:
    (tmp_path / "m.csv").write_text(MNIST_TOPOLOGY)
    with pytest.raises(ConfigError, match="carry no number of timesteps: pass --timesteps T"):
        load_network(tmp_path / "m.csv")
