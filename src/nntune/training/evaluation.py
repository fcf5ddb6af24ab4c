"""Inference-mode evaluation: a set's cost (without the penalty) and accuracy.

The forward pass keeps no caches (:meth:`nntune.Sequential.infer`) and a large set is
evaluated in chunks, so the memory an evaluation needs does not grow with the set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import Params, State, namespace, to_numpy
from ..model import Sequential

__all__ = [
    "EVALUATION_ROWS",
    "accuracy",
    "evaluate",
    "evaluate_arrays",
    "running_metrics",
]


def evaluate(
    model: Sequential, params: Params, state: State, x: Any, targets: Any
) -> tuple[float, float | None]:
    """Inference-mode loss (without the penalty) and accuracy (None for regression)."""
    cost, accuracy = evaluate_arrays(model, params, state, x, targets)
    return float(cost), None if accuracy is None else float(accuracy)


EVALUATION_ROWS = 4096
"""Rows evaluated at once: a large set is evaluated in chunks of this many rows."""


def evaluate_arrays(
    model: Sequential,
    params: Params,
    state: State,
    x: Any,
    targets: Any,
    *,
    rows: Callable[..., tuple[Any, Any]] | None = None,
) -> tuple[Any, Any]:
    """:func:`evaluate` as arrays: one cost and accuracy per member of a stack.

    The forward pass keeps no caches (:meth:`Sequential.infer`), and a set of more
    than :data:`EVALUATION_ROWS` rows is evaluated in chunks of that many, so the
    memory an evaluation needs does not grow with the set. The cost of a chunked
    set is the mean of the chunks' costs weighted by their rows (in float64), or by
    their rows' weights for weighted targets (:mod:`nntune.sample_weights`).
    ``rows(model, params, state, x, targets)`` evaluates one chunk (a compiled
    one on the JAX backend).
    """
    one = rows or evaluate_rows
    m = x.shape[-2]
    if m <= EVALUATION_ROWS:
        return one(model, params, state, x, targets)
    costs, correct = [], []
    weights = _row_weights(model, targets)
    for start in range(0, m, EVALUATION_ROWS):
        chunk = slice(start, min(m, start + EVALUATION_ROWS))
        share = (chunk.stop - chunk.start) / m
        cost, accuracy = one(
            model, params, state, x[..., chunk, :], targets[..., chunk, :]
        )
        xp = namespace(cost)
        weight = share
        if weights is not None:  # the chunk's share of the weights (per member)
            weight = weights[..., chunk].sum(-1) / weights.sum(-1)
        costs.append(xp.astype(cost, xp.float64) * weight)
        if accuracy is not None:
            correct.append(accuracy * share)
    total = sum(costs[1:], costs[0])
    return total, (sum(correct[1:], correct[0]) if correct else None)


def _row_weights(model: Sequential, targets: Any) -> Any:
    """The rows' weights (float64, on the host) of weighted targets, else None."""
    if targets.shape[-1] <= int(model.n_outputs or 0):
        return None
    found = getattr(targets, "weights", None)  # ClassTargets keep them apart
    if found is None:
        found = to_numpy(targets[..., -1])
    return np.asarray(found, dtype=np.float64)


def evaluate_rows(
    model: Sequential, params: Params, state: State, x: Any, targets: Any
) -> tuple[Any, Any]:
    logits = model.infer(params, state, x)
    cost = model.loss.value_and_grad(logits, targets)[0]
    return cost, accuracy(model, logits, targets)


def accuracy(model: Sequential, logits: Any, targets: Any) -> Any:
    """The fraction of rows whose predicted class is the target's (None: regression).

    One value per member of a stack (in float64).
    """
    if model.loss.task == "regression":
        return None
    xp = namespace(logits)
    targets = targets[..., : logits.shape[-1]]  # without a column of row weights
    predicted = model.loss.predict(logits)
    if model.loss.task == "binary":
        labels = xp.astype(targets[..., 0] > 0.5, predicted.dtype)
    else:
        labels = xp.argmax(targets, axis=-1)
    # The mean as a sum over the count: what mean computes, with less overhead.
    right = xp.sum(xp.astype(predicted == labels, xp.float64), axis=-1)
    return right / predicted.shape[-1]


def running_metrics(losses: Any, accuracies: Any, sizes: Any) -> tuple[Any, Any]:
    """An epoch's running metrics: its mini-batches' losses and accuracies averaged.

    Each mini-batch counts by its rows (``sizes``, one per step), so the mean is
    that of the examples, as the course's labs and Keras report it. ``losses`` and
    ``accuracies`` (None for regression) have one row per step and, for a stack,
    one column per member. The result is in float64.
    """
    xp = namespace(losses)
    weights = xp.asarray(sizes, dtype=xp.float64)
    weights = weights / xp.sum(weights)
    weights = xp.reshape(weights, (-1,) + (1,) * (losses.ndim - 1))

    def mean(values: Any) -> Any:
        return xp.sum(xp.astype(values, xp.float64) * weights, axis=0)

    return mean(losses), None if accuracies is None else mean(accuracies)
