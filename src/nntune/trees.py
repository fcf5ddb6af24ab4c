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
    elif isinstance(tree, np.generic):  # np.float64 is also a Python float
        arrays[path] = np.asarray(tree)
    elif isinstance(tree, bool | int | float | str) or tree is None:
        scalars[path] = tree
    else:  # arrays, NumPy scalars (a 0-d array after arithmetic) included
        arrays[path] = np.asarray(to_numpy(tree), order="C")


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
    plain = isinstance(template, bool | int | float | str) or template is None
    if plain and not isinstance(template, np.generic):
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


def stack(trees: list[Any]) -> Any:
    """Stack trees of the same structure leaf by leaf along a new leading axis.

    Example:
        >>> import numpy as np
        >>> stacked = stack([{"a": np.zeros(2)}, {"a": np.ones(2)}])
        >>> stacked["a"].shape
        (2, 2)
    """
    if not trees:
        raise ValueError("stack needs at least one tree.")
    first = trees[0]
    children = _children(first)
    if children is None:
        return np.stack([np.asarray(tree) for tree in trees])
    keys = [key for key, _ in children]
    rows = []
    for tree in trees:
        own = _children(tree)
        if own is None or [key for key, _ in own] != keys:
            raise ValueError(
                "the trees to stack differ in structure: every member of a population "
                "needs the same architecture, optimizer and hyperparameter names."
            )
        rows.append([value for _, value in own])
    values = [stack([row[i] for row in rows]) for i in range(len(keys))]
    return _rebuild_like(first, values)


def unstack(tree: Any, index: int) -> Any:
    """Member ``index`` of a stacked tree (the leading axis of every leaf removed).

    Example:
        >>> import numpy as np
        >>> unstack({"a": np.arange(6).reshape(3, 2)}, 1)
        {'a': array([2, 3])}
    """
    children = _children(tree)
    if children is None:
        return tree[index]
    return _rebuild_like(tree, [unstack(value, index) for _, value in children])


def _rebuild_like(template: Any, values: list[Any]) -> Any:
    if isinstance(template, dict):
        return dict(zip(template.keys(), values, strict=True))
    if hasattr(template, "_fields"):  # a NamedTuple
        return type(template)(*values)
    return type(template)(values)
