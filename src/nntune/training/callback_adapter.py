"""Keras-style callbacks: objects whose hooks take ``(epoch, logs)``, not the trainer.

nntune's callbacks subclass :class:`~nntune.Callback` and their hooks take the
:class:`~nntune.training.trainer.Trainer` first: ``on_epoch_end(trainer, epoch, logs)``.
:func:`nntune.fit` also takes a plain object written as for Keras::

    class Printer:
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["dev_cost"])

Its ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)`` are called with a copy of
nntune's logs, the epoch's history row (``train_cost``, ``dev_cost``,
``train_accuracy``, ``dev_accuracy``, ``learning_rate``, ...; Keras' ``loss`` and
``val_loss`` are not added, since their values differ: Keras' ``loss`` is the running
mean over the epoch's mini-batches). Batch hooks are not called. Such a callback sees
the logs only: to stop a run or change a rate, subclass :class:`~nntune.Callback`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from .callbacks import Callback

__all__ = ["KerasStyleCallback", "as_callback"]

_NNTUNE_ARGUMENTS = {
    "on_train_begin": 1,  # trainer
    "on_epoch_begin": 2,  # trainer, epoch
    "on_batch_end": 3,  # trainer, iteration, cost
    "on_epoch_end": 3,  # trainer, epoch, logs
    "on_train_end": 1,  # trainer
}
_KERAS_ARGUMENTS = {
    "on_train_begin": 1,  # logs
    "on_epoch_begin": 2,  # epoch, logs
    "on_epoch_end": 2,  # epoch, logs
    "on_train_end": 1,  # logs
}
_FORMS = (
    "nntune's on_epoch_end(trainer, epoch, logs) (subclass nntune.Callback), or "
    "Keras' on_epoch_end(epoch, logs), on_epoch_begin(epoch, logs), "
    "on_train_begin(logs) and on_train_end(logs)"
)


class KerasStyleCallback(Callback):
    """Calls a Keras-style object's hooks with ``(epoch, logs)`` (see the module)."""

    reads_state: ClassVar[bool] = False  # it is given the logs, never the state

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self._last: dict[str, Any] = {}

    def _call(self, hook: str, *arguments: Any) -> None:
        method = getattr(self.wrapped, hook, None)
        if callable(method):
            method(*arguments)

    def on_train_begin(self, trainer: Any) -> None:
        self._last = {}
        self._call("on_train_begin", {})

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        self._call("on_epoch_begin", epoch, {})

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        self._last = dict(logs)
        self._call("on_epoch_end", epoch, dict(logs))

    def on_train_end(self, trainer: Any) -> None:
        self._call("on_train_end", dict(self._last))

    def __repr__(self) -> str:
        return f"KerasStyleCallback({self.wrapped!r})"


def _accepts(method: Callable[..., Any], count: int) -> bool | None:
    """Whether ``method`` takes ``count`` positional arguments (None: unknown)."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = [
        p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in parameters):
        return False
    required = len([p for p in positional if p.default is p.empty])
    spread = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    return required <= count and (spread or count <= len(positional))


def _fits(hooks: dict[str, Any], arguments: dict[str, int]) -> bool:
    return all(
        _accepts(method, arguments[name]) is not False
        for name, method in hooks.items()
        if name in arguments
    )


def _takes_trainer(hooks: dict[str, Any]) -> bool:
    for method in hooks.values():
        try:
            first = next(iter(inspect.signature(method).parameters), None)
        except (TypeError, ValueError):
            continue
        if first == "trainer":
            return True
    return False


def _signature(method: Any) -> str:
    try:
        return str(inspect.signature(method))
    except (TypeError, ValueError):
        return "(...)"


def as_callback(callback: Any) -> Callback:
    """``callback`` as nntune calls it: a Keras-style object is wrapped.

    A :class:`~nntune.Callback` is returned as it is, and so is an object whose hooks
    take the trainer first (nntune's form without the base class). An object whose
    hooks take ``(epoch, logs)`` (Keras' form) is wrapped in a
    :class:`KerasStyleCallback`. When a hook's arguments fit both forms
    (``on_train_begin(x)``), a first argument named ``trainer`` means nntune's.

    Raises:
        TypeError: for an object with no hook, or a hook that takes neither form's
            arguments.

    Example:
        >>> class Printer:
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, round(logs["train_cost"], 2))
        >>> as_callback(Printer())  # doctest: +ELLIPSIS
        KerasStyleCallback(<...Printer object at ...>)
    """
    if isinstance(callback, Callback):
        return callback
    names = {*_NNTUNE_ARGUMENTS, *_KERAS_ARGUMENTS}
    hooks = {
        name: getattr(callback, name)
        for name in sorted(names)
        if callable(getattr(callback, name, None))
    }
    if not hooks:
        raise TypeError(
            f"a callback needs at least one hook; got {type(callback).__name__} "
            f"{callback!r}, which has none. Expected {_FORMS}."
        )
    nntune, keras = _fits(hooks, _NNTUNE_ARGUMENTS), _fits(hooks, _KERAS_ARGUMENTS)
    if nntune and (not keras or _takes_trainer(hooks)):
        if not hasattr(callback, "order"):
            raise TypeError(
                f"callback {type(callback).__name__} has nntune's hooks, which take "
                "the trainer, but not nntune.Callback's attributes (order, "
                "reads_state, get_state); subclass nntune.Callback."
            )
        return callback  # type: ignore[no-any-return]  # duck-typed nntune form
    if keras:
        return KerasStyleCallback(callback)
    found = ", ".join(f"{name}{_signature(method)}" for name, method in hooks.items())
    raise TypeError(
        f"callback {type(callback).__name__} has {found}, which takes neither "
        f"form's arguments; expected {_FORMS}."
    )
