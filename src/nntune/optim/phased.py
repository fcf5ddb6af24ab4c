"""Schedules in phases: piecewise constant (per epoch) and warm-up + cosine (per step).

- :func:`piecewise_constant`: ``values[i]`` while ``epoch < boundaries[i]``;
- :func:`warmup_cosine`: linear from ``start`` to ``peak`` over ``warmup_steps``, then a
  cosine from ``peak`` to ``end`` over ``decay_steps``, then ``end``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._validation import check_real, is_array
from ..backend import namespace
from .schedules import _check_time, _count, _learning_rate, _python

__all__ = ["PiecewiseConstant", "WarmupCosine", "piecewise_constant", "warmup_cosine"]


@dataclass(frozen=True)
class PiecewiseConstant:
    """``lr = values[i]`` for ``boundaries[i-1] <= epoch < boundaries[i]``."""

    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        boundaries = tuple(
            _count(f"boundaries[{i}]", b, 1) for i, b in enumerate(self.boundaries)
        )
        values = tuple(
            _learning_rate(f"values[{i}]", v) for i, v in enumerate(self.values)
        )
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"piecewise_constant needs one more value than boundaries; got "
                f"{len(boundaries)} boundaries {list(boundaries)} and {len(values)} "
                f"values {list(values)}. values[i] is used until the epoch reaches "
                "boundaries[i], and the last value after the last boundary."
            )
        if any(a >= b for a, b in itertools.pairwise(boundaries)):
            raise ValueError(
                f"boundaries must be strictly increasing epochs; got "
                f"{list(boundaries)}. Sort them and drop repeats."
            )
        object.__setattr__(self, "boundaries", boundaries)
        object.__setattr__(self, "values", values)

    @property
    def base(self) -> float:
        """The first value, which :meth:`rate` replaces by a training state's rate."""
        return self.values[0]

    def __call__(self, epoch: Any, step: Any = 0) -> Any:
        if _python(epoch, step):
            _check_time(epoch, step)
        return self.rate(self.values[0], epoch, step)

    def rate(self, base: Any, epoch: Any, step: Any = 0) -> Any:
        """The value at ``epoch``, every value scaled by ``base / values[0]``."""
        scale = base / self.values[0]
        if not is_array(epoch):
            return self.values[bisect.bisect_right(self.boundaries, epoch)] * scale
        xp = namespace(epoch)
        rate = xp.asarray(self.values[-1])
        for boundary, value in reversed(
            list(zip(self.boundaries, self.values, strict=False))
        ):
            rate = xp.where(epoch < boundary, xp.asarray(value), rate)
        return rate * scale


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warm-up to ``peak``, then cosine decay to ``end``, per step."""

    peak: float
    warmup_steps: int
    decay_steps: int
    end: float = 0.0
    start: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak", _learning_rate("peak", self.peak))
        object.__setattr__(
            self, "warmup_steps", _count("warmup_steps", self.warmup_steps, 0)
        )
        object.__setattr__(
            self, "decay_steps", _count("decay_steps", self.decay_steps, 1)
        )
        for name in ("end", "start"):
            value = check_real(
                name,
                getattr(self, name),
                low=0.0,
                fix="Learning rates at the ends of the schedule are >= 0.",
            )
            object.__setattr__(self, name, value)

    @property
    def base(self) -> float:
        """The peak, which :meth:`rate` replaces by a training state's rate."""
        return self.peak

    def __call__(self, epoch: Any, step: Any = 0) -> Any:
        if _python(epoch, step):
            _check_time(epoch, step)
        return self.rate(self.peak, epoch, step)

    def rate(self, base: Any, epoch: Any, step: Any = 0) -> Any:
        """The rate at ``step``, ``start``, ``peak`` and ``end`` scaled by base/peak."""
        scale = base / self.peak
        start, peak, end = self.start * scale, base, self.end * scale
        if not is_array(step):
            if step < self.warmup_steps:
                return start + (peak - start) * step / self.warmup_steps
            progress = (step - self.warmup_steps) / self.decay_steps
            if progress >= 1.0:
                return end
            cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
            return end + (peak - end) * cosine
        xp = namespace(step)
        warmup = start + (peak - start) * step / max(self.warmup_steps, 1)
        progress = xp.clip((step - self.warmup_steps) / self.decay_steps, 0.0, 1.0)
        cosine = 0.5 * (1.0 + xp.cos(math.pi * progress))
        decayed = end + (peak - end) * cosine
        return xp.where(step < self.warmup_steps, warmup, decayed)


def piecewise_constant(
    boundaries: Sequence[int], values: Sequence[float]
) -> PiecewiseConstant:
    """Piecewise-constant rate: ``values[i]`` until the epoch reaches ``boundaries[i]``.

    Args:
        boundaries: Strictly increasing epochs (integers >= 1) where the rate changes.
        values: The rates, one more than ``boundaries`` (each > 0).

    Returns:
        The schedule.

    Raises:
        ValueError: if the lengths do not match, the boundaries do not increase or a
            value is not > 0.

    Example:
        >>> schedule = piecewise_constant([2, 5], [0.1, 0.01, 0.001])
        >>> [schedule(epoch) for epoch in (0, 1, 2, 4, 5, 100)]
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    """
    return PiecewiseConstant(tuple(boundaries), tuple(values))


def warmup_cosine(
    peak: float,
    warmup_steps: int,
    decay_steps: int,
    end: float = 0.0,
    start: float = 0.0,
) -> WarmupCosine:
    """Linear warm-up then cosine decay, per optimizer step (the epoch is ignored).

    With ``s`` the step and ``W = warmup_steps``, ``D = decay_steps``::

        s < W:          lr = start + (peak - start) * s / W
        W <= s < W + D: lr = end + (peak - end) * (1 + cos(pi * (s - W) / D)) / 2
        s >= W + D:     lr = end

    Unlike optax's ``warmup_cosine_decay_schedule``, ``decay_steps`` does not include
    the warm-up steps.

    Args:
        peak: The rate reached at the end of the warm-up (> 0).
        warmup_steps: Steps of linear warm-up (>= 0).
        decay_steps: Steps of cosine decay after the warm-up (>= 1).
        end: The final rate (>= 0).
        start: The rate at step 0 (>= 0).

    Returns:
        The schedule.

    Raises:
        ValueError: for a non-positive ``peak`` or ``decay_steps``, or a negative
            ``warmup_steps``, ``end`` or ``start``.

    Example:
        >>> schedule = warmup_cosine(1.0, warmup_steps=2, decay_steps=2)
        >>> [schedule(0, step) for step in range(6)]  # cos(pi/2) = 0 at step 3
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    return WarmupCosine(peak, warmup_steps, decay_steps, end, start)
