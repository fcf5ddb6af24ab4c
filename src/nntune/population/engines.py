"""How a population's epochs run: stacked NumPy steps, or compiled with JAX.

:func:`~nntune.population.fit_population` owns the loop (shuffles, histories, early
stopping); an engine owns the arrays: :class:`NumpyEngine` calls the stacked step
once per mini-batch, :class:`JaxEngine` compiles whole epochs (the fit's compiled
functions, :mod:`nntune.training.programs`) with one finite-cost flag per member.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..backend.accelerated import require_jax, to_host
from ..backend.allocator import keep_freed_memory
from ..model import Sequential
from ..optim import GradientTransformation, current_learning_rate
from ..optim.transforms import PACKABLE
from ..training.compiled import EPOCHS_AT_ONCE, layout, metrics_at, small
from ..training.evaluation import evaluate_arrays
from ..training.packed import Packing
from ..training.programs import compiled
from ..training.runners import packed_step, preset_epoch, run_steps
from ..training.step import make_metered_step
from .plan import PlannedPopulation

__all__ = ["Engine", "JaxEngine", "NumpyEngine", "Outcome", "make_engine"]


Outcome = tuple[Any, tuple[Any, Any], tuple[Any, Any] | None, Any]
"""One epoch of every member: step costs, train metrics, dev metrics, rates."""


class Engine(Protocol):
    """Puts arrays where it computes, runs epochs, brings results back."""

    def put(self, tree: Any) -> Any: ...

    def host(self, tree: Any) -> Any: ...

    def together(self, data: Any, dev: Any, full: bool) -> int: ...

    def epochs(
        self,
        population: Any,
        first: int,
        data: Any,
        dev: Any,
        plans: list[Any],
        full: bool,
    ) -> tuple[Any, list[Outcome]]: ...


class NumpyEngine:
    """The stacked step called once per mini-batch (stacked matrix products).

    As the one-model runner does, it trains the population packed
    (:class:`~nntune.training.packed.Packing`, one row per member) for a built-in
    optimizer: the pass planned feature-major (:mod:`nntune.population.plan`) and
    the optimizer's in-place twin. A custom transformation trains the pure way.
    """

    def __init__(self, model: Sequential, optimizer: GradientTransformation) -> None:
        self.model, self.optimizer = model, optimizer
        self.step = make_metered_step(model, optimizer)
        self._packed: tuple[Packing, Any] | None = None
        keep_freed_memory()  # a population's temporaries: see backend.allocator

    def put(self, tree: Any) -> Any:
        return tree

    def host(self, tree: Any) -> Any:
        return tree

    def together(self, data: Any, dev: Any, full: bool) -> int:
        return 1

    def epochs(
        self,
        population: Any,
        first: int,
        data: Any,
        dev: Any,
        plans: list[Any],
        full: bool,
    ) -> tuple[Any, list[Outcome]]:
        outcomes = []
        for offset, batches in enumerate(plans):
            population, *outcome = self.epoch(
                population, first + offset, data, dev, batches, full
            )
            rates = current_learning_rate(population.opt_state)
            outcomes.append((*outcome, rates))
        return population, outcomes

    def epoch(
        self,
        population: Any,
        epoch: int,
        data: Any,
        dev: Any,
        batches: list[Any],
        full: bool,
    ) -> tuple[Any, Any, tuple[Any, Any], tuple[Any, Any] | None]:
        x, targets = data
        count = population.step.shape[0]
        population = population._replace(epoch=np.full(count, epoch, dtype=np.int32))
        step, packed = self.step, self._packing(population, count)
        if packed is not None:
            # Packed anew each epoch: the arrays an epoch leaves (read by early
            # stopping's snapshots) are never written again.
            population = preset_epoch(packed[0].pack_state(population))
            step = packed[1]
        population, costs, train = run_steps(step, population, data, batches, None)
        if packed is not None:
            population = packed[0].unpack_state(population)
        params, state = population.params, population.model_state
        if full:
            train = evaluate_arrays(self.model, params, state, x, targets)
        found = evaluate_arrays(self.model, params, state, *dev) if dev else None
        return population, np.stack(costs), train, found

    def _packing(self, population: Any, count: int) -> tuple[Packing, Any] | None:
        """The population's packing and packed step, when it can train packed."""
        if self.optimizer.update not in PACKABLE:
            return None
        if not Packing.applies(population, members=count):
            return None
        if self._packed is None or self._packed[0].lead != (count,):
            packing = Packing(population.params, members=count)
            planned = PlannedPopulation(self.model, packing)
            self._packed = (packing, packed_step(planned, self.optimizer))
        return self._packed


class JaxEngine:
    """The stacked step compiled, each epoch one call."""

    def __init__(
        self, model: Sequential, optimizer: GradientTransformation, count: int
    ) -> None:
        self.jax = require_jax()
        self.model = model
        self.compiled = compiled(self.jax, model, optimizer)
        self.ok = self.jax.numpy.ones(count, dtype=bool)

    def put(self, tree: Any) -> Any:
        return self.jax.device_put(tree)

    def host(self, tree: Any) -> Any:
        return to_host(self.jax.device_get(tree))

    def together(self, data: Any, dev: Any, full: bool) -> int:
        fits = (small(data[0]) or not full) and (dev is None or small(dev[0]))
        return EPOCHS_AT_ONCE if fits else 1

    def epochs(
        self,
        population: Any,
        first: int,
        data: Any,
        dev: Any,
        plans: list[Any],
        full: bool,
    ) -> tuple[Any, list[Outcome]]:
        if len(plans) == 1:
            population, *outcome = self.epoch(
                population, first, data, dev, plans[0], full
            )
            rates = current_learning_rate(population.opt_state)
            return population, [(*outcome, rates)]
        layouts = [layout(batches) for batches in plans]
        index = None if layouts[0][1] is None else np.stack([e[1] for e in layouts])
        rest = None if layouts[0][2] is None else np.stack([e[2] for e in layouts])
        population, self.ok, *outputs = self.compiled.run_epochs(
            population,
            np.arange(first, first + len(plans), dtype=np.int32),
            self.ok,
            data,
            index,
            rest,
            dev,
            whole=layouts[0][0],
            full=full,
        )
        costs, train, found, rates = self.jax.device_get(outputs)
        outcomes = [
            (
                costs[i],
                metrics_at(train, i),
                None if found is None else metrics_at(found, i),
                rates[i],
            )
            for i in range(len(plans))
        ]
        return population, outcomes

    def epoch(
        self,
        population: Any,
        epoch: int,
        data: Any,
        dev: Any,
        batches: list[Any],
        full: bool,
    ) -> tuple[Any, Any, tuple[Any, Any], tuple[Any, Any] | None]:
        x, targets = data
        whole, index, rest = layout(batches)
        inline = dev if dev is not None and small(dev[0]) else None
        population, self.ok, costs, train, found = self.compiled.run(
            population,
            epoch,
            self.ok,
            data,
            index,
            rest,
            inline,
            whole=whole,
            evaluate=full and small(x),
        )
        params, state = population.params, population.model_state
        rows = self.compiled.evaluate
        if full and not small(x):
            train = evaluate_arrays(self.model, params, state, x, targets, rows=rows)
        if dev is not None and found is None:
            found = evaluate_arrays(self.model, params, state, *dev, rows=rows)
        return population, np.asarray(costs), _host_pair(train), _host_pair(found)


def _host_pair(pair: Any) -> Any:
    if pair is None:
        return None
    cost, accuracy = pair
    return np.asarray(cost), None if accuracy is None else np.asarray(accuracy)


def make_engine(
    backend: str, model: Sequential, optimizer: GradientTransformation, count: int
) -> Engine:
    """The engine of ``backend`` for a population of ``count`` members."""
    if backend == "jax":
        return JaxEngine(model, optimizer, count)
    return NumpyEngine(model, optimizer)
