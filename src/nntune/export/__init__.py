"""Export a trained :class:`~nntune.Sequential` to PyTorch or to an ONNX file.

Both exports compute what nntune computes at inference, with the same weights and
dtype; the conventions are bridged as in docs/conventions.md:

- ``Dense`` ``Z = X @ W + b`` is ``torch.nn.Linear`` with ``weight = W.T`` (ONNX:
  ``MatMul`` by ``W``, then ``Add``);
- ``BatchNorm(momentum=m, eps)`` is ``torch.nn.BatchNorm1d(momentum=1 - m, eps)``
  (nntune weighs the *old* running statistic, PyTorch the new batch) with
  ``weight = gamma``, ``bias = beta`` and the running statistics copied (ONNX:
  ``(x - running_mean) * inv_std * gamma + beta`` in nntune's order, with
  ``inv_std = 1/sqrt(running_var + eps)`` precomputed);
- ``LeakyReLU(negative_slope)`` is ``torch.nn.LeakyReLU(negative_slope)`` (ONNX:
  ``PRelu`` with the slope as a tensor);
- ``Dropout(keep_prob)`` is ``torch.nn.Dropout(p=1 - keep_prob)``; an ONNX file is for
  inference, where dropout is the identity, so it has no dropout node;
- ``Standardize`` is ``TorchStandardize`` (buffers ``mean`` and ``scale``; ONNX:
  ``Sub`` then ``Div``).

Every ONNX constant is a tensor of the model's dtype: ONNX float attributes are 32-bit
(``BatchNormalization``'s ``epsilon``, ``LeakyRelu``'s ``alpha``) and would make a
float64 graph disagree with nntune by up to 1e-8 instead of 1e-14.

``output="probabilities"`` appends the loss's link: sigmoid (binary cross-entropy),
softmax (softmax cross-entropy) or nothing (mean squared error, whose link is the
identity: both outputs are then the values :meth:`~nntune.Sequential.predict` returns).
PyTorch is imported from the ``torch`` extra, ONNX from the ``export`` extra, and only
when a function here is called.
"""

from __future__ import annotations

import functools
import importlib
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._files import atomic_write_bytes
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .backend import to_numpy
from .layers import Dense, Dropout, Layer, LayerParams, LayerState
from .losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from .model import Sequential
from .normalization import BatchNorm, Standardize

if TYPE_CHECKING:
    import torch  # noqa: TID251 (types only; this module is torch's one way in)

__all__ = ["to_onnx", "to_torch"]

OUTPUTS = ("logits", "probabilities")
MIN_OPSET = 13
"""ONNX opset 13 gave ``Softmax`` its per-axis meaning; older opsets are refused."""

_EXTRAS = {"torch": "torch", "onnx": "export"}
_LINKED_LOSSES = (BinaryCrossEntropy, SoftmaxCrossEntropy, MeanSquaredError)
# Layers without options: the torch module and the ONNX operator (None: no node).
_ACTIVATIONS: dict[type[Layer], tuple[str, str | None]] = {
    ReLU: ("ReLU", "Relu"),
    Tanh: ("Tanh", "Tanh"),
    Sigmoid: ("Sigmoid", "Sigmoid"),
    Identity: ("Identity", None),
}
_SUPPORTED: frozenset[type[Layer]] = frozenset(
    {Dense, BatchNorm, Standardize, Dropout, LeakyReLU, Softmax, *_ACTIVATIONS}
)


def to_torch(model: Sequential, *, output: str = "logits") -> torch.nn.Sequential:
    """Build a ``torch.nn.Sequential`` computing ``model``'s forward pass.

    Modules are named like nntune's layers (``dense_0``, ``batch_norm_1``, ...) and
    hold copies of the weights and running statistics, in the model's dtype
    (float32 or float64). The module is returned in ``eval()`` mode; ``train()``
    turns dropout on (scaling kept units by ``1/keep_prob``) and makes batch norm
    update its running statistics exactly as nntune's training does. Batch norm's
    ``num_batches_tracked`` is 0: nntune does not count batches, and PyTorch reads
    it only when ``momentum=None``.

    Args:
        model: an initialised (and usually trained) model.
        output: ``"logits"`` (the last layer) or ``"probabilities"``, which appends
            the loss's link as a module named ``probabilities``. For binary
            cross-entropy that is ``torch.nn.Sigmoid``, giving P(class 1) of shape
            ``(n, 1)``, while :meth:`~nntune.Sequential.predict_proba` has the two
            columns ``[1 - p, p]``; for softmax cross-entropy ``Softmax(dim=1)``;
            for a regression model nothing (the values).

    Returns:
        The module, in ``eval()`` mode.

    Raises:
        ValueError: if torch is missing, the model is not initialised, ``output`` is
            unknown or a layer (or, for probabilities, the loss) has no mapping.

    Example:
        >>> import numpy as np
        >>> from nntune import Dense, ReLU, Sequential
        >>> model = Sequential([Dense(3), ReLU(), Dense(1)]).init(2, dtype="float64")
        >>> module = to_torch(model, output="probabilities")
        >>> module  # doctest: +NORMALIZE_WHITESPACE
        Sequential(
          (dense_0): Linear(in_features=2, out_features=3, bias=True)
          (relu_1): ReLU()
          (dense_2): Linear(in_features=3, out_features=1, bias=True)
          (probabilities): Sigmoid()
        )
        >>> import torch
        >>> x = np.array([[0.5, -1.0]])
        >>> p = module(torch.from_numpy(x)).detach().numpy()
        >>> bool(np.allclose(p, model.predict_proba(x)[:, 1:]))
        True
    """
    pytorch = _require("torch")
    _check_exportable(model, output)
    nn = pytorch.nn
    dtype = getattr(pytorch, model.dtype.name)

    def tensor(array: Any) -> Any:
        return pytorch.tensor(np.array(to_numpy(array)), dtype=dtype)  # a copy

    modules: OrderedDict[str, Any] = OrderedDict()
    with pytorch.no_grad():
        for name, layer, width in _walk(model):
            params, state = model.params.get(name, {}), model.state.get(name, {})
            module: Any
            if isinstance(layer, Dense):
                module = nn.Linear(width, layer.units, bias=layer.use_bias, dtype=dtype)
                module.weight.copy_(tensor(params["W"]).T)
                if layer.use_bias:
                    module.bias.copy_(tensor(params["b"]))
            elif isinstance(layer, BatchNorm):
                module = nn.BatchNorm1d(
                    width, eps=layer.eps, momentum=1 - layer.momentum, dtype=dtype
                )
                module.weight.copy_(tensor(params["gamma"]))
                module.bias.copy_(tensor(params["beta"]))
                module.running_mean.copy_(tensor(state["running_mean"]))
                module.running_var.copy_(tensor(state["running_var"]))
            elif isinstance(layer, Standardize):
                statistics = tensor(state["mean"]), tensor(state["scale"])
                module = _standardize_class()(*statistics)
            elif isinstance(layer, Dropout):
                module = nn.Dropout(p=1 - layer.keep_prob)
            elif isinstance(layer, LeakyReLU):
                module = nn.LeakyReLU(negative_slope=layer.negative_slope)
            elif isinstance(layer, Softmax):
                module = nn.Softmax(dim=1)
            else:
                module = getattr(nn, _ACTIVATIONS[type(layer)][0])()
            modules[name] = module
    if output == "probabilities" and model.loss.task != "regression":
        binary = model.loss.task == "binary"
        modules["probabilities"] = nn.Sigmoid() if binary else nn.Softmax(dim=1)
    exported: torch.nn.Sequential = nn.Sequential(modules).eval()
    return exported


def to_onnx(
    model: Sequential,
    path: str | Path,
    *,
    output: str = "probabilities",
    opset: int = 17,
) -> Path:
    """Write ``model``'s inference graph to an ONNX file at ``path``.

    The graph has one input ``"input"`` of shape ``(batch, in_features)`` and one
    output ``"output"``, with a dynamic batch dimension, in the model's dtype. With
    ``output="probabilities"`` a binary model outputs the two columns ``[1 - p, p]``,
    exactly :meth:`~nntune.Sequential.predict_proba`; a multiclass model its softmax;
    a regression model its values. Dropout is left out (it is the identity at
    inference). The model is checked with ``onnx.checker`` and written atomically.

    Args:
        model: an initialised (and usually trained) model.
        path: the file to write, usually ``*.onnx``; its folder is created.
        output: ``"probabilities"`` or ``"logits"`` (the last layer).
        opset: the ONNX operator set, from 13 to the installed onnx's newest.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Raises:
        ValueError: if onnx is missing, the model is not initialised, ``output`` or
            ``opset`` is unknown or a layer (or the loss) has no mapping.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> import onnxruntime
        >>> from nntune import Dense, Sequential, Tanh
        >>> model = Sequential([Dense(4), Tanh(), Dense(1)]).init(3, dtype="float64")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = to_onnx(model, f"{folder}/model.onnx")
        ...     session = onnxruntime.InferenceSession(str(path))
        >>> x = np.ones((5, 3))
        >>> p = session.run(["output"], {"input": x})[0]  # two columns, [1 - p, p]
        >>> p.shape, bool(np.allclose(p, model.predict_proba(x)))
        ((5, 2), True)
    """
    onnx = _require("onnx")
    _check_exportable(model, output)
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ValueError(f"opset must be an int; got {opset!r} (try 17).")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset must be between {MIN_OPSET} and {newest} (the installed onnx's "
            f"newest); got {opset}. The default 17 suits most runtimes."
        )
    graph = _OnnxGraph(onnx, model.dtype)
    x = "input"
    for name, layer, _ in _walk(model):
        params, state = model.params.get(name, {}), model.state.get(name, {})
        x = _onnx_layer(graph, name, layer, params, state, x)
    width = int(model.n_outputs or 0)
    if output == "probabilities" and model.loss.task == "multiclass":
        x = graph.node("Softmax", "probabilities", x, axis=1)
    elif output == "probabilities" and model.loss.task == "binary":
        p = graph.node("Sigmoid", "probabilities", x)
        one = graph.constant("one", np.ones((1, 1), dtype=model.dtype))
        q = graph.node("Sub", "complement", one, p)
        x, width = graph.node("Concat", "two_columns", q, p, axis=1), 2
    onnx_model = graph.model(x, int(model.in_features or 0), width, opset)
    onnx.helper.set_model_props(
        onnx_model,
        {
            "nntune.loss": model.loss.kind,
            "nntune.output": output,
            "nntune.layers": ", ".join(model.names),
        },
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    target = Path(path)
    atomic_write_bytes(target, onnx_model.SerializeToString())
    return target


def _onnx_layer(
    graph: _OnnxGraph,
    name: str,
    layer: Layer,
    params: LayerParams,
    state: LayerState,
    x: str,
) -> str:
    """Add the nodes of one layer after tensor ``x``; return the layer's output."""
    if isinstance(layer, Dense):
        bias = [("Add", "b", params["b"])] if layer.use_bias else []
        return graph.chain(name, x, [("MatMul", "W", params["W"]), *bias])
    if isinstance(layer, BatchNorm):
        inv_std = 1 / np.sqrt(to_numpy(state["running_var"]) + layer.eps)
        steps = [("Sub", "running_mean", state["running_mean"])]
        steps += [("Mul", "inv_std", inv_std), ("Mul", "gamma", params["gamma"])]
        return graph.chain(name, x, [*steps, ("Add", "beta", params["beta"])])
    if isinstance(layer, Standardize):
        steps = [("Sub", "mean", state["mean"]), ("Div", "scale", state["scale"])]
        return graph.chain(name, x, steps)
    if isinstance(layer, LeakyReLU):
        slope = np.array([layer.negative_slope])
        return graph.chain(name, x, [("PRelu", "slope", slope)])
    if isinstance(layer, Softmax):
        return graph.node("Softmax", name, x, axis=1)
    operator = _ACTIVATIONS.get(type(layer), ("", None))[1]
    # Dropout and Identity are the identity at inference: no node.
    return graph.node(operator, name, x) if operator else x


class _OnnxGraph:
    """Collects nodes and initializers; every node gets a name and one output."""

    def __init__(self, onnx: Any, dtype: np.dtype[Any]) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def constant(self, name: str, array: Any) -> str:
        value = np.asarray(to_numpy(array), dtype=self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, name: str, *inputs: str, **attributes: Any) -> str:
        self.nodes.append(
            self.onnx.helper.make_node(op, list(inputs), [name], name, **attributes)
        )
        return name

    def chain(self, name: str, x: str, steps: list[tuple[str, str, Any]]) -> str:
        """Apply ``x = op(x, constant)`` for each step; the last output is ``name``."""
        for position, (op, key, value) in enumerate(steps, start=1):
            output = name if position == len(steps) else f"{name}.{op.lower()}_{key}"
            x = self.node(op, output, x, self.constant(f"{name}.{key}", value))
        return x

    def model(self, last: str, in_features: int, width: int, opset: int) -> Any:
        helper = self.onnx.helper
        if not self.nodes:  # a model of identities and dropout only
            self.node("Identity", "output", last)
        else:
            self.nodes[-1].output[0] = "output"
        element = helper.np_dtype_to_tensor_dtype(self.dtype)
        graph = helper.make_graph(
            self.nodes,
            "nntune",
            [helper.make_tensor_value_info("input", element, ["batch", in_features])],
            [helper.make_tensor_value_info("output", element, ["batch", width])],
            initializer=self.initializers,
        )
        opsets = [helper.make_opsetid("", opset)]
        from . import __version__

        return helper.make_model(
            graph,
            opset_imports=opsets,
            ir_version=helper.find_min_ir_version_for(opsets),
            producer_name="nntune",
            producer_version=__version__,
            doc_string="Exported by nntune.export.to_onnx.",
        )


def _walk(model: Sequential) -> list[tuple[str, Layer, int]]:
    """Each layer with its name and input width."""
    found, width = [], int(model.in_features or 0)
    for name, layer in zip(model.names, model.layers, strict=True):
        found.append((name, layer, width))
        width = layer.units if isinstance(layer, Dense) else width
    return found


def _check_exportable(model: Sequential, output: str) -> None:
    if not isinstance(model, Sequential):
        raise TypeError(f"expected an nntune Sequential; got {type(model).__name__}.")
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


def _require(module: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    extra = _EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(
            f"exporting needs {module}, which is not installed. Install the "
            f'{extra} extra: pip install "nntune[{extra}]".'
        ) from None


@functools.cache
def _standardize_class() -> type[torch.nn.Module]:
    _require("torch")  # the error that names the extra
    import torch  # noqa: TID251 (this module is torch's one way in)

    class TorchStandardize(torch.nn.Module):
        """``(x - mean) / scale``: nntune's ``Standardize``, statistics as buffers."""

        mean: torch.Tensor
        scale: torch.Tensor

        def __init__(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("scale", scale)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.mean) / self.scale

        def extra_repr(self) -> str:
            return f"features={self.mean.shape[0]}"

    # Found again by name through the module __getattr__, so torch.save can pickle it.
    TorchStandardize.__module__ = __name__
    TorchStandardize.__qualname__ = "TorchStandardize"
    return TorchStandardize


def __getattr__(name: str) -> Any:
    """``TorchStandardize``, the torch module for Standardize (needs torch)."""
    if name == "TorchStandardize":
        return _standardize_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
