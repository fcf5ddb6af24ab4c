"""Populations: K models that share an architecture, trained in one batched pass.

Every layer, loss, regularizer and optimizer of nntune works on a leading stack axis
(shared/ARCHITECTURE.md, "the population axis"), so a population is nothing but a
:class:`~nntune.TrainState` whose every leaf has one more leading axis of size ``K``:
the members' parameters, optimizer states, counters, random keys and per-member
hyperparameters (learning rate, ``l2``, ``keep_prob``...). The same pure train step
(:func:`~nntune.make_train_step`) then trains all members at once: NumPy runs stacked
matrix products, and ``jax.vmap`` maps the step over the stack.

:func:`fit_population` trains a population on shared mini-batches; each member ends
with exactly the weights of its separate run (:func:`nntune.fit` from the member's
:class:`~nntune.TrainState` with the same shuffle seed), up to rounding.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batches import minibatch_indices
from ..model import Sequential
from ..normalization import BatchNorm
from ..optim import GradientTransformation, current_learning_rate
from ..training import History, TrainState, make_train_step
from ..training.evaluation import evaluate_arrays
from ..trees import stack, unstack

__all__ = ["Member", "PopulationResult", "fit_population", "member_states", "stack"]

_MEMBER_KEYS = frozenset(
    {"learning_rate", "l2", "l1", "keep_prob", "init_seed", "seed", "name"}
)


@dataclass(frozen=True)
class Member:
    """One member's settings: its seeds and hyperparameters (None: the model's)."""

    name: str
    init_seed: int
    seed: int
    hyperparams: dict[str, float]


@dataclass
class PopulationResult:
    """The members' final states and histories, in the order given."""

    members: list[Member]
    states: list[TrainState]
    histories: list[History]
    seconds: float


def _members(members: Sequence[Mapping[str, Any]], seed: int) -> list[Member]:
    if not members:
        raise ValueError("a population needs at least one member, e.g. [{}].")
    found = []
    for index, given in enumerate(members):
        unknown = sorted(set(given) - _MEMBER_KEYS)
        if unknown:
            raise ValueError(
                f"member {index} has unknown settings {unknown}; a member takes "
                f"{sorted(_MEMBER_KEYS)}."
            )
        hyperparams = {
            key: value
            for key, value in given.items()
            if key not in ("init_seed", "seed", "name")
        }
        found.append(
            Member(
                str(given.get("name", index)),
                int(given.get("init_seed", seed)),
                int(given.get("seed", seed)),
                hyperparams,
            )
        )
    return found


def member_states(
    model: Sequential,
    optimizer: GradientTransformation,
    members: Sequence[Member],
    in_features: int,
) -> list[TrainState]:
    """The starting :class:`~nntune.TrainState` of every member.

    Each member's weights are drawn with its ``init_seed``; a hyperparameter one
    member sets is held by every member (the model's value where not given), so the
    states stack.
    """
    names = sorted({name for m in members for name in m.hyperparams})
    states = []
    for member in members:
        own = copy.copy(model).init(
            in_features, seed=member.init_seed, dtype=model.dtype
        )
        own.state = _copy_state(model.state)  # the shared input statistics
        values: dict[str, Any] = {}
        for name in names:
            if name in member.hyperparams:
                values[name] = member.hyperparams[name]
            elif name != "learning_rate":
                values[name] = _model_value(model, name)
        state = TrainState.create(own, optimizer, seed=member.seed)
        states.append(state.with_hyperparams(**values))
    return states


def _copy_state(state: Any) -> Any:
    return {layer: dict(arrays) for layer, arrays in state.items()}


def _model_value(model: Sequential, name: str) -> float:
    if name in ("l2", "l1"):
        return float(getattr(model, name))
    rates = {layer.keep_prob for layer in model.layers if hasattr(layer, "keep_prob")}
    if len(rates) != 1:
        raise ValueError(
            "keep_prob per member needs a model whose Dropout layers share one "
            f"keep_prob; found {sorted(rates) or 'no Dropout layer'}."
        )
    return float(rates.pop())


def fit_population(
    model: Sequential,
    X: Any,
    y: Any,
    *,
    members: Sequence[Mapping[str, Any]],
    optimizer: GradientTransformation,
    epochs: int = 100,
    batch_size: int = 64,
    dev: tuple[Any, Any] | None = None,
    seed: int = 0,
) -> PopulationResult:
    """Train one model per member of ``members`` together, in one batched pass.

    All members see the same mini-batches (shuffled with ``seed``, as :func:`fit`
    does); they differ in their weights (``init_seed``), dropout key (``seed``) and
    hyperparameters (``learning_rate``, ``l2``, ``l1``, ``keep_prob``). Each member's
    history has the rows :func:`fit` would record; a member whose cost stops being
    finite records NaN without stopping the others.

    Args:
        model: the shared architecture (initialised or not; only its layers, loss
            and, when built, its input statistics are used).
        X: training inputs.
        y: training labels or targets.
        members: one mapping per member, e.g. ``{"learning_rate": 0.01, "l2": 0.1,
            "keep_prob": 0.8, "init_seed": 3}``.
        optimizer: the optimizer (its per-member learning rate comes from the
            member; its other hyperparameters are shared). Leave out gradient
            clipping: its global norm would be taken over all members together.
        epochs: passes over the training set.
        batch_size: examples per mini-batch.
        dev: optional ``(X_dev, y_dev)`` evaluated after every epoch.
        seed: the seed of the shuffles (and of every member without its own).

    Raises:
        ValueError: for unknown member settings or members that cannot stack.

    Example:
        >>> import nntune
        >>> from nntune.population import fit_population
        >>> data = nntune.load_dataset("moons", n_samples=64)
        >>> model = nntune.mlp([4], keep_prob=0.9).init(2, seed=0)
        >>> result = fit_population(
        ...     model, data.X, data.y, optimizer=nntune.adam(0.01), epochs=2,
        ...     members=[{"learning_rate": 0.01}, {"learning_rate": 0.1, "l2": 0.5}])
        >>> [h.epochs_run for h in result.histories]
        [2, 2]
    """
    started = time.perf_counter()
    found = _members(members, seed)
    if not model.built:
        raise ValueError(
            "fit_population needs an initialised model (model.init(in_features)); "
            "each member then draws its own weights with its init_seed."
        )
    x, labels = model.prepare(X, y)
    targets: Any = labels
    dev_data = model.prepare(*dev) if dev is not None else None
    states = member_states(model, optimizer, found, int(model.in_features or 0))
    population = stack(states)
    step = make_train_step(model, optimizer)
    histories = [History() for _ in found]
    min_last = 2 if any(isinstance(layer, BatchNorm) for layer in model.layers) else 1
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(epochs):
            population = population._replace(
                epoch=np.full(len(found), epoch, dtype=np.int32)
            )
            rng = np.random.default_rng([seed, epoch])
            costs = []
            for batch in minibatch_indices(x.shape[0], batch_size, rng, min_last):
                population, cost = step(population, x[batch], targets[batch])
                costs.append(np.asarray(cost))
            _record(model, population, histories, costs, x, targets, dev_data, epoch)
            for history in histories:
                history.epochs[-1]["time"] = time.perf_counter() - started
    population = population._replace(epoch=np.full(len(found), epochs, dtype=np.int32))
    final = [unstack(population, index) for index in range(len(found))]
    for history, state in zip(histories, final, strict=True):
        history.train_state = state
    return PopulationResult(found, final, histories, time.perf_counter() - started)


def _record(
    model: Sequential,
    population: TrainState,
    histories: list[History],
    costs: list[Any],
    x: Any,
    targets: Any,
    dev: tuple[Any, Any] | None,
    epoch: int,
) -> None:
    params, state = population.params, population.model_state
    train_cost, train_accuracy = evaluate_arrays(model, params, state, x, targets)
    dev_cost, dev_accuracy = (None, None)
    if dev is not None:
        dev_cost, dev_accuracy = evaluate_arrays(model, params, state, *dev)
    rates = np.atleast_1d(current_learning_rate(population.opt_state))
    batch_costs: Any = np.stack(costs, axis=1) if costs else None
    for index, history in enumerate(histories):
        if batch_costs is not None:
            history.iterations.extend(float(c) for c in batch_costs[index])
        history.append(
            {
                "epoch": epoch + 1,
                "train_cost": float(train_cost[index]),
                "train_accuracy": _item(train_accuracy, index),
                "dev_cost": _item(dev_cost, index),
                "dev_accuracy": _item(dev_accuracy, index),
                "learning_rate": float(rates[index % len(rates)]),
            }
        )


def _item(values: Any, index: int) -> float | None:
    return None if values is None else float(np.asarray(values)[index])
