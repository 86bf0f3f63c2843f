"""A Gantt chart of a traced `SimResult`: one lane per processor (its slices, and its waits hatched
by kind), then one per link direction and DRAM channel (its transfers), over a window of cycles."""
from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.des import SimResult
from workloads import ConfigError

from .figure import KIND_COLORS, cycle_axis, new_figure
from .trace import WAITS, require_trace, waits

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WAIT_HATCHES = dict(zip(WAITS, ("//", "\\\\", "xx", "..")))
CHAR_SHARE = 0.0055
"""Share of the axes' width one 6-point label character takes on the 13-inch figure (about)."""
ITEM_COLORS = {"act": "#8172b3", "state": "#937860", "grad": "#da8bc3", "weights": "#8c8c8c"}


def plot_gantt(result: SimResult, first: int | None = None, count: int = 4,
               window: tuple[int, int] | None = None) -> Figure:
    """The cycles `window` = (start, end), or else those of `count` mini-batches' slices from
    mini-batch `first` (default: a window in the steady state)."""
    require_trace(result)
    from matplotlib.patches import Patch

    if window is None:
        if first is None:
            first = max(0, min(result.minibatches - count, result.minibatches // 2))
        chosen = [r for r in result.slices if first <= r.batch < first + count]
        if not chosen:
            raise ConfigError(f"no slices in mini-batches {first}..{first + count - 1}")
        window = (min(r.start for r in chosen), max(r.end for r in chosen))
    t0, t1 = window
    if not 0 <= t0 < t1:
        raise ConfigError(f"plot window: must be START:END cycles with 0 <= START < END, got {t0}:{t1}")
    channels = sorted({t.link for t in result.transfers}, key=lambda n: (n.startswith("dram"), n))
    lane = {name: result.procs + i for i, name in enumerate(channels)}
    lanes = result.procs + len(channels)
    fig = new_figure(1, 1, (13, 0.4 * lanes + 1.8), dpi=130)
    ax = fig.axes[0]
    span = t1 - t0
    for r in result.slices:
        if r.end > t0 and r.start < t1:
            ax.barh(r.proc, r.end - r.start, left=r.start, height=0.8, color=KIND_COLORS[r.kind],
                    edgecolor="white", linewidth=0.5)
            label = f"{r.batch}:{r.label}"
            if (min(r.end, t1) - max(r.start, t0)) > CHAR_SHARE * len(label) * span:  # only where it fits
                ax.text((max(r.start, t0) + min(r.end, t1)) / 2, r.proc, label, ha="center",
                        va="center", fontsize=6, color="white", clip_on=True)
    for proc, kind, a, b in waits(result):
        if b > t0 and a < t1:
            ax.barh(proc, b - a, left=a, height=0.8, facecolor="none", edgecolor="#555555", hatch=WAIT_HATCHES[kind],
                    linewidth=0)
    for t in result.transfers:
        if t.end > t0 and t.start < t1:
            ax.barh(lane[t.link], max(t.end - t.start, span / 2000), left=t.start, height=0.7,
                    color=ITEM_COLORS.get(t.item, "#8c8c8c"), linewidth=0)
    ax.set_xlim(t0, t1)
    ax.set_yticks(range(lanes), [f"P{p}" for p in range(result.procs)] + channels)
    ax.invert_yaxis()
    cycle_axis(ax, t1)
    ax.set_title(f"{result.network}, {result.scheduler}, P = {result.procs}, machine {result.machine.name}: "
                 + ("steady state not measured" if result.simulated_cycles_per_update is None else
                    f"{result.simulated_cycles_per_update:,.0f} cycles per update") + " (labels: mini-batch:slice)",
                 fontsize=9)
    handles = [Patch(color=c, label=k) for k, c in KIND_COLORS.items()]
    handles += [Patch(facecolor="white", edgecolor="#555555", hatch=h, label=k) for k, h in WAIT_HATCHES.items()]
    handles += [Patch(color=c, label=f"transfer: {k}") for k, c in ITEM_COLORS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig
