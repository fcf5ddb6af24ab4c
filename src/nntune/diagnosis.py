"""Bias and variance: from errors to a verdict and the basic recipe's remedies.

With the course's definitions (errors are fractions, e.g. 0.11 for 11%)::

    avoidable bias = training error - human-level (≈ Bayes) error
    variance       = train-dev error - training error      (no train-dev set: dev error)
    data mismatch  = dev error - train-dev error           (only with a train-dev set)
    dev overfit    = test error - dev error                (only with a test error)

Each is "high" when it exceeds its threshold (2 percentage points by default; set your
own). The verdict names what is high: ``"high bias"``, ``"high variance"``, ``"high bias
and high variance"``, ``"data mismatch"`` or ``"fine"``. The remedies follow the basic
recipe, biggest problem first: for bias a bigger network, training longer, a better
optimizer, another architecture; for variance more data, regularization (L2, dropout,
augmentation), early stopping. Given a run they become commands to paste
(:mod:`nntune.remedies`).

Example:
    >>> report = diagnose(train_error=0.01, dev_error=0.11, human_error=0.0)
    >>> report.verdict, round(report.variance, 2)
    ('high variance', 0.1)
    >>> report.recommendations[0].remedy
    'more data'
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ._files import read_json, read_toml
from .bias_variance import Diagnosis, Levels, Measure, Thresholds, assess
from .remedies import Run, describe_run

__all__ = ["Diagnosis", "Thresholds", "diagnose", "diagnose_metrics", "diagnose_run"]


def _check_error(name: str, value: float | None) -> None:
    if value is None:
        return
    if not (
        isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1
    ):
        raise ValueError(
            f"{name} must be a fraction of examples misclassified in [0, 1] (0.11 for "
            f"11%); got {value!r}."
        )


def diagnose(
    *,
    train_error: float,
    dev_error: float,
    human_error: float = 0.0,
    train_dev_error: float | None = None,
    test_error: float | None = None,
    thresholds: Thresholds | None = None,
    settings: dict[str, Any] | None = None,
    examples: dict[str, int] | None = None,
    gradient_health: tuple[str, list[str]] | None = None,
    run: Run | None = None,
) -> Diagnosis:
    """Diagnose bias, variance and data mismatch from error rates.

    A gap is high when it exceeds its threshold and, when the set sizes are known,
    also its sampling noise: an error rate ``e`` measured on ``n`` examples is only
    known to about ``1.96 sqrt(e (1 - e) / n)``, so a 3-point gap between two sets of
    60 examples says nothing.

    Args:
        train_error: error on the training set.
        dev_error: error on the dev set.
        human_error: human-level error, the proxy for Bayes error (0 if unknown).
        train_dev_error: error on a train-dev set (drawn like the training set but
            not trained on); separates variance from data mismatch.
        test_error: error on the test set; a gap to the dev error means the dev set
            was overfit by tuning.
        thresholds: when a gap counts as high (default 2 points each).
        settings: the run's settings (``nntune train`` keys: layers, epochs, l2,
            keep_prob, early_stopping, optimizer...), which the remedies change.
        examples: sizes of the sets (``train``, ``train_dev``, ``dev``, ``test``) to
            tell real gaps from sampling noise.
        gradient_health: ``(verdict, suggestions)`` of a gradient-health check; an
            unhealthy network is fixed first (its initialization), before the recipe.
        run: the run's folder and history (:func:`nntune.remedies.describe_run`):
            each remedy becomes a command for it, and what cannot help it is left out.

    Raises:
        ValueError: for errors outside [0, 1].
    """
    for name, value in (
        ("train_error", train_error),
        ("dev_error", dev_error),
        ("human_error", human_error),
        ("train_dev_error", train_dev_error),
        ("test_error", test_error),
    ):
        _check_error(name, value)
    levels = Levels(human_error, train_error, dev_error, train_dev_error, test_error)
    return assess(
        levels,
        thresholds or Thresholds(),
        Measure("error", _percent, _rate_margin),
        examples=examples,
        settings=settings,
        run=run,
        gradient_health=gradient_health,
    )


def _rate_margin(rate: float, n: int) -> float:
    """95% half-width of an error rate measured on ``n`` examples."""
    return 1.96 * math.sqrt(max(rate * (1 - rate), 0.5 / n) / n)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def diagnose_run(
    run_dir: str | Path,
    *,
    human_error: float = 0.0,
    thresholds: Thresholds | None = None,
) -> Diagnosis:
    """Diagnose a run directory written by ``nntune train``.

    Its metrics, settings and history are read; the remedies are commands for it. A
    regression run is diagnosed from its RMSEs
    (:func:`nntune.regression_diagnosis.diagnose_regression`): ``human_error`` is
    then a human-level RMSE in the target's units, and the thresholds fractions of
    the training targets' standard deviation.

    Raises:
        ValueError: if the folder has no metrics.json, or no train and dev
            accuracy (RMSE for a regression).
    """
    folder = Path(run_dir)
    try:
        metrics = read_json(folder / "metrics.json")
    except FileNotFoundError:
        raise ValueError(
            f"{folder} has no metrics.json; give the folder of a finished "
            "`nntune train` run (its --out), or pass the errors as numbers."
        ) from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{folder / 'metrics.json'} must hold a JSON object.")
    settings: dict[str, Any] = {}
    run = None
    config = folder / "config.toml"
    if config.exists():
        settings = read_toml(config)
        run = describe_run(folder, settings, metrics, _train_costs(folder))
    found = diagnose_metrics(
        metrics,
        settings=settings,
        run=run,
        human_error=human_error,
        thresholds=thresholds,
    )
    if found is None:
        key = "rmse" if metrics.get("task") == "regression" else "accuracy"
        raise ValueError(
            f"the run in {folder} has no train and dev {key} (no dev set, or a run of "
            "an older nntune): pass --train-error and --dev-error in your own error "
            "measure."
        )
    return found


def diagnose_metrics(
    metrics: dict[str, Any],
    *,
    settings: dict[str, Any],
    run: Run | None,
    human_error: float = 0.0,
    thresholds: Thresholds | None = None,
) -> Diagnosis | None:
    """Diagnose a run from its metrics (as ``metrics.json`` holds them).

    Error rates are ``1 - accuracy``; a regression's are its RMSEs. None when the
    train or dev measure is missing (no dev set).
    """
    regression = metrics.get("task") == "regression"
    key = "rmse" if regression else "accuracy"
    if any(key not in (metrics.get(name) or {}) for name in ("train", "dev")):
        return None

    def level(name: str) -> Any:
        value = (metrics.get(name) or {}).get(key)
        return value if value is None or regression else 1 - value

    health = (metrics.get("gradient_health") or {}).get("final") or {}
    given: dict[str, Any] = {
        f"{name}_error": level(name) for name in ("train", "dev", "train_dev", "test")
    }
    given.update(
        human_error=human_error,
        thresholds=thresholds,
        settings=settings,
        run=run,
        examples={
            name: int(metrics[name]["examples"])
            for name in ("train", "train_dev", "dev", "test")
            if isinstance(metrics.get(name), dict) and "examples" in metrics[name]
        },
        gradient_health=(health["verdict"], list(health.get("suggestions", [])))
        if "verdict" in health
        else None,
    )
    if regression:
        from .regression_diagnosis import diagnose_regression

        # Checked there: a run of an older nntune has no target_std.
        return diagnose_regression(target_std=metrics.get("target_std"), **given)
    return diagnose(**given)


def _train_costs(folder: Path) -> list[Any]:
    """The training cost per epoch from a run's history.json (empty if unreadable)."""
    try:
        epochs = read_json(folder / "history.json")["epochs"]
        return [row.get("train_cost") for row in epochs]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
