"""How an epoch of train steps runs: eagerly on NumPy, or compiled with JAX.

:func:`~nntune.fit` owns the loop (shuffles, callbacks, history); a runner owns the
arrays. Both runners run the same pure step (:func:`~nntune.make_train_step`) on
the same mini-batches in the same order, so they train the same weights (to
rounding; exactly the same math in float64).

- :class:`NumpyRunner` calls the step once per mini-batch (a single model's state
  packed into contiguous arrays, :mod:`nntune.training.packed`).
- :class:`~nntune.training.compiled.JaxRunner` compiles whole epochs with JAX and
  keeps the state on JAX's device until something reads it
  (:mod:`nntune.training.compiled`).

Either way callbacks read NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..model import Sequential
from ..optim import GradientTransformation, current_learning_rate, set_epoch
from ..optim.inplace import twin_of
from ..optim.transforms import PACKABLE
from .evaluation import evaluate_arrays, running_metrics
from .packed import InPlaceUpdate, Packing
from .plan import PlannedModel
from .state import TrainState
from .step import make_metered_step

__all__ = [
    "EPOCHS_AT_ONCE",
    "GROUP_ROWS",
    "Epoch",
    "NumpyRunner",
    "Runner",
    "make_runner",
    "packed_step",
    "preset_epoch",
    "run_steps",
]

EPOCHS_AT_ONCE = 16
"""Epochs a runner runs in one call (the JAX runner compiles them into one) when no
callback reads the state between them; a run's last few, fewer than this, run one at
a time."""

GROUP_ROWS = 10_000
"""Training sets of up to this many rows run several epochs at once on NumPy: their
epochs are short, so a progress bar still moves often."""

Augment = Callable[[Any, np.random.Generator], Any]
Plan = Callable[[], tuple[np.random.Generator, list[Any]]]
"""An epoch's plan: its generator (after the shuffle) and its mini-batches' rows;
calling it again gives the same again (an epoch is replayed from it)."""
Metrics = tuple[float, float | None]


class Epoch(NamedTuple):
    """What an epoch gives back to the loop.

    Attributes:
        state: the state after the epoch's last step with a finite cost.
        costs: every step's cost (a non-finite one ends the useful part).
        train: the training set's cost and accuracy (None when a cost was not
            finite): the running metrics (the mean over the epoch's mini-batches,
            in training mode) or, in an epoch asked to, the inference-mode
            evaluation of the whole set after the epoch.
        dev: the dev set's, when there is one (None when a cost was not finite).
        learning_rate: the epoch's last rate, when the runner knows it (an epoch
            run with others at once; else it is read from ``state``).
    """

    state: TrainState
    costs: list[float]
    train: Metrics | None
    dev: Metrics | None
    learning_rate: float | None = None


class Runner(Protocol):
    """Runs the steps of one epoch and evaluates (see the module docstring)."""

    def data(self, x: Any, targets: Any) -> tuple[Any, Any]:
        """The arrays in the runner's memory (the device for JAX)."""

    def epoch(
        self,
        state: TrainState,
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        plan: Plan,
        augment: Augment | None,
        full: bool,
    ) -> Epoch:
        """Run one step per batch of ``plan``, then evaluate the dev set.

        ``data`` and ``dev`` are what :meth:`data` returned; the state is given and
        returned where the runner keeps it (see :meth:`host`). The training set's
        metrics are the running ones, or its evaluation when ``full``.
        """

    def host(self, state: Any) -> TrainState:
        """``state`` as NumPy arrays (as :meth:`epoch` returned it, moved)."""

    def together(
        self, data: tuple[Any, Any], dev: Any, augment: Any, full: bool
    ) -> int:
        """How many epochs :meth:`epochs` may run in one call (1: never)."""

    def epochs(
        self,
        state: TrainState,
        first: int,
        plans: list[Plan],
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        full: bool,
    ) -> list[Epoch]:
        """Run several epochs at once (see :meth:`together`)."""

    def with_epoch(self, state: Any, epoch: int) -> Any:
        """``state`` (where the runner keeps it) with its epoch counter set."""

    def finish(self, state: TrainState) -> TrainState:
        """The final state, writable NumPy arrays owned by the caller."""


class NumpyRunner:
    """The eager runner: the step called once per mini-batch.

    A single model's state trains packed (:mod:`nntune.training.packed`): the same
    step and the same numbers, with the optimizer's work done once per step on one
    contiguous array instead of once per tensor.
    """

    def __init__(self, model: Sequential, optimizer: GradientTransformation) -> None:
        self.model, self.optimizer = model, optimizer
        self.step = make_metered_step(model, optimizer)
        self._packed: tuple[Packing, Any] | None = None

    def data(self, x: Any, targets: Any) -> tuple[Any, Any]:
        return x, targets

    def epoch(
        self,
        state: TrainState,
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        plan: Plan,
        augment: Augment | None,
        full: bool,
    ) -> Epoch:
        final, costs, running = self._steps(state, data, plan, augment, None)
        values = [float(cost) for cost in costs]  # the epoch's one synchronisation
        bad = _first_bad(values)
        if bad is not None:
            # Replay the epoch (it is deterministic) up to the last finite step.
            final = self._steps(state, data, plan, augment, bad)[0]
            return Epoch(final, values, None, None)
        return Epoch(final, values, *self._metrics(final, running, data, dev, full))

    def _metrics(
        self,
        state: TrainState,
        running: tuple[Any, Any],
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        full: bool,
    ) -> tuple[Metrics, Metrics | None]:
        """The epoch's training metrics (running or evaluated) and dev metrics."""
        params, model_state = state.params, state.model_state
        if full:
            running = evaluate_arrays(self.model, params, model_state, *data)
        found = None
        if dev is not None:
            found = _pair(evaluate_arrays(self.model, params, model_state, *dev))
        return _pair(running), found

    def host(self, state: Any) -> TrainState:
        return state  # type: ignore[no-any-return]

    def together(
        self, data: tuple[Any, Any], dev: Any, augment: Any, full: bool
    ) -> int:
        """Short epochs run several at once, packed throughout (see :meth:`epochs`)."""
        if augment is not None or data[0].shape[0] > GROUP_ROWS:
            return 1
        return EPOCHS_AT_ONCE

    def epochs(
        self,
        state: TrainState,
        first: int,
        plans: list[Plan],
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        full: bool,
    ) -> list[Epoch]:
        """Run the epochs of ``plans`` (from epoch ``first``) one after the other.

        A packed state stays packed from the first to the last: packing and
        unpacking the state each epoch is most of an epoch's own cost when it has a
        few mini-batches. Each result holds the state after the last of them (no
        callback reads the states in between); a non-finite cost ends them, with the
        state of its epoch replayed up to its last finite step.
        """
        packed = self._packing(state)
        if packed is None:
            return self._one_by_one(state, first, plans, data, dev, full)
        packing, step = packed
        current = packing.pack_state(state)
        results = []
        for offset, plan in enumerate(plans):
            current = preset_epoch(current.with_epoch(first + offset))
            _, batches = plan()
            current, costs, running = run_steps(step, current, data, batches, None)
            values = [float(cost) for cost in costs]
            bad = _first_bad(values)
            if bad is not None:
                final = self._replay(state, first, plans[: offset + 1], data, bad)
                results.append(Epoch(final, values, None, None))
                return [result._replace(state=final) for result in results]
            train: Metrics = _pair(running)
            found = None
            if full or dev is not None:  # views, read before the next epoch
                unpacked = packing.unpack_state(current)
                train, found = self._metrics(unpacked, running, data, dev, full)
            rate = float(current_learning_rate(current.opt_state))
            results.append(Epoch(current, values, train, found, rate))
        final = packing.unpack_state(current)  # views of arrays no step writes again
        return [result._replace(state=final) for result in results]

    def _one_by_one(
        self,
        state: TrainState,
        first: int,
        plans: list[Plan],
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        full: bool,
    ) -> list[Epoch]:
        results = []
        for offset, plan in enumerate(plans):
            current = state.with_epoch(first + offset)
            result = self.epoch(current, data, dev, plan, None, full)
            results.append(result)
            if result.train is None:  # a cost that was not finite
                break
            state = result.state
        return results

    def _replay(
        self,
        state: TrainState,
        first: int,
        plans: list[Plan],
        data: tuple[Any, Any],
        bad: int,
    ) -> TrainState:
        """``state`` after ``plans``' epochs, the last up to its step ``bad``."""
        for offset, plan in enumerate(plans):
            limit = bad if offset == len(plans) - 1 else None
            current = state.with_epoch(first + offset)
            state = self._steps(current, data, plan, None, limit)[0]
        return state

    def with_epoch(self, state: Any, epoch: int) -> Any:
        return state.with_epoch(epoch)

    def finish(self, state: TrainState) -> TrainState:
        return state

    def _steps(
        self,
        state: TrainState,
        data: tuple[Any, Any],
        plan: Plan,
        augment: Augment | None,
        limit: int | None,
    ) -> tuple[TrainState, list[Any], tuple[Any, Any]]:
        rng, batches = plan()
        step, packing = self.step, self._packing(state)
        if packing is not None:
            state, step = preset_epoch(packing[0].pack_state(state)), packing[1]
        if augment is not None:
            step = _augmented(step, augment, rng)
        state, costs, running = run_steps(step, state, data, batches, limit)
        if packing is not None:
            state = packing[0].unpack_state(state)
        return state, costs, running

    def _packing(self, state: TrainState) -> tuple[Packing, Any] | None:
        """The packing of this model and its step, when ``state`` can be packed.

        Only for an optimizer that treats the parameters as one vector
        (:data:`~nntune.optim.transforms.PACKABLE`: the built-in ones); a custom
        transformation may look at each tensor, and then trains unpacked.
        """
        if self.optimizer.update not in PACKABLE or not Packing.applies(state):
            return None
        if self._packed is None:
            packing = Packing(state.params)
            planned = PlannedModel(self.model, packing)
            self._packed = (packing, packed_step(planned, self.optimizer))
        return self._packed


def packed_step(planned: PlannedModel, optimizer: GradientTransformation) -> Any:
    """The metered step of a planned pass, updated in place by the optimizer's twin.

    The optimizer's pure update when it has no twin. The step leaves the epoch
    alone: the caller sets it once an epoch (``epoch_preset``).
    """
    twin = twin_of(optimizer.update)
    update = None if twin is None else InPlaceUpdate(planned.packing, twin)
    model: Any = planned
    return make_metered_step(model, optimizer, update, epoch_preset=True)


def preset_epoch(state: TrainState) -> TrainState:
    """``state`` with its optimizer told its epoch, once for an epoch of packed steps.

    A packed step leaves the epoch alone (``epoch_preset``): it is the same for
    every step of the epoch.
    """
    return state._replace(opt_state=set_epoch(state.opt_state, state.epoch))


def run_steps(
    step: Any,
    state: TrainState,
    data: tuple[Any, Any],
    batches: list[Any],
    limit: int | None,
) -> tuple[TrainState, list[Any], tuple[Any, Any]]:
    """One step per batch (the first ``limit``); the costs and running metrics."""
    x, targets = data
    costs: list[Any] = []
    losses, accuracies = [], []
    for batch in batches[:limit]:
        state, cost, (loss, accuracy) = step(state, x[batch], targets[batch])
        costs.append(cost)
        losses.append(loss)
        accuracies.append(accuracy)
    running = stacked_running(losses, accuracies, batches[:limit], x.shape[0])
    return state, costs, running


def _augmented(step: Any, augment: Augment, rng: np.random.Generator) -> Any:
    """``step`` on the batch's inputs augmented with ``rng`` (in the steps' order)."""

    def augmented_step(state: TrainState, inputs: Any, targets: Any) -> Any:
        return step(state, augment(inputs, rng), targets)

    return augmented_step


def _first_bad(values: list[float]) -> int | None:
    """The index of the first non-finite cost, or None."""
    return next((i for i, v in enumerate(values) if not np.isfinite(v)), None)


def stacked_running(
    losses: list[Any], accuracies: list[Any], batches: list[Any], m: int
) -> tuple[Any, Any]:
    """:func:`running_metrics` of the steps' values, given the batches' rows."""
    if not losses:
        return np.nan, None
    sizes = [
        len(range(m)[batch]) if isinstance(batch, slice) else len(batch)
        for batch in batches
    ]
    found = None if accuracies[0] is None else np.stack(accuracies)
    return running_metrics(np.stack(losses), found, sizes)


def _pair(result: tuple[Any, Any]) -> Metrics:
    cost, accuracy = result
    return float(cost), None if accuracy is None else float(accuracy)


def make_runner(
    backend: str, model: Sequential, optimizer: GradientTransformation
) -> Runner:
    """The runner of ``backend`` (``"numpy"`` or ``"jax"``)."""
    if backend == "jax":
        from .compiled import JaxRunner  # JAX is imported by it, when asked for

        return JaxRunner(model, optimizer)
    return NumpyRunner(model, optimizer)
