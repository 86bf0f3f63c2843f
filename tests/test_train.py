"""Delayed-gradient trainer: zero delays are bit-identical, delays match a g(t - D) reference,
checkpoints resume exactly, divergence stops cleanly, the CLI wires it together."""
from __future__ import annotations

import json

import numpy as np
import pytest

import models.run_folder as RF
import models.train as T
from models import snn
from models.activity import ACTIVITY_FILE, load_activity, measure_activity
from models.init import RATE_TOLERANCE, TARGET_RATE
from models.delayed import DelayLine
from models.encoding import encode
from models.layers import softmax_cross_entropy
from models.optim import Adam, SGD
from simulator.cli import main
from simulator.schedule.delays import resolve_delays
from workloads import ConfigError
from workloads.builtin import MNIST
from workloads.datasets import ArrayDataset, DatasetSplits
from workloads.network import Conv, Dense, MaxPool, Network, Output

NET = Network("tiny", (6, 6, 1), (Conv(3), MaxPool(), Dense(8, delay=1), Output(3, delay=0)), 3)


def _data(n: int, seed: int, frames: bool = False) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int64)
    if frames:
        x = (rng.random((n, 3, 6, 6, 1)) < 0.2 + 0.2 * y[:, None, None, None, None]).astype(np.uint8)
        return ArrayDataset("toy-frames", x, y, "frames")
    x = (rng.random((n, 6, 6, 1)) * (0.3 + 0.3 * y[:, None, None, None])).astype(np.float32)
    return ArrayDataset("toy", x, y, "image")


def _batches(steps: int):
    data = _data(8 * steps, 1)
    for s in range(steps):
        xb, static = encode(data.x[8 * s:8 * s + 8], data.kind, NET.timesteps, "current", None)
        yield xb, static, data.y[8 * s:8 * s + 8]


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_zero_delays_bit_identical_to_plain(opt_cls):
    p1, p2 = snn.init_params(NET, 0), snn.init_params(NET, 0)
    o1, o2 = opt_cls(0.01), opt_cls(0.01)
    line = DelayLine((0, 0, 0))
    for xb, static, yb in _batches(5):
        T.train_step(NET, p1, o1, None, xb, static, yb)
        T.train_step(NET, p2, o2, line, xb, static, yb)
    for (w1, b1), (w2, b2) in zip(p1, p2):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)


def test_delays_match_reference_g_t_minus_d():
    delays = (2, 1, 0)
    params = snn.init_params(NET, 0)
    ref = [(w.copy(), b.copy()) for w, b in params]
    opt, ref_opt = Adam(0.01), Adam(0.01)
    line = DelayLine(delays)
    history = []  # reference: every gradient kept, layer l at step t applies history[t - D_l]
    for t, (xb, static, yb) in enumerate(_batches(6)):
        T.train_step(NET, params, opt, line, xb, static, yb)
        logits, states = snn.forward(NET, ref, xb, static)
        _, g = softmax_cross_entropy(logits, yb)
        history.append(snn.backward(NET, ref, xb, static, states, g))
        for k, d in enumerate(delays):
            if t - d >= 0:
                ref_opt.update(2 * k, ref[k][0], history[t - d][k][0])
                ref_opt.update(2 * k + 1, ref[k][1], history[t - d][k][1])
    for (w1, b1), (w2, b2) in zip(params, ref):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    assert opt.t == {0: 4, 1: 4, 2: 5, 3: 5, 4: 6, 5: 6}


def test_delay_line_rejects_negative():
    with pytest.raises(ConfigError, match="entry 1"):
        DelayLine((1, -1))


def _run(tmp_path, epochs, resume=False, **kw):
    cfg = T.TrainConfig(batch=8, epochs=epochs, seed=3, delays=(2, 1, 0), lr=0.01, eval_batch=16, **kw)
    return RF.train_in_folder(NET, _data(40, 5), _data(16, 6), cfg, tmp_path, resume=resume, progress=False).history


def _strip(history):
    return [{k: v for k, v in h.items() if not k.startswith("train_s")} for h in history]


def test_kill_and_resume_ends_like_an_uninterrupted_run(tmp_path, monkeypatch):
    whole = _run(tmp_path / "whole", 3)
    calls = {"n": 0}
    real = T.train_step

    def dying(*args):
        calls["n"] += 1
        if calls["n"] == 7:  # in the middle of epoch 2 (5 steps per epoch)
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(T, "train_step", dying)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", 3)
    monkeypatch.setattr(T, "train_step", real)
    saved = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert [h["epoch"] for h in saved] == [1]  # only the current epoch was lost
    with pytest.raises(ConfigError, match="--resume"):
        _run(tmp_path / "cut", 3)
    resumed = _run(tmp_path / "cut", 3, resume=True)
    assert _strip(resumed) == _strip(whole)
    a, _ = RF.load_checkpoint(tmp_path / "whole" / RF.CHECKPOINT)
    b, _ = RF.load_checkpoint(tmp_path / "cut" / RF.CHECKPOINT)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "cut").glob("*.tmp"))


def test_checkpoint_sink_receives_values_and_training_continues_exactly():
    """The trainer writes no file: the sink gets each epoch's state (copies), and training continued
    from the first one ends like the uninterrupted run, weights and metrics."""
    cfg = T.TrainConfig(batch=8, epochs=3, seed=3, delays=(2, 1, 0), lr=0.01, eval_batch=16)
    states = []
    whole = T.run_training(NET, _data(40, 5), _data(16, 6), cfg, checkpoint=states.append, progress=False)
    assert [len(s.history) for s in states] == [1, 2, 3]
    keys = states[0].arrays.keys()
    assert any(k.startswith("pending_") for k in keys) and any(k.startswith("adam_m_") for k in keys)
    assert not np.array_equal(states[0].params[0][0], whole.params[0][0])  # a copy, not the live weights
    resumed = T.run_training(NET, _data(40, 5), _data(16, 6), cfg, start=states[0], progress=False)
    assert _strip(resumed.history) == _strip(whole.history)
    for (w1, b1), (w2, b2), (w3, b3) in zip(whole.params, resumed.params, states[-1].params):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2) and np.array_equal(w1, w3) and np.array_equal(b1, b3)


def test_resume_refuses_another_configuration(tmp_path):
    _run(tmp_path, 1)
    with pytest.raises(ConfigError, match="was made with seed=3, this run has seed=4"):
        RF.train_in_folder(NET, _data(40, 5), _data(16, 6), T.TrainConfig(batch=8, epochs=2, seed=4, lr=0.01),
                           tmp_path, resume=True, progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    _run(tmp_path, 1)
    before = (tmp_path / RF.CHECKPOINT).read_bytes()
    monkeypatch.setattr(T, "softmax_cross_entropy", lambda z, y: (float("nan"), z))
    with pytest.raises(T.TrainingDiverged, match="nan at epoch 2, step 1.*kept"):
        _run(tmp_path, 2, resume=True)
    assert (tmp_path / RF.CHECKPOINT).read_bytes() == before


def test_training_learns_on_frames_and_rate_coding():
    cfg = T.TrainConfig(batch=8, epochs=4, seed=0, lr=0.02, eval_batch=32)
    hist = T.run_training(NET, _data(96, 1, True), _data(32, 2, True), cfg, progress=False).history
    assert hist[-1]["test_acc"] > 0.6 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    rate = T.run_training(NET, _data(96, 1), _data(32, 2), T.TrainConfig(batch=8, epochs=2, encoding="rate", lr=0.02),
                          progress=False).history
    assert np.isfinite(rate[-1]["test_loss"])


def test_mismatched_dataset_is_a_config_error():
    with pytest.raises(ConfigError, match="expects inputs"):
        T.run_training(MNIST, _data(8, 0), _data(8, 0), T.TrainConfig(), progress=False)


def test_resolve_delays():
    assert resolve_delays("table", MNIST, 32) == (6, 4, 2, 0)
    assert resolve_delays("none", MNIST, 32) is None
    assert resolve_delays("3,2,1,0", MNIST, 32) == (3, 2, 1, 0)
    for bad in ("1,2", "a,b,c,d", "1,2,3,-1", "schedule:x"):
        with pytest.raises(ConfigError, match="--delays"):
            resolve_delays(bad, MNIST, 32)


def test_cli_train_and_resume(tmp_path, monkeypatch, capsys):
    import simulator.cli.data  # noqa: F401  (imported unpatched: it binds get_dataset at import)
    import workloads.datasets as D
    monkeypatch.setattr(D, "get_dataset", lambda name, data_dir=None, seed=0:
                        DatasetSplits(_data(48, 1), _data(16, 2), True, "toy stand-in"))
    net_file = tmp_path / "tiny.json"
    net_file.write_text(json.dumps({"name": "tiny", "input": [6, 6, 1], "timesteps": 3, "layers": [
        {"type": "conv", "filters": 3}, {"type": "maxpool"}, {"type": "dense", "units": 8},
        {"type": "output", "units": 3}]}))
    args = ["train", "--network", str(net_file), "--dataset", "toy", "--epochs", "1", "--batch", "8",
            "--delays", "1,1,0", "--out", str(tmp_path / "run"), "--no-progress", "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()  # --json: stdout is the one JSON document, the human lines on stderr
    assert "synthetic" in captured.err and json.loads(captured.out)["history"][0]["epoch"] == 1
    assert main(args) == 2  # exists without --resume
    args[args.index("1")] = "2"  # --epochs 2
    assert main(args + ["--resume"]) == 0
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss") and len(rows) == 3


def test_schedule_delays_come_from_the_scheduler():
    from simulator.cost import ArrayConfig, network_cost
    from simulator.schedule import make_schedule
    expect = tuple(make_schedule("layerwise", network_cost(MNIST, ArrayConfig(32, 32), 32), 2).delays)
    assert resolve_delays("schedule:layerwise:2", MNIST, 32) == expect and len(expect) == 4


def test_thread_settings_are_validated():
    from models.threads import set_threads
    with pytest.raises(ConfigError, match="threads"):
        set_threads(0)
    with pytest.raises(ConfigError, match="blas threads"):
        set_threads(1, blas=10**6)


def test_blas_threads_are_set():
    import numba
    from threadpoolctl import threadpool_info, threadpool_limits
    from models.threads import set_threads

    def blas() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    if not blas():
        pytest.skip("no BLAS library that threadpoolctl knows is loaded")
    n = numba.get_num_threads()
    with threadpool_limits(user_api="blas"):  # puts the BLAS threads back afterwards
        for k in range(1, min(2, numba.config.NUMBA_NUM_THREADS) + 1):
            set_threads(n, blas=k)
            assert blas() == {k} and numba.get_num_threads() == n


def test_history_records_firing_rates_at_step_0_and_after_each_epoch():
    cfg = T.TrainConfig(batch=8, epochs=2, seed=1, lr=0.01, eval_batch=16)
    lines = []
    train = _data(40, 5)
    hist = T.run_training(NET, train, _data(16, 6), cfg, progress=False, report=lines.append).history
    probe = T.probe_batch(train, NET.timesteps, 8, cfg.encoding, 1)
    first = next(T.minibatches(train, NET.timesteps, 8, cfg.encoding, 1, 0))
    assert np.array_equal(probe.x, first.x) and np.array_equal(probe.y, first.y)
    expect0 = measure_activity(NET, snn.init_params(NET, 1), probe.x, probe.static)
    assert hist[0]["step0_firing_rates"] == pytest.approx(expect0.firing, abs=1e-6)
    assert hist[0]["step0_input_density"] is None  # a current input: real-valued
    assert "step0_firing_rates" not in hist[1]
    for h in hist:
        assert len(h["firing_rates"]) == len(h["sent_rates"]) == 2 and h["finetune"] is False
    assert lines[0].startswith("step 0 activity: input current | fired ")
    assert all("activity: input current | fired" in line for line in lines[1:])


def test_firing_init_is_the_default_init_unless_chosen_and_starts_at_the_target():
    train = _data(40, 5, frames=True)
    cfg = T.TrainConfig(batch=8, epochs=1, seed=2, lr=0.01, eval_batch=16, init="firing")
    hist = T.run_training(NET, train, _data(16, 6, frames=True), cfg, progress=False, report=None).history
    assert hist[0]["step0_input_density"] > 0
    assert all(abs(r - TARGET_RATE) <= RATE_TOLERANCE * TARGET_RATE for r in hist[0]["step0_firing_rates"])
    with pytest.raises(ConfigError, match="field 'init'"):
        T.TrainConfig(init="lsuv")
    with pytest.raises(ConfigError, match="finetune_epochs"):
        T.TrainConfig(finetune_epochs=-1)


def test_finetune_epochs_run_without_delays():
    """After the epochs with delays, the fine-tuning epochs equal a run without delays continued from
    the same weights and Adam state; a run that kept its delays ends elsewhere."""
    train, test = _data(40, 5), _data(16, 6)
    cfg = T.TrainConfig(batch=8, epochs=1, finetune_epochs=2, seed=3, delays=(2, 1, 0), lr=0.01, eval_batch=16)
    states = []
    tuned = T.run_training(NET, train, test, cfg, checkpoint=states.append, progress=False, report=None)
    assert [h["finetune"] for h in tuned.history] == [False, True, True]
    after1 = states[0]
    assert any(k.startswith("pending_") for k in after1.arrays)  # dropped when fine-tuning starts
    no_delays = T.TrainConfig(batch=8, epochs=3, seed=3, delays=None, lr=0.01, eval_batch=16)
    ref = T.run_training(NET, train, test, no_delays, start=after1, progress=False, report=None)
    kept = T.run_training(NET, train, test, T.TrainConfig(batch=8, epochs=3, seed=3, delays=(2, 1, 0), lr=0.01,
                                                          eval_batch=16), start=after1, progress=False, report=None)
    for (w1, b1), (w2, b2) in zip(tuned.params, ref.params):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    assert not np.array_equal(tuned.params[0][0], kept.params[0][0])
    assert _strip(tuned.history)[1:] == [h | {"finetune": True} for h in _strip(ref.history)[1:]]


def test_finetune_resumes_and_extends_in_a_run_folder(tmp_path, monkeypatch):
    whole = _run(tmp_path / "whole", 1, finetune_epochs=2)
    calls = {"n": 0}
    real = T.train_step

    def dying(*args):
        calls["n"] += 1
        if calls["n"] == 12:  # in the middle of epoch 3, the second fine-tuning epoch (5 steps per epoch)
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(T, "train_step", dying)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", 1, finetune_epochs=2)
    monkeypatch.setattr(T, "train_step", real)
    saved, _ = RF.load_checkpoint(tmp_path / "cut" / RF.CHECKPOINT)
    assert not any(k.startswith("pending_") for k in saved)  # fine-tuning keeps no delayed gradient
    assert _strip(_run(tmp_path / "cut", 1, resume=True, finetune_epochs=2)) == _strip(whole)
    longer = _run(tmp_path / "cut", 1, resume=True, finetune_epochs=3)  # one more fine-tuning epoch
    assert [h["finetune"] for h in longer] == [False, True, True, True]
    with pytest.raises(ConfigError, match="--finetune-epochs: epoch 2 of this run was trained without delays"):
        _run(tmp_path / "cut", 2, resume=True, finetune_epochs=3)
    activity = load_activity(tmp_path / "cut" / ACTIVITY_FILE, NET)
    assert activity.densities == (1.0, *longer[-1]["sent_rates"]) and "after epoch 4" in activity.source


def test_plot_training_returns_a_figure_with_the_fine_tuning_shaded():
    from matplotlib.figure import Figure
    from simulator.reports import plot_training

    hist = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e, "train_acc": 0.2 * e, "test_acc": 0.18 * e,
             "finetune": e > 2} for e in (1, 2, 3)]
    fig = plot_training(hist, "tiny")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert list(acc_ax.lines[1].get_ydata()) == pytest.approx([18, 36, 54])
    assert len(loss_ax.patches) == 1  # the fine-tuning span
    with pytest.raises(ConfigError, match="no finished epoch"):
        plot_training([])


def test_cli_train_plot_init_and_finetune(tmp_path, monkeypatch, capsys):
    import simulator.cli.data  # noqa: F401  (imported unpatched: it binds get_dataset at import)
    import workloads.datasets as D
    monkeypatch.setattr(D, "get_dataset", lambda name, data_dir=None, seed=0:
                        DatasetSplits(_data(48, 1, frames=True), _data(16, 2, frames=True), True, "toy stand-in"))
    net_file = tmp_path / "tiny.json"
    net_file.write_text(json.dumps({"name": "tiny", "input": [6, 6, 1], "timesteps": 3, "input_kind": "spikes",
                                    "layers": [{"type": "conv", "filters": 3}, {"type": "maxpool"},
                                               {"type": "dense", "units": 8}, {"type": "output", "units": 3}]}))
    out = tmp_path / "run"
    args = ["train", "--network", str(net_file), "--dataset", "toy", "--epochs", "1", "--finetune-epochs", "1",
            "--batch", "8", "--delays", "1,1,0", "--init", "firing", "--out", str(out), "--no-progress",
            "--plot", str(tmp_path / "curves.png")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "off (fine-tuning)" in text and "step 0 activity: input 0." in text and "init firing" in text
    assert (tmp_path / "curves.png").stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["finetune"] for h in metrics] == [False, True]
    assert load_activity(out / ACTIVITY_FILE).densities[0] == metrics[-1]["input_density"]
    assert main(args[:-2] + ["--plot", str(tmp_path / "curves.txt")]) == 2
    assert "--plot" in capsys.readouterr().err
    assert main(args[:-2] + ["--init-from", "x.nir"]) == 2
    assert "--init-from" in capsys.readouterr().err
