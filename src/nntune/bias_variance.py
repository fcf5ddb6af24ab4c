"""The gaps between errors, for any error measure: bias, variance, the verdict.

With errors ``e`` of each set (error rates, or a regression's RMSEs)::

    avoidable bias = e(train) - e(human)
    variance       = e(train-dev) - e(train)      (no train-dev set: e(dev))
    data mismatch  = e(dev) - e(train-dev)        (only with a train-dev set)
    dev overfit    = e(test) - e(dev)             (only with a test error)

:func:`assess` judges each gap against its threshold and the sampling noise of the
sets it compares, names the verdict and asks for the remedies of what is high.
:func:`nntune.diagnosis.diagnose` calls it with error rates,
:func:`nntune.regression_diagnosis.diagnose_regression` with RMSEs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from .remedies import (
    UNHEALTHY,
    Recommendation,
    Run,
    as_dicts,
    format_remedies,
    recommend,
)

__all__ = ["Diagnosis", "Levels", "Measure", "Thresholds", "assess"]


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
    measure: str = "error"
    """``"error"``: the errors are fractions of examples misclassified; ``"rmse"``: a
    regression's RMSEs in the target's units (:mod:`nntune.regression_diagnosis`)."""
    target_std: float | None = None
    """A regression's training targets' standard deviation, the thresholds' unit."""

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


class Levels(NamedTuple):
    """The error of each set (None: no such set) and the human-level error."""

    human: float
    train: float
    dev: float
    train_dev: float | None
    test: float | None


class Measure(NamedTuple):
    """An error measure: its name in the explanation, how it is shown and judged."""

    noun: str
    """``"error"`` or ``"RMSE"``, as in "training error 11.0%"."""
    show: Callable[[float], str]
    half_width: Callable[[float, int], float]
    """The 95% half-width of a value measured on ``n`` examples: its noise."""
    scale: float = 1.0
    """The unit of the thresholds: 1 for error rates, a regression's target std."""
    name: str = "error"
    """:attr:`Diagnosis.measure`."""


def assess(
    levels: Levels,
    limits: Thresholds,
    measure: Measure,
    *,
    examples: Mapping[str, int] | None = None,
    settings: Mapping[str, Any] | None = None,
    run: Run | None = None,
    gradient_health: tuple[str, list[str]] | None = None,
) -> Diagnosis:
    """The gaps between ``levels``, the verdict and the remedies of a diagnosis.

    A gap is high when it exceeds its threshold (times ``measure.scale``) and the
    sampling noise of the sets it compares (their half-widths added in quadrature,
    for the sets whose size ``examples`` gives). The remedies are
    :func:`nntune.remedies.recommend`'s for the problems found, biggest first.
    Shared by error rates (:func:`nntune.diagnosis.diagnose`) and a regression's
    RMSEs (:func:`nntune.regression_diagnosis.diagnose_regression`).
    """
    sizes = examples or {}
    measured = dict(zip(("train", "dev", "train_dev", "test"), levels[1:], strict=True))

    def noise(*names: str) -> float:
        # 95% half-width of a difference of independent measures (0 if unknown).
        squares = 0.0
        for name in names:
            n, value = sizes.get(name), measured.get(name)
            if n and value is not None:
                squares += measure.half_width(value, n) ** 2
        return math.sqrt(squares)

    human, train, dev, train_dev, test = levels
    # Rounded so that 0.10 - 0.08 is 0.02, not 0.020000000000000004.
    bias = round(train - human, 12)
    reference = train_dev if train_dev is not None else dev
    variance = round(reference - train, 12)
    mismatch = round(dev - train_dev, 12) if train_dev is not None else None
    overfit = round(test - dev, 12) if test is not None else None
    margins = {
        "bias": noise("train"),
        "variance": noise("train", "train_dev" if train_dev is not None else "dev"),
        "data mismatch": noise("train_dev", "dev"),
        "dev overfit": noise("dev", "test"),
    }
    scale = measure.scale
    high_bias = bias > max(limits.bias * scale, margins["bias"])
    high_variance = variance > max(limits.variance * scale, margins["variance"])
    high_mismatch = mismatch is not None and mismatch > max(
        limits.data_mismatch * scale, margins["data mismatch"]
    )
    high_overfit = overfit is not None and overfit > max(
        limits.dev_overfit * scale, margins["dev overfit"]
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
    gap = Levels(0.0, bias, variance, mismatch, overfit)
    explanation = _explain(margins, levels, gap, limits, measure)
    return Diagnosis(
        human,
        train,
        dev,
        train_dev,
        test,
        bias,
        variance,
        mismatch,
        overfit,
        verdict,
        tuple(problems),
        recommendations,
        limits,
        tuple(explanation),
        measure.name,
        None if measure.name == "error" else scale,
    )


def _explain(
    margins: dict[str, float],
    levels: Levels,
    gaps: Levels,
    limits: Thresholds,
    measure: Measure,
) -> list[str]:
    """One line per gap: the subtraction, and whether it is high."""
    noun, show, scale = measure.noun, measure.show, measure.scale
    _, bias, variance, mismatch, overfit = gaps
    human, train, dev, train_dev, test = levels

    def judge(name: str, gap: float, limit: float) -> str:
        margin, limit = margins[name], limit * scale
        if gap > max(limit, margin):
            word = "high"
        elif gap > limit:
            word = f"within the ±{show(margin)} sampling noise: more data to tell"
        else:
            word = "low"
        return f"{word}; high above {show(max(limit, margin))}"

    reference = (
        f"dev {noun} {show(dev)}"
        if train_dev is None
        else f"train-dev {noun} {show(train_dev)}"
    )
    lines = [
        f"avoidable bias = training {noun} {show(train)} - human-level {noun} "
        f"{show(human)} = {show(bias)} ({judge('bias', bias, limits.bias)})",
        f"variance = {reference} - training {noun} {show(train)} = "
        f"{show(variance)} ({judge('variance', variance, limits.variance)})",
    ]
    if train_dev is not None and mismatch is not None:
        lines.append(
            f"data mismatch = dev {noun} {show(dev)} - train-dev {noun} "
            f"{show(train_dev)} = {show(mismatch)} "
            f"({judge('data mismatch', mismatch, limits.data_mismatch)})"
        )
    if test is not None and overfit is not None:
        lines.append(
            f"dev overfit = test {noun} {show(test)} - dev {noun} {show(dev)} = "
            f"{show(overfit)} ({judge('dev overfit', overfit, limits.dev_overfit)})"
        )
    return lines
