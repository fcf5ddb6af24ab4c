"""Regression as a first-class task: metrics, standardized targets, diagnosis, splits.

Numbers are checked against scikit-learn's own metrics; the end-to-end runs (the
diabetes data through ``nntune train`` and the estimators) are in
tests/test_regression_runs.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

import nntune
from nntune.data.split import split_warnings
from nntune.diagnosis import Thresholds
from nntune.experiment.trial import TrainConfig, build_model, prepare_data
from nntune.losses import MeanSquaredError, loss_from_config
from nntune.metrics.regression import regression_metrics, rmse_margin, target_std
from nntune.regression_diagnosis import diagnose_regression
from nntune.remedies import recommend


def sklearn_metrics(y, p):
    return {
        "rmse": root_mean_squared_error(y, p),
        "mae": mean_absolute_error(y, p),
        "r2": r2_score(y, p),
    }


@pytest.mark.parametrize("outputs", [1, 3])
def test_metrics_match_scikit_learn(outputs):
    rng = np.random.default_rng(outputs)
    y = rng.normal(50, 20, size=(40, outputs)) * [1, 10, 0.1][:outputs]
    p = y + rng.normal(0, 15, size=y.shape)
    y, p = (y[:, 0], p[:, 0]) if outputs == 1 else (y, p)
    found = regression_metrics(y, p)
    assert found == pytest.approx(sklearn_metrics(y, p), rel=1e-12)
    worse = regression_metrics(y, np.full_like(p, 1e3))
    assert worse["r2"] == pytest.approx(r2_score(y, np.full_like(p, 1e3)))
    assert worse["r2"] < 0


def test_metrics_of_a_constant_target_follow_scikit_learn():
    y = np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 4.0]])
    for p in (y, y + np.array([0.0, 0.5]), y + np.array([1.0, 0.0])):
        assert regression_metrics(y, p)["r2"] == pytest.approx(r2_score(y, p))
    # (m, 1) predictions for (m,) targets, as a model's predict gives them
    assert regression_metrics(y[:, 1], y[:, 1:])["r2"] == 1.0


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match=r"y_true has shape \(3,\) and y_pred \(2,\)"):
        regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"NaN or infinite.*retrain"):
        regression_metrics([1.0, 2.0], [np.nan, 2.0])


def test_rmse_margin_and_target_std():
    # 1.96 * 50 / sqrt(2 * 88): 88 examples know an RMSE to about 15%
    assert rmse_margin(50.0, 88) == pytest.approx(7.3869, rel=1e-4)
    assert rmse_margin(50.0, 0) == 0.0
    y = np.array([[1.0, 10.0], [3.0, 30.0]])
    assert target_std(y) == pytest.approx((1.0 + 10.0) / 2)


def test_loss_standardizes_targets_and_predicts_in_their_units():
    rng = np.random.default_rng(0)
    y = rng.normal([300.0, -2.0, 5.0], [80.0, 0.01, 0.0], size=(50, 3))
    loss = MeanSquaredError.standardized(y)
    np.testing.assert_allclose(loss.target_mean, y.mean(axis=0))
    np.testing.assert_allclose(loss.target_scale[:2], y.std(axis=0)[:2])
    assert loss.target_scale[2] == 1.0  # a constant column is only centred
    targets = loss.prepare_targets(y, 3, "float64")
    np.testing.assert_allclose(targets.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(targets.std(axis=0), [1, 1, 0], atol=1e-12)
    np.testing.assert_allclose(loss.predict(targets), y, rtol=1e-12)
    again = loss_from_config(loss.config())
    assert again == loss
    assert loss_from_config({"kind": "mean_squared_error"}) == MeanSquaredError()
    # The cost of standardized targets is the MSE over their variance.
    cost = loss.value_and_grad(np.zeros((50, 3)), targets)[0]
    assert cost == pytest.approx(np.mean(targets**2))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target_mean": (1.0,), "target_scale": (0.0,)}, "the scales > 0"),
        ({"target_mean": (1.0, 2.0), "target_scale": (1.0,)}, "same length"),
        ({"target_mean": ("1",), "target_scale": (1.0,)}, r"got target_mean=\('1',\)"),
        ({"target_mean": (np.nan,), "target_scale": (1.0,)}, "finite numbers"),
        ({"target_mean": (1.0,)}, "MeanSquaredError.standardized"),
    ],
)
def test_loss_refuses_bad_statistics(options, message):
    with pytest.raises(ValueError, match=message):
        MeanSquaredError(**options)
    config = {key: list(values) for key, values in options.items()}
    with pytest.raises(ValueError, match=message):
        loss_from_config({"kind": "mean_squared_error", **config})
    with pytest.raises(ValueError, match="lists of numbers"):
        loss_from_config({"kind": "mean_squared_error", "target_mean": 3.0})


def test_loss_refuses_targets_of_another_width():
    loss = MeanSquaredError.standardized(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"standardizes 2 target\(s\).*has 1 output"):
        loss.prepare_targets(np.zeros(4), 1, "float32")


def test_build_model_fits_the_target_statistics_on_the_training_rows():
    config = TrainConfig(data="diabetes", layers=(4,), epochs=1)
    data = prepare_data(config)
    X, y = data.arrays("train")
    model = build_model(config, data.dataset, X, y)
    assert model.loss.target_mean == pytest.approx((y.mean(),))
    assert model.loss.target_scale == pytest.approx((y.std(),))
    with pytest.raises(ValueError, match="needs the training targets y_train"):
        build_model(config, data.dataset, X)


def test_saved_model_keeps_its_target_units(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 3))
    y = 1e4 + 500 * X[:, 0]
    model = nntune.mlp([4], task="regression").init(3, seed=0, dtype="float64")
    model.loss = MeanSquaredError.standardized(y)
    nntune.fit(model, X, y, epochs=3, progress="silent", seed=0)
    model.save(tmp_path / "model")
    loaded = nntune.load_model(tmp_path / "model")
    assert loaded.loss == model.loss
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert abs(float(np.mean(loaded.predict(X))) - 1e4) < 2e3  # the target's units


def test_regression_diagnosis_by_hand():
    # bias 20 - 0 = 20; variance 35 - 20 = 15; thresholds 0.02 * 70 = 1.4;
    # noise of the variance 1.96 sqrt(20^2 / 200 + 35^2 / 50) = 1.96 * 5.148 = 10.09
    report = diagnose_regression(
        train_error=20.0,
        dev_error=35.0,
        target_std=70.0,
        examples={"train": 100, "dev": 25},
    )
    assert (report.avoidable_bias, report.variance) == (20.0, 15.0)
    assert report.verdict == "high bias and high variance"
    assert report.problems == ("high bias", "high variance")
    assert (report.measure, report.target_std) == ("rmse", 70.0)
    assert "(high; high above 10.09)" in report.explanation[1]
    assert "RMSE" in report.explanation[0]
    assert "%" not in "".join(report.explanation)
    expected = recommend(["high bias", "high variance"])
    assert report.recommendations == expected  # the one list of remedies
    assert report.to_dict()["measure"] == "rmse"


def test_regression_thresholds_scale_with_the_target():
    def verdict(scale):
        return diagnose_regression(
            train_error=10.0 * scale,
            dev_error=12.0 * scale,
            human_error=9.9 * scale,
            target_std=40.0 * scale,
            thresholds=Thresholds(bias=0.02, variance=0.02),
        ).verdict

    # variance 2 > 0.02 * 40 = 0.8; bias 0.1 < 0.8, in any unit
    assert verdict(1.0) == verdict(1000.0) == verdict(0.001) == "high variance"
    looser = diagnose_regression(
        train_error=10.0,
        dev_error=12.0,
        target_std=40.0,
        human_error=10.0,
        thresholds=Thresholds(variance=0.06),  # 2.4
    )
    assert looser.verdict == "fine"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"train_error": -1.0}, "train_error must be an RMSE >= 0"),
        ({"dev_error": None}, "dev_error must be an RMSE >= 0"),
        ({"target_std": 0.0}, "target_std must be a number > 0.*train it again"),
        ({"human_error": float("inf")}, "human_error must be an RMSE"),
        ({"target_std": None}, "target_std must be a number > 0"),
    ],
)
def test_regression_diagnosis_refuses_bad_numbers(options, message):
    given = {"train_error": 1.0, "dev_error": 2.0, "target_std": 3.0, **options}
    with pytest.raises(ValueError, match=message):
        diagnose_regression(**given)


def test_split_warnings_speak_of_rmse_for_regression():
    rng = np.random.default_rng(0)
    small = split_warnings(rng.normal(size=88), rng.normal(size=88), task="regression")
    assert len(small) == 2
    # 1.96 / sqrt(2 * 88) = 14.8%
    assert "its RMSE is only known to about ±15% of itself" in small[0]
    assert "error rate" not in " ".join(small)
    assert "points" not in " ".join(small)
    # Integer targets of a regression are not classes.
    counts = np.arange(300) % 7
    assert split_warnings(counts[:150], counts[150:], task="regression") == []
    assert "class" in split_warnings(counts[:150], counts[150:] // 3)[0]
    base = rng.normal(100, 10, 200)
    shifted = split_warnings(base, base + base.std(), task="regression")
    assert len(shifted) == 1
    assert "the target's mean differs by 1.0 standard deviations" in shifted[0]
