"""A training run from a flat configuration: data, split, model, optimizer, run folder.

This is what ``nntune train`` does, available from Python: :class:`TrainConfig` holds
every setting (the same names as the command's flags and the TOML config keys) and
:func:`run_training` trains, writes the run directory and returns the metrics::

    runs/<name>/config.toml      every setting, to reproduce the run
    runs/<name>/model.safetensors + model.json
    runs/<name>/history.csv      per-epoch train/dev cost and accuracy, learning rate
    runs/<name>/metrics.json     final train/dev/test metrics, epochs, timings
    runs/<name>/checkpoint.*     the latest checkpoint (a rerun resumes from it)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._files import atomic_write_text
from .architectures import mlp
from .config import (
    DECAYS,
    DEFAULT_DECAY_RATES,
    DEFAULT_LEARNING_RATES,
    TrainConfig,
    parse_layers,
)
from .data.augment import (
    Augment,
    GaussianNoise,
    HorizontalFlip,
    RandomRotation,
    RandomShift,
)
from .data.datasets import DATASETS, Dataset, load_dataset
from .data.io import load_file
from .data.split import Split, split_warnings, train_dev_test_split
from .diagnosis import diagnose
from .model import Sequential
from .optim import optimizer_from_name, schedule_from_name
from .serialization import save_model
from .training import (
    Callback,
    Checkpoint,
    EarlyStopping,
    GradientHealth,
    History,
    evaluate,
    fit,
    gradient_health,
)

__all__ = [
    "DECAYS",
    "RunResult",
    "TrainConfig",
    "build_augment",
    "build_model",
    "build_optimizer",
    "evaluate_sets",
    "load_data",
    "parse_layers",
    "run_training",
    "split_data",
    "train_model",
]


@dataclass
class RunResult:
    """What a run produced: the model, its history and the final metrics."""

    model: Sequential
    history: History
    metrics: dict[str, Any]
    run_dir: Path


def load_data(config: TrainConfig) -> Dataset:
    """The data set named by ``config.data``: a built-in name or a file path."""
    if config.data in DATASETS:
        return load_dataset(config.data, n_samples=config.n_samples, seed=config.seed)
    return load_file(
        config.data,
        target=config.target,
        task=config.task,
        x_key=config.x_key,
        y_key=config.y_key,
    )


def build_optimizer(config: TrainConfig) -> Any:
    """The optimizer and learning-rate schedule of ``config``."""
    rate = config.learning_rate
    if rate is None:
        rate = DEFAULT_LEARNING_RATES.get(config.optimizer, 0.001)
    options: dict[str, Any] = {}
    decay_rate = config.decay_rate
    if decay_rate is None:
        decay_rate = DEFAULT_DECAY_RATES.get(config.decay, 1.0)
    if config.decay == "interval":
        options = {"decay_rate": decay_rate, "interval": config.decay_interval}
    elif config.decay == "inverse_time":
        options = {"decay_rate": decay_rate}
    elif config.decay in ("exponential", "inverse_sqrt"):
        options = {"k": decay_rate}
    schedule = (
        schedule_from_name(config.decay, rate, **options)
        if config.decay != "none"
        else rate
    )
    return optimizer_from_name(
        config.optimizer,
        learning_rate=schedule,
        beta=config.beta,
        beta1=config.beta1,
        beta2=config.beta2,
        eps=config.epsilon,
        weight_decay=config.weight_decay,
        clip_norm=config.clip_norm,
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
    height, width, channels = data.image_shape
    return Augment(*transforms, image_shape=(height, width, channels))


def split_data(config: TrainConfig, data: Dataset) -> Split:
    """The train/dev/test (and train-dev) split of ``config``, stratified by class."""
    return train_dev_test_split(
        data.y,
        dev=config.dev,
        test=config.test,
        train_dev=config.train_dev,
        stratify=data.task != "regression",
        seed=config.seed,
    )


def build_model(config: TrainConfig, data: Dataset, X_train: Any) -> Sequential:
    """The network of ``config`` for ``data``; its standardizer fits ``X_train``."""
    outputs = data.n_classes if data.task == "multiclass" else None
    if data.task == "regression":
        outputs = 1 if data.y.ndim == 1 else data.y.shape[1]
    model = mlp(
        config.layers,
        task=data.task,
        outputs=outputs,
        activation=config.activation,
        init=config.init,
        batch_norm=config.batch_norm,
        keep_prob=config.keep_prob,
        l2=config.l2,
        standardize=config.standardize,
    ).init(data.n_features, seed=config.seed, dtype=config.dtype)
    if config.standardize:
        model.adapt(X_train)
    return model


def train_model(
    config: TrainConfig,
    data: Dataset,
    train: Any,
    dev: Any,
    *,
    callbacks: Sequence[Callback] = (),
    progress: str = "silent",
) -> tuple[Sequential, History]:
    """Build and train the model of ``config`` on rows ``train``, watching ``dev``."""
    model = build_model(config, data, data.X[train])
    chosen = list(callbacks)
    if config.early_stopping:
        chosen.insert(0, EarlyStopping("dev_cost", patience=config.patience))
    history = fit(
        model,
        data.X[train],
        data.y[train],
        optimizer=build_optimizer(config),
        epochs=config.epochs,
        batch_size=config.batch_size,
        dev=(data.X[dev], data.y[dev]) if len(dev) else None,
        callbacks=chosen,
        seed=config.seed,
        progress=progress,
        augment=build_augment(config, data),
    )
    return model, history


def evaluate_sets(
    model: Sequential, data: Dataset, sets: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Cost, accuracy (classification) and size of each non-empty set of rows."""
    metrics: dict[str, dict[str, Any]] = {}
    for name, indices in sets.items():
        if len(indices):
            x, targets = model.prepare(data.X[indices], data.y[indices])
            cost, accuracy = evaluate(model, model.params, model.state, x, targets)
            metrics[name] = {"cost": cost, "examples": len(indices)}
            if accuracy is not None:
                metrics[name]["accuracy"] = accuracy
    return metrics


def run_training(
    config: TrainConfig, *, progress: str = "auto", report: bool = True
) -> RunResult:
    """Split the data, build and train the model, write the run directory.

    A rerun with the same settings and folder resumes from the checkpoint there (and,
    when the run had finished, only reports it); another run's checkpoint is refused.
    """
    started = time.perf_counter()
    data = load_data(config)
    split = split_data(config, data)
    run_dir = config.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    every = config.checkpoint_every or max(1, config.epochs // 50)
    checkpoint = Checkpoint(
        run_dir / "checkpoint", every=every, fingerprint=config.fingerprint()
    )
    atomic_write_text(run_dir / "config.toml", _toml(config.settings()))
    sample = split.train[:256]
    health = GradientHealth(
        data.X[sample], data.y[sample], every=max(1, config.epochs // 10)
    )
    model, history = train_model(
        config,
        data,
        split.train,
        split.dev,
        callbacks=[health, checkpoint],
        progress=progress,
    )
    metrics: dict[str, Any] = evaluate_sets(
        model,
        data,
        {
            "train": split.train,
            "train_dev": split.train_dev,
            "dev": split.dev,
            "test": split.test,
        },
    )
    metrics.update(
        {
            "epochs_run": history.epochs_run,
            "best_epoch": _best_epoch(history),
            "restored_best": history.best_epoch is not None,
            "resumed_from_epoch": checkpoint.resumed_from,
            "task": data.task,
            "class_names": list(data.class_names),
            "seconds": time.perf_counter() - started,
            "run_dir": str(run_dir),
            "warnings": split_warnings(
                data.y[split.dev],
                data.y[split.test],
                data.X[split.dev],
                data.X[split.test],
            ),
        }
    )
    final_health = gradient_health(model, data.X[sample], data.y[sample])
    metrics["gradient_health"] = {
        "final": final_health.to_dict(),
        "verdict_by_epoch": {
            str(epoch): report.verdict
            for epoch, report in sorted(health.reports.items())
        },
    }
    if "accuracy" in metrics.get("train", {}) and "accuracy" in metrics.get("dev", {}):
        # Human-level error unknown here: 0 (Bayes error ~ 0); `nntune diagnose RUN
        # --human-error` redoes it with a better estimate.
        def error(name: str) -> float | None:
            accuracy = metrics.get(name, {}).get("accuracy")
            return None if accuracy is None else 1 - accuracy

        metrics["diagnosis"] = diagnose(
            train_error=1 - metrics["train"]["accuracy"],
            dev_error=1 - metrics["dev"]["accuracy"],
            train_dev_error=error("train_dev"),
            test_error=error("test"),
            settings=config.settings(),
            examples={
                name: metrics[name]["examples"]
                for name in ("train", "train_dev", "dev", "test")
                if name in metrics
            },
            gradient_health=(final_health.verdict, list(final_health.suggestions)),
        ).to_dict()
    model.metadata = {
        "task": data.task,
        "class_names": list(data.class_names),
        "data": config.data,
        "fingerprint": config.fingerprint(),
    }
    save_model(model, run_dir / "model")
    history.to_csv(run_dir / "history.csv")
    history.to_json(run_dir / "history.json")  # with the per-iteration costs
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if report:
        _write_report(run_dir, metrics)
    return RunResult(model, history, metrics, run_dir)


def _write_report(run_dir: Path, metrics: dict[str, Any]) -> None:
    from .report.html import write_run_report  # imports matplotlib only to draw

    try:
        metrics["report"] = str(write_run_report(run_dir))
    except ValueError as error:  # matplotlib missing: the run itself is complete
        metrics.setdefault("warnings", []).append(f"no report.html: {error}")
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def _best_epoch(history: History) -> int | None:
    if history.best_epoch is not None:
        return history.best_epoch
    costs = history.column("dev_cost")
    if not costs or costs[0] is None:
        costs = history.column("train_cost")
    if not costs:
        return None
    return int(np.nanargmin(np.asarray(costs, dtype=float))) + 1


def _toml(settings: dict[str, Any]) -> str:
    import tomli_w

    return (
        "# nntune train settings: nntune train --config config.toml reproduces the "
        "run\n" + tomli_w.dumps(settings)
    )
