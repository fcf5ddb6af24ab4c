"""Comparison plots: several runs' curves overlaid, one colour per run.

Each returns the bytes of a 960x600 PNG in the style of :mod:`nntune.report.plots`
(also importable from there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ._plot_style import (
    HistoryLike,
    _color,
    _column,
    _epochs,
    _finish,
    _has,
    _percent_axis,
    _render,
    _spread,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def compare_cost_curves(histories: Mapping[str, HistoryLike]) -> bytes:
    """Overlay several runs' dev cost (solid) and training cost (dashed) per epoch.

    The cost axis is logarithmic when the costs span more than a factor of 100.

    Args:
        histories: Run name (``"init=he"``) -> its history, in legend order.

    Raises:
        ValueError: if ``histories`` is empty.
    """
    return _compare(histories, "cost", "Cost by run")


def compare_accuracy_curves(histories: Mapping[str, HistoryLike]) -> bytes:
    """Overlay several runs' dev accuracy (solid) and training accuracy (dashed).

    Raises:
        ValueError: if ``histories`` is empty or no run has an accuracy.
    """
    if not any(_has(h, "train_accuracy", "dev_accuracy") for h in histories.values()):
        raise ValueError("no history has an accuracy (regression runs have none).")
    return _compare(histories, "accuracy", "Accuracy by run")


def _compare(histories: Mapping[str, HistoryLike], metric: str, title: str) -> bytes:
    if not histories:
        raise ValueError("give at least one run's history to compare.")

    def draw(figure: Figure, axes: Axes) -> None:
        for index, (name, history) in enumerate(histories.items()):
            if not history.epochs:
                continue
            epochs, color = _epochs(history), _color(index)
            dev = _column(history, f"dev_{metric}")
            train = _column(history, f"train_{metric}")
            solid = dev if np.isfinite(dev).any() else train
            axes.plot(epochs, solid, color=color, linewidth=1.8, label=str(name))
            if solid is dev:
                axes.plot(epochs, train, color=color, linewidth=1.0, linestyle="--")
        _finish(axes, title, metric, None)
        axes.plot([], [], color="#57606a", label="dev (solid)")
        axes.plot([], [], color="#57606a", linestyle="--", label="training (dashed)")
        axes.legend(loc="best", ncols=2 if len(histories) > 5 else 1)
        if metric == "accuracy":
            _percent_axis(axes)
        elif _spread(*(np.asarray(line.get_ydata()) for line in axes.lines)) > 100:
            axes.set_yscale("log")  # a diverging run must not flatten the others

    return _render(draw)
