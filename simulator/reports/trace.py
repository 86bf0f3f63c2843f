"""A traced `SimResult` as Chrome trace events (opens in Perfetto / chrome://tracing).

Timestamps (`ts`, `dur`) are microseconds of the machine's clock (`Machine.clock_ghz`), the unit
the format defines; every event keeps its cycles in `args`. Tracks:
- pid 1, one thread per processor: its slices (cat FP/WG/IG) and its waits, slices of their own
  (`wait data`, `wait weights`, `wait memory`: DRAM reads of what it spilled, `wait bus`: without
  overlap, until its outputs have left);
- pid 2, one thread per link direction (or the bus), pid 3 one per DRAM channel: the transfers;
- counters (`ph: "C"`): `sram pN` (bytes resident in processor N's SRAM; never above its
  capacity: what does not fit is spilled to DRAM and shows on the DRAM tracks), and for every
  channel `<name> bytes` (bytes of the transfer it is carrying, 0 when idle);
- flows (`ph: "s"` at a transfer's start, `ph: "f"` bound to the enclosing slice at the consumer's
  start): from every last hop or DRAM read that brought a slice's inputs to that slice.
"""
from __future__ import annotations

from typing import Any

from simulator.des import DRAM_END, SimResult
from workloads import ConfigError

PROCESSORS, LINKS, DRAM = 1, 2, 3
"""The trace's process ids."""

WAITS = ("wait data", "wait weights", "wait memory", "wait bus")
"""The kinds of waiting slice, in the order a slice's waits come."""


def require_trace(result: SimResult) -> None:
    """Refuse a result simulated without `trace=True` (it holds no slice or transfer records)."""
    if result.slices is None or result.transfers is None or result.sram is None:
        raise ConfigError("this result was simulated without trace=True; nothing to render")


def waits(result: SimResult) -> list[tuple[int, str, int, int]]:
    """Every non-empty waiting interval: (processor, kind of `WAITS`, start, end) in cycles."""
    require_trace(result)
    out = []
    for r in result.slices:
        for kind, a, b in zip(WAITS, (r.issued, r.data_ready, r.weights_ready, r.end),
                              (r.data_ready, r.weights_ready, r.start, r.released)):
            if b > a:
                out.append((r.proc, kind, a, b))
    return out


def channel_pid(name: str) -> int:
    """The trace process of a channel: DRAM channels are named `dram` / `dram pN`."""
    return DRAM if name.startswith("dram") else LINKS


def trace_events(result: SimResult) -> dict[str, Any]:
    """The run in the Chrome trace-event format (module docstring)."""
    require_trace(result)
    per_us = result.machine.clock_ghz * 1e3  # cycles per microsecond

    def us(cycles: float) -> float:
        return cycles / per_us

    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": name}}
        for pid, name in ((PROCESSORS, "processors"), (LINKS, "links"), (DRAM, "dram"))]
    for p in range(result.procs):
        events.append({"ph": "M", "pid": PROCESSORS, "tid": p, "name": "thread_name", "args": {"name": f"p{p}"}})
    channels = sorted({t.link for t in result.transfers})
    tid = {name: i for i, name in enumerate(channels)}
    for name in channels:
        events.append({"ph": "M", "pid": channel_pid(name), "tid": tid[name], "name": "thread_name",
                       "args": {"name": name}})
    for r in result.slices:
        events.append({"ph": "X", "pid": PROCESSORS, "tid": r.proc, "name": r.label, "cat": r.kind,
                       "ts": us(r.start), "dur": us(r.end - r.start),
                       "args": {"minibatch": r.batch, "layer": r.layer, "start_cycle": r.start,
                                "cycles": r.end - r.start, "data_ready_cycle": r.data_ready,
                                "weights_ready_cycle": r.weights_ready}})
    for proc, kind, a, b in waits(result):
        events.append({"ph": "X", "pid": PROCESSORS, "tid": proc, "name": kind, "cat": "wait",
                       "ts": us(a), "dur": us(b - a), "args": {"start_cycle": a, "cycles": b - a}})
    for t in result.transfers:
        where = "dram" if DRAM_END in (t.src, t.dst) else f"p{t.src}->p{t.dst}"
        events.append({"ph": "X", "pid": channel_pid(t.link), "tid": tid[t.link],
                       "name": f"{t.item}{t.layer} b{t.batch}", "cat": "transfer", "ts": us(t.start),
                       "dur": us(t.end - t.start),
                       "args": {"item": t.item, "layer": t.layer, "minibatch": t.batch, "src": t.src, "dst": t.dst,
                                "route": where,
                                "bytes": t.nbytes, "start_cycle": t.start, "cycles": t.end - t.start}})
    events += _counters(result, us, tid)
    flow = 0
    for r in result.slices:
        for i in r.fed_by:
            t = result.transfers[i]
            flow += 1
            events.append({"ph": "s", "id": flow, "pid": channel_pid(t.link), "tid": tid[t.link], "name": "data",
                           "cat": "flow", "ts": us(t.start)})
            events.append({"ph": "f", "bp": "e", "id": flow, "pid": PROCESSORS, "tid": r.proc, "name": "data",
                           "cat": "flow", "ts": us(r.start)})
    return {"traceEvents": events,
            "otherData": {"network": result.network, "scheduler": result.scheduler, "procs": result.procs,
                          "machine": result.machine.name, "clock_ghz": result.machine.clock_ghz,
                          "time_unit": "us", "cycle_args": "start_cycle, cycles"}}


def _counters(result: SimResult, us, tid: dict[str, int]) -> list[dict[str, Any]]:
    """SRAM bytes per processor at each change; bytes on each channel (0 when idle)."""
    events = []
    for s in result.sram:  # in time order: the last sample of a cycle holds
        events.append({"ph": "C", "pid": PROCESSORS, "name": f"sram p{s.proc}", "ts": us(s.time),
                       "args": {"bytes": s.nbytes}})
    by_channel: dict[str, list] = {}
    for t in result.transfers:
        by_channel.setdefault(t.link, []).append(t)
    for name, transfers in by_channel.items():
        changes: dict[int, int] = {}
        for t in sorted(transfers, key=lambda t: t.start):  # a channel carries one at a time (FIFO)
            changes.setdefault(t.end, 0)
            changes[t.start] = t.nbytes
        for time in sorted(changes):
            events.append({"ph": "C", "pid": channel_pid(name), "name": f"{name} bytes", "ts": us(time),
                           "args": {"bytes": changes[time]}})
    return events
