"""Flatten nested state (dicts, tuples, NamedTuples, arrays, numbers) for checkpoints.

Optimizer states, parameter trees and callback states are nested containers. A
checkpoint stores their arrays in a safetensors file and their numbers in JSON, each
under a path such as ``"1/mu/dense_0/W"``. Restoring walks a freshly initialised
*template* of the same structure and replaces its leaves, so no type information is ever
read from a file and nothing in it can run code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import to_numpy


def flatten(
    tree: Any, prefix: str = ""
) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, Any]]:
    """Split ``tree`` into ``(arrays, scalars)`` keyed by ``/``-joined paths.

    Example:
        >>> import numpy as np
        >>> arrays, scalars = flatten({"a": (np.zeros(2), 3), "b": 0.5})
        >>> sorted(arrays), scalars
        (['a/0'], {'a/1': 3, 'b': 0.5})
    """
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    scalars: dict[str, Any] = {}
    _walk(tree, prefix, arrays, scalars)
    return arrays, scalars


def _children(tree: Any) -> list[tuple[str, Any]] | None:
    if isinstance(tree, dict):
        return [(str(key), value) for key, value in tree.items()]
    if isinstance(tree, tuple | list):
        return [(str(index), value) for index, value in enumerate(tree)]
    return None


def _walk(
    tree: Any, path: str, arrays: dict[str, Any], scalars: dict[str, Any]
) -> None:
    children = _children(tree)
    if children is not None:
        for key, value in children:
            _walk(value, f"{path}/{key}" if path else key, arrays, scalars)
    elif isinstance(tree, bool | int | float | str) or tree is None:
        scalars[path] = tree
    elif isinstance(tree, np.generic):
        scalars[path] = tree.item()
    else:
        arrays[path] = np.ascontiguousarray(to_numpy(tree))


def unflatten_like(
    template: Any, arrays: dict[str, Any], scalars: dict[str, Any], prefix: str = ""
) -> Any:
    """Rebuild ``template``'s structure with leaves taken from ``arrays``/``scalars``.

    Raises:
        ValueError: if a leaf is missing or an array's shape or dtype differs from the
            template's.

    Example:
        >>> import numpy as np
        >>> template = {"a": (np.zeros(2), 0), "b": 0.0}
        >>> unflatten_like(template, {"a/0": np.ones(2)}, {"a/1": 7, "b": 0.5})
        {'a': (array([1., 1.]), 7), 'b': 0.5}
    """
    return _rebuild(template, prefix, arrays, scalars)


def _rebuild(
    template: Any, path: str, arrays: dict[str, Any], scalars: dict[str, Any]
) -> Any:
    children = _children(template)
    if children is not None:
        values = [
            _rebuild(value, f"{path}/{key}" if path else key, arrays, scalars)
            for key, value in children
        ]
        if isinstance(template, dict):
            return dict(zip(template.keys(), values, strict=True))
        if hasattr(template, "_fields"):  # a NamedTuple
            return type(template)(*values)
        return type(template)(values)
    if isinstance(template, bool | int | float | str | np.generic) or template is None:
        if path not in scalars:
            raise ValueError(f"the saved state has no value for {path!r}.")
        return scalars[path]
    if path not in arrays:
        raise ValueError(f"the saved state has no array for {path!r}.")
    array = arrays[path]
    expected = to_numpy(template)
    if array.shape != expected.shape or array.dtype != expected.dtype:
        raise ValueError(
            f"the saved array {path!r} has shape {array.shape} and dtype "
            f"{array.dtype}; "
            f"expected {expected.shape} and {expected.dtype}."
        )
    return array
