"""Per-example weights of the loss: ``sample_weight`` and ``class_weight``.

A weighted cost is the weighted mean of the examples' losses over a mini-batch,

    ``J = sum_i w_i l_i / sum_i w_i``,   ``dJ/dz_i = w_i dl_i/dz_i / sum_i w_i``,

which is PyTorch's convention for ``CrossEntropyLoss(weight=class_weights,
reduction="mean")``: with equal weights it is the plain mean, and multiplying every
weight by a constant changes nothing, so the learning rate keeps its meaning. (Keras
divides by the number of rows instead, ``sum_i w_i l_i / m``, and so does PyTorch's
``BCEWithLogitsLoss(weight=w)``: the same gradient direction, scaled by the batch's
mean weight.) A mini-batch whose weights are all 0 costs 0 and moves nothing. The
L2/L1 penalty keeps its ``lambda/(2m)`` with ``m`` the rows of the batch.

An example's weight is its ``sample_weight`` times its class's ``class_weight``, as in
scikit-learn; ``class_weight="balanced"`` is ``n_samples / (n_classes *
bincount(y))`` over the classes present, scikit-learn's rule.

The weights travel with the targets: weighted targets have one more column than
the logits, each row's weight (:func:`with_weights`), so whatever cuts targets into
mini-batches (:func:`~nntune.fit`, the JAX runner, populations) carries them along,
and the losses split the column off (:func:`split_weights`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np

from .backend import Array, namespace, to_numpy
from .data.targets import ClassTargets

__all__ = [
    "class_weights",
    "row_weights",
    "split_weights",
    "weigh_targets",
    "weighted_mean",
    "with_weights",
]


def class_weights(
    labels: Any, n_classes: int, class_weight: Any
) -> np.ndarray[Any, Any]:
    """One weight per class: ``"balanced"``, a mapping ``{class: weight}``, or None.

    Classes missing from a mapping weigh 1, as in scikit-learn.

    Raises:
        ValueError: for a class outside ``0..n_classes-1`` or a weight that is not a
            finite number >= 0.
        TypeError: for anything but None, ``"balanced"`` or a mapping.

    Example:
        >>> class_weights([0, 0, 0, 1], 2, "balanced").tolist()  # 4 / (2 * [3, 1])
        [0.6666666666666666, 2.0]
        >>> class_weights([0, 1], 3, {2: 5}).tolist()
        [1.0, 1.0, 5.0]
    """
    weights = np.ones(n_classes)
    if class_weight is None:
        return weights
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight={class_weight!r} is not known; expected 'balanced' "
                "(n_samples / (n_classes * count of the class)), a mapping "
                "{class: weight}, or None."
            )
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
        present = counts > 0
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights
    if not isinstance(class_weight, Mapping):
        raise TypeError(
            f"class_weight must be 'balanced', a mapping {{class: weight}} or None; "
            f"got a {type(class_weight).__name__}."
        )
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, int | np.integer):
            raise ValueError(
                f"class_weight has the key {key!r}; expected class indices "
                f"0..{n_classes - 1} (the estimators also take their class labels)."
            )
        if not 0 <= key < n_classes:
            raise ValueError(
                f"class_weight names class {key}, outside the classes "
                f"0..{n_classes - 1}; give weights of the model's classes only."
            )
        weights[int(key)] = _weight(value, f"class_weight[{key!r}]")
    return weights


def row_weights(
    m: int,
    labels: Any = None,
    n_classes: int = 0,
    *,
    sample_weight: Any = None,
    class_weight: Any = None,
) -> np.ndarray[Any, Any] | None:
    """Each row's weight: its ``sample_weight`` times its class's weight (float64).

    ``labels`` (class indices, one per row) are needed for ``class_weight`` only;
    None means a regression, which has no classes. Returns None when neither is given.

    Raises:
        ValueError: for weights of the wrong shape, negative or not finite, or
            summing to zero; ``class_weight`` without classes.

    Example:
        >>> row_weights(3, [0, 1, 1], 2, sample_weight=[1, 2, 3],
        ...             class_weight={0: 4}).tolist()
        [4.0, 2.0, 3.0]
    """
    if sample_weight is None and class_weight is None:
        return None
    weights = np.ones(m)
    if sample_weight is not None:
        weights = _sample_weight(sample_weight, m)
    if class_weight is not None:
        if labels is None:
            raise ValueError(
                "class_weight weighs the classes of a classifier; this model is a "
                "regression. Give each row its weight with sample_weight instead."
            )
        codes = np.asarray(labels, dtype=np.int64)
        weights = weights * class_weights(codes, n_classes, class_weight)[codes]
    if not weights.sum() > 0:
        raise ValueError(
            "the sample weights are all zero (times the class weights); expected at "
            "least one weight > 0. Nothing would be learnt: give the rows to learn "
            "from a weight > 0."
        )
    return weights


def weigh_targets(
    targets: Any,
    task: str,
    *,
    sample_weight: Any = None,
    class_weight: Any = None,
) -> Any:
    """Prepared ``targets`` with their rows' weights as a last column (or as given).

    ``task`` is the loss's (``"binary"``, ``"multiclass"`` or ``"regression"``);
    the classes of the rows are read from the targets themselves.

    Raises:
        ValueError: see :func:`row_weights`.
    """
    if sample_weight is None and class_weight is None:
        return targets
    labels, n_classes = None, 0
    if task != "regression" and class_weight is not None:
        labels, n_classes = _labels(targets, task)
    weights = row_weights(
        len(targets),
        labels,
        n_classes,
        sample_weight=sample_weight,
        class_weight=class_weight,
    )
    return with_weights(targets, weights)


def with_weights(targets: Any, weights: Any) -> Any:
    """``targets`` (an array or :class:`ClassTargets`) with a last column of weights.

    Example:
        >>> import numpy as np
        >>> with_weights(np.array([[1.0], [0.0]]), [2.0, 0.5]).tolist()
        [[1.0, 2.0], [0.0, 0.5]]
    """
    if isinstance(targets, ClassTargets):
        return targets.weighted(weights)
    found = np.asarray(targets)
    column = np.asarray(weights, dtype=found.dtype).reshape(-1, 1)
    return np.concatenate([found, column], axis=1)


def split_weights(logits: Array, targets: Array) -> tuple[Array, Array | None]:
    """``(targets, weights)``: a last column of weights split off, else None.

    Weighted targets have one column more than the logits (a static shape, so a
    compiled step decides it once); the weights keep a column axis, ``(..., m, 1)``.
    """
    if targets.shape[-1] == logits.shape[-1] + 1:
        return targets[..., :-1], targets[..., -1:]
    return targets, None


def weighted_mean(
    losses: Array, delta: Array, weights: Array | None, count: int, per_row: int = 1
) -> tuple[Array, Array]:
    """The cost and ``dJ/dz`` from each entry's loss and its derivative ``delta``.

    Without weights: ``sum(losses) / count`` and ``delta / count``. With weights (one
    per row, ``(..., m, 1)``) the rows' losses, each the sum of its ``per_row``
    entries' divided by ``per_row``, are averaged with the weights:
    ``sum_i w_i l_i / sum_i w_i``. One cost per member for a stack.
    """
    xp = namespace(losses)
    if weights is None:
        return xp.sum(losses, axis=(-2, -1)) / count, delta / count
    total = xp.sum(weights, axis=(-2, -1), keepdims=True)
    # All-zero weights: cost 0 and no step, rather than 0 / 0.
    total = total + xp.astype(total == 0, total.dtype)
    share = weights / (total * per_row)
    return xp.sum(losses * share, axis=(-2, -1)), delta * share


def _labels(targets: Any, task: str) -> tuple[np.ndarray[Any, Any], int]:
    if isinstance(targets, ClassTargets):
        return np.asarray(targets.labels, dtype=np.int64), targets.n_classes
    values = to_numpy(targets)
    if task == "binary":
        return (values[:, 0] > 0.5).astype(np.int64), 2
    return values.argmax(axis=1), values.shape[1]


def _sample_weight(sample_weight: Any, m: int) -> np.ndarray[Any, Any]:
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_weight must be numbers, one per row; got {sample_weight!r:.80}."
        ) from None
    if weights.shape != (m,):
        raise ValueError(
            f"sample_weight must have shape ({m},), one weight per row of X; got "
            f"shape {weights.shape}. Pass a 1-D array aligned with y."
        )
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"sample_weight must be finite numbers >= 0; row {first} has "
            f"{float(weights[first])} ({int(bad.sum())} such rows). Use 0 to leave "
            "a row out."
        )
    return weights


def _weight(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(float(value))
        or float(value) < 0
    ):
        raise ValueError(f"{name} = {value!r}; expected a finite number >= 0.")
    return float(value)
