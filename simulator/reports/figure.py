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
