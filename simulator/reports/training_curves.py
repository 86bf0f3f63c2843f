"""The training curves of one run: loss and accuracy per epoch, on the training and the test split."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from workloads import ConfigError

from .figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_training(history: Sequence[dict], title: str = "") -> Figure:
    """Loss (left) and accuracy (right) per epoch of a run's metrics (`models.train` history rows),
    train dashed and test solid; the fine-tuning epochs without delays are shaded."""
    if not history:
        raise ConfigError("plot: the run has no finished epoch to draw")
    epochs = [h["epoch"] for h in history]
    fig = new_figure(1, 2, (9.0, 3.6), dpi=120)
    loss_ax, acc_ax = fig.axes
    for ax, what, scale, label in ((loss_ax, "loss", 1.0, "loss (cross-entropy)"),
                                   (acc_ax, "acc", 100.0, "accuracy (%)")):
        ax.plot(epochs, [scale * h[f"train_{what}"] for h in history], marker="o", ls="--", label="train")
        ax.plot(epochs, [scale * h[f"test_{what}"] for h in history], marker="o", label="test")
        tuned = [h["epoch"] for h in history if h.get("finetune", False)]
        if tuned:
            ax.axvspan(min(tuned) - 0.5, max(tuned) + 0.5, color="gray", alpha=0.15, label="fine-tuning, no delays")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
