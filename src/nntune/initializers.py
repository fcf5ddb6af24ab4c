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

PyTorch's names of the same draws are accepted (:data:`ALIASES`):
``kaiming_normal`` is ``he`` and ``xavier_normal`` is ``glorot``. Keras' ``he_normal``,
``glorot_normal`` and ``lecun_normal`` draw from a *truncated* normal and the
``*_uniform`` initializers from a uniform distribution: nntune has no such draw, and
refuses those names with the nearest initializer it has.
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

ALIASES = {"kaiming_normal": "he", "xavier_normal": "glorot"}
"""PyTorch's names of nntune's draws: ``nn.init.kaiming_normal_`` with its defaults
(``a=0``, ``mode="fan_in"``: std ``sqrt(2/n_in)``) and ``nn.init.xavier_normal_``
(``gain=1``: std ``sqrt(2/(n_in+n_out))``), both untruncated normals."""

_TRUNCATED = "draws from a normal truncated at two standard deviations"
_UNIFORM = "draws from a uniform distribution"
_NOT_THE_SAME = {
    "he_normal": (f"Keras' HeNormal {_TRUNCATED}", "he"),
    "glorot_normal": (f"Keras' GlorotNormal {_TRUNCATED}", "glorot"),
    "lecun_normal": (f"Keras' LecunNormal {_TRUNCATED}", "xavier"),
    "glorot_uniform": (f"Keras' GlorotUniform (its default) {_UNIFORM}", "glorot"),
    "xavier_uniform": (f"PyTorch's xavier_uniform_ {_UNIFORM}", "glorot"),
    "he_uniform": (f"Keras' HeUniform {_UNIFORM}", "he"),
    "kaiming_uniform": (f"PyTorch's kaiming_uniform_ {_UNIFORM}", "he"),
    "lecun_uniform": (f"Keras' LecunUniform {_UNIFORM}", "xavier"),
}
_FORMULAS = {"he": "sqrt(2/n_in)", "glorot": "sqrt(2/(n_in+n_out))"}
_FORMULAS["xavier"] = "sqrt(1/n_in)"


def _unknown(name: str) -> str:
    if name in _NOT_THE_SAME:
        draw, nearest = _NOT_THE_SAME[name]
        return (
            f"initializer {name!r} is not one of nntune's: {draw}, and nntune's "
            f"initializers draw from a full normal distribution. The nearest is "
            f"{nearest!r}, a normal with the same variance (std "
            f"{_FORMULAS[nearest]}): use {nearest!r} (docs/conventions.md maps "
            "each initializer to PyTorch and Keras)."
        )
    return (
        f"unknown initializer {name!r}; expected one of {INITIALIZERS} (or PyTorch's "
        f"{' or '.join(ALIASES)}), optionally followed by ':multiplier' (e.g. 'he' "
        "or 'random:0.01')."
    )


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
            raise ValueError(_unknown(self.name))
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
        name = ALIASES.get(name, name)
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
