"""What an export starts from: a model, its class labels, and the checks they pass."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from ..layers import Dense, Dropout, Layer
from ..losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from ..model import Sequential
from ..normalization import BatchNorm, Standardize

OUTPUTS = ("probabilities", "logits")
DEFAULT_OUTPUT = "probabilities"
"""What both exports compute unless told otherwise: a classifier's probabilities in
``predict_proba``'s columns, a regression model's values."""

_EXTRAS = {"torch": "torch", "onnx": "export"}
_LINKED_LOSSES = (BinaryCrossEntropy, SoftmaxCrossEntropy, MeanSquaredError)
# Layers without options: the torch module and the ONNX operator (None: no node).
ACTIVATIONS: dict[type[Layer], tuple[str, str | None]] = {
    ReLU: ("ReLU", "Relu"),
    Tanh: ("Tanh", "Tanh"),
    Sigmoid: ("Sigmoid", "Sigmoid"),
    Identity: ("Identity", None),
}
_SUPPORTED: frozenset[type[Layer]] = frozenset(
    {Dense, BatchNorm, Standardize, Dropout, LeakyReLU, Softmax, *ACTIVATIONS}
)


@dataclass(frozen=True)
class Source:
    """A model to export and the labels of its output columns (None: regression)."""

    model: Sequential
    classes: tuple[Any, ...] | None


def resolve(source: Any, output: str) -> Source:
    """The model and labels of ``source``, checked for export with ``output``.

    ``source`` is a :class:`~nntune.Sequential` (labels from its ``class_names``
    metadata, else ``0..K-1``), a fitted estimator (its ``classes_``), or a path:
    the folder of an ``nntune train`` run, or the stem or ``.json`` of a model
    saved by :func:`~nntune.save_model` or an estimator's ``save``.

    Raises:
        TypeError: for anything else.
        ValueError: for an unfitted estimator, a path without a model, or a model
            that cannot be exported (see :func:`check_exportable`).
    """
    from ..inference import class_labels

    estimator_classes = None
    if isinstance(source, str | Path):
        model = _load(Path(source))
    elif isinstance(source, Sequential):
        model = source
    elif isinstance(getattr(source, "model_", None), Sequential):
        model, estimator_classes = source.model_, getattr(source, "classes_", None)
    elif hasattr(source, "fit") and hasattr(source, "get_params"):
        raise ValueError(
            f"this {type(source).__name__} is not fitted yet; call fit(X, y) "
            "before exporting it."
        )
    else:
        raise TypeError(
            "expected an nntune Sequential, a fitted NNClassifier or NNRegressor, "
            f"or the path of a run folder or saved model; got {type(source).__name__}."
        )
    check_exportable(model, output)
    labels = (
        class_labels(model)
        if estimator_classes is None
        else list(estimator_classes.tolist())
    )
    return Source(model, None if labels is None else tuple(labels))


def _load(path: Path) -> Sequential:
    from ..serialization import load_model

    stem = path / "model" if path.is_dir() else path
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    if not stem.with_name(f"{stem.name}.json").is_file():
        raise ValueError(
            f"{path} holds no model; expected the folder of an `nntune train` run "
            "(model.json + model.safetensors) or the .json file of a saved model."
        )
    return load_model(stem)


def target_units(model: Sequential) -> tuple[np.ndarray[Any, Any], ...] | None:
    """A regression's ``(target_scale, target_mean)`` in the model's dtype, or None.

    The values output computes ``z * target_scale + target_mean``, as
    :meth:`~nntune.MeanSquaredError.predict`: the target's own units.
    """
    loss = model.loss
    if not isinstance(loss, MeanSquaredError) or loss.target_mean is None:
        return None
    return tuple(
        np.asarray(values, dtype=model.dtype)
        for values in (loss.target_scale, loss.target_mean)
    )


def walk(model: Sequential) -> list[tuple[str, Layer, int]]:
    """Each layer with its name and input width."""
    found, width = [], int(model.in_features or 0)
    for name, layer in zip(model.names, model.layers, strict=True):
        found.append((name, layer, width))
        width = layer.units if isinstance(layer, Dense) else width
    return found


def check_exportable(model: Sequential, output: str) -> None:
    """Refuse an unbuilt model, an unknown ``output`` or a layer without a mapping.

    Raises:
        ValueError: naming what is wrong and what to do.
    """
    if not model.built:
        raise ValueError(
            "the model has no parameters yet; call model.init(in_features=..., "
            "seed=...) and train it (or load a saved model) before exporting."
        )
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}.")
    for name, layer in zip(model.names, model.layers, strict=True):
        if type(layer) not in _SUPPORTED:  # a subclass may change the maths
            kinds = sorted(cls.kind for cls in _SUPPORTED)
            raise ValueError(
                f"layer {name!r} ({type(layer).__name__}, kind {layer.kind!r}) has no "
                f"export mapping; supported kinds are {kinds}. Replace it with one "
                "of those, or export the model up to it and add it by hand."
            )
    if output == "probabilities" and type(model.loss) not in _LINKED_LOSSES:
        raise ValueError(
            f"the loss {type(model.loss).__name__} ({model.loss.kind!r}) has no known "
            "link to append; export output='logits' and apply its link yourself."
        )


def require(module: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    extra = _EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(
            f"exporting needs {module}, which is not installed. Install the "
            f'{extra} extra: pip install "nntune[{extra}]".'
        ) from None
