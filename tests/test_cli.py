"""End-to-end tests of the ``nntune`` command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

NNTUNE = [str(Path(sys.executable).with_name("nntune"))]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NNTUNE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_gradcheck_acceptance_command_passes_with_json():
    result = run(
        "gradcheck",
        "--data",
        "moons",
        "--layers",
        "10,5",
        "--batch-norm",
        "--l2",
        "0.7",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["passed"] is True
    assert document["max_relative_difference"] < 2e-7
    assert set(document["parameters"]) == {
        "dense_0.W",
        "batch_norm_1.gamma",
        "batch_norm_1.beta",
        "dense_3.W",
        "batch_norm_4.gamma",
        "batch_norm_4.beta",
        "dense_6.W",
        "dense_6.b",
    }
    assert all(value < 2e-7 for value in document["parameters"].values())


def test_gradcheck_float64_precision_passes_the_course_mark():
    args = ("gradcheck", "--layers", "10,5", "--batch-norm", "--l2", "0.7", "--json")
    plain = run(*args, "--precision", "float64")
    assert plain.returncode == 0, plain.stderr
    document = json.loads(plain.stdout)
    assert document["max_relative_difference"] < 2e-7
    assert "cost differences evaluated in float64" in document["notes"]
    extended = json.loads(run(*args).stdout)
    # Extended precision removes float64 rounding from the reference differences.
    assert extended["max_relative_difference"] < document["max_relative_difference"]


def test_gradcheck_prints_a_readable_table():
    result = run("gradcheck", "--data", "digits", "--n-samples", "200", "--layers", "6")
    assert result.returncode == 0, result.stderr
    assert "dense_0.W" in result.stdout
    assert "PASSED" in result.stdout
    assert "good" in result.stdout


def test_gradcheck_failure_exits_one():
    result = run("gradcheck", "--layers", "4", "--threshold", "1e-300", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["passed"] is False


def test_dropout_is_refused_with_the_reason_and_no_traceback():
    result = run("gradcheck", "--keep-prob", "0.8")
    assert result.returncode == 2
    assert "every evaluation of the cost would drop" in result.stderr
    assert "--freeze-dropout" in result.stderr
    assert "Traceback" not in result.stderr
    frozen = run("gradcheck", "--keep-prob", "0.8", "--freeze-dropout", "--quiet")
    assert frozen.returncode == 0
    assert frozen.stdout == ""


def test_debug_shows_the_traceback():
    result = run("--debug", "gradcheck", "--keep-prob", "0.8")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gradcheck", "--layrs", "3"], "Did you mean '--layers'?"),
        (["gradcheck", "--layers", "10,x"], "comma-separated hidden layer sizes"),
        (["gradcheck", "--data", "mnist"], "'mnist' is not one of"),
        (["gradcheck", "--init", "kaiming"], "unknown initializer 'kaiming'"),
        (["gradcheck", "--keep-prob", "0"], "--keep-prob"),
    ],
)
def test_bad_usage_exits_two_with_a_clear_message(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_help_describes_every_flag():
    result = run("gradcheck", "--help")
    assert result.returncode == 0
    for flag in (
        "--data",
        "--layers",
        "--activation",
        "--batch-norm",
        "--l2",
        "--json",
        "--keep-prob",
        "--freeze-dropout",
        "--epsilon",
        "--precision",
    ):
        assert flag in result.stdout


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "nntune", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "gradcheck" in result.stdout


def _commands():
    from nntune.cli import main

    return sorted(main.commands.items())


def test_every_command_documents_every_flag_and_has_json_and_quiet():
    import click

    names = [name for name, _ in _commands()]
    for expected in (
        "compare",
        "curves",
        "datasets",
        "diagnose",
        "evaluate",
        "gradcheck",
        "predict",
        "report",
        "train",
    ):
        assert expected in names
    for name, command in _commands():
        assert command.help, name
        options = [p for p in command.params if isinstance(p, click.Option)]
        flags = {flag for option in options for flag in option.opts}
        assert {"--json", "--quiet"} <= flags, name
        for option in options:
            assert option.help, f"{name} {option.opts} has no help"


@pytest.mark.parametrize("name", [name for name, _ in _commands()])
def test_every_subcommand_help_runs_and_lists_its_flags(name):
    import click

    result = run(name, "--help")
    assert result.returncode == 0, result.stderr
    command = dict(_commands())[name]
    for option in command.params:
        if isinstance(option, click.Option):
            assert option.opts[0] in result.stdout, (name, option.opts)
    assert "\\b" not in result.stdout  # Click's no-rewrap marker, shown raw


@pytest.mark.parametrize("name", ["train", "compare", "curves", "diagnose", "report"])
def test_a_flag_typo_gets_a_suggestion_everywhere(name):
    result = run(name, "--jsno")
    assert result.returncode == 2
    assert "Did you mean '--json'?" in result.stderr
