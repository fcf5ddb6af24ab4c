"""The NumPy train pass of one packed model, planned once: the hot path of ``fit``.

:meth:`~nntune.Sequential.train_pass` is written once for every array library and
for stacked populations, so each step it looks up the namespace, walks the layers'
parameter trees, rebuilds the regularizers and returns the gradients as a new tree.
On a small network that bookkeeping, not arithmetic, is most of a step. For one
model on NumPy whose state is packed (:mod:`nntune.training.packed`),
:class:`PlannedModel` runs the same pass settling once what can be settled once:

- each layer becomes an *op* bound to views of the packed parameters and of one
  packed gradient array, rebound only when the packed array changes (each epoch:
  the NumPy runner updates its packed state in place within an epoch);
- a :class:`~nntune.Dense` op writes its gradients straight into that array
  (``X^T dZ`` and the column sums, the operations of ``Dense.backward``);
- an activation runs its own ``_forward``/``_backward``, the layer's math, without
  the wrapper; any other layer (batch norm, dropout, a custom layer) runs its own
  ``forward``/``backward`` with its key and hyperparameters, and its gradients are
  copied into the packed array;
- the active regularizers are resolved once per hyperparameters (a state keeps the
  same ones all run).

The numbers are :meth:`~nntune.Sequential.train_pass`'s, bit for bit: the same
operations on the same operands in the same order (``tests/test_plan.py`` checks
every kind of layer, the penalties and the state of batch norm against it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import _Activation
from ..backend import Params
from ..backend.random import fold_in
from ..layers import Dense, Hyperparams, Layer, LayerParams
from ..model import Sequential, TrainPass
from .packed import PACKED, Packing

__all__ = ["PlannedModel"]


class _DenseOp:
    """``Z = X W + b``; backward ``dW = X^T dZ``, ``db = sum_rows(dZ)``, into views."""

    def __init__(self) -> None:
        self.x: Any = None
        self.W: Any = None
        self.b: Any = None
        self.gW: Any = None
        self.gb: Any = None

    def bind(self, params: LayerParams, grads: LayerParams) -> None:
        self.W, self.b = params["W"], params.get("b")
        self.gW, self.gb = grads["W"], grads.get("b")

    def forward(self, x: Any, state: Any, key: Any, hyperparams: Any) -> Any:
        self.x = x
        z = x @ self.W
        if self.b is not None:
            z += self.b  # Dense.forward's z + b, into z
        return z, None

    def backward(self, dy: Any, input_grad: bool) -> Any:
        np.matmul(self.x.T, dy, out=self.gW)
        if self.gb is not None:
            np.add.reduce(dy, axis=0, out=self.gb)  # np.sum's own reduction
        self.x = None
        return dy @ self.W.T if input_grad else None


class _ActivationOp:
    """An activation's own ``_forward``/``_backward`` (no parameters)."""

    def __init__(self, layer: _Activation) -> None:
        self.layer, self.cache = layer, None

    def bind(self, params: LayerParams, grads: LayerParams) -> None:
        pass

    def forward(self, x: Any, state: Any, key: Any, hyperparams: Any) -> Any:
        y, self.cache = self.layer._forward(x)
        return y, None

    def backward(self, dy: Any, input_grad: bool) -> Any:
        dx, self.cache = self.layer._backward(self.cache, dy), None
        return dx


class _LayerOp:
    """Any other layer: its own ``forward``/``backward``, gradients copied to views."""

    def __init__(self, layer: Layer, position: int) -> None:
        self.layer, self.position, self.cache = layer, position, None
        self.params: LayerParams = {}
        self.grads: LayerParams = {}

    def bind(self, params: LayerParams, grads: LayerParams) -> None:
        self.params, self.grads = params, grads

    def forward(self, x: Any, state: Any, key: Any, hyperparams: Any) -> Any:
        layer_key = None
        if key is not None and self.layer.stochastic:
            layer_key = fold_in(key, self.position)
        y, self.cache, new_state = self.layer.forward(
            self.params,
            state,
            x,
            training=True,
            key=layer_key,
            hyperparams=hyperparams,
        )
        return y, new_state

    def backward(self, dy: Any, input_grad: bool) -> Any:
        dx, grads = self.layer.backward(
            self.params, self.cache, dy, input_grad=input_grad
        )
        self.cache = None
        for name, grad in grads.items():
            np.copyto(self.grads[name], grad)
        return dx


def _op(layer: Layer, position: int) -> Any:
    if type(layer) is Dense:
        return _DenseOp()
    if isinstance(layer, _Activation):
        return _ActivationOp(layer)
    return _LayerOp(layer, position)


class PlannedModel:
    """``model``'s train pass on a packed NumPy state, planned once (see the module).

    It has what :func:`~nntune.make_train_step` uses of a model (its layers, its
    loss and ``train_pass``), so the step trains packed states unchanged; the
    gradients it returns are one packed array, the same array every step (the
    update consumes them before the next step).
    """

    def __init__(self, model: Sequential, packing: Packing) -> None:
        self.model, self.packing = model, packing
        self.layers, self.loss = model.layers, model.loss
        self.names = list(model.names)
        self.ops = [self._op(layer, i) for i, layer in enumerate(model.layers)]
        self._grads: np.ndarray | None = None
        self._bound: np.ndarray | None = None  # the packed parameters bound to
        self._params: Params = {}
        self._grad_views: Params = {}
        self._penalties: tuple[Any, list[tuple[str, list[Any]]]] | None = None

    def train_pass(
        self,
        params: Params,
        state: Any,
        x: Any,
        targets: Any,
        *,
        key: Any = None,
        hyperparams: Hyperparams | None = None,
    ) -> TrainPass:
        self._bind(params[PACKED]["all"])
        m = x.shape[-2]
        new_state = {}
        features = self._layout(x)
        for name, op in zip(self.names, self.ops, strict=True):
            features, layer_state = op.forward(
                features, state.get(name, {}), key, hyperparams
            )
            if layer_state:
                new_state[name] = layer_state
        logits = self._layout(features)
        loss, delta = self.loss.value_and_grad(logits, self._targets(targets))
        delta = self._layout(delta)
        for position in range(len(self.ops) - 1, -1, -1):
            delta = self.ops[position].backward(delta, position > 0)
        cost = loss
        for weights, grad, active in self._active(hyperparams):
            for regularizer in active:
                cost = cost + regularizer.cost(weights, m)
                np.add(grad, regularizer.grad(weights, m), out=grad)
        return TrainPass(cost, {PACKED: {"all": self._grads}}, new_state, loss, logits)

    def _op(self, layer: Layer, position: int) -> Any:
        """The op that runs ``layer`` (at ``position``) in this plan."""
        return _op(layer, position)

    def _layout(self, rows: Any) -> Any:
        """Rows (examples) as the ops keep them, and back: unchanged here."""
        return rows

    def _targets(self, targets: Any) -> Any:
        """The targets as the loss gets them: unchanged here."""
        return targets

    def _bind(self, flat: np.ndarray) -> None:
        """Point the ops at views of ``flat`` and of the packed gradients."""
        if flat is self._bound:
            return
        if self._grads is None or self._grads.dtype != flat.dtype:
            self._grads = np.empty_like(flat)
            self._grad_views = self.packing.unpack({PACKED: {"all": self._grads}})
        params = self.packing.unpack({PACKED: {"all": flat}})
        grads = self._grad_views
        for name, op in zip(self.names, self.ops, strict=True):
            op.bind(params.get(name, {}), grads.get(name, {}))
        self._bound, self._params = flat, params

    def _active(self, hyperparams: Any) -> list[tuple[Any, Any, list[Any]]]:
        """The penalized weights, their gradient views and active regularizers."""
        if self._penalties is None or self._penalties[0] is not hyperparams:
            active = self.model.active_regularizers(hyperparams)
            self._penalties = (hyperparams, active)
        return [
            (self._params[name]["W"], self._grad_views[name]["W"], regularizers)
            for name, regularizers in self._penalties[1]
        ]
