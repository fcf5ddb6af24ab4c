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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._files import read_json, read_toml
from .remedies import (
    UNHEALTHY,
    Recommendation,
    Run,
    as_dicts,
    describe_run,
    format_remedies,
    recommend,
)


@dataclass(frozen=True)
class Thresholds:
    """How large (as a fraction of examples) each gap must be to count as "high"."""

    bias: float = 0.02
    variance: float = 0.02
    data_mismatch: float = 0.02
    dev_overfit: float = 0.02

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and 0 <= value < 1):
                raise ValueError(
                    f"the {name} threshold must be a fraction in [0, 1) such as 0.02 "
                    f"(2 percentage points); got {value!r}."
                )


@dataclass(frozen=True)
class Diagnosis:
    """Errors, the gaps between them, the verdict and what to do next."""

    human_error: float
    train_error: float
    dev_error: float
    train_dev_error: float | None
    test_error: float | None
    avoidable_bias: float
    variance: float
    data_mismatch: float | None
    dev_overfit: float | None
    verdict: str
    problems: tuple[str, ...]
    recommendations: tuple[Recommendation, ...]
    thresholds: Thresholds
    explanation: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary."""
        document = asdict(self)
        document["problems"] = list(self.problems)
        document["explanation"] = list(self.explanation)
        document["recommendations"] = as_dicts(self.recommendations)
        return document

    def __str__(self) -> str:
        lines = [f"Verdict: {self.verdict}"]
        lines.extend(f"  {line}" for line in self.explanation)
        lines.extend(format_remedies(as_dicts(self.recommendations)))
        return "\n".join(lines)


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
    limits = thresholds or Thresholds()
    sizes = examples or {}
    rates = {
        "train": train_error,
        "train_dev": train_dev_error,
        "dev": dev_error,
        "test": test_error,
    }

    def noise(*names: str) -> float:
        # 95% half-width of a difference of independent error rates (0 if unknown).
        variance = 0.0
        for name in names:
            n, rate = sizes.get(name), rates.get(name)
            if n and rate is not None:
                variance += max(rate * (1 - rate), 0.5 / n) / n
        return 1.96 * math.sqrt(variance)

    # Rounded so that 0.10 - 0.08 is 0.02, not 0.020000000000000004.
    bias = round(train_error - human_error, 12)
    reference = train_dev_error if train_dev_error is not None else dev_error
    variance = round(reference - train_error, 12)
    mismatch = (
        round(dev_error - train_dev_error, 12) if train_dev_error is not None else None
    )
    overfit = round(test_error - dev_error, 12) if test_error is not None else None
    margins = {
        "bias": noise("train"),
        "variance": noise(
            "train", "train_dev" if train_dev_error is not None else "dev"
        ),
        "data mismatch": noise("train_dev", "dev"),
        "dev overfit": noise("dev", "test"),
    }
    high_bias = bias > max(limits.bias, margins["bias"])
    high_variance = variance > max(limits.variance, margins["variance"])
    high_mismatch = mismatch is not None and mismatch > max(
        limits.data_mismatch, margins["data mismatch"]
    )
    high_overfit = overfit is not None and overfit > max(
        limits.dev_overfit, margins["dev overfit"]
    )
    if high_bias and high_variance:
        verdict = "high bias and high variance"
    elif high_bias:
        verdict = "high bias"
    elif high_variance:
        verdict = "high variance"
    elif high_mismatch:
        verdict = "data mismatch"
    else:
        verdict = "fine"
    problems = [
        name
        for name, high in (
            ("high bias", high_bias),
            ("high variance", high_variance),
            ("data mismatch", high_mismatch),
            ("overfit to the dev set", high_overfit),
        )
        if high
    ]
    gaps = {
        "high bias": bias,
        "high variance": variance,
        "data mismatch": mismatch or 0.0,
        "overfit to the dev set": overfit or 0.0,
    }
    problems.sort(key=lambda name: -gaps[name])  # the biggest problem first
    recommendations = recommend(problems, settings, run, gradient_health)
    if gradient_health is not None and gradient_health[0] in UNHEALTHY:
        problems.insert(0, f"gradients {gradient_health[0]}")
    explanation = _explain(
        margins,
        human_error,
        train_error,
        dev_error,
        train_dev_error,
        test_error,
        bias,
        variance,
        mismatch,
        overfit,
        limits,
    )
    return Diagnosis(
        human_error,
        train_error,
        dev_error,
        train_dev_error,
        test_error,
        bias,
        variance,
        mismatch,
        overfit,
        verdict,
        tuple(problems),
        recommendations,
        limits,
        tuple(explanation),
    )


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _explain(
    margins: dict[str, float],
    human: float,
    train: float,
    dev: float,
    train_dev: float | None,
    test: float | None,
    bias: float,
    variance: float,
    mismatch: float | None,
    overfit: float | None,
    limits: Thresholds,
) -> list[str]:
    def judge(name: str, gap: float, limit: float) -> str:
        margin = margins[name]
        if gap > max(limit, margin):
            word = "high"
        elif gap > limit:
            word = f"within the ±{_percent(margin)} sampling noise: more data to tell"
        else:
            word = "low"
        return f"{word}; high above {_percent(max(limit, margin))}"

    reference = (
        f"dev error {_percent(dev)}"
        if train_dev is None
        else f"train-dev error {_percent(train_dev)}"
    )
    lines = [
        f"avoidable bias = training error {_percent(train)} - human-level error "
        f"{_percent(human)} = {_percent(bias)} ({judge('bias', bias, limits.bias)})",
        f"variance = {reference} - training error {_percent(train)} = "
        f"{_percent(variance)} ({judge('variance', variance, limits.variance)})",
    ]
    if train_dev is not None and mismatch is not None:
        lines.append(
            f"data mismatch = dev error {_percent(dev)} - train-dev error "
            f"{_percent(train_dev)} = {_percent(mismatch)} "
            f"({judge('data mismatch', mismatch, limits.data_mismatch)})"
        )
    if test is not None and overfit is not None:
        lines.append(
            f"dev overfit = test error {_percent(test)} - dev error {_percent(dev)} = "
            f"{_percent(overfit)} ({judge('dev overfit', overfit, limits.dev_overfit)})"
        )
    return lines


def diagnose_run(
    run_dir: str | Path,
    *,
    human_error: float = 0.0,
    thresholds: Thresholds | None = None,
) -> Diagnosis:
    """Diagnose a run directory written by ``nntune train``.

    Its metrics, settings and history are read; the remedies are commands for it.

    Raises:
        ValueError: if the folder has no metrics.json, or the run is a regression
            (which has costs, not error rates).
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
    if any("accuracy" not in metrics.get(name, {}) for name in ("train", "dev")):
        raise ValueError(
            f"the run in {folder} has no train and dev accuracy (a regression, or no "
            "dev set): pass --train-error and --dev-error in your own error measure."
        )
    settings: dict[str, Any] = {}
    run = None
    config = folder / "config.toml"
    if config.exists():
        settings = read_toml(config)
        run = describe_run(folder, settings, metrics, _train_costs(folder))
    test = metrics.get("test", {}).get("accuracy")
    train_dev = metrics.get("train_dev", {}).get("accuracy")
    examples = {
        name: int(metrics[name]["examples"])
        for name in ("train", "train_dev", "dev", "test")
        if isinstance(metrics.get(name), dict) and "examples" in metrics[name]
    }
    health = metrics.get("gradient_health", {}).get("final") or {}
    return diagnose(
        examples=examples,
        gradient_health=(health["verdict"], list(health.get("suggestions", [])))
        if "verdict" in health
        else None,
        train_error=1 - metrics["train"]["accuracy"],
        dev_error=1 - metrics["dev"]["accuracy"],
        train_dev_error=None if train_dev is None else 1 - train_dev,
        test_error=None if test is None else 1 - test,
        human_error=human_error,
        thresholds=thresholds,
        settings=settings,
        run=run,
    )


def _train_costs(folder: Path) -> list[Any]:
    """The training cost per epoch from a run's history.json (empty if unreadable)."""
    try:
        epochs = read_json(folder / "history.json")["epochs"]
        return [row.get("train_cost") for row in epochs]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
