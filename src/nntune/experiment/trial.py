"""Trials on prepared data: load and split once, then train configurations on it.

The workflow of every run, comparison, curve and (later) tuning trial:

1. :func:`prepare_data` loads the data set and splits it into train/dev/test (and
   train-dev) once; the result is cached, so trials with the same data settings
   share it.
2. :func:`train_trial` builds the model of a :class:`TrainConfig`, trains it on the
   prepared training rows and reports the dev metric after every epoch. It writes no
   file and never evaluates the test set.
3. The run writer (:mod:`nntune.experiment.rundir`) writes a run's folder; the test
   set is evaluated only when a final evaluation is asked for
   (:func:`evaluate_test`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..architectures import mlp
from ..data.augment import (
    Augment,
    GaussianNoise,
    HorizontalFlip,
    RandomRotation,
    RandomShift,
)
from ..data.datasets import DATASETS, Dataset, load_dataset
from ..data.io import load_file
from ..data.split import Split, train_dev_test_split
from ..losses import MeanSquaredError
from ..metrics.classification import model_metrics
from ..metrics.regression import regression_metrics
from ..model import Sequential
from ..optim import GradientTransformation, optimizer_from_name
from ..training import Callback, EarlyStopping, History, evaluate, fit
from .classification import check_classification_settings, set_threshold
from .config import (
    DECAYS,
    DEFAULT_LEARNING_RATES,
    TrainConfig,
    parse_layers,
)
from .decays import build_schedule, decay_callbacks

__all__ = [
    "DATA_SETTINGS",
    "DECAYS",
    "PreparedData",
    "TrainConfig",
    "TrialResult",
    "build_augment",
    "build_callbacks",
    "build_early_stopping",
    "build_model",
    "build_optimizer",
    "data_key",
    "evaluate_sets",
    "evaluate_test",
    "load_data",
    "parse_layers",
    "prepare_data",
    "split_data",
    "train_trial",
]

DATA_SETTINGS = (
    "data",
    "n_samples",
    "target",
    "x_key",
    "y_key",
    "task",
    "dev",
    "test",
    "train_dev",
    "seed",
    "data_seed",
    "split_seed",
)
"""The settings that change the prepared data (the data set or its split)."""


def load_data(config: TrainConfig) -> Dataset:
    """The data set named by ``config.data``: a built-in name or a file path."""
    if config.data in DATASETS:
        return load_dataset(
            config.data, n_samples=config.n_samples, seed=config.seed_for("data")
        )
    return load_file(
        config.data,
        target=config.target,
        task=config.task,
        x_key=config.x_key,
        y_key=config.y_key,
    )


def build_optimizer(
    config: TrainConfig, train_examples: int | None = None
) -> GradientTransformation:
    """The optimizer and learning-rate schedule of ``config``.

    ``train_examples`` (the training rows of an epoch) is needed by
    ``warmup_cosine``, which counts optimizer steps (:mod:`.decays`).
    """
    rate = config.learning_rate
    if rate is None:
        rate = DEFAULT_LEARNING_RATES.get(config.optimizer, 0.001)
    return optimizer_from_name(
        config.optimizer,
        learning_rate=build_schedule(config, rate, train_examples),
        beta=config.beta,
        beta1=config.beta1,
        beta2=config.beta2,
        eps=config.epsilon,
        weight_decay=config.weight_decay,
        clip_norm=config.clip_norm,
    )


def build_callbacks(config: TrainConfig) -> list[Callback]:
    """The callbacks ``config`` asks for: early stopping, a plateau's rate cuts."""
    chosen = decay_callbacks(config)
    if config.early_stopping:
        chosen.insert(0, build_early_stopping(config))
    return chosen


def build_early_stopping(config: TrainConfig) -> EarlyStopping:
    """Early stopping on the dev cost with ``config``'s patience and ``min_delta``."""
    return EarlyStopping(
        "dev_cost", patience=config.patience, min_delta=config.min_delta or 0.0
    )


def build_augment(config: TrainConfig, data: Dataset) -> Augment | None:
    """The augmentation of ``config.augment`` for image data, or None.

    The spec is a comma-separated list: ``flip[:probability]``, ``shift[:pixels]``,
    ``rotate[:degrees]``, ``noise[:std]``, e.g. ``"flip,shift:2,rotate:10"``.

    Raises:
        ValueError: for an unknown transform or data without an image shape.
    """
    if not config.augment:
        return None
    if data.image_shape is None:
        raise ValueError(
            f"augmentation works on images, and {data.name} has no image shape; "
            "use it with image data (e.g. digits, or an HDF5 file of images)."
        )
    makers: dict[str, Callable[[float | None], Any]] = {
        "flip": lambda v: HorizontalFlip(0.5 if v is None else v),
        "shift": lambda v: RandomShift(1 if v is None else int(v)),
        "rotate": lambda v: RandomRotation(10.0 if v is None else v),
        "noise": lambda v: GaussianNoise(0.05 if v is None else v),
    }
    transforms = []
    for part in config.augment.split(","):
        name, _, value = part.strip().partition(":")
        if name not in makers:
            raise ValueError(
                f"unknown augmentation {name!r}; expected flip, shift, rotate or "
                "noise, each optionally with ':value' (e.g. shift:2)."
            )
        try:
            number = float(value) if value else None
        except ValueError:
            raise ValueError(
                f"augmentation {part!r}: ':{value}' is not a number."
            ) from None
        transforms.append(makers[name](number))
    height, width, *rest = data.image_shape
    channels = rest[0] if rest else 1  # grey images are (H, W)
    return Augment(*transforms, image_shape=(height, width, channels))


def split_data(config: TrainConfig, data: Dataset) -> Split:
    """The train/dev/test (and train-dev) split of ``config``, stratified by class."""
    return train_dev_test_split(
        data.y,
        dev=config.dev,
        test=config.test,
        train_dev=config.train_dev,
        stratify=data.task != "regression",
        seed=config.seed_for("split"),
    )


def build_model(
    config: TrainConfig, data: Dataset, X_train: Any, y_train: Any = None
) -> Sequential:
    """The network of ``config`` for ``data``; its standardizers fit the training rows.

    The input standardizer (``config.standardize``) fits ``X_train``; a regression
    model's targets are standardized with the statistics of ``y_train``
    (:meth:`~nntune.MeanSquaredError.standardized`), so that its predictions come
    back in the target's units while it learns targets of mean 0 and variance 1.

    Raises:
        ValueError: for a regression without ``y_train``.
    """
    outputs = data.n_classes if data.task == "multiclass" else None
    if data.task == "regression":
        outputs = 1 if data.y.ndim == 1 else data.y.shape[1]
        if y_train is None:
            raise ValueError(
                "build_model needs the training targets y_train for a regression: "
                "the model standardizes its targets with their statistics."
            )
    model = mlp(
        config.layers,
        task=data.task,
        outputs=outputs,
        activation=config.activation,
        init=config.init,
        batch_norm=config.batch_norm,
        keep_prob=config.keep_prob,
        l2=config.l2,
        l1=config.l1 or 0.0,
        standardize=config.standardize,
        batch_norm_momentum=config.batch_norm_momentum,
    ).init(data.n_features, seed=config.seed_for("init"), dtype=config.dtype)
    if config.standardize:
        model.adapt(X_train)
    if data.task == "regression":
        model.loss = MeanSquaredError.standardized(y_train)
    return model


def evaluate_sets(
    model: Sequential, data: Dataset, sets: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Cost, accuracy (classification) and size of each non-empty set of rows.

    A regression set also gets its RMSE, MAE and R² in the target's units
    (:func:`~nntune.metrics.regression.regression_metrics`); its cost is in
    standardized units. Pass the test rows only for a final evaluation (see
    :func:`evaluate_test`).
    """
    metrics: dict[str, dict[str, Any]] = {}
    for name, indices in sets.items():
        if len(indices):
            x, targets = model.prepare(data.X[indices], data.y[indices])
            cost, accuracy = evaluate(model, model.params, model.state, x, targets)
            metrics[name] = {"cost": cost, "examples": len(indices)}
            if accuracy is not None:
                metrics[name]["accuracy"] = accuracy
            if model.loss.task == "regression":
                predicted = model.predict(data.X[indices])
                metrics[name].update(regression_metrics(data.y[indices], predicted))
            else:  # precision, recall, F1 per class and macro; ROC AUC if binary
                rows = data.X[indices], data.y[indices], data.class_names
                metrics[name].update(model_metrics(model, *rows))
    return metrics


@dataclass
class PreparedData:
    """A data set with its split: what every trial with these data settings shares.

    Attributes:
        dataset: the loaded data set (all rows).
        split: the row indices of train, dev, test and train-dev.
        key: the data settings it was prepared from.
    """

    dataset: Dataset
    split: Split
    key: tuple[Any, ...]

    def rows(self, name: str) -> Any:
        """The row indices of ``train``, ``dev``, ``train_dev`` or ``test``."""
        return getattr(self.split, name)

    def arrays(self, name: str) -> tuple[Any, Any]:
        """``(X, y)`` of a set of rows."""
        rows = self.rows(name)
        return self.dataset.X[rows], self.dataset.y[rows]


_PREPARED: dict[tuple[Any, ...], PreparedData] = {}
_CACHE_SIZE = 4


def data_key(config: TrainConfig) -> tuple[Any, ...]:
    """The key of ``config``'s data settings (the effective seeds, not ``seed``)."""
    key = [getattr(config, name) for name in DATA_SETTINGS]
    key[DATA_SETTINGS.index("data_seed")] = config.seed_for("data")
    key[DATA_SETTINGS.index("split_seed")] = config.seed_for("split")
    key[DATA_SETTINGS.index("seed")] = None  # only the effective seeds matter
    return tuple(key)


def prepare_data(config: TrainConfig, *, cache: bool = True) -> PreparedData:
    """Load and split the data of ``config`` once; reuse it for the same settings.

    Only the data settings (:data:`DATA_SETTINGS`) matter: trials that differ in
    anything else share one :class:`PreparedData`. A data file is read again when
    it changed on disk (its size and modification time are part of the key).

    Raises:
        ValueError: for an unknown data set or an unreadable file.
    """
    key = data_key(config)
    if config.data not in DATASETS:
        try:
            stat = Path(config.data).stat()
            key = (*key, stat.st_size, stat.st_mtime_ns)
        except OSError:
            pass  # load_file reports the missing file
    if cache and key in _PREPARED:
        return _PREPARED[key]
    dataset = load_data(config)
    prepared = PreparedData(dataset, split_data(config, dataset), key)
    if cache:
        if len(_PREPARED) >= _CACHE_SIZE:
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = prepared
    return prepared


@dataclass
class TrialResult:
    """What one trial produced: the model, its history and train/dev metrics.

    ``dev_curve`` is the dev metric after every epoch (accuracy for classifiers,
    cost for regression); ``train`` and ``dev`` hold ``cost``, ``examples`` and, for
    classifiers, ``accuracy``. There is never a test metric here.
    """

    config: TrainConfig
    model: Sequential
    history: History
    train: dict[str, Any]
    dev: dict[str, Any]
    seconds: float
    dev_curve: list[float] = field(default_factory=list)

    @property
    def metric(self) -> str:
        """The name of the dev metric: ``accuracy`` or ``cost``."""
        return "cost" if self.model.loss.task == "regression" else "accuracy"


def train_trial(
    config: TrainConfig,
    data: PreparedData,
    callbacks: Sequence[Callback] = (),
    *,
    train_rows: Any = None,
    progress: str = "silent",
    sample_weight: Any = None,
) -> TrialResult:
    """Train the model of ``config`` on ``data``'s training rows; never the test set.

    The settings of ``config`` are all used: the architecture, the optimizer and its
    schedule, regularization, the seeds (weights, shuffles, dropout). A config whose
    data settings differ from ``data``'s is refused, so a trial can never train on
    one split and be scored on another.

    Args:
        config: the settings of the trial.
        data: prepared by :func:`prepare_data` with the same data settings.
        callbacks: extra callbacks (a checkpoint, a pruner, gradient health).
        train_rows: a subset of the training rows (learning curves); default all.
        progress: ``"silent"`` (default), ``"auto"``, ``"rich"`` or ``"plain"``.
        sample_weight: a weight per row of ``data`` (its training rows' weigh the
            loss, times ``config.class_weight``'s; see :func:`~nntune.fit`).

    Raises:
        ValueError: when ``config``'s data settings differ from ``data``'s.
    """
    if data_key(config) != data.key[: len(DATA_SETTINGS)]:
        raise ValueError(
            "train_trial: the config's data settings (data, split, seeds) differ from "
            "those the data were prepared with; call prepare_data(config) for it."
        )
    started = time.perf_counter()
    dataset = data.dataset
    train = data.split.train if train_rows is None else np.asarray(train_rows)
    dev = data.split.dev
    X_train = dataset.X[train]  # one copy of the training rows, not two
    class_weight = check_classification_settings(config, dataset)
    model = build_model(config, dataset, X_train, dataset.y[train])
    history = fit(
        model,
        X_train,
        dataset.y[train],
        optimizer=build_optimizer(config, len(train)),
        epochs=config.epochs,
        batch_size=config.batch_size,
        dev=(dataset.X[dev], dataset.y[dev]) if len(dev) else None,
        callbacks=[*build_callbacks(config), *callbacks],
        seed=config.seed_for("shuffle"),
        progress=progress,
        augment=build_augment(config, dataset),
        backend=config.backend,
        sample_weight=_rows_of(sample_weight, train),
        class_weight=class_weight,
    )
    set_threshold(config, model, dataset, train, dev)
    metrics = evaluate_sets(model, dataset, {"train": train, "dev": dev})
    column = "dev_cost" if model.loss.task == "regression" else "dev_accuracy"
    curve = [v for v in history.column(column) if v is not None]
    return TrialResult(
        config=config,
        model=model,
        history=history,
        train=metrics.get("train", {}),
        dev=metrics.get("dev", {}),
        seconds=time.perf_counter() - started,
        dev_curve=curve,
    )


def _rows_of(values: Any, rows: Any) -> Any:
    return None if values is None else np.asarray(values)[rows]


def evaluate_test(model: Sequential, data: PreparedData) -> dict[str, Any]:
    """The final evaluation on the test set: call it once, for the chosen model."""
    return evaluate_sets(model, data.dataset, {"test": data.split.test}).get("test", {})
