"""``nntune datasets``: the built-in datasets, their task, size and classes."""

from __future__ import annotations

import json
from typing import Any

import click

from . import main


def dataset_rows() -> list[dict[str, Any]]:
    """One summary per built-in dataset, loaded with its defaults, sorted by name."""
    from ..data.datasets import list_datasets, load_dataset

    rows = []
    for name in list_datasets():
        data = load_dataset(name)
        rows.append(
            {
                "name": name,
                "task": data.task,
                "n_samples": len(data.y),
                "n_features": data.n_features,
                "n_classes": data.n_classes,
                "description": data.description,
            }
        )
    return rows


@main.command("datasets")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="Print nothing (exit 0).")
def datasets_command(as_json: bool, quiet: bool) -> None:
    """List the built-in datasets: task, examples, features, classes.

    Use a name with --data (nntune train, nntune gradcheck) or load_dataset(name).
    Sizes are the defaults; generated sets take any --n-samples.
    """
    rows = dataset_rows()
    if as_json:
        click.echo(json.dumps({"datasets": rows}))
        return
    if quiet:
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="Built-in datasets", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    table.add_column("name")
    table.add_column("task")
    table.add_column("examples", justify="right")
    table.add_column("features", justify="right")
    table.add_column("classes", justify="right")
    table.add_column("description")
    for row in rows:
        table.add_row(
            row["name"],
            row["task"],
            f"{row['n_samples']:,}",
            str(row["n_features"]),
            str(row["n_classes"]),
            row["description"],
        )
    Console().print(table)
