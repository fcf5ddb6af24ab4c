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

import types
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

_NUMPY: Any = None  # NumPy's array-API namespace, made on first use
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
    # NumPy arrays are by far the most common case: skip the general lookup (a
    # plain loop: this runs dozens of times per train step).
    for array in arrays:
        if type(array) not in _NUMPY_TYPES:
            return array_api_compat.array_namespace(*arrays)
    global _NUMPY
    if _NUMPY is None:
        _NUMPY = _NumpyNamespace()
    return _NUMPY


_NATIVE = frozenset(
    {
        "abs", "all", "any", "argmax", "argmin", "bool", "broadcast_to", "concat",
        "cos", "exp", "expand_dims", "float32", "float64", "int32", "int64", "isfinite",
        "isnan", "log", "log1p", "logical_and", "logical_not", "max", "maximum", "mean",
        "min", "minimum", "prod", "reshape", "sin", "sqrt", "square", "stack", "sum",
        "tanh", "uint32", "where",
    }
)  # fmt: skip
"""Names whose function in NumPy's array-API namespace is NumPy's own (array-api-compat
re-exports them unchanged for NumPy 2; ``tests/test_backend.py`` checks it)."""


class _NumpyNamespace(types.ModuleType):
    """NumPy's array-API namespace, made without importing array-api-compat's.

    array-api-compat's NumPy namespace takes about 0.2 s to import and wraps some of
    NumPy's functions (``asarray``'s ``copy``, ``astype``'s ``device``...). Most
    names it re-exports unchanged (:data:`_NATIVE`): those are taken from NumPy, and
    the compat namespace is imported only when another name is first asked for.

    A step of a small network also makes dozens of calls on arrays of a few hundred
    numbers, where the wrappers (``np.sum``'s dispatch, the compat layer's device
    checks) cost more than the arithmetic: on an ``ndarray`` the overrides below
    call the method those wrappers end in (``np.sum`` on an array is ``a.sum``, the
    same reduction), so the results are identical; anything else goes to the
    compat namespace.
    """

    def __init__(self) -> None:
        super().__init__("array_api_compat.numpy")
        self._loaded: Any = None

    def _compat(self) -> Any:
        if self._loaded is None:
            self._loaded = array_api_compat.array_namespace(np.zeros(0))
        return self._loaded

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(np, name) if name in _NATIVE else getattr(self._compat(), name)
        setattr(self, name, value)
        return value

    def sum(
        self, x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False
    ) -> Any:
        if type(x) is np.ndarray:
            return x.sum(axis=axis, dtype=dtype, keepdims=keepdims)
        return self._compat().sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(self, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        if type(x) is np.ndarray:
            return x.max(axis=axis, keepdims=keepdims)
        return self._compat().max(x, axis=axis, keepdims=keepdims)

    def mean(self, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        if type(x) is np.ndarray:
            return x.mean(axis=axis, keepdims=keepdims)
        return self._compat().mean(x, axis=axis, keepdims=keepdims)

    def argmax(self, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        if type(x) is np.ndarray:
            if not keepdims and _across_short_strided(x, axis):
                return _argmax_by_columns(x)
            return x.argmax(axis=axis, keepdims=keepdims)
        return self._compat().argmax(x, axis=axis, keepdims=keepdims)

    def asarray(
        self, obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None
    ) -> Any:
        if device is None and copy is None:
            return np.asarray(obj, dtype=dtype)
        return self._compat().asarray(obj, dtype=dtype, device=device, copy=copy)

    def astype(
        self, x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None
    ) -> Any:
        if device is None and isinstance(x, np.ndarray | np.generic):
            return x.astype(dtype, copy=copy)
        return self._compat().astype(x, dtype, copy=copy, device=device)

    def zeros_like(self, x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        if device is None:
            return np.zeros_like(x, dtype=dtype)
        return self._compat().zeros_like(x, dtype=dtype, device=device)

    def ones_like(self, x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        if device is None:
            return np.ones_like(x, dtype=dtype)
        return self._compat().ones_like(x, dtype=dtype, device=device)

    def arange(
        self,
        start: Any,
        /,
        stop: Any = None,
        step: Any = 1,
        *,
        dtype: Any = None,
        device: Any = None,
    ) -> Any:
        if device is None:
            return np.arange(start, stop=stop, step=step, dtype=dtype)
        return self._compat().arange(start, stop, step, dtype=dtype, device=device)

    def finfo(self, kind: Any, /) -> Any:
        if isinstance(kind, np.dtype | type):
            return np.finfo(kind)
        return self._compat().finfo(kind)

    def matrix_transpose(self, x: Any, /) -> Any:
        if type(x) is np.ndarray and x.ndim >= 2:
            return x.swapaxes(-1, -2)
        return self._compat().matrix_transpose(x)


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


SHORT_AXIS = 4
"""The longest last axis whose argmax is taken column by column when it is strided."""


def _across_short_strided(x: np.ndarray[Any, Any], axis: Any) -> bool:
    """Whether ``x.argmax(axis)`` is along a short, strided last axis of many rows.

    ``ndarray.argmax`` runs its loop once per row after copying the rows contiguous:
    for a population's class-major logits, ``(K, classes, m)`` seen as
    ``(K, m, classes)``, that is thousands of calls on two numbers each.
    """
    if x.ndim < 2 or x.strides[-1] == x.itemsize:  # contiguous rows: first
        return False
    columns = x.shape[-1]
    return (
        type(axis) is int  # as ndarray.argmax takes it (it refuses True or 1.0)
        and axis in (-1, x.ndim - 1)
        and 2 <= columns <= SHORT_AXIS
        and x.size >= 256 * columns
        and x.dtype.kind in "fiu"
    )


def _argmax_by_columns(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``x.argmax(axis=-1)``, one operation on all rows per column.

    The same indices: the first of equal maxima, and a NaN counts above every
    number (the first NaN). A column is taken where it is not ``<=`` the best so
    far (greater, or NaN) while the best is not NaN.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0, 3.0], [2.0, 2.0], [0.0, np.nan], [np.nan, 5.0]] * 64)
        >>> x = np.asfortranarray(x)  # the last axis strided
        >>> bool((_argmax_by_columns(x) == x.argmax(axis=-1)).all())
        True
        >>> _argmax_by_columns(x)[:4].tolist()
        [1, 0, 1, 0]
    """
    best = x[..., 0]
    found = np.zeros(best.shape, dtype=np.intp)
    columns = x.shape[-1]
    for column in range(1, columns):
        value = x[..., column]
        take = np.less_equal(value, best)
        np.logical_not(take, out=take)
        take &= best == best
        np.copyto(found, column, where=take)
        if column + 1 < columns:
            best = np.where(take, value, best)
    return found


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
