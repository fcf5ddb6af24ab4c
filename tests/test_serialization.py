"""Saving and loading models: bit-exact round trips, atomic writes, hostile files."""

from __future__ import annotations

import hashlib
import json
import os

# This module builds a hostile pickle payload to check that load_model never unpickles;
# the payload is only ever written to disk and must never be loaded.
import pickle  # noqa: TID251
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

import nntune
from nntune import (
    BatchNorm,
    Dense,
    Dropout,
    LeakyReLU,
    ModelFileError,
    Sequential,
    Tanh,
    _files,
    load_model,
    save_model,
)
from nntune.backend.random import key as random_key

IN_FEATURES = 4
X = np.random.default_rng(7).standard_normal((16, IN_FEATURES))


# --------------------------------------------------------------------------- helpers
def trained_model(
    dtype: str = "float32", *, task: str = "multiclass", seed: int = 0
) -> Sequential:
    """A batch-norm + dropout MLP whose running statistics have moved off 0 and 1."""
    outputs = {"binary": None, "multiclass": 3, "regression": 2}[task]
    model = nntune.mlp(
        [5, 4], task=task, outputs=outputs, batch_norm=True, keep_prob=0.8, l2=0.3
    ).init(IN_FEATURES, seed=seed, dtype=dtype)
    x = X.astype(dtype)
    for step in range(3):
        _, _, model.state = model.apply(
            model.params, model.state, x, training=True, key=random_key(seed + step)
        )
    return model


def weights_path(stem: Path) -> Path:
    return stem.with_name(stem.name + ".safetensors")


def config_path(stem: Path) -> Path:
    return stem.with_name(stem.name + ".json")


def read_config(stem: Path) -> dict[str, Any]:
    return json.loads(config_path(stem).read_text(encoding="utf-8"))


def write_config(stem: Path, document: Any) -> None:
    config_path(stem).write_text(json.dumps(document), encoding="utf-8")


def edit_config(stem: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``edit`` to the saved JSON document in place."""
    document = read_config(stem)
    edit(document)
    write_config(stem, document)


def replace_weights(stem: Path, payload: bytes) -> None:
    """Overwrite the weights file and record its checksum, as a careful forger would."""
    weights_path(stem).write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    edit_config(stem, lambda document: document.update(weights_sha256=digest))


def saved_tensors(stem: Path) -> dict[str, np.ndarray[Any, Any]]:
    return dict(load_tensors(weights_path(stem).read_bytes()))


def rewrite_tensors(
    stem: Path, edit: Callable[[dict[str, np.ndarray[Any, Any]]], None]
) -> None:
    """Re-save the weights after ``edit`` changed the tensor dict; fix the checksum."""
    tensors = saved_tensors(stem)
    edit(tensors)
    replace_weights(stem, save_tensors(tensors))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def assert_same_weights(loaded: Sequential, original: Sequential) -> None:
    for tree in ("params", "state"):
        expected, got = getattr(original, tree), getattr(loaded, tree)
        assert got.keys() == expected.keys()
        for layer, arrays in expected.items():
            assert got[layer].keys() == arrays.keys()
            for name, array in arrays.items():
                assert got[layer][name].dtype == array.dtype, (tree, layer, name)
                assert np.array_equal(got[layer][name], array), (tree, layer, name)


@pytest.fixture
def stem(tmp_path: Path) -> Path:
    """A saved float32 model at ``tmp_path / "model"``."""
    path = tmp_path / "model"
    save_model(trained_model(), path)
    return path


# ------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_round_trip_is_bit_exact(tmp_path: Path, dtype: str, task: str) -> None:
    model = trained_model(dtype, task=task)
    bn_state = model.state["batch_norm_1"]
    assert not np.all(bn_state["running_mean"] == 0)
    assert not np.all(bn_state["running_var"] == 1)

    save_model(model, tmp_path / "model")
    loaded = load_model(tmp_path / "model")

    assert loaded.dtype == np.dtype(dtype)
    assert_same_weights(loaded, model)
    logits, expected_logits = loaded.logits(X), model.logits(X)
    assert logits.dtype == expected_logits.dtype
    assert np.array_equal(logits, expected_logits)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    if task != "regression":
        assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_architecture_round_trips(tmp_path: Path) -> None:
    model = Sequential(
        [
            Dense(6, init="xavier", use_bias=False, l2=0.5, l1=0.25),
            BatchNorm(momentum=0.8, eps=1e-3),
            LeakyReLU(negative_slope=0.2),
            Dropout(keep_prob=0.7),
            Dense(3, init="random:0.01"),
            Tanh(),
            Dense(2),
        ],
        "softmax_cross_entropy",
        l2=0.1,
        l1=0.05,
    ).init(IN_FEATURES, seed=3, dtype="float64")

    save_model(model, tmp_path / "model")
    loaded = load_model(tmp_path / "model")

    assert loaded.layers == model.layers
    assert loaded.names == model.names
    assert loaded.loss.kind == "softmax_cross_entropy"
    assert (loaded.l2, loaded.l1) == (0.1, 0.05)
    assert loaded.in_features == IN_FEATURES
    assert loaded.n_outputs == 2
    assert loaded.dtype == np.dtype("float64")
    assert loaded.config() == model.config()
    assert_same_weights(loaded, model)


def test_metadata_round_trips(tmp_path: Path) -> None:
    metadata = {"epochs": 12, "dev_accuracy": 0.915, "tags": ["bn", "l2"], "x": None}
    save_model(trained_model(), tmp_path / "with", metadata=metadata)
    save_model(trained_model(), tmp_path / "without")

    assert read_config(tmp_path / "with")["metadata"] == metadata
    assert read_config(tmp_path / "without")["metadata"] == {}
    loaded = load_model(tmp_path / "with")
    assert loaded.metadata == metadata
    assert load_model(tmp_path / "without").metadata == {}
    # Saved again without an explicit argument, the loaded metadata is kept.
    loaded.save(tmp_path / "again")
    assert load_model(tmp_path / "again").metadata == metadata


def test_saved_files_are_named_after_the_stem(tmp_path: Path) -> None:
    returned = save_model(trained_model(), tmp_path / "model")

    assert returned == tmp_path / "model.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.json",
        "model.safetensors",
    ]
    document = read_config(tmp_path / "model")
    assert document["format"] == "nntune.model"
    assert document["version"] == 1
    assert document["weights_file"] == "model.safetensors"
    payload = (tmp_path / "model.safetensors").read_bytes()
    assert document["weights_sha256"] == hashlib.sha256(payload).hexdigest()


def test_stem_containing_a_dot_keeps_its_full_name(tmp_path: Path) -> None:
    # "model.v1" and "model.v2" are two different stems; saving one must not clobber
    # the other, and the files must be called <stem>.json / <stem>.safetensors.
    first, second = trained_model(seed=1), trained_model(seed=2)
    save_model(first, tmp_path / "model.v1")
    save_model(second, tmp_path / "model.v2")

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.v1.json",
        "model.v1.safetensors",
        "model.v2.json",
        "model.v2.safetensors",
    ]
    assert_same_weights(load_model(tmp_path / "model.v1"), first)
    assert_same_weights(load_model(tmp_path / "model.v2"), second)


def test_sequential_save_and_load(tmp_path: Path) -> None:
    model = trained_model("float64")

    returned = model.save(tmp_path / "model", metadata={"note": "method"})
    loaded = Sequential.load(tmp_path / "model")

    assert returned == tmp_path / "model.json"
    assert isinstance(loaded, Sequential)
    assert_same_weights(loaded, model)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert read_config(tmp_path / "model")["metadata"] == {"note": "method"}


@pytest.mark.parametrize("save_suffix", ["", ".json", ".safetensors"])
@pytest.mark.parametrize("load_suffix", ["", ".json", ".safetensors"])
def test_path_with_a_file_suffix_is_accepted(
    tmp_path: Path, save_suffix: str, load_suffix: str
) -> None:
    model = trained_model()

    save_model(model, tmp_path / f"model{save_suffix}")
    loaded = load_model(str(tmp_path / f"model{load_suffix}"))

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.json",
        "model.safetensors",
    ]
    assert_same_weights(loaded, model)


def test_saving_an_uninitialised_model_raises(tmp_path: Path) -> None:
    model = nntune.mlp([3])

    with pytest.raises(ValueError, match=r"no parameters yet.*init"):
        save_model(model, tmp_path / "model")
    with pytest.raises(ValueError, match="no parameters yet"):
        model.save(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- atomic writes
def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    for _ in range(2):
        save_model(trained_model(), tmp_path / "runs" / "a" / "model")

    folder = tmp_path / "runs" / "a"
    assert sorted(p.name for p in folder.iterdir()) == [
        "model.json",
        "model.safetensors",
    ]


def test_saving_over_an_existing_model_replaces_it(tmp_path: Path) -> None:
    old, new = trained_model(seed=1), trained_model("float64", seed=2)
    save_model(old, tmp_path / "model", metadata={"run": "old"})

    save_model(new, tmp_path / "model", metadata={"run": "new"})
    loaded = load_model(tmp_path / "model")

    assert loaded.dtype == np.dtype("float64")
    assert_same_weights(loaded, new)
    assert read_config(tmp_path / "model")["metadata"] == {"run": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.json",
        "model.safetensors",
    ]


@pytest.mark.parametrize(
    "failing_call",
    [1, 2],
    ids=["weights-rename-fails", "config-rename-fails"],
)
def test_failed_save_keeps_the_previous_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    old = trained_model(seed=1)
    save_model(old, tmp_path / "model")
    before = snapshot(tmp_path)
    real_replace = os.replace
    calls = []

    def flaky_replace(source: Any, target: Any) -> None:
        calls.append(Path(target).name)
        if len(calls) == failing_call:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(_files.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="No space left"):
        save_model(trained_model("float64", seed=2), tmp_path / "model")
    monkeypatch.undo()

    assert len(calls) >= failing_call  # the rollback renames the old files back
    assert sorted(snapshot(tmp_path)) == ["model.json", "model.safetensors"]
    assert_same_weights(load_model(tmp_path / "model"), old)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- missing files
def test_missing_weights_file(stem: Path) -> None:
    weights_path(stem).unlink()

    with pytest.raises(ModelFileError, match=r"model\.safetensors is missing"):
        load_model(stem)


def test_missing_config_file(stem: Path) -> None:
    config_path(stem).unlink()

    with pytest.raises(ModelFileError, match=r"model\.json does not exist"):
        load_model(stem)


def test_nothing_saved_at_all(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nowhere" / "model")


def test_model_file_error_is_a_value_error() -> None:
    assert issubclass(ModelFileError, ValueError)


# ---------------------------------------------------------- damaged weights file
def test_truncated_weights_fail_the_checksum(stem: Path) -> None:
    payload = weights_path(stem).read_bytes()
    weights_path(stem).write_bytes(payload[: len(payload) // 2])

    with pytest.raises(ModelFileError, match="does not match the checksum"):
        load_model(stem)


def test_one_flipped_byte_fails_the_checksum(stem: Path) -> None:
    payload = bytearray(weights_path(stem).read_bytes())
    payload[-1] ^= 0x01
    weights_path(stem).write_bytes(bytes(payload))

    with pytest.raises(ModelFileError, match="does not match the checksum"):
        load_model(stem)


def test_missing_checksum_in_config(stem: Path) -> None:
    edit_config(stem, lambda document: document.pop("weights_sha256"))

    with pytest.raises(ModelFileError, match="does not match the checksum"):
        load_model(stem)


@pytest.mark.parametrize("keep", [0, 7, 0.5], ids=["empty", "7-bytes", "half"])
def test_truncated_weights_with_matching_checksum_are_rejected_by_the_parser(
    stem: Path, keep: float
) -> None:
    payload = weights_path(stem).read_bytes()
    cut = int(len(payload) * keep) if isinstance(keep, float) else keep
    replace_weights(stem, payload[:cut])

    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        load_model(stem)


class _TouchOnUnpickle:
    """Unpickling an instance of this class creates ``marker`` (runs code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("protocol", [0, pickle.DEFAULT_PROTOCOL])
def test_pickle_payload_is_rejected_without_running_code(
    tmp_path: Path, stem: Path, protocol: int
) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_TouchOnUnpickle(marker), protocol=protocol)
    assert b"touch" in payload
    replace_weights(stem, payload)

    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        load_model(stem)
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        Sequential.load(stem)
    assert not marker.exists()


# ------------------------------------------- tensors that do not fit the config
@pytest.mark.parametrize(
    "key", ["params/dense_0/W", "params/batch_norm_1/gamma", "state/batch_norm_5/"]
)
def test_wrong_shape(stem: Path, key: str) -> None:
    if key.endswith("/"):
        key += "running_var"

    def drop_last_row(tensors: dict[str, np.ndarray[Any, Any]]) -> None:
        tensors[key] = np.ascontiguousarray(tensors[key][:-1])

    rewrite_tensors(stem, drop_last_row)

    with pytest.raises(ModelFileError, match=rf"tensor {key} has shape"):
        load_model(stem)


def test_transposed_weights_are_a_wrong_shape(stem: Path) -> None:
    def transpose(tensors: dict[str, np.ndarray[Any, Any]]) -> None:
        tensors["params/dense_4/W"] = np.ascontiguousarray(
            tensors["params/dense_4/W"].T
        )

    rewrite_tensors(stem, transpose)

    with pytest.raises(ModelFileError, match=r"params/dense_4/W has shape \(4, 5\)"):
        load_model(stem)


@pytest.mark.parametrize("dtype", ["float16", "float64", "int32"])
def test_wrong_dtype(stem: Path, dtype: str) -> None:
    def cast(tensors: dict[str, np.ndarray[Any, Any]]) -> None:
        key = "state/batch_norm_1/running_mean"
        tensors[key] = tensors[key].astype(dtype)

    rewrite_tensors(stem, cast)

    with pytest.raises(ModelFileError, match=rf"has dtype {dtype}, expected float32"):
        load_model(stem)


def test_config_dtype_must_match_the_tensors(stem: Path) -> None:
    edit_config(stem, lambda document: document["model"].update(dtype="float64"))

    with pytest.raises(ModelFileError, match="dtype float32, expected float64"):
        load_model(stem)


def test_missing_tensor(stem: Path) -> None:
    rewrite_tensors(
        stem, lambda tensors: tensors.pop("state/batch_norm_1/running_mean")
    )

    with pytest.raises(
        ModelFileError,
        match=r"missing tensors \['state/batch_norm_1/running_mean'\], "
        r"unexpected tensors \[\]",
    ):
        load_model(stem)


def test_extra_tensor(stem: Path) -> None:
    def add(tensors: dict[str, np.ndarray[Any, Any]]) -> None:
        tensors["params/dense_0/backdoor"] = np.zeros(3, dtype=np.float32)

    rewrite_tensors(stem, add)

    with pytest.raises(
        ModelFileError,
        match=r"missing tensors \[\], unexpected tensors \['params/dense_0/backdoor'\]",
    ):
        load_model(stem)


def test_weights_of_another_architecture(tmp_path: Path, stem: Path) -> None:
    other = tmp_path / "other"
    save_model(nntune.mlp([5]).init(IN_FEATURES, seed=0), other)
    replace_weights(stem, weights_path(other).read_bytes())

    with pytest.raises(ModelFileError, match="does not match its architecture"):
        load_model(stem)


# ------------------------------------------------------------ tampered config
def test_invalid_json(stem: Path) -> None:
    config_path(stem).write_text('{"format": "nntune.model", ', encoding="utf-8")

    with pytest.raises(ModelFileError, match="is not valid JSON"):
        load_model(stem)


def test_config_that_is_not_utf8(stem: Path) -> None:
    config_path(stem).write_bytes(b"\xff\xfe\x00garbage")

    with pytest.raises(ModelFileError, match="is not valid JSON"):
        load_model(stem)


@pytest.mark.parametrize(
    "document",
    [
        [1, 2, 3],
        "nntune.model",
        {"format": "keras.model", "version": 1, "model": {}},
        {"version": 1, "model": {}},
    ],
    ids=["list", "string", "other-format", "no-format"],
)
def test_wrong_format(stem: Path, document: Any) -> None:
    write_config(stem, document)

    with pytest.raises(ModelFileError, match=r"not an nntune model config.*'format'"):
        load_model(stem)


@pytest.mark.parametrize("version", [2, 0, None, "1"])
def test_unsupported_version(stem: Path, version: Any) -> None:
    edit_config(stem, lambda document: document.update(version=version))

    with pytest.raises(
        ModelFileError, match=rf"format version {version!r};.*reads version 1"
    ):
        load_model(stem)


def test_missing_model_object(stem: Path) -> None:
    edit_config(stem, lambda document: document.update(model=None))

    with pytest.raises(ModelFileError, match="has no 'model' object"):
        load_model(stem)


def test_unknown_layer_kind(stem: Path) -> None:
    def swap(document: dict[str, Any]) -> None:
        document["model"]["layers"][2] = {"kind": "conv2d", "filters": 8}

    edit_config(stem, swap)

    with pytest.raises(
        ModelFileError, match=r"invalid model: unknown layer kind 'conv2d'"
    ):
        load_model(stem)


def test_layer_with_an_unexpected_option(stem: Path) -> None:
    def add_option(document: dict[str, Any]) -> None:
        document["model"]["layers"][0]["activation"] = "os.system"

    edit_config(stem, add_option)

    with pytest.raises(
        ModelFileError,
        match=r"invalid model: layer 'dense' has unexpected options \['activation'\]",
    ):
        load_model(stem)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loss", {"kind": "hinge"}, "unknown loss"),
        ("l2", -1.0, "finite number >= 0"),
        ("in_features", None, r"model\.in_features is None; expected an integer"),
        ("dtype", "float16", "not supported"),
        ("layers", [], "at least one layer"),
    ],
)
def test_invalid_model_settings(
    stem: Path, field: str, value: Any, message: str
) -> None:
    edit_config(stem, lambda document: document["model"].update({field: value}))

    with pytest.raises(ModelFileError, match=rf"(invalid model: .*)?{message}"):
        load_model(stem)


def test_missing_model_setting(stem: Path) -> None:
    edit_config(stem, lambda document: document["model"].pop("l1"))

    with pytest.raises(ModelFileError, match=r"invalid model: 'l1'"):
        load_model(stem)
