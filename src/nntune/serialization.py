"""Save and load models: weights as safetensors, architecture as JSON, never pickle.

``save_model(model, "runs/x/model")`` writes ``runs/x/model.safetensors`` (parameters
and state, tensors named ``params/<layer>/<name>`` and ``state/<layer>/<name>``) and
``runs/x/model.json`` (architecture, dtype, the SHA-256 of the weights file and user
metadata). Both are written atomically. Loading checks the JSON, the checksum, and every
tensor's name, shape and dtype against the architecture before anything is used, so a
truncated, tampered or mismatched file raises a :class:`ModelFileError` and no code from
the file ever runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from ._files import UnsafeFileError, atomic_write_files, read_json, read_regular
from .backend import to_numpy
from .layers import layer_from_config
from .losses import loss_from_config
from .model import Sequential

FORMAT = "nntune.model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, damaged, tampered with or does not match its config."""


def _paths(path: str | Path) -> tuple[Path, Path]:
    stem = Path(path)
    if stem.suffix in {".json", ".safetensors"}:
        stem = stem.with_suffix("")
    # Append rather than replace: "model.v1" names model.v1.json, not model.json.
    return stem.with_name(f"{stem.name}.safetensors"), stem.with_name(
        f"{stem.name}.json"
    )


def save_model(
    model: Sequential, path: str | Path, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``path.safetensors`` and ``path.json`` atomically; return the JSON path.

    Args:
        model: an initialised model.
        path: file stem (a ``.json``/``.safetensors`` suffix is accepted and replaced).
        metadata: extra JSON-serializable facts to keep with the model (default: the
            model's ``metadata``); :func:`load_model` restores them.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from nntune import mlp
        >>> model = mlp([3]).init(in_features=2, seed=0)
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = save_model(model, folder / "model")
        >>> loaded = load_model(folder / "model")
        >>> W = loaded.params["dense_0"]["W"]
        >>> bool(np.array_equal(W, model.params["dense_0"]["W"]))
        True
    """
    model._require_built()
    weights_path, config_path = _paths(path)
    tensors = {}
    for tree_name, tree in (("params", model.params), ("state", model.state)):
        for layer, arrays in tree.items():
            for name, array in arrays.items():
                tensors[f"{tree_name}/{layer}/{name}"] = np.ascontiguousarray(
                    to_numpy(array)
                )
    payload = save_tensors(tensors, metadata={"format": FORMAT})
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model": model.config(),
        "weights_file": weights_path.name,
        "weights_sha256": hashlib.sha256(payload).hexdigest(),
        "metadata": model.metadata if metadata is None else metadata,
    }
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False)
    atomic_write_files({weights_path: payload, config_path: (text + "\n").encode()})
    return config_path


def load_model(path: str | Path) -> Sequential:
    """Load a model written by :func:`save_model`.

    Raises:
        ModelFileError: if a file is missing, not valid JSON/safetensors, its checksum
            does not match, or a tensor's name, shape or dtype does not fit the config.
    """
    weights_path, config_path = _paths(path)
    document = _read_config(config_path)
    # What the architecture declares bounds what is read, and is checked against
    # the weights file before anything of that size is allocated.
    declared = _declared_bytes(document["model"])
    try:
        payload = read_regular(weights_path, limit=declared + _HEADER_ALLOWANCE)
    except FileNotFoundError:
        raise ModelFileError(
            f"{weights_path} is missing; a model is two files, {config_path.name} and "
            f"{weights_path.name}, kept side by side."
        ) from None
    except UnsafeFileError as error:
        raise ModelFileError(str(error)) from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != document.get("weights_sha256"):
        raise ModelFileError(
            f"{weights_path} does not match the checksum recorded in "
            f"{config_path.name} "
            f"(sha256 {digest[:12]}..., expected "
            f"{str(document.get('weights_sha256'))[:12]}...): the file is truncated, "
            "damaged or was replaced. Restore it from the run that wrote it."
        )
    try:
        tensors = load_tensors(payload)
    except (SafetensorError, ValueError, OverflowError) as error:
        raise ModelFileError(
            f"{weights_path} is not a valid safetensors file: {error}"
        ) from None
    if len(payload) < declared:
        raise ModelFileError(
            f"{config_path} declares {declared} bytes of weights but "
            f"{weights_path.name} has {len(payload)}: the two files do not belong "
            "together (or the config was altered). Restore them from the run that "
            "wrote them."
        )
    model = _model_from_config(document["model"], config_path)
    _fill(model, tensors, weights_path)
    metadata = document.get("metadata", {})
    model.metadata = metadata if isinstance(metadata, dict) else {}
    return model


_HEADER_ALLOWANCE = 1 << 20
"""Room for the safetensors header beyond the tensors' bytes."""

_STATE_VECTORS = {"batch_norm": 4, "standardize": 2}
"""Per-feature vectors (parameters and state) of layers without units."""


def _declared_bytes(config: dict[str, Any]) -> int:
    """The bytes of every tensor the architecture declares, by arithmetic alone.

    A malformed config counts 0 here; :func:`_model_from_config` says what is wrong.
    """
    width = config.get("in_features")
    layers = config.get("layers")
    itemsize = {"float32": 4, "float64": 8}.get(str(config.get("dtype")))
    if type(width) is not int or not isinstance(layers, list) or itemsize is None:
        return 0
    count = 0
    for layer in layers:
        kind = layer.get("kind") if isinstance(layer, dict) else None
        if kind == "dense":
            units = layer.get("units")
            if type(units) is not int or units < 1:
                return 0
            count += width * units + (units if layer.get("use_bias", True) else 0)
            width = units
        else:
            count += _STATE_VECTORS.get(str(kind), 0) * width
    return max(count, 0) * itemsize


def _read_config(config_path: Path) -> dict[str, Any]:
    try:
        document = read_json(config_path, "JSON (an nntune model config)")
    except FileNotFoundError:
        raise ModelFileError(
            f"{config_path} does not exist; expected a model saved by "
            "nntune.save_model (model.json + model.safetensors)."
        ) from None
    except ValueError as error:
        raise ModelFileError(
            f"{error}; the file is damaged or is not an nntune model config."
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelFileError(
            f"{config_path} is not an nntune model config (its 'format' "
            f"is not {FORMAT!r})."
        )
    version = document.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelFileError(
            f"{config_path} has format version {document.get('version')!r};"
            f" this nntune reads version {FORMAT_VERSION}. Upgrade nntune."
        )
    if not isinstance(document.get("model"), dict):
        raise ModelFileError(f"{config_path} has no 'model' object.")
    return document


def _model_from_config(config: dict[str, Any], config_path: Path) -> Sequential:
    expected_types = {"layers": list, "loss": dict, "in_features": int}
    for key, kind in expected_types.items():
        value = config.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            described = {list: "a list", dict: "an object", int: "an integer"}[kind]
            raise ModelFileError(
                f"{config_path}: model.{key} is {value!r}; expected {described}. "
                "The config is damaged; re-save the model."
            )
    try:
        model = Sequential(
            [layer_from_config(layer) for layer in config["layers"]],
            loss_from_config(config["loss"]),
            l2=config["l2"],
            l1=config["l1"],
        )
        return model.init(int(config["in_features"]), seed=0, dtype=config["dtype"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"{config_path} describes an invalid model: {error}"
        ) from None


def _fill(
    model: Sequential, tensors: dict[str, np.ndarray[Any, Any]], source: Path
) -> None:
    expected = {
        f"{tree_name}/{layer}/{name}": array
        for tree_name, tree in (("params", model.params), ("state", model.state))
        for layer, arrays in tree.items()
        for name, array in arrays.items()
    }
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{source} does not match its architecture: missing tensors {missing}, "
            f"unexpected tensors {extra}."
        )
    for key, template in expected.items():
        array = tensors[key]
        if array.shape != template.shape:
            raise ModelFileError(
                f"{source}: tensor {key} has shape {array.shape}, expected "
                f"{template.shape} from the architecture."
            )
        if array.dtype != template.dtype:
            raise ModelFileError(
                f"{source}: tensor {key} has dtype {array.dtype}, expected "
                f"{template.dtype} (the model's dtype)."
            )
        tree_name, layer, name = key.split("/")
        tree = model.params if tree_name == "params" else model.state
        tree[layer][name] = array
