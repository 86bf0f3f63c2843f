"""The sweep's figures: Fig. 16 (batch 1, 32 x 32), Fig. 17 (mean and std over the grid) and
Fig. 18 (speedup against batch size and array size at one P)."""
from __future__ import annotations

from statistics import fmean, pstdev
from typing import TYPE_CHECKING, Sequence

from .figure import new_figure
from .sweep import SweepPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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


def _fig18(points: Sequence[SweepPoint], procs: int, array: int,
           batch: int) -> tuple[list[SweepPoint], list[SweepPoint]]:
    """Fig. 18's points: against batch size (square `array`), against the square array size (`batch`)."""
    return (_by(points, procs=procs, square=array),
            [pt for pt in _by(points, procs=procs, batch=batch) if pt.square is not None])


def skipped_figures(points: Sequence[SweepPoint], fig18_procs: int = 8, fig18_array: int = 32,
                    fig18_batch: int = 32) -> list[str]:
    """Why `plot_sweep` leaves a figure out, one line per figure left out."""
    out = []
    if not _by(points, batch=1, square=32):
        out.append("fig16 skipped: it needs batch 1 on a 32x32 array")
    by_batch, by_array = _fig18(points, fig18_procs, fig18_array, fig18_batch)
    if not by_batch:
        out.append(f"fig18 skipped: it needs P = {fig18_procs} on a {fig18_array}x{fig18_array} array")
    elif not by_array:
        out.append(f"fig18 skipped: it needs P = {fig18_procs} at batch {fig18_batch} on square arrays")
    return out


def plot_sweep(points: Sequence[SweepPoint], fig18_procs: int = 8, fig18_array: int = 32,
               fig18_batch: int = 32) -> dict[str, Figure]:
    """Fig. 16, 17 and 18 by name (`fig16`, ...); a figure whose configurations are not in the sweep is left out."""
    nets = list(dict.fromkeys(pt.network for pt in points))
    scheds = list(dict.fromkeys(pt.scheduler for pt in points))
    figures = {}
    fig16 = _by(points, batch=1, square=32)
    if fig16:
        fig = new_figure(1, len(nets), (4 * len(nets), 3.5))
        for ax, net in zip(fig.axes, nets):
            _curves(ax, _by(fig16, network=net), "procs", scheds)
            ax.set(title=f"{net}: batch 1, 32x32", xlabel="processors")
        fig.axes[0].legend(fontsize=7)
        figures["fig16"] = fig
    fig = new_figure(1, len(nets), (4 * len(nets), 3.5))
    for ax, net in zip(fig.axes, nets):
        _curves(ax, _by(points, network=net), "procs", scheds, errors=True)
        ax.set(title=f"{net}: mean ± std over the grid", xlabel="processors")
    fig.axes[0].legend(fontsize=7)
    figures["fig17"] = fig
    by_batch, by_array = _fig18(points, fig18_procs, fig18_array, fig18_batch)
    if by_batch and by_array:
        fig = new_figure(len(nets), 2, (9, 3 * len(nets)))
        for row, net in enumerate(nets):
            left, right = fig.axes[2 * row], fig.axes[2 * row + 1]
            _curves(left, _by(by_batch, network=net), "batch", scheds)
            left.set(xlabel="batch size", title=f"{net}: P = {fig18_procs}, {fig18_array}x{fig18_array}")
            _curves(right, _by(by_array, network=net), "square", scheds)
            right.set(xlabel="array size", title=f"{net}: P = {fig18_procs}, batch {fig18_batch}")
        fig.axes[0].legend(fontsize=7)
        figures["fig18"] = fig
    return figures
