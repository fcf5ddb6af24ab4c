from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import require
from nntune import TrainConfig, load_dataset, load_model, run_training
from nntune.cli import main
from nntune.experiment.compare import compare, parse_vary
from nntune.experiment.rundir import RUN_FILES
from nntune.inference import load_run_model
from nntune.report import read_run

NNTUNE = str(Path(sys.executable).with_name("nntune"))
NOT_IN_A_VARIANT = {".nntune.lock", "checkpoint.json", "checkpoint.safetensors"}
"""A variant's folder is a run folder of `nntune train` but the checkpoint."""


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


def test_each_variant_is_written_as_the_run_folder_of_its_own_model(tmp_path):
    # Learning rates: one population, one batched pass, one folder per member.
    config = TrainConfig(data="moons", layers=(6,), epochs=8, seed=1)
    grid = parse_vary(["learning_rate=0.003,0.3"])
    variants = compare(config, grid, folder=tmp_path / "c")
    X = load_dataset("moons").X
    names = ["learning_rate=0.003", "learning_rate=0.3"]
    for variant, name in zip(variants, names, strict=True):
        assert variant.run_dir == tmp_path / "c" / name
        assert variant.to_dict()["run_dir"] == str(variant.run_dir)
        settings, metrics = read_run(variant.run_dir)
        assert settings == variant.settings
        assert settings["out"] == str(variant.run_dir)
        assert metrics["dev"] == variant.metrics["dev"]
        assert metrics["class_names"] == ["0", "1"]
        assert "test" not in metrics  # kept for the final evaluation
        saved = load_model(variant.run_dir / "model")
        np.testing.assert_array_equal(
            saved.predict_proba(X), variant.model.predict_proba(X)
        )
    assert variants[0].metrics["dev"] != variants[1].metrics["dev"]


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_cli_variant_folders_serve_evaluate_predict_export_and_train(
    tmp_path, monkeypatch
):
    require("onnx")
    monkeypatch.chdir(tmp_path)
    iris = load_dataset("iris")
    np.savetxt("x.csv", iris.X[:5], delimiter=",", header="a,b,c,d", comments="")
    command = "compare --data iris --layers 6 --epochs 15 --vary init=he,random:10"
    result = invoke(*command.split(), "--out", "c", "--json")
    variants = json.loads(result.output)["variants"]
    assert [v["run_dir"] for v in variants] == ["c/init=he", "c/init=random-10"]
    links = re.findall(r'<a href="([^"#]+)"', Path("c/report.html").read_text())
    assert links == ["init=he/report.html", "init=random-10/report.html"]
    for variant, link in zip(variants, links, strict=True):
        run = Path(variant["run_dir"])
        assert (Path("c") / link).read_text().count("<title>Run report: ") == 1
        assert {path.name for path in run.iterdir()} >= RUN_FILES - NOT_IN_A_VARIANT
    run = Path(variants[1]["run_dir"])
    result = invoke("evaluate", str(run), "--data", "iris", "--json")
    predicted = load_run_model(run).predict(iris.X)
    expected = np.mean(predicted == iris.y)
    assert json.loads(result.output)["accuracy"] == pytest.approx(expected)
    invoke("predict", str(run), "--input", "x.csv", "--output", "p.csv")
    assert len(Path("p.csv").read_text().splitlines()) == 6
    invoke("export", str(run), "--format", "onnx")
    assert (run / "model.onnx").is_file()
    # Its config.toml reproduces a variant: a plain run of it scores the same.
    settings, _ = read_run("c/init=he")
    config = TrainConfig.from_mapping({**settings, "out": "again"})
    again = run_training(config, progress="silent").metrics
    assert again["dev"]["accuracy"] == variants[0]["dev"]["accuracy"]
    assert again["dev"]["cost"] == pytest.approx(variants[0]["dev"]["cost"], rel=1e-5)
