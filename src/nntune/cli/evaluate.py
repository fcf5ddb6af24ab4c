"""``nntune evaluate`` and ``nntune predict``: use a trained run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from . import main

_RUN = click.Path(exists=True, file_okay=False, path_type=Path)


@main.command()
@click.argument("run_dir", type=_RUN)
@click.option(
    "--data",
    required=True,
    help="Built-in dataset or a labelled data file (.csv, .parquet, .npy, .npz, .h5).",
)
@click.option("--target", help="Label column of a CSV/Parquet file (default: last).")
@click.option("--x-key", help="Features dataset of an HDF5/.npz file.")
@click.option("--y-key", help="Labels dataset of an HDF5/.npz file.")
@click.option(
    "--n-samples", type=click.IntRange(min=2), help="Examples of a built-in dataset."
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of a generated built-in dataset.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="Print nothing.")
def evaluate(
    run_dir: Path,
    data: str,
    target: str | None,
    x_key: str | None,
    y_key: str | None,
    n_samples: int | None,
    seed: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Evaluate the model of RUN_DIR on labelled data: cost, accuracy, confusion.

    The model standardizes its inputs itself, with the training set's statistics.
    A classifier also shows precision, recall and F1 per class with their macro
    averages, a binary one its ROC AUC and decision threshold. A regression shows
    RMSE, MAE and R² in the target's units (its cost is in the standardized units
    it was trained in).
    """
    from ..data.datasets import DATASETS
    from ..experiment.trial import TrainConfig, load_data
    from ..inference import evaluate_model, load_run_model

    model = load_run_model(run_dir)
    builtin = data in DATASETS
    # The model's own task and label column, not guesses from the new file.
    task = None if builtin else model.metadata.get("task")
    if target is None and not builtin and x_key is None and y_key is None:
        target = model.metadata.get("target")
    config = TrainConfig(
        data=data,
        target=target,
        task=task,
        x_key=x_key,
        y_key=y_key,
        n_samples=n_samples,
        seed=seed,
    )
    result = evaluate_model(model, load_data(config))
    for note in result.get("notes", []):
        click.echo(f"Note: {note}", err=True)
    if as_json:
        click.echo(json.dumps(result))
    elif not quiet:
        _print_evaluation(result)


def _print_evaluation(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    line = f"{result['examples']} examples, cost {result['cost']:.4f}"
    if "accuracy" in result:
        line += f", accuracy {result['accuracy']:.4f}"
    if "r2" in result:  # a regression: in the target's units
        line += " (standardized targets)"
        line += f", RMSE {result['rmse']:.4g}, MAE {result['mae']:.4g}"
        line += f", R² {result['r2']:.4f}"
    console.print(line)
    if "confusion_matrix" in result:
        table = Table(title="Confusion matrix (rows: true class, columns: predicted)")
        table.add_column("")
        names = result["class_names"]
        for name in names:
            table.add_column(name, justify="right")
        for name, row in zip(names, result["confusion_matrix"], strict=True):
            table.add_row(name, *map(str, row))
        console.print(table)
    if "per_class" in result:  # precision, recall and F1 as scikit-learn prints them
        from ..metrics.classification import format_classification_report

        text = format_classification_report(result)
        console.print(text, markup=False, highlight=False)


@main.command()
@click.argument("run_dir", type=_RUN)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Features to predict on (.csv, .parquet, .npy, .npz, .h5).",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write predictions: .csv (with p_<class> columns) or .npz.",
)
@click.option("--target", help="A label column in the input to ignore.")
@click.option("--x-key", help="Features dataset of an HDF5/.npz input.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@click.option("--quiet", is_flag=True, help="Print nothing.")
def predict(
    run_dir: Path,
    input_path: Path,
    output_path: Path,
    target: str | None,
    x_key: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Predict with the model of RUN_DIR and write the predictions to a file."""
    from ..data.features import load_features, save_predictions
    from ..inference import class_names, load_run_model, predict

    model = load_run_model(run_dir)
    notes: list[str] = []
    names = model.metadata.get("feature_names")
    X = load_features(
        input_path,
        int(model.in_features or 0),
        target=target if target is not None else model.metadata.get("target"),
        x_key=x_key,
        feature_names=[str(name) for name in names] if names else None,
        notes=notes,
    )
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    labels, probabilities = predict(model, X)
    names = class_names(model) if probabilities is not None else None
    written = save_predictions(output_path, labels, probabilities, names)
    summary: dict[str, Any] = {"predictions": len(labels), "output": str(written)}
    if probabilities is not None:
        values, counts = np.unique(labels, return_counts=True)
        summary["counts"] = {
            str(v): int(c) for v, c in zip(values, counts, strict=True)
        }
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet:
        click.echo(f"wrote {len(labels)} predictions to {written}")
