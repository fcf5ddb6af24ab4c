"""Shared helpers: optional test dependencies, float64 numerical checks of layers."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, NoReturn

import numpy as np
import pytest

from nntune import numerical_gradient, relative_difference
from nntune.backend.random import key as random_key
from nntune.layers import Layer


def unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI (``CI`` set) fail, since CI installs everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails rather than skips)")
    pytest.skip(reason, allow_module_level=True)


def require(module: str) -> ModuleType:
    """Import a test dependency (torch, onnx, matplotlib...), or :func:`unavailable`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        unavailable(f"{module} is not installed; it is in the test extra")


def check_layer(
    layer: Layer,
    x: np.ndarray[Any, Any],
    *,
    training: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """Relative differences of ``layer.backward`` against two-sided differences.

    The scalar checked is ``J = sum(forward(x) * R)`` for a fixed random ``R``, so the
    upstream gradient fed to ``backward`` is ``R``. Returns ``{"x": d, param: d}``.
    """
    rng = np.random.default_rng(seed)
    params, state, _ = layer.build(rng, x.shape[1], "float64")
    y, cache, _ = layer.forward(
        params, state, x, training=training, key=random_key(seed)
    )
    upstream = rng.standard_normal(y.shape)
    dx, grads = layer.backward(params, cache, upstream)
    tree = {"input": {"x": x.copy()}, "layer": dict(params)}

    def cost(current: dict[str, dict[str, Any]]) -> float:
        out, _, _ = layer.forward(
            current["layer"],
            state,
            current["input"]["x"],
            training=training,
            key=random_key(seed),
        )
        return float(np.sum(out * upstream))

    entries = {
        name: {k: np.arange(v.size) for k, v in arrays.items()}
        for name, arrays in tree.items()
    }
    approx = numerical_gradient(cost, tree, entries)
    differences = {"x": relative_difference(dx, approx["input"]["x"])}
    for name, grad in grads.items():
        differences[name] = relative_difference(grad, approx["layer"][name])
    assert set(grads) == set(params)
    return differences
