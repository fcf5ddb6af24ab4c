"""``nntune compare``: train variants that differ in one or more settings."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from . import main
from .train import config_from, train_options


@main.command()
@click.argument(
    "config_path",
    required=False,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@train_options
@click.option(
    "--vary",
    "vary",
    multiple=True,
    required=True,
    help="SETTING=VALUE,VALUE,... to vary (repeat for a grid), e.g. "
    "init=zeros,random:10,he or optimizer=gd,momentum,adam; layer sizes "
    "with '/': layers=10/5,20/10.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress and no table.")
def compare(
    config_path: Path | None,
    config_file: Path | None,
    vary: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    **flags: Any,
) -> None:
    """Train one model per variant, everything else equal, and compare them.

    
    The course's initialization lab, as one command:
    nntune compare --data circles --layers 10,5 --optimizer gd
      --learning-rate 0.01 --batch-size 300 --epochs 15000
      --vary init=zeros,random:10,he --seed 1

    Prints train/dev accuracy and cost, epochs and time per variant (the test set is
    kept for a final evaluation of the chosen model). Writes into --out (default
    runs/compare-<hash>) results.json, a report.html with the curves overlaid and
    links to the variants, and a run folder per variant (OUT/init=he: its model,
    history, metrics and report, as nntune train writes them), which nntune
    evaluate, predict, diagnose and export read.
    """
    from ..experiment.compare import compare as run_compare
    from ..experiment.compare import parse_vary, write_results
    from ..report.html import write_comparison_report

    if config_path is not None and config_file is not None:
        raise click.UsageError("give the config file once (CONFIG or --config).")
    config = config_from(config_path or config_file, flags)
    grid = parse_vary(vary)
    key = json.dumps([config.settings(), list(vary)], sort_keys=True, default=str)
    folder = (
        Path(config.out)
        if config.out
        else Path("runs") / ("compare-" + hashlib.sha256(key.encode()).hexdigest()[:8])
    )

    def progress(index: int, variant: Any) -> None:
        if quiet or as_json:
            return
        dev = variant.metrics.get("dev", {})
        shown = (
            f"dev accuracy {dev['accuracy']:.3f}"
            if "accuracy" in dev
            else (f"dev cost {dev.get('cost', float('nan')):.4f}")
        )
        click.echo(
            f"[{index + 1}/{len(grid)}] {variant.name}: {shown} "
            f"({variant.metrics['seconds']:.1f}s)",
            err=True,
        )

    variants = run_compare(config, grid, on_variant=progress, folder=folder)
    write_results(variants, folder)
    reports = [v.run_dir and _run_report(v.run_dir) for v in variants]
    report = write_comparison_report(
        [
            {
                "name": v.name,
                "settings": v.settings,
                "metrics": v.metrics,
                "history": v.history,
                "report": path and path.relative_to(folder).as_posix(),
            }
            for v, path in zip(variants, reports, strict=True)
        ],
        folder / "report.html",
        title=f"Comparison on {config.data}",
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "variants": [v.to_dict() for v in variants],
                    "report": str(report),
                    "folder": str(folder),
                }
            )
        )
        return
    if quiet:
        return
    _print_table(variants)
    click.echo(f"report: {report}", file=sys.stdout)


def _run_report(run_dir: Path) -> Path | None:
    """Write a variant's report.html, as nntune train does; None without matplotlib."""
    from ..report.html import write_run_report

    try:
        return write_run_report(run_dir)
    except ValueError:  # matplotlib missing: the comparison's report says so
        return None


def _print_table(variants: list[Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    sets = ("train", "dev")
    rows = []
    for variant in variants:
        m = variant.metrics
        row = {"variant": variant.name}
        for name in sets:
            if "accuracy" in m.get(name, {}):
                row[f"{name} acc"] = f"{m[name]['accuracy']:.3f}"
        for name in sets:
            if name in m:
                row[f"{name} cost"] = f"{m[name]['cost']:.4f}"
        row["epochs"] = str(m["epochs_run"])
        row["time"] = f"{m['seconds']:.1f}s"
        rows.append(row)
    columns = list(rows[0])
    console = Console()

    def width(names: list[str]) -> int:
        cells = [
            max(*map(len, n.split()), *(len(r.get(n, "")) for r in rows)) for n in names
        ]
        return sum(cells) + 3 * len(names)

    legend = width(columns) > console.width
    if legend:
        # Too wide for this terminal: number the variants and name them below.
        for number, row in enumerate(rows, start=1):
            row["#"] = str(number)
        columns = ["#", *columns[1:]]
    table = Table(title="Comparison", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in columns:
        # Two-line headers ("dev" over "acc") keep the table narrow.
        table.add_column(
            name.replace(" ", "\n"),
            justify="left" if name in ("variant", "#") else "right",
            no_wrap=True,
            min_width=len(max(name.split(), key=len)),
        )
    for row in rows:
        table.add_row(*(row.get(name, "") for name in columns))
    console.print(table)
    if legend:
        for number, row in enumerate(rows, start=1):
            console.print(f"  {number}: {row['variant']}", soft_wrap=True)
