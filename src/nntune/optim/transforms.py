"""Gradient transformations: small ``init``/``update`` pairs chained into optimizers.

A :class:`GradientTransformation` is a pair of pure functions (the optax design)::

    init(params)                   -> state
    update(updates, state, params) -> (new_updates, new_state)

``updates`` starts as the gradients and each transformation of a :func:`chain` turns
it into something else (a momentum, an Adam direction, ``-learning_rate * ...``);
:func:`apply_updates` finally adds it to the parameters. Nothing is modified in place.

States are NamedTuples whose fields are arrays (counters are 0-d integer arrays, so
an update has no Python branch on them and compiles under ``jax.jit``) or parameter
trees (the chain's state is a plain tuple of them), so a checkpoint can flatten any
optimizer state generically. Hyperparameters may be arrays: 0-d, or one value per
member of a stacked population (shape ``(K,)``), applied member by member.

The learning rate is the last transformation of every optimizer; it lives
in :mod:`nntune.optim.learning_rate`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_real
from ..backend import Array, Params, namespace, per_member
from . import inplace
from .ewa import (
    bias_correction_denominator,
    check_decay,
    correction_for,
    ewa,
    tree_ewa,
    tree_map,
    tree_map_multi,
)

__all__ = [
    "AdamState",
    "EmptyState",
    "GradientTransformation",
    "MomentumState",
    "RmsState",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "scale_by_adam",
    "scale_by_momentum",
    "scale_by_rms",
]


PACKABLE: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()
"""The ``update`` functions of optimizers that treat the parameter tree as one
vector (elementwise, or through a norm over all of it), so that the NumPy runner may
lay the parameters end to end in one array (:mod:`nntune.training.packed`). The
built-in optimizers (:mod:`nntune.optim.aliases`) are; a custom transformation is
not, unless it is added here."""


class GradientTransformation(NamedTuple):
    """A pure ``init``/``update`` pair (see the module docstring)."""

    init: Callable[[Params], Any]
    update: Callable[[Params, Any, Params | None], tuple[Params, Any]]


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


class MomentumState(NamedTuple):
    """The velocity ``v`` of :func:`scale_by_momentum`, keyed like the parameters."""

    velocity: Params


class RmsState(NamedTuple):
    """The average ``s`` of squared gradients of :func:`scale_by_rms`."""

    square_average: Params


class AdamState(NamedTuple):
    """The update count ``t`` (a 0-d int32 array) and the moments ``m``, ``v``."""

    step: Any
    first_moment: Params
    second_moment: Params


def counter(params: Params) -> Array:
    """A 0-d int32 zero in the array namespace of ``params`` (NumPy when empty)."""
    for arrays in params.values():
        for array in arrays.values():
            xp = namespace(array)
            return xp.asarray(0, dtype=xp.int32)
    return np.asarray(0, dtype=np.int32)


def _zeros_like(tree: Params) -> Params:
    return tree_map(lambda array: namespace(array).zeros_like(array), tree)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Compose transformations: each one's updates are the next one's input.

    The state is the tuple of the inner states, in order.

    Args:
        *transforms: The transformations, applied left to right.

    Returns:
        The composed transformation.

    Example:
        >>> import numpy as np
        >>> from nntune.optim import scale_by_learning_rate
        >>> optimizer = chain(scale_by_momentum(0.9), scale_by_learning_rate(0.1))
        >>> params = {"dense_0": {"b": np.zeros(2)}}
        >>> state = optimizer.init(params)
        >>> grads = {"dense_0": {"b": np.array([1.0, -2.0])}}
        >>> updates, state = optimizer.update(grads, state, params)
        >>> updates["dense_0"]["b"].round(6)  # -0.1 * (0.1 * g)
        array([-0.01,  0.02])
    """

    def init(params: Params) -> tuple[Any, ...]:
        return tuple(transform.init(params) for transform in transforms)

    def update(
        updates: Params, state: tuple[Any, ...], params: Params | None = None
    ) -> tuple[Params, tuple[Any, ...]]:
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise ValueError(
                f"a chain of {len(transforms)} transformations needs a tuple of "
                f"{len(transforms)} states; got {type(state).__name__} of length "
                f"{len(state) if isinstance(state, tuple) else 'n/a'}. Pass the state "
                "returned by init() or by the previous update()."
            )
        new_states = []
        for transform, inner in zip(transforms, state, strict=True):
            updates, inner = transform.update(updates, inner, params)
            new_states.append(inner)
        return updates, tuple(new_states)

    inplace.register(update, inplace.chain_twin([t.update for t in transforms]))
    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Params) -> Params:
    """Return the new parameters ``p + u``, in the dtype of each parameter.

    Args:
        params: The parameters, ``{layer: {name: array}}``.
        updates: The output of an optimizer's ``update``, keyed like ``params``.

    Returns:
        A new tree; ``params`` is not modified.

    Raises:
        ValueError: if the trees do not have the same keys.

    Example:
        >>> import numpy as np
        >>> apply_updates({"dense_0": {"b": np.ones(2, dtype=np.float32)}},
        ...               {"dense_0": {"b": np.full(2, -0.5, dtype=np.float32)}})
        {'dense_0': {'b': array([0.5, 0.5], dtype=float32)}}
    """

    def add(param: Array, update: Array) -> Array:
        new = param + update
        if new.dtype != param.dtype:
            new = namespace(new).astype(new, param.dtype)
        return new

    return tree_map(add, params, updates)


def scale_by_momentum(
    beta: float = 0.9, nesterov: bool = False
) -> GradientTransformation:
    """Momentum in the course's EWA form, without bias correction.

    ``v_0 = 0``, ``v_t = beta * v_{t-1} + (1 - beta) * g_t``; the output is ``v_t``, or
    with ``nesterov`` the look-ahead ``beta * v_t + (1 - beta) * g_t``. Followed by
    :func:`~nntune.optim.scale_by_learning_rate` this is PyTorch's ``SGD(momentum=beta,
    dampening=beta)`` with a zero initial buffer (PyTorch starts the buffer at
    ``g_1``); the Nesterov form equals PyTorch's ``nesterov=True`` (``dampening=0``)
    with the learning rate times ``1 - beta``.

    Args:
        beta: The weight of the old velocity, in ``[0, 1)``.
        nesterov: Whether to output the Nesterov look-ahead.

    Returns:
        The transformation, with a :class:`MomentumState`.

    Raises:
        ValueError: if ``beta`` is outside ``[0, 1)``.

    Example:
        >>> import numpy as np
        >>> transform = scale_by_momentum(0.9)
        >>> grads = {"dense_0": {"b": np.array([1.0])}}
        >>> state = transform.init(grads)
        >>> for _ in range(2):
        ...     velocity, state = transform.update(grads, state, None)
        >>> velocity["dense_0"]["b"].round(6)  # 0.9 * 0.1 + 0.1 * 1
        array([0.19])
    """
    beta = check_decay("beta", beta)

    def init(params: Params) -> MomentumState:
        return MomentumState(_zeros_like(params))

    def update(
        updates: Params, state: MomentumState, params: Params | None = None
    ) -> tuple[Params, MomentumState]:
        velocity = tree_ewa(state.velocity, updates, beta)
        if nesterov:
            return tree_ewa(velocity, updates, beta), MomentumState(velocity)
        return velocity, MomentumState(velocity)

    inplace.register(update, inplace.momentum_twin(beta, nesterov))
    return GradientTransformation(init, update)


def scale_by_rms(beta: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """RMSprop: divide by the root of an EWA of squared gradients.

    ``s_0 = 0``, ``s_t = beta * s_{t-1} + (1 - beta) * g_t^2``, output
    ``g_t / (sqrt(s_t) + eps)`` with ``eps`` outside the root and no bias correction:
    PyTorch's ``RMSprop(alpha=beta, eps=eps)``. Keras' ``RMSprop(rho=beta)`` puts
    ``eps`` inside the root, ``g / sqrt(s + eps)``.

    Args:
        beta: The weight of the old average (the course's ``beta2``), in ``[0, 1)``.
        eps: Added to the root to avoid dividing by zero (> 0).

    Returns:
        The transformation, with an :class:`RmsState`.

    Raises:
        ValueError: if ``beta`` is outside ``[0, 1)`` or ``eps`` is not > 0.

    Example:
        >>> import numpy as np
        >>> transform = scale_by_rms(0.75)
        >>> grads = {"dense_0": {"b": np.array([2.0])}}
        >>> out, _ = transform.update(grads, transform.init(grads), None)
        >>> out["dense_0"]["b"].round(6)  # 2 / sqrt(0.25 * 4)
        array([2.])
    """
    beta = check_decay("beta", beta)
    eps = _check_eps(eps)

    def init(params: Params) -> RmsState:
        return RmsState(_zeros_like(params))

    def update(
        updates: Params, state: RmsState, params: Params | None = None
    ) -> tuple[Params, RmsState]:
        square_average = tree_ewa(
            state.square_average, tree_map(lambda g: g * g, updates), beta
        )
        out = tree_map(
            lambda g, s: g / (namespace(s).sqrt(s) + per_member(eps, s)),
            updates,
            square_average,
        )
        return out, RmsState(square_average)

    inplace.register(update, inplace.rms_twin(beta, eps))
    return GradientTransformation(init, update)


def scale_by_adam(
    beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    """Adam's direction, as in Kingma & Ba (2015), Algorithm 1.

    With ``t = 1, 2, ...`` the update count::

        m_t = beta1 * m_{t-1} + (1 - beta1) * g_t       (momentum)
        v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2     (RMSprop)
        m_hat = m_t / (1 - beta1^t),  v_hat = v_t / (1 - beta2^t)
        output = m_hat / (sqrt(v_hat) + eps)

    ``eps`` is outside the root and added to ``sqrt(v_hat)``, as in PyTorch. Keras and
    scikit-learn add it to ``sqrt(v_t)`` before the bias correction (the paper's
    "epsilon hat"): their ``epsilon`` is ``eps * sqrt(1 - beta2^t)`` here.

    Args:
        beta1: The decay of the first moment, in ``[0, 1)``.
        beta2: The decay of the second moment, in ``[0, 1)``.
        eps: Added to the root to avoid dividing by zero (> 0).

    Returns:
        The transformation, with an :class:`AdamState`.

    Raises:
        ValueError: if a beta is outside ``[0, 1)`` or ``eps`` is not > 0.

    Example:
        >>> import numpy as np
        >>> transform = scale_by_adam()
        >>> grads = {"dense_0": {"b": np.array([-3.0, 0.5])}}
        >>> out, state = transform.update(grads, transform.init(grads), None)
        >>> out["dense_0"]["b"].round(6), int(state.step)  # the first step: sign(g)
        (array([-1.,  1.]), 1)
    """
    beta1 = check_decay("beta1", beta1)
    beta2 = check_decay("beta2", beta2)
    eps = _check_eps(eps)

    def init(params: Params) -> AdamState:
        return AdamState(counter(params), _zeros_like(params), _zeros_like(params))

    def update(
        updates: Params, state: AdamState, params: Params | None = None
    ) -> tuple[Params, AdamState]:
        count = namespace(state.step).asarray(state.step + 1)  # 0-d, not a scalar
        # The bias corrections' denominators, once for every array of the tree, in
        # each dtype and shape of array the tree holds.
        first = bias_correction_denominator(beta1, count)
        second = bias_correction_denominator(beta2, count)
        found: dict[tuple[Any, ...], tuple[Any, Any, Any, Any]] = {}

        def leaf(g: Array, m_prev: Array, v_prev: Array) -> tuple[Array, ...]:
            m_t = ewa(m_prev, g, beta1)
            v_t = ewa(v_prev, g * g, beta2)
            kind = (type(v_t), getattr(v_t, "dtype", None), getattr(v_t, "ndim", 0))
            if kind not in found:
                found[kind] = (
                    correction_for(m_t, first),
                    correction_for(v_t, second),
                    per_member(eps, v_t),
                    namespace(v_t),
                )
            c1, c2, e, xp = found[kind]
            return (m_t / c1) / (xp.sqrt(v_t / c2) + e), m_t, v_t

        # One walk: the direction m_hat / (sqrt(v_hat) + eps) and both moments.
        out, m, v = tree_map_multi(
            leaf, 3, updates, state.first_moment, state.second_moment
        )
        return out, AdamState(count, m, v)

    inplace.register(update, inplace.adam_twin(beta1, beta2, eps))
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float) -> GradientTransformation:
    """Add decoupled weight decay: output ``g + weight_decay * p``.

    Placed after :func:`scale_by_adam` and before the learning rate, this
    is AdamW (Loshchilov & Hutter): every parameter, biases included, shrinks by
    ``learning_rate * weight_decay * p`` per step, as in ``torch.optim.AdamW``. It is
    not the course's L2 regularization, which adds to the cost (see ``nntune.L2``).

    Args:
        weight_decay: The decay coefficient (>= 0).

    Returns:
        The transformation (stateless; it needs ``params`` in ``update``).

    Raises:
        ValueError: if ``weight_decay`` is negative, or ``update`` gets no params.

    Example:
        >>> import numpy as np
        >>> transform = add_decayed_weights(0.1)
        >>> params = {"dense_0": {"W": np.array([2.0])}}
        >>> grads = {"dense_0": {"W": np.array([1.0])}}
        >>> out, _ = transform.update(grads, transform.init(params), params)
        >>> out["dense_0"]["W"]  # 1 + 0.1 * 2
        array([1.2])
    """
    weight_decay = check_real(
        "weight_decay",
        weight_decay,
        low=0.0,
        fix="Use weight_decay >= 0, e.g. 0.01; 0 turns weight decay off.",
    )

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def update(
        updates: Params, state: EmptyState, params: Params | None = None
    ) -> tuple[Params, EmptyState]:
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the parameters to decay; got params=None. "
                "Call optimizer.update(grads, state, params)."
            )
        decayed = tree_map(
            lambda g, p: g + per_member(weight_decay, p) * p, updates, params
        )
        return decayed, state

    inplace.register(update, inplace.decayed_weights_twin(weight_decay))
    return GradientTransformation(init, update)


def _check_eps(eps: Any) -> Any:
    return check_real(
        "eps",
        eps,
        low=0.0,
        low_open=True,
        fix="eps only guards against dividing by zero: use a small positive number "
        "such as 1e-8.",
    )
