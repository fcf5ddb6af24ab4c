"""Python features exposed as settings: each trains what it names.

Warm-up + cosine, piecewise-constant and plateau decays, L1, batch-norm momentum and
early stopping's ``min_delta`` are settings of the one table (so of ``nntune train``,
``compare``, ``tune``, config files and the estimators); the names PyTorch and Keras
users type are aliases where they mean exactly nntune's. Each test checks the trained
model or its history, not only the parsed config.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nntune.experiment.compare import parse_vary
from nntune.experiment.config import TrainConfig
from nntune.experiment.populations import population_key
from nntune.experiment.settings import SettingError, check_setting
from nntune.experiment.trial import prepare_data, train_trial
from nntune.optim import warmup_cosine
from nntune.tuning.space import Space

NNTUNE = str(Path(sys.executable).with_name("nntune"))
TINY = {"data": "moons", "n_samples": 100, "layers": (4,)}  # 60 training rows


def trial(**settings):
    config = TrainConfig(**{**TINY, **settings})
    config.check_applicable()
    return train_trial(config, prepare_data(config))


# ------------------------------------------------------------------ decays
def test_warmup_cosine_follows_the_schedule_in_steps():
    result = trial(
        epochs=6,
        batch_size=16,
        learning_rate=0.1,
        decay="warmup_cosine",
        warmup_epochs=2,
    )
    # 60 rows in batches of 16: 4 steps an epoch; 2 epochs of warm-up, 4 of cosine.
    schedule = warmup_cosine(0.1, warmup_steps=8, decay_steps=16)
    expected = [schedule(0, 4 * (epoch + 1) - 1) for epoch in range(6)]
    rates = result.history.column("learning_rate")
    assert rates == pytest.approx(expected, rel=1e-9)
    assert rates[0] < rates[1] < 0.1
    assert rates[2] > rates[3] > rates[5] > 0


def test_piecewise_multiplies_the_rate_at_each_boundary():
    result = trial(
        epochs=5,
        learning_rate=0.1,
        decay="piecewise",
        decay_boundaries=(2, 4),
        decay_rate=0.5,
    )
    rates = result.history.column("learning_rate")
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025], rel=1e-9)


def plateau_rates(dev_costs, rate, factor, patience):
    """The rate of each epoch by ReduceLROnPlateau's rule, from the dev costs."""
    rates, best, wait = [], None, 0
    for cost in dev_costs:
        rates.append(rate)
        if best is None or cost < best:
            best, wait = cost, 0
            continue
        wait += 1
        if wait >= patience:
            rate, wait = rate * factor, 0
    return rates


def test_plateau_cuts_the_rate_when_the_dev_cost_stalls():
    # gd with a rate of 8 overshoots: the dev cost rises, and the rate is cut.
    result = trial(
        epochs=8,
        optimizer="gd",
        learning_rate=8.0,
        decay="plateau",
        decay_patience=1,
    )
    history = result.history
    rates = history.column("learning_rate")
    expected = plateau_rates(history.column("dev_cost"), 8.0, 0.1, patience=1)
    assert rates == pytest.approx(expected, rel=1e-9)
    assert min(rates) < 8.0  # it did cut


def test_decays_refuse_what_would_not_work():
    cases = [
        ({"decay": "piecewise"}, "needs decay_boundaries"),
        ({"decay": "plateau", "decay_rate": 1.0}, "would not lower the rate"),
        ({"decay": "warmup_cosine", "warmup_epochs": 5, "epochs": 5}, "no epoch"),
        ({"decay": "none", "warmup_epochs": 2}, "used only when decay is"),
    ]
    for settings, message in cases:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**settings).check_applicable()
    with pytest.raises(SettingError, match="is not strictly increasing"):
        check_setting("decay_boundaries", [50, 30])
    assert check_setting("decay_boundaries", "30, 60") == (30, 60)
    assert parse_vary(["decay_boundaries=2/4,3"]) == [
        {"decay_boundaries": (2, 4)},
        {"decay_boundaries": (3,)},
    ]


def test_a_plateau_trains_alone_and_a_cosine_run_is_keyed_by_its_length():
    assert population_key(TrainConfig(decay="plateau")) is None
    assert population_key(TrainConfig(decay="piecewise", decay_boundaries=(3,)))
    cosine = TrainConfig(decay="warmup_cosine", epochs=10)
    longer = TrainConfig(decay="warmup_cosine", epochs=20)
    assert cosine.fingerprint() != longer.fingerprint()
    assert TrainConfig(epochs=10).fingerprint() == TrainConfig(epochs=20).fingerprint()
    # Settings left out are left out of config.toml: old runs keep their folders.
    assert set(TrainConfig().settings()).isdisjoint(
        {"l1", "batch_norm_momentum", "min_delta", "warmup_epochs", "decay_patience"}
    )


# ---------------------------------------------- regularization and batch norm
def test_l1_trains_smaller_weights():
    plain = trial(epochs=20, learning_rate=0.05)
    sparse = trial(epochs=20, learning_rate=0.05, l1=3.0)
    assert (plain.model.l1, sparse.model.l1) == (0.0, 3.0)

    def size(model):
        return sum(np.abs(p["W"]).sum() for p in model.params.values() if "W" in p)

    assert size(sparse.model) < 0.8 * size(plain.model)


def test_batch_norm_momentum_reaches_the_running_statistics():
    # One full-batch step from running_mean = 0: running = (1 - momentum) * batch
    # mean, whatever the momentum, so 0.5 gives 5 times what the default 0.9 gives.
    settings = {"epochs": 1, "batch_size": 1000, "batch_norm": True}
    default = trial(**settings).model
    custom = trial(**settings, batch_norm_momentum=0.5).model
    [layer] = [layer for layer in custom.layers if layer.kind == "batch_norm"]
    assert layer.momentum == 0.5
    name = custom.names[custom.layers.index(layer)]
    np.testing.assert_allclose(
        custom.state[name]["running_mean"],
        5 * default.state[name]["running_mean"],
        rtol=1e-5,
    )


def test_min_delta_reaches_early_stopping():
    # No epoch improves the dev cost by 10: stopped after the patience.
    result = trial(epochs=30, early_stopping=True, patience=2, min_delta=10.0)
    assert result.history.epochs_run == 3
    assert trial(epochs=30, early_stopping=True, patience=2).history.epochs_run > 3


# ------------------------------------------------------------------- aliases
def test_the_names_of_pytorch_and_keras_are_aliases_where_exact():
    assert check_setting("optimizer", "sgd") == "gd"
    assert check_setting("init", "kaiming_normal") == "he"
    assert check_setting("init", "xavier_normal:2") == "glorot:2"
    config = TrainConfig.from_mapping({"lr": 0.2, "optimizer": "sgd"})
    assert (config.learning_rate, config.optimizer) == (0.2, "gd")
    with pytest.raises(ValueError, match="learning_rate is given twice"):
        TrainConfig.from_mapping({"lr": 0.2, "learning-rate": 0.1})
    space = Space.from_mapping({"lr": {"log": [1e-3, 0.1]}}, base={"optimizer": "sgd"})
    assert (list(space.dimensions), space.base) == (
        ["learning_rate"],
        {"optimizer": "gd"},
    )


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("he_normal", "he_normal"),
        ("glorot_uniform:2", "glorot_uniform:2"),
        ("xavier_uniform", "glorot_uniform"),
        ("kaiming_uniform", "he_uniform"),
    ],
)
def test_keras_initializers_and_pytorchs_uniform_names(name, stored):
    assert check_setting("init", name, "config.toml") == stored


def test_train_takes_the_aliases_and_prints_its_report(tmp_path):
    result = subprocess.run(
        [
            NNTUNE,
            "train",
            "--data",
            "moons",
            "--n-samples",
            "100",
            "--layers",
            "4",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--optimizer",
            "sgd",
            "--lr",
            "0.5",
            "--init",
            "kaiming_normal",
            "--decay",
            "warmup_cosine",
            "--warmup-epochs",
            "1",
            "--out",
            "run",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(
        f"Report: {Path('run') / 'report.html'}"
    )
    assert (tmp_path / "run" / "report.html").is_file()
    written = (tmp_path / "run" / "config.toml").read_text()
    for line in ('optimizer = "gd"', 'init = "he"', "learning_rate = 0.5"):
        assert line in written.splitlines(), line
    with (tmp_path / "run" / "history.csv").open() as file:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(file)]
    schedule = warmup_cosine(0.5, warmup_steps=4, decay_steps=8)
    assert rates == pytest.approx([schedule(0, 4 * e + 3) for e in range(3)])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["report"] == str(Path("run") / "report.html")


def test_resume_changes_l1_live_and_keeps_a_cosine_runs_length(tmp_path):
    from nntune.experiment.resume import resume_training
    from nntune.experiment.rundir import run_training

    run_training(
        TrainConfig(**TINY, epochs=2, out=str(tmp_path / "a")), progress="silent"
    )
    result = resume_training(
        tmp_path / "a", {"l1": 0.5, "epochs": 3}, progress="silent"
    )
    assert [(c["setting"], c["new"]) for c in result.history.changes] == [("l1", 0.5)]
    assert float(result.history.train_state.hyperparams["l1"]) == 0.5
    cosine = TrainConfig(
        **TINY, epochs=3, decay="warmup_cosine", out=str(tmp_path / "b")
    )
    run_training(cosine, progress="silent")
    with pytest.raises(ValueError, match="cannot resume with epochs: the run's warmup"):
        resume_training(tmp_path / "b", {"epochs": 6}, progress="silent")
