"""Use a trained run: evaluate it on labelled data, predict on new inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data.datasets import Dataset
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


def class_names(model: Sequential) -> list[str]:
    """The class names the model was trained with ("0".."K-1" when unknown)."""
    names = model.metadata.get("class_names")
    if names:
        return [str(name) for name in names]
    count = 2 if model.loss.task == "binary" else int(model.n_outputs or 0)
    return [str(index) for index in range(count)]


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


def evaluate_model(model: Sequential, data: Dataset) -> dict[str, Any]:
    """Cost, accuracy and confusion matrix (rows: true class) on ``data``."""
    labels = _model_labels(model, data)
    x, targets = model.prepare(data.X, labels)
    cost, accuracy = evaluate(model, model.params, model.state, x, targets)
    result: dict[str, Any] = {"examples": len(labels), "cost": cost}
    if accuracy is None:
        return result
    names = class_names(model)
    predicted = np.asarray(model.loss.predict(model.logits(data.X)))
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    result.update(
        {
            "accuracy": accuracy,
            "class_names": names,
            "confusion_matrix": matrix.tolist(),
        }
    )
    return result


def predict(model: Sequential, X: Any) -> tuple[np.ndarray[Any, Any], Any]:
    """Predicted class names (values for regression) and class probabilities."""
    if model.loss.task == "regression":
        values = np.asarray(model.predict(X))
        return (values[:, 0] if values.shape[1] == 1 else values), None
    names = np.array(class_names(model))
    return names[np.asarray(model.predict(X))], np.asarray(model.predict_proba(X))
