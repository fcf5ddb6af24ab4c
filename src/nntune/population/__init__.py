"""Populations: K models that share an architecture, trained in one batched pass.

Every layer, loss, regularizer and optimizer of nntune works on a leading stack axis
(shared/ARCHITECTURE.md, "the population axis"), so a population is nothing but a
:class:`~nntune.TrainState` whose every leaf has one more leading axis of size ``K``:
the members' parameters, optimizer states, counters, random keys and per-member
hyperparameters (learning rate, ``l2``, ``keep_prob``...). The same pure train step
(:func:`~nntune.make_train_step`) then trains all members at once: NumPy runs stacked
matrix products, and the JAX backend compiles that stacked step (one call per epoch).

:func:`fit_population` trains a population on shared mini-batches; each member ends
with exactly the weights of its separate run (:func:`nntune.fit` from the member's
:class:`~nntune.TrainState` with the same shuffle seed), up to rounding.
"""

from __future__ import annotations

import copy
import functools
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..backend.accelerated import check_backend, precision
from ..backend.blas import blas_threads
from ..data.batches import minibatch_indices
from ..model import Sequential
from ..normalization import BatchNorm
from ..optim import GradientTransformation
from ..sample_weights import weigh_targets
from ..training import EarlyStopping, History, TrainState
from ..training.fit import largest_product
from ..training.history import COLUMNS
from ..trees import stack, unstack
from .engines import make_engine

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
        # Each member's own optimizer state: an optimizer's init may read the
        # weights (weight averaging, lookahead), so it is not shared.
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
    early_stopping: EarlyStopping | None = None,
    backend: str = "numpy",
    train_metrics: str = "running",
    sample_weight: Any = None,
    class_weight: Any = None,
) -> PopulationResult:
    """Train one model per member of ``members`` together, in one batched pass.

    All members see the same mini-batches (shuffled with ``seed``, as :func:`fit`
    does); they differ in their weights (``init_seed``), dropout key (``seed``) and
    hyperparameters (``learning_rate``, ``l2``, ``l1``, ``keep_prob``; any other
    optimizer hyperparameter, such as ``beta1``, when the optimizer is built with
    :func:`~nntune.optim.inject_hyperparams`). Each member's history has the rows
    :func:`fit` would record; a member whose cost stops being finite records
    non-finite costs (NaN on NumPy; on JAX its state stays at its last finite step)
    without stopping the others.

    With ``early_stopping``, each member stops on its own, exactly when its separate
    run with that callback would: its history ends there and its final state is
    that of its stop (its best epoch's weights with ``restore_best``). The others
    train on; the batched pass ends when every member has stopped.

    Args:
        model: the shared architecture (initialised or not; only its layers, loss
            and, when built, its input statistics are used).
        X: training inputs.
        y: training labels or targets.
        members: one mapping per member, e.g. ``{"learning_rate": 0.01, "l2": 0.1,
            "keep_prob": 0.8, "init_seed": 3}``.
        optimizer: the optimizer (its per-member learning rate comes from the
            member; its other hyperparameters are shared unless injected). Leave
            out gradient clipping: its global norm would be taken over all members
            together.
        epochs: passes over the training set.
        batch_size: examples per mini-batch.
        dev: optional ``(X_dev, y_dev)`` evaluated after every epoch.
        seed: the seed of the shuffles (and of every member without its own).
        early_stopping: an :class:`~nntune.EarlyStopping` whose settings every
            member follows on its own.
        backend: ``"numpy"`` (stacked matrix products) or ``"jax"`` (the same
            stacked step, each epoch compiled; on a GPU when JAX has one).
        train_metrics: ``"running"`` (the mean of the mini-batches' metrics, as
            :func:`fit` records them by default) or ``"full"`` (the whole training
            set evaluated after every epoch).
        sample_weight: a weight per training row, shared by every member, as
            in :func:`~nntune.fit`.
        class_weight: ``"balanced"`` or ``{class index: weight}``, as in
            :func:`~nntune.fit`.

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
    check_backend(backend)
    if train_metrics not in ("running", "full"):
        raise ValueError(
            f"train_metrics must be 'running' or 'full' for a population; got "
            f"{train_metrics!r}."
        )
    full = train_metrics == "full"
    found = _members(members, seed)
    if not model.built:
        raise ValueError(
            "fit_population needs an initialised model (model.init(in_features)); "
            "each member then draws its own weights with its init_seed."
        )
    x, labels = model.prepare(X, y)
    targets: Any = weigh_targets(
        labels, model.loss.task, sample_weight=sample_weight, class_weight=class_weight
    )
    dev_data = model.prepare(*dev) if dev is not None else None
    states = member_states(model, optimizer, found, int(model.in_features or 0))
    histories = [History() for _ in found]
    records: list[_Epoch] = []
    watch = _Watch(early_stopping, len(found))
    min_last = 2 if any(isinstance(layer, BatchNorm) for layer in model.layers) else 1
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        precision(backend),
        blas_threads(largest_product(model, batch_size)),
    ):
        engine = make_engine(backend, model, optimizer, len(found))
        population = engine.put(stack(states))
        data = engine.put((x, targets))
        dev_put = engine.put(dev_data) if dev_data is not None else None
        # Without early stopping nothing is decided between epochs: the JAX engine
        # then runs several in one call.
        at_once = engine.together(data, dev_put, full) if early_stopping is None else 1
        epoch = 0
        while epoch < epochs and not watch.all_stopped:
            count = at_once if epochs - epoch >= at_once else 1
            plans = [
                list(
                    minibatch_indices(
                        x.shape[0],
                        batch_size,
                        np.random.default_rng([seed, e]),
                        min_last,
                    )
                )
                for e in range(epoch, epoch + count)
            ]
            population, outcomes = engine.epochs(
                population, epoch, data, dev_put, plans, full
            )
            for costs, train, dev_found, rates in outcomes:
                record = _Epoch(
                    np.asarray(costs, dtype=np.float64),
                    _columns(train, dev_found, np.atleast_1d(rates), len(found)),
                    time.perf_counter() - started,
                )
                records.append(record)
                watch.update(
                    record.columns, epoch, functools.partial(engine.host, population)
                )
                epoch += 1
        final_population = engine.host(population)
    _histories(histories, records, watch.stopped_at)
    final = watch.finals(final_population, epochs)
    for index, (history, state) in enumerate(zip(histories, final, strict=True)):
        history.train_state = state
        history.best_epoch = watch.best_epoch[index]
    return PopulationResult(found, final, histories, time.perf_counter() - started)


_METRICS = ("train_cost", "train_accuracy", "dev_cost", "dev_accuracy")


class _Epoch(NamedTuple):
    """One epoch of every member: step costs ``(steps, K)``, metric columns, time."""

    costs: Any
    columns: dict[str, list[Any]]
    seconds: float


def _columns(
    train: tuple[Any, Any], dev: tuple[Any, Any] | None, rates: Any, count: int
) -> dict[str, list[Any]]:
    """The epoch's metrics, one list of K values per history column."""
    dev_cost, dev_accuracy = dev if dev is not None else (None, None)
    values = (*train, dev_cost, dev_accuracy)
    found = {}
    for name, column in zip(_METRICS, values, strict=True):
        found[name] = (
            [None] * count
            if column is None
            else np.broadcast_to(np.asarray(column, np.float64), (count,)).tolist()
        )
    found["learning_rate"] = np.broadcast_to(
        np.asarray(rates, np.float64)[: count if len(rates) == count else 1], (count,)
    ).tolist()
    return found


def _histories(
    histories: list[History], records: list[_Epoch], stopped_at: list[int | None]
) -> None:
    """Fill each member's history from the epochs' columns, up to its stop."""
    if not records:
        return
    costs = np.stack([record.costs for record in records])  # (epochs, steps, K)
    # Each column as one tuple of values per member, then rows of COLUMNS order.
    per_member = {
        name: list(zip(*(record.columns[name] for record in records), strict=True))
        for name in (*_METRICS, "learning_rate")
    }
    epochs = range(1, len(records) + 1)
    seconds = [record.seconds for record in records]
    for index, history in enumerate(histories):
        last = stopped_at[index] or len(records)
        history.iterations.extend(costs[:last, :, index].ravel().tolist())
        values = {name: column[index] for name, column in per_member.items()}
        columns = [
            epochs if name == "epoch" else seconds if name == "time" else values[name]
            for name in COLUMNS
        ]
        history.epochs.extend(
            dict(zip(COLUMNS, row, strict=True))
            for row in itertools.islice(zip(*columns, strict=True), last)
        )


def _available(columns: dict[str, list[Any]]) -> dict[str, Any]:
    """The columns computed this epoch (for the error naming what is available)."""
    return {name: 0.0 for name, values in columns.items() if values[0] is not None}


class _Watch:
    """Each member's early stopping: the rule of one EarlyStopping, per member."""

    def __init__(self, template: EarlyStopping | None, count: int) -> None:
        self.template = template
        self.best: list[float | None] = [None] * count
        self.best_epoch: list[int | None] = [None] * count
        self.wait = [0] * count
        self.best_states: list[TrainState | None] = [None] * count
        self.stopped: list[TrainState | None] = [None] * count
        self.stopped_at: list[int | None] = [None] * count

    @property
    def all_stopped(self) -> bool:
        return all(epoch is not None for epoch in self.stopped_at)

    def update(self, columns: dict[str, list[Any]], epoch: int, host: Any) -> None:
        """Apply the rule to this epoch's columns (``host()``: the stacked state)."""
        if self.template is None:
            return
        rule, patience = self.template.rule, self.template.patience
        snapshot: Any = None
        values = columns.get(rule.monitor) or [None] * len(self.best)
        for index, value in enumerate(values):
            if self.stopped_at[index] is not None:
                continue
            current = rule.value({**_available(columns), rule.monitor: value})
            improved = rule.is_improvement(current, self.best[index])
            if improved:
                self.best[index], self.best_epoch[index] = current, epoch + 1
                self.wait[index] = 0
            else:
                self.wait[index] += 1
            if improved or self.wait[index] >= patience:
                snapshot = host() if snapshot is None else snapshot
                state = unstack(snapshot, index)
            if improved:
                self.best_states[index] = state
            elif self.wait[index] >= patience:
                self.stopped[index] = state._replace(
                    epoch=np.asarray(epoch + 1, dtype=np.int32)
                )
                self.stopped_at[index] = epoch + 1

    def finals(self, population: TrainState, epochs: int) -> list[TrainState]:
        """Each member's final state: at its stop, its best weights if asked."""
        count = len(self.best)
        final = []
        for index in range(count):
            state = self.stopped[index]
            if state is None:
                state = unstack(population, index)._replace(
                    epoch=np.asarray(epochs, dtype=np.int32)
                )
            best = self.best_states[index]
            if self.template is not None and self.template.restore_best and best:
                state = state._replace(params=best.params, model_state=best.model_state)
            final.append(state)
        return final
