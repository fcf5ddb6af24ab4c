"""Regression end to end on scikit-learn's diabetes data, with default settings.

What issue 12 asks to show: ``nntune train`` reaches R² >= 0.4 on the dev set and
``NNRegressor()`` scores R² >= 0.4 in ``cross_val_score(cv=5)``; every number the
run reports (summary, metrics.json, ``evaluate``, ``diagnose``) is checked against
scikit-learn's metrics of the model's own predictions, which are in the target's
units in Python, ``nntune predict``, ONNX and torch alike.
"""

from __future__ import annotations

import json
import re
import tomllib

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_diabetes
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import cross_val_score

from helpers import require
from nntune import NNRegressor, load_model
from nntune.cli import main
from nntune.experiment.trial import TrainConfig, prepare_data
from nntune.report.plots import cost_curves
from nntune.training import History


def cli(*arguments):
    """Run nntune in this process (a wide terminal: no table wraps); its output."""
    result = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(
        main, [str(argument) for argument in arguments]
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``nntune train --data diabetes`` with every other setting at its default."""
    folder = tmp_path_factory.mktemp("diabetes")
    printed = cli("train", "--data", "diabetes", "--out", folder / "run")
    return folder, folder / "run", printed


def expected_metrics(model, X, y):
    predicted = np.asarray(model.predict(X), dtype=np.float64)[:, 0]
    return {
        "rmse": root_mean_squared_error(y, predicted),
        "mae": mean_absolute_error(y, predicted),
        "r2": r2_score(y, predicted),
    }


def test_default_train_reaches_r2_of_04_and_reports_it(run):
    _, run_dir, printed = run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "regression"
    assert metrics["dev"]["r2"] >= 0.4
    settings = tomllib.loads((run_dir / "config.toml").read_text())
    prepared = prepare_data(TrainConfig.from_mapping(settings))
    model = load_model(run_dir / "model")
    for name in ("train", "dev", "test"):
        X, y = prepared.arrays(name)
        found = {key: metrics[name][key] for key in ("rmse", "mae", "r2")}
        assert found == pytest.approx(expected_metrics(model, X, y), rel=1e-6)
    train_y = prepared.arrays("train")[1]
    assert metrics["target_std"] == pytest.approx(train_y.std())
    assert model.loss.target_mean == pytest.approx((train_y.mean(),))
    # The summary's table: the cost is standardized, the metrics in target units.
    assert re.search(r"cost \(standardized\)\s*┃\s*RMSE\s*┃\s*MAE\s*┃\s*R²", printed)
    dev = metrics["dev"]
    row = f"{dev['rmse']:.4g} │ {dev['mae']:.4g} │ {dev['r2']:.4f}"
    assert row in printed
    assert "human-level RMSE taken as 0" in printed
    assert "RMSE is only known to about ±15% of itself" in printed
    assert "error rate" not in printed


def test_the_run_is_diagnosed_from_its_rmse(run):
    _, run_dir, _ = run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    diagnosis = metrics["diagnosis"]
    assert diagnosis["measure"] == "rmse"
    assert diagnosis["train_error"] == metrics["train"]["rmse"]
    assert diagnosis["variance"] == pytest.approx(
        metrics["dev"]["rmse"] - metrics["train"]["rmse"]
    )
    document = json.loads(cli("diagnose", run_dir, "--human-error", "40", "--json"))
    assert document["avoidable_bias"] == pytest.approx(metrics["train"]["rmse"] - 40)
    assert document["target_std"] == metrics["target_std"]
    assert [r["command"] for r in document["recommendations"]] == [
        r["command"] for r in diagnosis["recommendations"]
    ]
    printed = cli("diagnose", run_dir)
    assert "avoidable bias = training RMSE" in printed
    assert "%" not in printed.split("What to try")[0]


def test_evaluate_predict_and_the_report_are_in_the_targets_units(run):
    folder, run_dir, _ = run
    model = load_model(run_dir / "model")
    X, y = load_diabetes(return_X_y=True)
    evaluated = json.loads(cli("evaluate", run_dir, "--data", "diabetes", "--json"))
    expected = expected_metrics(model, X, y)
    found = {key: evaluated[key] for key in ("rmse", "mae", "r2")}
    assert found == pytest.approx(expected, rel=1e-6)
    assert evaluated["mean_squared_error"] == pytest.approx(expected["rmse"] ** 2)
    printed = cli("evaluate", run_dir, "--data", "diabetes")
    assert f"R² {expected['r2']:.4f}" in printed
    header = "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6"
    rows = "\n".join(",".join(f"{value:.17g}" for value in row) for row in X[:5])
    (folder / "new.csv").write_text(f"{header}\n{rows}\n")
    cli("predict", run_dir, "--input", folder / "new.csv", "--output", folder / "p.csv")
    predicted = np.loadtxt(folder / "p.csv", skiprows=1)
    np.testing.assert_allclose(predicted, model.predict(X[:5])[:, 0], rtol=1e-5)
    assert predicted.min() > 25  # the target's units (25 to 346), not standardized
    report = (run_dir / "report.html").read_text()
    assert {'id="predicted"', 'id="residuals"'} <= set(re.findall(r'id="\w+"', report))
    assert "Cost (standardized)" in report


def test_exports_give_values_in_the_targets_units(run):
    onnxruntime = require("onnxruntime")
    torch = require("torch")
    from nntune.export import to_onnx, to_torch

    folder, run_dir, _ = run
    model = load_model(run_dir / "model")
    X = load_diabetes().data.astype(np.float32)
    cli("export", run_dir, "--format", "onnx")
    session = onnxruntime.InferenceSession(str(run_dir / "model.onnx"))
    (values,) = session.run(["values"], {"input": X})
    np.testing.assert_allclose(values, model.predict(X), rtol=1e-5)
    logits = to_onnx(model, folder / "logits.onnx", output="logits")
    (raw,) = onnxruntime.InferenceSession(str(logits)).run(None, {"input": X})
    np.testing.assert_allclose(raw, model.logits(X), rtol=1e-5, atol=1e-6)
    module = to_torch(run_dir)
    assert list(dict(module.named_children()))[-1] == "values"
    with torch.no_grad():
        found = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(found, model.predict(X), rtol=1e-5)


def test_nnregressor_cross_validates_to_r2_of_04():
    X, y = load_diabetes(return_X_y=True)
    scores = cross_val_score(NNRegressor(random_state=0), X, y, cv=5)
    assert scores.mean() >= 0.4
    # Targets in other units (grams, not kilograms) are learnt alike.
    regressor = NNRegressor(random_state=0, epochs=20).fit(X, y)
    scaled = NNRegressor(random_state=0, epochs=20).fit(X, 1000 * y + 5e5)
    np.testing.assert_allclose(
        scaled.predict(X), 1000 * regressor.predict(X) + 5e5, rtol=1e-4
    )
    assert regressor.score(X, y) == pytest.approx(r2_score(y, regressor.predict(X)))
    assert regressor.loss_curve_[0] < 5  # standardized units


def test_partial_fit_standardizes_with_its_first_batch():
    X, y = load_diabetes(return_X_y=True)
    regressor = NNRegressor(random_state=0).partial_fit(X[:100], y[:100])
    assert regressor.model_.loss.target_mean == pytest.approx((y[:100].mean(),))
    regressor.partial_fit(X[100:], y[100:])
    assert regressor.model_.loss.target_mean == pytest.approx((y[:100].mean(),))
    assert np.mean(regressor.predict(X)) > 25  # the target's units


def test_a_cost_spanning_decades_is_drawn_on_a_log_axis(monkeypatch):
    from matplotlib.axes import Axes

    scales = []
    original = Axes.set_yscale

    def record(self, value, **kwargs):
        scales.append(value)
        return original(self, value, **kwargs)

    monkeypatch.setattr(Axes, "set_yscale", record)
    for costs in ([2e4, 300.0, 50.0], [1.2, 0.8, 0.6]):
        history = History()
        for epoch, cost in enumerate(costs, start=1):
            history.append({"epoch": epoch, "train_cost": cost, "dev_cost": cost})
        cost_curves(history)
    assert scales == ["log"]  # the first spans 400x; the second 2x stays linear
