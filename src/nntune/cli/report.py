"""``nntune report``: a self-contained HTML report of a training run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import main


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (default RUN_DIR/report.html).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="Print nothing.")
def report(run_dir: Path, output: Path | None, as_json: bool, quiet: bool) -> None:
    """Write an HTML report of a run: curves, diagnosis, gradient health, settings.

    
    nntune report runs/moons-1a2b3c4d
    nntune report runs/moons-1a2b3c4d --output moons.html

    The page is one file that opens offline: plots are embedded images, there is no
    JavaScript. Needs matplotlib (pip install "nntune[plots]").
    """
    from ..report import write_run_report

    path = write_run_report(run_dir, output)
    if as_json:
        click.echo(json.dumps({"report": str(path)}))
    elif not quiet:
        click.echo(str(path))
