r"""Plots of a regression's predictions: predicted against actual, and residuals.

Both take targets and predictions in the target's own units (a regression model's
:meth:`~nntune.Sequential.predict`), one column per output; with several outputs
the first is drawn. They return a PNG's bytes, as every plot of
:mod:`nntune.report.plots`.

Example:
    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 3.0, 4.0])
    >>> predicted_vs_actual(y, y + 0.1).startswith(b"\x89PNG")
    True
    >>> residuals(y, y + 0.1).startswith(b"\x89PNG")
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.regression import regression_metrics
from ._plot_style import BATCH_COLOR, DEV_COLOR, _render

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["predicted_vs_actual", "residuals"]

_MAX_POINTS = 2000
"""Points drawn at most (a seeded sample of larger sets), as the decision boundary."""


def _first_output(
    y_true: Any, y_pred: Any
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    truth = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)[:, 0]
    predicted = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)[:, 0]
    if truth.shape != predicted.shape or not truth.size:
        raise ValueError(
            f"y_true has {truth.size} rows and y_pred {predicted.size}; expected one "
            "prediction per target, at least one."
        )
    if len(truth) > _MAX_POINTS:
        keep = np.random.default_rng(0).choice(len(truth), _MAX_POINTS, replace=False)
        truth, predicted = truth[keep], predicted[keep]
    return truth, predicted


def predicted_vs_actual(
    y_true: Any, y_pred: Any, *, title: str = "Predicted vs actual"
) -> bytes:
    """Each example's prediction against its target, with the line ``y = x``.

    Points on the diagonal are predicted exactly; the RMSE and R² of the points are
    in the corner.

    Raises:
        ValueError: for shapes that differ, or matplotlib missing.
    """
    truth, predicted = _first_output(y_true, y_pred)
    metrics = regression_metrics(truth, predicted)

    def draw(figure: Figure, axes: Axes) -> None:
        low = float(min(truth.min(), predicted.min()))
        high = float(max(truth.max(), predicted.max()))
        margin = 0.05 * (high - low or 1.0)
        edges = (low - margin, high + margin)
        axes.plot(edges, edges, color=BATCH_COLOR, linestyle="--", label="y = x")
        axes.scatter(truth, predicted, s=14, alpha=0.7, color=DEV_COLOR)
        axes.set_xlim(edges)
        axes.set_ylim(edges)
        axes.set_aspect("equal", adjustable="box")
        axes.set_title(title)
        axes.set_xlabel("actual")
        axes.set_ylabel("predicted")
        facts = f"RMSE {metrics['rmse']:.4g}\nR² {metrics['r2']:.3f}"
        axes.text(0.03, 0.97, facts, transform=axes.transAxes, va="top", fontsize=9)
        axes.legend(loc="lower right")

    return _render(draw)


def residuals(y_true: Any, y_pred: Any, *, title: str = "Residuals") -> bytes:
    """Each example's residual (prediction minus target) against its prediction.

    Residuals scattered evenly around 0 mean the errors are noise; a curve or a
    funnel means the model misses part of the relation (or the noise grows with
    the target).

    Raises:
        ValueError: for shapes that differ, or matplotlib missing.
    """
    truth, predicted = _first_output(y_true, y_pred)
    residual = predicted - truth

    def draw(figure: Figure, axes: Axes) -> None:
        axes.axhline(0.0, color=BATCH_COLOR, linestyle="--")
        axes.scatter(predicted, residual, s=14, alpha=0.7, color=DEV_COLOR)
        axes.set_title(title)
        axes.set_xlabel("predicted")
        axes.set_ylabel("residual (predicted - actual)")

    return _render(draw)
