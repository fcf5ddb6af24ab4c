from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nntune import TrainConfig
from nntune.experiment.compare import compare, parse_vary

NNTUNE = str(Path(sys.executable).with_name("nntune"))


def test_parse_vary_builds_a_grid_with_typed_values():
    grid = parse_vary(["init=zeros,he", "l2=0,0.7", "layers=10/5,4"])
    assert len(grid) == 8
    assert grid[0] == {"init": "zeros", "l2": 0.0, "layers": (10, 5)}
    assert grid[-1] == {"init": "he", "l2": 0.7, "layers": (4,)}
    assert parse_vary(["batch_norm=true,false"]) == [
        {"batch_norm": True},
        {"batch_norm": False},
    ]
    assert parse_vary(["keep-prob=1,0.86"])[1] == {"keep_prob": 0.86}


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["init"], "takes SETTING=VALUE"),
        (["learning_rat=0.1"], "Did you mean 'learning_rate'"),
        (["l2=0", "l2=1"], "varied twice"),
        (["l2=big"], r"l2='big': expected a number in \[0, inf\)"),
        (["layers=10,x"], "separate sizes with '/'"),
        ([], "at least one --vary"),
    ],
)
def test_parse_vary_errors(specs, message):
    with pytest.raises(ValueError, match=message):
        parse_vary(specs)


def test_variants_share_everything_but_the_varied_setting():
    config = TrainConfig(data="moons", layers=(8,), epochs=20, seed=3)
    variants = compare(config, parse_vary(["optimizer=gd,adam"]))
    assert [v.name for v in variants] == ["optimizer=gd", "optimizer=adam"]
    gd, adam = variants
    assert gd.settings | {"optimizer": "adam"} == adam.settings
    assert gd.metrics["dev"]["examples"] == adam.metrics["dev"]["examples"]
    assert gd.to_dict()["optimizer"] == "gd"
    assert {"train", "dev", "epochs_run", "seconds"} <= set(gd.to_dict())
    assert "test" not in gd.to_dict()


@pytest.mark.slow
def test_course_initialization_lab(tmp_path):
    """zeros stays at chance; He beats random x10 on dev accuracy and reaches 0.9."""
    result = subprocess.run(
        [
            NNTUNE,
            "compare",
            "--data",
            "circles",
            "--layers",
            "10,5",
            "--optimizer",
            "gd",
            "--learning-rate",
            "0.01",
            "--batch-size",
            "300",
            "--epochs",
            "15000",
            "--vary",
            "init=zeros,random:10,he",
            "--seed",
            "1",
            "--out",
            "cmp",
            "--json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    variants = {v["name"]: v for v in json.loads(result.stdout)["variants"]}
    assert list(variants) == ["init=zeros", "init=random:10", "init=he"]
    zeros, big, he = variants.values()
    assert zeros["init"] == "zeros"
    for name in ("train", "dev"):
        assert zeros[name]["accuracy"] == pytest.approx(0.5, abs=0.05)
    assert "test" not in zeros  # kept for the final evaluation of the chosen model
    assert he["dev"]["accuracy"] > big["dev"]["accuracy"]
    assert he["dev"]["accuracy"] >= 0.9
    assert (tmp_path / "cmp" / "report.html").exists()
    saved = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert [v["name"] for v in saved["variants"]] == list(variants)


def test_cli_table_and_config_file(tmp_path):
    (tmp_path / "base.toml").write_text('data = "moons"\nlayers = [6]\nepochs = 10\n')
    result = subprocess.run(
        [NNTUNE, "compare", "base.toml", "--vary", "l2=0,0.7", "--out", "c"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "l2=0.0" in result.stdout
    assert "l2=0.7" in result.stdout
    assert "report:" in result.stdout
    assert "[2/2] l2=0.7" in result.stderr


def test_table_stays_readable_on_an_80_column_terminal(tmp_path):
    result = subprocess.run(
        [
            NNTUNE,
            "compare",
            "--data",
            "moons",
            "--layers",
            "4",
            "--epochs",
            "2",
            "--vary",
            "init=zeros,random:10",
            "--vary",
            "optimizer=gd,adam",
            "--out",
            "c",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    assert "  4: init=random:10,optimizer=adam" in lines
