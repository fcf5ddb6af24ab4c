"""Per-layer statistics of one forward and backward pass, for gradient health."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..activations import ReLU, Sigmoid, Tanh
from ..backend import Params, State, make_rng, to_numpy
from ..backend.random import fold_in
from ..backend.random import key as random_key
from ..initializers import Initializer
from ..layers import Dense, Dropout
from ..model import Sequential
from ..normalization import BatchNorm

SATURATION_MARGIN = 0.01
SYMMETRY_TOLERANCE = 1e-6
SQUASHING = {Tanh.kind, Sigmoid.kind}


@dataclass(frozen=True)
class LayerHealth:
    """One Dense layer on one batch; ``verdict`` and ``problem`` are set by the judge.

    ``activation`` is the kind of the activation after it (None for the output
    layer); ``dead_fraction`` is for ReLU, ``saturated_fraction`` for tanh/sigmoid.
    """

    name: str
    init: str
    activation: str | None
    units: int
    in_features: int
    activation_mean: float
    activation_std: float
    dead_fraction: float | None
    saturated_fraction: float | None
    weight_norm: float
    gradient_norm: float
    gradient_to_weight: float
    input_gradient_norm: float
    symmetric: bool
    verdict: str | None = None
    problem: str | None = None


def _norm(array: Any) -> float:
    return float(np.linalg.norm(to_numpy(array).astype(np.float64).ravel()))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0."""
    return numerator / denominator if denominator else math.nan


def _identical_units(weights: Any, bias: Any) -> bool:
    # Units are columns of W; with equal biases they compute the same function.
    stacked = to_numpy(weights).astype(np.float64)
    if bias is not None:
        stacked = np.vstack([stacked, to_numpy(bias).astype(np.float64)])
    if stacked.shape[1] < 2:
        return False
    spread = float(np.max(np.abs(stacked - stacked[:, :1])))
    return spread <= SYMMETRY_TOLERANCE * float(np.max(np.abs(stacked)))


def layer_statistics(
    model: Sequential,
    X: Any,
    y: Any,
    *,
    params: Params | None = None,
    state: State | None = None,
    seed: int = 0,
) -> list[LayerHealth]:
    """Per-Dense-layer statistics from one training-mode forward and backward pass.

    A Dense layer's activation is the output of the next layer that is neither
    BatchNorm nor Dropout, or its own output when that is a Dense layer or the end.
    ``dead_fraction`` is the fraction of ReLU units that output 0 for every example;
    ``gradient_norm`` is ``||dJ/dW||_F`` with the L2/L1 term, as in
    :meth:`Sequential.value_and_grad`; ``gradient_to_weight`` is
    ``||dJ/dW|| / ||W||`` (NaN when ``W = 0``).

    Args:
        model: an initialised model.
        X: a batch of inputs.
        y: its labels or targets.
        params: parameters to check (default: ``model.params``).
        state: non-trainable state (default: ``model.state``).
        seed: seeds dropout masks, from a generator of its own.

    Returns:
        One :class:`LayerHealth` per Dense layer, input first, with ``verdict`` None.
    """
    params = model.params if params is None else params
    state = model.state if state is None else state
    x, targets = model.prepare(X, y)
    run_key = random_key(int(make_rng(seed).integers(2**63)))
    outputs, caches, found = [], [], []
    # Exploding networks overflow by design: NaN and inf are reported, not warned.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for position, (name, layer) in enumerate(
            zip(model.names, model.layers, strict=True)
        ):
            x, cache, _ = layer.forward(
                params.get(name, {}),
                state.get(name, {}),
                x,
                training=True,
                key=fold_in(run_key, position),
            )
            outputs.append(x)
            caches.append(cache)
        delta = model.loss.value_and_grad(x, targets)[1]
        input_grads: list[Any] = [None] * len(model.layers)
        grads: Params = {}
        for at in range(len(model.layers) - 1, -1, -1):
            name, layer = model.names[at], model.layers[at]
            delta, grads[name] = layer.backward(params.get(name, {}), caches[at], delta)
            input_grads[at] = delta
        for name, penalties in model.regularizers().items():
            for penalty in penalties:
                if penalty.strength:
                    grads[name]["W"] += penalty.grad(params[name]["W"], x.shape[0])
        for at, dense in enumerate(model.layers):
            if not isinstance(dense, Dense):
                continue
            after, activation = at, None
            for later, layer in enumerate(model.layers[at + 1 :], start=at + 1):
                if not isinstance(layer, BatchNorm | Dropout):
                    if not isinstance(layer, Dense):
                        after, activation = later, layer
                    break
            out = to_numpy(outputs[after]).astype(np.float64)
            dead = saturated = None
            if isinstance(activation, ReLU):
                dead = float(np.mean(np.all(out <= 0, axis=0)))
            elif isinstance(activation, Tanh):
                saturated = float(np.mean(np.abs(out) > 1 - SATURATION_MARGIN))
            elif isinstance(activation, Sigmoid):
                edge = np.minimum(out, 1 - out)
                saturated = float(np.mean(edge < SATURATION_MARGIN))
            name = model.names[at]
            weights, bias = params[name]["W"], params[name].get("b")
            weight_norm, gradient_norm = _norm(weights), _norm(grads[name]["W"])
            found.append(
                LayerHealth(
                    name=name,
                    init=str(Initializer.parse(dense.init)),
                    activation=None if activation is None else activation.kind,
                    units=int(weights.shape[1]),
                    in_features=int(weights.shape[0]),
                    activation_mean=float(np.mean(out)),
                    activation_std=float(np.std(out)),
                    dead_fraction=dead,
                    saturated_fraction=saturated,
                    weight_norm=weight_norm,
                    gradient_norm=gradient_norm,
                    gradient_to_weight=ratio(gradient_norm, weight_norm),
                    input_gradient_norm=_norm(input_grads[at]),
                    symmetric=_identical_units(weights, bias),
                )
            )
    return found
