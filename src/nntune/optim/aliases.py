"""The course's optimizers as chains of transforms: gd, momentum, rmsprop, adam, adamw.

Each alias returns ``chain([clip_by_global_norm], <direction>, scale_by_learning_rate)``
and validates its hyperparameters when built. ``learning_rate`` is a number or a
schedule (:mod:`nntune.optim.schedules`); ``clip_norm`` prepends gradient clipping by
global norm. Use them as::

    optimizer = adam(learning_rate=0.001)
    opt_state = optimizer.init(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = apply_updates(params, updates)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .._validation import check_real
from .clipping import clip_by_global_norm
from .ewa import check_decay
from .learning_rate import scale_by_learning_rate
from .schedules import Schedule
from .transforms import (
    PACKABLE,
    GradientTransformation,
    add_decayed_weights,
    chain,
    scale_by_adam,
    scale_by_momentum,
    scale_by_rms,
)

__all__ = [
    "HYPERPARAMETERS",
    "OPTIMIZERS",
    "adam",
    "adamw",
    "gd",
    "momentum",
    "optimizer_from_name",
    "rmsprop",
]


def _build(
    direction: list[GradientTransformation],
    learning_rate: float | Schedule,
    clip_norm: float | None,
) -> GradientTransformation:
    transforms = list(direction)
    if clip_norm is not None:
        check_real(
            "clip_norm",
            clip_norm,
            low=0.0,
            low_open=True,
            fix="Use a positive global-norm threshold such as 1.0, or None for no "
            "clipping.",
        )
        transforms.insert(0, clip_by_global_norm(clip_norm))
    built = chain(*transforms, scale_by_learning_rate(learning_rate))
    PACKABLE.add(built.update)  # elementwise steps and a global norm only
    return built


def gd(
    learning_rate: float | Schedule, *, clip_norm: float | None = None
) -> GradientTransformation:
    """(Mini-batch) gradient descent: ``p = p - learning_rate * g``.

    Args:
        learning_rate: A number > 0 or a schedule.
        clip_norm: If given, clip the gradients to this global norm first.

    Returns:
        The optimizer.

    Raises:
        ValueError: if ``learning_rate`` or ``clip_norm`` is not > 0.

    Example:
        >>> import numpy as np
        >>> optimizer = gd(0.1)
        >>> params = {"dense_0": {"b": np.array([1.0])}}
        >>> grads = {"dense_0": {"b": np.array([2.0])}}
        >>> updates, _ = optimizer.update(grads, optimizer.init(params), params)
        >>> updates["dense_0"]["b"]  # -0.1 * 2
        array([-0.2])
    """
    return _build([], learning_rate, clip_norm)


def momentum(
    learning_rate: float | Schedule,
    beta: float = 0.9,
    nesterov: bool = False,
    *,
    clip_norm: float | None = None,
) -> GradientTransformation:
    """Gradient descent with momentum, in the course's EWA form.

    ``v = beta * v + (1 - beta) * g`` (from ``v = 0``), ``p = p - learning_rate * v``;
    PyTorch's ``SGD(momentum=beta, dampening=beta)`` with a zero first buffer. With
    ``nesterov`` the step uses ``beta * v + (1 - beta) * g``.

    Args:
        learning_rate: A number > 0 or a schedule.
        beta: The momentum, in ``[0, 1)`` (0.9 averages over about 10 gradients).
        nesterov: Whether to use Nesterov's look-ahead.
        clip_norm: If given, clip the gradients to this global norm first.

    Returns:
        The optimizer.

    Raises:
        ValueError: if ``beta`` is outside ``[0, 1)`` or a rate/norm is not > 0.

    Example:
        >>> import numpy as np
        >>> optimizer = momentum(1.0, beta=0.9)
        >>> params = {"dense_0": {"b": np.array([0.0])}}
        >>> grads = {"dense_0": {"b": np.array([1.0])}}
        >>> updates, _ = optimizer.update(grads, optimizer.init(params), params)
        >>> updates["dense_0"]["b"].round(6)  # -(0.9 * 0 + 0.1 * 1)
        array([-0.1])
    """
    return _build([scale_by_momentum(beta, nesterov)], learning_rate, clip_norm)


def rmsprop(
    learning_rate: float | Schedule,
    beta2: float = 0.999,
    eps: float = 1e-8,
    *,
    clip_norm: float | None = None,
) -> GradientTransformation:
    """RMSprop: ``s = beta2 * s + (1 - beta2) * g^2``, ``p = p - lr * g/(sqrt(s)+eps)``.

    The course names RMSprop's decay ``beta2`` (PyTorch ``alpha``, Keras ``rho``).

    Args:
        learning_rate: A number > 0 or a schedule.
        beta2: The decay of the average of squared gradients, in ``[0, 1)``.
        eps: Added to the root to avoid dividing by zero (> 0).
        clip_norm: If given, clip the gradients to this global norm first.

    Returns:
        The optimizer.

    Raises:
        ValueError: if ``beta2`` is outside ``[0, 1)`` or ``eps``, the rate or the
            norm is not > 0.

    Example:
        >>> import numpy as np
        >>> optimizer = rmsprop(0.01, beta2=0.75)
        >>> params = {"dense_0": {"b": np.array([0.0])}}
        >>> grads = {"dense_0": {"b": np.array([2.0])}}
        >>> updates, _ = optimizer.update(grads, optimizer.init(params), params)
        >>> updates["dense_0"]["b"].round(6)  # -0.01 * 2 / sqrt(0.25 * 4)
        array([-0.02])
    """
    beta2 = check_decay("beta2", beta2)
    return _build([scale_by_rms(beta2, eps)], learning_rate, clip_norm)


def adam(
    learning_rate: float | Schedule = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    *,
    clip_norm: float | None = None,
) -> GradientTransformation:
    """Adam (Kingma & Ba, Algorithm 1): ``p = p - lr * m_hat / (sqrt(v_hat) + eps)``.

    ``m`` and ``v`` are EWAs of ``g`` and ``g^2`` with decays ``beta1`` and ``beta2``,
    bias-corrected by ``1 - beta^t`` (``t`` from 1); see
    :func:`~nntune.optim.scale_by_adam`.

    Args:
        learning_rate: A number > 0 or a schedule (0.001 is the paper's default).
        beta1: The decay of the first moment, in ``[0, 1)``.
        beta2: The decay of the second moment, in ``[0, 1)``.
        eps: Added to the root to avoid dividing by zero (> 0).
        clip_norm: If given, clip the gradients to this global norm first.

    Returns:
        The optimizer.

    Raises:
        ValueError: if a beta is outside ``[0, 1)`` or ``eps``, the rate or the norm
            is not > 0.

    Example:
        >>> import numpy as np
        >>> optimizer = adam(0.1)
        >>> params = {"dense_0": {"b": np.array([0.0, 0.0])}}
        >>> grads = {"dense_0": {"b": np.array([5.0, -0.01])}}
        >>> updates, _ = optimizer.update(grads, optimizer.init(params), params)
        >>> updates["dense_0"]["b"].round(6)  # the first step is -lr * sign(g)
        array([-0.1,  0.1])
    """
    return _build([scale_by_adam(beta1, beta2, eps)], learning_rate, clip_norm)


def adamw(
    learning_rate: float | Schedule = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    *,
    clip_norm: float | None = None,
) -> GradientTransformation:
    """AdamW: Adam with decoupled weight decay, ``torch.optim.AdamW``.

    ``p = p - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)``: the decay does
    not pass through Adam's scaling, unlike L2 regularization (or PyTorch's
    ``Adam(weight_decay=...)``), which adds ``weight_decay * p`` to the gradient.
    Every parameter is decayed, biases included, as in PyTorch.

    Args:
        learning_rate: A number > 0 or a schedule.
        beta1: The decay of the first moment, in ``[0, 1)``.
        beta2: The decay of the second moment, in ``[0, 1)``.
        eps: Added to the root to avoid dividing by zero (> 0).
        weight_decay: The decoupled decay coefficient (>= 0).
        clip_norm: If given, clip the gradients to this global norm first.

    Returns:
        The optimizer.

    Raises:
        ValueError: if a beta is outside ``[0, 1)``, ``weight_decay`` is negative or
            ``eps``, the rate or the norm is not > 0.

    Example:
        >>> import numpy as np
        >>> optimizer = adamw(0.1, weight_decay=0.5)
        >>> params = {"dense_0": {"W": np.array([2.0])}}
        >>> grads = {"dense_0": {"W": np.array([3.0])}}
        >>> updates, _ = optimizer.update(grads, optimizer.init(params), params)
        >>> updates["dense_0"]["W"].round(6)  # -0.1 * (sign(3) + 0.5 * 2)
        array([-0.2])
    """
    return _build(
        [scale_by_adam(beta1, beta2, eps), add_decayed_weights(weight_decay)],
        learning_rate,
        clip_norm,
    )


OPTIMIZERS: dict[str, Callable[..., GradientTransformation]] = {
    "gd": gd,
    "momentum": momentum,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}
"""The optimizers by the name used in configs and on the command line."""

HYPERPARAMETERS = frozenset(
    {
        "learning_rate",
        "beta",
        "beta1",
        "beta2",
        "eps",
        "weight_decay",
        "nesterov",
        "clip_norm",
    }
)
"""Every hyperparameter some optimizer of :data:`OPTIMIZERS` takes."""


def optimizer_from_name(name: str, **hyperparameters: Any) -> GradientTransformation:
    """Build the optimizer ``name`` from the hyperparameters it takes.

    Hyperparameters set to ``None`` are ignored, so a caller can pass all it knows
    (from a config or the command line) and each optimizer takes its own; one that
    is set but not taken by ``name`` is an error rather than silently dropped.

    Args:
        name: A key of :data:`OPTIMIZERS`.
        **hyperparameters: Among :data:`HYPERPARAMETERS`.

    Returns:
        The optimizer.

    Raises:
        ValueError: for an unknown name, a missing ``learning_rate`` where the
            optimizer has no default, or a hyperparameter it does not take.

    Example:
        >>> optimizer = optimizer_from_name("adam", learning_rate=0.01, beta=None)
        >>> optimizer_from_name("gd", beta1=0.9)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: gd does not take beta1; it takes ['clip_norm', 'learning_rate']...
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}."
        )
    factory = OPTIMIZERS[name]
    parameters = inspect.signature(factory).parameters
    given = {key: value for key, value in hyperparameters.items() if value is not None}
    for key in sorted(given):
        if key in parameters:
            continue
        users = [
            other
            for other, other_factory in OPTIMIZERS.items()
            if key in inspect.signature(other_factory).parameters
        ]
        hint = (
            f"choose an optimizer that uses it: {', '.join(users)}"
            if users
            else f"use one of {sorted(HYPERPARAMETERS)}"
        )
        raise ValueError(
            f"{name} does not take {key}; it takes {sorted(parameters)}. "
            f"Remove {key} or {hint}."
        )
    missing = [
        key
        for key, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty and key not in given
    ]
    if missing:
        raise ValueError(
            f"{name} needs {', '.join(missing)}; pass e.g. "
            f"{', '.join(f'{key}=0.01' for key in missing)}."
        )
    return factory(**given)
