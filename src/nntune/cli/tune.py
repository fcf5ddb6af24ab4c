"""``nntune tune``: search a space of settings; the trials live in a study."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from . import main


class _StoppedError(KeyboardInterrupt):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM end the search at once (its running trials run again)."""

    def handler(number: int, frame: Any) -> None:
        raise _StoppedError(signal.Signals(number).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


class _View:
    """Progress: a live table on a terminal, one line per trial otherwise."""

    def __init__(self, budget: int, mode: str) -> None:
        self.budget, self.mode = budget, mode
        self.records: dict[int, Any] = {}
        self.epochs: dict[int, tuple[int, int]] = {}
        self.started = time.monotonic()
        self.live: Any = None

    def __enter__(self) -> _View:
        if self.mode == "rich":
            from rich.console import Console
            from rich.live import Live

            self.live = Live(
                self._render(), console=Console(stderr=True), refresh_per_second=4
            )
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(None, None, None)

    def __call__(self, event: Any) -> None:
        if event.kind == "epoch":
            self.epochs[event.number] = (event.epoch, event.epochs)
        elif event.kind == "started":
            self.epochs[event.number] = (0, 0)
        elif event.kind in ("finished", "recovered"):
            self.epochs.pop(event.number, None)
            self.records[event.number] = event.record
            if self.mode == "plain":
                click.echo(_line(event.record), err=True)
        if self.live is not None:
            self.live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        done = [r for r in self.records.values() if r.counted]
        scored = [r for r in done if r.state == "complete"]
        best = min(scored, key=lambda r: r.value) if scored else None
        seconds = time.monotonic() - self.started
        title = f"trials {len(done)}/{self.budget} · {seconds:.0f}s"
        if best is not None:
            title += f" · best #{best.number}: dev error {best.value:.4f}"
        table = Table(title=title, title_justify="left")
        table.add_column("trial", justify="right")
        table.add_column("epoch", justify="right")
        for number, (epoch, epochs) in sorted(self.epochs.items()):
            table.add_row(str(number), f"{epoch}/{epochs}" if epochs else "starting")
        return table


def _line(record: Any) -> str:
    params = ", ".join(f"{k}={_show(v)}" for k, v in record.params.items())
    if record.state in ("failed", "interrupted"):
        return f"trial {record.number} {record.state}: {record.error} ({params})"
    return (
        f"trial {record.number} {record.state}: dev error {record.value:.4f} after "
        f"{record.epochs_run} epochs ({params})"
    )


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@main.command()
@click.argument("space_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", help="The data set (overrides [base]): a built-in or a file.")
@click.option("--target", help="The target column of a CSV or Parquet file.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per trial.")
@click.option(
    "--trials", type=click.IntRange(min=1), help="Finished trials to reach (def. 20)."
)
@click.option("--time", "time_limit", help="Start no trial after this long: 90s, 10m.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Trials at once (default: one per core; Ray: the cluster's CPUs).",
)
@click.option(
    "--strategy",
    type=click.Choice(["random", "grid", "coarse-to-fine", "tpe", "cmaes", "gp"]),
    default="random",
    show_default=True,
    help="How trials are drawn.",
)
@click.option(
    "--rounds", type=click.IntRange(min=1), default=3, help="Coarse-to-fine rounds."
)
@click.option(
    "--grid-points", type=click.IntRange(min=2), default=3, help="Grid values each."
)
@click.option(
    "--pruner",
    type=click.Choice(["none", "median", "halving"]),
    default="none",
    show_default=True,
    help="Stop trials whose dev error per epoch is behind.",
)
@click.option("--storage", help="Database URL (default: the study folder's journal).")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Local processes or a Ray cluster.",
)
@click.option("--address", help="Ray cluster: auto or HOST:PORT (default: local).")
@click.option("--seed", type=int, default=0, show_default=True, help="Draws' seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="The study folder (default studies/<space file name>).",
)
@click.option(
    "--population",
    default="auto",
    show_default=True,
    help="Trials trained at once as one population when they share an "
    "architecture (0: never; auto: 16 when only learning_rate, l2, keep_prob or "
    "init_seed are searched, without --workers or --pruner). A trial trained in a "
    "population equals its separate run up to float rounding.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress and no summary.")
def tune(
    space_file: Path,
    data: str | None,
    target: str | None,
    epochs: int | None,
    trials: int | None,
    time_limit: str | None,
    workers: int | None,
    strategy: str,
    rounds: int,
    grid_points: int,
    pruner: str,
    storage: str | None,
    engine: str,
    address: str | None,
    seed: int,
    out: Path | None,
    population: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Search the settings of SPACE_FILE; the trials are kept in a study folder.

    
    nntune tune space.toml --trials 30
    nntune tune space.toml --strategy coarse-to-fine --workers 2 --time 10m
    nntune report studies/space          # the study's HTML report
    nntune train --from-study studies/space   # retrain the best, test it once

    SPACE_FILE is TOML: a [base] table of fixed settings and a [space] table of
    searched ones, each on its scale, e.g. learning_rate = { log = [1e-4, 1e-1] },
    beta1 = { one_minus_log = [0.8, 0.999] }, keep_prob = {} (the default range).
    Killing the search loses no finished trial: the same command continues it.
    """
    from ..tuning import load_space
    from ..tuning import tune as run_search
    from ..tuning.engines import available_cores
    from ..tuning.search import population_size

    space = load_space(space_file)
    base = {
        key: value
        for key, value in (("data", data), ("target", target), ("epochs", epochs))
        if value is not None
    }
    folder = out or Path("studies") / space_file.stem
    size: int | str = "auto"
    if population != "auto":
        try:
            size = int(population)
        except ValueError:
            raise click.BadParameter(
                f"expected auto or a number of trials >= 0; got {population!r}.",
                param_hint="--population",
            ) from None
    if workers is None:
        # One process training populations, when the search allows it; else one
        # process per core.
        together = population_size(size, space, engine, 1, pruner, strategy) > 1
        workers = 1 if engine == "ray" or together else available_cores()
    budget = trials
    if budget is None and strategy != "grid":
        budget = 20
    mode = "silent" if (quiet or as_json) else ("rich" if _tty() else "plain")
    view = _View(budget or 0, mode)
    try:
        with _stop_on_signals(), view:
            study = run_search(
                space,
                study=folder,
                trials=budget,
                time_limit=time_limit,
                workers=workers,
                strategy=strategy,
                rounds=rounds,
                grid_points=grid_points,
                pruner=pruner,
                storage=storage,
                engine=engine,
                address=address,
                seed=seed,
                base=base,
                on_event=view,
                population=size,
            )
    except _StoppedError as stopped:
        click.echo(
            f"Stopped ({stopped.name}): the finished trials are kept in {folder}; "
            "run the same command to continue.",
            err=True,
        )
        sys.exit(130 if stopped.name == "SIGINT" else 143)
    records = study.trials
    best = _best(records)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "study": str(folder),
                    "trials": [r.to_dict() for r in records],
                    "best": best.to_dict() if best else None,
                }
            )
        )
    elif not quiet:
        _print_summary(folder, records, best)


def _tty() -> bool:
    return sys.stderr.isatty()


def _best(records: list[Any]) -> Any:
    done = [r for r in records if r.state == "complete"]
    return min(done, key=lambda r: (r.value, r.number)) if done else None


def _print_summary(folder: Path, records: list[Any], best: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    states: dict[str, int] = {}
    for record in records:
        states[record.state] = states.get(record.state, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    ranked = sorted(
        (r for r in records if r.state == "complete"), key=lambda r: r.value
    )
    table = Table(title=f"Study {folder}: {counts}; the best trials")
    table.add_column("trial", justify="right")
    table.add_column("dev error", justify="right")
    table.add_column("dev cost", justify="right")
    names = sorted({k for r in ranked[:5] for k in r.params})
    for name in names:
        table.add_column(name, justify="right")
    for record in ranked[:5]:
        table.add_row(
            str(record.number),
            f"{record.value:.4f}",
            f"{record.dev.get('cost', float('nan')):.4f}",
            *(_show(record.params[n]) if n in record.params else "" for n in names),
        )
    console.print(table)
    failed = [r for r in records if r.state == "failed"]
    for record in failed[:3]:
        console.print(
            f"trial {record.number} failed: {record.error}",
            markup=False,
            soft_wrap=True,
        )
    if best is not None:
        console.print(f"Report: nntune report {folder}", markup=False, soft_wrap=True)
        console.print(
            f"Retrain the best and test it once: nntune train --from-study {folder}",
            markup=False,
            soft_wrap=True,
        )
