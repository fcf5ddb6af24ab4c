"""``nntune curves``: learning and validation curves from real training runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from . import main
from .train import config_from, train_options


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{what} must be comma-separated numbers; got {text!r}."
        ) from None
    if not values:
        raise click.BadParameter(f"give at least one {what} value.")
    return values


@main.command()
@click.argument("kind", type=click.Choice(["learning", "validation"]))
@train_options
@click.option(
    "--sizes",
    default="0.1,0.25,0.5,0.75,1",
    show_default=True,
    help="Learning curve: shares of the training set to train on.",
)
@click.option(
    "--param",
    "parameter",
    help="Validation curve: the setting to vary, e.g. l2, keep_prob, learning_rate.",
)
@click.option(
    "--values", help="Validation curve: comma-separated values, e.g. 0,0.01,0.1,1,10."
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PNG file for the plot (default runs/curves/<data>-<kind>.png).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="Print nothing.")
def curves(
    kind: str,
    config_file: Path | None,
    sizes: str,
    parameter: str | None,
    values: str | None,
    plot_path: Path | None,
    as_json: bool,
    quiet: bool,
    **flags: Any,
) -> None:
    """Train models to draw a learning curve or a validation curve.

    
    nntune curves learning --data moons --layers 10,5 --epochs 200
    nntune curves validation --param l2 --values 0,0.01,0.1,1,10 --data moons

    Prints a table of training and dev error per point, and draws both against the
    x axis into a PNG when matplotlib (the plots extra) is installed.
    """
    from ..curves import learning_curve, validation_curve

    config = config_from(config_file, flags)
    if kind == "learning":
        if parameter or values:
            raise click.UsageError("--param and --values are for validation curves.")
        curve = learning_curve(config, _floats(sizes, "sizes"))
        name = f"{Path(config.data).stem}-learning"
    else:
        if not parameter or not values:
            raise click.UsageError(
                "a validation curve needs --param and --values, e.g. --param l2 "
                "--values 0,0.01,0.1,1,10."
            )
        from ..experiment.settings import BY_NAME

        numbers: list[Any] = _floats(values, "values")
        setting = BY_NAME.get(parameter)
        if setting is not None and setting.kind == "int":
            if not all(v == int(v) for v in numbers):
                raise click.UsageError(f"--values of {parameter} must be integers.")
            numbers = [int(v) for v in numbers]
        curve = validation_curve(config, parameter, numbers)
        name = f"{Path(config.data).stem}-validation-{parameter}"
    path = plot_path or Path("runs") / "curves" / f"{name}.png"
    try:
        drawn: Path | None = curve.plot(path)
    except ValueError as missing:
        if plot_path is not None:
            raise
        drawn, note = None, str(missing)
    else:
        note = f"plot: {drawn}"
    document = curve.to_dict()
    document["plot"] = None if drawn is None else str(drawn)
    if as_json:
        click.echo(json.dumps(document))
    elif not quiet:
        click.echo(curve.table())
        best = curve.best()
        click.echo(
            f"lowest dev error {best.dev_error:.4f} at {curve.parameter} = {best.x:g}"
        )
        click.echo(note)
