"""NIR import and export: graphs built with the nir package's own API (no torch), written with
nir.write, read back as networks and weights; the neuron mapping against the NIR ODE; one-line
errors for what we do not model; export -> import round trips."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings

from models import layers as L
from models.neuron import lif_forward
from models.snn import init_params
from simulator.cli import main
from tests.conftest import random_networks
from workloads import BUILTIN, ConfigError, load_network
from workloads.nir_io import network_to_nir, nir_params, param_shapes, read_nir

nir = pytest.importorskip("nir")

DT = 1e-3
TAU, R, VTH = 8e-3, 4.0, 0.5  # c = 2 tau / (r dt) = 4, lambda = 1 / r = 0.25: Fig. 3's neuron at dt = 1 ms


def _lif(shape, tau=TAU, r=R, v_th=VTH, **kw):
    full = lambda v: np.full(shape, v, np.float64)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(r), v_leak=full(kw.get("v_leak", 0.0)), v_threshold=full(v_th),
                   v_reset=full(kw.get("v_reset", 0.0)))


def _graph(rng, *, conv=None, pool=None, flatten=None, lif1=None, lif2=None, readout=None, metadata=None,
           edges=None, extra=None):
    """Input (1, 6, 6) -> Conv2d 3x3 (3 filters, padding 1) -> LIF -> SumPool2d 2 -> Threshold ->
    Flatten -> Affine 27->8 -> LIF -> Affine 8->3 -> I (r = 2/dt) -> Output. Keyword arguments
    replace single nodes (None keeps the default, False drops the node)."""
    nodes = {
        "input": nir.Input(input_type=np.array([1, 6, 6])),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(size=(3, 1, 3, 3)).astype(np.float32), stride=1,
                           padding=1, dilation=1, groups=1, bias=rng.normal(size=3).astype(np.float32)),
        "lif1": _lif((3, 6, 6)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "spike": nir.Threshold(threshold=np.full((3, 3, 3), 0.5)),
        "flatten": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(size=(8, 27)).astype(np.float32), bias=rng.normal(size=8).astype(np.float32)),
        "lif2": _lif((8,)),
        "readout": nir.Affine(weight=rng.normal(size=(3, 8)).astype(np.float32),
                              bias=rng.normal(size=3).astype(np.float32)),
        "acc": nir.I(r=np.full(3, 2.0 / DT)),
        "output": nir.Output(output_type=np.array([3])),
    }
    for key, node in (("conv", conv), ("pool", pool), ("flatten", flatten), ("lif1", lif1), ("lif2", lif2),
                      ("acc", readout)):
        if node is False:
            del nodes[key]
        elif node is not None:
            nodes[key] = node
    nodes.update(extra or {})
    order = [k for k in nodes if k not in (extra or {})]
    return nir.NIRGraph(nodes=nodes, edges=edges or list(zip(order[:-1], order[1:])),
                        metadata=metadata if metadata is not None else {"dt": DT, "timesteps": 4},
                        type_check=False)


def _write(tmp_path, graph, name="model.nir"):
    path = tmp_path / name
    nir.write(path, graph)
    return path


def test_import_shapes_parameters_neuron(tmp_path) -> None:
    path = _write(tmp_path, _graph(np.random.default_rng(0)))
    net = load_network(path)
    assert [(l.kind, l.in_shape, l.out_shape, l.sent_shape, l.kernel, l.padding, l.pool)
            for l in net.compute_layers()] == [
        ("conv", (6, 6, 1), (6, 6, 3), (3, 3, 3), 3, 1, 2),
        ("dense", (27,), (8,), (8,), 1, 0, 1),
        ("output", (8,), (3,), (3,), 1, 0, 1)]
    assert [l.name for l in net.compute_layers()] == ["conv", "fc", "readout"]
    assert net.params == (9 * 3 + 3) + (27 * 8 + 8) + (8 * 3 + 3)
    assert net.timesteps == 4 and net.name == "model" and net.input_kind == "current"
    assert net.neuron.c == pytest.approx(2 * TAU / (R * DT), rel=1e-12) and net.neuron.c == pytest.approx(4.0)
    assert net.neuron.lam == pytest.approx(1 / R, rel=1e-12) and net.neuron.threshold == VTH
    # options replace the metadata: dt scales c (and the accumulator needs r = 2/dt), T is taken as given
    path = _write(tmp_path, _graph(np.random.default_rng(0), readout=nir.I(r=np.full(3, 1 / DT))), "half.nir")
    other = load_network(path, dt=2 * DT, timesteps=7)
    assert other.neuron.c == pytest.approx(2.0) and other.timesteps == 7


def _nir_conv(x, w, b, pad):
    """NIR/PyTorch semantics: channels-first cross-correlation, weight (out, in, kH, kW)."""
    _, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    ho, wo = xp.shape[1] - k + 1, xp.shape[2] - k + 1
    out = np.zeros((w.shape[0], ho, wo)) + b[:, None, None]
    for ky in range(k):
        for kx in range(k):
            out += np.einsum("oi,ihw->ohw", w[:, :, ky, kx], xp[:, ky:ky + ho, kx:kx + wo])
    return out


def test_weights_keep_their_meaning(tmp_path) -> None:
    """The converted weights compute, in our channels-last layout, what the NIR nodes compute in
    theirs: the convolution (with its padding) and the (C, H, W)-ordered flatten into the Affine."""
    rng = np.random.default_rng(1)
    graph = _graph(rng)
    path = _write(tmp_path, graph)
    (w0, b0), (w1, b1), (w2, b2) = nir_params(path)
    x = rng.normal(size=(1, 6, 6))  # (C, H, W)
    ref = _nir_conv(x, graph.nodes["conv"].weight.astype(np.float64), graph.nodes["conv"].bias, 1)
    ours = L.conv_fp(x.transpose(1, 2, 0)[None].astype(np.float32), w0, b0, 1)[0]
    np.testing.assert_allclose(ours, ref.transpose(1, 2, 0), rtol=1e-5, atol=1e-5)
    spikes = (rng.random((3, 6, 6)) < 0.3).astype(np.float32)  # (C, H, W) spikes into the pool
    pooled_nir = spikes.reshape(3, 3, 2, 3, 2).sum((2, 4)) > 0.5          # SumPool2d 2 -> Threshold 0.5
    pooled_ours, _ = L.maxpool_fp(spikes.transpose(1, 2, 0)[None].astype(np.uint8), 2)
    assert np.array_equal(pooled_ours[0], pooled_nir.transpose(1, 2, 0))
    fc = graph.nodes["fc"]
    ref = fc.weight.astype(np.float64) @ pooled_nir.reshape(-1) + fc.bias
    ours = L.dense_fp(pooled_ours.reshape(1, -1).astype(np.float32), w1, b1)[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    ro = graph.nodes["readout"]
    assert np.array_equal(w2, ro.weight.T) and np.array_equal(b2, ro.bias)
    assert all(a.dtype == np.float32 for p in nir_params(path) for a in p)


def _nir_strided_conv(x, w, b, pad, stride):
    """NIR/PyTorch strided convolution: every `stride`-th output of `_nir_conv`."""
    return _nir_conv(x, w, b, pad)[:, ::stride, ::stride]


@pytest.mark.parametrize("cls, kind", [("SumPool2d", "sum"), ("AvgPool2d", "avg")])
def test_strided_conv_and_bare_pools_import_with_their_meaning(tmp_path, cls, kind) -> None:
    """A Conv2d of stride 2 and a bare SumPool2d / AvgPool2d (no Threshold) are our strided convolution
    and sum / average pool; the weights compute what the NIR nodes compute (NumPy, channels-first)."""
    rng = np.random.default_rng(3)
    conv = nir.Conv2d(input_shape=(11, 11), weight=rng.normal(size=(3, 2, 3, 3)).astype(np.float32), stride=2,
                      padding=1, dilation=1, groups=1, bias=rng.normal(size=3).astype(np.float32))
    graph = _graph(rng, conv=conv, pool=_pool(getattr(nir, cls), k=3, stride=3))
    graph.nodes["input"] = nir.Input(input_type=np.array([2, 11, 11]))
    graph.nodes["lif1"] = _lif((3, 6, 6))
    del graph.nodes["spike"]
    graph.nodes["flatten"] = nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0, end_dim=-1)
    graph.nodes["fc"] = nir.Affine(weight=rng.normal(size=(8, 12)).astype(np.float32),
                                   bias=rng.normal(size=8).astype(np.float32))
    graph.edges = [e for e in graph.edges if "spike" not in e] + [("pool", "flatten")]
    path = _write(tmp_path, graph)
    net = load_network(path)
    conv_layer = net.compute_layers()[0]
    assert (conv_layer.in_shape, conv_layer.out_shape, conv_layer.sent_shape) == ((11, 11, 2), (6, 6, 3), (2, 2, 3))
    assert (conv_layer.stride, conv_layer.padding, conv_layer.pool, conv_layer.pool_kind) == (2, 1, 3, kind)
    (w0, b0), (w1, b1), _ = nir_params(path, net)
    x = rng.normal(size=(2, 11, 11))
    ref = _nir_strided_conv(x, conv.weight.astype(np.float64), conv.bias, 1, 2)
    ours = L.conv_fp(x.transpose(1, 2, 0)[None].astype(np.float32), w0, b0, 1, 2)[0]
    np.testing.assert_allclose(ours, ref.transpose(1, 2, 0), rtol=1e-5, atol=1e-5)
    spikes = (rng.random((3, 6, 6)) < 0.3).astype(np.float32)
    pooled_nir = spikes.reshape(3, 2, 3, 2, 3).sum((2, 4)) / (9 if kind == "avg" else 1)
    pooled_ours, _ = L.pool_fp(spikes.transpose(1, 2, 0)[None].astype(np.uint8), 3, conv_layer.pool_kind)
    np.testing.assert_allclose(pooled_ours[0], pooled_nir.transpose(1, 2, 0), rtol=1e-6)
    fc = graph.nodes["fc"]
    ref = fc.weight.astype(np.float64) @ pooled_nir.reshape(-1) + fc.bias
    np.testing.assert_allclose(L.dense_fp(pooled_ours.reshape(1, -1), w1, b1)[0], ref, rtol=1e-5, atol=1e-5)


def test_export_writes_strides_and_pools_by_kind(tmp_path) -> None:
    """Export: Conv2d with the layer's stride; a max-pool as SumPool2d -> Threshold(0.5), a sum pool as a bare
    SumPool2d, an average pool as a bare AvgPool2d; and back to the same network."""
    from workloads import AvgPool, Conv, MaxPool, Network, Output, SumPool
    net = Network("pools", (20, 20, 2), (Conv(3, stride=2), AvgPool(), Conv(4, padding=0), MaxPool(3),
                                         Conv(2, kernel=1, padding=0), SumPool(1), Output(5)), 3)
    graph = network_to_nir(net, init_params(net, 0))
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert kinds[:4] == ["Input", "Conv2d", "LIF", "AvgPool2d"]
    assert kinds[4:9] == ["Conv2d", "LIF", "SumPool2d", "Threshold", "Conv2d"]
    assert [tuple(n.stride) for n in graph.nodes.values() if type(n).__name__ == "Conv2d"] == [(2, 2), (1, 1), (1, 1)]
    back = read_nir(_write(tmp_path, graph))
    assert back.compute_layers() == net.compute_layers()  # the 1x1 sum pool is no pool, as on import


def _drive(t):
    """A smooth input current that starts from 0 at t = 0, as the IIR's zero initial state assumes."""
    return (1 - np.exp(-t / 5e-3)) * (1.0 + 0.8 * np.sin(2 * np.pi * 40 * t) + 0.5 * np.cos(2 * np.pi * 95 * t + 0.3))


@pytest.mark.parametrize("kind", ["LIF", "IF"])
def test_neuron_matches_the_nir_ode(tmp_path, kind) -> None:
    """Below threshold, our IIR neuron with the imported (c, lambda) follows the NIR ODE
    (LIF: tau dv/dt = -v + r i; IF: dv/dt = r i) solved by solve_ivp (rtol 1e-11) at the sample
    times: the bilinear transform is second order, so the error is under 0.5 % of the peak
    potential at dt = 1 ms (tau = 8 ms) and falls about 4x each time dt halves."""
    solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp
    errors = []
    for dt in (1e-3, 5e-4, 2.5e-4):
        node = (lambda shape: _lif(shape, v_th=1e9)) if kind == "LIF" else \
            (lambda shape: nir.IF(r=np.full(shape, R), v_threshold=np.full(shape, 1e9)))
        path = _write(tmp_path, _graph(np.random.default_rng(0), lif1=node((3, 6, 6)), lif2=node((8,)),
                                       readout=nir.I(r=np.full(3, 2 / dt)), metadata={"dt": dt, "timesteps": 4}))
        neuron = read_nir(path).neuron
        t = np.arange(int(round(0.1 / dt))) * dt
        rhs = (lambda s, v: (-v + R * _drive(s)) / TAU) if kind == "LIF" else (lambda s, v: R * _drive(s) + 0 * v)
        ode = solve_ivp(rhs, (0, t[-1]), [0.0], t_eval=t, rtol=1e-11, atol=1e-12, max_step=dt / 4).y[0]
        v, spikes = lif_forward(_drive(t).astype(np.float32)[:, None], neuron.c, neuron.lam, neuron.threshold)
        assert not spikes.any()
        errors.append(np.abs(v[:, 0] - ode).max() / np.abs(ode).max())
    assert errors[0] < 5e-3
    assert 3.5 < errors[0] / errors[1] < 4.5 and 3.5 < errors[1] / errors[2] < 4.5


def test_snntorch_leaky_is_our_neuron_on_the_two_tap_average() -> None:
    """snnTorch's Leaky(beta), mem[n] = beta mem[n-1] + x[n], fed x[n] = (i[n] + i[n-1]) / 2, is our
    IIR with c = 1 + beta, lambda = 1 - beta (below threshold; equal up to float32 rounding, 1e-5)."""
    rng = np.random.default_rng(2)
    i = rng.normal(size=(200, 5)).astype(np.float32)
    for beta in (0.5, 0.9, 0.99):
        x = (i + np.vstack([np.zeros((1, 5), np.float32), i[:-1]])) / 2
        mem = np.zeros((200, 5))
        for n in range(200):
            mem[n] = beta * (mem[n - 1] if n else 0) + x[n]
        v, _ = lif_forward(i, 1 + beta, 1 - beta, 1e9)
        np.testing.assert_allclose(v, mem, rtol=1e-5, atol=1e-5)


def test_cli_commands_run_on_an_imported_file(tmp_path, capsys) -> None:
    path = str(_write(tmp_path, _graph(np.random.default_rng(3))))
    assert main(["cycles", "--network", path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["network"] == "model" and len(out["layers"]) == 3
    assert main(["schedule", "--network", path, "--procs", "2", "--scheduler", "finegrained", "--json"]) == 0
    assert main(["simulate", "--network", path, "--procs", "2", "--scheduler", "layerwise", "--minibatches", "4",
                 "--json"]) == 0
    assert main(["validate", "--network", path, "--json"]) == 0
    capsys.readouterr()
    # the same file with dt and T given as options instead of metadata
    bare = str(_write(tmp_path, _graph(np.random.default_rng(3), metadata={}), "bare.nir"))
    assert main(["cycles", "--network", bare, "--dt", "0.001", "--timesteps", "4"]) == 0


def _tiny_data(n, seed):
    from workloads.datasets import ArrayDataset
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int64)
    x = (rng.random((n, 6, 6, 1)) * (0.3 + 0.3 * y[:, None, None, None])).astype(np.float32)
    return ArrayDataset("toy", x, y, "image")


def test_train_from_an_imported_file_and_export_round_trip(tmp_path, monkeypatch, capsys) -> None:
    import simulator.cli.data  # noqa: F401  (imported unpatched: it binds get_dataset at import)
    import workloads.datasets as D
    from models.run_folder import CHECKPOINT, load_checkpoint
    monkeypatch.setattr(D, "get_dataset", lambda name, data_dir=None, seed=0:
                        D.DatasetSplits(_tiny_data(32, 1), _tiny_data(16, 2), True, "toy stand-in"))
    path = str(_write(tmp_path, _graph(np.random.default_rng(4))))
    run = tmp_path / "run"
    assert main(["train", "--network", path, "--init-from", path, "--dataset", "toy", "--epochs", "1", "--batch", "8",
                 "--lr", "1e-9", "--out", str(run), "--no-progress", "--json"]) == 0
    arrays, meta = load_checkpoint(run / CHECKPOINT)
    assert meta["config"]["init_from"] == path
    for k, (w, b) in enumerate(nir_params(path)):  # 4 Adam steps of lr 1e-9 from the file's weights
        assert np.allclose(arrays[f"w_{k}"], w, atol=1e-7) and np.allclose(arrays[f"b_{k}"], b, atol=1e-7)
    assert not np.allclose(arrays["w_0"], init_params(load_network(path), 0)[0][0], atol=1e-2)
    out = tmp_path / "back.nir"
    assert main(["export", "--format", "nir", "--run", str(run), "--network", path, "--out", str(out)]) == 0
    nir.read(out)  # nir's own reader, with its type checking
    back = load_network(out)
    assert dataclasses.replace(back, name="model") == load_network(path)
    for k, (w, b) in enumerate(nir_params(out)):
        assert np.array_equal(w, arrays[f"w_{k}"]) and np.array_equal(b, arrays[f"b_{k}"])
    capsys.readouterr()
    assert main(["export", "--format", "nir", "--run", str(run), "--out", str(out)]) == 2  # 'model' is no built-in
    assert "pass --network FILE" in capsys.readouterr().err


def test_init_from_must_fit_the_network(tmp_path, capsys) -> None:
    path = str(_write(tmp_path, _graph(np.random.default_rng(5))))
    assert main(["train", "--network", "mnist", "--init-from", path, "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 weight layers for the 4 compute layers of mnist" in err
    other = tmp_path / "wide.json"
    other.write_text(json.dumps({"name": "wide", "input": [6, 6, 2], "timesteps": 4, "layers": [
        {"type": "conv", "filters": 3}, {"type": "maxpool"}, {"type": "dense", "units": 8},
        {"type": "output", "units": 3}]}))
    assert main(["train", "--network", str(other), "--init-from", path, "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "layer 'conv1' has weights (3, 3, 1, 3) and bias (3,), wide needs" in err


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_networks_round_trip(tmp_path, name) -> None:
    net = BUILTIN[name]
    params = init_params(net, 0)
    path = _write(tmp_path, network_to_nir(net, params, dt=5e-4))
    nir.read(path)  # loads with nir's own type checks
    back = read_nir(path)
    assert dataclasses.replace(back, neuron=net.neuron) == net
    for a, b in zip((back.neuron.c, back.neuron.lam, back.neuron.threshold),
                    (net.neuron.c, net.neuron.lam, net.neuron.threshold)):
        assert a == pytest.approx(b, rel=1e-12)
    for (w, b), (w2, b2) in zip(params, nir_params(path)):
        assert np.array_equal(w, w2) and np.array_equal(b, b2) and w2.dtype == np.float32


@settings(max_examples=25, deadline=None)
@given(random_networks())
def test_random_networks_round_trip(tmp_path_factory, net) -> None:
    params = init_params(net, 1)
    assert [(w.shape, b.shape) for w, b in params] == [param_shapes(l) for l in net.compute_layers()]
    path = _write(tmp_path_factory.mktemp("rt"), network_to_nir(net, params))
    back = read_nir(path)  # unnamed specs come back with the names they resolve to: compare resolved layers
    assert back.compute_layers() == net.compute_layers()
    assert (back.input_shape, back.timesteps, back.input_kind) == (net.input_shape, net.timesteps, net.input_kind)
    assert all(np.array_equal(w, w2) and np.array_equal(b, b2) for (w, b), (w2, b2) in zip(params, nir_params(path)))


def test_lambda_zero_exports_as_if(tmp_path) -> None:
    net = dataclasses.replace(BUILTIN["mnist"], neuron=BUILTIN["mnist"].neuron.__class__(c=2.0, lam=0.0, alpha=0.3))
    graph = network_to_nir(net, init_params(net, 0))
    assert type(graph.nodes["conv1_neuron"]).__name__ == "IF"
    assert read_nir(_write(tmp_path, graph)).neuron == net.neuron


def _cycle_graph(rng):
    g = _graph(rng)
    g.nodes["rec"] = nir.Linear(weight=np.eye(8, dtype=np.float32))
    g.edges += [("lif2", "rec"), ("rec", "lif2")]
    return g


def _branch_graph(rng):
    g = _graph(rng)
    g.nodes["side"] = nir.Output(output_type=np.array([8]))
    g.edges.append(("lif2", "side"))
    return g


def _nested_graph(rng):
    g = _graph(rng)
    g.nodes["lif2"] = nir.NIRGraph(nodes={"i": nir.Input(np.array([8])), "o": nir.Output(np.array([8]))},
                                   edges=[("i", "o")], type_check=False)
    return g


def _conv(**kw):
    args = dict(input_shape=(6, 6), weight=np.ones((3, 1, 3, 3), np.float32), stride=1, padding=1, dilation=1,
                groups=1, bias=np.zeros(3, np.float32))
    return nir.Conv2d(**{**args, **kw})


def _pool(cls=None, k=2, stride=2, pad=0):
    return (cls or nir.SumPool2d)(kernel_size=np.array([k, k]), stride=np.array([stride, stride]),
                                  padding=np.array([pad, pad]))


def _without(rng, key, **kw):
    g = _graph(rng, **kw)
    order = [a for a, _ in g.edges] + [g.edges[-1][1]]
    order.remove(key)
    del g.nodes[key]
    g.edges = list(zip(order[:-1], order[1:]))
    return g


ERRORS = [
    ("asymmetric stride", lambda rng: _graph(rng, conv=_conv(stride=(2, 1))),
     "node 'conv': stride [2, 1] is not supported (the same positive stride on both axes)"),
    ("same padding with a stride", lambda rng: _graph(rng, conv=_conv(stride=2, padding="same")),
     "node 'conv': padding 'same' with a 3x3 kernel at stride 2 is not supported (give the padding as an integer)"),
    ("asymmetric padding", lambda rng: _graph(rng, conv=_conv(padding=(1, 0))),
     "node 'conv': padding [1, 0] is not supported (the same padding on both axes"),
    ("padding >= kernel", lambda rng: _graph(rng, conv=_conv(padding=3)),
     "node 'conv': padding [3, 3] is not supported (the same padding on both axes, smaller than the kernel 3)"),
    ("dilation", lambda rng: _graph(rng, conv=_conv(dilation=2)), "node 'conv': dilation [2, 2] is not supported"),
    ("groups", lambda rng: _graph(rng, conv=_conv(groups=3, weight=np.ones((3, 1, 3, 3), np.float32))),
     "node 'conv': groups = 3 is not supported"),
    ("non-square kernel", lambda rng: _graph(rng, conv=_conv(weight=np.ones((3, 1, 3, 2), np.float32))),
     "node 'conv': a 3x2 kernel is not supported"),
    ("overlapping pool", lambda rng: _graph(rng, pool=_pool(stride=1)), "node 'pool': pooling with kernel [2, 2], stride "
                                                                        "[1, 1], padding [0, 0] is not supported"),
    ("padded bare pool", lambda rng: _without(rng, "spike", pool=_pool(nir.AvgPool2d, pad=1)),
     "node 'pool': pooling with kernel [2, 2], stride [2, 2], padding [1, 1] is not supported (square, "
     "non-overlapping, unpadded only: stride = kernel, padding 0)"),
    ("pool that does not tile", lambda rng: _without(rng, "spike", pool=_pool(k=4, stride=4)),
     "node 'pool': a 4x4 pool does not tile its 6x6 input"),
    ("two pools", lambda rng: _replace(_without(rng, "spike"), "flatten", _pool(k=1, stride=1)),
     "node 'flatten': sum pooling is only supported on a convolution's spikes, once per convolution"),
    ("threshold 1 is not a max", lambda rng: _threshold(rng, 1.0),
     "node 'spike': a max-pool on binary spikes needs one threshold in [0, 1)"),
    ("average pool threshold", lambda rng: _threshold(rng, 0.3, nir.AvgPool2d),
     "node 'spike': a max-pool on binary spikes needs one threshold in [0, 0.25)"),
    ("lone threshold", lambda rng: _without(rng, "pool"), "node 'spike': a Threshold is only supported right after"),
    ("LI readout", lambda rng: _graph(rng, readout=nir.LI(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3))),
     "node 'acc': a leaky readout (LI) is not supported yet"),
    ("spiking readout", lambda rng: _graph(rng, readout=_lif((3,))),
     "node 'acc': a spiking readout (LIF) is not supported yet: the last Affine/Linear must be followed by nir.I "
     "(r = 2/dt), the output accumulator of eq. 18"),
    ("no readout", lambda rng: _without(rng, "acc"),
     "node 'output': the last Affine/Linear must be followed by nir.I (r = 2/dt), the output accumulator of eq. 18; "
     "the graph ends after 'readout'"),
    ("scaled integrator", lambda rng: _graph(rng, readout=nir.I(r=np.full(3, 1.0 / DT))),
     "node 'acc': r = 1000 gives c = 2/(r dt) = 2; the output accumulator (eq. 18) needs c = 1"),
    ("CubaLIF", lambda rng: _graph(rng, lif2=nir.CubaLIF(tau_syn=np.ones(8), tau_mem=np.ones(8), r=np.ones(8),
                                                        v_leak=np.zeros(8), v_threshold=np.ones(8))),
     "node 'lif2': CubaLIF is not supported"),
    ("reset to v_reset", lambda rng: _graph(rng, lif2=_lif((8,), v_reset=-0.1)),
     "node 'lif2': reset to v_reset = -0.1 is not supported"),
    ("v_leak", lambda rng: _graph(rng, lif2=_lif((8,), v_leak=0.2)), "node 'lif2': v_leak = 0.2 is not supported"),
    ("per-neuron parameters", lambda rng: _graph(rng, lif2=nir.LIF(tau=np.linspace(1, 2, 8) * TAU, r=np.full(8, R),
                                                                  v_leak=np.zeros(8), v_threshold=np.full(8, VTH))),
     "node 'lif2': field 'tau' differs between neurons"),
    ("two different neurons", lambda rng: _graph(rng, lif2=_lif((8,), tau=2 * TAU)),
     "node 'lif2': neuron c = 8, lambda = 0.25, threshold = 0.5 differs from node 'lif1'"),
    ("recurrence", _cycle_graph, "node 'lif2': feeds 2 nodes"),
    ("branch", _branch_graph, "node 'lif2': feeds 2 nodes"),
    ("nested graph", _nested_graph, "node 'lif2': a nested graph (recurrence or a subgraph) is not supported"),
    ("no flatten", lambda rng: _graph(rng, flatten=False),
     "node 'fc': an Affine needs a flat input; add a Flatten before it (its input is [3, 3, 3])"),
    ("mismatched shapes", lambda rng: _replace(_graph(rng), "fc", nir.Affine(weight=np.ones((8, 20), np.float32),
                                                                            bias=np.zeros(8, np.float32))),
     "node 'fc': weight [8, 20] does not fit its input of 27 (expected (out, in))"),
    ("partial flatten", lambda rng: _graph(rng, flatten=nir.Flatten(input_type={"input": np.array([3, 3, 3])},
                                                                    start_dim=1, end_dim=-1)),
     "node 'flatten': flattens dims 1..2 of [3, 3, 3]; only a full flatten"),
    ("missing dt", lambda rng: _graph(rng, metadata={"timesteps": 4}), "no 'dt': NIR files carry none unless"),
    ("missing timesteps", lambda rng: _graph(rng, metadata={"dt": DT}), "no 'timesteps'"),
    ("unknown node", lambda rng: _graph(rng, lif2=nir.Scale(scale=np.ones(8))), "node 'lif2': NIR Scale nodes are not supported"),
]


def _replace(graph, key, node):
    graph.nodes[key] = node
    return graph


def _threshold(rng, value, cls=None):
    """SumPool2d (or `cls`) 2x2 followed by a Threshold of `value`."""
    return _replace(_graph(rng, pool=_pool(cls)), "spike", nir.Threshold(threshold=np.full((3, 3, 3), value)))


@pytest.mark.parametrize("case, build, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_unsupported_graphs_stop_with_one_line(tmp_path, capsys, case, build, message) -> None:
    path = _write(tmp_path, build(np.random.default_rng(7)))
    assert main(["cycles", "--network", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"spikepipe cycles: error: NIR file {path}: ") and message in err, err


def test_options_and_files(tmp_path, capsys) -> None:
    assert main(["cycles", "--network", str(tmp_path / "none.nir")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "junk.nir").write_text("not hdf5")
    assert main(["cycles", "--network", str(tmp_path / "junk.nir")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be read" in err
    assert main(["cycles", "--network", "mnist", "--dt", "0.001"]) == 2
    assert "--dt applies to .nir networks only" in capsys.readouterr().err
    assert main(["cycles", "--network", "mnist", "--timesteps", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] < 46_956  # T = 4 instead of 8
    with pytest.raises(ConfigError, match="'dt' must be a positive number"):
        read_nir(_write(tmp_path, _graph(np.random.default_rng(0), metadata={"dt": -1.0, "timesteps": 4})))


def test_without_the_nir_package(tmp_path, monkeypatch) -> None:
    path = _write(tmp_path, _graph(np.random.default_rng(0)))
    monkeypatch.setitem(__import__("sys").modules, "nir", None)  # `import nir` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'spikepipe\[nir\]'"):
        load_network(path)
