"""A population's NumPy train pass, feature-major and planned once.

A population of small networks spends its NumPy step in many small stacked
operations: for 64 members of the course's 2-20-7-5-2 net every ``np.matmul`` over
the stack is 64 BLAS calls on matrices of a few hundred numbers, and an elementwise
operation or a sum along a short axis pays its overhead once per row. On a packed
population (:class:`~nntune.training.packed.Packing` with ``members``),
:class:`PlannedPopulation` runs the pass of :meth:`~nntune.Sequential.train_pass`
arranged so that fewer, longer operations do the work:

- activations are kept *feature-major*, ``(K, features, batch)``: an activation runs
  over each member's contiguous block, and the loss's sums over the classes become
  operations between rows;
- a :class:`~nntune.Dense` layer's bias rides in its matrix products. Its input
  gets a row of ones, and ``W`` and ``b``, laid end to end in a member's packed row,
  are one ``(in + 1, out)`` matrix: ``[W; b]^T [X; 1]`` is the forward product with
  the bias added, and ``[X; 1] dZ^T`` gives ``dW`` and ``db`` at once, written into
  the packed gradients (no broadcast add, no sum along a short axis);
- a :class:`~nntune.ReLU` followed by such a layer writes its output straight above
  that row of ones (no copy), its 0/1 mask made by one comparison;
- any other layer (dropout, batch norm, a custom layer) runs its own ``forward`` and
  ``backward`` on a batch-major view of the same arrays, as the loss gets the
  logits, so its numbers and its random draws are those of the stacked pass.

The numbers are the stacked pass's up to rounding (the bias gradient is summed by a
matrix product instead of ``sum``): ``tests/test_population_plan.py`` compares the
two pass for pass, and each member still ends within 1e-6 of its separate run in
float64 (``tests/test_population.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import ReLU, _Activation
from ..layers import Dense, Layer, LayerParams
from ..model import Sequential
from ..training.packed import Packing
from ..training.plan import PlannedModel, _ActivationOp, _LayerOp

__all__ = ["PlannedPopulation"]


class _Kept:
    """An op's arrays kept from step to step: one per role, shape and dtype.

    A step's products go to arrays kept from step to step: new arrays of a few
    hundred kilobytes each step make the C allocator give memory back to the system
    and fault it in again (a third of a population's step).
    """

    def __init__(self) -> None:
        self._arrays: dict[tuple[Any, ...], np.ndarray] = {}

    def __call__(
        self, role: str, shape: tuple[int, ...], dtype: Any, ones_below: bool = False
    ) -> np.ndarray:
        """The array for ``role`` in this shape, made on the first call.

        With ``ones_below`` its last row is set to 1 then, a row no step writes.
        """
        kind = (role, shape, np.dtype(dtype))
        found = self._arrays.get(kind)
        if found is None:
            found = self._arrays[kind] = np.empty(shape, dtype)
            if ones_below:
                found[..., -1, :] = 1
        return found


class _DenseOp:
    """``Z^T = [W; b]^T [X^T; 1]``; backward ``[dW; db] = [X^T; 1] dZ``, into views."""

    def __init__(self) -> None:
        self.x: Any = None
        self.W: Any = None
        self.joined: Any = None  # [W; b], or W alone without a bias
        self.grads: Any = None
        self.bias = False
        self._buffer = _Kept()
        self._slots: dict[tuple[Any, ...], np.ndarray] = {}

    def bind(self, params: LayerParams, grads: LayerParams) -> None:
        self.W, self.bias = params["W"], "b" in params
        self.joined, self.grads = params["W"], grads["W"]

    def join(self, joined: np.ndarray, grads: np.ndarray) -> None:
        """Use ``[W; b]`` and ``[dW; db]`` as single matrices (views)."""
        self.joined, self.grads = joined, grads

    def forward(self, x: Any, state: Any, key: Any, hyperparams: Any) -> Any:
        if self.bias:
            x = self._ones_below(x)
        self.x = x
        weights = self.joined.swapaxes(-1, -2)
        stack = np.broadcast_shapes(weights.shape[:-2], x.shape[:-2])
        out = self._buffer("z", (*stack, weights.shape[-2], x.shape[-1]), x.dtype)
        return np.matmul(weights, x, out=out), None

    def backward(self, dz: Any, input_grad: bool) -> Any:
        np.matmul(self.x, dz.swapaxes(-1, -2), out=self.grads)
        x, self.x = self.x, None
        if not input_grad:  # the input layer's dX: a product nobody uses
            return None
        rows = x.shape[-2] - 1 if self.bias else x.shape[-2]
        shape = (*dz.shape[:-2], rows, dz.shape[-1])
        return np.matmul(self.W, dz, out=self._buffer("dx", shape, dz.dtype))

    def slot(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Where the op before may write an input of ``shape``.

        The rows above the row of ones: a view, the same object each step, so that
        :meth:`_ones_below` copies nothing when it gets it back.
        """
        kind = ("slot", shape, np.dtype(dtype))
        found = self._slots.get(kind)
        if found is None:
            above = (*shape[:-2], shape[-2] + 1, shape[-1])
            ones = self._buffer("ones", above, dtype, ones_below=True)
            found = self._slots[kind] = ones[..., :-1, :]
        return found

    def _ones_below(self, x: Any) -> np.ndarray:
        """``x`` with a row of ones below it."""
        shape = (*x.shape[:-2], x.shape[-2] + 1, x.shape[-1])
        found = self._buffer("ones", shape, x.dtype, ones_below=True)
        if x is not self._slots.get(("slot", x.shape, x.dtype)):
            np.copyto(found[..., :-1, :], x)
        return found


class _ReLUOp:
    """A ReLU with an op after it: ``z`` times its 0/1 mask, into arrays kept.

    The mask is the comparison written as numbers (one operation) and the product
    goes where the next op takes its input: above the row of ones of a
    :class:`_DenseOp` (``feeds``), so that op copies nothing. A negative ``z`` gives
    ``-0.0`` where :class:`~nntune.ReLU` adds 0 to give ``0.0``: equal numbers, and
    every product and sum after it equal too (an operation saved). Its backward is
    ``dy`` times the mask, as ReLU's.
    """

    def __init__(self) -> None:
        self.feeds: _DenseOp | None = None
        self.mask: Any = None
        self._buffer = _Kept()

    def bind(self, params: LayerParams, grads: LayerParams) -> None:
        pass

    def forward(self, z: Any, state: Any, key: Any, hyperparams: Any) -> Any:
        mask = self.mask = self._buffer("mask", z.shape, z.dtype)
        np.greater(z, 0, out=mask)
        if self.feeds is not None:
            out = self.feeds.slot(z.shape, z.dtype)
        else:
            out = self._buffer("out", z.shape, z.dtype)
        return np.multiply(z, mask, out=out), None

    def backward(self, dy: Any, input_grad: bool) -> Any:
        dx = np.multiply(dy, self.mask, out=self._buffer("dx", dy.shape, dy.dtype))
        self.mask = None
        return dx


class _BatchMajorOp(_LayerOp):
    """Any other layer, on batch-major views: ``(..., features, batch)`` swapped."""

    def forward(self, x: Any, state: Any, key: Any, hyperparams: Any) -> Any:
        y, new_state = super().forward(x.swapaxes(-1, -2), state, key, hyperparams)
        return y.swapaxes(-1, -2), new_state

    def backward(self, dy: Any, input_grad: bool) -> Any:
        dx = super().backward(dy.swapaxes(-1, -2), input_grad)
        return None if dx is None else dx.swapaxes(-1, -2)


class PlannedPopulation(PlannedModel):
    """A packed population's train pass, feature-major (see the module).

    Like :class:`~nntune.training.plan.PlannedModel` it has what
    :func:`~nntune.make_train_step` uses of a model, and returns the gradients as
    the one packed ``(K, size)`` array, the same array every step.
    """

    def __init__(self, model: Sequential, packing: Packing) -> None:
        if not packing.lead:
            raise ValueError(
                "PlannedPopulation trains a stacked population; got the packing of "
                "one model (Packing(params) without members). Use PlannedModel."
            )
        self._spans = _dense_spans(model, packing)
        super().__init__(model, packing)
        for position, op in enumerate(self.ops[:-1]):
            after = self.ops[position + 1]
            ones = isinstance(after, _DenseOp) and self._spans[position + 1][1]
            if isinstance(op, _ReLUOp) and ones:  # the next op has a row of ones
                op.feeds = after

    def _op(self, layer: Layer, position: int) -> Any:
        if type(layer) is Dense and position in self._spans:
            return _DenseOp()
        if type(layer) is ReLU and position + 1 < len(self.layers):
            return _ReLUOp()  # not the last: its output is kept for the next step
        if isinstance(layer, _Activation) and layer.elementwise:
            return _ActivationOp(layer)  # in any layout
        return _BatchMajorOp(layer, position)

    def _bind(self, flat: np.ndarray) -> None:
        if flat is self._bound:
            return
        super()._bind(flat)
        grads: Any = self._grads  # made by the binding above
        lead = self.packing.lead
        for position, (offset, rows, units) in self._spans.items():
            if rows is None:  # no bias: W alone, as bound
                continue
            span = slice(offset, offset + rows * units)
            self.ops[position].join(
                flat[..., span].reshape(*lead, rows, units),
                grads[..., span].reshape(*lead, rows, units),
            )

    def _layout(self, rows: Any) -> Any:
        """``(..., batch, features)`` as ``(..., features, batch)`` and back (views)."""
        return rows.swapaxes(-1, -2)

    def _targets(self, targets: Any) -> Any:
        if type(targets) is np.ndarray:
            # Laid out as the logits are (class-major), so that the loss's
            # operations between them run along rows instead of across them.
            return np.asfortranarray(targets)
        return targets


def _dense_spans(
    model: Sequential, packing: Packing
) -> dict[int, tuple[int, int | None, int]]:
    """The Dense layers whose ``[W; b]`` is one matrix of the packed row, by position.

    That is, where the packing lays ``b`` right after ``W`` (or there is no ``b``):
    its offset in the row, its rows (``in + 1``; None without a bias) and units.
    """
    slots = {
        (layer, name): (offset, shape)
        for layer, name, shape, offset, _ in packing.slots
    }
    found: dict[int, tuple[int, int | None, int]] = {}
    for position, (name, layer) in enumerate(
        zip(model.names, model.layers, strict=True)
    ):
        weights, bias = slots.get((name, "W")), slots.get((name, "b"))
        if not isinstance(layer, Dense) or weights is None:
            continue
        offset, (rows, units) = weights[0], weights[1]
        if bias is None:
            found[position] = (offset, None, units)
        elif bias[0] == offset + rows * units:
            found[position] = (offset, rows + 1, units)
    return found
