r"""Write the guide's command reference, docs/cli.md, from the commands themselves.

Usage::

    .venv/bin/python docs/cli_reference.py           # rewrite docs/cli.md
    .venv/bin/python docs/cli_reference.py --check   # exit 1 if it is out of date

The page is built from ``nntune.cli``'s click group: each command's usage line, its
help text and one row per option, as ``nntune COMMAND --help`` prints them (click
formats the option names, metavars, choices, ranges and defaults). A paragraph of a
help text marked ``\b`` (click's "do not rewrap") is shown as a block of text.
tests/test_cli_reference.py checks that the committed page is what this script
writes now, so a new command or flag fails the test until the page is regenerated.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent / "cli.md"
_SPECIAL = re.compile(r"([\\*_\[\]|<>])")
_CODE = re.compile(r"(`[^`]*`)")
_INTRODUCTION = """\
# Command reference

Every `nntune` command, with its arguments and options, as `nntune COMMAND --help`
prints them. This page is generated from the commands themselves
(`python docs/cli_reference.py`), and a test fails when it differs from what they
say, so it is never out of date. The topic pages show the commands at work.

Every command takes `-h`/`--help`. Commands exit with status 0 on success, 1 when a
check fails or training diverges, and 2 on bad usage, with a one-line message;
`nntune --debug COMMAND ...` (or `--debug` anywhere) shows the traceback instead.
Most commands take `--json`, to print one JSON object, and `--quiet`, to print
nothing.
"""


def render() -> str:
    """The Markdown of the page, from the click group ``nntune.cli.main``."""
    import click

    from nntune.cli import main

    root = click.Context(main, info_name="nntune", **main.context_settings)
    commands = [
        (name, main.get_command(root, name)) for name in main.list_commands(root)
    ]
    lines = [_INTRODUCTION, "| command | what it does |", "| --- | --- |"]
    for name, command in commands:
        if command is not None and not command.hidden:
            summary = _escape(command.get_short_help_str(limit=200))
            lines.append(f"| [`nntune {name}`](#nntune-{name}) | {summary} |")
    lines += ["", "## nntune", "", *_command(main, root)]
    for name, command in commands:
        if command is not None and not command.hidden:
            settings = command.context_settings
            context = click.Context(command, info_name=name, parent=root, **settings)
            lines += [f"## nntune {name}", "", *_command(command, context)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _command(command: Any, context: Any) -> list[str]:
    import click

    usage = command.get_usage(context).removeprefix("Usage: ")
    lines = [f"`{usage}`", ""]
    help_text = inspect.cleandoc(command.help or "").split("\f")[0]
    for paragraph in help_text.split("\n\n"):
        if paragraph.startswith("\b"):  # click's unwrapped block: keep its lines
            lines += ["```text", paragraph.removeprefix("\b").strip("\n"), "```", ""]
        elif paragraph.strip():
            lines += [_escape(" ".join(paragraph.split())), ""]
    rows = [
        record
        for parameter in command.get_params(context)
        if isinstance(parameter, click.Option)
        and set(parameter.opts) != set(context.help_option_names)  # on every page
        and (record := parameter.get_help_record(context)) is not None
    ]
    if rows:
        lines += ["| option | meaning |", "| --- | --- |"]
        for names, meaning in rows:
            lines.append(f"| `{names}` | {_escape(meaning)} |")
        lines.append("")
    return lines


def _escape(text: str) -> str:
    """Markdown of plain text: special characters escaped, `code spans` kept."""
    parts = _CODE.split(text)
    return "".join(
        part if index % 2 else _SPECIAL.sub(r"\\\1", part)
        for index, part in enumerate(parts)
    )


def main(arguments: list[str]) -> int:
    """Write the page, or with ``--check`` say whether it is up to date."""
    text = render()
    if arguments == ["--check"]:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: run python docs/cli_reference.py")
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
