"""The ``nntune`` command.

Exit status: 0 on success, 1 when a check fails, 2 on bad usage or bad input. User
mistakes print a one-line error without a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import sys
from typing import Any

import click

EXIT_FAILED_CHECK = 1
EXIT_USAGE = 2


class _Group(click.Group):
    """Turn user mistakes (ValueError, OSError) into a clean message and exit 2.

    Anything else is a bug in nntune and keeps its traceback.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `nntune train ... --debug` works like `nntune --debug train ...`.
        if "--debug" in args[1:]:
            args = ["--debug", *(arg for arg in args if arg != "--debug")]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ValueError, OSError) as error:
            # OSError: a place that cannot be read or written (permissions, a full
            # disk) is the user's to fix too, and says which file it is.
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {error}", err=True)
            click.echo("(run with --debug for the traceback)", err=True)
            sys.exit(EXIT_USAGE)


def parse_layers_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, ...] | None:
    """Click callback: ``"10,5"`` -> ``(10, 5)``."""
    if value is None:
        return None
    from ..experiment.config import parse_layers

    try:
        return parse_layers(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(package_name="nntune")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """nntune: train, check, diagnose and tune deep neural networks."""
    ctx.obj = {"debug": debug}
    from .jax_cache import keep_compilations

    # Before anything imports JAX: a run on backend="jax" keeps what it compiles
    # for the next run (NNTUNE_JAX_CACHE=off to not).
    ctx.obj["jax_cache"] = keep_compilations()


# Importing the command modules registers their commands on the group.
from . import compare as compare  # noqa: E402
from . import curves as curves  # noqa: E402
from . import datasets as datasets  # noqa: E402
from . import diagnose as diagnose  # noqa: E402
from . import evaluate as evaluate  # noqa: E402
from . import export as export  # noqa: E402
from . import gradcheck as gradcheck  # noqa: E402
from . import info as info  # noqa: E402
from . import recipe as recipe  # noqa: E402
from . import report as report  # noqa: E402
from . import resume as resume  # noqa: E402
from . import train as train  # noqa: E402
from . import tune as tune  # noqa: E402

__all__ = ["main"]
