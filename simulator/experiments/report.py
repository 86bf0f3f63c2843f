"""What a finished (or partial) experiment shows: the CSV table, the summary table and the plots.

Metrics are read from the result fields by name, so any point kind that returns them is
reported alike:
- time per sample: `seconds_per_sample` if every finished record has it, else
  `cycles_per_sample` (which needs no clock); throughput is its inverse (samples per second,
  or per million cycles);
- energy per sample: `energy_per_sample` (joules); records without it get no energy plot
  and no Pareto front (time per sample against energy per sample).
The swept parameters are those whose value differs between records. Functions return
values (rows, `matplotlib.figure.Figure`s); the caller writes them.
"""
from __future__ import annotations

from statistics import median
from typing import Any, NamedTuple, Sequence

from matplotlib.figure import Figure

from .results import PointRecord, Status

ENERGY = "energy_per_sample"
ENERGY_LABEL = "energy per sample (J)"
SPEEDUP = "speedup"


class Rate(NamedTuple):
    """A result field that gives throughput, and how to read it."""

    field: str
    label: str         # throughput, with its unit
    time_label: str    # time per sample, with its unit
    per_sample: bool   # the field is time per sample (else samples per unit of time)
    scale: float       # throughput = scale / field when per_sample

    def throughput(self, record: PointRecord) -> float:
        value = record.result[self.field]
        return self.scale / value if self.per_sample else value

    def time(self, record: PointRecord) -> float:
        value = record.result[self.field]
        return value if self.per_sample else 1.0 / value


RATES = (Rate("seconds_per_sample", "throughput (samples/s)", "time per sample (s)", True, 1.0),
         Rate("cycles_per_sample", "throughput (samples per 10^6 cycles)", "time per sample (cycles)", True, 1e6))


def time_metric(records: Sequence[PointRecord]) -> Rate | None:
    """The first of `RATES` every record has (a positive number); None if none."""
    for rate in RATES:
        if records and all(_number(r.result.get(rate.field)) and r.result[rate.field] > 0 for r in records):
            return rate
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ok(records: Sequence[PointRecord]) -> list[PointRecord]:
    return [r for r in records if r.status is Status.OK]


def swept(records: Sequence[PointRecord]) -> list[str]:
    """Parameters whose value differs between records, in parameter order."""
    names = dict.fromkeys(n for r in records for n in r.params)
    return [n for n in names if len({repr(r.params.get(n)) for r in records}) > 1]


def results_table(records: Sequence[PointRecord]) -> list[dict[str, Any]]:
    """Rows for results.csv (`workloads.files.write_csv_atomic`), every row with every column: key,
    status, each parameter, each result field (empty where a record lacks it), error, seconds."""
    params = list(dict.fromkeys(n for r in records for n in r.params))
    fields = list(dict.fromkeys(n for r in records for n in r.result))
    return [{"key": r.key, "status": r.status.value, **{n: r.params.get(n) for n in params},
             **{n: r.result.get(n) for n in fields}, "error": r.error or "", "seconds": round(r.seconds, 6)}
            for r in records]


def summary_table(records: Sequence[PointRecord]) -> tuple[list[str], list[list[Any]]]:
    """One row per finished point, fastest first: the swept parameters, throughput, speedup and
    energy per sample where every finished record has them; the header gives the units."""
    ok = _ok(records)
    time = time_metric(ok)
    names = swept(records)
    extra = [(f, label) for f, label in ((SPEEDUP, "speedup (x)"), (ENERGY, ENERGY_LABEL))
             if ok and all(_number(r.result.get(f)) for r in ok)]
    header = [*names, *([time.label] if time else []), *(label for _, label in extra)]
    if time:
        ok = sorted(ok, key=time.time)
    rows = [[*(r.params.get(n) for n in names), *([time.throughput(r)] if time else []),
             *(r.result[f] for f, _ in extra)] for r in ok]
    return header, rows


def _axis_values(values: list[Any]) -> tuple[list[float], list[str] | None, bool]:
    """Positions on the x axis, tick labels for categories (None for numbers), and whether to use log scale."""
    distinct = list(dict.fromkeys(values))
    if all(map(_number, distinct)):
        lo, hi = min(distinct), max(distinct)
        return [float(v) for v in values], None, lo > 0 and hi / lo >= 16
    return [float(distinct.index(v)) for v in values], [str(v) for v in distinct], False


def _metric_plot(ax, records: list[PointRecord], x: str, series: str | None, value, ylabel: str,
                 rest: list[str]) -> None:
    groups: dict[Any, list[PointRecord]] = {}
    for r in records:
        groups.setdefault(r.params[series] if series else None, []).append(r)
    xs_all, ticks, log = _axis_values([r.params[x] for r in records])
    position = {id(r): p for r, p in zip(records, xs_all)}
    for name, group in groups.items():
        by_x: dict[float, list[float]] = {}
        for r in group:
            by_x.setdefault(position[id(r)], []).append(value(r))
        xs = sorted(by_x)
        line, = ax.plot(xs, [median(by_x[v]) for v in xs], marker="o",
                        label=None if series is None else f"{series} = {name}")
        if rest:
            ax.fill_between(xs, [min(by_x[v]) for v in xs], [max(by_x[v]) for v in xs], alpha=0.2,
                            color=line.get_color(), linewidth=0)
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks)
    if log:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series is not None:
        ax.legend(fontsize="small")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both coordinates (both minimised), by ascending first coordinate."""
    front: list[tuple[float, float]] = []
    for p in sorted(set(points)):
        if not front or p[1] < front[-1][1]:
            front.append(p)
    return front


def figures(records: Sequence[PointRecord]) -> dict[str, Figure]:
    """Throughput (and energy per sample, if recorded) against each swept parameter, and the
    Pareto front of time against energy per sample; keyed by a file stem."""
    ok = _ok(records)
    time = time_metric(ok)
    names = swept(ok)
    energy = bool(ok) and all(_number(r.result.get(ENERGY)) for r in ok)
    panels = ([(time.throughput, time.label)] if time else []) + \
             ([(lambda r: r.result[ENERGY], ENERGY_LABEL)] if energy else [])
    out: dict[str, Figure] = {}
    for x in names if panels else []:
        others = [n for n in names if n != x]
        counts = {n: len({repr(r.params[n]) for r in ok}) for n in others}
        series = min(others, key=counts.get) if others and min(counts.values()) <= 8 else None
        rest = [n for n in others if n != series]
        fig = Figure(figsize=(6.4 * len(panels), 4.4), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (value, label) in zip(axes, panels):
            _metric_plot(ax, ok, x, series, value, label, rest)
        fig.suptitle(f"against {x}" + (f" (median over {', '.join(rest)}; band: min to max)" if rest else ""))
        out[f"{'throughput-energy' if energy else 'throughput'}-{x}"] = fig
    if time and energy:
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        ax = fig.subplots()
        pts = [(time.time(r), r.result[ENERGY]) for r in ok]
        ax.scatter(*zip(*pts), s=14, alpha=0.5, label="points")
        front = pareto_front(pts)
        ax.step(*zip(*front), where="post", color="C3", marker="o", label="Pareto front")
        ax.set_xlabel(time.time_label)
        ax.set_ylabel(ENERGY_LABEL)
        ax.grid(alpha=0.3)
        ax.legend()
        out["pareto"] = fig
    return out
