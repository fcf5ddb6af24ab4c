"""Use a trained run: evaluate it on labelled data, predict on new inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from .data.datasets import Dataset
from .data.features import match_columns
from .metrics.classification import model_metrics
from .metrics.regression import regression_metrics
from .model import Sequential
from .serialization import load_model
from .training import evaluate


def load_run_model(run_dir: str | Path) -> Sequential:
    """The model of a run directory (``RUN/model.json`` + ``model.safetensors``).

    Raises:
        ValueError: when the folder holds no model.
    """
    folder = Path(run_dir)
    if not (folder / "model.json").exists():
        raise ValueError(
            f"{folder} holds no model.json; give the folder of an `nntune train` run."
        )
    return load_model(folder / "model")


def class_labels(model: Sequential) -> list[Any] | None:
    """The labels of a classifier's output columns, None for a regression model.

    They are the model's ``class_names`` metadata as saved (strings for a run, the
    estimator's own labels, ints or strings, for a saved estimator), else the
    integers ``0..K-1``.

    Raises:
        ValueError: when the metadata list the wrong number of classes, or labels
            that are not strings or numbers.
    """
    if model.loss.task == "regression":
        return None
    count = 2 if model.loss.task == "binary" else int(model.n_outputs or 0)
    names = model.metadata.get("class_names")
    if not names:
        return list(range(count))
    if (
        not isinstance(names, list)
        or len(names) != count
        or not all(isinstance(name, str | int | float) for name in names)
    ):
        raise ValueError(
            f"the model's metadata lists class names {names!r}, but its output has "
            f"{count} classes: its model.json was altered or belongs to another "
            "model. Restore the run's model files."
        )
    return list(names)


def class_names(model: Sequential) -> list[str]:
    """The class names the model was trained with ("0".."K-1" when unknown)."""
    return [str(label) for label in class_labels(model) or []]


def _model_labels(model: Sequential, data: Dataset) -> Any:
    if model.loss.task == "regression":
        return data.y
    names = class_names(model)
    index = {name: position for position, name in enumerate(names)}
    given = [str(data.class_names[code]) for code in data.y]
    unknown = sorted(set(given) - set(index))
    if unknown:
        raise ValueError(
            f"the data have classes {unknown[:5]} that the model was not trained on "
            f"(its classes: {names})."
        )
    return np.array([index[name] for name in given], dtype=np.int64)


def match_data(model: Sequential, data: Dataset) -> tuple[Dataset, str | None]:
    """``data`` with its feature columns in the model's order, matched by name.

    Data without column names (arrays) are used as they are.

    Raises:
        DataFileError: for missing or unknown feature columns.
    """
    trained = model.metadata.get("feature_names")
    if not trained or data.feature_names is None:
        return data, None
    positions, note = match_columns(
        list(data.feature_names),
        [str(n) for n in trained],
        data.target,
        Path(data.name),
    )
    matched = dataclasses.replace(
        data, X=data.X[:, positions], feature_names=tuple(trained)
    )
    return matched, note


def evaluate_model(model: Sequential, data: Dataset) -> dict[str, Any]:
    """Cost, accuracy and confusion matrix (rows: true class) on ``data``.

    A classifier also gets per-class precision, recall and F1 with their macro
    averages (:func:`~nntune.metrics.classification.classification_metrics`); a
    binary one its ROC AUC and the ``threshold`` its predictions use.

    A regression model gets ``mean_squared_error``, RMSE, MAE and R² in the
    target's units instead (:func:`~nntune.metrics.regression.regression_metrics`);
    its cost is in the standardized units it was trained in.
    """
    data, note = match_data(model, data)
    labels = _model_labels(model, data)
    x, targets = model.prepare(data.X, labels)
    cost, accuracy = evaluate(model, model.params, model.state, x, targets)
    result: dict[str, Any] = {"examples": len(labels), "cost": cost}
    if note is not None:
        result["notes"] = [note]
    if model.loss.task == "regression":
        values = np.asarray(model.predict(data.X), dtype=np.float64)
        residual = values - np.asarray(labels, dtype=np.float64).reshape(values.shape)
        result["mean_squared_error"] = float(np.mean(residual**2))
        result.update(regression_metrics(labels, values))
    if accuracy is None:
        return result
    names = class_names(model)
    result.update({"accuracy": accuracy, "class_names": names})
    result.update(model_metrics(model, data.X, labels, names))
    if model.threshold is not None:
        result["threshold"] = model.threshold
    return result


def check_finite_outputs(model: Sequential, outputs: Any) -> None:
    """Refuse NaN or infinite predictions, naming the cause.

    Raises:
        ValueError: when an output is not finite.
    """
    values = np.asarray(outputs, dtype=np.float64)
    bad = int(np.sum(~np.isfinite(values).all(axis=tuple(range(1, values.ndim)))))
    if not bad:
        return
    broken = sorted(
        f"{layer}/{name}"
        for layer, arrays in model.params.items()
        for name, array in arrays.items()
        if not np.all(np.isfinite(array))
    )
    cause = (
        f"its weights {broken[:4]} hold NaN or infinite values (the training diverged)"
        if broken
        else "the inputs are far outside the range the model was trained on"
    )
    raise ValueError(
        f"the model's output is NaN or infinite for {bad} of {len(values)} "
        f"example(s): {cause}. Retrain with a lower learning rate, or check the "
        "inputs; no predictions were written."
    )


def predict(model: Sequential, X: Any) -> tuple[np.ndarray[Any, Any], Any]:
    """Predicted class names (values for regression) and class probabilities.

    Raises:
        ValueError: when an output is NaN or infinite (see
            :func:`check_finite_outputs`).
    """
    logits = np.asarray(model.logits(X))
    check_finite_outputs(model, logits)
    if model.loss.task == "regression":  # in the target's units
        values = np.asarray(model.loss.predict(logits))
        return (values[:, 0] if values.shape[1] == 1 else values), None
    names = np.array(class_names(model))
    return names[np.asarray(model.predict(X))], np.asarray(model.predict_proba(X))
