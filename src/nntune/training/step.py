"""``make_train_step``: one optimizer step as a pure function of a training state.

``step(train_state, x, targets) -> (train_state, cost)`` does no I/O, no host
synchronisation and no Python branch on array values, so ``jax.jit(step)`` compiles it
and ``jax.vmap`` maps it over a stacked population; on NumPy it is the same code run
eagerly. ``x`` and ``targets`` are what :meth:`nntune.Sequential.prepare` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import namespace
from ..backend.random import fold_in
from ..model import Sequential
from ..optim import GradientTransformation, apply_updates, set_epoch
from .evaluation import accuracy
from .state import TrainState

__all__ = ["TrainStep", "make_metered_step", "make_train_step"]

TrainStep = Callable[[TrainState, Any, Any], tuple[TrainState, Any]]


def make_train_step(model: Sequential, optimizer: GradientTransformation) -> TrainStep:
    """Return the pure train step of ``model`` trained by ``optimizer``.

    One step: draw the step's key ``fold_in(key, step)``, give the optimizer the epoch
    (per-epoch schedules), compute the training-mode cost and gradients (dropout on,
    batch statistics, regularization from the state's hyperparameters), update the
    parameters, and count the step. The cost is that of the parameters before the
    update (one per member for a stacked population).

    Args:
        model: the architecture (its loss and layers); its arrays are not used.
        optimizer: the gradient transformation whose state the training state holds.

    Returns:
        ``step(train_state, x, targets) -> (new_train_state, cost)``.

    Example:
        >>> import nntune
        >>> data = nntune.load_dataset("moons", n_samples=64)
        >>> model = nntune.mlp([5]).init(2, seed=0)
        >>> optimizer = nntune.adam(0.01)
        >>> step = nntune.make_train_step(model, optimizer)
        >>> state = nntune.TrainState.create(model, optimizer, seed=0)
        >>> x, targets = model.prepare(data.X, data.y)
        >>> for _ in range(3):
        ...     state, cost = step(state, x, targets)
        >>> int(state.step), float(cost) > 0
        (3, True)
    """
    step = _step(model, optimizer, metered=False)

    def train_step(
        train_state: TrainState, x: Any, targets: Any
    ) -> tuple[TrainState, Any]:
        new_state, cost, _ = step(train_state, x, targets)
        return new_state, cost

    return train_step


Update = Callable[[Any, Any, Any], tuple[Any, Any]]
"""``update(grads, opt_state, params) -> (new_params, new_opt_state)``."""


def make_metered_step(
    model: Sequential,
    optimizer: GradientTransformation,
    update: Update | None = None,
    *,
    epoch_preset: bool = False,
) -> Any:
    """The train step that also returns the mini-batch's loss and accuracy.

    ``step(train_state, x, targets) -> (new_train_state, cost, (loss, accuracy))``:
    the training-mode loss without the penalty and the fraction of rows classified
    right (None for regression), read from the step's own forward pass; a loop
    averages them over an epoch's mini-batches (its running metrics).

    ``update`` replaces the optimizer's pure update and :func:`apply_updates` (the
    NumPy runner's in-place update of a packed state,
    :class:`~nntune.training.packed.InPlaceUpdate`); it must give the same numbers.
    With ``epoch_preset`` the step leaves the optimizer's epoch as the state has it:
    the caller runs :func:`~nntune.optim.set_epoch` once for a whole epoch of steps.
    """
    return _step(
        model, optimizer, metered=True, update=update, epoch_preset=epoch_preset
    )


def _step(
    model: Sequential,
    optimizer: GradientTransformation,
    *,
    metered: bool,
    update: Update | None = None,
    epoch_preset: bool = False,
) -> Any:
    stochastic = any(layer.stochastic for layer in model.layers)

    def pure_update(grads: Any, opt_state: Any, params: Any) -> tuple[Any, Any]:
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return apply_updates(params, updates), opt_state

    apply = pure_update if update is None else update

    def step(train_state: TrainState, x: Any, targets: Any) -> Any:
        # Only a model that draws (dropout) needs the step's key.
        key = fold_in(train_state.key, train_state.step) if stochastic else None
        opt_state = train_state.opt_state
        if not epoch_preset:
            opt_state = set_epoch(opt_state, train_state.epoch)
        found = model.train_pass(
            train_state.params,
            train_state.model_state,
            x,
            targets,
            key=key,
            hyperparams=train_state.hyperparams,
        )
        params, opt_state = apply(found.grads, opt_state, train_state.params)
        new_state = train_state._replace(
            params=params,
            model_state=found.state,
            opt_state=opt_state,
            step=namespace(train_state.step).asarray(train_state.step + 1),
        )
        if not metered:
            return new_state, found.cost, None
        metrics = (found.loss, accuracy(model, found.logits, targets))
        return new_state, found.cost, metrics

    return step
