"""Weight initializers: zeros, random, Xavier, Glorot and He.

Each initializer draws a weight matrix of shape ``(in_features, out_features)``
(examples are rows, so ``Z = X @ W + b``) from a normal distribution with a standard
deviation that depends on the fan-in/fan-out, times an optional multiplier:

- ``zeros``: 0. Every unit computes the same thing; symmetry is never broken.
- ``random``: ``0.01`` by default, the labs' ``randn(...) * 0.01`` (trains slowly in
  deep nets); ``random:10`` shows large weights failing.
- ``xavier``: ``sqrt(1 / n_in)``, the course's Xavier (LeCun normal elsewhere).
- ``glorot``: ``sqrt(2 / (n_in + n_out))``, Glorot normal (Keras' default family).
- ``he``: ``sqrt(2 / n_in)``, He / Kaiming normal, for ReLU.

Wherever an initializer is named by a string, an optional ``:number`` multiplies the
standard deviation: ``"random:10"``, ``"he:0.5"``. Plain ``"random"`` means
``"random:0.01"``. Biases always start at zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import resolve_dtype

_STANDARD_DEVIATIONS: dict[str, Callable[[int, int], float]] = {
    "zeros": lambda n_in, n_out: 0.0,
    "random": lambda n_in, n_out: 1.0,
    "xavier": lambda n_in, n_out: math.sqrt(1.0 / n_in),
    "glorot": lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out)),
    "he": lambda n_in, n_out: math.sqrt(2.0 / n_in),
}
_DEFAULT_MULTIPLIER = {"random": 0.01}

INITIALIZERS = tuple(_STANDARD_DEVIATIONS)


@dataclass(frozen=True)
class Initializer:
    """A named weight initializer with a multiplier on its standard deviation.

    ``W ~ N(0, (multiplier * std(n_in, n_out))^2)``, biases zero.

    Example:
        >>> init = Initializer.parse("he:0.5")
        >>> init.name, init.multiplier, str(init)
        ('he', 0.5, 'he:0.5')
        >>> round(init.standard_deviation(8, 4), 4)  # 0.5 * sqrt(2/8)
        0.25
    """

    name: str
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in _STANDARD_DEVIATIONS:
            raise ValueError(
                f"unknown initializer {self.name!r}; expected one of {INITIALIZERS}, "
                "optionally followed by ':multiplier' (e.g. 'he' or 'random:0.01')."
            )
        if not math.isfinite(self.multiplier) or self.multiplier < 0:
            raise ValueError(
                f"initializer multiplier must be a finite number >= 0; got "
                f"{self.multiplier!r} in {self.name}:{self.multiplier}."
            )

    @classmethod
    def parse(cls, spec: str | Initializer) -> Initializer:
        """Parse ``"name"`` or ``"name:multiplier"`` (``"random"``: ``random:0.01``)."""
        if isinstance(spec, Initializer):
            return spec
        if not isinstance(spec, str):
            raise TypeError(
                f"initializer must be a string such as 'he' or 'random:0.01'; got "
                f"{type(spec).__name__} {spec!r}."
            )
        name, _, multiplier_text = spec.strip().lower().partition(":")
        if not multiplier_text:
            return cls(name, _DEFAULT_MULTIPLIER.get(name, 1.0))
        try:
            multiplier = float(multiplier_text)
        except ValueError:
            raise ValueError(
                f"initializer {spec!r}: the part after ':' must be a number (the "
                f"multiplier of the standard deviation), e.g. '{name}:0.5'."
            ) from None
        return cls(name, multiplier)

    def standard_deviation(self, in_features: int, out_features: int) -> float:
        """Return the standard deviation of the weights for this fan-in and fan-out."""
        return self.multiplier * _STANDARD_DEVIATIONS[self.name](
            in_features, out_features
        )

    def __call__(
        self,
        rng: np.random.Generator,
        in_features: int,
        out_features: int,
        dtype: Any = None,
    ) -> np.ndarray[Any, Any]:
        """Draw a ``(in_features, out_features)`` weight matrix."""
        resolved = resolve_dtype(dtype)
        shape = (in_features, out_features)
        if self.name == "zeros":
            return np.zeros(shape, dtype=resolved)
        std = self.standard_deviation(in_features, out_features)
        # Drawn in float64 then cast, so float32 and float64 models start from the same
        # weights up to rounding.
        return (rng.standard_normal(shape) * std).astype(resolved)

    def __str__(self) -> str:
        multiplier = f"{self.multiplier:g}"
        if self.multiplier == _DEFAULT_MULTIPLIER.get(self.name, 1.0):
            return self.name if self.name != "random" else f"random:{multiplier}"
        return f"{self.name}:{multiplier}"
