"""In-place twins of the built-in gradient transformations, for one NumPy array.

The NumPy runner trains a model's parameters packed end to end in one contiguous
array (:mod:`nntune.training.packed`), and its optimizer state likewise; a stacked
population packs to one row per member (``(K, size)``). On such an array every
built-in transformation has a *twin* that computes the same numbers (the same
operations in the same order on the same operands, so the same bits) but writes
them into the arrays it is given instead of making new ones:

- the scalars of a step (the update count, Adam's bias corrections, the scheduled
  learning rate, a clipping scale) are worked out once per step, as the pure
  function works them out (the code is shared, or Adam's corrections on Python
  floats: the same operations);
- the elementwise part then runs over pieces of :data:`CHUNK` elements (pieces of
  the last axis: of every member's row at once in a population), every
  transformation of a chain on one piece before the next piece, so a piece stays
  in the CPU's cache and the only temporary is one piece-sized scratch array.

A step of Adam on a large model then reads and writes each array about once instead
of making a dozen new arrays of its size: on a 6.3-million-parameter model it is
about three times faster and holds no temporary of the model's size.

The pure functions (:mod:`nntune.optim.transforms`) stay the reference: a twin is
registered beside its pure ``update`` (:func:`register`), found from it
(:func:`twin_of`), and ``tests/test_inplace_optimizers.py`` checks every twin
against its pure function bit for bit. A transformation without a twin (a custom
one) is simply run as a pure function.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .ewa import bias_correction_denominator, correction_for

__all__ = ["CHUNK", "Chunk", "Twin", "chain_twin", "pieces", "register", "twin_of"]

CHUNK = 1 << 16
"""Elements per piece of the elementwise pass (256 KiB of float32: cache-sized)."""

Chunk = Callable[[slice, np.ndarray], None]
"""``chunk(piece, scratch)``: transform ``updates[..., piece]`` (and the state's arrays
at ``piece``) in place; ``scratch`` is a free array shaped like the updates, at least
the piece's length along its last axis."""


@dataclass(frozen=True)
class Twin:
    """The in-place twin of one transformation's ``update``.

    Attributes:
        prepare: ``prepare(updates, state, params) -> (chunk, new_state)``: the
            step's scalars and the new state (its arrays are the old ones, updated
            in place by ``chunk``; its counters are new 0-d arrays). ``updates`` is
            the one packed array the chain transforms in place and ``params`` the
            packed parameters (or None).
        reads_updates: whether ``prepare`` reads ``updates`` as a whole (a global
            norm). Such a twin can only come first in a chain: later in it, its
            ``prepare`` would see the updates before the transformations before it.
    """

    prepare: Callable[[np.ndarray, Any, np.ndarray | None], tuple[Chunk, Any]]
    reads_updates: bool = False


_TWINS: weakref.WeakKeyDictionary[Callable[..., Any], Twin] = (
    weakref.WeakKeyDictionary()
)


def register(update: Callable[..., Any], twin: Twin | None) -> None:
    """Record ``twin`` as the in-place twin of the pure ``update`` (None: none)."""
    if twin is not None:
        _TWINS[update] = twin


def twin_of(update: Callable[..., Any]) -> Twin | None:
    """The in-place twin of the pure ``update``, or None when it has none."""
    return _TWINS.get(update)


def chain_twin(updates: Sequence[Callable[..., Any]]) -> Twin | None:
    """The twin of a chain of these pure updates (None unless each has one).

    The chain's ``prepare`` prepares each in order and its chunk runs each chunk in
    order on the same piece: elementwise, that is the chain's whole-array order.
    """
    twins = [twin_of(update) for update in updates]
    if any(twin is None for twin in twins):
        return None
    found = [twin for twin in twins if twin is not None]
    if any(twin.reads_updates for twin in found[1:]):
        return None  # see Twin.reads_updates

    def prepare(
        updates: np.ndarray, state: tuple[Any, ...], params: np.ndarray | None
    ) -> tuple[Chunk, tuple[Any, ...]]:
        chunks, states = [], []
        for twin, inner in zip(found, state, strict=True):
            each, inner = twin.prepare(updates, inner, params)
            chunks.append(each)
            states.append(inner)

        def chunk(piece: slice, scratch: np.ndarray) -> None:
            for each in chunks:
                each(piece, scratch)

        return chunk, tuple(states)

    return Twin(prepare, reads_updates=bool(found) and found[0].reads_updates)


def pieces(size: int, chunk: int | None = None) -> list[slice]:
    """The pieces of an array of ``size`` elements, ``chunk`` (:data:`CHUNK`) each."""
    step = CHUNK if chunk is None else chunk
    return [slice(start, min(start + step, size)) for start in range(0, size, step)]


def only_array(tree: Any) -> np.ndarray:
    """The one array of a packed tree ``{layer: {name: array}}``."""
    (arrays,) = tree.values()
    (array,) = arrays.values()
    return array  # type: ignore[no-any-return]


def ewa_into(
    average: np.ndarray, value: np.ndarray, decay: Any, scratch: np.ndarray
) -> None:
    """``average = decay * average + (1 - decay) * value``, in place (as :func:`ewa`).

    ``value`` may be ``scratch`` itself (it is scaled there first).
    """
    np.multiply(value, 1 - decay, out=scratch)
    np.multiply(average, decay, out=average)
    np.add(average, scratch, out=average)


def _numbers(*values: Any) -> bool:
    """Whether every hyperparameter is a Python number (arrays have no twin)."""
    return all(isinstance(value, int | float) for value in values)


def momentum_twin(beta: Any, nesterov: bool) -> Twin | None:
    """The twin of :func:`~nntune.optim.scale_by_momentum`."""
    if not _numbers(beta):
        return None

    def prepare(
        updates: np.ndarray, state: Any, params: np.ndarray | None
    ) -> tuple[Chunk, Any]:
        velocity = only_array(state.velocity)

        def chunk(piece: slice, scratch: np.ndarray) -> None:
            g, v, spare = (
                updates[..., piece],
                velocity[..., piece],
                _spare(scratch, piece),
            )
            ewa_into(v, g, beta, spare)  # spare keeps (1 - beta) * g
            if nesterov:  # beta * v + (1 - beta) * g
                np.multiply(v, beta, out=g)
                np.add(g, spare, out=g)
            else:
                np.copyto(g, v)

        return chunk, state

    return Twin(prepare)


def rms_twin(beta: Any, eps: Any) -> Twin | None:
    """The twin of :func:`~nntune.optim.scale_by_rms`."""
    if not _numbers(beta, eps):
        return None

    def prepare(
        updates: np.ndarray, state: Any, params: np.ndarray | None
    ) -> tuple[Chunk, Any]:
        square_average = only_array(state.square_average)

        def chunk(piece: slice, scratch: np.ndarray) -> None:
            g, s = updates[..., piece], square_average[..., piece]
            spare = _spare(scratch, piece)
            np.multiply(g, g, out=spare)
            ewa_into(s, spare, beta, spare)
            np.sqrt(s, out=spare)
            np.add(spare, eps, out=spare)
            np.divide(g, spare, out=g)

        return chunk, state

    return Twin(prepare)


def adam_twin(beta1: Any, beta2: Any, eps: Any) -> Twin | None:
    """The twin of :func:`~nntune.optim.scale_by_adam`.

    The bias corrections ``1 - beta^t`` are worked out on Python floats: the pure
    update's 0-d float64 arrays do the same IEEE operations (``pow``, a
    subtraction, a rounding to the moments' dtype), with more overhead. A
    population's (one count per member) are the pure update's own arrays.
    """
    if not _numbers(beta1, beta2, eps):
        return None

    def prepare(
        updates: np.ndarray, state: Any, params: np.ndarray | None
    ) -> tuple[Chunk, Any]:
        first, second = only_array(state.first_moment), only_array(state.second_moment)
        c1: Any
        c2: Any
        if state.step.ndim == 0:
            t = int(state.step) + 1
            count = np.asarray(t, dtype=state.step.dtype)
            c1, c2 = first.dtype.type(1 - beta1**t), first.dtype.type(1 - beta2**t)
        else:  # a population: one count per member, as the pure update has them
            count = np.asarray(state.step + 1)
            c1 = correction_for(first, bias_correction_denominator(beta1, count))
            c2 = correction_for(first, bias_correction_denominator(beta2, count))

        def chunk(piece: slice, scratch: np.ndarray) -> None:
            g, m, v = updates[..., piece], first[..., piece], second[..., piece]
            spare = _spare(scratch, piece)
            ewa_into(m, g, beta1, spare)
            np.multiply(g, g, out=spare)
            ewa_into(v, spare, beta2, spare)
            # (m / c1) / (sqrt(v / c2) + eps)
            np.divide(v, c2, out=spare)
            np.sqrt(spare, out=spare)
            np.add(spare, eps, out=spare)
            np.divide(m, c1, out=g)
            np.divide(g, spare, out=g)

        return chunk, type(state)(count, state.first_moment, state.second_moment)

    return Twin(prepare)


def decayed_weights_twin(weight_decay: Any) -> Twin | None:
    """The twin of :func:`~nntune.optim.add_decayed_weights`: ``g + wd * p``."""
    if not _numbers(weight_decay):
        return None

    def prepare(
        updates: np.ndarray, state: Any, params: np.ndarray | None
    ) -> tuple[Chunk, Any]:
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the parameters to decay; got params=None."
            )
        weights = params

        def chunk(piece: slice, scratch: np.ndarray) -> None:
            spare, g = _spare(scratch, piece), updates[..., piece]
            np.multiply(weights[..., piece], weight_decay, out=spare)
            np.add(g, spare, out=g)

        return chunk, state

    return Twin(prepare)


def scale_twin(
    prepare_scale: Callable[[np.ndarray, Any], tuple[Any, Any]],
    reads_updates: bool = False,
) -> Twin:
    """A twin that multiplies every update by one scalar of the step.

    ``prepare_scale(updates, state) -> (scale, new_state)`` is shared with the pure
    update (a learning rate, a clipping factor), ``scale`` in the updates' dtype.
    """

    def prepare(
        updates: np.ndarray, state: Any, params: np.ndarray | None
    ) -> tuple[Chunk, Any]:
        scale, new_state = prepare_scale(updates, state)

        def chunk(piece: slice, scratch: np.ndarray) -> None:
            g = updates[..., piece]
            np.multiply(g, scale, out=g)

        return chunk, new_state

    return Twin(prepare, reads_updates)


def _spare(scratch: np.ndarray, piece: slice) -> np.ndarray:
    """The first ``piece``-long part of ``scratch`` (along its last axis)."""
    return scratch[..., : int(piece.stop - piece.start)]
