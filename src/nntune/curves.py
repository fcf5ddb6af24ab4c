"""Learning and validation curves, computed by training real models.

- A *learning curve* trains on growing shares of the training set and plots training
  and dev error against the number of training examples: a dev error that keeps
  falling says more data will help (variance); two curves that meet high say it will
  not (bias).
- A *validation curve* trains one model per value of a hyperparameter (lambda,
  keep_prob, the learning rate...) and plots both errors against it, on a log axis
  for scale parameters: where the dev error is lowest is the value to keep.

Every point is a full training run with the same settings and seed, evaluated on the
same dev set. Plots need the ``plots`` extra (matplotlib); :meth:`Curve.table` always
works.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._files import atomic_write_bytes
from .experiment.config import TrainConfig
from .experiment.populations import train_trials
from .experiment.settings import BY_NAME
from .experiment.trial import PreparedData, TrialResult, prepare_data, train_trial

LOG_SCALE = {name for name, setting in BY_NAME.items() if setting.scale == "log"}


@dataclass
class CurvePoint:
    """Errors (1 - accuracy; the cost for regression) at one x value."""

    x: float
    train_error: float
    dev_error: float
    train_cost: float
    dev_cost: float
    train_examples: int
    dev_examples: int = 0


@dataclass
class Curve:
    """A learning curve (x: training examples) or a validation curve (x: a setting)."""

    kind: str
    parameter: str
    points: list[CurvePoint] = field(default_factory=list)
    log_scale: bool = False
    data: str = ""

    def best(self) -> CurvePoint:
        """The point with the lowest dev error."""
        return min(self.points, key=lambda point: point.dev_error)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable copy."""
        return {
            "kind": self.kind,
            "parameter": self.parameter,
            "log_scale": self.log_scale,
            "data": self.data,
            "points": [dataclasses.asdict(point) for point in self.points],
            "best": dataclasses.asdict(self.best()) if self.points else None,
        }

    def table(self) -> str:
        """The curve as a plain-text table."""
        lines = [
            f"{self.parameter:>14} {'train error':>12} {'dev error':>10} "
            f"{'train cost':>11} {'dev cost':>9}"
        ]
        for p in self.points:
            lines.append(
                f"{p.x:>14g} {p.train_error:>12.4f} {p.dev_error:>10.4f} "
                f"{p.train_cost:>11.4f} {p.dev_cost:>9.4f}"
            )
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Draw both errors against x into a PNG file (needs matplotlib).

        Raises:
            ValueError: when matplotlib is missing, naming the extra to install.
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ValueError(
                'plots need matplotlib: pip install "nntune[plots]" (the table works '
                "without it)."
            ) from None
        xs = [p.x for p in self.points]
        figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
        axes.plot(
            xs, [p.train_error for p in self.points], "o-", label="training error"
        )
        axes.plot(xs, [p.dev_error for p in self.points], "s-", label="dev error")
        if self.log_scale:
            positive = [x for x in xs if x > 0]
            linthresh = min(positive) if positive else 1.0
            axes.set_xscale("symlog", linthresh=linthresh)
        label = "training examples" if self.kind == "learning" else self.parameter
        axes.set_xlabel(label)
        axes.set_ylabel("error")
        title = "Learning curve" if self.kind == "learning" else "Validation curve"
        axes.set_title(f"{title} ({self.data})")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        atomic_write_bytes(path, buffer.getvalue())
        return Path(path)


def _point(config: TrainConfig, data: PreparedData, train: Any, x: float) -> CurvePoint:
    return _point_of(train_trial(config, data, train_rows=train), x)


def _point_of(trial: TrialResult, x: float) -> CurvePoint:
    metrics = {"train": trial.train, "dev": trial.dev}
    errors = {
        name: 1 - m["accuracy"] if "accuracy" in m else m["cost"]
        for name, m in metrics.items()
    }
    return CurvePoint(
        x,
        errors["train"],
        errors["dev"],
        trial.train["cost"],
        trial.dev["cost"],
        trial.train["examples"],
        trial.dev["examples"],
    )


def learning_curve(
    config: TrainConfig, sizes: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 1.0)
) -> Curve:
    """Train on the first ``size`` share of the (shuffled) training set, for each size.

    Raises:
        ValueError: for sizes outside (0, 1] or a split without a dev set.
    """
    if not sizes or any(not 0 < s <= 1 for s in sizes):
        raise ValueError(f"sizes must be fractions in (0, 1]; got {list(sizes)}.")
    config.check_applicable()
    data = prepare_data(config)
    if not len(data.split.dev):
        raise ValueError("a learning curve needs a dev set; set dev above 0.")
    # The split's training rows are sorted; shuffle once so that every prefix is a
    # random subset (and each larger one contains the smaller ones).
    order = np.random.default_rng(config.seed_for("split")).permutation(
        data.split.train
    )
    curve = Curve("learning", "train_examples", data=config.data)
    for size in sorted(sizes):
        count = max(2, round(size * len(order)))
        curve.points.append(_point(config, data, order[:count], count))
    return curve


def validation_curve(
    config: TrainConfig, parameter: str, values: Sequence[Any]
) -> Curve:
    """Train one model per value of ``parameter`` (a :class:`TrainConfig` setting).

    Raises:
        ValueError: for an unknown or non-numeric setting, or no values.
    """
    numeric = sorted(
        name
        for name, setting in BY_NAME.items()
        if setting.kind in ("int", "float")
        and setting.group not in ("seeds", "data", "split", "run")
    )
    if parameter not in numeric:
        raise ValueError(
            f"cannot vary {parameter!r}; a validation curve varies one numeric "
            f"setting such as {', '.join(numeric)}."
        )
    if not values:
        raise ValueError("give at least one value to try.")
    config.check_applicable()
    data = prepare_data(config)
    positive = [float(v) for v in values if float(v) > 0]
    log_scale = parameter in LOG_SCALE or (
        len(positive) > 1 and max(positive) / min(positive) >= 100
    )
    curve = Curve("validation", parameter, log_scale=log_scale, data=config.data)
    variants = [dataclasses.replace(config, **{parameter: value}) for value in values]
    # Values of a population member's setting (learning rate, l2, keep_prob) train
    # together in one batched pass.
    trials = train_trials(variants, data)
    for value, trial in zip(values, trials, strict=True):
        curve.points.append(_point_of(trial, float(value)))
    if any(math.isnan(p.dev_error) for p in curve.points):
        raise ValueError("a training run of the curve produced NaN errors.")
    return curve
