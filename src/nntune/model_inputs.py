"""How a model's inputs are checked and converted: :meth:`Sequential.prepare`.

Users hand a model arrays, lists, data frames or files; the model's pure functions
take arrays of its dtype with its feature count and prepared targets. This module
is the one place in between: it says clearly what is wrong with an input (its shape,
its features, NaN or infinite values, labels outside the classes) and converts the
rest, without copying what is already right and without reading a file whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import array_api_compat
import numpy as np

from .backend import Array, namespace
from .data.mapped import MappedArray, out_of_core
from .data.targets import chunked_targets

if TYPE_CHECKING:
    from .model import Sequential

__all__ = ["FINITE_CHECK_ELEMENTS", "check_features", "prepare_inputs"]

FINITE_CHECK_ELEMENTS = 1 << 20
"""Elements of ``X`` checked at once for NaN/inf: the check's boolean mask is this
big, not as big as ``X`` (60,000 MNIST rows would need a 47 MB mask)."""


def prepare_inputs(
    model: Sequential, X: Any, y: Any = None
) -> tuple[Array, Array | None]:
    """``X`` (and ``y``) checked and converted for ``model`` (see its ``prepare``).

    Args:
        model: a built model (its feature count, dtype and loss say what fits).
        X: the inputs, ``(n_examples, in_features)``: an array, anything
            ``numpy.asarray`` reads, or data in a file (read as needed).
        y: the labels or values, one per row, or None.

    Returns:
        ``(x, targets)``: ``x`` in the model's dtype, ``targets`` prepared for its
        loss (None without ``y``).

    Raises:
        ValueError: for a wrong shape or feature count, NaN/inf in ``X``, or labels
            outside the classes.
    """
    mapped = out_of_core(X)
    if mapped is not None:
        return _prepare_mapped(model, mapped, y)
    if isinstance(X, MappedArray):
        X = X[:]  # a few rows: read them into memory
    x = _as_array(X, model.dtype)
    xp = namespace(x)
    check_features(tuple(x.shape), model.in_features)
    if not _all_finite(x, xp):
        bad = int(xp.sum(xp.astype(~xp.isfinite(x), xp.int64)))
        raise ValueError(
            f"X contains {bad} NaN or infinite value(s); expected finite numbers. "
            "Drop or impute those entries (e.g. with the training mean) first."
        )
    if y is None:
        return x, None
    targets = model.loss.prepare_targets(y, int(model.n_outputs or 0), model.dtype)
    if targets.shape[0] != x.shape[0]:
        raise ValueError(
            f"X has {x.shape[0]} examples but y has {targets.shape[0]}; they must "
            "have one label per row of X."
        )
    return x, xp.asarray(targets)


def _prepare_mapped(
    model: Sequential, X: MappedArray, y: Any
) -> tuple[Array, Array | None]:
    """Data in a file: read in the model's dtype, checked one chunk at a time."""
    x = X.astype(model.dtype)
    check_features(x.shape, model.in_features)
    x.check_finite()
    if y is None:
        return x, None
    outputs = int(model.n_outputs or 0)
    targets = chunked_targets(
        y,
        x.shape[0],
        lambda rows: model.loss.prepare_targets(rows, outputs, model.dtype),
        model.loss.task,
    )
    return x, targets


def check_features(shape: tuple[int, ...], in_features: int | None) -> None:
    """Raise a clear error unless ``shape`` is ``(n_examples, in_features)``.

    Args:
        shape: the shape of the inputs received.
        in_features: the feature count the model expects.

    Raises:
        ValueError: for inputs that are not 2-D, or have another feature count.

    Example:
        >>> check_features((5, 3), 2)
        Traceback (most recent call last):
        ...
        ValueError: X has 3 features but the model expects 2; got shape (5, 3), expected (n_examples, 2). Use the same features, in the same order, as in training.
    """  # noqa: E501
    if len(shape) != 2:
        raise ValueError(
            f"X must be 2-D with shape (n_examples, {in_features}); got shape "
            f"{shape}. Reshape one example with X.reshape(1, -1)."
        )
    if shape[1] != in_features:
        raise ValueError(
            f"X has {shape[1]} features but the model expects "
            f"{in_features}; got shape {shape}, expected "
            f"(n_examples, {in_features}). "
            "Use the same features, in the same order, as in training."
        )


def _all_finite(x: Array, xp: Any) -> bool:
    """Whether every value of ``x`` is finite (NumPy: a block of rows at a time)."""
    if type(x) is not np.ndarray or x.ndim != 2:
        return bool(xp.all(xp.isfinite(x)))
    rows = max(1, FINITE_CHECK_ELEMENTS // max(1, x.shape[1]))
    return all(
        bool(np.isfinite(x[start : start + rows]).all())
        for start in range(0, x.shape[0], rows)
    )


def _as_array(X: Any, dtype: np.dtype[Any]) -> Array:
    if array_api_compat.is_array_api_obj(X) and not isinstance(X, np.ndarray):
        xp = namespace(X)
        return xp.astype(X, getattr(xp, dtype.name))
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as error:
        raise ValueError(f"X could not be read as a numeric array: {error}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"X must be numeric; got dtype {array.dtype}. Encode text or category "
            "columns as numbers first."
        )
    return array.astype(dtype, copy=False)
