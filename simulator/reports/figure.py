"""What every figure shares: a fresh `matplotlib.figure.Figure` (no pyplot state, no backend
switch) and one colour per task kind."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KIND_COLORS = {"FP": "#4c72b0", "WG": "#dd8452", "IG": "#55a868"}


def new_figure(rows: int, cols: int, size: tuple[float, float], dpi: float = 150) -> Figure:
    """A `rows x cols` grid of axes (in `fig.axes`, row-major), laid out by matplotlib's constrained layout."""
    from matplotlib.figure import Figure  # imported on first use: the CLI starts without it
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    fig.subplots(rows, cols, squeeze=False)
    return fig


def cycle_axis(ax, largest: float, axis: str = "x") -> None:
    """Label a cycle axis readably: Mcycles from a million cycles on, else cycles with thousands separators."""
    from matplotlib.ticker import FuncFormatter
    mega = largest >= 1e6
    fmt = FuncFormatter((lambda v, _: f"{v / 1e6:,.2f}") if mega else (lambda v, _: f"{v:,.0f}"))
    getattr(ax, f"{axis}axis").set_major_formatter(fmt)
    getattr(ax, f"set_{axis}label")("Mcycles" if mega else "cycles")
