"""The PyTorch side of the export: modules, and ``torch.export`` program files."""

from __future__ import annotations

import functools
import io
import json
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import atomic_write_bytes
from ..activations import LeakyReLU, Softmax
from ..backend import to_numpy
from ..layers import Dense, Dropout
from ..normalization import BatchNorm, Standardize
from .source import ACTIVATIONS, Source, require, target_units, walk

if TYPE_CHECKING:
    import torch  # noqa: TID251 (types only; nntune.export is torch's one way in)

EXTRA_FILE = "nntune.json"
"""The extra file of a program written by ``to_torch(..., path)``: its class labels
(``classes``), ``output``, loss, layers and a binary model's decision ``threshold``
on ``P(class 1)`` (None for other tasks)."""


def build_module(source: Source, output: str) -> torch.nn.Sequential:
    """The ``torch.nn.Sequential`` of :func:`nntune.export.to_torch`."""
    pytorch = require("torch")
    model = source.model
    nn = pytorch.nn
    dtype = getattr(pytorch, model.dtype.name)

    def tensor(array: Any) -> Any:
        return pytorch.tensor(np.array(to_numpy(array)), dtype=dtype)  # a copy

    modules: OrderedDict[str, Any] = OrderedDict()
    with pytorch.no_grad():
        for name, layer, width in walk(model):
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
                module = torch_classes()["TorchStandardize"](*statistics)
            elif isinstance(layer, Dropout):
                module = nn.Dropout(p=1 - layer.keep_prob)
            elif isinstance(layer, LeakyReLU):
                module = nn.LeakyReLU(negative_slope=layer.negative_slope)
            elif isinstance(layer, Softmax):
                module = nn.Softmax(dim=1)
            else:
                module = getattr(nn, ACTIVATIONS[type(layer)][0])()
            modules[name] = module
    scaling = target_units(model)
    if output == "probabilities" and scaling is not None:  # the target's units
        scale, mean = (tensor(values) for values in scaling)
        modules["values"] = torch_classes()["TorchTargetUnits"](mean, scale)
    if output == "probabilities" and model.loss.task == "binary":
        modules["probabilities"] = torch_classes()["TorchBinaryProbabilities"]()
    elif output == "probabilities" and model.loss.task == "multiclass":
        modules["probabilities"] = nn.Softmax(dim=1)
    exported: torch.nn.Sequential = nn.Sequential(modules).eval()
    # A plain attribute (torch types module attributes as tensors or modules).
    exported.classes = source.classes  # type: ignore[assignment]
    exported.threshold = model.threshold  # type: ignore[assignment]
    return exported


def save_program(
    module: torch.nn.Sequential, source: Source, output: str, path: Path
) -> None:
    """Write ``module`` as a ``torch.export`` program (batch size dynamic), atomically.

    The file needs neither nntune nor pickle to load:
    ``torch.export.load(path).module()``.
    """
    pytorch = require("torch")
    model = source.model
    dtype = getattr(pytorch, model.dtype.name)
    example = pytorch.zeros(2, int(model.in_features or 0), dtype=dtype)
    batch = {0: pytorch.export.Dim("batch")}
    program = pytorch.export.export(module, (example,), dynamic_shapes={"input": batch})
    facts = {
        "classes": None if source.classes is None else list(source.classes),
        "output": output,
        "loss": model.loss.kind,
        "layers": list(model.names),
        "threshold": model.threshold,
    }
    buffer = io.BytesIO()
    extra = {EXTRA_FILE: json.dumps(facts)}
    pytorch.export.save(program, buffer, extra_files=extra)
    atomic_write_bytes(path, buffer.getvalue())


@functools.cache
def torch_classes() -> dict[str, type[torch.nn.Module]]:
    """The torch modules of nntune (made on first use: they need torch)."""
    require("torch")  # the error that names the extra
    import torch  # noqa: TID251 (nntune.export is torch's one way in)

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

    class TorchTargetUnits(TorchStandardize):
        """``z * scale + mean``: a regression's values in the target's own units."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale + self.mean

        def extra_repr(self) -> str:
            return f"outputs={self.mean.shape[0]}"

    class TorchBinaryProbabilities(torch.nn.Module):
        """Logit ``z`` of shape ``(n, 1)`` -> ``[1 - p, p]`` with ``p = sigmoid(z)``."""

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            p = torch.sigmoid(z)
            return torch.cat([1 - p, p], dim=1)

    found: dict[str, type[torch.nn.Module]] = {}
    for cls in (TorchStandardize, TorchTargetUnits, TorchBinaryProbabilities):
        # Found again by name through nntune.export's __getattr__, so torch.save
        # can pickle a module holding them.
        cls.__module__, cls.__qualname__ = "nntune.export", cls.__name__
        found[cls.__name__] = cls
    return found
