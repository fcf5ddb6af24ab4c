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
from ..optim import GradientTransformation, set_epoch
from ..optim.inplace import twin_of
from ..optim.transforms import PACKABLE
from .evaluation import evaluate_arrays, running_metrics
from .packed import InPlaceUpdate, Packing
from .plan import PlannedModel
from .state import TrainState
from .step import make_metered_step

__all__ = ["Epoch", "NumpyRunner", "Runner", "make_runner", "packed_step"]

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
        bad = next((i for i, v in enumerate(values) if not np.isfinite(v)), None)
        if bad is not None:
            # Replay the epoch (it is deterministic) up to the last finite step.
            final = self._steps(state, data, plan, augment, bad)[0]
            return Epoch(final, values, None, None)
        params, model_state = final.params, final.model_state
        if full:
            running = evaluate_arrays(self.model, params, model_state, *data)
        train = _pair(running)
        found = None
        if dev is not None:
            found = _pair(evaluate_arrays(self.model, params, model_state, *dev))
        return Epoch(final, values, train, found)

    def host(self, state: Any) -> TrainState:
        return state  # type: ignore[no-any-return]

    def together(
        self, data: tuple[Any, Any], dev: Any, augment: Any, full: bool
    ) -> int:
        return 1

    def epochs(
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
        x, targets = data
        rng, batches = plan()
        step, packing = self.step, self._packing(state)
        if packing is not None:
            state, step = packing[0].pack_state(state), packing[1]
            # The packed step leaves the epoch alone: it is the same for every step.
            state = state._replace(opt_state=set_epoch(state.opt_state, state.epoch))
        costs: list[Any] = []
        losses, accuracies = [], []
        for batch in batches[:limit]:
            inputs = x[batch]
            if augment is not None:
                inputs = augment(inputs, rng)
            state, cost, (loss, accuracy) = step(state, inputs, targets[batch])
            costs.append(cost)
            losses.append(loss)
            accuracies.append(accuracy)
        if packing is not None:
            state = packing[0].unpack_state(state)
        running = stacked_running(losses, accuracies, batches[:limit], x.shape[0])
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
