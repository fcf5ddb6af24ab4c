"""Checks of user-given numbers that also accept arrays of per-member values.

A hyperparameter is a Python number (checked for type and range, with a message that
says how to fix it) or an array: a 0-d array (a value a live training state can
change) or one value per member of a stacked population, shape ``(K,)``. Arrays are
checked by shape and dtype; their values are range-checked too when they are concrete
NumPy arrays (inside ``jax.jit`` they are tracers, whose values are unknown).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["check_member_values", "check_real", "interval_text", "is_array"]


def is_array(value: Any) -> bool:
    """Whether ``value`` is an array (NumPy, JAX, ...) rather than a Python number."""
    return hasattr(value, "shape") and hasattr(value, "dtype")


def interval_text(
    low: float | None, high: float | None, low_open: bool, high_open: bool
) -> str:
    """``[0, 1)``-style text of a range (an open end at infinity)."""
    left = "-inf" if low is None else f"{low:g}"
    right = "inf" if high is None else f"{high:g}"
    return (
        ("(" if low_open or low is None else "[")
        + f"{left}, {right}"
        + (")" if high_open or high is None else "]")
    )


def check_member_values(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    fix: str = "",
) -> Any:
    """Return the array ``value`` after checking its shape (0-d or ``(K,)``) and range.

    Raises:
        ValueError: for an array of another shape, a non-float dtype, or (NumPy
            arrays) values that are not finite or lie outside the range.

    Example:
        >>> import numpy as np
        >>> check_member_values("l2", np.array([0.0, 0.7]), low=0.0)
        array([0. , 0.7])
        >>> check_member_values("l2", np.zeros((2, 2)))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: l2 given as an array must be 0-d or have one value per member...
    """
    if len(value.shape) > 1:
        raise ValueError(
            f"{name} given as an array must be 0-d or have one value per member of "
            f"a population, shape (K,); got shape {tuple(value.shape)}."
        )
    if "float" not in str(value.dtype):
        raise ValueError(
            f"{name} given as an array must have a float dtype; got {value.dtype}. "
            "Use e.g. numpy.asarray(values, dtype=float)."
        )
    if isinstance(value, np.ndarray):
        values = value.ravel().tolist()
        for item in values:
            check_real(
                name,
                item,
                low=low,
                high=high,
                low_open=low_open,
                high_open=high_open,
                fix=fix,
            )
    return value


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    fix: str = "",
) -> Any:
    """Return ``value`` as a Python float after checking it is in the given range.

    An array is checked by :func:`check_member_values` and returned as it is. A
    Python float keeps float32 arrays float32 where a NumPy float64 would not.

    Raises:
        TypeError: if ``value`` is not a real number (booleans are refused).
        ValueError: if it is NaN, infinite or outside the range.

    Example:
        >>> check_real("beta", 0.5, low=0.0, high=1.0, high_open=True)
        0.5
    """
    if is_array(value) and not isinstance(value, np.generic):
        return check_member_values(
            name,
            value,
            low=low,
            high=high,
            low_open=low_open,
            high_open=high_open,
            fix=fix,
        )
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number; got {value!r}. {fix}".strip())
    number = float(value)
    bad = not math.isfinite(number)
    if low is not None:
        bad = bad or number < low or (low_open and number == low)
    if high is not None:
        bad = bad or number > high or (high_open and number == high)
    if bad:
        interval = interval_text(low, high, low_open, high_open)
        message = f"{name} must be a finite number in {interval}; got {value!r}."
        raise ValueError(f"{message} {fix}".strip())
    return number
