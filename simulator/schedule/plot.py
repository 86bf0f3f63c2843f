"""Figures: a schedule map (Fig. 12, 13, 15) and the sweep's Fig. 16, 17 and 18.

matplotlib is imported on first use (Agg backend); every file is written
atomically (`workloads.files.atomic_path`).
"""
from __future__ import annotations

from pathlib import Path
from statistics import fmean, pstdev
from typing import TYPE_CHECKING, Sequence

from workloads import ConfigError
from workloads.files import atomic_path

from .types import Schedule

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .sweep import SweepPoint

KIND_COLORS = {"FP": "#4c72b0", "WG": "#dd8452", "IG": "#55a868"}
FORMATS = (".png", ".svg", ".pdf")


def _figure(rows: int, cols: int, size: tuple[float, float]) -> Figure:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, layout="constrained")
    fig.subplots(rows, cols, squeeze=False)
    return fig


def save_atomic(fig: Figure, path: str | Path) -> Path:
    """Write the figure to `path` (.png, .svg or .pdf) through a temporary file."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"plot: {str(path)!r} must end in one of {', '.join(FORMATS)}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:].lower(), dpi=150)
    return path


def plot_schedule(schedule: Schedule, path: str | Path) -> Path:
    """One row per processor, one bar per slice (width = cycles), labelled like Fig. 12/13/15."""
    fig = _figure(1, 1, (10, 0.6 * schedule.procs + 1.5))
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
    return save_atomic(fig, path)


def _by(points: Sequence[SweepPoint], **match: object) -> list[SweepPoint]:
    return [pt for pt in points if all(getattr(pt, k) == v for k, v in match.items())]


def _curves(ax, points: Sequence[SweepPoint], x: str, schedulers: Sequence[str], errors: bool = False) -> None:
    """Mean speedup (and its standard deviation) of each scheduler against field `x`."""
    for name in schedulers:
        pts = _by(points, scheduler=name)
        xs = sorted({getattr(pt, x) for pt in pts})
        ys = [[pt.speedup for pt in pts if getattr(pt, x) == v] for v in xs]
        if errors:
            ax.errorbar(xs, [fmean(y) for y in ys], yerr=[pstdev(y) for y in ys], marker="o", capsize=3,
                        label=name)
        else:
            ax.plot(xs, [fmean(y) for y in ys], marker="o", label=name)
    ax.set_ylabel("speedup")
    ax.grid(alpha=0.3)
    ticks = sorted({getattr(pt, x) for pt in points})
    if x != "procs":
        ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(t) for t in ticks])


def plot_sweep(points: Sequence[SweepPoint], out: str | Path, fig18_procs: int = 8,
               fig18_array: int = 32, fig18_batch: int = 32) -> list[Path]:
    """Fig. 16 (batch 1, 32x32), Fig. 17 (mean and std over the grid), Fig. 18 (P = 8) as PNG files.

    A figure whose configurations are not in the sweep is left out.
    """
    out = Path(out)
    nets = list(dict.fromkeys(pt.network for pt in points))
    scheds = list(dict.fromkeys(pt.scheduler for pt in points))
    written = []
    fig16 = _by(points, batch=1, array=32)
    if fig16:
        fig = _figure(1, len(nets), (4 * len(nets), 3.5))
        for ax, net in zip(fig.axes, nets):
            _curves(ax, _by(fig16, network=net), "procs", scheds)
            ax.set(title=f"{net}: batch 1, 32x32", xlabel="processors")
        fig.axes[0].legend(fontsize=7)
        written.append(save_atomic(fig, out / "fig16.png"))
    fig = _figure(1, len(nets), (4 * len(nets), 3.5))
    for ax, net in zip(fig.axes, nets):
        _curves(ax, _by(points, network=net), "procs", scheds, errors=True)
        ax.set(title=f"{net}: mean ± std over the grid", xlabel="processors")
    fig.axes[0].legend(fontsize=7)
    written.append(save_atomic(fig, out / "fig17.png"))
    by_batch = _by(points, procs=fig18_procs, array=fig18_array)
    by_array = _by(points, procs=fig18_procs, batch=fig18_batch)
    if by_batch and by_array:
        fig = _figure(len(nets), 2, (9, 3 * len(nets)))
        for row, net in enumerate(nets):
            left, right = fig.axes[2 * row], fig.axes[2 * row + 1]
            _curves(left, _by(by_batch, network=net), "batch", scheds)
            left.set(xlabel="batch size", title=f"{net}: P = {fig18_procs}, {fig18_array}x{fig18_array}")
            _curves(right, _by(by_array, network=net), "array", scheds)
            right.set(xlabel="array size", title=f"{net}: P = {fig18_procs}, batch {fig18_batch}")
        fig.axes[0].legend(fontsize=7)
        written.append(save_atomic(fig, out / "fig18.png"))
    return written
