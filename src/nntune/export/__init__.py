"""Export a trained model to PyTorch or to an ONNX file, class labels included.

Both :func:`to_torch` and :func:`to_onnx` take a :class:`~nntune.Sequential`, a
fitted :class:`~nntune.NNClassifier` or :class:`~nntune.NNRegressor`, or a path: the
folder of an ``nntune train`` run (``model.json`` + ``model.safetensors``), or a
model or estimator saved to a file stem. Both compute, by default, what
``predict_proba`` computes: a classifier's probabilities, one column per class in the
order of its labels (two columns ``[1 - p, p]`` for a binary one), or a regression
model's values; ``output="logits"`` stops at the last layer. The class labels travel
with the export: the ONNX graph has a ``label`` output (as skl2onnx's classifiers),
the torch module a ``classes`` attribute. The labels are the estimator's
``classes_``, a run's class names (strings), or ``0..K-1`` for a bare model.

Both compute what nntune computes at inference, with the same weights and dtype; the
conventions are bridged as in docs/conventions.md:

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
  ``Sub`` then ``Div``);
- a regression's standardized targets (:class:`~nntune.MeanSquaredError` with
  ``target_mean`` and ``target_scale``) are undone by the values output:
  ``TorchTargetUnits`` (a module named ``values``; ONNX: ``Mul`` then ``Add``),
  ``z * target_scale + target_mean``, so both give :meth:`~nntune.Sequential.predict`
  in the target's own units; ``output="logits"`` stops before it.

Every ONNX constant is a tensor of the model's dtype: ONNX float attributes are 32-bit
(``BatchNormalization``'s ``epsilon``, ``LeakyRelu``'s ``alpha``) and would make a
float64 graph disagree with nntune by up to 1e-8 instead of 1e-14.

PyTorch is imported from the ``torch`` extra, ONNX from the ``export`` extra, and only
when a function here is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write_bytes
from .source import DEFAULT_OUTPUT, OUTPUTS, require, resolve

if TYPE_CHECKING:
    import torch  # noqa: TID251 (types only; this package is torch's one way in)

__all__ = ["DEFAULT_OUTPUT", "OUTPUTS", "to_onnx", "to_torch"]

MIN_OPSET = 13
"""ONNX opset 13 gave ``Softmax`` its per-axis meaning; older opsets are refused."""


def to_torch(
    source: Any, path: str | Path | None = None, *, output: str = DEFAULT_OUTPUT
) -> torch.nn.Sequential:
    """Build a ``torch.nn.Sequential`` computing the model's forward pass.

    Modules are named like nntune's layers (``dense_0``, ``batch_norm_1``, ...) and
    hold copies of the weights and running statistics, in the model's dtype
    (float32 or float64). The module is returned in ``eval()`` mode; ``train()``
    turns dropout on (scaling kept units by ``1/keep_prob``) and makes batch norm
    update its running statistics exactly as nntune's training does. Batch norm's
    ``num_batches_tracked`` is 0: nntune does not count batches, and PyTorch reads
    it only when ``momentum=None``. The module's ``classes`` attribute holds the
    class labels of the probability columns (None for a regression model), and
    ``threshold`` a binary model's decision threshold on the second column's
    probability (None for other tasks).

    Args:
        source: a :class:`~nntune.Sequential`, a fitted estimator, or the path of a
            run folder or saved model (see the module's description).
        path: also write the module as a ``torch.export`` program there (usually
            ``*.pt2``; batch size dynamic; the labels in its extra file
            ``nntune.json``). It loads without nntune and without pickle:
            ``torch.export.load(path).module()``.
        output: ``"probabilities"`` (the default) appends the loss's link as a
            module named ``probabilities``: ``Softmax(dim=1)`` for softmax
            cross-entropy, and for binary cross-entropy a sigmoid giving the two
            columns ``[1 - p, p]`` of :meth:`~nntune.Sequential.predict_proba`;
            for a regression model whose targets were standardized, a module
            named ``values`` giving its values in the target's units.
            ``"logits"`` stops at the last layer.

    Returns:
        The module, in ``eval()`` mode.

    Raises:
        TypeError: if ``source`` is none of those.
        ValueError: if torch is missing, the model is not initialised (or the
            estimator not fitted), ``output`` is unknown or a layer (or, for
            probabilities, the loss) has no mapping.

    Example:
        >>> import numpy as np
        >>> from nntune import Dense, ReLU, Sequential
        >>> model = Sequential([Dense(3), ReLU(), Dense(1)]).init(2, dtype="float64")
        >>> module = to_torch(model)
        >>> module  # doctest: +NORMALIZE_WHITESPACE
        Sequential(
          (dense_0): Linear(in_features=2, out_features=3, bias=True)
          (relu_1): ReLU()
          (dense_2): Linear(in_features=3, out_features=1, bias=True)
          (probabilities): TorchBinaryProbabilities()
        )
        >>> import torch
        >>> x = np.array([[0.5, -1.0]])
        >>> p = module(torch.from_numpy(x)).detach().numpy()
        >>> bool(np.allclose(p, model.predict_proba(x))), module.classes
        (True, (0, 1))
    """
    from .pytorch import build_module, save_program

    found = resolve(source, output)
    module = build_module(found, output)
    if path is not None:
        save_program(module, found, output, Path(path))
    return module


def to_onnx(
    source: Any,
    path: str | Path,
    *,
    output: str = DEFAULT_OUTPUT,
    opset: int = 17,
) -> Path:
    """Write the model's inference graph to an ONNX file at ``path``.

    The graph has one input ``"input"`` of shape ``(batch, in_features)``, in the
    model's dtype, with a dynamic batch dimension. A classifier has two outputs, as
    skl2onnx's: ``"label"``, the predicted class of each row (int64 when the labels
    are integers, else strings), then ``"probabilities"`` (exactly
    :meth:`~nntune.Sequential.predict_proba`: two columns ``[1 - p, p]`` for a binary
    model) or, with ``output="logits"``, ``"logits"``. A regression model has one
    output, ``"values"``: :meth:`~nntune.Sequential.predict`, in the target's units
    (with ``output="logits"``, the last layer's standardized values). Dropout is
    left out (it is the identity at inference). The labels are also in the
    metadata property ``nntune.classes`` (JSON). A binary model's ``label`` uses
    its decision threshold (:attr:`~nntune.Sequential.threshold`, also in the
    property ``nntune.threshold``): class 1 where the logit is above
    ``logit(threshold)``, as ``predict``. The model is checked with ``onnx.checker``
    and written atomically.

    Args:
        source: a :class:`~nntune.Sequential`, a fitted estimator, or the path of a
            run folder or saved model (see the module's description).
        path: the file to write, usually ``*.onnx``; its folder is created.
        output: ``"probabilities"`` (the default) or ``"logits"`` (the last layer).
        opset: the ONNX operator set, from 13 to the installed onnx's newest.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Raises:
        TypeError: if ``source`` is none of those.
        ValueError: if onnx is missing, the model is not initialised (or the
            estimator not fitted), ``output`` or ``opset`` is unknown or a layer (or
            the loss) has no mapping.

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
        >>> label, p = session.run(["label", "probabilities"], {"input": x})
        >>> p.shape, bool(np.allclose(p, model.predict_proba(x)))
        ((5, 2), True)
        >>> bool(np.array_equal(label, model.predict(x)))
        True
    """
    from .onnx_graph import build_graph

    onnx = require("onnx")
    found = resolve(source, output)
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ValueError(f"opset must be an int; got {opset!r} (try 17).")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset must be between {MIN_OPSET} and {newest} (the installed onnx's "
            f"newest); got {opset}. The default 17 suits most runtimes."
        )
    proto = build_graph(onnx, found, output, opset)
    target = Path(path)
    atomic_write_bytes(target, proto.SerializeToString())
    return target


def __getattr__(name: str) -> Any:
    """``TorchStandardize``, ``TorchTargetUnits``, ``TorchBinaryProbabilities``."""
    if name in ("TorchStandardize", "TorchTargetUnits", "TorchBinaryProbabilities"):
        from .pytorch import torch_classes

        return torch_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
