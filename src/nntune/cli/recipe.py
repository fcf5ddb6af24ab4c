"""``nntune recipe``: diagnose, fix and tune end to end, and tell the story."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import main
from .train import config_from, train_options


@main.command()
@train_options
@click.option(
    "--budget",
    default="10m",
    show_default=True,
    help="How long the recipe may take: 90s, 10m, 1.5h.",
)
@click.option(
    "--human-error",
    type=click.FloatRange(min=0),
    help="Human-level error (Bayes error proxy): an error rate for classification "
    "(0.01), an RMSE in the target's units for regression. Default 0.",
)
@click.option("--storage", help="The searches' study database URL (default: files).")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where the searches' trials run.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Search trials at once.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="Trials of each search (fewer when the budget runs out).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the story as JSON.")
@click.option("--quiet", is_flag=True, help="Print only where the report is.")
def recipe(
    config_file: Path | None,
    budget: str,
    human_error: float | None,
    storage: str | None,
    engine: str,
    workers: int,
    trials: int,
    as_json: bool,
    quiet: bool,
    **flags: Any,
) -> None:
    """Run the basic recipe: baseline, diagnose, fix, tune, test once.

    It splits and standardizes the data, trains a sensible baseline (He
    initialization, Adam, mini-batches, early stopping) after checking its
    gradients, then diagnoses bias and variance and tries the remedies in the
    course's order (a bigger network, training longer and the learning rate for
    bias; L2, dropout, augmentation and a learning curve for variance), keeping what
    lowers the dev error. It then tunes the learning rate, then beta1 and the
    mini-batch size, then the hidden units, layers and decay, and evaluates the
    chosen model on the test set once. Any training flag sets where it starts
    (--layers 1 starts from one unit).

    --out DIR (default runs/recipe-DATA) gets recipe.json, the searches' studies,
    the final run (DIR/final) and report.html, the story step by step. Interrupted,
    the same command continues where it stopped.
    """
    from ..experiment.recipe import recipe as run_recipe
    from ..experiment.rundir import run_training, write_metrics
    from .train import _write_report

    config = config_from(config_file, flags)
    settings = {
        key: value
        for key, value in config.settings().items()
        if key in _given(config_file, flags)
    }
    out = Path(config.out or Path("runs") / f"recipe-{Path(config.data).stem}")
    show = not (as_json or quiet)

    def on_step(step: Any) -> None:
        if show:
            kept = " (kept)" if step.kept and step.changed else ""
            changed = ", ".join(f"{k}={_shown(v)}" for k, v in step.changed.items())
            errors = "" if step.dev_error is None else f"  dev {step.dev_error:.4g}"
            click.echo(
                f"- {step.name}{': ' + changed if changed else ''}{kept}{errors}"
            )
            click.echo(f"    {step.seen}")

    def final(config: Any) -> Any:
        result = run_training(config, progress="silent")
        _write_report(result.run_dir, result.metrics)
        write_metrics(result.run_dir, result.metrics)
        return result

    try:
        story = run_recipe(
            settings,
            out=out,
            budget=budget,
            human_error=human_error,
            storage=storage,
            engine=engine,
            workers=workers,
            trials=trials,
            on_step=on_step,
            run_final=final,
        )
    except KeyboardInterrupt:
        click.echo(
            f"Interrupted: what the recipe did so far is in {out / 'recipe.json'}; "
            "run the same command to continue.",
            err=True,
        )
        sys.exit(130)
    from ..report.recipe import write_recipe_report

    try:
        report = str(write_recipe_report(story))
    except ValueError as error:  # matplotlib missing: the story is in recipe.json
        report = f"not written ({error})"
    if as_json:
        click.echo(json.dumps({**story.to_dict(), "report": report}))
        return
    if show:
        test = story.final.get("test", {})
        if "accuracy" in test:
            click.echo(f"Test accuracy of the chosen model: {test['accuracy']:.2%}")
        elif story.final.get("test_error") is not None:
            click.echo(
                f"Test RMSE of the chosen model: {story.final['test_error']:.4g}"
            )
    click.echo(f"Report: {report} (open it in a browser)")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _given(config_file: Path | None, flags: dict[str, Any]) -> set[str]:
    """The settings the user gave (file or flags): the recipe's baseline keeps them."""
    from ..experiment.settings import setting_name
    from .train import _read_toml

    given = {key for key, value in flags.items() if value is not None}
    if config_file is not None:
        given |= {setting_name(key) for key in _read_toml(config_file)}
    given.discard("out")
    given.add("data")
    return given
