"""``nntune train``: train a network from flags or a TOML config file."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..architectures import ACTIVATIONS
from . import EXIT_FAILED_CHECK, main, parse_layers_option

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam", "adamw")
DECAYS = ("none", "inverse_time", "exponential", "inverse_sqrt", "interval")


F = TypeVar("F", bound=Callable[..., Any])


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    # Every setting defaults to None so that "not given" can fall back to the config
    # file, then to TrainConfig's default.
    kwargs.setdefault("default", None)
    return click.option(*names, **kwargs)


TRAIN_OPTIONS = [
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML file of settings (keys as the flags: batch_size or batch-size); "
        "flags given on the command line override it.",
    ),
    _option(
        "--data",
        help="Built-in dataset (see `nntune datasets`) or a data file: .csv, "
        ".parquet, .npy, .npz, .h5/.hdf5.",
    ),
    _option(
        "--x-key", help="Features dataset of an HDF5/.npz file (e.g. train_set_x)."
    ),
    _option("--y-key", help="Labels dataset of an HDF5/.npz file (e.g. train_set_y)."),
    _option(
        "--n-samples",
        type=click.IntRange(min=2),
        help="Examples to generate or sample.",
    ),
    _option(
        "--target",
        help="Label column of a CSV/Parquet file (default: the last column).",
    ),
    _option(
        "--task",
        type=click.Choice(["binary", "multiclass", "regression"]),
        help="Task of a data file (default: inferred from the labels).",
    ),
    _option(
        "--layers",
        callback=parse_layers_option,
        help="Hidden layer sizes, comma-separated (default 10,5).",
    ),
    _option(
        "--activation",
        type=click.Choice(sorted(ACTIVATIONS)),
        help="Hidden activation (default relu).",
    ),
    _option(
        "--init",
        help="Initializer: zeros, random[:scale], xavier, glorot, he[:scale] (he).",
    ),
    _option(
        "--optimizer", type=click.Choice(OPTIMIZERS), help="Optimizer (default adam)."
    ),
    _option(
        "--learning-rate",
        type=click.FloatRange(min=0, min_open=True),
        help="Initial learning rate alpha (default 0.001; 0.01 for gd and momentum).",
    ),
    _option(
        "--beta",
        type=click.FloatRange(0, 1, max_open=True),
        help="Momentum's EWA coefficient (default 0.9).",
    ),
    _option(
        "--beta1",
        type=click.FloatRange(0, 1, max_open=True),
        help="Adam's first-moment coefficient (default 0.9).",
    ),
    _option(
        "--beta2",
        type=click.FloatRange(0, 1, max_open=True),
        help="Adam's / RMSprop's second-moment coefficient (default 0.999).",
    ),
    _option(
        "--epsilon",
        type=click.FloatRange(min=0, min_open=True),
        help="Adam's / RMSprop's epsilon (default 1e-8).",
    ),
    _option(
        "--weight-decay", type=click.FloatRange(min=0), help="AdamW's decoupled decay."
    ),
    _option(
        "--clip-norm",
        type=click.FloatRange(min=0, min_open=True),
        help="Clip gradients to this global L2 norm.",
    ),
    _option(
        "--decay",
        type=click.Choice(DECAYS),
        help="Learning-rate decay per epoch (default none): inverse_time "
        "lr0/(1+rate*epoch), exponential lr0*rate^epoch, inverse_sqrt "
        "lr0*rate/sqrt(epoch+1), interval lr0/(1+rate*floor(epoch/interval)).",
    ),
    _option(
        "--decay-rate",
        type=click.FloatRange(min=0),
        help="Rate of the decay: decay_rate of inverse_time and interval (default "
        "1), k of inverse_sqrt (1) and the base k of exponential (0.95).",
    ),
    _option(
        "--decay-interval",
        type=click.IntRange(min=1),
        help="Epochs per step of the interval decay (default 1000).",
    ),
    _option(
        "--batch-size",
        type=click.IntRange(min=1),
        help="Mini-batch size (default 64; 1 is SGD, >= the training set is batch GD).",
    ),
    _option("--epochs", type=click.IntRange(min=1), help="Epochs (default 100)."),
    _option(
        "--l2",
        type=click.FloatRange(min=0),
        help="L2 regularization lambda (default 0).",
    ),
    _option(
        "--keep-prob",
        type=click.FloatRange(0, 1, min_open=True),
        help="Dropout keep probability (default 1: no dropout).",
    ),
    _option(
        "--batch-norm/--no-batch-norm", help="Batch normalization after hidden layers."
    ),
    _option(
        "--standardize/--no-standardize",
        help="Standardize inputs with training-set statistics (default on).",
    ),
    _option(
        "--early-stopping/--no-early-stopping",
        help="Stop when the dev cost stops improving; keep the best weights.",
    ),
    _option(
        "--patience", type=click.IntRange(min=1), help="Early-stopping patience (10)."
    ),
    _option(
        "--dev",
        type=click.FloatRange(0, 1, max_open=True),
        help="Dev-set fraction (default 20%, at most 10,000 examples).",
    ),
    _option(
        "--test",
        type=click.FloatRange(0, 1, max_open=True),
        help="Test-set fraction (default 20%, at most 10,000 examples).",
    ),
    _option(
        "--train-dev",
        type=click.FloatRange(0, 1, max_open=True),
        help="Train-dev fraction held out of training (separates variance from data "
        "mismatch in the diagnosis; default none).",
    ),
    _option(
        "--augment",
        help="Image augmentation per training mini-batch: flip, shift[:pixels], "
        "rotate[:degrees], noise[:std], comma-separated (e.g. flip,shift:1).",
    ),
    _option(
        "--seed", type=int, help="Seed of the data, split, weights and shuffles (0)."
    ),
    _option(
        "--dtype",
        type=click.Choice(["float32", "float64"]),
        help="Precision (float32).",
    ),
    _option(
        "--checkpoint-every",
        type=click.IntRange(min=1),
        help="Epochs between checkpoints (default: epochs/50).",
    ),
    _option(
        "--out",
        help="Run directory (default runs/<data>-<settings hash>); a rerun "
        "with the same settings resumes from its checkpoint.",
    ),
]


def train_options(function: F) -> F:
    """Add every training setting (and --config) to a command, as ``nntune train``."""
    for option in reversed(TRAIN_OPTIONS):
        function = option(function)
    return function


def config_from(config_file: Path | None, flags: dict[str, Any]) -> Any:
    """Settings from the TOML file, then the flags given on the command line."""
    from ..runs import TrainConfig

    settings: dict[str, Any] = {}
    if config_file is not None:
        settings.update(_read_toml(config_file))
    settings.update({key: value for key, value in flags.items() if value is not None})
    return TrainConfig.from_mapping(settings, source=str(config_file or "flags"))


@main.command()
@train_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object of results."
)
@click.option("--quiet", is_flag=True, help="No progress and no summary.")
def train(config_file: Path | None, as_json: bool, quiet: bool, **flags: Any) -> None:
    """Train a network and write its run directory.

    The data are split into train/dev/test sets (stratified, seeded), the inputs
    standardized with training-set statistics, and the network trained with
    mini-batches. The run directory gets config.toml, model.safetensors + model.json,
    history.csv, metrics.json and a checkpoint; killing the command and starting it
    again with the same settings resumes from the last checkpoint.
    """
    from ..runs import run_training
    from ..training import TrainingDivergedError

    config = config_from(config_file, flags)
    progress = "silent" if (quiet or as_json) else "auto"
    try:
        result = run_training(config, progress=progress)
    except TrainingDivergedError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(EXIT_FAILED_CHECK)
    metrics = result.metrics
    if as_json:
        keys = (
            "train",
            "dev",
            "test",
            "epochs_run",
            "best_epoch",
            "run_dir",
            "restored_best",
            "resumed_from_epoch",
            "task",
            "seconds",
        )
        click.echo(json.dumps({key: metrics[key] for key in keys if key in metrics}))
    elif not quiet:
        _print_summary(metrics)
        for warning in metrics.get("warnings", []):
            click.echo(f"Warning: {warning}", err=True)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"config file {path} is not valid TOML: {error}") from None


def _print_summary(metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Run {metrics['run_dir']}")
    table.add_column("set")
    table.add_column("examples", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("accuracy", justify="right")
    for name in ("train", "train_dev", "dev", "test"):
        if name in metrics:
            row = metrics[name]
            accuracy = row.get("accuracy")
            table.add_row(
                name,
                str(row["examples"]),
                f"{row['cost']:.4f}",
                "" if accuracy is None else f"{accuracy:.4f}",
            )
    console = Console()
    console.print(table)
    resumed = metrics.get("resumed_from_epoch")
    note = f" (resumed after epoch {resumed})" if resumed else ""
    console.print(
        f"epochs run: {metrics['epochs_run']}{note}; best epoch: "
        f"{metrics['best_epoch']}; {metrics['seconds']:.1f}s"
    )
    diagnosis = metrics.get("diagnosis")
    if diagnosis:
        console.print(
            "Diagnosis (human-level error taken as 0; `nntune diagnose RUN "
            f"--human-error E` refines it): [bold]{diagnosis['verdict']}[/]"
        )
        for item in diagnosis["recommendations"][:3]:
            # The flag to try, or (for remedies without one) what to do.
            how = f"[cyan]{item['flag']}[/]" if item["flag"] else item["action"]
            console.print(f"  - {item['remedy']}: {how}")
    health = metrics.get("gradient_health", {}).get("final")
    if health and health["verdict"] != "healthy":
        console.print(f"Gradient health: [bold yellow]{health['verdict']}[/]")
        for suggestion in health["suggestions"][:2]:
            console.print(f"  - {suggestion}")
