"""The experiment layer: the table of settings, configs, trials on prepared data.

Several tests here catch bugs that were once planted and went unnoticed: an optimizer
built without its decay, a comparison that trained the base configuration instead of
the variant, a curve that scored "dev" on training rows.
"""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nntune
from nntune.curves import learning_curve, validation_curve
from nntune.experiment.compare import compare, parse_vary
from nntune.experiment.config import TrainConfig
from nntune.experiment.settings import (
    SETTINGS,
    SettingError,
    check_setting,
    estimator_settings,
    search_space,
)
from nntune.experiment.trial import (
    build_optimizer,
    evaluate_sets,
    prepare_data,
    train_trial,
)

NNTUNE = str(Path(sys.executable).with_name("nntune"))


# ----------------------------------------------------------- the one table
def test_train_config_is_the_table():
    import dataclasses

    fields = dataclasses.fields(TrainConfig)
    assert [f.name for f in fields] == [s.name for s in SETTINGS]
    for field, setting in zip(fields, SETTINGS, strict=True):
        assert field.default == setting.default, setting.name


def test_cli_options_are_the_table():
    from nntune.cli.train import train

    flags = {
        option
        for param in train.params
        for option in (*param.opts, *param.secondary_opts)
    }
    for setting in SETTINGS:
        assert setting.flag in flags, setting.flag
        if setting.kind == "bool":
            assert f"--no-{setting.flag[2:]}" in flags


def test_estimator_parameters_are_the_table():
    estimator = nntune.NNClassifier()
    params = estimator.get_params()
    for setting in estimator_settings():
        assert params[setting.name] == setting.default, setting.name
    own = {"hidden_layer_sizes", "validation_fraction", "random_state", "verbose"}
    assert set(params) == {s.name for s in estimator_settings()} | own | {
        "class_weight",  # the classifier's own: a dict too, and no regressor's
        "threshold",
    }
    assert "threshold" not in nntune.NNRegressor().get_params()
    with pytest.raises(TypeError, match="bogus"):
        nntune.NNClassifier(bogus=1)


def test_search_space_uses_each_settings_natural_scale():
    space = search_space()
    assert space["learning_rate"][0] == "log"
    assert space["beta1"] == ("one_minus_log", 0.8, 0.999)
    assert space["keep_prob"][0] == "linear"
    assert space["batch_size"][0] == "int_log"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("batch_norm", "false", "batch_norm = 'false' is a string; expected true or"),
        ("batch_size", 32.0, "batch_size = 32.0 is a number; expected an integer"),
        ("batch_size", 0, r"batch_size = 0 is out of range; expected an integer in"),
        (
            "learning_rate",
            "0.1",
            "learning_rate = '0.1' is a string; expected a number",
        ),
        ("keep_prob", 1.5, r"keep_prob = 1.5 is out of range; expected a number in"),
        ("optimizer", "sgdx", "optimizer = 'sgdx' is not a known value; expected one"),
        ("layers", [10, 0], "layers = \\[10, 0\\] has a size that is not a positive"),
        ("checkpoint_every", True, "checkpoint_every = True is a boolean; expected"),
    ],
)
def test_wrong_types_and_ranges_are_one_line_errors(name, value, message):
    with pytest.raises(SettingError, match=message) as caught:
        check_setting(name, value, "config.toml")
    assert str(caught.value).startswith(f"config.toml: {name} = ")
    assert "\n" not in str(caught.value)


def test_a_toml_value_of_the_wrong_type_is_a_one_line_cli_error(tmp_path):
    (tmp_path / "bad.toml").write_text('batch_norm = "false"\nepochs = 2\n')
    result = subprocess.run(
        [NNTUNE, "train", "--config", "bad.toml", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first == (
        "Error: bad.toml: batch_norm = 'false' is a string; expected true or false "
        "(a TOML boolean, not a string)."
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------- seeds
def test_each_seed_sets_its_own_part_of_the_run():
    base = TrainConfig(data="moons", n_samples=200, layers=(4,), epochs=2, seed=1)
    split = prepare_data(base).split
    resplit = prepare_data(TrainConfig(**{**base.settings(), "split_seed": 2})).split
    assert not np.array_equal(split.dev, resplit.dev)
    # The weights' seed changes the weights, not the dev set.
    other = TrainConfig(**{**base.settings(), "init_seed": 5})
    assert prepare_data(other) is prepare_data(base)  # prepared once, shared
    a = train_trial(base, prepare_data(base))
    b = train_trial(other, prepare_data(other))
    assert not np.array_equal(
        a.model.params["dense_1"]["W"], b.model.params["dense_1"]["W"]
    )
    # One seed still sets everything: the same settings, bit-identical runs.
    again = train_trial(base, prepare_data(base))
    assert again.history.iterations == a.history.iterations


def test_a_trial_never_trains_on_one_split_and_scores_on_another():
    config = TrainConfig(data="moons", layers=(4,), epochs=1)
    other = TrainConfig(data="moons", layers=(4,), epochs=1, split_seed=9)
    with pytest.raises(ValueError, match="differ from those the data were prepared"):
        train_trial(config, prepare_data(other))


def test_a_trial_reports_dev_per_epoch_and_no_test():
    config = TrainConfig(data="moons", layers=(6,), epochs=4, learning_rate=0.01)
    trial = train_trial(config, prepare_data(config))
    assert len(trial.dev_curve) == 4
    assert trial.dev_curve == trial.history.column("dev_accuracy")
    assert trial.metric == "accuracy"
    assert not hasattr(trial, "test")
    assert trial.dev["examples"] == len(prepare_data(config).split.dev)


# --------------------------------------------- the workflow's planted bugs
def test_build_optimizer_keeps_the_decay():
    # Planted bug 2: build_optimizer dropping --decay trains at a constant rate.
    for decay, rates in (
        ("exponential", [0.1, 0.095, 0.09025]),
        ("inverse_time", [0.1, 0.05, 0.1 / 3]),
        ("interval", [0.1, 0.1, 0.1]),
    ):
        config = TrainConfig(optimizer="gd", learning_rate=0.1, decay=decay)
        optimizer = build_optimizer(config)
        params = {"dense_0": {"W": np.zeros(1)}}
        state = optimizer.init(params)
        seen = []
        for epoch in range(3):
            state = nntune.optim.set_epoch(state, epoch)
            _, state = optimizer.update({"dense_0": {"W": np.ones(1)}}, state, params)
            seen.append(nntune.optim.current_learning_rate(state))
        assert seen == pytest.approx(rates, rel=1e-12), decay


def test_nntune_train_decays_as_asked(tmp_path):
    result = subprocess.run(
        [
            NNTUNE,
            "train",
            "--data",
            "moons",
            "--layers",
            "4",
            "--epochs",
            "3",
            "--learning-rate",
            "0.01",
            "--decay",
            "exponential",
            "--out",
            "run",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "run" / "history.csv").open() as file:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(file)]
    assert rates == pytest.approx([0.01, 0.0095, 0.009025], rel=1e-12)


def test_the_estimator_decays_exactly_as_nntune_train():
    config = TrainConfig(
        data="moons", layers=(4,), epochs=3, learning_rate=0.01, decay="exponential"
    )
    expected = train_trial(config, prepare_data(config)).history
    clf = nntune.NNClassifier(
        (4,), epochs=3, learning_rate=0.01, decay="exponential", random_state=0
    ).fit(*prepare_data(config).arrays("train"))
    assert clf.history_.column("learning_rate") == expected.column("learning_rate")
    assert clf.history_.column("learning_rate") == pytest.approx(
        [0.01, 0.0095, 0.009025], rel=1e-12
    )


def test_compare_trains_each_variant_not_the_base():
    # Planted bug 3: training the base configuration for every variant.
    config = TrainConfig(data="moons", layers=(8,), epochs=2, l2=0.0)
    variants = compare(config, parse_vary(["layers=3,7/2", "l2=0,0.5"]))
    for variant in variants:
        model = variant.model
        widths = [p["W"].shape[1] for p in model.params.values()][:-1]
        assert tuple(widths) == variant.values["layers"]
        assert model.l2 == variant.values["l2"]
        assert variant.settings == {
            **config.settings(),
            **{
                k: list(v) if isinstance(v, tuple) else v
                for k, v in variant.values.items()
            },
        }
    costs = {v.name: v.metrics["train"]["cost"] for v in variants}
    assert len(set(costs.values())) == 4


def test_curves_score_dev_on_the_dev_rows():
    # Planted bug 4: evaluating "dev" on the training rows.
    config = TrainConfig(data="moons", layers=(8,), epochs=5, learning_rate=0.01)
    data = prepare_data(config)
    dev_rows = len(data.split.dev)
    curve = validation_curve(config, "l2", [0.0, 1.0])
    for point in curve.points:
        assert point.dev_examples == dev_rows
        variant = TrainConfig(**{**config.settings(), "l2": point.x})
        trial = train_trial(variant, data)
        dev = evaluate_sets(trial.model, data.dataset, {"dev": data.split.dev})["dev"]
        # The curve's variants train as one population: equal to the separate
        # run up to float32 rounding (training rows would give another cost).
        assert point.dev_cost == pytest.approx(dev["cost"], rel=1e-5)
        assert point.dev_error == pytest.approx(1 - dev["accuracy"], rel=1e-12)
    learning = learning_curve(config, sizes=(0.5, 1.0))
    assert [p.dev_examples for p in learning.points] == [dev_rows, dev_rows]
    assert [p.train_examples for p in learning.points] == [
        round(0.5 * len(data.split.train)),
        len(data.split.train),
    ]


def test_remedies_are_structured_changes_rendered_from_the_table():
    from nntune.remedies import recommend

    settings = TrainConfig(layers=(10, 5), optimizer="gd").settings()
    found = recommend(["high bias", "high variance"], settings)
    changes = {r.remedy: r.change for r in found}
    assert changes["bigger network"] == {"layers": (20, 10)}
    assert changes["L2 regularization"] == {"l2": 0.1}
    assert changes["early stopping"] == {"early_stopping": True}
    assert changes["more data"] is None
    for remedy in found:
        if remedy.change is None or remedy.curve is not None:
            assert remedy.flag is None or remedy.flag.startswith("--param ")
            continue
        # Every change is a valid configuration, and its flag is what the CLI takes.
        TrainConfig(**{**settings, **remedy.change})
        flag = remedy.flag.split()[0]
        assert flag in {s.flag for s in SETTINGS}, flag
