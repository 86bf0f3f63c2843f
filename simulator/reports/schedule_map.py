"""The schedule map (Fig. 12, 13, 15): one row per processor, one bar per task slice."""
from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.schedule import Schedule

from .figure import KIND_COLORS, cycle_axis, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHAR_WIDTH = 0.011
"""Share of the axes' width one 7-point label character takes on a 10-inch figure (about)."""


def plot_schedule(schedule: Schedule) -> Figure:
    """One row per processor, one bar per slice (width = cycles), labelled like Fig. 12/13/15 where
    the label fits in its bar (else its task, 'FP0', or its kind's initial, else none); a legend of
    the task kinds outside the axes."""
    from matplotlib.patches import Patch

    fig = new_figure(1, 1, (10, 0.6 * schedule.procs + 1.5))
    ax = fig.axes[0]
    width = max(max(sum(s.cycles for s in slices) for slices in schedule.processors),
                schedule.cycles_per_update)
    for p, slices in enumerate(schedule.processors):
        start = 0
        for s in slices:
            ax.barh(p, s.cycles, left=start, height=0.7, color=KIND_COLORS[s.kind.value], edgecolor="black",
                    linewidth=0.5)
            share = s.cycles / width
            label = next((t for t in (s.label, s.task_label, s.kind.value[0]) if len(t) * CHAR_WIDTH < share), None)
            if label:
                ax.text(start + s.cycles / 2, p, label, ha="center", va="center", fontsize=7)
            start += s.cycles
    ax.axvline(schedule.cycles_per_update, color="red", linestyle="--", linewidth=1)
    ax.set_xlim(0, width * 1.01)
    ax.set_yticks(range(schedule.procs), [f"P{p}" for p in range(schedule.procs)])
    ax.invert_yaxis()
    cycle_axis(ax, width)
    ax.set_xlabel(ax.get_xlabel() + " per weight update")
    cost = schedule.cost
    ax.set_title(f"{schedule.scheduler}: {cost.network.name}, {cost.array}, batch {cost.batch}, "
                 f"P = {schedule.procs}: {schedule.cycles_per_update:,} cycles, {schedule.speedup:.2f}x", fontsize=9)
    handles = [Patch(color=c, label=k) for k, c in KIND_COLORS.items()]
    handles.append(Patch(facecolor="none", edgecolor="red", linestyle="--", label="cycles per update"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig
