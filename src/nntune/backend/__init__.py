"""Array namespace, random generators and the dtype policy.

Core math is written against the array namespace of its inputs (``array-api-compat``),
so the same code runs on NumPy arrays today and on other array-API libraries (JAX, CuPy,
torch) without a second implementation. Randomness is always explicit: a seed or a
:class:`numpy.random.Generator` is passed in, never taken from a global state.

The dtype policy: training defaults to ``float32``; ``float64`` is available end to end
and is what gradient checking and the reference tests use. Whatever dtype a model is
initialised with is kept by every layer, loss and optimizer.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import array_api_compat
import numpy as np

Array: TypeAlias = Any
"""Any array of an array-API namespace (a NumPy ``ndarray`` by default)."""

Params: TypeAlias = dict[str, dict[str, Array]]
"""Trainable parameters: ``{layer_name: {parameter_name: array}}``."""

State: TypeAlias = dict[str, dict[str, Array]]
"""Non-trainable state (batch-norm running statistics), keyed like :data:`Params`."""

Seed: TypeAlias = int | np.random.Generator | None

Draws: TypeAlias = np.random.Generator | np.random.RandomState
"""What a layer's ``build`` draws its weights from: a Generator, or a legacy RandomState
drawing as the course's labs do (:mod:`nntune.initializers`)."""

_NUMPY: Any = None  # NumPy's array-API namespace, made on first use (~0.25 s)
_NUMPY_TYPES = frozenset({np.ndarray, np.float32, np.float64, np.int32, np.int64})

DEFAULT_DTYPE = "float32"
SUPPORTED_DTYPES = ("float32", "float64")


def namespace(*arrays: Array) -> Any:
    """Return the array-API namespace shared by ``arrays``.

    Example:
        >>> import numpy as np
        >>> namespace(np.zeros(2)).__name__
        'array_api_compat.numpy'
    """
    # NumPy arrays are by far the most common case: skip the general lookup.
    if all(type(array) in _NUMPY_TYPES for array in arrays):
        global _NUMPY
        if _NUMPY is None:
            _NUMPY = array_api_compat.array_namespace(np.zeros(0))
        return _NUMPY
    return array_api_compat.array_namespace(*arrays)


def resolve_dtype(dtype: Any = None) -> np.dtype[Any]:
    """Return the NumPy float dtype for ``dtype`` (``None`` means the float32 default).

    Raises:
        ValueError: if ``dtype`` is not ``float32`` or ``float64``.

    Example:
        >>> resolve_dtype(None), resolve_dtype("float64")
        (dtype('float32'), dtype('float64'))
    """
    if dtype is None:
        dtype = DEFAULT_DTYPE
    try:
        resolved: np.dtype[Any] = np.dtype(dtype)
    except TypeError as error:
        raise ValueError(
            f"dtype {dtype!r} is not a dtype; expected one of {SUPPORTED_DTYPES}."
        ) from error
    if resolved.name not in SUPPORTED_DTYPES:
        raise ValueError(
            f"dtype {resolved.name!r} is not supported; expected one of "
            f"{SUPPORTED_DTYPES} (float32 to train, float64 to check gradients)."
        )
    return resolved


def make_rng(seed: Seed) -> np.random.Generator:
    """Return a generator for ``seed``: an int seeds a new PCG64, a Generator is reused.

    Raises:
        TypeError: if ``seed`` is neither an int, a Generator nor None.

    Example:
        >>> float(make_rng(0).random()) == float(make_rng(0).random())
        True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (
        isinstance(seed, int | np.integer) and not isinstance(seed, bool)
    ):
        return np.random.default_rng(seed)
    raise TypeError(
        f"seed must be an int, a numpy.random.Generator or None; got "
        f"{type(seed).__name__}. Pass an integer such as seed=0."
    )


def to_numpy(array: Array) -> np.ndarray[Any, Any]:
    """Return ``array`` as a NumPy array (no copy when it already is one)."""
    return np.asarray(array)


def per_member(value: Any, like: Array) -> Any:
    """Shape a hyperparameter so it broadcasts against ``like`` member by member.

    A number or a 0-d array is returned as it is. An array of shape ``(K,)`` (one value
    per member of a population of ``K`` stacked models) gets trailing axes of size 1
    so that it multiplies ``like`` of shape ``(K, ...)`` member by member.

    Example:
        >>> import numpy as np
        >>> per_member(np.array([1.0, 2.0]), np.ones((2, 3, 4))).shape
        (2, 1, 1)
        >>> per_member(0.5, np.ones((3, 4)))
        0.5
    """
    ndim = getattr(value, "ndim", 0)
    if ndim == 0:
        return value
    trailing = like.ndim - ndim
    if trailing <= 0:
        return value
    xp = namespace(value)
    return xp.reshape(value, tuple(value.shape) + (1,) * trailing)
