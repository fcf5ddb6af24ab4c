"""Reading a run directory of ``nntune train``: settings, metrics, history, model.

``config.toml`` and ``metrics.json`` give the settings and metrics; ``history.json``
(or, in older runs, ``history.csv`` plus ``checkpoint.json``) the curves. For the
decision boundary and the confusion matrix the run's data split is rebuilt from its
settings and ``model.safetensors`` is loaded again.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import read_json, read_toml
from ..training.history import History
from . import plots
from ._markup import _Figure

if TYPE_CHECKING:
    from ..data.datasets import Dataset

RUN_FILES = ("config.toml", "metrics.json", "history.csv")
"""The files that make a folder a run directory of ``nntune train``."""


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the settings (config.toml) and metrics (metrics.json) of a run.

    Raises:
        ValueError: if the folder is not a run directory or a file does not parse.
    """
    folder = Path(run_dir)
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        what = "does not exist" if not folder.exists() else f"has no {missing[0]}"
        raise ValueError(
            f"{folder} is not a run directory of `nntune train`: it {what}. Give the "
            "folder a finished run wrote (its --out), which holds "
            f"{', '.join(RUN_FILES)}."
        )
    try:
        settings = read_toml(folder / "config.toml")
        metrics = read_json(folder / "metrics.json")
    except ValueError as error:
        raise ValueError(f"{folder}: a run file does not parse: {error}") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{folder / 'metrics.json'} must hold a JSON object.")
    return settings, metrics


def read_history(run_dir: str | Path) -> History:
    """Return a run's history: history.json, else history.csv plus the checkpoint.

    Runs write ``history.json`` with the per-iteration costs. For a folder without it,
    the epochs come from ``history.csv`` and the batch costs from ``checkpoint.json``;
    ``iterations`` stays empty when that is missing, damaged or holds another number
    of epochs.

    Raises:
        ValueError: if neither history file can be read.
    """
    try:
        document = read_json(Path(run_dir) / "history.json")
        return History.from_dict(document)
    except (OSError, ValueError):
        pass  # an older run directory: fall back to the CSV
    path = Path(run_dir) / "history.csv"
    history = History()
    try:
        with path.open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                history.append({key: _cell(value) for key, value in row.items()})
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist; is this a run directory?") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a history CSV: {error}") from None
    try:
        saved = read_json(path.parent / "checkpoint.json")
        if len(saved["history"]["epochs"]) == history.epochs_run:
            history.iterations = [float(v) for v in saved["history"]["iterations"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # the curves are drawn without the batch costs
    return history


def _model_figures(
    folder: Path,
    settings: dict[str, Any],
    metrics: dict[str, Any],
    given: Dataset | None,
) -> list[_Figure]:
    """The decision boundary (2-D inputs) and confusion matrix of a classifier.

    A regression gets its predicted-vs-actual and residual plots instead.
    """
    from ..experiment.trial import TrainConfig, prepare_data, split_data
    from ..serialization import load_model

    regression = metrics.get("task") == "regression"
    try:
        config = TrainConfig.from_mapping(settings, source=str(folder / "config.toml"))
        if given is None:
            # Cached: drawn in the process that trained the run (nntune train), the
            # data file is not read and split a second time.
            prepared = prepare_data(config)
            data, split = prepared.dataset, prepared.split
        else:
            data, split = given, split_data(config, given)
        model = load_model(folder / "model")
        sizes = {name: len(getattr(split, name)) for name in ("train", "dev")}
        recorded = {k: (metrics.get(k) or {}).get("examples", 0) for k in sizes}
        if sizes != recorded:
            raise ValueError(f"it splits into {sizes}, the run had {recorded}")
    except (ValueError, TypeError, OSError) as error:
        reason = f"the run's data or model could not be loaded again: {error}"
        if regression:
            return [("predicted", "Predicted vs actual", _failing(reason), "")]
        return [("confusion", "Confusion matrix", _failing(reason), "")]
    if regression:
        return _regression_figures(model, data, split)
    classes = [str(name) for name in metrics.get("class_names") or data.class_names]
    figures: list[_Figure] = []
    if data.n_features == 2:
        X, y = data.X[split.train], data.y[split.train]
        kind = "most probable class"
        if model.threshold is not None:  # binary: where the predictions change
            kind = f"boundary p = {model.threshold:.3g} in black"
        draw = partial(plots.decision_boundary, model, X, y, class_names=classes)
        caption = f"The model's predictions over the input plane ({kind}); points: "
        shown = f"the {len(X)}" if len(X) <= 2000 else f"2,000 of the {len(X)}"
        caption += f"{shown} training examples by class."
        figures.append(("decision-boundary", "Decision boundary", draw, caption))
    name, rows = ("dev", split.dev) if len(split.dev) else ("training", split.train)
    labels = np.asarray(data.y[rows]).reshape(-1)
    predicted = np.asarray(model.predict(data.X[rows])).reshape(-1)
    title = f"Confusion matrix ({name} set)"
    caption = f"Counts of the {len(rows)} {name} examples by true class (rows) and "
    caption += "predicted class (columns); the diagonal is right "
    caption += f"({np.mean(labels == predicted):.2%})."
    draw = partial(plots.confusion_matrix, labels, predicted, classes, title=title)
    figures.append(("confusion", "Confusion matrix", draw, caption))
    if model.threshold is not None and len(np.unique(labels)) == 2:
        figures.append(_roc_figure(model, data.X[rows], labels, name))
    return figures


def _roc_figure(model: Any, X: Any, labels: Any, name: str) -> _Figure:
    """A binary classifier's ROC curve on the set of its confusion matrix."""
    from .classification import roc_plot

    scores = np.asarray(model.predict_proba(X), dtype=np.float64)[:, 1]
    title = f"ROC curve ({name} set)"
    draw = partial(roc_plot, labels, scores, threshold=model.threshold, title=title)
    caption = (
        f"The true-positive rate against the false-positive rate of the {len(labels)} "
        f"{name} examples as the threshold on P(class 1) falls from 1 to 0; the "
        "dot is the model's own threshold, the dashed line chance (AUC 0.5)."
    )
    return ("roc", "ROC curve", draw, caption)


def _regression_figures(model: Any, data: Dataset, split: Any) -> list[_Figure]:
    """Predicted vs actual and the residuals, on the dev set (else training)."""
    from . import plots_regression

    name, rows = ("dev", split.dev) if len(split.dev) else ("training", split.train)
    actual, predicted = data.y[rows], np.asarray(model.predict(data.X[rows]))
    first = " (the first target)" if np.ndim(actual) > 1 else ""
    caption = f"The model's prediction for each of the {len(rows)} {name} examples "
    caption += f"against its target{first}, in the target's units; on the dashed "
    caption += "line the prediction is exact."
    title = f"Predicted vs actual ({name} set)"
    draw = partial(plots_regression.predicted_vs_actual, actual, predicted, title=title)
    figures: list[_Figure] = [("predicted", "Predicted vs actual", draw, caption)]
    caption = "Prediction minus target against the prediction: errors that are noise "
    caption += "scatter evenly around 0; a curve or a funnel is a pattern the model "
    caption += "misses."
    title = f"Residuals ({name} set)"
    draw = partial(plots_regression.residuals, actual, predicted, title=title)
    return [*figures, ("residuals", "Residuals", draw, caption)]


def _failing(reason: str) -> Callable[[], bytes]:
    def draw() -> bytes:
        raise ValueError(reason)

    return draw


def _cell(text: str | None) -> int | float | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None
