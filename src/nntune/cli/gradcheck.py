"""``nntune gradcheck``: check backpropagation against numerical gradients."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..data.datasets import list_datasets
from . import EXIT_FAILED_CHECK, main, parse_layers_option


@main.command()
@click.option(
    "--data",
    "dataset",
    type=click.Choice(list_datasets()),
    default="moons",
    show_default=True,
    help="Built-in dataset to check on.",
)
@click.option(
    "--n-samples",
    type=click.IntRange(min=2),
    default=None,
    help="Examples to generate or sample (default: the dataset's).",
)
@click.option(
    "--layers",
    callback=parse_layers_option,
    default="10,5",
    show_default=True,
    help="Hidden layer sizes, comma-separated.",
)
@click.option(
    "--activation",
    type=click.Choice(["relu", "leaky_relu", "tanh", "sigmoid", "identity"]),
    default="relu",
    show_default=True,
    help="Hidden activation.",
)
@click.option(
    "--init",
    "init",
    default="he",
    show_default=True,
    help="Weight initializer: zeros, random[:scale], xavier, glorot, he[:scale].",
)
@click.option(
    "--batch-norm", is_flag=True, help="Batch normalization after each hidden Dense."
)
@click.option(
    "--l2",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="L2 regularization strength lambda (included in the check).",
)
@click.option(
    "--l1",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="L1 regularization strength lambda.",
)
@click.option(
    "--keep-prob",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Dropout keep probability (needs --freeze-dropout).",
)
@click.option(
    "--freeze-dropout",
    is_flag=True,
    help="Draw one dropout mask and reuse it in every evaluation of the cost.",
)
@click.option(
    "--epsilon",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-7,
    show_default=True,
    help="Step of the two-sided difference.",
)
@click.option(
    "--max-entries",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Entries sampled per parameter tensor at most.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=2e-7,
    show_default=True,
    help="Pass mark for the worst relative difference.",
)
@click.option(
    "--precision",
    type=click.Choice(["extended", "float64"]),
    default="extended",
    show_default=True,
    help="Precision of the cost differences (backpropagation is always float64).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed for the data, the weights and the sampled entries.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--quiet", is_flag=True, help="Print nothing; report through the exit status."
)
def gradcheck(
    dataset: str,
    n_samples: int | None,
    layers: tuple[int, ...],
    activation: str,
    init: str,
    batch_norm: bool,
    l2: float,
    l1: float,
    keep_prob: float,
    freeze_dropout: bool,
    epsilon: float,
    max_entries: int,
    threshold: float,
    precision: str,
    seed: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Check backpropagation against numerical gradients (float64).

    Builds the network, initializes it, and compares its gradients on the whole
    dataset with two-sided differences. Exit status 0 when the worst relative
    difference is below the pass mark, 1 when it is not.
    """
    from ..architectures import mlp
    from ..data.datasets import load_dataset
    from ..gradcheck import gradient_check

    data = load_dataset(dataset, n_samples=n_samples, seed=seed)
    model = mlp(
        layers,
        task=data.task,
        outputs=data.n_classes,
        activation=activation,
        init=init,
        batch_norm=batch_norm,
        keep_prob=keep_prob,
        l2=l2,
        l1=l1,
    ).init(data.n_features, seed=seed, dtype="float64")
    report = gradient_check(
        model,
        data.X,
        data.y,
        epsilon=epsilon,
        max_entries=max_entries,
        threshold=threshold,
        freeze_dropout=freeze_dropout,
        seed=seed,
        precision=precision,
    )
    if as_json:
        document = report.to_dict()
        document["dataset"] = dataset
        document["model"] = model.config()
        click.echo(json.dumps(document))
    elif not quiet:
        _print_report(report, dataset, model.n_parameters, len(data.y))
    sys.exit(0 if report.passed else EXIT_FAILED_CHECK)


def _print_report(report: Any, dataset: str, n_parameters: int, m: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"Gradient check on {dataset} ({m} examples, {n_parameters} parameters)"
    )
    table.add_column("parameter")
    table.add_column("relative difference", justify="right")
    table.add_column("entries checked", justify="right")
    table.add_column("verdict")
    colors = {
        "good": "green",
        "look closer": "yellow",
        "wrong": "red",
        "not checked": "magenta",
    }
    for check in report.parameters.values():
        table.add_row(
            check.name,
            "n/a" if check.verdict == "not checked" else f"{check.difference:.3e}",
            f"{check.checked}/{check.size}",
            f"[{colors[check.verdict]}]{check.verdict}[/]",
        )
    table.add_row(
        "overall", f"{report.overall_difference:.3e}", "", "", end_section=True
    )
    console.print(table)
    for note in report.notes:
        console.print(note)
    console.print(report.explain(), style="green" if report.passed else "red")
