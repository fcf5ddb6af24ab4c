"""Pruning: stop a trial early when its dev error per epoch is clearly behind.

Two rules, as Optuna defines them, over the dev error after every epoch (1 - dev
accuracy for classifiers, the dev cost for regression; lower is better):

- **median** (Optuna's ``MedianPruner``): from ``warmup`` epochs on, stop a trial
  whose best dev error so far is worse than the median of the completed trials'
  dev errors at the same epoch (once ``startup`` trials have completed);
- **halving** (Optuna's ``SuccessiveHalvingPruner``, asynchronous): at rungs of
  ``min_epochs * factor**k`` epochs a trial goes on only when its dev error is among
  the best ``1/factor`` of the errors recorded at that rung (the first trials to
  reach a rung go on while they are the best there).

A search hands each trial a :class:`PruneRule` built from the trials finished so far
(:func:`rule_for`), and the trial stops itself through a :class:`Pruner` callback:
no round trip to the study while it trains, so the rule works the same in a local
process and on a Ray worker.

Example:
    >>> finished = [[0.5, 0.4, 0.3], [0.5, 0.3, 0.2], [0.6, 0.5, 0.45]]
    >>> rule = rule_for("median", finished, [False, False, False], startup=3)
    >>> rule.should_prune([0.7, 0.6])  # worse than the median (0.4) at epoch 2
    True
    >>> rule.should_prune([0.5, 0.35])
    False
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..training import Callback

if TYPE_CHECKING:
    from ..training import Trainer

__all__ = ["PRUNERS", "PruneRule", "Pruner", "dev_error", "rule_for"]

PRUNERS = ("none", "median", "halving")


@dataclass(frozen=True)
class PruneRule:
    """A pruning rule with the thresholds the finished trials set.

    Attributes:
        kind: ``"none"``, ``"median"`` or ``"halving"``.
        thresholds: per epoch (index 0 is epoch 1), the dev error a trial must not
            exceed there; NaN where the rule does not look.
        warmup: epochs before the median rule looks.
    """

    kind: str = "none"
    thresholds: tuple[float, ...] = ()
    warmup: int = 0

    def should_prune(self, errors: Sequence[float]) -> bool:
        """Whether a trial with these dev errors (one per epoch so far) stops now."""
        epoch = len(errors)
        if self.kind == "none" or epoch == 0 or epoch > len(self.thresholds):
            return False
        threshold = self.thresholds[epoch - 1]
        if math.isnan(threshold):
            return False
        if self.kind == "median":
            if epoch <= self.warmup:
                return False
            return _best(errors) > threshold
        return _finite(errors[-1]) > threshold  # halving: the value at the rung

    def to_dict(self) -> dict[str, Any]:
        """A JSON form (to ship to a worker)."""
        return {
            "kind": self.kind,
            "thresholds": [None if math.isnan(t) else t for t in self.thresholds],
            "warmup": self.warmup,
        }


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def _best(errors: Sequence[float]) -> float:
    finite = [e for e in errors if math.isfinite(e)]
    return min(finite) if finite else math.inf


def rule_for(
    kind: str,
    curves: Sequence[Sequence[float]],
    pruned: Sequence[bool],
    *,
    epochs: int | None = None,
    startup: int = 5,
    warmup: int = 0,
    min_epochs: int = 1,
    factor: int = 3,
) -> PruneRule:
    """The rule a new trial follows, from the finished trials' dev-error curves.

    Args:
        kind: ``"none"``, ``"median"`` or ``"halving"``.
        curves: each finished trial's dev error per epoch.
        pruned: whether each of those trials was pruned (the median rule compares
            with completed trials only, as Optuna's).
        epochs: the epochs of a trial (default: the longest curve).
        startup: completed trials before the median rule prunes anything.
        warmup: epochs before the median rule looks at a trial.
        min_epochs: the first rung of successive halving.
        factor: successive halving's reduction factor (keep the best 1/factor).

    Raises:
        ValueError: for an unknown kind or bad numbers.
    """
    if kind not in PRUNERS:
        raise ValueError(f"unknown pruner {kind!r}; expected one of {PRUNERS}.")
    if min_epochs < 1 or factor < 2 or startup < 0 or warmup < 0:
        raise ValueError(
            "pruning needs min_epochs >= 1, factor >= 2, startup >= 0, warmup >= 0; "
            f"got {min_epochs}, {factor}, {startup}, {warmup}."
        )
    length = epochs or max((len(c) for c in curves), default=0)
    if kind == "none" or length == 0:
        return PruneRule()
    if kind == "median":
        completed = [c for c, p in zip(curves, pruned, strict=True) if not p]
        thresholds = [math.nan] * length
        if len(completed) >= max(1, startup):
            for epoch in range(length):
                values = [c[epoch] for c in completed if len(c) > epoch]
                values = [v for v in values if math.isfinite(v)]
                if values:
                    thresholds[epoch] = float(np.percentile(values, 50))
        return PruneRule("median", tuple(thresholds), warmup)
    thresholds = [math.nan] * length
    rung = min_epochs
    while rung < length:  # no rung at the last epoch: a trial there is done
        values = sorted(_finite(c[rung - 1]) for c in curves if len(c) >= rung)
        if values:
            keep = max(1, (len(values) + 1) // factor)  # this trial competes too
            thresholds[rung - 1] = values[keep - 1]
        rung *= factor
    return PruneRule("halving", tuple(thresholds))


def dev_error(logs: dict[str, Any]) -> float | None:
    """The dev error of one epoch's logs: 1 - accuracy, or the cost (regression)."""
    accuracy = logs.get("dev_accuracy")
    if accuracy is not None:
        return 1.0 - float(accuracy)
    cost = logs.get("dev_cost")
    return None if cost is None else float(cost)


@dataclass
class Pruner(Callback):
    """Stop the trial (reason ``"pruned"``) when its rule says so after an epoch."""

    rule: PruneRule
    errors: list[float] = field(default_factory=list)
    pruned_at: int | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        error = dev_error(logs)
        if error is None:
            return
        self.errors.append(error if math.isfinite(error) else math.inf)
        done = trainer.stop_training or trainer.epoch >= trainer.epochs
        if not done and self.rule.should_prune(self.errors):
            self.pruned_at = trainer.epoch
            trainer.stop("pruned")
