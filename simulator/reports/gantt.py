"""A Gantt chart of a traced `SimResult`: which slice each processor ran when, over a window of mini-batches."""
from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.des import SimResult
from workloads import ConfigError

from .figure import KIND_COLORS, new_figure
from .trace import require_trace

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_gantt(result: SimResult, first: int | None = None, count: int = 4) -> Figure:
    """`count` mini-batches' slices from mini-batch `first` (default: a window in the steady state)."""
    require_trace(result)
    from matplotlib.patches import Patch

    if first is None:
        first = max(0, min(result.minibatches - count, result.minibatches // 2))
    chosen = [r for r in result.slices if first <= r.batch < first + count]
    if not chosen:
        raise ConfigError(f"no slices in mini-batches {first}..{first + count - 1}")
    t0, t1 = min(r.start for r in chosen), max(r.end for r in chosen)
    window = [r for r in result.slices if r.end > t0 and r.start < t1]
    fig = new_figure(1, 1, (12, 0.5 * result.procs + 1.5), dpi=130)
    ax = fig.axes[0]
    for r in window:
        ax.barh(r.proc, r.end - r.start, left=r.start, height=0.8, color=KIND_COLORS[r.kind],
                edgecolor="white", linewidth=0.5)
        if (r.end - r.start) > (t1 - t0) / 40:
            ax.text((r.start + r.end) / 2, r.proc, f"{r.batch}:{r.label}", ha="center", va="center",
                    fontsize=6, color="white", clip_on=True)
    ax.set_xlim(t0, t1)
    ax.set_yticks(range(result.procs), [f"P{p}" for p in range(result.procs)])
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    ax.set_title(f"{result.network}, {result.scheduler}, P = {result.procs}: "
                 + ("steady state not measured" if result.simulated_cycles_per_update is None else
                    f"{result.simulated_cycles_per_update:,.0f} cycles per update") + " (labels: mini-batch:slice)")
    ax.legend(handles=[Patch(color=c, label=k) for k, c in KIND_COLORS.items()], loc="upper right", fontsize=7)
    return fig
