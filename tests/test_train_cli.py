"""End-to-end tests of ``nntune train``, run as a real process."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NNTUNE = str(Path(sys.executable).with_name("nntune"))


def train(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NNTUNE, "train", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_acceptance_command(tmp_path):
    result = train(
        "--data",
        "moons",
        "--layers",
        "5,2",
        "--optimizer",
        "adam",
        "--learning-rate",
        "0.0007",
        "--batch-size",
        "64",
        "--epochs",
        "2000",
        "--seed",
        "3",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["train"]["accuracy"] >= 0.9
    for name in ("train", "dev", "test"):
        assert {"cost", "accuracy"} <= set(document[name])
    assert document["epochs_run"] == 2000
    assert 1 <= document["best_epoch"] <= 2000
    run_dir = tmp_path / document["run_dir"]
    for name in (
        "config.toml",
        "model.json",
        "model.safetensors",
        "history.csv",
        "metrics.json",
        "checkpoint.json",
    ):
        assert (run_dir / name).exists(), name
    with (run_dir / "history.csv").open() as file:
        assert len(list(csv.DictReader(file))) == 2000


def test_config_file_and_flags_that_override_it(tmp_path):
    (tmp_path / "run.toml").write_text(
        'data = "circles"\nlayers = [6, 3]\noptimizer = "momentum"\nbeta = 0.8\n'
        "epochs = 7\nbatch-size = 32\nl2 = 0.1\n"
    )
    result = train(
        "--config", "run.toml", "--epochs", "5", "--out", "r", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["epochs_run"] == 5
    written = (tmp_path / "r" / "config.toml").read_text()
    assert 'data = "circles"' in written
    assert "epochs = 5" in written
    assert "beta = 0.8" in written
    assert "batch_size = 32" in written
    # The written config reproduces the run (and here, finds it finished).
    again = train("--config", "r/config.toml", "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["resumed_from_epoch"] == 5


def test_unknown_config_key_gets_a_suggestion(tmp_path):
    (tmp_path / "bad.toml").write_text("learning_rat = 0.1\n")
    result = train("--config", "bad.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "unknown setting 'learning_rat'. Did you mean 'learning_rate'?" in result.stderr
    )


def test_flag_typo_gets_a_suggestion(tmp_path):
    result = train("--learning-rat", "0.1", cwd=tmp_path)
    assert result.returncode == 2
    assert "Did you mean" in result.stderr
    assert "'--learning-rate'" in result.stderr


def test_hyperparameter_the_optimizer_does_not_take(tmp_path):
    result = train("--optimizer", "gd", "--beta1", "0.9", cwd=tmp_path)
    assert result.returncode == 2
    assert "beta1 = 0.9 does not apply to this run: it is used only" in result.stderr


def test_divergence_exits_one_with_advice(tmp_path):
    result = train(
        "--optimizer",
        "gd",
        "--learning-rate",
        "1e30",
        "--no-standardize",
        "--epochs",
        "50",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "diverged in epoch" in result.stderr
    assert "Lower the learning rate" in result.stderr
    assert "Traceback" not in result.stderr


def test_progress_goes_to_stderr_and_summary_to_stdout(tmp_path):
    result = train("--epochs", "20", "--out", "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "epoch 20/20" in result.stderr
    assert "train" in result.stdout
    assert "accuracy" in result.stdout


def history_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as file:
        return [
            {k: v for k, v in row.items() if k != "time"}
            for row in csv.DictReader(file)
        ]


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    args = [
        "--data",
        "moons",
        "--layers",
        "8,4",
        "--batch-norm",
        "--keep-prob",
        "0.9",
        "--early-stopping",
        "--patience",
        "5000",
        "--epochs",
        "1500",
        "--checkpoint-every",
        "20",
        "--seed",
        "4",
        "--quiet",
    ]
    straight = train(*args, "--out", "straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr

    process = subprocess.Popen(
        [NNTUNE, "train", *args, "--out", "killed"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = tmp_path / "killed" / "checkpoint.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["epoch"] >= 100:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(checkpoint.read_text())["epoch"]
    assert 100 <= killed_at < 1500
    assert not (tmp_path / "killed" / "metrics.json").exists()

    resumed = train(*args, "--out", "killed", "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from_epoch"] == killed_at
    for name in ("model.safetensors", "model.json"):
        a = (tmp_path / "straight" / name).read_bytes()
        b = (tmp_path / "killed" / name).read_bytes()
        assert a == b, name
    assert history_rows(tmp_path / "killed" / "history.csv") == history_rows(
        tmp_path / "straight" / "history.csv"
    )


def test_augmentation_for_image_data(tmp_path):
    result = train(
        "--data",
        "digits",
        "--layers",
        "16",
        "--epochs",
        "3",
        "--augment",
        "flip,shift:1,rotate:5,noise:0.1",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    plain = train(
        "--data", "digits", "--layers", "16", "--epochs", "3", "--json", cwd=tmp_path
    )
    assert json.loads(result.stdout)["train"] != json.loads(plain.stdout)["train"]
    refused = train("--augment", "flip", "--epochs", "2", cwd=tmp_path)
    assert refused.returncode == 2
    assert "augmentation works on images" in refused.stderr
    unknown = train("--data", "digits", "--augment", "zoom", cwd=tmp_path)
    assert "unknown augmentation 'zoom'" in unknown.stderr
