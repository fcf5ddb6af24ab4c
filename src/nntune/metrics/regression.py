"""Regression metrics in the target's own units: RMSE, MAE and R².

For targets ``y`` and predictions ``p`` of ``m`` rows (one column per output)::

    RMSE = sqrt(mean((p - y)^2))
    MAE  = mean(|p - y|)
    R²   = 1 - sum((p - y)^2) / sum((y - mean(y))^2)

With several outputs each is computed per output and averaged, as scikit-learn's
``root_mean_squared_error``, ``mean_absolute_error`` and ``r2_score`` do by default
(``multioutput="uniform_average"``); a constant target's R² is 1 when it is predicted
exactly, else 0 (scikit-learn's ``force_finite``). R² is 0 for predicting the mean
of ``y`` and negative for worse; a regressor's ``score`` is R².

An RMSE measured on ``n`` examples is itself uncertain: with roughly normal errors
its standard error is about ``RMSE / sqrt(2 n)`` (:func:`rmse_margin` gives the 95%
half-width), so 88 dev examples know it to about ±15%.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["METRICS", "regression_metrics", "rmse_margin", "target_std"]

METRICS = ("rmse", "mae", "r2")
"""The keys of :func:`regression_metrics`, as metrics.json and ``--json`` hold them."""


def _columns(values: Any, name: str) -> np.ndarray[Any, Any]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(
            f"{name} must have shape (m,) or (m, k); got shape {array.shape}. Pass "
            "one row per example."
        )
    return array


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """RMSE, MAE and R² of predictions ``y_pred`` for targets ``y_true``.

    Args:
        y_true: the targets, shape ``(m,)`` or ``(m, k)``.
        y_pred: the predictions, in the same units and shape (``(m, 1)`` and
            ``(m,)`` are the same).

    Returns:
        ``{"rmse": ..., "mae": ..., "r2": ...}`` as Python floats.

    Raises:
        ValueError: for shapes that differ, no rows, or values that are not finite.

    Example:
        >>> metrics = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
        >>> metrics["rmse"], metrics["mae"], round(metrics["r2"], 12)  # 1 - 4/5
        (1.0, 0.5, 0.2)
    """
    truth, predicted = _columns(y_true, "y_true"), _columns(y_pred, "y_pred")
    if truth.shape != predicted.shape or not truth.shape[0]:
        raise ValueError(
            f"y_true has shape {np.shape(y_true)} and y_pred {np.shape(y_pred)}; "
            "expected the same shape with at least one row (one prediction per "
            "target)."
        )
    if not (np.isfinite(truth).all() and np.isfinite(predicted).all()):
        raise ValueError(
            "y_true or y_pred holds NaN or infinite values; expected finite numbers. "
            "A model whose training diverged predicts NaN: retrain it."
        )
    residual = predicted - truth
    squared = np.mean(residual**2, axis=0)
    total = np.mean((truth - truth.mean(axis=0)) ** 2, axis=0)
    exact = squared == 0
    constant = total == 0
    r2 = np.where(
        constant, np.where(exact, 1.0, 0.0), 1 - squared / np.where(constant, 1, total)
    )
    return {
        "rmse": float(np.mean(np.sqrt(squared))),
        "mae": float(np.mean(np.abs(residual))),
        "r2": float(np.mean(r2)),
    }


def rmse_margin(rmse: float, n: int) -> float:
    """The 95% half-width of an RMSE measured on ``n`` examples: ``1.96 RMSE/sqrt(2n)``.

    It assumes roughly normal errors, for which the mean squared error of ``n``
    examples has a standard error of ``MSE sqrt(2/n)`` and the RMSE, by the delta
    method, half that relative error. 0 when ``n`` is 0.

    Example:
        >>> round(rmse_margin(50.0, 88), 1)  # about ±15% of the RMSE
        7.4
    """
    return 1.96 * rmse / math.sqrt(2 * n) if n > 0 else 0.0


def target_std(y: Any) -> float:
    """The targets' standard deviation (``ddof=0``), averaged over outputs.

    It is the RMSE of always predicting the targets' mean: the scale of a regression
    diagnosis's thresholds (:mod:`nntune.regression_diagnosis`).

    Example:
        >>> target_std([100.0, 300.0])
        100.0
    """
    return float(np.mean(_columns(y, "y").std(axis=0)))
