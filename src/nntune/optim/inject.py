"""Hyperparameters that live in the optimizer state: change them mid-run, per member.

``inject_hyperparams(adam)(learning_rate=0.01, beta1=0.9)`` builds the same optimizer
as ``adam(...)`` but keeps its numeric hyperparameters (``beta1``, ``beta2``, ``eps``,
``weight_decay``...) as arrays in its state, so :func:`set_hyperparams` changes them in
a live state (babysitting a run), and a stacked population holds one value per member.
The learning rate always lives in the state (:class:`~nntune.optim.LearningRateState`),
with or without this wrapper. This is optax's ``inject_hyperparams`` idea.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any, NamedTuple

from .._validation import is_array
from ..backend import Array, Params, namespace
from .learning_rate import set_learning_rate
from .transforms import PACKABLE, GradientTransformation, counter

__all__ = ["InjectHyperparamsState", "inject_hyperparams", "set_hyperparams"]


class InjectHyperparamsState(NamedTuple):
    """The injected hyperparameters (0-d or ``(K,)`` arrays) and the inner state."""

    hyperparams: dict[str, Array]
    inner_state: Any


def _injectable(name: str, value: Any) -> bool:
    if name == "learning_rate" or isinstance(value, bool):
        return False
    return is_array(value) or isinstance(value, Real)


def inject_hyperparams(
    factory: Callable[..., GradientTransformation],
) -> Callable[..., GradientTransformation]:
    """Wrap an optimizer factory so its numeric hyperparameters live in its state.

    Args:
        factory: An optimizer factory such as :func:`~nntune.optim.adam`.

    Returns:
        A factory with the same arguments whose optimizer's state is an
        :class:`InjectHyperparamsState`.

    Example:
        >>> import numpy as np
        >>> from nntune.optim import adam
        >>> optimizer = inject_hyperparams(adam)(learning_rate=0.1, beta1=0.9)
        >>> state = optimizer.init({"dense_0": {"b": np.zeros(2)}})
        >>> state = set_hyperparams(state, beta1=0.5, learning_rate=0.01)
        >>> float(state.hyperparams["beta1"])
        0.5
    """

    def build(**hyperparams: Any) -> GradientTransformation:
        factory(**hyperparams)  # validates every value once, with its message
        injected = {k: v for k, v in hyperparams.items() if _injectable(k, v)}
        fixed = {k: v for k, v in hyperparams.items() if k not in injected}

        def init(params: Params) -> InjectHyperparamsState:
            xp = namespace(counter(params))
            values = {name: xp.asarray(value) for name, value in injected.items()}
            inner = factory(**fixed, **injected).init(params)
            return InjectHyperparamsState(values, inner)

        def update(
            updates: Params, state: InjectHyperparamsState, params: Params | None = None
        ) -> tuple[Params, InjectHyperparamsState]:
            inner = factory(**fixed, **state.hyperparams)
            new_updates, inner_state = inner.update(updates, state.inner_state, params)
            return new_updates, InjectHyperparamsState(state.hyperparams, inner_state)

        built = GradientTransformation(init, update)
        if factory(**hyperparams).update in PACKABLE:
            PACKABLE.add(built.update)  # the same steps, hyperparameters as arrays
        return built

    return build


def set_hyperparams(opt_state: Any, **values: Any) -> Any:
    """Return ``opt_state`` with hyperparameters changed, from the next update on.

    ``learning_rate`` goes to :func:`~nntune.optim.set_learning_rate`; the others to
    the :class:`InjectHyperparamsState` that holds them.

    Raises:
        ValueError: for a hyperparameter the state does not hold.
    """
    values = dict(values)
    if "learning_rate" in values:
        opt_state = set_learning_rate(opt_state, values.pop("learning_rate"))
    if not values:
        return opt_state
    found: set[str] = set()

    def replace(state: Any) -> Any:
        if isinstance(state, InjectHyperparamsState):
            hyperparams = dict(state.hyperparams)
            for name, value in values.items():
                if name in hyperparams:
                    old = hyperparams[name]
                    new = namespace(old).asarray(value, dtype=old.dtype)
                    hyperparams[name] = new
                    found.add(name)
            return state._replace(hyperparams=hyperparams)
        if isinstance(state, tuple):
            items = [replace(item) for item in state]
            return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
        return state

    new_state = replace(opt_state)
    missing = sorted(set(values) - found)
    if missing:
        raise ValueError(
            f"the optimizer state holds no hyperparameter {', '.join(missing)}; only "
            "the learning rate lives in every state. Build the optimizer with "
            "nntune.optim.inject_hyperparams(factory)(...) to change the others."
        )
    return new_state
