"""Trials that share an architecture, trained as one population.

A search's trials often differ only in values a training state holds per model: the
learning rate, ``l2``, ``keep_prob`` and the weights' seed. Such trials train as one
population (:func:`nntune.population.fit_population`): one batched pass instead of
one run each, every member ending with the weights, history and metrics of its
separate :func:`~nntune.experiment.trial.train_trial`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

from ..population import fit_population
from .classification import check_classification_settings, set_threshold
from .config import DEFAULT_LEARNING_RATES, TrainConfig
from .trial import (
    PreparedData,
    TrialResult,
    build_early_stopping,
    build_model,
    build_optimizer,
    data_key,
    evaluate_sets,
    prepare_data,
    train_trial,
)

__all__ = ["MEMBER_SETTINGS", "population_key", "train_population", "train_trials"]

MEMBER_SETTINGS = ("learning_rate", "l2", "keep_prob", "init_seed", "out", "threshold")
"""Settings in which the members of one population may differ (``keep_prob`` only
between values below 1: a network has dropout layers or it has not; ``threshold``
is set on each member after training)."""


def population_key(config: TrainConfig) -> tuple[Any, ...] | None:
    """What the trials of one population must share.

    None for a trial that trains alone: an augmentation draws per model, and a
    plateau decay lowers each model's rate when its own dev cost stalls.

    Example:
        >>> a = TrainConfig(learning_rate=0.01, l2=0.1)
        >>> population_key(a) == population_key(TrainConfig(learning_rate=0.2))
        True
        >>> population_key(a) == population_key(TrainConfig(layers=(3,)))
        False
    """
    if config.augment is not None or config.decay == "plateau":
        return None  # each member draws its own augmentation; cuts its own rate
    values = {
        name: value
        for name, value in dataclasses.asdict(config).items()
        if name not in MEMBER_SETTINGS
    }
    values["init_seed"] = None  # the weights' seed is the member's own
    values["dropout"] = config.keep_prob < 1
    values["shuffle"] = config.seed_for("shuffle")  # the members share mini-batches
    return tuple(sorted((name, repr(value)) for name, value in values.items()))


def train_population(
    configs: Sequence[TrainConfig], data: PreparedData
) -> list[TrialResult]:
    """Train ``configs`` (one :func:`population_key`) as one population.

    Each result is what :func:`~nntune.experiment.trial.train_trial` returns for
    that config alone (the same weights up to rounding); its ``seconds`` is its
    share of the pass.

    Raises:
        ValueError: for configs of different keys or other data settings than
            ``data``'s.
    """
    keys = {population_key(config) for config in configs}
    if len(keys) != 1 or None in keys:
        raise ValueError(
            "train_population trains configs that differ only in "
            f"{MEMBER_SETTINGS}; these differ in more (or augment their data)."
        )
    if any(data_key(c) != data.key[: len(data_key(c))] for c in configs):
        raise ValueError(
            "train_population: the configs' data settings differ from those the "
            "data were prepared with; call prepare_data(config) for them."
        )
    started = time.perf_counter()
    first = configs[0]
    dataset, train, dev = data.dataset, data.split.train, data.split.dev
    X_train = dataset.X[train]
    class_weight = check_classification_settings(first, dataset)
    model = build_model(first, dataset, X_train, dataset.y[train])
    members = []
    for config in configs:
        member: dict[str, Any] = {
            "learning_rate": _rate(config),
            "l2": config.l2,
            "init_seed": config.seed_for("init"),
            "seed": config.seed_for("shuffle"),
        }
        if config.keep_prob < 1:
            member["keep_prob"] = config.keep_prob
        members.append(member)
    result = fit_population(
        model,
        X_train,
        dataset.y[train],
        members=members,
        optimizer=build_optimizer(first, len(train)),
        epochs=first.epochs,
        batch_size=first.batch_size,
        dev=(dataset.X[dev], dataset.y[dev]) if len(dev) else None,
        seed=first.seed_for("shuffle"),
        early_stopping=build_early_stopping(first) if first.early_stopping else None,
        backend=first.backend,
        class_weight=class_weight,
    )
    share = (time.perf_counter() - started) / len(configs)
    found = []
    for config, history, state in zip(
        configs, result.histories, result.states, strict=True
    ):
        own = build_model(config, dataset, X_train, dataset.y[train])
        own.params, own.state = state.params, state.model_state
        set_threshold(config, own, dataset, train, dev)
        metrics = evaluate_sets(own, dataset, {"train": train, "dev": dev})
        column = "dev_cost" if own.loss.task == "regression" else "dev_accuracy"
        found.append(
            TrialResult(
                config=config,
                model=own,
                history=history,
                train=metrics.get("train", {}),
                dev=metrics.get("dev", {}),
                seconds=share,
                dev_curve=[v for v in history.column(column) if v is not None],
            )
        )
    return found


def train_trials(
    configs: Sequence[TrainConfig], data: PreparedData | None = None
) -> list[TrialResult]:
    """Train each config as :func:`~nntune.experiment.trial.train_trial` would.

    Configs that share a :func:`population_key` and their data train as one
    population; the others, and a member whose cost stopped being finite (alone it
    raises :class:`~nntune.TrainingDivergedError`), train alone. The results come
    in the order of ``configs``.

    Args:
        configs: the trials' settings.
        data: prepared data for all of them (default: prepared per data settings).
    """
    prepared: dict[Any, PreparedData] = {}

    def data_for(config: TrainConfig) -> PreparedData:
        if data is not None:
            return data
        key = data_key(config)
        if key not in prepared:
            prepared[key] = prepare_data(config)
        return prepared[key]

    groups: dict[Any, list[int]] = {}
    for index, config in enumerate(configs):
        key = population_key(config)
        group = (key, data_key(config)) if key is not None else ("alone", index)
        groups.setdefault(group, []).append(index)
    results: dict[int, TrialResult] = {}
    for members in groups.values():
        chosen = [configs[i] for i in members]
        found = (
            train_population(chosen, data_for(chosen[0]))
            if len(members) > 1
            else [train_trial(chosen[0], data_for(chosen[0]))]
        )
        for index, result in zip(members, found, strict=True):
            if not all(math.isfinite(c) for c in result.history.iterations):
                result = train_trial(configs[index], data_for(configs[index]))
            results[index] = result
    return [results[index] for index in range(len(configs))]


def _rate(config: TrainConfig) -> float:
    if config.learning_rate is not None:
        return float(config.learning_rate)
    return float(DEFAULT_LEARNING_RATES.get(config.optimizer, 0.001))
