"""The L2 and L1 weight regularizers: the penalty and its gradient on a weight matrix.

The model adds them to the loss for every Dense layer's ``W`` (never biases or
batch-norm's ``gamma``/``beta``), with ``m`` the number of examples the cost is
computed on. A strength may be an array with one value per member of a population;
the penalty of stacked weights ``(K, n_in, n_out)`` is then one value per member.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._validation import check_member_values
from .backend import Array, namespace, per_member

__all__ = ["L1", "L2"]


def _check_lambda(name: str, strength: Any) -> None:
    if hasattr(strength, "shape"):  # one strength per member of a population
        check_member_values(name, strength, low=0.0)
        return
    if isinstance(strength, bool) or not isinstance(strength, int | float):
        raise TypeError(f"{name} strength must be a number >= 0; got {strength!r}.")
    if not math.isfinite(strength) or strength < 0:
        raise ValueError(
            f"{name} strength lambda must be a finite number >= 0; got {strength!r}. "
            "Use 0 for no regularization (the course's labs use values such as 0.7)."
        )


@dataclass(frozen=True)
class L2:
    """L2 ("weight decay" through the gradient): ``lambda/(2m) * sum ||W||_F^2``.

    Applies to weights only, never to biases or batch-norm ``gamma``/``beta``. ``m`` is
    the number of examples the cost is computed on; the gradient is ``lambda/m * W``.

    Example:
        >>> import numpy as np
        >>> round(float(L2(0.7).cost(np.ones((2, 2)), m=7)), 12)  # 0.7 / 14 * 4
        0.2
    """

    strength: Any
    """lambda: a number, or an array with one value per member of a population."""

    def __post_init__(self) -> None:
        _check_lambda("L2", self.strength)

    def cost(self, weights: Array, m: int) -> Array:
        """Return ``lambda/(2m) * sum(W^2)`` (one per member for stacked weights)."""
        xp = namespace(weights)
        return self.strength / (2 * m) * xp.sum(weights * weights, axis=(-2, -1))

    def grad(self, weights: Array, m: int) -> Array:
        """Return ``lambda/m * W``."""
        return per_member(self.strength / m, weights) * weights


@dataclass(frozen=True)
class L1:
    """L1 ``lambda/(2m) * sum |W|``, gradient ``lambda/(2m) sign(W)``.

    Example:
        >>> import numpy as np
        >>> float(L1(1.0).cost(np.array([[1.0, -3.0]]), m=2))  # 1/4 * 4
        1.0
    """

    strength: Any
    """lambda: a number, or an array with one value per member of a population."""

    def __post_init__(self) -> None:
        _check_lambda("L1", self.strength)

    def cost(self, weights: Array, m: int) -> Array:
        """Return ``lambda/(2m) * sum |W|`` (one per member for stacked weights)."""
        xp = namespace(weights)
        return self.strength / (2 * m) * xp.sum(xp.abs(weights), axis=(-2, -1))

    def grad(self, weights: Array, m: int) -> Array:
        """Return ``lambda/(2m) * sign(W)`` (0 at 0)."""
        xp = namespace(weights)
        return per_member(self.strength / (2 * m), weights) * xp.sign(weights)
