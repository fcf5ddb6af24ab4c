"""The command reference (docs/cli.md) is what the commands say now.

docs/cli_reference.py writes it from ``nntune.cli``'s click group; a new command,
flag or help text fails this test until the page is written again.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from nntune.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _load_generator():
    path = DOCS / "cli_reference.py"
    spec = importlib.util.spec_from_file_location("docs_cli_reference", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = _load_generator()


def test_the_committed_page_is_what_the_commands_say():
    committed = reference.PAGE.read_text(encoding="utf-8")
    assert committed == reference.render(), (
        "docs/cli.md is out of date: run `python docs/cli_reference.py`"
    )


def test_every_command_and_option_is_on_the_page():
    text = reference.render()
    context = click.Context(main, info_name="nntune")
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        assert f"\n## nntune {name}\n" in text
        for parameter in command.params:
            if isinstance(parameter, click.Option) and not parameter.hidden:
                assert f"`{parameter.opts[0]}" in text or (
                    f", {parameter.opts[0]}" in text
                ), (name, parameter.opts)


def test_a_new_flag_makes_the_page_out_of_date(monkeypatch):
    command = main.get_command(click.Context(main), "datasets")
    planted = click.Option(["--planted"], is_flag=True, help="A new flag.")
    monkeypatch.setattr(command, "params", [*command.params, planted])
    text = reference.render()
    assert "| `--planted` | A new flag. |" in text
    assert text != reference.PAGE.read_text(encoding="utf-8")


def test_help_text_is_escaped_for_markdown():
    assert reference._escape("runs/<hash> a*b [x>=2] `a|b <c>`") == (
        r"runs/\<hash\> a\*b \[x\>=2\] `a|b <c>`"
    )
