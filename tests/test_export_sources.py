"""What to_torch and to_onnx export from: a Sequential, an estimator, a saved model.

Both share one default output (a classifier's probabilities, as ``predict_proba``),
and both carry the class labels: the ONNX graph as a ``label`` output, the torch
module as ``classes``. The layer-by-layer maths is tests/reference/test_export.py's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import nntune
from helpers import require
from nntune.estimators import NNClassifier, NNRegressor
from nntune.export import DEFAULT_OUTPUT, to_onnx, to_torch

IRIS = nntune.load_dataset("iris")
X = IRIS.X.astype(np.float32)
FAST = dict(hidden_layer_sizes=(8,), epochs=3, random_state=0)


def fitted(case):
    if case == "strings":  # three classes, softmax
        return NNClassifier(**FAST).fit(X, np.array(IRIS.class_names)[IRIS.y])
    if case == "binary":  # two integer classes, one sigmoid unit
        return NNClassifier(**FAST).fit(X, np.where(IRIS.y > 0, 7, 3))
    return NNRegressor(**FAST).fit(X[:, 1:], X[:, 0])


def session(path):
    onnxruntime = require("onnxruntime")
    return onnxruntime.InferenceSession(str(path))


@pytest.mark.parametrize("case", ["strings", "binary"])
def test_onnx_of_a_classifier_returns_its_labels_and_probabilities(case, tmp_path):
    clf = fitted(case)
    onnx_session = session(to_onnx(clf, tmp_path / "clf.onnx"))
    outputs = [o.name for o in onnx_session.get_outputs()]
    assert outputs == ["label", "probabilities"]
    label, probabilities = onnx_session.run(None, {"input": X})
    np.testing.assert_array_equal(label, clf.predict(X))
    assert label.dtype == (object if case == "strings" else np.int64)
    assert len(set(label.tolist())) > 1  # the threshold or the argmax is exercised
    np.testing.assert_allclose(probabilities, clf.predict_proba(X), atol=1e-6)


def test_onnx_of_a_regressor_has_values_only(tmp_path):
    reg = fitted("regression")
    onnx_session = session(to_onnx(reg, tmp_path / "reg.onnx"))
    assert [o.name for o in onnx_session.get_outputs()] == ["values"]
    (values,) = onnx_session.run(None, {"input": X[:, 1:]})
    np.testing.assert_allclose(values[:, 0], reg.predict(X[:, 1:]), rtol=1e-5)


def test_torch_and_onnx_share_the_default_output(tmp_path):
    torch = require("torch")
    clf = fitted("binary")
    assert DEFAULT_OUTPUT == "probabilities"
    module = to_torch(clf)
    assert module.classes == (3, 7)
    with torch.no_grad():
        from_torch = module(torch.from_numpy(X)).numpy()
    (from_onnx,) = session(to_onnx(clf, tmp_path / "clf.onnx")).run(
        ["probabilities"], {"input": X}
    )
    assert from_torch.shape == from_onnx.shape == (len(X), 2)
    np.testing.assert_allclose(from_torch, from_onnx, atol=1e-6)
    np.testing.assert_allclose(from_torch, clf.predict_proba(X), atol=1e-6)


def test_saved_estimators_and_runs_export_from_their_path(tmp_path):
    clf = fitted("binary")
    clf.save(tmp_path / "saved")  # a file stem
    clf.save(tmp_path / "run" / "model")  # a folder, as `nntune train` leaves
    for source in (tmp_path / "saved.json", str(tmp_path / "run")):
        onnx_session = session(to_onnx(source, tmp_path / "x.onnx"))
        label, _ = onnx_session.run(None, {"input": X})
        np.testing.assert_array_equal(label, clf.predict(X))  # ints stay ints
    model = nntune.load_model(tmp_path / "saved")
    model.metadata = {}  # a bare model: its classes are 0..K-1
    label, logits = session(to_onnx(model, tmp_path / "x.onnx", output="logits")).run(
        None, {"input": X}
    )
    np.testing.assert_array_equal(label, model.predict(X))
    assert logits.shape == (len(X), 1)
    proto = require("onnx").load(str(tmp_path / "x.onnx"))
    properties = {prop.key: prop.value for prop in proto.metadata_props}
    assert json.loads(properties["nntune.classes"]) == [0, 1]


def test_what_cannot_be_exported_is_refused(tmp_path):
    with pytest.raises(ValueError, match="NNClassifier is not fitted yet; call fit"):
        to_onnx(NNClassifier(), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match=r"holds no model; expected the folder"):
        to_onnx(tmp_path, tmp_path / "x.onnx")
    with pytest.raises(TypeError, match=r"a fitted NNClassifier .* got dict"):
        to_torch({"W": 1})
    with pytest.raises(ValueError, match="output must be one of"):
        to_onnx(fitted("binary"), tmp_path / "x.onnx", output="labels")
    assert list(tmp_path.iterdir()) == []
