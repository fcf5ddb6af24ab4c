"""``nntune report``: a self-contained HTML report of a training run or a study."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import main


@main.command()
@click.argument("path", metavar="RUN_DIR|STUDY", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (default PATH/report.html).",
)
@click.option(
    "--storage",
    help="A study's database URL, when study.json cannot hold it (a password).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="Print nothing.")
def report(
    path: Path, output: Path | None, storage: str | None, as_json: bool, quiet: bool
) -> None:
    """Write an HTML report of a run or of a hyperparameter study.

    
    nntune report runs/moons-1a2b3c4d
    nntune report runs/moons-1a2b3c4d --output moons.html
    nntune report studies/space          # a study folder of nntune tune

    A run's report shows its curves, diagnosis, gradient health and settings. A
    study's (a folder with study.json) shows the dev error against each searched
    setting on its own scale, the optimisation history, the settings' importance,
    the coarse-to-fine rounds, the best trial's curves and every trial.

    The page is one file that opens offline: plots are embedded images, there is no
    JavaScript. Needs matplotlib (pip install "nntune[plots]").
    """
    from ..tuning.study import STUDY_FILE

    if (path / STUDY_FILE).is_file():
        from ..report.study import write_study_report

        written = write_study_report(path, output, storage=storage)
    elif storage is not None:
        raise ValueError(
            f"--storage goes with a study folder, and {path} has no {STUDY_FILE}; "
            "leave it out for a run directory."
        )
    else:
        from ..report import write_run_report

        written = write_run_report(path, output)
    if as_json:
        click.echo(json.dumps({"report": str(written)}))
    elif not quiet:
        click.echo(str(written))
