"""Trials that share an architecture train as one population, each as it would alone;
a search runs them so when its space varies only the members' settings."""

from __future__ import annotations

import numpy as np
import pytest

import nntune
from helpers import require
from nntune.experiment.populations import population_key, train_population
from nntune.experiment.trial import prepare_data, train_trial

BASE = dict(
    data="moons",
    n_samples=240,
    layers=(6, 4),
    epochs=15,
    batch_size=32,
    dtype="float64",
    early_stopping=True,
    patience=3,
)


def configs(backend="numpy"):
    return [
        nntune.TrainConfig(
            **BASE,
            learning_rate=rate,
            l2=l2,
            keep_prob=keep,
            init_seed=i,
            backend=backend,
        )
        for i, (rate, l2, keep) in enumerate(
            [(0.3, 0.0, 0.9), (0.03, 0.1, 0.8), (0.003, 1.0, 0.95)]
        )
    ]


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_each_population_trial_equals_its_trial_alone(backend):
    if backend == "jax":
        require("jax")
    chosen = configs(backend)
    data = prepare_data(chosen[0])
    together = train_population(chosen, data)
    lengths = set()
    for config, numpy_config, result in zip(chosen, configs(), together, strict=True):
        alone = train_trial(numpy_config, data)
        lengths.add(result.history.epochs_run)
        assert result.config is config
        assert result.history.epochs_run == alone.history.epochs_run
        assert result.dev_curve == pytest.approx(alone.dev_curve, rel=1e-9)
        assert result.dev["accuracy"] == alone.dev["accuracy"]
        assert result.train["cost"] == pytest.approx(alone.train["cost"], rel=1e-9)
        for layer, arrays in alone.model.params.items():
            for name, array in arrays.items():
                np.testing.assert_allclose(
                    result.model.params[layer][name], array, atol=1e-10
                )
    assert len(lengths) > 1, "early stopping should end the members at different epochs"


def test_only_trials_that_share_everything_else_share_a_population():
    a, b, _ = configs()
    assert population_key(a) == population_key(b)
    for change in (
        dict(layers=(7, 4)),
        dict(batch_size=16),
        dict(keep_prob=1.0),  # no dropout layers
        dict(optimizer="momentum"),
        dict(shuffle_seed=5),
    ):
        other = nntune.TrainConfig(**{**BASE, "keep_prob": 0.9, **change})
        assert population_key(other) != population_key(a), change
    assert population_key(nntune.TrainConfig(augment="flip")) is None
    with pytest.raises(ValueError, match="differ only in"):
        train_population(
            [a, nntune.TrainConfig(**{**BASE, "layers": (3,)})], prepare_data(a)
        )


def member_space():
    return {
        "base": {
            "data": "moons",
            "n_samples": 200,
            "layers": [6],
            "epochs": 12,
            "dtype": "float64",
            "early_stopping": True,
            "patience": 3,
        },
        "space": {
            "learning_rate": {"log": [1e-3, 0.3]},
            "l2": {},
            "keep_prob": {"uniform": [0.6, 0.95]},
        },
    }


def test_a_search_over_the_members_settings_trains_populations(tmp_path, monkeypatch):
    from nntune.tuning import tune, worker

    passes = []
    real = worker.train_population

    def counted(configs, data):
        passes.append(len(configs))
        return real(configs, data)

    monkeypatch.setattr(worker, "train_population", counted)
    together = tune(member_space(), study=tmp_path / "p", trials=6, seed=3)
    assert passes == [6]  # one pass trained all six
    alone = tune(member_space(), study=tmp_path / "a", trials=6, seed=3, population=0)
    assert passes == [6]
    ours = {t.number: t for t in together.trials}
    for trial in alone.trials:
        assert ours[trial.number].params == trial.params
        assert ours[trial.number].state == trial.state == "complete"
        assert ours[trial.number].value == pytest.approx(trial.value, abs=1e-12)


def test_population_option_is_checked():
    from nntune.tuning import tune

    with pytest.raises(ValueError, match="takes engine='local', workers=1"):
        tune(member_space(), study="unused", trials=2, population=4, workers=2)


def test_the_tune_command_trains_populations_as_it_trains_one_by_one(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    command = str(Path(sys.executable).with_name("nntune"))
    space = tmp_path / "space.toml"
    space.write_text(
        '[base]\ndata = "moons"\nn_samples = 200\nlayers = [5]\nepochs = 8\n'
        'dtype = "float64"\n\n[space]\nlearning_rate = { log = [1e-3, 0.3] }\nl2 = {}\n'
    )
    found = {}
    for population in ("auto", "0"):
        done = subprocess.run(
            [
                command,
                "tune",
                str(space),
                "--trials",
                "4",
                "--json",
                "--population",
                population,
                "--out",
                str(tmp_path / population),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        found[population] = json.loads(done.stdout)
    # One pass: every trial of the population is given an equal share of its time.
    assert len({t["seconds"] for t in found["auto"]["trials"]}) == 1
    assert len(found["auto"]["trials"]) == len(found["0"]["trials"]) == 4
    for ours, theirs in zip(found["auto"]["trials"], found["0"]["trials"], strict=True):
        assert ours["params"] == theirs["params"]
        assert ours["value"] == pytest.approx(theirs["value"], abs=1e-12)
        assert ours["dev"]["cost"] == pytest.approx(theirs["dev"]["cost"], rel=1e-9)
    assert found["auto"]["best"]["value"] == pytest.approx(
        found["0"]["best"]["value"], abs=1e-12
    )
    assert found["auto"]["best"]["params"] == found["0"]["best"]["params"]
    bad = subprocess.run(
        [command, "tune", str(space), "--population", "many"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bad.returncode != 0
    assert "expected auto or a number of trials" in bad.stderr


def test_compare_and_validation_curves_train_their_variants_as_one_population(
    monkeypatch,
):
    from nntune import curves
    from nntune.experiment import compare as compare_module
    from nntune.experiment import populations

    passes = []
    real = populations.train_population

    def counted(configs, data):
        passes.append(len(configs))
        return real(configs, data)

    monkeypatch.setattr(populations, "train_population", counted)
    config = nntune.TrainConfig(**BASE, keep_prob=0.9)
    variants = compare_module.compare(config, [{"l2": 0.0}, {"l2": 0.5}, {"l2": 2.0}])
    curve = curves.validation_curve(config, "l2", [0.0, 0.5, 2.0])
    assert passes == [3, 3]
    data = prepare_data(config)
    for variant, point, l2 in zip(variants, curve.points, (0.0, 0.5, 2.0), strict=True):
        alone = train_trial(nntune.TrainConfig(**BASE, keep_prob=0.9, l2=l2), data)
        expected = pytest.approx(alone.dev["cost"], rel=1e-9)
        assert variant.metrics["dev"]["cost"] == expected
        assert point.dev_cost == expected
        assert variant.metrics["epochs_run"] == alone.history.epochs_run
