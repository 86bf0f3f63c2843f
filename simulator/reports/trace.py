"""A traced `SimResult` as Chrome trace events (opens in Perfetto / chrome://tracing)."""
from __future__ import annotations

from typing import Any

from simulator.des import SimResult
from workloads import ConfigError


def require_trace(result: SimResult) -> None:
    """Refuse a result simulated without `trace=True` (it holds no slice or transfer records)."""
    if result.slices is None or result.transfers is None:
        raise ConfigError("this result was simulated without trace=True; nothing to render")


def trace_events(result: SimResult) -> dict[str, Any]:
    """The run in the Chrome trace-event format (opens in Perfetto / chrome://tracing).

    One track per processor (pid 1) and one per bus channel (pid 2); `ts` and `dur` are
    in cycles (shown by the viewers as microseconds).
    """
    require_trace(result)
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
