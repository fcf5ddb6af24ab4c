"""The fit loop: epochs of mini-batches, evaluation, callbacks, divergence guard."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import Params, State, namespace
from ..data.batches import minibatch_indices
from ..model import Sequential
from ..normalization import BatchNorm
from ..optim import (
    GradientTransformation,
    adam,
    apply_updates,
    current_learning_rate,
    set_epoch,
)
from .callbacks import Callback, ProgressBar
from .history import History


class TrainingDivergedError(ValueError):
    """The cost became NaN or infinite; the last finite step's weights were kept."""

    def __init__(self, message: str, epoch: int, iteration: int, history: History):
        super().__init__(message)
        self.epoch = epoch
        self.iteration = iteration
        self.history = history


@dataclass
class Trainer:
    """What callbacks see and may change while :func:`fit` runs.

    ``params``, ``state`` and ``opt_state`` are the current trees (never changed in
    place); ``epoch`` is the number of epochs completed; a callback ends training by
    calling :meth:`stop`.
    """

    model: Sequential
    optimizer: GradientTransformation
    opt_state: Any
    params: Params
    state: State
    epochs: int
    batch_size: int
    seed: int
    callbacks: list[Callback]
    history: History = field(default_factory=History)
    epoch: int = 0
    stop_training: bool = False
    stop_reason: str | None = None
    time_offset: float = 0.0
    augment: Callable[[Any, np.random.Generator], Any] | None = None

    def stop(self, reason: str) -> None:
        """Ask the loop to stop after this epoch, saying why."""
        self.stop_training, self.stop_reason = True, reason


def evaluate(
    model: Sequential, params: Params, state: State, x: Any, targets: Any
) -> tuple[float, float | None]:
    """Inference-mode loss (without the penalty) and accuracy (None for regression)."""
    logits = model.apply(params, state, x, training=False)[0]
    cost = float(model.loss.value_and_grad(logits, targets)[0])
    if model.loss.task == "regression":
        return cost, None
    xp = namespace(logits)
    predicted = model.loss.predict(logits)
    if model.loss.task == "binary":
        labels = xp.astype(targets[:, 0] > 0.5, predicted.dtype)
    else:
        labels = xp.argmax(targets, axis=1)
    return cost, float(xp.mean(xp.astype(predicted == labels, xp.float64)))


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
    seed: int = 0,
    progress: str = "auto",
    augment: Callable[[Any, np.random.Generator], Any] | None = None,
) -> History:
    """Train ``model`` on ``(X, y)`` with mini-batch optimization; return its history.

    Each epoch shuffles the training set with a generator seeded by ``(seed, epoch)``
    (so a resumed run draws exactly what an uninterrupted one would), cuts it into
    mini-batches of ``batch_size`` (``>= m`` is batch gradient descent, 1 is
    stochastic), takes one optimizer step per mini-batch, then evaluates the cost and
    accuracy on the training and dev sets in inference mode (dropout off, batch-norm
    running statistics). A NaN or infinite cost stops training with
    :class:`TrainingDivergedError`, keeping the weights of the last finite step.

    Args:
        model: an initialised model; its ``params`` and ``state`` are updated.
        X: training inputs.
        y: training labels or targets.
        optimizer: a gradient transformation (default: ``adam(0.001)``).
        epochs: passes over the training set.
        batch_size: examples per mini-batch.
        dev: optional ``(X_dev, y_dev)`` evaluated after every epoch.
        callbacks: e.g. :class:`EarlyStopping`, :class:`ReduceLROnPlateau`,
            :class:`Checkpoint`.
        seed: seeds shuffling and dropout.
        progress: ``"auto"``, ``"rich"``, ``"plain"`` or ``"silent"``.
        augment: ``augment(x_batch, rng) -> x_batch`` applied to every training
            mini-batch (never to evaluation), e.g. an :class:`nntune.data.Augment`;
            it must return a new array of the same shape.

    Raises:
        ValueError: for bad arguments or data (see :meth:`Sequential.prepare`).
        TrainingDivergedError: when the cost stops being finite.

    Example:
        >>> import nntune
        >>> data = nntune.load_dataset("moons", n_samples=64)
        >>> model = nntune.mlp([5]).init(2, seed=0)
        >>> history = fit(model, data.X, data.y, epochs=3, batch_size=16,
        ...               progress="silent")
        >>> history.epochs_run, len(history.iterations)
        (3, 12)
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
    x, targets = model.prepare(X, y)
    dev_data = model.prepare(*dev) if dev is not None else None
    optimizer = optimizer or adam(0.001)
    chosen = list(callbacks)
    if progress != "silent" and not any(isinstance(c, ProgressBar) for c in chosen):
        chosen.append(ProgressBar(progress))
    chosen.sort(key=lambda callback: callback.order)
    trainer = Trainer(
        model=model,
        optimizer=optimizer,
        opt_state=optimizer.init(model.params),
        params=model.params,
        state=model.state,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        callbacks=chosen,
        augment=augment,
    )
    for callback in chosen:
        callback.on_train_begin(trainer)
    try:
        # Overflow on the way to a NaN cost is the divergence guard's business: it
        # reports it with the epoch and what to do, instead of NumPy's warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _run(trainer, x, targets, dev_data)
    finally:
        for callback in chosen:
            callback.on_train_end(trainer)
        model.params, model.state = trainer.params, trainer.state
    return trainer.history


def _run(trainer: Trainer, x: Any, targets: Any, dev: tuple[Any, Any] | None) -> None:
    model, optimizer = trainer.model, trainer.optimizer
    m = x.shape[0]
    # Batch norm cannot train on a lone example: it joins the previous mini-batch.
    min_last = 2 if any(isinstance(layer, BatchNorm) for layer in model.layers) else 1
    started = time.perf_counter() - trainer.time_offset
    while trainer.epoch < trainer.epochs and not trainer.stop_training:
        epoch = trainer.epoch
        trainer.opt_state = set_epoch(trainer.opt_state, epoch)
        for callback in trainer.callbacks:
            callback.on_epoch_begin(trainer, epoch)
        rng = np.random.default_rng([trainer.seed, epoch])
        params, state, opt_state = trainer.params, trainer.state, trainer.opt_state
        for batch in minibatch_indices(m, trainer.batch_size, rng, min_last):
            inputs = x[batch]
            if trainer.augment is not None:
                inputs = trainer.augment(inputs, rng)
            cost, grads, new_state = model.value_and_grad(
                params, state, inputs, targets[batch], rng=rng
            )
            value = float(cost)
            if not math.isfinite(value):
                trainer.params, trainer.state = params, state
                _diverged(trainer, value, epoch, opt_state)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params, state = apply_updates(params, updates), new_state
            trainer.history.iterations.append(value)
            for callback in trainer.callbacks:
                callback.on_batch_end(trainer, len(trainer.history.iterations), value)
        trainer.params, trainer.state, trainer.opt_state = params, state, opt_state
        logs: dict[str, Any] = {"epoch": epoch + 1}
        logs["train_cost"], logs["train_accuracy"] = evaluate(
            model, params, state, x, targets
        )
        if dev is not None:
            logs["dev_cost"], logs["dev_accuracy"] = evaluate(
                model, params, state, *dev
            )
        logs["learning_rate"] = current_learning_rate(opt_state)
        logs["time"] = time.perf_counter() - started
        trainer.history.append(logs)
        trainer.epoch = epoch + 1
        for callback in trainer.callbacks:
            callback.on_epoch_end(trainer, epoch, logs)


def _diverged(trainer: Trainer, value: float, epoch: int, opt_state: Any) -> None:
    rate = current_learning_rate(opt_state)
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
