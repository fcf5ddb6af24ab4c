"""The :class:`Trainer`: what callbacks see and may change while ``fit`` runs.

:func:`~nntune.fit` keeps its run's state here, epoch by epoch: the current
:class:`~nntune.training.state.TrainState` (moved to NumPy only when something reads
it), the history, the stop request and its reason, and the hyperparameter changes
callbacks make (each recorded with the epoch it takes effect in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import Params, State
from ..model import Sequential
from ..optim import GradientTransformation, base_learning_rate
from .callbacks import Callback
from .history import History
from .state import TrainState

__all__ = ["Trainer"]


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
