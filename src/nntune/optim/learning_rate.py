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

from ..backend import Params
from .ewa import _check_real, tree_map
from .schedules import Schedule, constant
from .transforms import GradientTransformation

__all__ = [
    "LearningRateState",
    "current_learning_rate",
    "scale_by_learning_rate",
    "scale_learning_rate",
    "set_epoch",
]


class LearningRateState(NamedTuple):
    """Where :func:`scale_by_learning_rate` is in its schedule.

    Attributes:
        step: Updates made so far (the schedule's ``step`` for the next update).
        epoch: The current epoch, set by :func:`set_epoch` (counted from 0).
        factor: A multiplier of the schedule, changed by :func:`scale_learning_rate`.
        value: The learning rate of the last update (before any update: the rate of
            epoch 0, step 0).
    """

    step: int
    epoch: int
    factor: float
    value: float


def scale_by_learning_rate(learning_rate: float | Schedule) -> GradientTransformation:
    """Multiply by ``-learning_rate`` (the minus sign makes it a descent step).

    ``lr = factor * schedule(epoch, step)``, output ``-lr * u``. ``step`` counts this
    transformation's updates from 0, ``epoch`` is set by :func:`set_epoch` and
    ``factor`` (1 at first) by :func:`scale_learning_rate`. A float is a constant
    schedule.

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
        >>> out["dense_0"]["b"], state
        (array([-1.]), LearningRateState(step=1, epoch=0, factor=1.0, value=0.5))
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
        return LearningRateState(step=0, epoch=0, factor=1.0, value=value)

    def update(
        updates: Params, state: LearningRateState, params: Params | None = None
    ) -> tuple[Params, LearningRateState]:
        # float() keeps float32 updates float32 if a schedule returns a NumPy scalar.
        rate = state.factor * float(schedule(state.epoch, state.step))
        new_state = state._replace(step=state.step + 1, value=rate)
        return tree_map(lambda u: -rate * u, updates), new_state

    return GradientTransformation(init, update)


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

    The training loop calls it at the start of each epoch (epochs counted from 0) so
    that per-epoch schedules use the right epoch. A state with no learning rate is
    returned unchanged.

    Args:
        opt_state: Any optimizer state (nested tuples and NamedTuples).
        epoch: The epoch about to start (an integer >= 0).

    Returns:
        A new state; ``opt_state`` is not modified.

    Raises:
        ValueError: if ``epoch`` is not an integer >= 0.

    Example:
        >>> state = scale_by_learning_rate(0.1).init({})
        >>> set_epoch((state,), 3)
        (LearningRateState(step=0, epoch=3, factor=1.0, value=0.1),)
    """
    number: object = epoch  # checked at run time: configs and callers may pass floats
    if isinstance(number, bool) or not isinstance(number, Integral) or number < 0:
        raise ValueError(
            f"epoch must be an integer >= 0 (epochs are counted from 0); got {epoch!r}."
        )
    new_epoch = int(epoch)
    new_state, _ = _map_learning_rate_states(
        opt_state, lambda state: state._replace(epoch=new_epoch)
    )
    return new_state


def scale_learning_rate(opt_state: Any, factor: float) -> Any:
    """Return ``opt_state`` with its learning rate multiplied by ``factor``.

    Multiplies the ``factor`` of every :class:`LearningRateState`, so the schedule
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
        >>> state.factor, current_learning_rate(state)
        (0.5, 0.05)
    """
    factor = _check_real(
        "factor",
        factor,
        low=0.0,
        low_open=True,
        fix="Use a multiplier such as 0.1 to reduce the learning rate.",
    )
    new_state, found = _map_learning_rate_states(
        opt_state,
        lambda state: state._replace(
            factor=state.factor * factor, value=state.value * factor
        ),
    )
    if not found:
        raise _no_learning_rate(opt_state)
    return new_state


def current_learning_rate(opt_state: Any) -> float:
    """Return the learning rate of the last update (the first LearningRateState's).

    Before any update it is the rate of epoch 0, step 0.

    Args:
        opt_state: Any optimizer state (nested tuples and NamedTuples).

    Returns:
        The learning rate as a float.

    Raises:
        ValueError: if the state has no :class:`LearningRateState`.

    Example:
        >>> from nntune.optim import EmptyState
        >>> current_learning_rate((EmptyState(), scale_by_learning_rate(0.1).init({})))
        0.1
    """
    found = _first_learning_rate_state(opt_state)
    if found is None:
        raise _no_learning_rate(opt_state)
    return float(found.value)


def _first_learning_rate_state(state: Any) -> LearningRateState | None:
    if isinstance(state, LearningRateState):
        return state
    if isinstance(state, tuple):
        for item in state:
            found = _first_learning_rate_state(item)
            if found is not None:
                return found
    return None
