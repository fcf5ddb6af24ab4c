"""Export to PyTorch and ONNX: the exported networks compute what nntune computes.

Each reference model is trained for a few epochs, so batch-norm running statistics and
the input standardizer are far from their initial values, then exported; PyTorch and
ONNX Runtime must reproduce nntune's logits, probabilities and predictions on 1,000
random inputs. Conventions bridged by the export (docs/conventions.md): ``W`` is
``Linear.weight.T``, ``BatchNorm(momentum=m)`` is ``BatchNorm1d(momentum=1 - m)`` and
``Dropout(keep_prob)`` is ``nn.Dropout(p=1 - keep_prob)``.

Under CI (``CI`` set to a non-empty value) a missing torch, onnx or onnxruntime is an
error, not a skip.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import sys

import numpy as np
import pytest

import nntune
from helpers import require
from nntune import (
    BatchNorm,
    BinaryCrossEntropy,
    Dense,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Standardize,
    Tanh,
)
from nntune.export import to_onnx, to_torch

torch = require("torch")
onnx = require("onnx")
onnxruntime = require("onnxruntime")

pytestmark = pytest.mark.torch

# Largest difference allowed between nntune and an export, as a fraction of the
# output's scale max(1, max |expected|). float64 agrees to ~1e-14, and 1e-10 catches a
# constant rounded to float32 (ONNX attributes are 32-bit: LeakyRelu's alpha, batch
# norm's epsilon). float32 cannot promise 1e-6 on logits (float32 spacing at 128 is
# 1.5e-5); a different summation order costs a few float32 ulps (about 1e-7
# relative): 4e-6 is about 32 ulps of the largest output.
TOLERANCE = {"float64": 1e-10, "float32": 4e-6}
DTYPES = ("float32", "float64")
CASES = ("binary", "multiclass", "regression")


# --------------------------------------------------------------------- the models
def _binary_data():
    data = nntune.load_dataset("breast_cancer")
    return data.X, data.y


def _multiclass_data():
    data = nntune.load_dataset("digits")
    return data.X, data.y


def _regression_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)) * [1.0, 3.0, 0.5, 2.0, 10.0] + [0, 5, -1, 0, 50]
    y = np.stack([np.sin(X[:, 0]) + X[:, 1] / 3, X[:, 2] * X[:, 3]], axis=1)
    return X, y


def _binary_model():
    # mlp: Standardize, [Dense (no bias) -> BatchNorm -> ReLU -> Dropout(0.8)] x 2.
    return nntune.mlp([16, 8], batch_norm=True, keep_prob=0.8, standardize=True)


def _multiclass_model():
    layers = [Standardize(), Dense(32), LeakyReLU(0.1), Dropout(0.9)]
    layers += [Dense(16), Tanh(), Dense(10)]
    return Sequential(layers, "softmax_cross_entropy")


def _regression_model():
    layers = [Standardize(), Dense(16), Sigmoid(), Dense(8, use_bias=False)]
    layers += [BatchNorm(momentum=0.8, eps=1e-3), Identity(), Dense(6), Softmax()]
    return Sequential([*layers, Dense(2)], "mean_squared_error")


BUILDERS = {
    "binary": (_binary_model, _binary_data),
    "multiclass": (_multiclass_model, _multiclass_data),
    "regression": (_regression_model, _regression_data),
}


@functools.cache
def trained(case, dtype):
    """A model trained for 3 epochs, and 1,000 random inputs around its data."""
    build, load = BUILDERS[case]
    X, y = load()
    model = build().init(X.shape[1], seed=0, dtype=dtype).adapt(X)
    nntune.fit(model, X, y, epochs=3, batch_size=32, progress="silent", seed=0)
    rng = np.random.default_rng(1)
    spread = 1.5 * X.std(axis=0) + 0.5
    inputs = rng.normal(X.mean(axis=0), spread, size=(1000, X.shape[1]))
    return model, inputs.astype(dtype)


def run_torch(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(x))).numpy()


def run_onnx(path, x, output="probabilities"):
    session = onnxruntime.InferenceSession(str(path))
    return session.run([output], {"input": np.asarray(x)})[0]


def assert_close(actual, expected):
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    scale = max(1.0, float(np.max(np.abs(expected))))
    atol = TOLERANCE[expected.dtype.name] * scale
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def labels(probabilities):
    """Predicted labels from probabilities, one column per class."""
    return probabilities.argmax(axis=1)


def test_reference_models_are_trained():
    model, _ = trained("binary", "float64")
    bn = model.state["batch_norm_2"]
    assert not np.allclose(bn["running_mean"], 0)
    assert not np.allclose(bn["running_var"], 1)
    assert not np.allclose(model.state["standardize_0"]["scale"], 1)


# ------------------------------------------------------------------------ PyTorch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_torch_export_matches_nntune(case, dtype):
    model, x = trained(case, dtype)
    logits = run_torch(to_torch(model, output="logits"), x)
    assert_close(logits, model.logits(x))
    outputs = run_torch(to_torch(model), x)  # probabilities, as ONNX's default
    if case == "regression":
        assert_close(outputs, model.predict(x))
        return
    assert_close(outputs, model.predict_proba(x))  # binary too: two columns
    np.testing.assert_array_equal(labels(outputs), model.predict(x))


def test_torch_export_names_modules_after_layers_and_copies_weights():
    model, _ = trained("binary", "float64")
    before = copy.deepcopy(model.params)
    module = to_torch(model)
    assert list(dict(module.named_children())) == [*model.names, "probabilities"]
    linear = module.dense_1
    assert linear.bias is None  # a Dense feeding a BatchNorm has no bias
    np.testing.assert_array_equal(
        linear.weight.detach().numpy(), model.params["dense_1"]["W"].T
    )
    with torch.no_grad():
        linear.weight.add_(1.0)
    np.testing.assert_array_equal(model.params["dense_1"]["W"], before["dense_1"]["W"])


def test_torch_export_is_in_eval_mode_with_dropout_inactive():
    model, x = trained("binary", "float64")
    module = to_torch(model)
    assert not module.training
    assert not any(child.training for child in module.modules())
    dropouts = [child for child in module if isinstance(child, torch.nn.Dropout)]
    assert len(dropouts) == 2
    assert all(1 - d.p == 0.8 for d in dropouts)  # p = 1 - keep_prob
    np.testing.assert_array_equal(run_torch(module, x), run_torch(module, x))


def test_torch_dropout_in_train_mode_scales_kept_units_by_one_over_keep_prob():
    model, _ = trained("binary", "float64")
    dropout = to_torch(model).dropout_4.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        y = dropout(torch.ones(400, 50, dtype=torch.float64)).numpy()
    assert set(np.unique(y).tolist()) == {0.0, 1 / 0.8}
    assert abs(np.mean(y > 0) - 0.8) < 0.01


@pytest.mark.parametrize("momentum", [0.9, 0.75])
def test_torch_train_forward_updates_batch_norm_like_nntune(momentum):
    layers = [Standardize(), Dense(8, use_bias=False), BatchNorm(momentum=momentum)]
    layers += [ReLU(), Dense(4, use_bias=False), BatchNorm(momentum=momentum), Tanh()]
    model = Sequential([*layers, Dense(1)]).init(30, seed=0, dtype="float64")
    X, y = _binary_data()
    model.adapt(X)
    nntune.fit(model, X, y, epochs=2, batch_size=64, progress="silent")
    batch = X[:64]
    state = copy.deepcopy(model.state)
    logits, _, new_state = model.apply(model.params, model.state, batch, training=True)

    module = to_torch(model, output="logits").train()
    with torch.no_grad():
        torch_logits = module(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(torch_logits, logits, rtol=0, atol=1e-10)
    for name in ("batch_norm_2", "batch_norm_5"):
        bn = getattr(module, name)
        assert int(bn.num_batches_tracked) == 1
        for key in ("running_mean", "running_var"):
            np.testing.assert_allclose(
                getattr(bn, key).numpy(), new_state[name][key], rtol=1e-13, atol=1e-15
            )
            np.testing.assert_array_equal(model.state[name][key], state[name][key])

    # The test can fail: PyTorch's momentum is the weight of the *new* batch.
    naive = torch.nn.BatchNorm1d(8, momentum=momentum, dtype=torch.float64)
    naive.running_mean.copy_(torch.from_numpy(state["batch_norm_2"]["running_mean"]))
    naive.running_var.copy_(torch.from_numpy(state["batch_norm_2"]["running_var"]))
    hidden = module.dense_1(module.standardize_0(torch.from_numpy(batch)))
    naive(hidden.detach())
    expected = new_state["batch_norm_2"]["running_mean"]
    assert not np.allclose(naive.running_mean.numpy(), expected, rtol=1e-6)


def test_torch_standardize_module_keeps_buffers_and_can_be_saved_whole():
    from nntune.export import TorchStandardize

    model, x = trained("multiclass", "float64")
    module = to_torch(model)
    assert isinstance(module.standardize_0, TorchStandardize)
    state = module.state_dict()
    np.testing.assert_array_equal(
        state["standardize_0.scale"].numpy(), model.state["standardize_0"]["scale"]
    )
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    np.testing.assert_array_equal(run_torch(loaded, x), run_torch(module, x))
    np.testing.assert_array_equal(
        run_torch(copy.deepcopy(module), x), run_torch(module, x)
    )


# --------------------------------------------------------------------------- ONNX
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_onnx_export_matches_nntune(case, dtype, tmp_path):
    model, x = trained(case, dtype)
    path = to_onnx(model, tmp_path / "logits.onnx", output="logits")
    assert_close(
        run_onnx(path, x, "values" if case == "regression" else "logits"),
        model.logits(x),
    )
    path = to_onnx(model, tmp_path / "model.onnx")
    if case == "regression":
        assert_close(run_onnx(path, x, "values"), model.predict(x))
        return
    outputs = run_onnx(path, x)
    np.testing.assert_array_equal(run_onnx(path, x, "label"), model.predict(x))
    assert_close(outputs, model.predict_proba(x))  # binary too: two columns
    np.testing.assert_array_equal(labels(outputs), model.predict(x))


def test_onnx_model_passes_the_checker_and_describes_itself(tmp_path):
    model, _ = trained("binary", "float32")
    path = to_onnx(model, tmp_path / "model.onnx")
    assert path == tmp_path / "model.onnx"
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.producer_name == "nntune"
    assert proto.producer_version == nntune.__version__
    assert proto.opset_import[0].version == 17
    properties = {p.key: p.value for p in proto.metadata_props}
    assert properties["nntune.loss"] == "binary_cross_entropy"
    assert properties["nntune.output"] == "probabilities"
    assert json.loads(properties["nntune.classes"]) == [0, 1]
    (source,), (label, sink) = proto.graph.input, proto.graph.output
    assert (source.name, label.name, sink.name) == ("input", "label", "probabilities")
    assert [d.dim_param or d.dim_value for d in source.type.tensor_type.shape.dim] == [
        "batch",
        30,
    ]
    assert [d.dim_param or d.dim_value for d in sink.type.tensor_type.shape.dim] == [
        "batch",
        2,
    ]
    assert label.type.tensor_type.elem_type == onnx.TensorProto.INT64
    operators = {node.op_type for node in proto.graph.node}
    assert "Dropout" not in operators
    assert {
        "MatMul",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Relu",
        "Sigmoid",
        "Concat",
        "Identity",
        "Greater",
        "Cast",
        "Reshape",
        "Gather",
    } == operators
    initializers = {tensor.name for tensor in proto.graph.initializer}
    assert {"standardize_0.mean", "dense_1.W", "batch_norm_2.inv_std"} <= initializers


@pytest.mark.parametrize("batch", [1, 1000])
def test_onnx_batch_dimension_is_dynamic(batch, tmp_path):
    model, x = trained("multiclass", "float32")
    path = to_onnx(model, tmp_path / "model.onnx")
    assert_close(run_onnx(path, x[:batch]), model.predict_proba(x[:batch]))


def test_onnx_opset_can_be_chosen_and_is_validated(tmp_path):
    model, x = trained("regression", "float64")
    path = to_onnx(model, tmp_path / "model.onnx", opset=13)
    assert onnx.load(str(path)).opset_import[0].version == 13
    assert_close(run_onnx(path, x, "values"), model.predict(x))
    for opset in (12, 10_000, "17", True):
        with pytest.raises(ValueError, match="opset must be"):
            to_onnx(model, tmp_path / "other.onnx", opset=opset)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_onnx_file_is_written_atomically(tmp_path, monkeypatch):
    model, x = trained("binary", "float64")
    path = tmp_path / "nested" / "model.onnx"
    to_onnx(model, path)
    to_onnx(model, path, output="logits")  # replaces the file
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]
    assert_close(run_onnx(path, x, "logits"), model.logits(x))

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(nntune._files.os, "fsync", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        to_onnx(model, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]
    assert_close(run_onnx(path, x, "logits"), model.logits(x))  # the previous file


# ------------------------------------------------------------------------- errors
class Squared(Layer):
    """A layer nntune's export does not know."""

    kind = "test_export_squared"

    def forward(self, params, state, x, *, training, key=None, hyperparams=None):
        return x * x, x, state

    def backward(self, params, cache, dy, *, input_grad=True):
        return 2 * cache * dy, {}


class ScaledTanh(Tanh):
    """A subclass may change the maths: it is refused, not exported as Tanh."""

    def _forward(self, x):
        y, cache = super()._forward(x)
        return 2 * y, cache


@pytest.mark.parametrize("layer", [Squared(), ScaledTanh()])
def test_unsupported_layers_are_refused_with_their_name(layer, tmp_path):
    model = Sequential([Dense(3), layer, Dense(1)]).init(2, dtype="float64")
    with pytest.raises(ValueError, match=r"layer '\w+_1' .* has no export mapping"):
        to_torch(model)
    with pytest.raises(ValueError, match="has no export mapping"):
        to_onnx(model, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_torch_names_the_extra(monkeypatch):
    model = Sequential([Dense(1)]).init(2)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    with pytest.raises(ValueError, match=r'pip install "nntune\[torch\]"'):
        to_torch(model)


def test_missing_onnx_names_the_extra(monkeypatch, tmp_path):
    model = Sequential([Dense(1)]).init(2)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ValueError, match=r'pip install "nntune\[export\]"'):
        to_onnx(model, tmp_path / "model.onnx")


def test_bad_arguments_are_refused(tmp_path):
    model = Sequential([Dense(1)]).init(2)
    with pytest.raises(ValueError, match="output must be one of"):
        to_torch(model, output="proba")
    with pytest.raises(ValueError, match="output must be one of"):
        to_onnx(model, tmp_path / "model.onnx", output="labels")
    with pytest.raises(ValueError, match="no parameters yet"):
        to_torch(Sequential([Dense(1)]))
    with pytest.raises(TypeError, match="expected an nntune Sequential"):
        to_torch(torch.nn.Linear(2, 1))


def test_unknown_loss_exports_logits_but_not_probabilities(tmp_path):
    class Focal(BinaryCrossEntropy):
        pass

    model = Sequential([Dense(1)], Focal()).init(2, dtype="float64")
    x = np.ones((3, 2))
    assert_close(run_torch(to_torch(model, output="logits"), x), model.logits(x))
    with pytest.raises(ValueError, match="no known link"):
        to_torch(model)
    with pytest.raises(ValueError, match="no known link"):
        to_onnx(model, tmp_path / "model.onnx")
