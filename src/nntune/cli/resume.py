"""``nntune resume``: continue a paused run, changing its settings (babysitting)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from . import EXIT_FAILED_CHECK, main
from .train import REPORT_OPTION, TRAIN_OPTIONS, finish_run

F = Any


def _resume_options(function: F) -> F:
    # Every training option, so a refused one gets its reason, not "no such option".
    for option in reversed(TRAIN_OPTIONS[1:]):  # not --config
        function = option(function)
    return function


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@_resume_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress and no summary.")
@REPORT_OPTION
def resume(
    run_dir: Path, as_json: bool, quiet: bool, report: bool, **flags: Any
) -> None:
    """Continue a paused run from its checkpoint, with changed settings.

    
    nntune train --data moons --epochs 300 --out runs/watch   # Ctrl-C pauses it
    nntune resume runs/watch --learning-rate 0.001           # 10x lower from here
    nntune resume runs/watch --epochs 600                    # train longer

    The learning rate, l2, l1 and keep_prob change from the next step on; epochs (the
    total), batch size, early stopping, patience and min_delta change the rest of
    the loop.
    Each change is recorded in the history with its epoch and marked on the report's
    curves; the run's lineage (each command and its epochs) goes to metrics.json.
    Changes to the network, the data or the optimizer are refused with the reason.
    """
    from ..experiment.resume import resume_training
    from ..experiment.settings import render_flags
    from ..training import StopOnSignal, TrainingDivergedError

    changes = {key: value for key, value in flags.items() if value is not None}
    command = f"nntune resume {shlex.quote(str(run_dir))} {render_flags(changes)}"
    progress = "silent" if (quiet or as_json) else "auto"
    pause = StopOnSignal()
    try:
        result = resume_training(
            run_dir, changes, command=command, progress=progress, callbacks=[pause]
        )
    except TrainingDivergedError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(EXIT_FAILED_CHECK)
    finish_run(result, pause, as_json=as_json, quiet=quiet, report=report)
