"""The ONNX side of the export: a graph of standard operators, labels included."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..activations import LeakyReLU, Softmax
from ..backend import to_numpy
from ..layers import Dense, Layer, LayerParams, LayerState
from ..normalization import BatchNorm, Standardize
from .source import ACTIVATIONS, Source, target_units, walk


def build_graph(onnx: Any, source: Source, output: str, opset: int) -> Any:
    """The ``ModelProto`` of :func:`nntune.export.to_onnx`, checked by onnx."""
    model = source.model
    graph = _OnnxGraph(onnx, model.dtype)
    x = "input"
    for name, layer, _ in walk(model):
        params, state = model.params.get(name, {}), model.state.get(name, {})
        x = _onnx_layer(graph, name, layer, params, state, x)
    helper = onnx.helper
    element = helper.np_dtype_to_tensor_dtype(model.dtype)
    logits, width, task = x, int(model.n_outputs or 0), model.loss.task
    if source.classes is not None:
        _labels(graph, logits, model, source.classes)
    if task == "regression":
        name, scaling = "values", target_units(model)
        if scaling is not None and output != "logits":  # the target's units
            scale, mean = scaling
            steps = [("Mul", "scale", scale), ("Add", "mean", mean)]
            x = graph.chain("target_units", x, steps)
    elif output == "logits":
        name = "logits"
    elif task == "multiclass":
        name, x = "probabilities", graph.node("Softmax", "softmax", x, axis=1)
    else:  # binary: the two columns [1 - p, p] of predict_proba
        p = graph.node("Sigmoid", "sigmoid", x)
        q = graph.node("Sub", "complement", graph.constant("one", np.ones((1, 1))), p)
        x = graph.node("Concat", "columns", q, p, axis=1)
        name, width = "probabilities", 2
    graph.output(name, x, ["batch", width], element)
    from .. import __version__

    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "nntune",
            [
                helper.make_tensor_value_info(
                    "input", element, ["batch", int(model.in_features or 0)]
                )
            ],
            graph.outputs,
            initializer=graph.initializers,
        ),
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="nntune",
        producer_version=__version__,
        doc_string="Exported by nntune.export.to_onnx.",
    )
    properties = {
        "nntune.loss": model.loss.kind,
        "nntune.output": output,
        "nntune.layers": ", ".join(model.names),
    }
    if source.classes is not None:
        properties["nntune.classes"] = json.dumps(list(source.classes))
    if model.threshold is not None:
        properties["nntune.threshold"] = repr(model.threshold)
    helper.set_model_props(proto, properties)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _labels(graph: _OnnxGraph, logits: str, model: Any, classes: Any) -> None:
    """Add the ``label`` output: the class of each row, as nntune predicts it."""
    if model.loss.task == "binary":
        # Class 1 where z > logit(threshold) (0 for 0.5), as Sequential.predict; the
        # constant in the model's dtype, as NumPy compares it.
        cut = np.full((1, 1), model.loss.decision_logit)
        cut_name = graph.constant("decision_logit", cut)
        positive = graph.node("Greater", "positive", logits, cut_name)
        integer = graph.onnx.TensorProto.INT64
        codes = graph.node("Cast", "positive_code", positive, to=integer)
        shape = graph.constant("rows", np.array([-1], dtype=np.int64))
        index = graph.node("Reshape", "label_index", codes, shape)
    else:
        index = graph.node("ArgMax", "label_index", logits, axis=1, keepdims=0)
    # Integer labels stay integers (int64), any others become strings, as skl2onnx.
    tensors = graph.onnx.TensorProto
    if all(type(label) is int for label in classes):
        table, element = np.array(classes, dtype=np.int64), tensors.INT64
    else:
        table = np.array([str(label) for label in classes], dtype=object)
        element = tensors.STRING
    labels = graph.node("Gather", "labels", graph.constant("classes", table), index)
    graph.output("label", labels, ["batch"], element)


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
    operator = ACTIVATIONS.get(type(layer), ("", None))[1]
    # Dropout and Identity are the identity at inference: no node.
    return graph.node(operator, name, x) if operator else x


class _OnnxGraph:
    """Collects nodes, initializers and outputs; each node has a name and one output.

    Every float constant is a tensor of the model's dtype: ONNX float attributes are
    32-bit and would make a float64 graph disagree with nntune.
    """

    def __init__(self, onnx: Any, dtype: np.dtype[Any]) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.outputs: list[Any] = []

    def constant(self, name: str, array: Any) -> str:
        value = np.asarray(to_numpy(array))
        if value.dtype.kind == "f":
            value = value.astype(self.dtype)
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

    def output(self, name: str, tensor: str, shape: list[Any], element: int) -> None:
        """Expose ``tensor`` as the graph output ``name``."""
        self.node("Identity", name, tensor)
        info = self.onnx.helper.make_tensor_value_info(name, element, shape)
        self.outputs.append(info)
