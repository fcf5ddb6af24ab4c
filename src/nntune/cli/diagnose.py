"""``nntune diagnose``: bias, variance and data mismatch, with the remedies to try."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from . import main

_ERROR = click.FloatRange(min=0)  # error rates in [0, 1]; a regression's RMSEs
_FRACTION = click.FloatRange(0, 1)


@main.command()
@click.argument(
    "run_dir", required=False, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--human-error",
    type=_ERROR,
    default=0.0,
    show_default=True,
    help="Human-level error, the proxy for Bayes error (0.01 for 1%); for a "
    "regression, an RMSE in the target's units.",
)
@click.option(
    "--train-error", type=_ERROR, help="Training-set error (without RUN_DIR)."
)
@click.option("--dev-error", type=_ERROR, help="Dev-set error (without RUN_DIR).")
@click.option(
    "--train-dev-error",
    type=_ERROR,
    help="Error on a train-dev set: separates variance from data mismatch.",
)
@click.option(
    "--test-error", type=_ERROR, help="Test-set error: shows dev-set overfit."
)
@click.option(
    "--target-std",
    type=click.FloatRange(min=0, min_open=True),
    help="Without RUN_DIR: the errors are a regression's RMSEs and this is the "
    "training targets' standard deviation, the unit of the thresholds.",
)
@click.option(
    "--bias-threshold",
    type=_FRACTION,
    default=0.02,
    show_default=True,
    help="Avoidable bias above this is high (a regression: times the target's "
    "standard deviation).",
)
@click.option(
    "--variance-threshold",
    type=_FRACTION,
    default=0.02,
    show_default=True,
    help="Variance above this is high (a regression: times the target's std).",
)
@click.option(
    "--mismatch-threshold",
    type=_FRACTION,
    default=0.02,
    show_default=True,
    help="Data mismatch above this is high (a regression: times the target's std).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="Print nothing.")
def diagnose(
    run_dir: Path | None,
    human_error: float,
    train_error: float | None,
    dev_error: float | None,
    train_dev_error: float | None,
    test_error: float | None,
    target_std: float | None,
    bias_threshold: float,
    variance_threshold: float,
    mismatch_threshold: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Read bias and variance from errors and say what to try next.

    Give a run directory of `nntune train` (its metrics and settings are read), or
    the errors as fractions: nntune diagnose --train-error 0.01 --dev-error 0.11.
    A regression is diagnosed from RMSEs in the target's units, the thresholds
    being fractions of the training targets' standard deviation: a run's are read,
    or give them with --target-std (--train-error 52 --dev-error 57 --target-std 77).
    """
    from ..diagnosis import Thresholds, diagnose_run
    from ..diagnosis import diagnose as diagnose_errors

    thresholds = Thresholds(
        bias=bias_threshold,
        variance=variance_threshold,
        data_mismatch=mismatch_threshold,
    )
    if run_dir is not None:
        given = [train_error, dev_error, train_dev_error, test_error, target_std]
        if any(value is not None for value in given):
            raise click.UsageError("give RUN_DIR or the errors, not both.")
        report = diagnose_run(run_dir, human_error=human_error, thresholds=thresholds)
    else:
        if train_error is None or dev_error is None:
            raise click.UsageError(
                "give a RUN_DIR, or at least --train-error and --dev-error "
                "(e.g. --train-error 0.01 --dev-error 0.11)."
            )
        errors: dict[str, Any] = {
            "train_error": train_error,
            "dev_error": dev_error,
            "human_error": human_error,
            "train_dev_error": train_dev_error,
            "test_error": test_error,
            "thresholds": thresholds,
        }
        if target_std is not None:
            from ..regression_diagnosis import diagnose_regression

            report = diagnose_regression(target_std=target_std, **errors)
        else:
            report = diagnose_errors(**errors)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    elif not quiet:
        _print(report)


def _print(report: Any) -> None:
    from rich.console import Console

    console = Console()
    color = "green" if report.verdict == "fine" else "yellow"
    console.print(f"Verdict: [bold {color}]{report.verdict}[/]")
    for line in report.explanation:
        console.print(f"  {line}", soft_wrap=True)
    print_remedies(console, report.to_dict()["recommendations"])


def print_remedies(console: Any, recommendations: list[dict[str, Any]]) -> None:
    """The remedies, as ``nntune train`` and ``nntune diagnose`` print them."""
    from ..remedies import format_remedies

    for line in format_remedies(recommendations):
        # Unwrapped: a command broken over two lines could not be pasted.
        console.print(line, markup=False, highlight=False, soft_wrap=True)
