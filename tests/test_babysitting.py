"""Babysitting ("pandas"): pause a run, continue it with changed settings."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nntune import TrainConfig, fit, load_model, prepare_data
from nntune.experiment.trial import build_model
from nntune.optim import adam
from nntune.optim.phased import piecewise_constant

NNTUNE = str(Path(sys.executable).parent / "nntune")
FLAGS = ["--data", "moons", "--layers", "8", "--optimizer", "adam"]
FLAGS += ["--learning-rate", "0.01", "--keep-prob", "0.8", "--l2", "0.1"]
SETTINGS = {
    "data": "moons",
    "layers": [8],
    "optimizer": "adam",
    "learning_rate": 0.01,
    "keep_prob": 0.8,
    "l2": 0.1,
}


def nntune(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    found = subprocess.run(
        [NNTUNE, *map(str, args)], capture_output=True, text=True, timeout=300
    )
    if check and found.returncode != 0:
        raise AssertionError(found.stderr)
    return found


def scheduled_from_the_start(boundary: int, epochs: int):
    """A run given the learning rate 0.01, then 0.001 from epoch boundary + 1."""
    config = TrainConfig.from_mapping({**SETTINGS, "epochs": epochs})
    data = prepare_data(config)
    X, y = data.arrays("train")
    model = build_model(config, data.dataset, X)
    history = fit(
        model,
        X,
        y,
        optimizer=adam(piecewise_constant([boundary], [0.01, 0.001])),
        epochs=epochs,
        batch_size=config.batch_size,
        dev=data.arrays("dev"),
        seed=config.seed_for("shuffle"),
        progress="silent",
    )
    return model, history


def assert_same_weights(model, run: Path) -> None:
    saved = load_model(run / "model")
    for layer, params in model.params.items():
        for name, value in params.items():
            np.testing.assert_array_equal(
                np.asarray(value), np.asarray(saved.params[layer][name])
            )


def test_resumed_with_a_lower_rate_equals_that_schedule_from_the_start(tmp_path):
    run = tmp_path / "run"
    nntune("train", *FLAGS, "--epochs", 100, "--out", run, "--quiet")
    found = nntune("resume", run, "--learning-rate", 0.001, "--epochs", 200, "--json")
    metrics = json.loads(found.stdout)
    assert metrics["epochs_run"] == 200
    assert metrics["changes"] == [
        {
            "epoch": 101,
            "step": 300,
            "setting": "learning_rate",
            "old": 0.01,
            "new": 0.001,
        }
    ]
    assert metrics["lineage"][0]["changes"] == {"learning_rate": 0.001, "epochs": 200}
    assert metrics["lineage"][0]["from_epoch"] == 100
    model, _history = scheduled_from_the_start(100, 200)
    assert_same_weights(model, run)  # bit for bit
    saved = json.loads((run / "history.json").read_text())
    rates = [row["learning_rate"] for row in saved["epochs"]]
    assert rates[99] == pytest.approx(0.01)
    assert rates[100] == pytest.approx(0.001)
    assert saved["changes"][0]["epoch"] == 101
    report = (run / "report.html").read_text()
    assert "Changes during training" in report
    assert "nntune resume" in report  # the lineage
    config = (run / "config.toml").read_text()
    assert "learning_rate = 0.01" in config  # the settings the run started with


def test_a_run_paused_by_a_signal_continues_with_changes(tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(
        [NNTUNE, "train", *FLAGS, "--epochs", "5000", "--out", str(run)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (run / "checkpoint.json").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert f"nntune resume {run} --learning-rate" in stderr
    paused = json.loads((run / "checkpoint.json").read_text())["epoch"]
    assert 0 < paused < 5000
    nntune("resume", run, "--learning-rate", 0.001, "--epochs", paused + 20, "--quiet")
    model, _ = scheduled_from_the_start(paused, paused + 20)
    assert_same_weights(model, run)


def test_resume_changes_l2_and_keep_prob_and_records_them(tmp_path):
    run = tmp_path / "run"
    nntune("train", *FLAGS, "--epochs", 20, "--out", run, "--quiet")
    found = nntune("resume", run, "--l2", 0.5, "--keep-prob", 0.9, "--json")
    assert json.loads(found.stdout)["epochs_run"] == 20  # nothing more to train
    found = nntune("resume", run, "--epochs", 30, "--batch-size", 32, "--json")
    metrics = json.loads(found.stdout)
    changes = {c["setting"]: (c["old"], c["new"]) for c in metrics["changes"]}
    assert changes == {"l2": (0.1, 0.5), "keep_prob": (pytest.approx(0.8), 0.9)}
    assert [e["changes"] for e in metrics["lineage"]] == [
        {"l2": 0.5, "keep_prob": 0.9},
        {"epochs": 30, "batch_size": 32},
    ]
    assert metrics["epochs_run"] == 30


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("short") / "run"
    nntune("train", *FLAGS, "--epochs", 5, "--out", run, "--quiet")
    return run


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--layers", "3"], "changes the network"),
        (["--beta1", "0.8"], "part of the optimizer"),
        (["--data", "circles"], "changes the data"),
        (["--out", "elsewhere"], "resume writes into RUN"),
    ],
)
def test_structural_changes_are_refused_with_the_reason(short_run, flags, message):
    before = (short_run / "checkpoint.json").read_bytes()
    refused = nntune("resume", short_run, *flags, check=False)
    assert refused.returncode == 2
    assert message in refused.stderr
    assert (short_run / "checkpoint.json").read_bytes() == before  # nothing lost


def test_resume_needs_a_run_with_a_checkpoint_and_dropout_for_keep_prob(tmp_path):
    refused = nntune("resume", tmp_path / "none", check=False)
    assert refused.returncode == 2
    assert "not an nntune run folder" in refused.stderr
    run = tmp_path / "run"
    nntune("train", "--data", "moons", "--epochs", 3, "--out", run, "--quiet")
    refused = nntune("resume", run, "--keep-prob", 0.5, check=False)
    assert "started without dropout" in refused.stderr
    for name in ("checkpoint.json", "checkpoint.safetensors"):
        (run / name).unlink()
    refused = nntune("resume", run, "--epochs", 10, check=False)
    assert "no checkpoint to resume from" in refused.stderr


class _KilledError(Exception):
    pass


class _DieAtFirstEpoch:
    """A callback that stands for a kill before any epoch of the resume ran."""

    order = 0
    stateful = False

    def on_train_begin(self, trainer):
        pass

    def on_epoch_begin(self, trainer, epoch):
        raise _KilledError

    def on_train_end(self, trainer):
        pass


def test_a_resume_killed_before_its_first_epoch_keeps_its_changes(tmp_path):
    from nntune.experiment.resume import resume_training
    from nntune.experiment.rundir import run_training

    config = TrainConfig.from_mapping({**SETTINGS, "epochs": 5, "out": str(tmp_path)})
    run_training(config, progress="silent")
    with pytest.raises(_KilledError):
        resume_training(
            tmp_path,
            {"learning_rate": 0.002, "epochs": 12},
            command="first",
            progress="silent",
            callbacks=[_DieAtFirstEpoch()],
        )
    result = resume_training(tmp_path, {}, command="second", progress="silent")
    assert result.history.epochs_run == 12  # the killed resume's epochs
    assert [(c["epoch"], c["new"]) for c in result.history.changes] == [(6, 0.002)]
    first, second = result.metrics["lineage"]
    assert first["command"] == "first"
    assert first["interrupted"] is True
    assert second["to_epoch"] == 12


def test_with_a_decay_the_learning_rate_change_is_the_base_rate(tmp_path):
    from nntune.experiment.resume import resume_training
    from nntune.experiment.rundir import run_training

    settings = {**SETTINGS, "decay": "exponential", "learning_rate": 0.05}
    config = TrainConfig.from_mapping({**settings, "epochs": 10, "out": str(tmp_path)})
    run_training(config, progress="silent")
    result = resume_training(
        tmp_path, {"learning_rate": 0.005, "epochs": 12}, progress="silent"
    )
    (change,) = result.history.changes
    assert (change["old"], change["new"]) == (pytest.approx(0.05), 0.005)
    rates = result.history.column("learning_rate")
    per_epoch = rates[1] / rates[0]  # exponential decay: a constant factor
    # Epoch 11 runs at the new base times the decay there, not at 0.005.
    assert rates[10] == pytest.approx(0.005 * rates[9] / 0.05 * per_epoch, rel=1e-5)
    assert rates[10] < 0.005


def test_a_resume_killed_outright_keeps_its_changes(tmp_path):
    from nntune.experiment.resume import resume_training
    from nntune.experiment.rundir import run_training

    config = TrainConfig.from_mapping({**SETTINGS, "epochs": 5, "out": str(tmp_path)})
    run_training(config, progress="silent")
    script = (
        "import os, sys\n"
        "from nntune.experiment.resume import resume_training\n"
        "class Kill:\n"
        "    order = 0\n"
        "    stateful = False\n"
        "    def on_train_begin(self, trainer): pass\n"
        "    def on_epoch_begin(self, trainer, epoch): os._exit(9)\n"
        "resume_training(sys.argv[1], {'learning_rate': 0.002, 'epochs': 12},\n"
        "                command='first', progress='silent', callbacks=[Kill()])\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path)])
    assert killed.returncode == 9  # no clean-up ran: nothing saved the change
    result = resume_training(tmp_path, {}, command="second", progress="silent")
    assert result.history.epochs_run == 12
    assert [(c["epoch"], c["new"]) for c in result.history.changes] == [(6, 0.002)]
