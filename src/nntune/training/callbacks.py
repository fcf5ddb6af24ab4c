"""Callbacks: early stopping, reduce-on-plateau and a progress bar.

A callback has five hooks, called by :func:`nntune.fit` with the :class:`Trainer`:
``on_train_begin``, ``on_epoch_begin``, ``on_batch_end``, ``on_epoch_end`` and
``on_train_end``. This is the one documented signature; ``fit`` also takes a
Keras-style object whose hooks take ``(epoch, logs)`` (:mod:`.callback_adapter`).
Callbacks reset themselves in ``on_train_begin``. Those that carry state across
epochs (the best value so far, a patience counter) expose it through
``get_state``/``set_state`` so that a checkpoint can resume them exactly.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from ..optim import current_learning_rate, scale_learning_rate
from ..trees import unflatten_like

if TYPE_CHECKING:
    from .trainer import Trainer


class Callback:
    """Base class: every hook does nothing. ``order`` sorts callbacks (low first)."""

    order: ClassVar[int] = 0
    reads_state: ClassVar[bool] = True
    """Whether the callback may read or change the state between epochs; a run whose
    callbacks all say no may run several epochs in one call (the JAX backend) and
    call their hooks afterwards, in order. Such a callback only looks at the logs:
    it never stops the run or changes a hyperparameter."""

    @staticmethod
    def adapt(callback: Any) -> Callback:
        """``callback`` as :func:`~nntune.fit` calls it (Keras-style ones wrapped).

        See :func:`nntune.training.callback_adapter.as_callback`.
        """
        from .callback_adapter import as_callback

        return as_callback(callback)

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch (also when resuming)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Called before epoch ``epoch`` (counted from 0)."""

    def on_batch_end(self, trainer: Trainer, iteration: int, cost: float) -> None:
        """Called after each optimizer step with the mini-batch cost."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        """Called after each epoch with its metrics (the new history row)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch."""

    def get_state(self, trainer: Trainer) -> dict[str, Any]:
        """State to checkpoint: a tree of numbers, strings, None and arrays.

        A callback that overrides this (and :meth:`set_state`) is checkpointed.
        """
        return {}

    @property
    def stateful(self) -> bool:
        """Whether this callback has state a checkpoint must keep."""
        return type(self).get_state is not Callback.get_state

    def set_state(
        self, trainer: Trainer, arrays: dict[str, Any], scalars: dict[str, Any]
    ) -> None:
        """Restore what :meth:`get_state` returned (flattened) from a checkpoint."""


@dataclass
class Improvement:
    """The one rule for "is this value an improvement?" shared by every callback.

    ``mode="auto"`` minimises costs and maximises accuracies. An improvement must beat
    the best value by more than ``min_delta``.

    Example:
        >>> rule = Improvement("dev_cost", min_delta=0.01)
        >>> rule.is_improvement(0.5, None), rule.is_improvement(0.495, 0.5)
        (True, False)
    """

    monitor: str = "dev_cost"
    mode: str = "auto"
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {self.mode!r}.")
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ValueError(
                f"min_delta must be a number >= 0; got {self.min_delta!r}."
            )

    @property
    def maximize(self) -> bool:
        """Whether larger values are better."""
        if self.mode == "auto":
            return "accuracy" in self.monitor
        return self.mode == "max"

    def value(self, logs: dict[str, Any]) -> float:
        """The monitored value in ``logs``, with a clear error when it is missing."""
        value = logs.get(self.monitor)
        if value is None:
            available = sorted(k for k, v in logs.items() if v is not None)
            raise ValueError(
                f"the monitored metric {self.monitor!r} is not computed in this run "
                f"(available: {available}). Give a dev set (dev=(X_dev, y_dev)) or "
                "monitor 'train_cost'."
            )
        return float(value)

    def is_improvement(self, current: float, best: float | None) -> bool:
        """Whether ``current`` beats ``best`` by more than ``min_delta``."""
        if best is None or math.isnan(best):
            return not math.isnan(current)
        if self.maximize:
            return current > best + self.min_delta
        return current < best - self.min_delta


def _check_patience(patience: int) -> None:
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(
            f"patience must be an integer >= 1 (epochs); got {patience!r}."
        )


class EarlyStopping(Callback):
    """Stop when the monitored metric has not improved for ``patience`` epochs.

    By default it watches the dev cost and, at the end of training, puts back the
    weights (and batch-norm statistics) of the best epoch, recorded as
    ``history.best_epoch``.

    Args:
        monitor: a history column, e.g. ``"dev_cost"`` or ``"dev_accuracy"``.
        patience: epochs without improvement before stopping.
        min_delta: smallest change that counts as an improvement.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        restore_best: restore the best epoch's weights when training ends.
    """

    def __init__(
        self,
        monitor: str = "dev_cost",
        patience: int = 10,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ) -> None:
        _check_patience(patience)
        self.rule = Improvement(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best = restore_best
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_params: Any = None
        self.best_state: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        self._reset()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        current = self.rule.value(logs)
        if self.rule.is_improvement(current, self.best):
            self.best, self.best_epoch, self.wait = current, int(logs["epoch"]), 0
            # Trees are never changed in place, so keeping references is a snapshot.
            self.best_params, self.best_state = trainer.params, trainer.state
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop(
                f"early stopping: {self.rule.monitor} has not improved for "
                f"{self.patience} epochs (best {self.best:.6g} at epoch "
                f"{self.best_epoch})"
            )

    def on_train_end(self, trainer: Trainer) -> None:
        trainer.history.best_epoch = self.best_epoch
        if self.restore_best and self.best_params is not None:
            trainer.params, trainer.state = self.best_params, self.best_state

    def get_state(self, trainer: Trainer) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_params": self.best_params,
            "best_state": self.best_state,
        }

    def set_state(
        self, trainer: Trainer, arrays: dict[str, Any], scalars: dict[str, Any]
    ) -> None:
        self.best, self.best_epoch = scalars["best"], scalars["best_epoch"]
        self.wait = int(scalars["wait"])
        if self.best_epoch is not None:
            self.best_params = unflatten_like(
                trainer.params, arrays, scalars, "best_params"
            )
            self.best_state = unflatten_like(
                trainer.state, arrays, scalars, "best_state"
            )


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when the metric stops improving.

    After ``patience`` epochs without improvement the rate becomes
    ``max(rate * factor, min_learning_rate)``; then ``cooldown`` epochs pass before
    waiting starts again. Works on top of any schedule (it scales it).
    """

    def __init__(
        self,
        monitor: str = "dev_cost",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 0.0,
        cooldown: int = 0,
        min_learning_rate: float = 0.0,
        mode: str = "auto",
    ) -> None:
        _check_patience(patience)
        if not 0 < factor < 1:
            raise ValueError(
                f"factor must be in (0, 1); got {factor!r} (try 0.1 or 0.5)."
            )
        if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
            raise ValueError(f"cooldown must be an integer >= 0; got {cooldown!r}.")
        if not min_learning_rate >= 0:
            raise ValueError(
                f"min_learning_rate must be >= 0; got {min_learning_rate!r}."
            )
        self.rule = Improvement(monitor, mode, min_delta)
        self.factor, self.patience = factor, patience
        self.cooldown, self.min_learning_rate = cooldown, min_learning_rate
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        self._reset()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        current = self.rule.value(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.rule.is_improvement(current, self.best):
            self.best, self.wait = current, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old = current_learning_rate(trainer.opt_state)
        new = max(old * self.factor, self.min_learning_rate)
        if new < old:
            trainer.opt_state = scale_learning_rate(trainer.opt_state, new / old)
        self.cooldown_counter, self.wait = self.cooldown, 0

    def get_state(self, trainer: Trainer) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "cooldown": self.cooldown_counter}

    def set_state(
        self, trainer: Trainer, arrays: dict[str, Any], scalars: dict[str, Any]
    ) -> None:
        self.best, self.wait = scalars["best"], int(scalars["wait"])
        self.cooldown_counter = int(scalars["cooldown"])


class StopOnSignal(Callback):
    """Pause cleanly on SIGINT (Ctrl-C) or SIGTERM: finish the epoch, checkpoint, stop.

    The first signal asks the loop to stop after the current epoch, marked as
    interrupted (a :class:`~nntune.Checkpoint` then saves the run as one to
    continue); a second one stops at once. ``received`` names the signal, and the
    previous handlers are put back when training ends.
    """

    order: ClassVar[int] = 90  # before the checkpoint, which saves what it decided

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def on_train_begin(self, trainer: Trainer) -> None:
        import signal

        self.received = None
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)

    def _handle(self, number: int, frame: Any) -> None:
        import signal

        if self.received is not None:
            raise KeyboardInterrupt  # the second signal: stop now
        self.received = signal.Signals(number).name
        print(
            f"{self.received}: stopping after this epoch and keeping a checkpoint "
            "(send it again to stop at once).",
            file=self.stream or sys.stderr,
            flush=True,
        )

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.received is not None and not trainer.stop_training:
            trainer.stop(f"interrupted by {self.received}", interrupted=True)

    def on_train_end(self, trainer: Trainer) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}


class ProgressBar(Callback):
    """Epoch progress with the cost, the dev metric and the time left.

    ``mode="auto"`` draws a rich progress bar on a terminal and prints plain lines
    (about 20 per run, plus the last epoch) otherwise, e.g. in CI logs. Output goes to
    standard error so that standard output stays clean for ``--json``.
    """

    order: ClassVar[int] = 50
    reads_state: ClassVar[bool] = False  # it shows the logs only

    def __init__(self, mode: str = "auto", stream: TextIO | None = None) -> None:
        if mode not in ("auto", "rich", "plain"):
            raise ValueError(
                f"progress mode must be 'auto', 'rich' or 'plain'; got {mode!r}."
            )
        self.mode = mode
        self.stream = stream
        self._progress: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        stream = self.stream or sys.stderr
        self._stream = stream
        rich = self.mode == "rich" or (self.mode == "auto" and stream.isatty())
        self._started = time.perf_counter()
        self._progress = None
        if rich:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("epoch"),
                MofNCompleteColumn(),
                BarColumn(bar_width=24),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=Console(file=stream),
                transient=False,
            )
            self._task = self._progress.add_task(
                "", total=trainer.epochs, completed=trainer.epoch
            )
            self._progress.start()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task, completed=epoch + 1, description=_describe(logs, short=True)
            )
            return
        text = _describe(logs)
        every = max(1, trainer.epochs // 20)
        if (
            (epoch + 1) % every == 0
            or epoch + 1 == trainer.epochs
            or trainer.stop_training
        ):
            elapsed = time.perf_counter() - self._started
            print(
                f"epoch {epoch + 1}/{trainer.epochs}  {text}  {elapsed:.1f}s",
                file=self._stream,
                flush=True,
            )

    def on_train_end(self, trainer: Trainer) -> None:
        if self._progress is not None:
            self._progress.stop()
        if trainer.stop_reason:
            print(trainer.stop_reason, file=self._stream, flush=True)


_SHORT_NAMES = {
    "train_cost": "cost",
    "dev_cost": "dev",
    "dev_accuracy": "acc",
    "learning_rate": "lr",
}


def _describe(logs: dict[str, Any], short: bool = False) -> str:
    # A bar on an 80-column terminal leaves room for short names only.
    parts = []
    for name, short_name in _SHORT_NAMES.items():
        value = logs.get(name)
        if value is not None:
            parts.append(f"{short_name if short else name} {value:.4g}")
    return "  ".join(parts)
