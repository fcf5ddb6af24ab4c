"""The fit loop: epochs of pure train steps, then evaluation, callbacks, history.

:func:`fit` is a loop over :func:`~nntune.make_train_step`'s step: it shuffles and
cuts the data into mini-batches (host-side, seeded per epoch), runs the steps, and
once per epoch reads the mini-batch costs back (one synchronisation), checks them for
divergence, evaluates the training and dev sets and calls the callbacks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..backend.accelerated import check_backend, precision
from ..backend.blas import blas_threads
from ..data.batches import minibatch_indices
from ..model import Sequential
from ..normalization import BatchNorm
from ..optim import (
    GradientTransformation,
    adam,
    current_learning_rate,
)
from ..sample_weights import weigh_targets
from .callbacks import Callback, ProgressBar
from .history import History
from .legacy_seed import check_legacy_seed, legacy_plan
from .runners import Epoch, Plan, Runner, make_runner
from .state import TrainState
from .trainer import Trainer


class TrainingDivergedError(ValueError):
    """The cost became NaN or infinite; the last finite step's weights were kept."""

    def __init__(self, message: str, epoch: int, iteration: int, history: History):
        super().__init__(message)
        self.epoch = epoch
        self.iteration = iteration
        self.history = history


def fit(
    model: Sequential,
    X: Any,
    y: Any,
    *,
    optimizer: GradientTransformation | None = None,
    epochs: int = 100,
    batch_size: int = 64,
    dev: tuple[Any, Any] | None = None,
    callbacks: Sequence[Callback] = (),
    seed: int | np.random.RandomState = 0,
    progress: str = "auto",
    augment: Callable[[Any, np.random.Generator], Any] | None = None,
    train_state: TrainState | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    backend: str = "numpy",
    train_metrics: str | int = "running",
    sample_weight: Any = None,
    class_weight: Any = None,
) -> History:
    """Train ``model`` on ``(X, y)`` with mini-batch optimization; return its history.

    Each epoch shuffles the training set with a generator seeded by ``(seed, epoch)``
    (so a resumed run draws exactly what an uninterrupted one would), cuts it into
    mini-batches of ``batch_size`` (``>= m`` is batch gradient descent, 1 is
    stochastic), takes one pure train step (:func:`~nntune.make_train_step`) per
    mini-batch, then evaluates the cost and accuracy on the dev set in inference
    mode (dropout off, batch-norm running statistics). The training set's cost and
    accuracy of an epoch are, by default, its running metrics: the mean of the
    mini-batches' losses and accuracies, read from the steps' own forward passes
    (training mode, the weights of the moment, no penalty), as the course's labs
    and Keras report them, at no extra cost. ``train_metrics="full"`` evaluates the
    whole training set after every epoch instead, in inference mode, as the dev
    set is (in chunks, through a forward pass that keeps no caches). A NaN or infinite
    cost stops training with :class:`TrainingDivergedError`, keeping the weights of
    the last finite step.

    Args:
        model: an initialised model; its ``params`` and ``state`` are updated.
        X: training inputs.
        y: training labels or targets.
        optimizer: a gradient transformation (default: ``adam(0.001)``).
        epochs: the epoch to stop after (counted over the whole run: a run continued
            from a state at epoch 5 with ``epochs=8`` trains 3 more).
        batch_size: examples per mini-batch.
        dev: optional ``(X_dev, y_dev)`` evaluated after every epoch.
        callbacks: e.g. :class:`EarlyStopping`, :class:`ReduceLROnPlateau`,
            :class:`Checkpoint`.
        seed: seeds the shuffles and, for a new state, the dropout key. A legacy
            ``numpy.random.RandomState`` is drawn from as the course's labs draw
            from ``np.random``: each epoch's order is its ``permutation(m)`` (none
            for batch gradient descent), each step's dropout masks its ``rand(units,
            examples) < keep_prob``, layer by layer (NumPy backend only; the labs'
            reseeding, e.g. ``np.random.seed(seed)`` before each epoch's shuffle,
            is a callback's ``on_epoch_begin``: docs/course-labs.md).
        progress: ``"auto"``, ``"rich"``, ``"plain"`` or ``"silent"``.
        augment: ``augment(x_batch, rng) -> x_batch`` applied to every training
            mini-batch (never to evaluation), e.g. an :class:`nntune.data.Augment`;
            it must return a new array of the same shape.
        train_state: continue (or fork) this state instead of starting from the
            model's parameters; it must come from the same optimizer.
        hyperparams: model-level values (``l2``, ``keep_prob``) for a new state.
        backend: ``"numpy"`` (eager, the default) or ``"jax"``: each epoch compiled
            with JAX and run on its default device (a GPU when it has one), the
            same steps on the same mini-batches (:mod:`nntune.training.compiled`).
            Needs ``pip install "nntune[jax]"``.
        train_metrics: ``"running"`` (the default, see above), ``"full"``, or an
            integer k: the full evaluation every k epochs and after the last one,
            the running metrics in the other epochs.
        sample_weight: one weight >= 0 per training row: each mini-batch's cost is
            the weighted mean ``sum_i w_i l_i / sum_i w_i`` of its rows' losses
            (:mod:`nntune.sample_weights`; PyTorch's weighted cross-entropy). The
            training cost recorded is that weighted loss; the dev set's and the
            accuracies are not weighted.
        class_weight: ``"balanced"`` (``n_samples / (n_classes * bincount(y))``)
            or ``{class index: weight}``: each row's weight is multiplied by its
            class's (classifiers only).

    Returns:
        The history; ``history.train_state`` is the final :class:`TrainState`.

    Raises:
        ValueError: for bad arguments or data (see :meth:`Sequential.prepare`).
        TrainingDivergedError: when the cost stops being finite.

    Example:
        >>> import nntune
        >>> data = nntune.load_dataset("moons", n_samples=64)
        >>> model = nntune.mlp([5]).init(2, seed=0)
        >>> history = fit(model, data.X, data.y, epochs=3, batch_size=16,
        ...               progress="silent")
        >>> history.epochs_run, len(history.iterations), int(history.train_state.step)
        (3, 12, 12)
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1; got {epochs!r}.")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            f"batch_size must be an integer >= 1 (1 is stochastic gradient descent, "
            f">= the number of examples is batch gradient descent); got {batch_size!r}."
        )
    if progress not in ("auto", "rich", "plain", "silent"):
        raise ValueError(
            f"progress must be 'auto', 'rich', 'plain' or 'silent'; got {progress!r}."
        )
    check_backend(backend)
    _check_train_metrics(train_metrics)
    if isinstance(seed, np.random.RandomState):
        check_legacy_seed(backend, augment, callbacks)
    x, targets = model.prepare(X, y)
    targets = weigh_targets(
        targets, model.loss.task, sample_weight=sample_weight, class_weight=class_weight
    )
    dev_data = model.prepare(*dev) if dev is not None else None
    optimizer = optimizer or adam(0.001)
    chosen = [Callback.adapt(callback) for callback in callbacks]
    if progress != "silent" and not any(isinstance(c, ProgressBar) for c in chosen):
        chosen.append(ProgressBar(progress))
    chosen.sort(key=lambda callback: callback.order)
    if train_state is None:
        train_state = TrainState.create(model, optimizer, seed, hyperparams)
    elif hyperparams:
        train_state = train_state.with_hyperparams(**dict(hyperparams))
    trainer = Trainer(
        model=model,
        optimizer=optimizer,
        train_state=train_state,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        callbacks=chosen,
        epoch=int(train_state.epoch),
        augment=augment,
        train_metrics=train_metrics,
    )
    runner = make_runner(backend, model, optimizer)  # before any callback starts
    for callback in chosen:
        callback.on_train_begin(trainer)
    try:
        # Overflow on the way to a NaN cost is the divergence guard's business: it
        # reports it with the epoch and what to do, instead of NumPy's warnings.
        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            precision(backend),
            blas_threads(largest_product(model, batch_size)),
        ):
            _run(trainer, runner, x, targets, dev_data)
    finally:
        for callback in chosen:
            callback.on_train_end(trainer)
        trainer.train_state = runner.finish(trainer.train_state)
        model.params, model.state = trainer.params, trainer.state
        trainer.history.train_state = trainer.train_state
        trainer.history.interrupted = trainer.interrupted
    return trainer.history


def largest_product(model: Sequential, batch_size: int) -> int:
    """Multiply-adds of the largest matrix product of a step on ``batch_size`` rows."""
    sizes = [
        math.prod(tensors["W"].shape)
        for tensors in model.params.values()
        if "W" in tensors
    ]
    return batch_size * max(sizes, default=0)


def _plan(trainer: Trainer, m: int, epoch: int) -> Plan:
    """The plan of ``epoch``: its generator and mini-batches (see Plan)."""
    # Batch norm cannot train on a lone example: it joins the previous mini-batch.
    min_last = (
        2 if any(isinstance(layer, BatchNorm) for layer in trainer.model.layers) else 1
    )
    seed, batch_size = trainer.seed, trainer.batch_size

    if isinstance(seed, np.random.RandomState):
        return legacy_plan(seed, m, batch_size, min_last)

    def plan() -> tuple[np.random.Generator, list[Any]]:
        rng = np.random.default_rng([seed, epoch])
        return rng, list(minibatch_indices(m, batch_size, rng, min_last))

    return plan


def _run(
    trainer: Trainer,
    runner: Runner,
    x: Any,
    targets: Any,
    dev: tuple[Any, Any] | None,
) -> None:
    data = runner.data(x, targets)
    dev_data = runner.data(*dev) if dev is not None else None
    started = time.perf_counter() - trainer.time_offset
    # Epochs run several at once where no callback looks at the state in between.
    passive = all(not callback.reads_state for callback in trainer.callbacks)
    every = trainer.train_metrics
    full = every == "full"
    if passive and not isinstance(every, int):
        together = runner.together(data, dev_data, trainer.augment, full)
    else:
        together = 1
    m = x.shape[0]
    while trainer.epoch < trainer.epochs and not trainer.stop_training:
        epoch = trainer.epoch
        if together > 1 and trainer.epochs - epoch >= together:
            plans = [_plan(trainer, m, e) for e in range(epoch, epoch + together)]
            results = runner.epochs(
                trainer.live_state, epoch, plans, data, dev_data, full
            )
        else:
            for callback in trainer.callbacks:
                callback.on_epoch_begin(trainer, epoch)
            results = [
                runner.epoch(
                    runner.with_epoch(trainer.live_state, epoch),
                    data,
                    dev_data,
                    _plan(trainer, m, epoch),
                    trainer.augment,
                    trainer.full_evaluation(epoch),
                )
            ]
        for offset, result in enumerate(results):
            if offset or len(results) > 1:
                if trainer.stop_training:
                    raise RuntimeError(
                        "a callback with reads_state = False stopped training in the "
                        f"middle of epochs run together ({trainer.stop_reason}); a "
                        "callback that may stop or change the run must read the "
                        "state (reads_state = True, the default)."
                    )
                for callback in trainer.callbacks:
                    callback.on_epoch_begin(trainer, epoch + offset)
            _record(trainer, runner, result, epoch + offset, started)


def _record(
    trainer: Trainer, runner: Runner, result: Epoch, epoch: int, started: float
) -> None:
    """Take one epoch's result: divergence check, history, callbacks."""
    trainer.keep(result.state, runner.host)
    values = result.costs
    finite = [math.isfinite(value) for value in values]
    if not all(finite):
        first_bad = finite.index(False)
        trainer.history.iterations.extend(values[:first_bad])
        _diverged(trainer, values[first_bad], epoch)
    start = len(trainer.history.iterations)
    trainer.history.iterations.extend(values)
    for offset, value in enumerate(values):
        for callback in trainer.callbacks:
            callback.on_batch_end(trainer, start + offset + 1, value)
    logs: dict[str, Any] = {"epoch": epoch + 1}
    logs["train_cost"], logs["train_accuracy"] = result.train or (math.nan, None)
    if result.dev is not None:
        logs["dev_cost"], logs["dev_accuracy"] = result.dev
    rate = result.learning_rate
    if rate is None:
        rate = current_learning_rate(trainer.live_state.opt_state)
    logs["learning_rate"] = rate
    logs["time"] = time.perf_counter() - started
    trainer.history.append(logs)
    trainer.epoch = epoch + 1
    trainer.keep(runner.with_epoch(trainer.live_state, trainer.epoch), runner.host)
    for callback in trainer.callbacks:
        callback.on_epoch_end(trainer, epoch, logs)


def _check_train_metrics(value: Any) -> None:
    if value in ("running", "full"):
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return
    raise ValueError(
        f"train_metrics must be 'running' (the mean of the mini-batches' metrics), "
        f"'full' (evaluate the whole training set every epoch) or an integer k >= 1 "
        f"(evaluate it every k epochs); got {value!r}."
    )


def _diverged(trainer: Trainer, value: float, epoch: int) -> None:
    rate = current_learning_rate(trainer.opt_state)
    iteration = len(trainer.history.iterations) + 1
    raise TrainingDivergedError(
        f"training diverged in epoch {epoch + 1} (iteration {iteration}): the cost "
        f"became {value}. The weights of the last finite step are kept. Lower the "
        f"learning rate (it is {rate:.3g}; try {rate / 10:.3g}), check that the inputs "
        "are standardized, or clip the gradients (clip_norm).",
        epoch=epoch + 1,
        iteration=iteration,
        history=trainer.history,
    )
