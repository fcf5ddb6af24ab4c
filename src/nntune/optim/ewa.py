"""Exponentially weighted averages (EWA) and their bias correction.

The course's exponentially weighted average of a sequence ``theta_1, theta_2, ...``::

    v_0 = 0,    v_t = beta * v_{t-1} + (1 - beta) * theta_t

averages over roughly the last ``1 / (1 - beta)`` values. Because ``v_0 = 0`` the
first averages are too small; dividing by ``1 - beta^t`` corrects that bias::

    v_hat_t = v_t / (1 - beta^t)

Momentum, RMSprop and Adam are all built on these two functions, and the formula
``decay * average + (1 - decay) * value`` is written in :func:`ewa` and nowhere else in
the package. The same functions smooth a noisy cost curve (:func:`smooth`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .._validation import check_real, is_array
from ..backend import Array, Params, namespace, per_member


def ewa(average: Any, value: Any, decay: float) -> Any:
    """Return the exponentially weighted average ``decay*average + (1-decay)*value``.

    Works on Python floats and on arrays of any array-API namespace; a Python float
    ``decay`` keeps the dtype of float32 arrays. ``decay`` may be an array with one
    value per member of a stacked population (shape ``(K,)``, averages ``(K, ...)``).

    Args:
        average: The average so far (``v_{t-1}``; ``0`` before the first value).
        value: The new value ``theta_t``.
        decay: The weight ``beta`` of the old average, in ``[0, 1)``.

    Returns:
        The new average ``v_t``.

    Example:
        >>> ewa(2.0, 10.0, 0.75)  # 0.75 * 2 + 0.25 * 10
        4.0
    """
    decay = per_member(decay, average if is_array(average) else value)
    return decay * average + (1 - decay) * value


def bias_correction(average: Any, decay: Any, count: Any) -> Any:
    """Return the bias-corrected average ``average / (1 - decay**count)``.

    Branch-free: ``count`` may be an array (a training state's counter, also inside
    ``jax.jit``), and ``decay`` and ``count`` may hold one value per member of a
    population. Only a Python ``count`` is checked.

    Args:
        average: The raw average ``v_t`` after ``count`` values, started from 0.
        decay: The ``beta`` the average was computed with.
        count: How many values went into the average (``t >= 1``).

    Returns:
        ``v_t / (1 - beta^t)``, an unbiased estimate when the values are constant.

    Raises:
        ValueError: if ``count`` is smaller than 1.

    Example:
        >>> bias_correction(ewa(0.0, 10.0, 0.9), 0.9, 1)  # 1.0 / (1 - 0.9)
        10.0
    """
    return average / correction_for(average, bias_correction_denominator(decay, count))


def bias_correction_denominator(decay: Any, count: Any) -> Any:
    """``1 - decay**count``, the denominator of :func:`bias_correction`.

    Computed once per update and shared by every array of a tree.

    Raises:
        ValueError: if a Python ``count`` is smaller than 1.
    """
    if not is_array(count) and count < 1:
        raise ValueError(
            f"count must be >= 1 (the number of values averaged); got {count!r}. "
            "Correct the average only after the first value has been added."
        )
    return 1 - decay**count


def correction_for(average: Any, denominator: Any) -> Any:
    """``denominator`` in the dtype of ``average`` and shaped per member."""
    if is_array(denominator) and is_array(average):
        denominator = namespace(average).astype(denominator, average.dtype)
    return per_member(denominator, average)


def tree_ewa(average_tree: Params, tree: Params, decay: float) -> Params:
    """Apply :func:`ewa` to every array of two parameter trees with matching keys.

    Args:
        average_tree: The averages, ``{layer: {name: array}}``.
        tree: The new values, keyed like ``average_tree``.
        decay: The weight ``beta`` of the old averages, in ``[0, 1)``.

    Returns:
        A new tree of averages; neither input is modified.

    Raises:
        ValueError: if the trees do not have the same layers and parameter names.

    Example:
        >>> import numpy as np
        >>> tree_ewa({"dense_0": {"b": np.zeros(2)}},
        ...          {"dense_0": {"b": np.array([1.0, 2.0])}}, 0.5)
        {'dense_0': {'b': array([0.5, 1. ])}}
    """
    return tree_map(
        lambda average, value: ewa(average, value, decay), average_tree, tree
    )


def tree_map(function: Any, tree: Params, *others: Params) -> Params:
    """Return ``{layer: {name: function(tree[layer][name], *others...)}}``.

    Args:
        function: Called with one array of ``tree`` and the matching arrays of
            ``others``.
        tree: A parameter tree, ``{layer: {name: array}}``.
        *others: Trees with the same layers and parameter names as ``tree``.

    Returns:
        A new tree keyed like ``tree``.

    Raises:
        ValueError: if a tree in ``others`` does not have the keys of ``tree``.

    Example:
        >>> tree_map(lambda a, b: a + b,
        ...          {"dense_0": {"b": 1.0}}, {"dense_0": {"b": 2.0}})
        {'dense_0': {'b': 3.0}}
    """
    return tree_map_multi(lambda *leaves: (function(*leaves),), 1, tree, *others)[0]


def tree_map_multi(
    function: Any, outputs: int, tree: Params, *others: Params
) -> tuple[Params, ...]:
    """:func:`tree_map` for a ``function`` that returns ``outputs`` arrays per leaf.

    One walk over the trees gives ``outputs`` trees (an optimizer's update and its
    new state in one pass, instead of one pass per tree).

    Raises:
        ValueError: if a tree in ``others`` does not have the keys of ``tree``.

    Example:
        >>> tree_map_multi(lambda a: (a + 1, a * 2), 2, {"dense_0": {"b": 3.0}})
        ({'dense_0': {'b': 4.0}}, {'dense_0': {'b': 6.0}})
    """
    results: tuple[Params, ...] = tuple({} for _ in range(outputs))
    try:
        for layer, arrays in tree.items():
            rest = [other[layer] for other in others]
            if any(len(other) != len(arrays) for other in rest):
                raise KeyError(layer)
            layers: tuple[dict[str, Any], ...] = tuple({} for _ in range(outputs))
            for name, array in arrays.items():
                found = function(array, *(other[name] for other in rest))
                for index in range(outputs):
                    layers[index][name] = found[index]
            for index in range(outputs):
                results[index][layer] = layers[index]
        if any(len(other) != len(tree) for other in others):
            raise KeyError("layers")
    except KeyError as error:
        raise ValueError(
            f"parameter trees do not match at {error}: expected the layers and "
            f"parameter names {_tree_keys(tree)}, got "
            f"{[_tree_keys(other) for other in others]}. Pass gradients and optimizer "
            "state built from the same parameters."
        ) from None
    return results


def _tree_keys(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return type(tree).__name__
    return {
        layer: sorted(arrays) if isinstance(arrays, dict) else type(arrays).__name__
        for layer, arrays in tree.items()
    }


def check_decay(name: str, value: Any) -> Any:
    """Return the decay ``value`` as a float (an array: as is) checked in ``[0, 1)``.

    Raises:
        TypeError: if ``value`` is not a real number.
        ValueError: if it is outside ``[0, 1)``.

    Example:
        >>> check_decay("beta", 1.0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: beta must be a finite number in [0, 1); got 1.0. ...
    """
    return check_real(
        name,
        value,
        low=0.0,
        high=1.0,
        high_open=True,
        fix=(
            f"{name} is the weight of the old average: it averages over about "
            f"1/(1-{name}) values, so use e.g. 0.9 (10 values) or 0.999 (1000 values)."
        ),
    )


class ExponentialWeightedAverage:
    """A running exponentially weighted average, optionally bias-corrected.

    ``update(theta_t)`` computes ``v_t = beta * v_{t-1} + (1 - beta) * theta_t`` from
    ``v_0 = 0`` and returns ``v_t / (1 - beta^t)`` when ``bias_correction`` is true,
    else ``v_t``.

    Args:
        beta: The weight of the old average, in ``[0, 1)``.
        bias_correction: Whether :meth:`update` returns the bias-corrected average.

    Attributes:
        count: How many values have been added (``t``).
        average: The raw average ``v_t`` (``0.0`` before the first value).

    Raises:
        ValueError: if ``beta`` is outside ``[0, 1)``.

    Example:
        >>> average = ExponentialWeightedAverage(0.9)
        >>> average.update(5.0), average.update(5.0)  # a constant is its own average
        (5.0, 5.0)
        >>> round(average.average, 6), average.count  # raw: 5 * (1 - 0.9**2)
        (0.95, 2)
    """

    def __init__(self, beta: float, bias_correction: bool = True) -> None:
        self.beta = check_decay("beta", beta)
        self.bias_correction = bool(bias_correction)
        self.count = 0
        self.average: float | Array = 0.0

    def update(self, value: float | Array) -> float | Array:
        """Add ``value`` and return the (bias-corrected if asked) average."""
        self.count += 1
        self.average = ewa(self.average, value, self.beta)
        if self.bias_correction:
            return bias_correction(self.average, self.beta, self.count)
        return self.average

    def __repr__(self) -> str:
        return (
            f"ExponentialWeightedAverage(beta={self.beta!r}, "
            f"bias_correction={self.bias_correction!r})"
        )


def smooth(
    values: Iterable[float], beta: float = 0.9, bias_correction: bool = True
) -> np.ndarray[Any, Any]:
    """Smooth a curve (a cost per epoch or per mini-batch) with an EWA.

    Returns the course's ``v_t = beta * v_{t-1} + (1 - beta) * theta_t`` (``v_0 = 0``)
    for every ``t``, divided by ``1 - beta^t`` when ``bias_correction`` is true, so the
    smoothed curve starts at the first value instead of near 0.

    Args:
        values: The curve ``theta_1, theta_2, ...`` (a 1-D sequence of numbers).
        beta: The weight of the old average, in ``[0, 1)``; ``0`` returns the values.
        bias_correction: Whether to divide by ``1 - beta^t``.

    Returns:
        A float64 array with one smoothed value per input value.

    Raises:
        ValueError: if ``values`` is not 1-D or ``beta`` is outside ``[0, 1)``.

    Example:
        >>> smooth([1.0, 2.0, 3.0], beta=0.5, bias_correction=False).tolist()
        [0.5, 1.25, 2.125]
        >>> smooth([1.0, 2.0, 3.0], beta=0.5).round(4).tolist()  # / 0.5, 0.75, 0.875
        [1.0, 1.6667, 2.4286]
    """
    curve = np.asarray(values, dtype=np.float64)
    if curve.ndim != 1:
        raise ValueError(
            f"values must be a 1-D sequence of numbers; got shape {curve.shape}. "
            "Smooth one curve at a time."
        )
    average = ExponentialWeightedAverage(beta, bias_correction)
    return np.array([average.update(float(value)) for value in curve], dtype=np.float64)
