"""The decision threshold and class weights through the model, runs, CLI, estimators."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import nntune
from helpers import require
from nntune import TrainConfig
from nntune.cli import main
from nntune.estimators import NNClassifier
from nntune.experiment.compare import parse_vary
from nntune.experiment.populations import population_key, train_trials
from nntune.experiment.trial import prepare_data, train_trial
from nntune.metrics.classification import best_threshold
from nntune.serialization import ModelFileError

X_MOONS = nntune.load_dataset("moons", n_samples=200).X


def binary_model(seed=0):
    return nntune.mlp([6]).init(2, seed=seed, dtype="float64")


def probabilities(model, X):
    return np.asarray(model.predict_proba(X))[:, 1]


def test_the_threshold_decides_predict_and_is_saved_with_the_model(tmp_path):
    model = binary_model()
    p = probabilities(model, X_MOONS)
    assert model.threshold == 0.5
    cut = float(np.quantile(p, 0.3))  # between the scores: 70% of rows above it
    model.threshold = cut
    np.testing.assert_array_equal(model.predict(X_MOONS), (p > cut).astype(int))
    model.save(tmp_path / "model")
    saved = json.loads((tmp_path / "model.json").read_text())["model"]["loss"]
    assert saved == {"kind": "binary_cross_entropy", "threshold": cut}
    loaded = nntune.load_model(tmp_path / "model")
    assert loaded.threshold == cut
    np.testing.assert_array_equal(loaded.predict(X_MOONS), model.predict(X_MOONS))


def test_the_default_threshold_leaves_the_saved_config_as_it_was():
    assert binary_model().config()["loss"] == {"kind": "binary_cross_entropy"}


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5, float("nan"), True, "0.3"])
def test_a_threshold_outside_0_1_is_refused(value):
    with pytest.raises(ValueError, match=r"threshold must be a number in \(0, 1\)"):
        binary_model().threshold = value


def test_the_decision_boundary_is_drawn_at_the_models_threshold():
    plots = require("nntune.report.plots")
    model = binary_model()
    model.threshold = 0.3
    assert plots._decision_threshold(model) == 0.3
    moons = nntune.load_dataset("moons", n_samples=60)
    clf = NNClassifier((4,), epochs=2, random_state=0, threshold=0.2)
    clf.fit(moons.X, moons.y)
    assert plots._decision_threshold(clf) == 0.2
    assert plots._decision_threshold(NNClassifier()) == 0.5  # not fitted


def test_a_multiclass_model_has_no_threshold():
    model = nntune.mlp([4], task="multiclass", outputs=3).init(2)
    assert model.threshold is None
    with pytest.raises(ValueError, match="for binary classifiers; this model's loss"):
        model.threshold = 0.3


def test_a_damaged_threshold_in_model_json_is_a_model_file_error(tmp_path):
    binary_model().save(tmp_path / "model")
    path = tmp_path / "model.json"
    document = json.loads(path.read_text())
    document["model"]["loss"]["threshold"] = 7
    path.write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match="threshold must be a number in"):
        nntune.load_model(tmp_path / "model")


def test_the_onnx_label_uses_the_stored_threshold(tmp_path):
    onnxruntime = require("onnxruntime")
    model = binary_model()
    p = probabilities(model, X_MOONS)
    model.threshold = float(np.quantile(p, 0.8))
    path = nntune.export.to_onnx(model, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(path))
    (label,) = session.run(["label"], {"input": X_MOONS.astype(np.float64)})
    np.testing.assert_array_equal(label, model.predict(X_MOONS))
    assert np.any(label != (p > 0.5))  # not the default rule


def test_auto_chooses_the_best_f1_on_the_dev_set_and_numbers_are_kept():
    config = TrainConfig(n_samples=200, epochs=5, threshold="auto")
    data = prepare_data(config)
    trial = train_trial(config, data)
    dev = data.split.dev
    scores = probabilities(trial.model, data.dataset.X[dev])
    expected = best_threshold(data.dataset.y[dev], scores)
    assert trial.model.threshold == pytest.approx(expected)
    fixed = TrainConfig(n_samples=200, epochs=5, threshold=0.3)
    assert train_trial(fixed, data).model.threshold == 0.3


def test_threshold_and_class_weight_settings_are_checked():
    assert TrainConfig(threshold="0.25").threshold == 0.25  # a flag's text
    assert parse_vary(["threshold=auto,0.3"]) == [
        {"threshold": "auto"},
        {"threshold": 0.3},
    ]
    with pytest.raises(ValueError, match="threshold = 'high' is neither 'auto' nor"):
        TrainConfig(threshold="high")
    with pytest.raises(ValueError, match=r"expected 'auto' or a number in \(0, 1\)"):
        TrainConfig(threshold=1.0)
    with pytest.raises(ValueError, match="CLASS:WEIGHT pairs"):
        TrainConfig(class_weight="rare")
    config = TrainConfig(data="blobs", epochs=1, threshold=0.3)
    with pytest.raises(ValueError, match="binary classifier's decision threshold"):
        train_trial(config, prepare_data(config))


def test_members_that_differ_in_threshold_train_as_one_population():
    base = {"n_samples": 200, "epochs": 3, "class_weight": "balanced"}
    configs = [TrainConfig(**base, threshold=t) for t in (0.3, 0.7)]
    assert population_key(configs[0]) == population_key(configs[1])
    results = train_trials(configs)
    assert [r.model.threshold for r in results] == [0.3, 0.7]
    alone = train_trial(configs[0], prepare_data(configs[0]))
    np.testing.assert_allclose(
        results[0].history.column("train_cost"),
        alone.history.column("train_cost"),
        rtol=1e-5,
    )


def write_imbalanced_csv(path, m=500):
    # Three features: no decision boundary to draw in the report (the slow plot).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, 3))
    rare = X[:, 0] + 0.5 * rng.standard_normal(m) > 1.3
    rows = ["a,b,c,kind"] + [
        f"{a:.5f},{b:.5f},{c:.5f},{'rare' if r else 'common'}"
        for (a, b, c), r in zip(X, rare, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")


def invoke(*args):
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


def test_the_cli_weighs_classes_chooses_a_threshold_and_reports_per_class(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    write_imbalanced_csv(tmp_path / "data.csv")
    settings = {"data": "data.csv", "epochs": 15, "learning_rate": 0.01}
    plain = train_trial(TrainConfig(**settings), prepare_data(TrainConfig(**settings)))
    shown = invoke(
        *("train", "--data", "data.csv", "--epochs", "15", "--lr", "0.01"),
        *("--class-weight", "balanced", "--threshold", "auto", "--out", "w"),
    ).output
    assert "precision    recall  f1-score   support" in shown
    assert "threshold: class 1 where P(class 1) >" in shown
    metrics = json.loads((tmp_path / "w" / "metrics.json").read_text())
    recall = {}
    for name, found in (("plain", plain.dev), ("w", metrics["dev"])):
        recall[name] = {row["class"]: row for row in found["per_class"]}["rare"]
        assert 0.5 < found["roc_auc"] <= 1
    # Measured: dev recall of the rare class 0.11 -> 0.56 (at the best-F1 threshold).
    assert recall["w"]["recall"] > recall["plain"]["recall"] + 0.2
    assert metrics["threshold"]["setting"] == "auto"
    assert metrics["threshold"]["chosen_on"] == "dev set: best F1 of class 1"
    config = (tmp_path / "w" / "config.toml").read_text()
    assert 'class_weight = "balanced"' in config
    assert 'threshold = "auto"' in config
    report = (tmp_path / "w" / "report.html").read_text()
    assert "<h2>Classification metrics</h2>" in report
    assert "<h2>ROC curve</h2>" in report
    evaluated = json.loads(
        invoke("evaluate", "w", "--data", "data.csv", "--json").output
    )
    assert evaluated["threshold"] == metrics["threshold"]["value"]
    assert {"precision_macro", "recall_macro", "f1_macro", "roc_auc"} <= set(evaluated)
    assert [row["class"] for row in evaluated["per_class"]] == ["common", "rare"]


def test_class_weights_by_name_reach_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_imbalanced_csv(tmp_path / "data.csv", m=200)
    (tmp_path / "run.toml").write_text(
        'data = "data.csv"\nepochs = 2\nclass_weight = "rare:4"\nthreshold = 0.4\n'
    )
    invoke("train", "--config", "run.toml", "--out", "named", "--quiet")
    model = nntune.load_model(tmp_path / "named" / "model")
    assert model.threshold == 0.4
    config = TrainConfig(data="data.csv", class_weight="spam:2", epochs=1)
    with pytest.raises(ValueError, match=r"names \['spam'\], which .* does not have"):
        train_trial(config, prepare_data(config))


def imbalanced_labels():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 3))
    y = np.where(X[:, 0] + 0.5 * rng.standard_normal(400) > 1.2, "rare", "common")
    return X, y


FAST = {"hidden_layer_sizes": (8,), "learning_rate": 0.01, "epochs": 15}


def test_the_classifier_takes_class_weight_sample_weight_and_threshold(tmp_path):
    X, y = imbalanced_labels()
    plain = NNClassifier(**FAST, random_state=0).fit(X, y)
    weighted = NNClassifier(**FAST, random_state=0, class_weight={"rare": 5}).fit(X, y)
    same = NNClassifier(**FAST, random_state=0).fit(
        X, y, sample_weight=np.where(y == "rare", 5.0, 1.0)
    )
    np.testing.assert_allclose(same.predict_proba(X), weighted.predict_proba(X))

    def rare_recall(clf):
        return np.mean(clf.predict(X)[y == "rare"] == "rare")

    assert rare_recall(weighted) > rare_recall(plain) + 0.2  # measured 0.50 -> 0.83
    tuned = NNClassifier(**FAST, random_state=0, threshold="auto").fit(X, y)
    p = tuned.predict_proba(X)[:, 1]
    assert tuned.threshold_ == pytest.approx(best_threshold(y == "rare", p))
    np.testing.assert_array_equal(
        tuned.predict(X), tuned.classes_[(p > tuned.threshold_).astype(int)]
    )
    tuned.save(tmp_path / "clf")
    assert NNClassifier.load(tmp_path / "clf").threshold_ == tuned.threshold_
    weighted.save(tmp_path / "weighted")
    assert NNClassifier.load(tmp_path / "weighted").class_weight == {"rare": 5}


def test_the_classifier_refuses_unknown_labels_and_balanced_partial_fit():
    X, y = imbalanced_labels()
    with pytest.raises(ValueError, match=r"labels \['spam'\] that are not classes"):
        NNClassifier(**FAST, class_weight={"spam": 2}).fit(X, y)
    with pytest.raises(ValueError, match="which partial_fit never sees"):
        NNClassifier(**FAST, class_weight="balanced").partial_fit(
            X, y, classes=["common", "rare"]
        )
