"""The schedule map (Fig. 12, 13, 15): one row per processor, one bar per task slice."""
from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.schedule import Schedule

from .figure import KIND_COLORS, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_schedule(schedule: Schedule) -> Figure:
    """One row per processor, one bar per slice (width = cycles), labelled like Fig. 12/13/15."""
    fig = new_figure(1, 1, (10, 0.6 * schedule.procs + 1.5))
    ax = fig.axes[0]
    for p, slices in enumerate(schedule.processors):
        start = 0
        for s in slices:
            ax.barh(p, s.cycles, left=start, height=0.7, color=KIND_COLORS[s.kind.value], edgecolor="black",
                    linewidth=0.5)
            if s.cycles > 0.04 * schedule.cycles_per_update:
                ax.text(start + s.cycles / 2, p, s.label, ha="center", va="center", fontsize=7)
            start += s.cycles
    ax.axvline(schedule.cycles_per_update, color="red", linestyle="--", linewidth=1)
    ax.set_yticks(range(schedule.procs), [f"P{p}" for p in range(schedule.procs)])
    ax.invert_yaxis()
    ax.set_xlabel("cycles per weight update")
    cost = schedule.cost
    ax.set_title(f"{schedule.scheduler}: {cost.network.name}, {cost.array}, batch {cost.batch}, "
                 f"P = {schedule.procs}: {schedule.cycles_per_update:,} cycles, {schedule.speedup:.2f}x")
    return fig
