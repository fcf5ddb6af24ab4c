"""``TrainState``: everything a training run carries from one step to the next.

A training state is a tree of arrays (a NamedTuple, so ``jax.jit`` and ``jax.vmap``
take it as it is): the parameters, the model's non-trainable state (batch-norm
running statistics), the optimizer state, the step and epoch counters as 0-d arrays,
the run's random key and the model-level hyperparameters that may change mid-run or
differ per member of a population (``l2``, ``l1``, ``keep_prob``). It is never changed
in place: :func:`nntune.make_train_step` returns a new one each step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_real
from ..backend import Array, Params, State, namespace
from ..backend.random import key as random_key
from ..model import Sequential
from ..optim import GradientTransformation, set_hyperparams

__all__ = ["MODEL_HYPERPARAMETERS", "TrainState"]

MODEL_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "l2": {"low": 0.0},
    "l1": {"low": 0.0},
    "keep_prob": {"low": 0.0, "high": 1.0, "low_open": True},
}
"""Hyperparameters of the model (not the optimizer) a training state may hold."""


class TrainState(NamedTuple):
    """The state of a training run (see the module docstring).

    Attributes:
        params: trainable parameters, ``{layer: {name: array}}``.
        model_state: non-trainable state (batch-norm running statistics).
        opt_state: the optimizer's state (its counters and learning rate included).
        step: optimizer steps taken, a 0-d int32 array.
        epoch: the current epoch (counted from 0), a 0-d int32 array.
        key: the run's random key (:mod:`nntune.backend.random`); step ``t`` draws
            its dropout masks from ``fold_in(key, t)``.
        hyperparams: model-level overrides, ``{"l2"|"l1"|"keep_prob": array}``;
            empty means the model's own values.

    Example:
        >>> import nntune
        >>> model = nntune.mlp([4]).init(2, seed=0)
        >>> state = nntune.TrainState.create(model, nntune.adam(0.01), seed=0)
        >>> int(state.step), int(state.epoch), sorted(state.params)
        (0, 0, ['dense_0', 'dense_2'])
    """

    params: Params
    model_state: State
    opt_state: Any
    step: Array
    epoch: Array
    key: Array
    hyperparams: dict[str, Array]

    @classmethod
    def create(
        cls,
        model: Sequential,
        optimizer: GradientTransformation,
        seed: int | np.random.RandomState = 0,
        hyperparams: Mapping[str, Any] | None = None,
    ) -> TrainState:
        """The starting state of ``model`` (initialised) trained by ``optimizer``.

        Args:
            model: an initialised model; its ``params`` and ``state`` are the start.
            optimizer: the gradient transformation whose state is created.
            seed: the seed of the run's random key (dropout masks); a legacy
                ``numpy.random.RandomState`` is the course's stream, a
                :class:`~nntune.backend.random.LegacyKey` (NumPy only).
            hyperparams: optional model-level values (``l2``, ``l1``, ``keep_prob``)
                held as arrays, so that they can change mid-run.

        Raises:
            ValueError: for an uninitialised model or an unknown hyperparameter.
        """
        model._require_built()
        zero = namespace(_first_leaf(model.params)).asarray(0, dtype="int32")
        xp = namespace(zero)
        state = cls(
            params=model.params,
            model_state=model.state,
            opt_state=optimizer.init(model.params),
            step=zero,
            epoch=zero,
            key=random_key(seed, xp),
            hyperparams={},
        )
        return state.with_hyperparams(**dict(hyperparams or {}))

    def with_epoch(self, epoch: int) -> TrainState:
        """A copy whose epoch counter is ``epoch`` (a 0-d int32 array)."""
        xp = namespace(self.step)
        return self._replace(epoch=xp.asarray(epoch, dtype=xp.int32))

    def with_hyperparams(self, **values: Any) -> TrainState:
        """A copy with hyperparameters changed from the next step on.

        ``learning_rate`` (and, for an optimizer built with
        :func:`~nntune.optim.inject_hyperparams`, its other hyperparameters) goes to
        the optimizer state; ``l2``, ``l1`` and ``keep_prob`` to :attr:`hyperparams`.

        Raises:
            ValueError: for a value out of range or a name nothing holds.

        Example:
            >>> import nntune
            >>> model = nntune.mlp([4]).init(2, seed=0)
            >>> state = nntune.TrainState.create(model, nntune.adam(0.01))
            >>> state = state.with_hyperparams(learning_rate=0.001, l2=0.1)
            >>> nntune.optim.current_learning_rate(state.opt_state) > 0, sorted(
            ...     state.hyperparams)
            (True, ['l2'])
        """
        model_values = {k: v for k, v in values.items() if k in MODEL_HYPERPARAMETERS}
        optimizer_values = {k: v for k, v in values.items() if k not in model_values}
        hyperparams = dict(self.hyperparams)
        xp = namespace(self.step)
        dtype = _first_leaf(self.params).dtype
        for name, value in model_values.items():
            check_real(name, value, **MODEL_HYPERPARAMETERS[name])
            hyperparams[name] = xp.asarray(value, dtype=dtype)
        opt_state = self.opt_state
        if optimizer_values:
            opt_state = set_hyperparams(opt_state, **optimizer_values)
        return self._replace(opt_state=opt_state, hyperparams=hyperparams)


def _first_leaf(params: Params) -> Array:
    for arrays in params.values():
        for array in arrays.values():
            return array
    raise ValueError("the model has no parameters to train; add a Dense layer.")
