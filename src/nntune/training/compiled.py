"""The JAX runner of :func:`~nntune.fit`: epochs compiled, the state on the device.

:class:`JaxRunner` keeps the data and the state on JAX's default device (a GPU when
JAX has one) and compiles one whole epoch: ``lax.scan`` over the epoch's
equal-sized mini-batches, gathered on the device from the epoch's shuffle, then the
last, smaller mini-batch and the evaluations, as one call; when no callback reads
the state between epochs, several epochs go in one call (:data:`EPOCHS_AT_ONCE`).
Such a call runs its steps as they are; only when one of its costs is not finite
does it run again, guarded (a program compiled on the first divergence): a step
whose cost is not finite leaves the state as it was and so does every later step,
so the call ends with the weights of the last finite step. The guard's select of
the old or the new state makes XLA copy the optimizer's moments at every step of
the scan: measured on one CPU core, the unguarded epoch of the 784-256-128-10 MLP
on 60,000 rows in batches of 128 takes about 7% less time. Equal programs share
their executables (:mod:`nntune.training.programs`), so the trials of a search
compile once per architecture. The state stays on the device until something reads
it. It is not donated to the compiled call: a callback may hold the previous
epoch's weights (early stopping's best ones), and a call run again starts from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend.accelerated import require_jax, to_host
from ..model import Sequential
from ..optim import GradientTransformation
from .evaluation import EVALUATION_ROWS, evaluate_arrays
from .programs import Shared, compiled
from .runners import EPOCHS_AT_ONCE, Augment, Epoch, Plan, _pair, stacked_running
from .state import TrainState

__all__ = ["EPOCHS_AT_ONCE", "JaxRunner", "compiled", "layout", "metrics_at", "small"]


class _Mirror:
    """Device copies of the host arrays last handed out, to skip their transfer."""

    def __init__(self, jax: Any) -> None:
        self.jax = jax
        self.pairs: dict[int, tuple[Any, Any]] = {}

    def device(self, tree: Any) -> Any:
        flat, structure = self.jax.tree_util.tree_flatten(tree)
        moved = []
        for leaf in flat:
            if isinstance(leaf, self.jax.Array):  # already there
                moved.append(leaf)
                continue
            pair = self.pairs.get(id(leaf))
            fresh = pair is None or pair[0] is not leaf
            moved.append(self.jax.device_put(leaf) if fresh else pair[1])  # type: ignore[index]
        return structure.unflatten(moved)

    def host(self, tree: Any) -> Any:
        flat, structure = self.jax.tree_util.tree_flatten(tree)
        if not any(isinstance(leaf, self.jax.Array) for leaf in flat):
            return tree  # already on the host: the device copies stay known
        copies = self.jax.device_get(flat)  # one transfer (read-only on the CPU)
        self.pairs = {id(c): (c, d) for c, d in zip(copies, flat, strict=True)}
        return structure.unflatten(copies)


class JaxRunner:
    """The compiled runner (see the module docstring)."""

    def __init__(self, model: Sequential, optimizer: GradientTransformation) -> None:
        self.jax = require_jax()
        self.model = model
        self.compiled = compiled(self.jax, model, optimizer)
        self._mirror = _Mirror(self.jax)
        self._host: dict[int, Any] = {}

    def data(self, x: Any, targets: Any) -> tuple[Any, Any]:
        if not isinstance(x, np.ndarray) or not isinstance(targets, np.ndarray):
            raise ValueError(
                f"backend='jax' moves the training data to the device whole; got "
                f"{type(x).__name__} data read from a file as needed. Train it with "
                "backend='numpy' (which reads mini-batches from the file), or load "
                "it into memory first with numpy.asarray(X)."
            )
        on_device = self.jax.device_put(x)
        self._host[id(on_device)] = x  # an augmentation reads the host's rows
        return on_device, self.jax.device_put(targets)

    def epoch(
        self,
        state: TrainState,
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        plan: Plan,
        augment: Augment | None,
        full: bool,
    ) -> Epoch:
        jnp = self.jax.numpy
        compiled = self.compiled
        rng, batches = plan()
        # The epoch counter goes in as a number, the rest as the device kept it.
        current, epoch = (
            self._mirror.device(state._replace(epoch=None)),
            int(state.epoch),
        )
        ok = jnp.asarray(True)
        x, targets = data
        train = found = None
        if augment is not None:  # the augmentation runs on the host, batch by batch
            costs, losses, accuracies = [], [], []
            host_x = self._host.get(id(x), x)
            for batch in batches:
                rows = _rows(batch)
                inputs = augment(np.asarray(host_x[rows]), rng)
                current, ok, cost, (loss, accuracy) = compiled.step(
                    current, epoch, ok, inputs, targets[rows]
                )
                costs.append(cost[None])
                losses.append(loss)
                accuracies.append(accuracy)
            values: Any = jnp.concatenate(costs)
            train = stacked_running(
                self.jax.device_get(losses),
                self.jax.device_get(accuracies),
                batches,
                x.shape[0],
            )
        else:
            # One call: the whole set or the equal mini-batches scanned, the last
            # one, then the evaluations of sets small enough to be done in one go.
            whole, index, rest = layout(batches)
            inline = dev if dev is not None and small(dev[0]) else None
            current, ok, values, train, found = _unguarded_first(
                compiled.run,
                (current, epoch, ok, data, index, rest, inline),
                whole=whole,
                evaluate=full and small(x),
            )
        costs_found = [float(value) for value in np.asarray(values).tolist()]
        if not all(np.isfinite(costs_found)):
            return Epoch(current, costs_found, None, None)
        params, model_state = current.params, current.model_state
        if full and (augment is not None or not small(x)):
            train = evaluate_arrays(
                self.model, params, model_state, *data, rows=compiled.evaluate
            )
        if dev is not None and found is None:
            found = evaluate_arrays(
                self.model, params, model_state, *dev, rows=compiled.evaluate
            )
        dev_metrics = None if found is None else _pair(found)
        return Epoch(current, costs_found, _pair(train), dev_metrics)

    def together(
        self, data: tuple[Any, Any], dev: Any, augment: Any, full: bool
    ) -> int:
        """How many epochs :meth:`epochs` runs in one call (1: one at a time)."""
        if augment is not None or (full and not small(data[0])):
            return 1
        return EPOCHS_AT_ONCE if dev is None or small(dev[0]) else 1

    def epochs(
        self,
        state: TrainState,
        first: int,
        plans: list[Plan],
        data: tuple[Any, Any],
        dev: tuple[Any, Any] | None,
        full: bool,
    ) -> list[Epoch]:
        """Run the epochs of ``plans`` (from epoch ``first``) in one compiled call.

        Each result holds the state after the last of them (a non-finite cost
        freezes it, so it is also the state of the first failing epoch).
        """
        layouts = [layout(plan()[1]) for plan in plans]
        whole = layouts[0][0]
        index = None if layouts[0][1] is None else np.stack([e[1] for e in layouts])
        rest = None if layouts[0][2] is None else np.stack([e[2] for e in layouts])
        current = self._mirror.device(state._replace(epoch=None))
        numbers = np.arange(first, first + len(plans), dtype=np.int32)
        ok = self.jax.numpy.asarray(True)
        current, _, *outputs = _unguarded_first(
            self.compiled.run_epochs,
            (current, numbers, ok, data, index, rest, dev),
            whole=whole,
            full=full,
        )
        costs, train, found, rates = self.jax.device_get(outputs)
        results = []
        for i in range(len(plans)):
            values = [float(value) for value in costs[i]]
            if not all(np.isfinite(values)):
                # The steps stopped here; the block's later epochs only moved the
                # counter, which goes back to this epoch's.
                frozen = current._replace(epoch=np.asarray(first + i, dtype=np.int32))
                results.append(Epoch(frozen, values, None, None))
                break
            results.append(
                Epoch(
                    current,
                    values,
                    _pair(metrics_at(train, i)),
                    None if found is None else _pair(metrics_at(found, i)),
                    None if rates is None else float(rates[i]),
                )
            )
        return results

    def host(self, state: Any) -> TrainState:
        """``state`` on the host, as NumPy arrays (read-only ones on a CPU)."""
        return self._mirror.host(state)  # type: ignore[no-any-return]

    def with_epoch(self, state: Any, epoch: int) -> Any:
        # A host counter: the epoch goes into the compiled call as a number.
        return state._replace(epoch=np.asarray(epoch, dtype=np.int32))

    def finish(self, state: TrainState) -> TrainState:
        """The final state as writable NumPy arrays, the model's own."""
        return to_host(state)  # type: ignore[no-any-return]


def metrics_at(metrics: Any, index: int) -> tuple[Any, Any]:
    """The ``index``-th epoch's (or member's) cost and accuracy of stacked metrics."""
    cost, accuracy = metrics
    return cost[index], None if accuracy is None else accuracy[index]


def _unguarded_first(
    function: Shared, arguments: tuple[Any, ...], **static: Any
) -> Any:
    """``function(*arguments)``, run again guarded if a cost was not finite.

    The outputs of the programs ``run`` and ``run_epochs`` (:mod:`.programs`) have
    the steps' costs third. The second call starts from the same state: the
    first one was not given it to overwrite (no donation).
    """
    outputs = function(*arguments, **static, guard=False)
    if not np.isfinite(np.asarray(outputs[2])).all():
        outputs = function(*arguments, **static, guard=True)
    return outputs


def small(x: Any) -> bool:
    """Whether a set is evaluated in one go (else in chunks)."""
    return bool(x.shape[0] <= EVALUATION_ROWS)


def layout(batches: list[Any]) -> tuple[bool, Any, Any]:
    """An epoch's batches as one compiled call takes them.

    Returns ``(whole, index, rest)``: whether the first step takes the whole set
    (a slice), the ``(n, batch)`` rows of the equal-sized batches that follow (or
    None), and the rows of the one last batch of another size (or None).
    """
    whole = bool(batches) and isinstance(batches[0], slice)
    equal = 0 if whole else _leading_equal(batches)
    rest = batches[1:] if whole else batches[equal:]
    if len(rest) > 1:
        raise ValueError(f"expected at most one last batch of another size; got {rest}")
    index = np.stack(batches[:equal]).astype(np.int32) if equal else None
    return whole, index, _rows(rest[0]) if rest else None


def _rows(batch: Any) -> Any:
    return batch if isinstance(batch, slice) else np.asarray(batch, dtype=np.int32)


def _leading_equal(batches: list[Any]) -> int:
    """How many of the first batches are index arrays of the first one's size."""
    if not batches or isinstance(batches[0], slice):
        return 0
    size = len(batches[0])
    count = 0
    for batch in batches:
        if isinstance(batch, slice) or len(batch) != size:
            break
        count += 1
    return count
