"""Builders for the networks of the course: fully connected stacks by layer sizes."""

from __future__ import annotations

from collections.abc import Sequence

from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .layers import Dense, Dropout, Layer
from .losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from .model import Sequential
from .normalization import BatchNorm, Standardize

ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "identity": Identity,
}
TASKS = ("binary", "multiclass", "regression")


def mlp(
    hidden_units: Sequence[int],
    *,
    task: str = "binary",
    outputs: int | None = None,
    activation: str = "relu",
    init: str = "he",
    batch_norm: bool = False,
    keep_prob: float = 1.0,
    l2: float = 0.0,
    l1: float = 0.0,
    standardize: bool = False,
    batch_norm_momentum: float | None = None,
) -> Sequential:
    """Build ``[Dense -> (BatchNorm) -> activation -> (Dropout)] * L -> Dense -> loss``.

    A Dense feeding a BatchNorm drops its bias (beta replaces it). The output layer
    produces logits for the loss of the task: binary cross-entropy (1 unit),
    softmax cross-entropy (``outputs`` = number of classes) or mean squared error.

    Args:
        hidden_units: units of each hidden layer, e.g. ``(10, 5)``.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        outputs: classes (multiclass, required) or targets (regression, default 1).
        activation: hidden activation: relu, leaky_relu, tanh, sigmoid or identity.
        init: weight initializer, e.g. ``"he"``, ``"xavier"``, ``"random:0.01"``.
        batch_norm: insert BatchNorm after each hidden Dense.
        keep_prob: dropout keep probability after each hidden activation (1 = none).
        l2: L2 strength lambda.
        l1: L1 strength lambda.
        standardize: start with a :class:`~nntune.Standardize` layer; fit it with
            ``model.adapt(X_train)`` after ``init``.
        batch_norm_momentum: the BatchNorm layers' ``momentum`` (None: its default
            0.9, PyTorch's ``momentum=0.1``).

    Example:
        >>> model = mlp([10, 5], batch_norm=True).init(in_features=2, seed=1)
        >>> [name for name in model.names]  # doctest: +NORMALIZE_WHITESPACE
        ['dense_0', 'batch_norm_1', 'relu_2', 'dense_3', 'batch_norm_4', 'relu_5',
         'dense_6']
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}."
        )
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}.")
    for units in hidden_units:
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(
                "hidden layer sizes must be positive integers; got "
                f"{list(hidden_units)}."
            )
    layers: list[Layer] = [Standardize()] if standardize else []
    for units in hidden_units:
        layers.append(Dense(units, init=init, use_bias=not batch_norm))
        if batch_norm:
            layers.append(
                BatchNorm()
                if batch_norm_momentum is None
                else BatchNorm(momentum=batch_norm_momentum)
            )
        layers.append(ACTIVATIONS[activation]())
        if keep_prob != 1:
            layers.append(Dropout(keep_prob))
    if task == "binary":
        layers.append(Dense(1, init=init))
        return Sequential(layers, BinaryCrossEntropy(), l2=l2, l1=l1)
    if task == "multiclass":
        if outputs is None or outputs < 2:
            raise ValueError(
                f"a multiclass network needs outputs=number of classes (>= 2); got "
                f"{outputs!r}."
            )
        layers.append(Dense(outputs, init=init))
        return Sequential(layers, SoftmaxCrossEntropy(), l2=l2, l1=l1)
    layers.append(Dense(outputs or 1, init=init))
    return Sequential(layers, MeanSquaredError(), l2=l2, l1=l1)
