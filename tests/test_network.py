"""Network specs: Table I, shape inference, and clear errors for bad files."""
from __future__ import annotations

import json
from math import prod

import pytest
from hypothesis import given, settings

from tests.conftest import random_networks
from workloads import (BUILTIN, AvgPool, ConfigError, Conv, MaxPool, Neuron, PoolKind, SumPool, load_network,
                       network_from_dict)

# Table I: (output shape as printed, # params, delay) per compute layer; pools shown by sent_shape.
TABLE_I = {
    "mnist": (8, [((28, 28, 8), 80, 6), ((14, 14, 8), 584, 4), ((128,), 50_304, 2), ((10,), 1_290, 0)],
              [(14, 14, 8), (7, 7, 8)]),
    "nmnist": (30, [((32, 32, 8), 152, 6), ((16, 16, 8), 584, 4), ((32,), 16_416, 2), ((10,), 330, 0)],
               [(16, 16, 8), (8, 8, 8)]),
    "dvs128": (40, [((64, 64, 32), 608, 14), ((32, 32, 64), 18_496, 14), ((16, 16, 128), 73_856, 12),
                    ((16, 16, 128), 147_584, 8), ((8, 8, 256), 295_168, 4), ((8, 8, 256), 590_080, 2),
                    ((128,), 524_416, 0),
                    ((11,), 1_419, 0)],  # Table I prints 2,827: a typo (that would need 256 inputs)
               [(32, 32, 32), (16, 16, 64), (8, 8, 128), (4, 4, 256)]),
}


@pytest.mark.parametrize("name", sorted(TABLE_I))
def test_builtin_networks_match_table_1(name: str) -> None:
    timesteps, rows, pools = TABLE_I[name]
    net = load_network(name)
    layers = net.compute_layers()
    assert net.timesteps == timesteps
    assert [(l.out_shape, l.params, l.delay) for l in layers] == rows
    assert [l.sent_shape for l in layers if l.pool > 1] == pools
    assert net.delays == tuple(r[2] for r in rows)


def test_dvs128_output_layer_typo_in_table_1() -> None:
    output = BUILTIN["dvs128"].compute_layers()[-1]
    assert output.in_size == 128 and output.params == 128 * 11 + 11 != 2_827


GOOD = {
    "name": "tiny", "timesteps": 4, "input": [8, 8, 1],
    "layers": [{"type": "conv", "filters": 4, "delay": 2}, {"type": "maxpool"},
               {"type": "dense", "units": 16}, {"type": "output", "units": 3}],
}


def test_json_and_toml_files_load_the_same_network(tmp_path) -> None:
    (tmp_path / "net.json").write_text(json.dumps(GOOD))
    (tmp_path / "net.toml").write_text(
        'name = "tiny"\ntimesteps = 4\ninput = [8, 8, 1]\n'
        '[[layers]]\ntype = "conv"\nfilters = 4\ndelay = 2\n[[layers]]\ntype = "maxpool"\n'
        '[[layers]]\ntype = "dense"\nunits = 16\n[[layers]]\ntype = "output"\nunits = 3\n')
    a, b = load_network(tmp_path / "net.json"), load_network(tmp_path / "net.toml")
    assert a == b
    assert [l.out_shape for l in a.compute_layers()] == [(8, 8, 4), (16,), (3,)]
    assert a.compute_layers()[1].in_shape == (64,)


def test_strides_and_pools_load_and_resolve(tmp_path) -> None:
    """`stride` and the sum / average pools in a file: H_out = (H + 2p - K) // s + 1, what each layer sends."""
    data = {"timesteps": 2, "input": [12, 12, 2], "layers": [
        {"type": "conv", "filters": 4, "stride": 2}, {"type": "avgpool"},
        {"type": "conv", "filters": 3, "kernel": 2, "stride": 2}, {"type": "sumpool"},
        {"type": "conv", "filters": 5, "kernel": 1, "padding": 0, "stride": 3}, {"type": "output", "units": 2}]}
    (tmp_path / "net.json").write_text(json.dumps(data))
    net = load_network(tmp_path / "net.json")
    assert net.layers[:4] == (Conv(4, stride=2), AvgPool(), Conv(3, kernel=2, stride=2), SumPool())
    assert SumPool() != MaxPool() != AvgPool() and MaxPool().kind is PoolKind.MAX
    conv1, conv2, conv3, out = net.compute_layers()
    # 12 + 2 - 3 = 11, 11 // 2 + 1 = 6, pooled 3; 3 + 2 - 2 = 3, 3 // 2 + 1 = 2, pooled 1; 1x1 stride 3: 1
    assert [(l.out_shape, l.sent_shape, l.stride) for l in (conv1, conv2, conv3)] == [
        ((6, 6, 4), (3, 3, 4), 2), ((2, 2, 3), (1, 1, 3), 2), ((1, 1, 5), (1, 1, 5), 3)]
    assert [(l.pool_kind, l.sends_counts, l.sent_levels) for l in (conv1, conv2, conv3)] == [
        (PoolKind.AVG, True, 5), (PoolKind.SUM, True, 5), (PoolKind.MAX, False, 2)]
    assert net.with_delays((1, 2, 3, 0)).layers[1::2] == net.layers[1::2]  # pools carry no delay


def _with_layer(index: int, **changes) -> dict:
    data = json.loads(json.dumps(GOOD))
    data["layers"][index] = {**data["layers"][index], **changes}
    return data


@pytest.mark.parametrize("data, message", [
    (_with_layer(0, type="lstm"), "layer 0: unknown layer type 'lstm'"),
    (_with_layer(0, filters=-1), "layer 0 (conv1): field 'filters' must be a positive integer, got -1"),
    (_with_layer(2, units=0), "layer 2 (fc1): field 'units' must be a positive integer, got 0"),
    (_with_layer(0, kernel=11, padding=0), "layer 0 (conv1): field 'kernel' 11 does not fit input 8x8x1"),
    ({k: v for k, v in GOOD.items() if k != "timesteps"}, "missing field 'timesteps'"),
    ({**GOOD, "layers": [{"type": "conv"}] + GOOD["layers"][1:]}, "layer 0: missing field 'filters'"),
    (_with_layer(0, filters="8"), "layer 0: field 'filters' must be an integer, got '8'"),
    (_with_layer(1, type="maxpool", bogus=1), "layer 1: unknown field(s) ['bogus']"),
    ({**GOOD, "layers": GOOD["layers"][:3]}, "the last layer must be of type 'output'"),
    ({**GOOD, "layers": [GOOD["layers"][2], GOOD["layers"][0], GOOD["layers"][3]]},
     "layer 1 (conv1): a convolution needs an [H, W, C] input"),
    ({**GOOD, "timesteps": 0}, "field 'timesteps' must be a positive integer, got 0"),
    ({**GOOD, "input": [7, 7, 1]}, "not divisible by pool field 'size' 2"),
    (_with_layer(0, stride=0), "layer 0 (conv1): field 'stride' must be a positive integer, got 0"),
    (_with_layer(0, stride=2.0), "layer 0: field 'stride' must be an integer, got 2.0"),
    (_with_layer(0, stride=70_000), "layer 0 (conv1): field 'stride' must be at most 65,536, got 70,000"),
    (_with_layer(0, stride=3), "layer 1 (maxpool1): input 3x3x4 is not divisible by pool field 'size' 2"),
    (_with_layer(0, padding=3), "layer 0 (conv1): field 'padding' 3 must be smaller than kernel 3"),
    (_with_layer(1, type="avgpool", size=0), "layer 1 (avgpool1): field 'size' must be a positive integer, got 0"),
    (_with_layer(1, type="sumpool", stride=2), "layer 1: unknown field(s) ['stride'] for a sumpool layer"),
    ({**GOOD, "layers": [GOOD["layers"][0], GOOD["layers"][2], {"type": "avgpool"}, GOOD["layers"][3]]},
     "layer 2 (avgpool1): an average pool must follow a convolution (one pool per convolution)"),
    ({**GOOD, "layers": [GOOD["layers"][0], {"type": "sumpool"}, {"type": "maxpool", "size": 1}, GOOD["layers"][3]]},
     "layer 2 (maxpool1): a max-pool must follow a convolution (one pool per convolution)"),
    ({**GOOD, "neuron": {"threshold": float("nan")}}, "neuron: field 'threshold' must be a finite number, got nan"),
    ({**GOOD, "neuron": {"c": float("inf")}}, "neuron: field 'c' must be a finite number, got inf"),
    ({**GOOD, "neuron": {"lam": True}}, "neuron: field 'lam' must be a finite number, got True"),
    ({**GOOD, "neuron": {"alpha": 0}}, "neuron: field 'alpha' must be > 0, got 0.0"),
    ({**GOOD, "neuron": {"c": 0}}, "neuron: field 'c' must be > 0, got 0.0"),
    ({**GOOD, "neuron": {"lam": -0.5}}, "neuron: field 'lam' must be >= 0, got -0.5"),
    ({**GOOD, "neuron": {"tau": 5.0}}, "field 'neuron' may only hold 'c', 'lam', 'threshold', 'alpha'"),
])
def test_bad_network_files_fail_with_one_clear_message(tmp_path, data: dict, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_network(path)
    assert message in str(info.value)
    assert str(info.value).startswith(f"network file {path}: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("field", ["c", "lam", "threshold", "alpha"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_neuron_refuses_non_finite_parameters(field: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        Neuron(**{field: value})
    assert str(info.value) == f"neuron: field '{field}' must be a finite number, got {value!r}"


def test_neuron_table_of_a_toml_file(tmp_path) -> None:
    """Defaults of Fig. 3 and eq. 22 when absent; a NaN from TOML is refused in one line naming the field."""
    base = 'timesteps = 4\ninput = [8]\n[[layers]]\ntype = "output"\nunits = 3\n'
    (tmp_path / "plain.toml").write_text(base)
    assert load_network(tmp_path / "plain.toml").neuron == Neuron() == Neuron(4.0, 0.25, 0.5, 0.5)
    (tmp_path / "set.toml").write_text(base + "[neuron]\nc = 2\nalpha = 0.25\n")
    assert load_network(tmp_path / "set.toml").neuron == Neuron(c=2.0, alpha=0.25)
    (tmp_path / "nan.toml").write_text(base + "[neuron]\nthreshold = nan\n")
    with pytest.raises(ConfigError) as info:
        load_network(tmp_path / "nan.toml")
    message = f"network file {tmp_path / 'nan.toml'}: neuron: field 'threshold' must be a finite number, got nan"
    assert str(info.value) == message


def test_unknown_names_and_unreadable_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown network 'lenet'"):
        load_network("lenet")
    with pytest.raises(ConfigError, match="not found"):
        load_network(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("layers = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_network(tmp_path / "broken.toml")


@settings(max_examples=200, deadline=None)
@given(random_networks())
def test_shape_inference_rules(net) -> None:
    layers = net.compute_layers()
    shape = net.input_shape
    for layer in layers:
        assert prod(layer.in_shape) == prod(shape)
        if layer.kind == "conv":
            h, w, _ = shape
            # the valid window positions along an axis, every stride-th one kept
            assert layer.out_shape[:2] == (len(range(0, h + 2 * layer.padding - layer.kernel + 1, layer.stride)),) * 2
            assert layer.sent_shape[:2] == (layer.out_shape[0] // layer.pool, layer.out_shape[1] // layer.pool)
            assert layer.sends_counts == (layer.pool > 1 and layer.pool_kind != "max")
        shape = layer.sent_shape
    assert layers[-1].kind == "output" and all(l.kind != "output" for l in layers[:-1])
    assert network_from_dict({
        "timesteps": net.timesteps, "input": list(net.input_shape),
        "layers": [{"type": "output", "units": 2}]}).compute_layers()[0].in_size == prod(net.input_shape)
