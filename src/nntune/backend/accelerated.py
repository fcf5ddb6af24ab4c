"""The JAX array backend: loading JAX, moving trees of arrays, float64 on demand.

nntune's math is one implementation over the array-API namespace of its inputs, so
the JAX backend adds no math: it moves the training state and the data to JAX's
default device (the GPU when JAX has one, else the CPU) and compiles the pure
functions of the core with ``jax.jit``. JAX is an extra (``pip install
"nntune[jax]"``), imported only here and only when the JAX backend is asked for.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "check_backend", "jax_device", "require_jax", "to_host"]

BACKENDS = ("numpy", "jax")
"""The array backends :func:`nntune.fit` trains on."""


def check_backend(backend: object) -> str:
    """Return ``backend`` when it names a backend, else raise a clear error.

    Raises:
        ValueError: for any other value.

    Example:
        >>> check_backend("jax")
        'jax'
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"backend must be one of {BACKENDS}; got {backend!r}. 'numpy' runs "
            "eagerly on the CPU; 'jax' compiles each epoch with JAX (on a GPU when "
            'JAX has one); it needs pip install "nntune[jax]".'
        )
    return str(backend)


def require_jax() -> ModuleType:
    """Import JAX, or say how to install it.

    Raises:
        ModuleNotFoundError: when JAX is not installed, naming the extra.
    """
    try:
        return importlib.import_module("jax")
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            'backend="jax" needs JAX, which is not installed. Install it with '
            'pip install "nntune[jax]" (CPU), or follow JAX\'s guide for a GPU, or '
            'use backend="numpy".'
        ) from error


def jax_device() -> str:
    """The device JAX computes on: ``"cpu"``, ``"gpu"`` or ``"tpu"``."""
    return str(require_jax().default_backend())


@contextlib.contextmanager
def precision(backend: str) -> Iterator[None]:
    """Within the block, let JAX hold 64-bit types as NumPy does (JAX backend only).

    JAX narrows float64 and int64 to 32 bits unless told otherwise. nntune keeps the
    model's dtype end to end (float32 training stays float32: its arrays say so), so
    inside the block a float64 model trains in float64, and a float64 count (the
    accuracy's mean) stays float64, as on NumPy. The setting is JAX's thread-local
    ``enable_x64`` and ends with the block.
    """
    if backend != "jax":
        yield
        return
    with require_jax().enable_x64(True):
        yield


def to_host(tree: Any) -> Any:
    """``tree`` with writable NumPy arrays for its arrays (others as they are).

    A JAX array, or a read-only NumPy view of one, is copied; a writable NumPy
    array is kept.

    Example:
        >>> import numpy as np
        >>> to_host({"a": (np.zeros(2), None)})["a"][0]
        array([0., 0.])
    """
    if isinstance(tree, dict):
        return {key: to_host(value) for key, value in tree.items()}
    if isinstance(tree, tuple):
        values = [to_host(value) for value in tree]
        return type(tree)(*values) if hasattr(tree, "_fields") else tuple(values)
    if isinstance(tree, list):
        return [to_host(value) for value in tree]
    if isinstance(tree, np.generic) or not hasattr(tree, "__array__"):
        return tree
    if isinstance(tree, np.ndarray) and tree.flags.writeable:
        return tree
    return np.array(tree)  # a copy: writable, and independent of the device buffer
