"""A trial's classification settings: its class weights and its decision threshold.

``class_weight`` (``"balanced"`` or ``"CLASS:WEIGHT,..."``, the classes by name)
weighs the training loss (:mod:`nntune.sample_weights`); ``threshold`` (a number in
``(0, 1)``, or ``"auto"``) is set on a binary model once it is trained: ``"auto"``
takes the threshold of best F1 of class 1 on the dev set (the training set when
there is no dev set), never on the test set.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.classification import best_threshold

if TYPE_CHECKING:
    from ..data.datasets import Dataset
    from ..model import Sequential
    from .config import TrainConfig

__all__ = [
    "check_classification_settings",
    "class_weight_of",
    "parse_class_weight",
    "set_threshold",
    "threshold_record",
]

THRESHOLD_RULE = "best F1 of class 1"


def parse_class_weight(text: str) -> str | dict[str, float]:
    """``"balanced"``, or ``"CLASS:WEIGHT,..."`` as ``{class name: weight}``.

    Raises:
        ValueError: for a part without ``:WEIGHT`` or a weight that is not a finite
            number >= 0.

    Example:
        >>> parse_class_weight("spam:5, ham:1")
        {'spam': 5.0, 'ham': 1.0}
    """
    if text.strip() == "balanced":
        return "balanced"
    found: dict[str, float] = {}
    for part in text.split(","):
        name, colon, weight = part.strip().rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            value = math.nan
        if not colon or not name.strip() or not math.isfinite(value) or value < 0:
            raise ValueError(
                f"expected 'balanced' or CLASS:WEIGHT pairs separated by commas, "
                f"such as spam:5,ham:1 (weights >= 0); {part.strip()!r} is not one."
            )
        found[name.strip()] = value
    return found


def class_weight_of(config: TrainConfig, data: Dataset) -> Any:
    """:func:`~nntune.fit`'s ``class_weight`` for ``config``: by class index.

    Raises:
        ValueError: for class weights on a regression, or a class name the data
            do not have.
    """
    if config.class_weight is None:
        return None
    if data.task == "regression":
        raise ValueError(
            f"class_weight = {config.class_weight!r} weighs the classes of a "
            f"classifier; {data.name} is a regression. Remove it."
        )
    parsed = parse_class_weight(config.class_weight)
    if isinstance(parsed, str):
        return parsed
    names = [str(name) for name in data.class_names]
    unknown = sorted(set(parsed) - set(names))
    if unknown:
        raise ValueError(
            f"class_weight names {unknown}, which {data.name} does not have; its "
            f"classes are {names}."
        )
    return {names.index(name): weight for name, weight in parsed.items()}


def check_classification_settings(config: TrainConfig, data: Dataset) -> Any:
    """Refuse a threshold or class weights the task of ``data`` cannot use.

    Returns:
        :func:`~nntune.fit`'s ``class_weight`` (:func:`class_weight_of`).

    Raises:
        ValueError: naming the setting, the task and what to do instead.
    """
    if config.threshold is not None and data.task != "binary":
        raise ValueError(
            f"threshold = {config.threshold!r} is a binary classifier's decision "
            f"threshold; {data.name} is a {data.task} task. Remove it (multiclass "
            "models predict the most probable class)."
        )
    return class_weight_of(config, data)


def set_threshold(
    config: TrainConfig, model: Sequential, data: Dataset, train: Any, dev: Any
) -> None:
    """Give a trained binary ``model`` the threshold ``config`` asks for.

    ``"auto"`` chooses it on the ``dev`` rows (or ``train`` without a dev set)
    with :func:`~nntune.metrics.classification.best_threshold`; rows of one class
    only leave it at 0.5.
    """
    if config.threshold is None:
        return
    if config.threshold != "auto":
        model.threshold = float(config.threshold)
        return
    rows = dev if len(dev) else train
    scores = np.asarray(model.predict_proba(data.X[rows]), dtype=np.float64)[:, 1]
    try:
        model.threshold = best_threshold(data.y[rows], scores)
    except ValueError:
        model.threshold = 0.5  # one class only: nothing to choose from


def threshold_record(
    config: TrainConfig, model: Sequential, dev: Any
) -> dict[str, Any] | None:
    """How a binary model's threshold was set, for metrics.json (None: not binary).

    Example:
        >>> from nntune import mlp
        >>> from nntune import TrainConfig
        >>> model = mlp([2]).init(2)
        >>> threshold_record(TrainConfig(), model, dev=[])
        {'value': 0.5, 'setting': None, 'chosen_on': None}
    """
    if model.threshold is None:
        return None
    chosen_on = None
    if config.threshold == "auto":
        chosen_on = f"{'dev' if len(dev) else 'train'} set: {THRESHOLD_RULE}"
    return {
        "value": model.threshold,
        "setting": config.threshold,
        "chosen_on": chosen_on,
    }
