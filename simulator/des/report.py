"""Offline renderings of a traced `SimResult`: Chrome trace-event JSON and a Gantt chart."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workloads import ConfigError
from workloads.files import write_atomic

from .result import SimResult

_KIND_COLOURS = {"FP": "#4c72b0", "WG": "#dd8452", "IG": "#55a868"}


def _require_trace(result: SimResult) -> None:
    if result.slices is None or result.transfers is None:
        raise ConfigError("this result was simulated without trace=True; nothing to render")


def trace_events(result: SimResult) -> dict[str, Any]:
    """The run in the Chrome trace-event format (opens in Perfetto / chrome://tracing).

    One track per processor (pid 1) and one per bus channel (pid 2); `ts` and `dur` are
    in cycles (shown by the viewers as microseconds).
    """
    _require_trace(result)
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "processors"}},
        {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "bus"}},
    ]
    for p in range(result.procs):
        events.append({"ph": "M", "pid": 1, "tid": p, "name": "thread_name", "args": {"name": f"p{p}"}})
    links = sorted({t.link for t in result.transfers})
    link_tid = {name: i for i, name in enumerate(links)}
    for name, tid in link_tid.items():
        events.append({"ph": "M", "pid": 2, "tid": tid, "name": "thread_name", "args": {"name": name}})
    for r in result.slices:
        events.append({"ph": "X", "pid": 1, "tid": r.proc, "name": r.label, "cat": r.kind,
                       "ts": r.start, "dur": r.end - r.start,
                       "args": {"minibatch": r.batch, "layer": r.layer, "data_ready": r.data_ready,
                                "weights_ready": r.weights_ready}})
    for t in result.transfers:
        events.append({"ph": "X", "pid": 2, "tid": link_tid[t.link], "name": f"{t.item}{t.layer} b{t.batch}",
                       "cat": "transfer", "ts": t.start, "dur": t.end - t.start,
                       "args": {"item": t.item, "layer": t.layer, "minibatch": t.batch, "src": t.src,
                                "dst": t.dst, "bytes": t.nbytes}})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"network": result.network, "scheduler": result.scheduler, "procs": result.procs,
                          "time_unit": "cycles"}}


def write_trace(result: SimResult, path: str | Path) -> None:
    write_atomic(path, json.dumps(trace_events(result)))


def plot_gantt(result: SimResult, path: str | Path, first: int | None = None, count: int = 4) -> None:
    """A Gantt chart of `count` mini-batches' slices (default: a window in the steady state)."""
    _require_trace(result)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if first is None:
        first = max(0, min(result.minibatches - count, result.minibatches // 2))
    chosen = [r for r in result.slices if first <= r.batch < first + count]
    if not chosen:
        raise ConfigError(f"no slices in mini-batches {first}..{first + count - 1}")
    t0, t1 = min(r.start for r in chosen), max(r.end for r in chosen)
    window = [r for r in result.slices if r.end > t0 and r.start < t1]
    fig, ax = plt.subplots(figsize=(12, 0.5 * result.procs + 1.5))
    for r in window:
        ax.barh(r.proc, r.end - r.start, left=r.start, height=0.8, color=_KIND_COLOURS[r.kind],
                edgecolor="white", linewidth=0.5)
        if (r.end - r.start) > (t1 - t0) / 40:
            ax.text((r.start + r.end) / 2, r.proc, f"{r.batch}:{r.label}", ha="center", va="center",
                    fontsize=6, color="white", clip_on=True)
    ax.set_xlim(t0, t1)
    ax.set_yticks(range(result.procs), [f"P{p}" for p in range(result.procs)])
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    ax.set_title(f"{result.network}, {result.scheduler}, P = {result.procs}: "
                 f"{result.simulated_cycles_per_update:,.0f} cycles per update (labels: mini-batch:slice)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _KIND_COLOURS.values()]
    ax.legend(handles, list(_KIND_COLOURS), loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
