"""Bias and variance of a regression, from RMSEs in the target's own units.

The course's recipe with the root mean squared error in place of the error rate::

    avoidable bias = training RMSE - human-level RMSE
    variance       = train-dev RMSE - training RMSE     (no train-dev set: dev RMSE)
    data mismatch  = dev RMSE - train-dev RMSE          (only with a train-dev set)
    dev overfit    = test RMSE - dev RMSE               (only with a test RMSE)

Human-level error is an RMSE in the target's units (0 if unknown, which calls any
training error avoidable bias). A gap is high above its threshold, a fraction of the
training targets' standard deviation σ (0.02 σ by default, as 2 points of error rate
for a classifier): σ is the RMSE of always predicting the training mean, the error
every model must beat, so the thresholds mean the same for prices in dollars and
in cents. A gap must also exceed its sampling noise: an RMSE measured on ``n``
examples is known to about ``±1.96 RMSE / sqrt(2 n)``
(:func:`~nntune.metrics.regression.rmse_margin`). The remedies are those of
:func:`nntune.remedies.recommend`, as for a classifier.

Example:
    >>> report = diagnose_regression(train_error=20.0, dev_error=35.0, target_std=70)
    >>> report.verdict, report.variance, report.measure
    ('high bias and high variance', 15.0, 'rmse')
    >>> report.explanation[1]
    'variance = dev RMSE 35 - training RMSE 20 = 15 (high; high above 1.4)'
"""

from __future__ import annotations

import math
from typing import Any

from .bias_variance import Diagnosis, Levels, Measure, Thresholds, assess
from .metrics.regression import rmse_margin
from .remedies import Run

__all__ = ["diagnose_regression"]


def _check(name: str, value: Any, *, positive: bool = False) -> None:
    if value is None and name in ("train_dev_error", "test_error"):
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        expected = "a number > 0" if positive else "an RMSE >= 0"
        raise ValueError(
            f"{name} must be {expected}, in the target's units; got {value!r}."
            + (
                " It is the training targets' standard deviation (metrics.json's "
                "target_std); a run of an older nntune lacks it: train it again."
                if name == "target_std"
                else ""
            )
        )


def diagnose_regression(
    *,
    train_error: float,
    dev_error: float,
    target_std: float | None,
    human_error: float = 0.0,
    train_dev_error: float | None = None,
    test_error: float | None = None,
    thresholds: Thresholds | None = None,
    settings: dict[str, Any] | None = None,
    examples: dict[str, int] | None = None,
    gradient_health: tuple[str, list[str]] | None = None,
    run: Run | None = None,
) -> Diagnosis:
    """Diagnose bias, variance and data mismatch from a regression's RMSEs.

    The arguments are those of :func:`nntune.diagnosis.diagnose`, the errors being
    RMSEs in the target's units, and the target's scale.

    Args:
        train_error: RMSE on the training set, in the target's units.
        dev_error: RMSE on the dev set.
        target_std: the training targets' standard deviation (averaged over
            outputs), the unit of the thresholds; None is refused (an old run).
        human_error: human-level RMSE, the proxy for Bayes error (0 if unknown).
        train_dev_error: RMSE on a train-dev set; separates variance from mismatch.
        test_error: RMSE on the test set; a gap to the dev RMSE is dev-set overfit.
        thresholds: when a gap counts as high, as fractions of ``target_std``
            (default 0.02 each).
        settings: the run's settings, which the remedies change.
        examples: sizes of the sets (``train``, ``train_dev``, ``dev``, ``test``)
            to tell real gaps from sampling noise.
        gradient_health: ``(verdict, suggestions)`` of a gradient-health check.
        run: the run's folder and history: each remedy becomes a command for it.

    Returns:
        A :class:`~nntune.diagnosis.Diagnosis` whose errors are RMSEs
        (``measure == "rmse"``, ``target_std`` set).

    Raises:
        ValueError: for a negative or non-finite RMSE, or ``target_std <= 0``.
    """
    for name, value in (
        ("train_error", train_error),
        ("dev_error", dev_error),
        ("human_error", human_error),
        ("train_dev_error", train_dev_error),
        ("test_error", test_error),
    ):
        _check(name, value)
    _check("target_std", target_std, positive=True)
    levels = Levels(human_error, train_error, dev_error, train_dev_error, test_error)
    return assess(
        levels,
        thresholds or Thresholds(),
        Measure("RMSE", _show, rmse_margin, float(target_std or 0), "rmse"),
        examples=examples,
        settings=settings,
        run=run,
        gradient_health=gradient_health,
    )


def _show(value: float) -> str:
    return f"{value:.4g}"
