"""Learning-rate schedules: ``(epoch, step) -> learning rate``, validated when built.

A schedule is any callable ``schedule(epoch, step=0) -> float``. ``epoch`` counts
epochs from 0 and ``step`` counts optimizer updates from 0 over the whole run; both are
counters of the training state (:class:`nntune.TrainState`), which the train step
passes to the optimizer (:func:`~nntune.optim.set_epoch`) before every update, so a
per-epoch decay is exact even when epochs have different numbers of steps. The
course's decays depend on the epoch; :func:`warmup_cosine` depends on the step.

The built-in schedules are array-safe: called with array counters (a training state's,
also inside ``jax.jit``) they compute without Python branches on the values, and
:meth:`rate` evaluates them from a *base rate* that a training state holds as an array
(so it can change mid-run and differ per member of a population). Called with Python
ints they return a float and check the counters.

With ``lr0`` the initial learning rate and ``epoch = 0, 1, 2, ...``:

- :func:`constant`: ``lr0``;
- :func:`inverse_time_decay`: ``lr0 / (1 + decay_rate * epoch)``;
- :func:`exponential_decay`: ``lr0 * k^epoch``;
- :func:`inverse_sqrt_decay`: ``lr0 * k / sqrt(epoch + 1)`` (the course's
  ``k / sqrt(epoch_num)`` with ``epoch_num = epoch + 1`` counted from 1);
- :func:`interval_decay`: ``lr0 / (1 + decay_rate * floor(epoch / interval))``;
- :func:`~nntune.optim.phased.piecewise_constant` and
  :func:`~nntune.optim.phased.warmup_cosine` (per step) are in :mod:`.phased`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Protocol

from .._validation import check_real, is_array
from ..backend import namespace

__all__ = [
    "SCHEDULES",
    "Schedule",
    "constant",
    "exponential_decay",
    "interval_decay",
    "inverse_sqrt_decay",
    "inverse_time_decay",
    "schedule_from_name",
]


class Schedule(Protocol):
    """A learning-rate schedule: ``schedule(epoch, step=0) -> learning rate``."""

    def __call__(self, epoch: int, step: int = 0) -> float: ...


def base_rate(schedule: Callable[..., Any]) -> float:
    """The rate a schedule scales: its initial rate, peak or first value.

    For a plain function it is the rate at epoch 0, step 0.
    """
    base = getattr(schedule, "base", None)
    if base is not None:
        return float(base)
    return float(schedule(0, 0))


def evaluate_schedule(
    schedule: Callable[..., Any], base: Any, epoch: Any, step: Any
) -> Any:
    """The rate of ``schedule`` at ``(epoch, step)`` with its base rate set to ``base``.

    A built-in schedule substitutes ``base`` for its initial rate in its own formula,
    so the rate equals the schedule's own bit for bit while ``base`` is unchanged. A
    plain function's rate is scaled by ``base / base_rate(schedule)``.
    """
    rate = getattr(schedule, "rate", None)
    if rate is not None:
        return rate(base, epoch, step)
    return schedule(epoch, step) * (base / base_rate(schedule))


def _sqrt(value: Any) -> Any:
    return namespace(value).sqrt(value) if is_array(value) else math.sqrt(value)


def _python(*counters: Any) -> bool:
    return not any(is_array(counter) for counter in counters)


def _learning_rate(name: str, value: Any) -> Any:
    return check_real(
        name,
        value,
        low=0.0,
        low_open=True,
        fix="A learning rate is a step size > 0, e.g. 0.01.",
    )


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(
            f"{name} must be an integer >= {minimum}; got {value!r}. "
            "Counts of epochs and steps start at 0."
        )
    return int(value)


def _check_time(epoch: int, step: int) -> None:
    if epoch < 0 or step < 0:
        raise ValueError(
            f"a schedule takes epoch >= 0 and step >= 0 (both counted from 0); got "
            f"epoch={epoch!r}, step={step!r}."
        )


def _decay_rate(value: Any) -> Any:
    return check_real(
        "decay_rate",
        value,
        low=0.0,
        fix="Use decay_rate >= 0, e.g. 1.0; 0 keeps the rate constant.",
    )


@dataclass(frozen=True)
class _EpochSchedule:
    """A schedule of the epoch from ``learning_rate``, validated when built."""

    learning_rate: float

    def __post_init__(self) -> None:
        checked = {"learning_rate": _learning_rate("learning_rate", self.learning_rate)}
        checked.update(self._checked())
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: validated values only

    def _checked(self) -> dict[str, Any]:
        """The other fields, validated (subclasses with more fields override it)."""
        return {}

    @property
    def base(self) -> float:
        """The initial rate, which :meth:`rate` replaces by a training state's."""
        return self.learning_rate

    def __call__(self, epoch: Any, step: Any = 0) -> Any:
        if _python(epoch, step):
            _check_time(epoch, step)
            return float(self._rate(self.learning_rate, epoch))
        return self._rate(self.learning_rate, epoch)

    def rate(self, base: Any, epoch: Any, step: Any = 0) -> Any:
        """The rate at ``epoch`` with ``base`` as the initial rate (array-safe)."""
        return self._rate(base, epoch)

    def _rate(self, base: Any, epoch: Any) -> Any:
        return base


@dataclass(frozen=True)
class Constant(_EpochSchedule):
    """``lr = learning_rate`` at every epoch (built by :func:`constant`)."""


@dataclass(frozen=True)
class InverseTimeDecay(_EpochSchedule):
    """``lr = learning_rate / (1 + decay_rate * epoch)`` (built by the function)."""

    decay_rate: float = 1.0

    def _checked(self) -> dict[str, Any]:
        return {"decay_rate": _decay_rate(self.decay_rate)}

    def _rate(self, base: Any, epoch: Any) -> Any:
        return base / (1.0 + self.decay_rate * epoch)


@dataclass(frozen=True)
class ExponentialDecay(_EpochSchedule):
    """``lr = learning_rate * k**epoch`` (built by :func:`exponential_decay`)."""

    k: float = 0.95

    def _checked(self) -> dict[str, Any]:
        k = check_real(
            "k",
            self.k,
            low=0.0,
            high=1.0,
            low_open=True,
            fix="k is the factor applied each epoch, e.g. 0.95; 1 keeps it constant.",
        )
        return {"k": k}

    def _rate(self, base: Any, epoch: Any) -> Any:
        return base * self.k**epoch


@dataclass(frozen=True)
class InverseSqrtDecay(_EpochSchedule):
    """``lr = learning_rate * k / sqrt(epoch + 1)`` (:func:`inverse_sqrt_decay`)."""

    k: float = 1.0

    def _checked(self) -> dict[str, Any]:
        k = check_real("k", self.k, low=0.0, low_open=True, fix="Use k > 0, e.g. 1.0.")
        return {"k": k}

    def _rate(self, base: Any, epoch: Any) -> Any:
        return base * self.k / _sqrt(epoch + 1)


@dataclass(frozen=True)
class IntervalDecay(_EpochSchedule):
    """``lr = learning_rate / (1 + decay_rate * floor(epoch / interval))``."""

    decay_rate: float = 1.0
    interval: int = 1000

    def _checked(self) -> dict[str, Any]:
        return {
            "decay_rate": _decay_rate(self.decay_rate),
            "interval": _count("interval", self.interval, 1),
        }

    def _rate(self, base: Any, epoch: Any) -> Any:
        return base / (1.0 + self.decay_rate * (epoch // self.interval))


def constant(learning_rate: float) -> Constant:
    """A constant learning rate ``lr = learning_rate``.

    Raises:
        ValueError: if ``learning_rate`` is not a finite number > 0.

    Example:
        >>> constant(0.1)(epoch=7)
        0.1
    """
    return Constant(learning_rate)


def inverse_time_decay(learning_rate: float, decay_rate: float) -> InverseTimeDecay:
    """The course's learning-rate decay ``lr = lr0 / (1 + decay_rate * epoch)``.

    Args:
        learning_rate: ``lr0``, the rate at epoch 0 (> 0).
        decay_rate: How fast the rate falls (>= 0; 0 keeps it constant).

    Returns:
        The schedule.

    Raises:
        ValueError: for a non-positive ``learning_rate`` or a negative ``decay_rate``.

    Example:
        >>> schedule = inverse_time_decay(0.2, decay_rate=1.0)
        >>> [schedule(epoch) for epoch in range(3)]  # 0.2/1, 0.2/2, 0.2/3
        [0.2, 0.1, 0.06666666666666667]
    """
    return InverseTimeDecay(learning_rate, decay_rate)


def exponential_decay(learning_rate: float, k: float) -> ExponentialDecay:
    """Exponential decay ``lr = lr0 * k^epoch`` (the course's ``0.95^epoch * lr0``).

    Args:
        learning_rate: ``lr0``, the rate at epoch 0 (> 0).
        k: The factor applied each epoch, in ``(0, 1]``.

    Returns:
        The schedule.

    Raises:
        ValueError: for a non-positive ``learning_rate`` or ``k`` outside ``(0, 1]``.

    Example:
        >>> [exponential_decay(1.0, k=0.5)(epoch) for epoch in range(3)]
        [1.0, 0.5, 0.25]
    """
    return ExponentialDecay(learning_rate, k)


def inverse_sqrt_decay(learning_rate: float, k: float = 1.0) -> InverseSqrtDecay:
    """Decay ``lr = lr0 * k / sqrt(epoch + 1)``.

    The course writes ``k / sqrt(epoch_num) * lr0`` with ``epoch_num`` counted from 1;
    nntune counts epochs from 0, hence ``epoch + 1``: the rate at epoch 0 is ``k*lr0``.

    Args:
        learning_rate: ``lr0`` (> 0).
        k: A constant factor (> 0).

    Returns:
        The schedule.

    Raises:
        ValueError: for a non-positive ``learning_rate`` or ``k``.

    Example:
        >>> [inverse_sqrt_decay(1.0)(epoch) for epoch in (0, 3)]  # 1/sqrt(1), 1/sqrt(4)
        [1.0, 0.5]
    """
    return InverseSqrtDecay(learning_rate, k)


def interval_decay(
    learning_rate: float, decay_rate: float, interval: int
) -> IntervalDecay:
    """Scheduled decay ``lr = lr0 / (1 + decay_rate * floor(epoch / interval))``.

    The course's "fixed interval scheduling": the rate drops every ``interval`` epochs
    instead of every epoch.

    Args:
        learning_rate: ``lr0`` (> 0).
        decay_rate: How much each drop divides by (>= 0).
        interval: The number of epochs between drops (an integer >= 1).

    Returns:
        The schedule.

    Raises:
        ValueError: for a non-positive ``learning_rate`` or ``interval`` or a negative
            ``decay_rate``.

    Example:
        >>> schedule = interval_decay(0.3, decay_rate=1.0, interval=10)
        >>> [schedule(epoch) for epoch in (0, 9, 10, 25)]  # 0.3/1, 0.3/1, 0.3/2, 0.3/3
        [0.3, 0.3, 0.15, 0.09999999999999999]
    """
    return IntervalDecay(learning_rate, decay_rate, interval)


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant,
    "inverse_time": inverse_time_decay,
    "exponential": exponential_decay,
    "inverse_sqrt": inverse_sqrt_decay,
    "interval": interval_decay,
}
"""Schedules that take an initial ``learning_rate``, by the name used in configs."""


def schedule_from_name(name: str, learning_rate: float, **options: Any) -> Schedule:
    """Build the schedule ``name`` from ``learning_rate`` and its options.

    Options set to ``None`` are ignored, so a caller can pass every option it knows
    (``decay_rate``, ``k``, ``interval``) and let the schedule take what it needs.

    Args:
        name: A key of :data:`SCHEDULES`.
        learning_rate: The initial rate ``lr0`` (> 0).
        **options: The schedule's options.

    Returns:
        The schedule.

    Raises:
        ValueError: for an unknown name, a missing required option or an option the
            schedule does not take.

    Example:
        >>> schedule_from_name("inverse_time", 0.1, decay_rate=1.0, interval=None)
        InverseTimeDecay(learning_rate=0.1, decay_rate=1.0)
    """
    if name not in SCHEDULES:
        raise ValueError(
            f"unknown learning-rate schedule {name!r}; expected one of "
            f"{sorted(SCHEDULES)}."
        )
    factory = SCHEDULES[name]
    parameters = dict(inspect.signature(factory).parameters)
    parameters.pop("learning_rate")
    given = {key: value for key, value in options.items() if value is not None}
    extra = sorted(set(given) - set(parameters))
    if extra:
        raise ValueError(
            f"schedule {name!r} does not take {', '.join(extra)}; it takes "
            f"{sorted(parameters) or 'no options'}. Remove the extra option(s) or "
            "choose a schedule that uses them."
        )
    missing = sorted(
        key
        for key, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty and key not in given
    )
    if missing:
        raise ValueError(
            f"schedule {name!r} needs {', '.join(missing)}; pass "
            f"{', '.join(f'{key}=...' for key in missing)}."
        )
    return factory(learning_rate, **given)
