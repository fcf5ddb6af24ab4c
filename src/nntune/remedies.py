"""The basic recipe's remedies, made concrete for a run's settings.

Each problem the diagnosis finds (high bias, high variance, data mismatch, dev-set
overfit, unhealthy gradients) maps to remedies in the course's order; given the run's
settings each becomes a structured change of settings (``{"l2": 0.7}``), rendered as
the flags to try (``--l2 0.7``) from the one table of settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .experiment.settings import render_flags


@dataclass(frozen=True)
class Recommendation:
    """One remedy of the basic recipe, with the concrete change to try.

    ``change`` is the change of settings (``{"l2": 0.7}``), None for a remedy that is
    not a setting (more data); ``flag`` is its rendering for the command line.
    """

    problem: str
    remedy: str
    action: str
    change: dict[str, Any] | None = None
    flag: str | None = field(init=False)

    def __post_init__(self) -> None:
        flag = render_flags(self.change) if self.change else None
        object.__setattr__(self, "flag", flag)


UNHEALTHY = ("symmetric", "exploding", "vanishing", "saturated")


def fix_initialization(
    verdict: str, suggestions: list[str], settings: dict[str, Any]
) -> Recommendation:
    """The first remedy for unhealthy gradients: an initializer for the activation."""
    activation = settings.get("activation", "relu")
    better = "xavier" if activation in ("tanh", "sigmoid") else "he"
    change = None if settings.get("init") == better else {"init": better}
    action = (
        suggestions[0]
        if suggestions
        else (
            f"the weights start {verdict}: fix the initialization before anything else"
        )
    )
    return Recommendation(
        f"gradients {verdict}", "fix the initialization", action, change
    )


def _bigger(layers: Any) -> tuple[int, ...]:
    sizes = [int(u) for u in layers] if layers else [10, 5]
    return tuple(2 * u for u in sizes)


def remedies(problem: str, s: dict[str, Any]) -> list[Recommendation]:
    """The basic recipe's remedies for ``problem``, as flags for the settings ``s``.

    Example:
        >>> [r.remedy for r in remedies("high variance", {})][:2]
        ['more data', 'L2 regularization']
    """
    epochs = int(s.get("epochs", 100))
    l2 = float(s.get("l2", 0.0))
    keep_prob = float(s.get("keep_prob", 1.0))
    if problem == "high bias":
        items = [
            Recommendation(
                problem,
                "bigger network",
                "more hidden units or layers fit the training set better",
                {"layers": _bigger(s.get("layers"))},
            ),
            Recommendation(
                problem,
                "train longer",
                "more epochs, until the training cost stops falling",
                {"epochs": 2 * epochs},
            ),
            Recommendation(
                problem,
                "better optimization",
                "Adam usually fits faster than gradient descent"
                if s.get("optimizer", "adam") in ("gd", "momentum")
                else "tune the learning rate on a log scale (nntune curves validation "
                "--param learning_rate --values 0.0003,0.001,0.003,0.01)",
                {"optimizer": "adam"}
                if s.get("optimizer", "adam") in ("gd", "momentum")
                else None,
            ),
            Recommendation(
                problem,
                "another architecture or hyperparameters",
                "search the hyperparameters (learning rate on a log scale)",
            ),
        ]
        if l2 > 0 or keep_prob < 1:
            items.insert(
                0,
                Recommendation(
                    problem,
                    "less regularization",
                    "strong L2 or dropout can keep the network from fitting the "
                    "training set",
                    {"l2": l2 / 10}
                    if l2 > 0
                    else {"keep_prob": min(1.0, keep_prob + 0.1)},
                ),
            )
        return items
    if problem == "high variance":
        next_keep_prob = 0.86 if keep_prob >= 1 else max(0.5, keep_prob - 0.1)
        return [
            Recommendation(
                problem,
                "more data",
                "more training examples (or data augmentation for images) "
                "narrow the gap between training and dev error",
            ),
            Recommendation(
                problem,
                "L2 regularization",
                "penalize large weights (the course's labs use lambda 0.7)",
                {"l2": max(0.7, 2 * l2)},
            ),
            Recommendation(
                problem,
                "dropout",
                "randomly drop hidden units while training",
                {"keep_prob": next_keep_prob},
            ),
            Recommendation(
                problem,
                "data augmentation",
                "flips, shifts, small rotations and noise for image data",
            ),
            Recommendation(
                problem,
                "early stopping",
                "stop when the dev cost stops improving and keep the best weights",
                None if s.get("early_stopping") else {"early_stopping": True},
            ),
        ]
    if problem == "data mismatch":
        return [
            Recommendation(
                problem,
                "error analysis",
                "look at dev errors to learn how dev data differ from training data",
            ),
            Recommendation(
                problem,
                "make training data more like dev data",
                "collect more data like the dev set, or synthesize it",
            ),
        ]
    return [
        Recommendation(
            problem,
            "bigger dev set",
            "the dev set was overfit by tuning on it; get a bigger dev set",
        )
    ]
