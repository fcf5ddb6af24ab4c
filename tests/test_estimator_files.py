"""Estimators saved as safetensors + JSON (``save``/``load``), and kept by joblib."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import nntune
from nntune import ModelFileError
from nntune.estimators import NNClassifier, NNRegressor

IRIS = nntune.load_dataset("iris")
NAMES = np.array(IRIS.class_names)[IRIS.y]  # 'setosa', 'versicolor', 'virginica'
FAST = dict(hidden_layer_sizes=(8,), epochs=4, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def named():
    """A classifier of string labels, with feature names and early stopping."""
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(IRIS.X, columns=["sl", "sw", "pl", "pw"])
    return NNClassifier(**FAST, early_stopping=True).fit(frame, NAMES), frame


def test_string_classes_predict_the_same_in_a_fresh_process(named, tmp_path):
    clf, frame = named
    clf.save(tmp_path / "clf")
    code = (
        "import json, sys, numpy as np, pandas\n"
        "from nntune.estimators import NNClassifier\n"
        "clf = NNClassifier.load(sys.argv[1])\n"
        "X = pandas.DataFrame(json.loads(sys.argv[2]), columns=clf.feature_names_in_)\n"
        "print(json.dumps([clf.predict(X).tolist(), str(clf.classes_.dtype)]))\n"
    )
    rows = json.dumps(IRIS.X.tolist())
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(tmp_path / "clf"), rows],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    predicted, dtype = json.loads(result.stdout)
    assert predicted == clf.predict(frame).tolist()
    assert {"setosa", "virginica"} <= set(predicted)  # names, not codes
    assert dtype == "<U10"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clf.json",
        "clf.safetensors",
    ]


def test_load_restores_the_fitted_estimator(named, tmp_path):
    clf, frame = named
    loaded = NNClassifier.load(clf.save(tmp_path / "clf"))  # the .json path works
    np.testing.assert_array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert loaded.get_params() == clf.get_params()
    assert loaded.feature_names_in_.tolist() == ["sl", "sw", "pl", "pw"]
    assert loaded.n_features_in_ == 4
    assert loaded.loss_curve_ == clf.loss_curve_
    assert loaded.dev_scores_ == clf.dev_scores_
    assert (loaded.n_iter_, loaded.best_epoch_) == (clf.n_iter_, clf.best_epoch_)
    assert loaded.score(frame, NAMES) == clf.score(frame, NAMES)
    with pytest.raises(ValueError, match="feature names"):  # names still checked
        loaded.predict(frame.rename(columns={"sl": "x"}))
    # The file is an nntune model too: the class names are its metadata.
    assert nntune.load_model(tmp_path / "clf").metadata["class_names"] == [
        "setosa",
        "versicolor",
        "virginica",
    ]
    refit = clone(loaded).fit(frame, NAMES)
    np.testing.assert_array_equal(refit.predict(frame), clf.predict(frame))


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, 7], dtype=np.int32),
        np.array([-1.0, 2.0]),
        np.array([False, True]),
        np.array(["no", "yes"], dtype=object),  # as pandas gives strings
    ],
)
def test_labels_keep_their_type(labels, tmp_path):
    y = labels[(IRIS.y > 0).astype(int)]
    clf = NNClassifier(**FAST).fit(IRIS.X, y)
    clf.save(tmp_path / "clf")
    loaded = NNClassifier.load(tmp_path / "clf")
    assert loaded.classes_.dtype == labels.dtype
    predicted = loaded.predict(IRIS.X)
    assert predicted.dtype == labels.dtype
    np.testing.assert_array_equal(predicted, clf.predict(IRIS.X))


def test_regressor_round_trip_keeps_its_outputs(tmp_path):
    y = np.stack([IRIS.X[:, 0], IRIS.X[:, 1] * 2], axis=1)
    reg = NNRegressor(**{**FAST, "random_state": None}).fit(IRIS.X[:, 2:], y)
    reg.save(tmp_path / "reg")
    loaded = NNRegressor.load(tmp_path / "reg.safetensors")
    assert loaded.n_outputs_ == 2
    assert loaded.random_state is None
    np.testing.assert_array_equal(
        loaded.predict(IRIS.X[:, 2:]), reg.predict(IRIS.X[:, 2:])
    )


def test_joblib_keeps_the_whole_estimator():
    clf = NNClassifier(**FAST).fit(IRIS.X, NAMES)
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    kept = joblib.load(buffer)
    np.testing.assert_array_equal(kept.predict(IRIS.X), clf.predict(IRIS.X))
    kept.partial_fit(IRIS.X, NAMES)  # the optimizer state came along
    clf.partial_fit(IRIS.X, NAMES)
    assert kept.n_iter_ == FAST["epochs"] + 1
    np.testing.assert_array_equal(kept.predict_proba(IRIS.X), clf.predict_proba(IRIS.X))


def test_a_loaded_estimator_refuses_partial_fit_but_refits(tmp_path):
    clf = NNClassifier(**FAST).fit(IRIS.X, NAMES)
    loaded = NNClassifier.load(clf.save(tmp_path / "clf"))
    with pytest.raises(ValueError, match=r"loaded from a file.*call fit.*joblib"):
        loaded.partial_fit(IRIS.X, NAMES)
    assert loaded.n_iter_ == FAST["epochs"]
    assert loaded.fit(IRIS.X, NAMES).score(IRIS.X, NAMES) == clf.score(IRIS.X, NAMES)


def test_what_cannot_be_saved_or_loaded_is_refused(named, tmp_path):
    clf, _ = named
    with pytest.raises(NotFittedError):
        NNClassifier().save(tmp_path / "none")
    odd = NNClassifier(**{**FAST, "init": object()})
    odd.model_ = clf.model_
    with pytest.raises(ValueError, match=r"init=<object.*cannot be saved as JSON"):
        odd.save(tmp_path / "odd")
    assert list(tmp_path.iterdir()) == []

    clf.save(tmp_path / "clf")
    with pytest.raises(
        ModelFileError, match=r"holds a 'NNClassifier'.*NNClassifier\.load"
    ):
        NNRegressor.load(tmp_path / "clf")
    nntune.save_model(clf.model_, tmp_path / "bare")
    with pytest.raises(ModelFileError, match="holds an nntune model but no estimator"):
        NNClassifier.load(tmp_path / "bare")

    config = tmp_path / "clf.json"
    document = json.loads(config.read_text())
    document["metadata"]["class_names"] = ["a", "b"]  # three outputs
    config.write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match=r"damaged .*lists class names \['a'"):
        NNClassifier.load(tmp_path / "clf")
    document["metadata"]["class_names"] = ["a", "b", "c"]
    document["metadata"]["estimator"]["params"]["wings"] = 2
    config.write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match=r"damaged .*wings"):
        NNClassifier.load(tmp_path / "clf")
