"""The Chrome trace of a simulated run: microseconds of the machine's clock, waits as slices,
SRAM and channel counters, flows from each transfer to the slice it feeds; the Gantt chart."""
from __future__ import annotations

from dataclasses import replace

import pytest

from simulator.cost import ArrayConfig, network_cost
from simulator.des import simulate
from simulator.machine import Processors, load_machine
from simulator.reports import plot_gantt, trace_events
from simulator.reports.trace import PROCESSORS, WAITS
from simulator.schedule import make_schedule
from workloads import MNIST, ConfigError

SRAM = 16 * 1024


@pytest.fixture(scope="module")
def tight():
    """MNIST, compute-optimal, P = 4 on the realistic machine with 16 KiB of SRAM (it spills) at 1 and 2 GHz."""
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 4), 4)
    m = replace(load_machine("realistic"), processors=Processors(ArrayConfig(32, 32), SRAM))
    fast = replace(m, clock_ghz=2.0)
    return (simulate(schedule, 12, replace(m, clock_ghz=1.0), trace=True),
            simulate(schedule, 12, fast, trace=True))


def test_timestamps_are_microseconds_of_the_clock(tight) -> None:
    slow, fast = tight
    assert slow.total_cycles == fast.total_cycles  # the same cycles: only the clock differs
    a, b = trace_events(slow), trace_events(fast)
    assert "displayTimeUnit" not in a and a["otherData"]["time_unit"] == "us"
    x = [e for e in a["traceEvents"] if e["ph"] == "X" and e["pid"] == PROCESSORS and e["cat"] != "wait"]
    assert len(x) == len(slow.slices)
    for e, r in zip(x, slow.slices):
        assert e["ts"] == pytest.approx(r.start / 1e3) and e["dur"] == pytest.approx((r.end - r.start) / 1e3)
        assert e["args"]["start_cycle"] == r.start and e["args"]["cycles"] == r.end - r.start
    ts_a = [e["ts"] for e in a["traceEvents"] if "ts" in e]
    ts_b = [e["ts"] for e in b["traceEvents"] if "ts" in e]
    assert ts_b == pytest.approx([t / 2 for t in ts_a])  # 2 GHz halves them


def test_counters_stay_within_capacity(tight) -> None:
    r = tight[0]
    events = trace_events(r)["traceEvents"]
    counters = [e for e in events if e["ph"] == "C"]
    names = {e["name"] for e in counters}
    assert {f"sram p{p}" for p in range(r.procs)} <= names
    assert any(n.startswith("dram") for n in names) and any("->" in n for n in names)
    assert all(e["args"]["bytes"] >= 0 for e in counters)
    sram = [e for e in counters if e["name"].startswith("sram")]
    assert max(e["args"]["bytes"] for e in sram) <= SRAM  # what does not fit spills to DRAM
    for p in range(r.procs):  # the counter reaches each processor's peak
        assert max(e["args"]["bytes"] for e in sram if e["name"] == f"sram p{p}") == r.processors[p].peak_sram
    assert r.dram_bytes_per_update > 0


def test_every_flow_ends_in_a_slice_that_starts_after_the_transfer(tight) -> None:
    r = tight[0]
    events = trace_events(r)["traceEvents"]
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    assert starts and starts.keys() == finishes.keys()
    slices = [e for e in events if e["ph"] == "X" and e["pid"] == PROCESSORS and e["cat"] != "wait"]
    transfers = [e for e in events if e["ph"] == "X" and e["cat"] == "transfer"]
    by_start = {(e["pid"], e["tid"], e["ts"]): e for e in transfers}
    at = {(e["tid"], e["ts"]): e for e in slices}
    dram_reads = 0
    for i, s in starts.items():
        f = finishes[i]
        transfer = by_start[s["pid"], s["tid"], s["ts"]]
        consumer = at[f["tid"], f["ts"]]
        assert f["bp"] == "e" and consumer["ts"] <= f["ts"] <= consumer["ts"] + consumer["dur"]
        assert consumer["args"]["start_cycle"] >= transfer["args"]["start_cycle"] + transfer["args"]["cycles"]
        dram_reads += transfer["args"]["route"] == "dram"
    assert dram_reads > 0  # spilled buffers read back feed their slice too
    for x in r.slices:  # what feeds a slice was delivered to (or read back on) its processor
        assert all(r.transfers[i].dst == x.proc and r.transfers[i].end <= x.start for i in x.fed_by)


def test_waits_are_slices_of_their_kind(tight) -> None:
    r = tight[0]
    events = trace_events(r)["traceEvents"]
    waits = [e for e in events if e.get("cat") == "wait"]
    assert {e["name"] for e in waits} <= set(WAITS)
    for p in r.processors:
        mine = [e for e in waits if e["tid"] == p.index]
        assert sum(e["args"]["cycles"] for e in mine if e["name"] == "wait data") == p.wait_data
        assert sum(e["args"]["cycles"] for e in mine if e["name"] == "wait weights") == p.wait_weights
        assert sum(e["args"]["cycles"] for e in mine if e["name"] == "wait memory") == p.wait_memory
    assert any(e["name"] == "wait memory" for e in waits)


def test_gantt_has_a_lane_per_channel_and_a_window(tight) -> None:
    r = tight[0]
    t0, t1 = r.total_cycles // 3, r.total_cycles // 2
    fig = plot_gantt(r, window=(t0, t1))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    channels = {t.link for t in r.transfers}
    assert labels[:r.procs] == [f"P{p}" for p in range(r.procs)] and set(labels[r.procs:]) == channels
    assert ax.get_xlim() == (t0, t1)
    legend = fig.legends[0] if fig.legends else ax.get_legend()
    assert {t.get_text() for t in legend.get_texts()} >= {"FP", "WG", "IG", "wait data", "wait memory"}
    with pytest.raises(ConfigError, match="window"):
        plot_gantt(r, window=(t1, t0))


def test_untraced_results_are_refused() -> None:
    schedule = make_schedule("compute-optimal", network_cost(MNIST, ArrayConfig(32, 32), 4), 2)
    with pytest.raises(ConfigError, match="trace=True"):
        trace_events(simulate(schedule, 8))


def test_simulate_plot_window_cli(capsys, tmp_path) -> None:
    from simulator.cli import main
    base = ["simulate", "--network", "mnist", "--procs", "2", "--scheduler", "compute-optimal", "--minibatches", "12"]
    png = tmp_path / "g.png"
    assert main(base + ["--plot", str(png), "--plot-window", "1_000:40,000"]) == 0
    assert png.stat().st_size > 0
    capsys.readouterr()
    for bad in ("5:1", "abc", "10", "-1:5"):
        assert main(base + ["--plot", str(png), f"--plot-window={bad}"]) == 2
        assert "--plot-window: must be START:END" in capsys.readouterr().err
    assert main(base + ["--plot-window", "0:10"]) == 2
    assert "only with --plot" in capsys.readouterr().err
