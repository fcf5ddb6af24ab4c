"""The compiled programs of one model architecture and optimizer (JAX).

:func:`compiled` gives the functions the JAX runner (:mod:`nntune.training.compiled`)
and the JAX population engine call: an epoch (``run``: the scanned equal-sized
mini-batches, the last batch, the evaluations), several epochs at once
(``run_epochs``), one step, and the evaluation of rows. They take one model's state
or a population's (every leaf stacked on a leading member axis). Each is wrapped in
:class:`Shared`, so that equal programs (two trials that differ only in values
the state holds) compile once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..backend import per_member
from ..model import Sequential
from ..optim import GradientTransformation
from ..optim.learning_rate import first_learning_rate_state
from .evaluation import evaluate_rows, running_metrics
from .state import TrainState
from .step import make_metered_step

__all__ = ["Shared", "compiled"]


class _Compiled:
    """The compiled functions of one model architecture and optimizer.

    They take one model's state or a population's (every leaf stacked on a leading
    member axis, which the core's math carries through: stacked matrix products,
    one cost per member). ``ok`` holds one flag per member; with ``guard=True``
    (the default) a member whose cost stops being finite keeps its last finite
    state while the others train on, with ``guard=False`` the steps run as they
    are (the caller runs them again, guarded, when a cost is not finite).
    (Measured on a CPU, the stacked step compiles to faster code for a population
    of small nets than ``jax.vmap`` of the one-model step.)
    """

    def __init__(
        self, jax: Any, model: Sequential, optimizer: GradientTransformation
    ) -> None:
        jnp = jax.numpy
        step = make_metered_step(model, optimizer)

        def guarded(state: TrainState, ok: Any, x: Any, targets: Any) -> Any:
            new, cost, metrics = step(state, x, targets)
            ok = ok & jnp.isfinite(cost)
            kept = jax.tree_util.tree_map(
                lambda after, before: jnp.where(per_member(ok, after), after, before),
                new,
                state,
            )
            return kept, ok, cost, metrics

        def unguarded(state: TrainState, ok: Any, x: Any, targets: Any) -> Any:
            new, cost, metrics = step(state, x, targets)
            return new, ok & jnp.isfinite(cost), cost, metrics

        def rows(_model: Sequential, params: Any, state: Any, x: Any, t: Any) -> Any:
            return evaluate_rows(model, params, state, x, t)

        def counter(epoch: Any, ok: Any) -> Any:
            return jnp.broadcast_to(jnp.asarray(epoch, dtype=jnp.int32), jnp.shape(ok))

        def body(data: Any, advance: Any) -> Any:
            def scanned(carry: Any, rows: Any) -> Any:
                state, ok = carry
                state, ok, *found = advance(state, ok, data[0][rows], data[1][rows])
                return (state, ok), found

            return scanned

        def run(
            state: TrainState,
            epoch: Any,
            ok: Any,
            data: Any,
            index: Any,
            rest: Any,
            dev: Any,
            *,
            whole: bool,
            evaluate: bool,
            guard: bool = True,
        ) -> Any:
            x, targets = data
            advance = guarded if guard else unguarded
            state = state._replace(epoch=counter(epoch, ok))
            # Each step's cost, loss and accuracy, with a leading axis of steps.
            steps: list[Any] = []
            sizes = []
            if whole:
                state, ok, *found = advance(state, ok, x, targets)
                steps.append(jax.tree_util.tree_map(lambda v: v[None], found))
                sizes.append(np.full(1, x.shape[0]))
            if index is not None:
                (state, ok), scanned = jax.lax.scan(
                    body(data, advance), (state, ok), index
                )
                steps.append(scanned)
                sizes.append(np.full(index.shape[0], index.shape[1]))
            if rest is not None:
                state, ok, *found = advance(state, ok, x[rest], targets[rest])
                steps.append(jax.tree_util.tree_map(lambda v: v[None], found))
                sizes.append(np.full(1, rest.shape[0]))
            costs, (losses, accuracies) = jax.tree_util.tree_map(
                lambda *parts: jnp.concatenate(parts), *steps
            )
            params, model_state = state.params, state.model_state
            if evaluate:
                train = rows(model, params, model_state, x, targets)
            else:
                train = running_metrics(losses, accuracies, np.concatenate(sizes))
            found = rows(model, params, model_state, *dev) if dev is not None else None
            return state, ok, costs, train, found

        self.run = Shared(
            jax, jax.jit(run, static_argnames=("whole", "evaluate", "guard"))
        )

        def run_epochs(
            state: TrainState,
            epochs: Any,
            ok: Any,
            data: Any,
            index: Any,
            rest: Any,
            dev: Any,
            *,
            whole: bool,
            full: bool,
            guard: bool = True,
        ) -> Any:
            def one(carry: Any, planned: Any) -> Any:
                epoch, rows, last = planned
                (state, ok), epoch_rows = carry, (rows, last, dev)
                state, ok, costs, train, found = run(
                    state,
                    epoch,
                    ok,
                    data,
                    *epoch_rows,
                    whole=whole,
                    evaluate=full,
                    guard=guard,
                )
                rate = _rate(state.opt_state)
                return (state, ok), (costs, train, found, rate)

            state = state._replace(epoch=counter(epochs[0], ok))
            (state, ok), outputs = jax.lax.scan(one, (state, ok), (epochs, index, rest))
            return (state, ok, *outputs)

        self.run_epochs = Shared(
            jax, jax.jit(run_epochs, static_argnames=("whole", "full", "guard"))
        )

        def step_at(
            state: TrainState, epoch: Any, ok: Any, x: Any, targets: Any
        ) -> Any:
            state = state._replace(epoch=counter(epoch, ok))
            return guarded(state, ok, x, targets)

        self.step = Shared(jax, jax.jit(step_at))
        evaluate = Shared(
            jax, jax.jit(lambda p, s, x, t: evaluate_rows(model, p, s, x, t))
        )
        # The signature of the rows evaluator of evaluate_arrays (the model is fixed).
        self.evaluate = lambda _model, p, s, x, t: evaluate(p, s, x, t)


_EXECUTABLES: dict[bytes, Any] = {}
"""Compiled executables by the hash of their lowered program (see Shared)."""
_EXECUTABLES_SIZE = 128


class Shared:
    """A jitted function whose executables are shared by equal programs.

    ``jax.jit`` keeps its executables per function object, and every ``fit`` builds
    its own step (a closure over its model and optimizer). Two trials of a search
    that differ only in values the state holds (the learning rate, ``l2``,
    ``keep_prob``...) lower to the same program; this wrapper lowers once per
    argument signature, looks the program's hash up in :data:`_EXECUTABLES`, and
    compiles only a program not seen before. (Lowering takes a fraction of a
    second; compiling takes seconds.)
    """

    def __init__(self, jax: Any, jitted: Any) -> None:
        self.jax, self.jitted = jax, jitted
        self.local: dict[Any, Any] = {}

    def __call__(self, *args: Any, **static: Any) -> Any:
        flat, structure = self.jax.tree_util.tree_flatten(args)
        # The dtype objects themselves: their names cost ten times the lookup.
        signature = (
            structure,
            tuple(
                (
                    getattr(leaf, "shape", None),
                    getattr(leaf, "dtype", type(leaf)),
                    getattr(leaf, "weak_type", False),
                )
                for leaf in flat
            ),
            tuple(sorted(static.items())),
        )
        executable = self.local.get(signature)
        if executable is None:
            lowered = self.jitted.lower(*args, **static)
            # The program and the arguments' structure (two callers with equal
            # programs may name their arrays differently).
            text = lowered.as_text() + repr(structure)
            key = hashlib.sha256(text.encode()).digest()
            executable = _EXECUTABLES.pop(key, None) or lowered.compile()
            _EXECUTABLES[key] = executable  # most recently used last
            while len(_EXECUTABLES) > _EXECUTABLES_SIZE:
                del _EXECUTABLES[next(iter(_EXECUTABLES))]
            self.local[signature] = executable
        return executable(*args)


_CACHE: dict[tuple[str, GradientTransformation], _Compiled] = {}
_CACHE_SIZE = 32


def compiled(
    jax: Any, model: Sequential, optimizer: GradientTransformation
) -> _Compiled:
    """The compiled functions for ``model``'s architecture and ``optimizer``.

    They are kept for the next ``fit`` of the same pair (the last
    :data:`_CACHE_SIZE` pairs).
    """
    import json

    config = json.dumps(model.config(), sort_keys=True, default=str)
    key = (config, optimizer)
    found = _CACHE.pop(key, None) or _Compiled(jax, model, optimizer)
    _CACHE[key] = found  # most recently used last
    while len(_CACHE) > _CACHE_SIZE:
        del _CACHE[next(iter(_CACHE))]
    return found


def _rate(opt_state: Any) -> Any:
    """The last update's learning rate, traced (None for a state without one)."""
    found = first_learning_rate_state(opt_state)
    return None if found is None else found.value
