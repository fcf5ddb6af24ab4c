"""The learning rate: the last transformation of every optimizer, and its state.

:func:`scale_by_learning_rate` turns a direction into a step ``-learning_rate * d``,
evaluating a schedule at the current epoch and step. Its :class:`LearningRateState` is
found anywhere in an optimizer's state by :func:`set_epoch` (the training loop's hook),
:func:`scale_learning_rate` (reduce-on-plateau) and :func:`current_learning_rate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_real, is_array
from ..backend import Array, Params, namespace, per_member
from . import inplace
from .ewa import tree_map
from .schedules import (
    Schedule,
    _learning_rate,
    base_rate,
    constant,
    evaluate_schedule,
)
from .transforms import GradientTransformation, counter

__all__ = [
    "LearningRateState",
    "base_learning_rate",
    "current_learning_rate",
    "scale_by_learning_rate",
    "scale_learning_rate",
    "set_epoch",
    "set_learning_rate",
]


class LearningRateState(NamedTuple):
    """Where :func:`scale_by_learning_rate` is in its schedule (all 0-d arrays).

    Attributes:
        step: Updates made so far (the schedule's ``step`` for the next update).
        epoch: The current epoch, set by :func:`set_epoch` (counted from 0).
        learning_rate: The schedule's base rate (its initial rate; the rate itself
            for a constant schedule), changed by :func:`set_learning_rate` and
            :func:`scale_learning_rate`. One value per member in a population.
        value: The learning rate of the last update (before any update: the rate of
            epoch 0, step 0).
    """

    step: Any
    epoch: Any
    learning_rate: Any
    value: Any


def scale_by_learning_rate(learning_rate: float | Schedule) -> GradientTransformation:
    """Multiply by ``-learning_rate`` (the minus sign makes it a descent step).

    ``lr = schedule(epoch, step)`` evaluated from the state's base rate (see
    :func:`~nntune.optim.schedules.evaluate_schedule`), output ``-lr * u``. ``step``
    counts this transformation's updates from 0 and ``epoch`` is set by
    :func:`set_epoch`; both are arrays, so the update has no Python branch on them
    and compiles under ``jax.jit``. A number is a constant schedule.

    Args:
        learning_rate: A number > 0 or a schedule ``(epoch, step) -> float``.

    Returns:
        The transformation, with a :class:`LearningRateState`.

    Raises:
        ValueError: if a numeric ``learning_rate`` is not a finite number > 0.

    Example:
        >>> import numpy as np
        >>> transform = scale_by_learning_rate(0.5)
        >>> grads = {"dense_0": {"b": np.array([2.0])}}
        >>> out, state = transform.update(grads, transform.init(grads), None)
        >>> out["dense_0"]["b"], int(state.step), float(state.value)
        (array([-1.]), 1, 0.5)
    """
    schedule: Schedule = (
        learning_rate if callable(learning_rate) else constant(learning_rate)
    )

    def init(params: Params) -> LearningRateState:
        try:
            value = float(schedule(0, 0))
        except TypeError as error:
            raise TypeError(
                f"a learning-rate schedule is called as schedule(epoch, step) and "
                f"returns a number; {schedule!r} failed with: {error}. Give it the "
                "signature (epoch, step=0) -> float."
            ) from error
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"the learning-rate schedule {schedule!r} gives {value!r} at epoch 0, "
                "step 0; expected a finite number >= 0."
            )
        zero = counter(params)
        xp = namespace(zero)
        return LearningRateState(
            step=zero,
            epoch=zero,
            learning_rate=xp.asarray(base_rate(schedule)),
            value=xp.asarray(value),
        )

    def advance(state: LearningRateState) -> tuple[Any, LearningRateState]:
        rate = evaluate_schedule(schedule, state.learning_rate, state.epoch, state.step)
        xp = namespace(state.step)
        # 0-d arrays, never NumPy scalars: the state keeps its structure.
        step = xp.asarray(state.step + 1)
        new_state = LearningRateState(
            step, state.epoch, state.learning_rate, xp.asarray(rate)
        )
        return rate, new_state

    def update(
        updates: Params, state: LearningRateState, params: Params | None = None
    ) -> tuple[Params, LearningRateState]:
        rate, new_state = advance(state)
        found: dict[tuple[Any, ...], Any] = {}

        def descend(u: Array) -> Array:
            # The rate in the update's dtype keeps float32 training float32; it is
            # worked out once per dtype and shape of array in the tree.
            kind = (type(u), getattr(u, "dtype", None), getattr(u, "ndim", 0))
            if kind not in found:
                found[kind] = _descent(rate, u)
            return found[kind] * u

        return tree_map(descend, updates), new_state

    def prepare_scale(
        updates: Array, state: LearningRateState
    ) -> tuple[Any, LearningRateState]:
        rate, new_state = advance(state)
        return _descent(rate, updates), new_state

    inplace.register(update, inplace.scale_twin(prepare_scale))
    return GradientTransformation(init, update)


def _descent(rate: Any, like: Array) -> Any:
    """``-rate`` in the dtype of ``like``, shaped per member."""
    if type(rate) is np.ndarray and rate.ndim == 0 and type(like) is np.ndarray:
        # What the array functions below give (a negated 0-d array is a NumPy
        # scalar of its dtype), without their overhead: one call per step.
        return -like.dtype.type(rate)
    scaled = per_member(rate, like)
    if is_array(scaled):
        scaled = namespace(like).astype(scaled, like.dtype)
    return -scaled


def _map_learning_rate_states(
    state: Any, function: Callable[[LearningRateState], LearningRateState]
) -> tuple[Any, int]:
    """Apply ``function`` to every LearningRateState in ``state``; count them."""
    if isinstance(state, LearningRateState):
        return function(state), 1
    if isinstance(state, tuple):
        found = 0
        items = []
        for item in state:
            new_item, count = _map_learning_rate_states(item, function)
            items.append(new_item)
            found += count
        if hasattr(state, "_fields"):
            return type(state)(*items), found
        return tuple(items), found
    return state, 0


def _no_learning_rate(opt_state: Any) -> ValueError:
    return ValueError(
        f"the optimizer state has no learning rate (no LearningRateState inside a "
        f"{type(opt_state).__name__}). Build the optimizer with an alias such as "
        "nntune.optim.adam(...) or end the chain with scale_by_learning_rate(...)."
    )


def set_epoch(opt_state: Any, epoch: int) -> Any:
    """Return ``opt_state`` with ``epoch`` set in every :class:`LearningRateState`.

    The train step calls it before every update with the training state's epoch
    counter (epochs counted from 0) so that per-epoch schedules use the right epoch.
    A state with no learning rate is returned unchanged.

    Args:
        opt_state: Any optimizer state (nested tuples and NamedTuples).
        epoch: The epoch (an integer >= 0, or an integer array: a state's counter).

    Returns:
        A new state; ``opt_state`` is not modified.

    Raises:
        ValueError: if ``epoch`` is not an integer >= 0.

    Example:
        >>> state = scale_by_learning_rate(0.1).init({})
        >>> int(set_epoch((state,), 3)[0].epoch)
        3
    """
    number: object = epoch  # checked at run time: configs and callers may pass floats
    if is_array(number) and not isinstance(number, np.generic):
        new_epoch: Any = number
    elif isinstance(number, bool) or not isinstance(number, Integral) or number < 0:
        raise ValueError(
            f"epoch must be an integer >= 0 (epochs are counted from 0); got {epoch!r}."
        )
    else:
        new_epoch = np.asarray(int(epoch), dtype=np.int32)
    new_state, _ = _map_learning_rate_states(
        opt_state, lambda state: state._replace(epoch=new_epoch)
    )
    return new_state


def scale_learning_rate(opt_state: Any, factor: float) -> Any:
    """Return ``opt_state`` with its learning rate multiplied by ``factor``.

    Multiplies the base rate of every :class:`LearningRateState`, so the schedule
    keeps its shape and every later rate is scaled (reduce-on-plateau uses it). The
    recorded ``value`` is scaled too, so :func:`current_learning_rate` shows the
    reduction at once.

    Args:
        opt_state: Any optimizer state (nested tuples and NamedTuples).
        factor: The multiplier (a finite number > 0, e.g. 0.1).

    Returns:
        A new state; ``opt_state`` is not modified.

    Raises:
        ValueError: if ``factor`` is not a finite number > 0 or the state has no
            learning rate.

    Example:
        >>> state = scale_learning_rate(scale_by_learning_rate(0.1).init({}), 0.5)
        >>> float(state.learning_rate), current_learning_rate(state)
        (0.05, 0.05)
    """
    factor = check_real(
        "factor",
        factor,
        low=0.0,
        low_open=True,
        fix="Use a multiplier such as 0.1 to reduce the learning rate.",
    )
    new_state, found = _map_learning_rate_states(
        opt_state,
        lambda state: state._replace(
            learning_rate=namespace(state.value).asarray(state.learning_rate * factor),
            value=namespace(state.value).asarray(state.value * factor),
        ),
    )
    if not found:
        raise _no_learning_rate(opt_state)
    return new_state


def set_learning_rate(opt_state: Any, learning_rate: Any) -> Any:
    """Return ``opt_state`` with the base learning rate set to ``learning_rate``.

    Takes effect from the next update. With a constant rate every later step uses
    exactly ``learning_rate``; with a decay, the decay continues from the new base
    (``lr = learning_rate * k**epoch`` for an exponential decay), as if the run had
    started with it. This is how a run is babysat: pause, lower the rate, continue.
    An array with one value per member sets a population's rates.

    Args:
        opt_state: Any optimizer state (nested tuples and NamedTuples).
        learning_rate: The new base rate (> 0), a number or an array.

    Returns:
        A new state; ``opt_state`` is not modified.

    Raises:
        ValueError: if ``learning_rate`` is not > 0 or the state has no learning rate.

    Example:
        >>> state = set_learning_rate(scale_by_learning_rate(0.1).init({}), 0.01)
        >>> float(state.learning_rate)
        0.01
    """
    rate = _learning_rate("learning_rate", learning_rate)

    def replace(state: LearningRateState) -> LearningRateState:
        old = state.learning_rate
        new = namespace(old).asarray(rate, dtype=old.dtype)
        if new.shape != old.shape:
            new = namespace(old).broadcast_to(new, old.shape)
        return state._replace(learning_rate=new)

    new_state, found = _map_learning_rate_states(opt_state, replace)
    if not found:
        raise _no_learning_rate(opt_state)
    return new_state


def current_learning_rate(opt_state: Any) -> float:
    """Return the learning rate of the last update (the first LearningRateState's).

    Before any update it is the rate of epoch 0, step 0.

    Args:
        opt_state: Any optimizer state (nested tuples and NamedTuples).

    Returns:
        The learning rate as a float (a NumPy array, one per member, for a
        population's stacked state).

    Raises:
        ValueError: if the state has no :class:`LearningRateState`.

    Example:
        >>> from nntune.optim import EmptyState
        >>> current_learning_rate((EmptyState(), scale_by_learning_rate(0.1).init({})))
        0.1
    """
    found = first_learning_rate_state(opt_state)
    if found is None:
        raise _no_learning_rate(opt_state)
    value = np.asarray(found.value)
    return float(value) if value.ndim == 0 else value  # type: ignore[return-value]


def base_learning_rate(opt_state: Any) -> float:
    """Return the schedule's base rate (what :func:`set_learning_rate` sets).

    For a constant rate it is the rate; with a decay, the rate of epoch ``e`` is the
    base times the decay at ``e``.

    Raises:
        ValueError: if the state has no :class:`LearningRateState`.

    Example:
        >>> state = scale_by_learning_rate(0.1).init({})
        >>> base_learning_rate(set_learning_rate(state, 0.01))
        0.01
    """
    found = first_learning_rate_state(opt_state)
    if found is None:
        raise _no_learning_rate(opt_state)
    value = np.asarray(found.learning_rate)
    return float(value) if value.ndim == 0 else value  # type: ignore[return-value]


def first_learning_rate_state(state: Any) -> LearningRateState | None:
    """The first :class:`LearningRateState` in an optimizer state, or None."""
    if isinstance(state, LearningRateState):
        return state
    if isinstance(state, tuple):
        for item in state:
            found = first_learning_rate_state(item)
            if found is not None:
                return found
    return None
