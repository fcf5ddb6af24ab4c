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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import Params, State
from ..backend.accelerated import check_backend, precision
from ..backend.blas import blas_threads
from ..data.batches import minibatch_indices
from ..model import Sequential
from ..normalization import BatchNorm
from ..optim import (
    GradientTransformation,
    adam,
    base_learning_rate,
    current_learning_rate,
)
from ..sample_weights import weigh_targets
from .callbacks import Callback, ProgressBar
from .history import History
from .legacy_seed import check_legacy_seed, legacy_plan
from .runners import Epoch, Plan, Runner, make_runner
from .state import TrainState


class TrainingDivergedError(ValueError):
    """The cost became NaN or infinite; the last finite step's weights were kept."""

    def __init__(self, message: str, epoch: int, iteration: int, history: History):
        super().__init__(message)
        self.epoch = epoch
        self.iteration = iteration
        self.history = history


class _HostState:
    """The trainer's :class:`TrainState`, moved to NumPy when first read.

    A compiled runner leaves the state on its device after each epoch
    (:meth:`Trainer.keep`); reading ``trainer.train_state`` (or ``params``...)
    brings it to NumPy then, once, so an epoch no callback looks into costs no
    transfer.
    """

    def __get__(self, trainer: Trainer | None, owner: type | None = None) -> Any:
        if trainer is None:
            raise AttributeError("train_state")  # no default for the dataclass
        pending = trainer.__dict__.get("_pending")
        if pending is not None:
            state, to_host = pending
            trainer.__dict__["_state"], trainer.__dict__["_pending"] = (
                to_host(state),
                None,
            )
        return trainer.__dict__["_state"]

    def __set__(self, trainer: Trainer, value: TrainState) -> None:
        trainer.__dict__["_state"], trainer.__dict__["_pending"] = value, None


@dataclass
class Trainer:
    """What callbacks see and may change while :func:`fit` runs.

    ``train_state`` is the current :class:`TrainState` (never changed in place);
    ``params``, ``state`` and ``opt_state`` read and replace its parts. ``epoch`` is
    the number of epochs completed; a callback ends training by calling :meth:`stop`
    and changes a hyperparameter with :meth:`set_hyperparams`.
    """

    model: Sequential
    optimizer: GradientTransformation
    train_state: TrainState  # held by _HostState (set on the class below)
    epochs: int
    batch_size: int
    seed: int | np.random.RandomState
    callbacks: list[Callback]
    history: History = field(default_factory=History)
    epoch: int = 0
    stop_training: bool = False
    stop_reason: str | None = None
    interrupted: bool = False
    time_offset: float = 0.0
    augment: Callable[[Any, np.random.Generator], Any] | None = None
    train_metrics: str | int = "running"

    def full_evaluation(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) evaluates the whole training set."""
        every = self.train_metrics
        if every == "full":
            return True
        if isinstance(every, int):
            return (epoch + 1) % every == 0 or epoch + 1 == self.epochs
        return False

    @property
    def params(self) -> Params:
        """The current parameters."""
        return self.train_state.params

    @params.setter
    def params(self, value: Params) -> None:
        self.train_state = self.train_state._replace(params=value)

    @property
    def state(self) -> State:
        """The current non-trainable state (batch-norm running statistics)."""
        return self.train_state.model_state

    @state.setter
    def state(self, value: State) -> None:
        self.train_state = self.train_state._replace(model_state=value)

    @property
    def opt_state(self) -> Any:
        """The current optimizer state."""
        return self.train_state.opt_state

    @opt_state.setter
    def opt_state(self, value: Any) -> None:
        self.train_state = self.train_state._replace(opt_state=value)

    def keep(self, state: Any, to_host: Callable[[Any], TrainState]) -> None:
        """Hold ``state`` as the runner left it; ``to_host`` moves it on first read."""
        self.__dict__["_pending"] = (state, to_host)

    @property
    def live_state(self) -> TrainState:
        """The state where it is (on a device when not read since the last epoch)."""
        pending = self.__dict__.get("_pending")
        return self.train_state if pending is None else pending[0]

    def stop(self, reason: str, *, interrupted: bool = False) -> None:
        """Ask the loop to stop after this epoch, saying why.

        ``interrupted`` marks a pause (a signal) rather than an end: a checkpoint
        then records the run as one to continue.
        """
        self.stop_training, self.stop_reason = True, reason
        self.interrupted = self.interrupted or interrupted

    def set_hyperparams(self, **values: Any) -> None:
        """Change hyperparameters from the next step on and record the change.

        Each change is appended to ``history.changes`` with the epoch it takes
        effect in (counted from 1), the old and the new value; the learning rate's
        change shows in the next history rows too. For the learning rate both are
        the schedule's base rate: with a decay, an epoch's rate is the base times
        the decay at that epoch.

        Raises:
            ValueError: for a value out of range or a name nothing holds.
        """
        old = _hyperparameter_values(self.train_state, values)
        for name, value in old.items():
            if value is None:  # not overridden yet: the model's own value
                old[name] = _model_value(self.model, name)
        self.train_state = self.train_state.with_hyperparams(**values)
        for name, value in values.items():
            self.history.changes.append(
                {
                    "epoch": self.epoch + 1,
                    "step": int(self.train_state.step),
                    "setting": name,
                    "old": old.get(name),
                    "new": _plain(value),
                }
            )


# The dataclass's __init__ assigns train_state through it; set after the class is
# made, so that the field keeps no default.
setattr(Trainer, "train_state", _HostState())  # noqa: B010


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


def _plain(value: Any) -> Any:
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else array.tolist()


def _model_value(model: Sequential, name: str) -> Any:
    """The model's own ``l2``, ``l1`` or (first dropout layer's) ``keep_prob``."""
    if name in ("l2", "l1"):
        return _plain(getattr(model, name))
    if name == "keep_prob":
        for layer in model.layers:
            if hasattr(layer, "keep_prob"):
                return _plain(layer.keep_prob)
    return None


def _hyperparameter_values(
    state: TrainState, names: Mapping[str, Any]
) -> dict[str, Any]:
    """The current values of ``names`` in ``state`` (None where not held)."""
    from ..optim.inject import InjectHyperparamsState

    found: dict[str, Any] = {}
    if "learning_rate" in names:
        # The base rate, as set_hyperparams sets it (with a decay, the rate of an
        # epoch is the base times the decay there).
        found["learning_rate"] = _plain(base_learning_rate(state.opt_state))
    for name, value in state.hyperparams.items():
        found[name] = _plain(value)

    def walk(item: Any) -> None:
        if isinstance(item, InjectHyperparamsState):
            for name, value in item.hyperparams.items():
                found.setdefault(name, _plain(value))
        elif isinstance(item, tuple):
            for inner in item:
                walk(inner)

    walk(state.opt_state)
    return {name: found.get(name) for name in names}
