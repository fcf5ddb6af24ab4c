"""Every remedy a run's diagnosis prints, pasted as printed, trains what it says.

Three tiny runs (high bias; high variance on grey images; high bias stopped early by
early stopping) are trained with ``nntune train``; the list of remedies that its
summary, ``nntune diagnose RUN`` and the report show must be one and the same, and
each command in it runs, exactly as printed, through the CLI's entry point: a new
run's ``config.toml`` differs from the first run's in the remedy's settings alone,
and a curve runs on the run's own data.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import require
from nntune._files import read_toml
from nntune.cli import main

RUNS = {
    # gd with a high rate for 4 epochs: the cost still falls, the fit is poor.
    "bias": "--data moons --n-samples 200 --optimizer gd --learning-rate 0.1 "
    "--epochs 4 --l2 0.3 --keep-prob 0.8 --layers 4",
    # Random labels on 4x4 grey images: memorized, nothing learned for the dev set.
    "variance": "--data noise.npz --layers 64 --learning-rate 0.01 --batch-size 8 "
    "--epochs 30",
    # Random labels in a table, patience 1: stopped after a few of its 50 epochs.
    "stopped": "--data noise.csv --layers 8 --early-stopping --patience 1 "
    "--epochs 50 --learning-rate 0.01",
}


def nntune(*args: str) -> str:
    """Run a command through the CLI's entry point; its stdout."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, f"nntune {shlex.join(args)}:\n{result.output}"
    return result.stdout


def remedy_lines(text: str) -> list[str]:
    """The remedies a command printed, from "What to try" to the list's end."""
    lines = text.splitlines()
    start = lines.index("What to try, in order:")
    found = []
    for line in lines[start:]:
        if not (line == lines[start] or re.match(r"  \d+\. |     nntune ", line)):
            break
        found.append(line)
    return found


def write_noise(folder: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        folder / "noise.npz", X=rng.normal(size=(100, 4, 4)), y=rng.integers(0, 2, 100)
    )
    table = np.column_stack([rng.normal(size=(150, 6)), rng.integers(0, 2, 150)])
    np.savetxt(folder / "noise.csv", table, delimiter=",", fmt="%.5f")


def check_pasted(command: str, item: dict, run: Path) -> None:
    words = shlex.split(command)
    assert words[0] == "nntune"
    printed = nntune(*words[1:])
    before = read_toml(run / "config.toml")
    if words[1] == "train":
        out = Path(words[words.index("--out") + 1])
        after = read_toml(out / "config.toml")
        differ = {
            k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
        }
        assert differ == {"out", *item["change"]}, command
        for name, value in item["change"].items():
            assert after[name] == value, command
        assert (out / "metrics.json").is_file()
        return
    # A curve on the run's own data, over the values printed.
    assert f"{Path(before['data']).stem}-{words[2]}" in printed, printed
    rows = [line.split() for line in printed.splitlines()[1:] if line[:1] == " "]
    xs = [float(row[0]) for row in rows if len(row) == 5]
    if words[2] == "validation":
        assert xs == item["change"]["learning_rate"], printed
    else:
        metrics = json.loads((run / "metrics.json").read_text())
        assert max(xs) == metrics["train"]["examples"], printed


@pytest.mark.slow
def test_every_printed_remedy_pastes_and_trains_the_change(tmp_path, monkeypatch):
    require("matplotlib")
    monkeypatch.chdir(tmp_path)
    write_noise(tmp_path)
    walked = {}
    for name, flags in RUNS.items():
        summary = nntune("train", *shlex.split(flags), "--out", name)
        printed = remedy_lines(summary)
        # One list: the summary, `nntune diagnose RUN`, the report, metrics.json.
        assert remedy_lines(nntune("diagnose", name)) == printed
        items = json.loads(Path(name, "metrics.json").read_text())["diagnosis"][
            "recommendations"
        ]
        commands = [line.strip() for line in printed if line.startswith("     ")]
        assert commands == [item["command"] for item in items if item["command"]]
        report = Path(name, "report.html").read_text()
        shown = re.findall(r"<br><code>(.*?)</code></li>", report)
        assert [html.unescape(code) for code in shown] == commands
        walked[name] = {item["remedy"] for item in items}
        for item in items:
            if item["command"]:
                check_pasted(item["command"], item, Path(name))
    assert {"train longer", "weaker L2", "less dropout", "better optimization"} <= (
        walked["bias"]
    )
    assert {"data augmentation", "L2 regularization", "dropout"} <= walked["variance"]
    # Stopped by early stopping, on a table: no more epochs, no augmentation.
    assert "bigger network" in walked["stopped"]
    assert (
        not {"train longer", "data augmentation", "early stopping"}
        & (walked["stopped"])
    )
