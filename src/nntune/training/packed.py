"""Contiguous parameters for the NumPy backend: one array instead of one per tensor.

The optimizer's update is elementwise, so it computes the same numbers on every
tensor of a model or on all of them laid end to end in one array; what differs is
the Python work, paid once per array and per step. A small network has a dozen
tensors of a few hundred numbers, so that work is most of its step. The NumPy runner
therefore trains a :class:`Packing` of its state: the parameters and every part of
the optimizer state keyed like them (moments, velocities) as one contiguous array
each, the layers reading views into it. The step is the same pure step
(:func:`~nntune.make_train_step`), given a model whose gradients come packed, and
its results are the same bit for bit. Unpacked (views, no copy), the state is the
one the pure step keeps, for callbacks, checkpoints and the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import Params
from ..optim import inplace
from ..optim.inplace import Twin, only_array, pieces
from .state import TrainState

__all__ = ["PACKED", "InPlaceUpdate", "Packing"]

LINE = 16
"""Columns a piece of a population's rows spans at least (64 bytes of float32)."""

PACKED = "packed"
"""The one layer name of a packed tree: ``{"packed": {"all": array}}``."""


class Packing:
    """How one model's parameter tree lays out in one array (see the module).

    With ``members`` (a stacked population, every leaf ``(K, ...)``), each member's
    arrays lay out in one row: the packed array is ``(K, size)`` and a member's
    tensor is a view of its row (contiguous within the member).
    """

    def __init__(self, params: Params, members: int | None = None) -> None:
        self.lead: tuple[int, ...] = () if members is None else (members,)
        self.slots: list[tuple[str, str, tuple[int, ...], int, int]] = []
        offset = 0
        for layer, arrays in params.items():
            for name, array in arrays.items():
                shape = tuple(array.shape)[len(self.lead) :]
                size = int(np.prod(shape, dtype=np.int64))
                self.slots.append((layer, name, shape, offset, size))
                offset += size
        self.size = offset
        self.keys = {layer: tuple(arrays) for layer, arrays in params.items()}

    @staticmethod
    def applies(state: TrainState, members: int | None = None) -> bool:
        """Whether ``state`` can be packed: NumPy arrays of one dtype, one model.

        With ``members``: a population of that many stacked members.
        """
        leaves = [a for arrays in state.params.values() for a in arrays.values()]
        lead = 0 if members is None else 1
        return (
            bool(leaves)
            and all(type(a) is np.ndarray for a in leaves)
            and len({a.dtype for a in leaves}) == 1
            and np.ndim(state.step) == lead
            and all(
                a.ndim > lead and a.shape[:lead] == (members,)[:lead] for a in leaves
            )
        )

    def matches(self, tree: Any) -> bool:
        """Whether ``tree`` is keyed like the parameters (a moment, a velocity)."""
        return (
            isinstance(tree, dict)
            and tree.keys() == self.keys.keys()
            and all(
                isinstance(tree[layer], dict) and tuple(tree[layer]) == names
                for layer, names in self.keys.items()
            )
            and all(
                type(tree[layer][name]) is np.ndarray
                and tree[layer][name].shape == (*self.lead, *shape)
                for layer, name, shape, _, _ in self.slots
            )
        )

    def pack(self, tree: Params) -> Params:
        """One array holding every array of ``tree``, in the slots' order."""
        parts = [
            tree[layer][name].reshape(*self.lead, -1) for layer, name, *_ in self.slots
        ]
        return {PACKED: {"all": np.concatenate(parts, axis=-1)}}

    def unpack(self, packed: Params) -> Params:
        """Views into the packed array, keyed and shaped like the parameters."""
        flat = packed[PACKED]["all"]
        tree: Params = {layer: {} for layer in self.keys}
        for layer, name, shape, offset, size in self.slots:
            tree[layer][name] = flat[..., offset : offset + size].reshape(
                *self.lead, *shape
            )
        return tree

    def pack_state(self, state: TrainState) -> TrainState:
        """``state`` with its parameters and parameter-keyed optimizer trees packed."""
        return state._replace(
            params=self.pack(state.params),
            opt_state=self._walk(state.opt_state, self._pack_if_keyed),
        )

    def unpack_state(self, state: TrainState) -> TrainState:
        """The inverse of :meth:`pack_state` (views into the packed arrays)."""
        return state._replace(
            params=self.unpack(state.params),
            opt_state=self._walk(state.opt_state, self._unpack_if_packed),
        )

    def _pack_if_keyed(self, tree: Any) -> Any:
        return self.pack(tree) if self.matches(tree) else None

    def _unpack_if_packed(self, tree: Any) -> Any:
        if isinstance(tree, dict) and tree.keys() == {PACKED}:
            return self.unpack(tree)
        return None

    def _walk(self, tree: Any, change: Any) -> Any:
        changed = change(tree)
        if changed is not None:
            return changed
        if isinstance(tree, dict):
            return {key: self._walk(value, change) for key, value in tree.items()}
        if isinstance(tree, tuple):
            values = [self._walk(value, change) for value in tree]
            return type(tree)(*values) if hasattr(tree, "_fields") else tuple(values)
        if isinstance(tree, list):
            return [self._walk(value, change) for value in tree]
        return tree


class InPlaceUpdate:
    """An optimizer's update and :func:`~nntune.optim.apply_updates`, in place.

    For a packed state (:class:`Packing`) and an optimizer with an in-place twin
    (:mod:`nntune.optim.inplace`): ``update(grads, opt_state, params)`` overwrites the
    packed gradients with the optimizer's updates and adds them to the packed
    parameters, piece by piece, updating the state's arrays in place. The numbers
    are the pure update's, bit for bit; the arrays must be the caller's own (the
    runner packs a copy of the state for each epoch).
    """

    def __init__(self, packing: Packing, twin: Twin) -> None:
        self.twin, self.lead = twin, packing.lead
        # A piece holds about CHUNK elements: of every member's row in a population,
        # and at least a cache line of each (a huge population's pieces are larger).
        rows = int(np.prod(self.lead, dtype=np.int64))
        width = inplace.CHUNK
        if self.lead:
            width = max(inplace.CHUNK // rows, min(packing.size, LINE), 1)
        self.pieces = pieces(packing.size, width)
        self.width = min(width, max(packing.size, 1))
        self._scratch: np.ndarray | None = None

    def __call__(
        self, grads: Params, opt_state: Any, params: Params
    ) -> tuple[Any, Any]:
        g, p = only_array(grads), only_array(params)
        scratch = self._scratch
        if scratch is None or scratch.dtype != p.dtype:
            scratch = self._scratch = np.empty((*self.lead, self.width), p.dtype)
        chunk, opt_state = self.twin.prepare(g, opt_state, p)
        for piece in self.pieces:
            chunk(piece, scratch)
            weights = p[..., piece]
            np.add(weights, g[..., piece], out=weights)
        return params, opt_state
