"""``nntune train``: train a network from flags or a TOML config file."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import EXIT_FAILED_CHECK, main, parse_layers_option

F = TypeVar("F", bound=Callable[..., Any])


def _click_type(setting: Any) -> Any:
    """The click type of a setting of the table (bounds and choices included)."""
    if setting.choices:
        return click.Choice((*setting.choices, *setting.value_aliases))
    bounds = {
        "min": setting.low,
        "max": setting.high,
        "min_open": setting.low_open,
        "max_open": setting.high_open,
    }
    if setting.kind == "int":
        if setting.low is None and setting.high is None:
            return int
        return click.IntRange(min=setting.low, max=setting.high)
    if setting.kind == "float":
        return click.FloatRange(**bounds)
    return None


def _setting_option(setting: Any) -> Callable[[F], F]:
    # Every setting defaults to None so that "not given" can fall back to the config
    # file, then to TrainConfig's default.
    if setting.kind == "bool":
        flag = setting.flag
        return click.option(
            f"{flag}/--no-{flag[2:]}", setting.name, default=None, help=setting.help
        )
    if setting.kind == "layers":
        return click.option(
            setting.flag, default=None, callback=parse_layers_option, help=setting.help
        )
    return click.option(
        setting.flag,
        *setting.alias_flags,
        setting.name,
        default=None,
        type=_click_type(setting),
        help=setting.help,
    )


def _training_options() -> list[Callable[[F], F]]:
    from ..experiment.settings import SETTINGS

    config = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML file of settings (keys as the flags: batch_size or batch-size); "
        "flags given on the command line override it.",
    )
    return [config, *(_setting_option(setting) for setting in SETTINGS)]


REPORT_OPTION = click.option(
    "--report/--no-report",
    default=True,
    help="Write report.html, the run's plots and diagnosis (default on). Drawing it "
    "takes about 2 s; nntune report RUN_DIR writes it later.",
)

TRAIN_OPTIONS = _training_options()
"""``--config`` and one option per setting of the table, in its order."""


def train_options(function: F) -> F:
    """Add every training setting (and --config) to a command, as ``nntune train``."""
    for option in reversed(TRAIN_OPTIONS):
        function = option(function)
    return function


def config_from(config_file: Path | None, flags: dict[str, Any]) -> Any:
    """Settings from the TOML file, then the flags given on the command line."""
    from ..experiment.config import TrainConfig

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
@click.option(
    "--force",
    is_flag=True,
    help="Write into --out even if it is a non-empty folder that is not an nntune run.",
)
@REPORT_OPTION
@click.option(
    "--from-study",
    "from_study",
    type=click.Path(file_okay=False, path_type=Path),
    help="Retrain a trial of this study (the best unless --trial); flags override.",
)
@click.option(
    "--trial", type=click.IntRange(min=0), help="The trial of --from-study to retrain."
)
@click.option("--storage", help="The --from-study study's database URL, if needed.")
def train(
    config_file: Path | None,
    as_json: bool,
    quiet: bool,
    force: bool,
    report: bool,
    from_study: Path | None,
    trial: int | None,
    storage: str | None,
    **flags: Any,
) -> None:
    """Train a network and write its run directory.

    The data are split into train/dev/test sets (stratified, seeded), the inputs
    standardized with training-set statistics, and the network trained with
    mini-batches. The run directory gets config.toml, model.safetensors + model.json,
    history.csv, metrics.json and a checkpoint; killing the command and starting it
    again with the same settings resumes from the last checkpoint.

    With --from-study STUDY it retrains the best trial of a study (or --trial N)
    with all of its settings, and evaluates it once on the test set.
    """
    from ..experiment.rundir import run_training
    from ..training import StopOnSignal, TrainingDivergedError

    chosen: dict[str, Any] | None = None
    if from_study is not None:
        if config_file is not None:
            raise ValueError(
                "--from-study and --config both give the settings; use one of them "
                "(flags still override either)."
            )
        config, chosen = _config_from_study(from_study, trial, storage, flags)
    elif trial is not None or storage is not None:
        raise ValueError("--trial and --storage go with --from-study STUDY.")
    else:
        config = config_from(config_file, flags)
    config.check_applicable()
    progress = "silent" if (quiet or as_json) else "auto"
    pause = StopOnSignal()
    try:
        result = run_training(config, progress=progress, force=force, callbacks=[pause])
    except TrainingDivergedError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(EXIT_FAILED_CHECK)
    if chosen is not None:
        result.metrics["from_study"] = chosen
    finish_run(result, pause, as_json=as_json, quiet=quiet, report=report)


_JSON_KEYS = (
    "train",
    "dev",
    "test",
    "final_evaluation",
    "epochs_run",
    "best_epoch",
    "run_dir",
    "report",
    "restored_best",
    "resumed_from_epoch",
    "task",
    "data",
    "seconds",
    "from_study",
    "changes",
    "lineage",
    "threshold",
)


def finish_run(
    result: Any, pause: Any, *, as_json: bool, quiet: bool, report: bool = True
) -> None:
    """Say how a run ended: paused (exit 130/143), or its report and summary."""
    from ..experiment.rundir import write_metrics

    metrics = result.metrics
    if metrics.get("interrupted"):
        click.echo(
            f"Interrupted ({pause.received}) after epoch {metrics['epochs_run']}: the "
            f"checkpoint in {result.run_dir} is kept. Run the same command to "
            f"continue, or change settings as you continue: nntune resume "
            f"{result.run_dir} --learning-rate X.",
            err=True,
        )
        sys.exit(130 if pause.received == "SIGINT" else 143)
    if report:
        _write_report(result.run_dir, metrics)
    write_metrics(result.run_dir, metrics)
    if as_json:
        click.echo(
            json.dumps({key: metrics[key] for key in _JSON_KEYS if key in metrics})
        )
    elif not quiet:
        _print_summary(metrics)
        for warning in metrics.get("warnings", []):
            click.echo(f"Warning: {warning}", err=True)
        if "report" in metrics:
            click.echo(f"Report: {metrics['report']} (open it in a browser)")
        elif not report:
            later = f"nntune report {shlex.quote(str(result.run_dir))}"
            click.echo(f"Report: not written (--no-report); {later} writes it.")


def _config_from_study(
    folder: Path, number: int | None, storage: str | None, flags: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """A study trial's settings (the best by default), then the flags given."""
    from ..experiment.config import TrainConfig
    from ..tuning import open_study

    study = open_study(folder, storage)
    record = study.best if number is None else study.trial(number)
    if record.state != "complete":
        raise ValueError(
            f"trial {record.number} of {folder} is {record.state}, not complete; "
            "retrain a completed trial (see `nntune report` for the list)."
        )
    settings = dict(record.settings)
    # Each retrained trial gets its own folder (a space's [base] out is not one).
    settings["out"] = str(Path("runs") / f"{study.name}-trial-{record.number}")
    settings.update({key: value for key, value in flags.items() if value is not None})
    source = f"{folder} trial {record.number}"
    chosen = {
        "study": str(folder),
        "trial": record.number,
        "dev_error": record.value,
        "params": record.params,
    }
    return TrainConfig.from_mapping(settings, source=source), chosen


def _write_report(run_dir: Path, metrics: dict[str, Any]) -> None:
    from ..report.html import write_run_report  # imports matplotlib only to draw

    try:
        metrics["report"] = str(write_run_report(run_dir))
    except ValueError as error:  # matplotlib missing: the run itself is complete
        metrics.setdefault("warnings", []).append(f"no report.html: {error}")


def _describe_data(data: dict[str, Any]) -> str:
    """One line: what the run trained on (the guesses made visible)."""
    names = data.get("feature_names")
    features = f"{data['features']} features"
    if names:
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        features += f" ({shown})"
    target = f"target {data['target']!r}, " if data.get("target") else ""
    classes = data.get("classes") or []
    task = data["task"]
    if classes:
        shown_classes = ", ".join(map(str, classes[:6]))
        task += f" with {len(classes)} classes ({shown_classes}"
        task += ", ...)" if len(classes) > 6 else ")"
    return (
        f"data: {data['name']}, {data['examples']} examples; {target}{task}; "
        f"{features}. Use --task and --target to change what was guessed."
    )


def _read_toml(path: Path) -> dict[str, Any]:
    from .._files import read_toml

    try:
        return read_toml(path)
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist.") from None
    except OSError as error:
        raise ValueError(f"config file {path} cannot be read: {error}") from None


_REGRESSION_COLUMNS = (
    ("rmse", "RMSE", ".4g"),
    ("mae", "MAE", ".4g"),
    ("r2", "R²", ".4f"),
)
"""A regression's metrics in the summary: key, header, format (target units)."""


def _classification_columns(metrics: dict[str, Any]) -> tuple[Any, ...]:
    """A classifier's columns in the summary: accuracy, macro F1, binary ROC AUC."""
    shown: tuple[Any, ...] = (
        ("accuracy", "accuracy", ".4f"),
        ("f1_macro", "F1 (macro)", ".4f"),
    )
    if metrics.get("task") == "binary":
        shown += (("roc_auc", "ROC AUC", ".4f"),)
    return shown


def _print_classification_report(console: Any, metrics: dict[str, Any]) -> None:
    """Precision, recall and F1 per class of the dev set (else the training set)."""
    from ..metrics.classification import format_classification_report

    name = "dev" if "dev" in metrics else "train"
    scores = metrics.get(name) or {}
    if "per_class" not in scores:
        return
    threshold = (metrics.get("threshold") or {}).get("value")
    text = format_classification_report({**scores, "threshold": threshold})
    console.print(f"\n{name} set:\n{text}\n", markup=False, highlight=False)


def _print_summary(metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    regression = metrics.get("task") == "regression"
    table = Table(title=f"Run {metrics['run_dir']}")
    table.add_column("set")
    table.add_column("examples", justify="right")
    table.add_column("cost (standardized)" if regression else "cost", justify="right")
    shown = _REGRESSION_COLUMNS if regression else _classification_columns(metrics)
    for _, header, _ in shown:
        table.add_column(header, justify="right")
    for name in ("train", "train_dev", "dev", "test"):
        if name in metrics:
            row = metrics[name]
            label = "test (final)" if name == "test" else name
            table.add_row(
                label,
                str(row["examples"]),
                f"{row['cost']:.4f}",
                *(
                    "" if row.get(key) is None else format(row[key], style)
                    for key, _, style in shown
                ),
            )
    console = Console()
    console.print(table)
    _print_classification_report(console, metrics)
    data = metrics.get("data")
    if data:
        console.print(_describe_data(data), soft_wrap=True, markup=False)
    resumed = metrics.get("resumed_from_epoch")
    note = f" (resumed after epoch {resumed})" if resumed else ""
    console.print(
        f"epochs run: {metrics['epochs_run']}{note}; best epoch: "
        f"{metrics['best_epoch']}; {metrics['seconds']:.1f}s"
    )
    diagnosis = metrics.get("diagnosis")
    if diagnosis:
        error = "RMSE" if regression else "error"
        console.print(
            f"Diagnosis (human-level {error} taken as 0; `nntune diagnose RUN "
            f"--human-error E` refines it): [bold]{diagnosis['verdict']}[/]"
        )
        from .diagnose import print_remedies

        print_remedies(console, diagnosis["recommendations"])
    health = metrics.get("gradient_health", {}).get("final")
    if health and health["verdict"] != "healthy":
        console.print(f"Gradient health: [bold yellow]{health['verdict']}[/]")
        for suggestion in health["suggestions"][:2]:
            console.print(f"  - {suggestion}")
