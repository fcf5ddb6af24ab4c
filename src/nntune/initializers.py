"""Weight initializers: zeros, random, Xavier, Glorot and He, and Keras' own.

Each initializer draws a weight matrix of shape ``(in_features, out_features)``
(examples are rows, so ``Z = X @ W + b``) with a standard deviation that depends on
the fan-in/fan-out, times an optional multiplier. nntune's draw from a normal
distribution:

- ``zeros``: 0. Every unit computes the same thing; symmetry is never broken.
- ``random``: ``0.01`` by default, the labs' ``randn(...) * 0.01`` (trains slowly in
  deep nets); ``random:10`` shows large weights failing.
- ``xavier``: ``sqrt(1 / n_in)``, the course's Xavier (LeCun normal elsewhere).
- ``glorot``: ``sqrt(2 / (n_in + n_out))``, Glorot normal.
- ``he``: ``sqrt(2 / n_in)``, He / Kaiming normal, for ReLU.

Keras' initializers have the same variances (Keras' ``VarianceScaling``: ``scale /
fan`` with scale 2 and ``fan = n_in`` for He, 1 and ``(n_in + n_out) / 2`` for
Glorot, 1 and ``n_in`` for LeCun) and other distributions:

- ``he_normal``, ``glorot_normal``, ``lecun_normal``: a normal truncated at two of
  its standard deviations (values beyond are drawn again), whose standard deviation
  ``sqrt(scale / fan) / 0.87962566103423978`` makes the truncated one ``sqrt(scale /
  fan)``;
- ``he_uniform``, ``glorot_uniform`` (Keras' default), ``lecun_uniform``: uniform on
  ``[-limit, limit]``, ``limit = sqrt(3 scale / fan)``.

Wherever an initializer is named by a string, an optional ``:number`` multiplies the
standard deviation (and a uniform's limit): ``"random:10"``, ``"he:0.5"``. Plain
``"random"`` means ``"random:0.01"``. Biases always start at zero.

PyTorch's names of the same draws are accepted (:data:`ALIASES`).

Weights come from a :class:`numpy.random.Generator`, or from a legacy
:class:`numpy.random.RandomState` as the course's labs draw them: ``randn(n_out,
n_in)`` (the course's ``W`` is ``(units, inputs)``, nntune's its transpose), so that
``Sequential.init(seed=np.random.RandomState(3))`` starts from the labs' weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Draws, resolve_dtype


def _he(n_in: int, n_out: int) -> float:
    return math.sqrt(2.0 / n_in)


def _glorot(n_in: int, n_out: int) -> float:
    return math.sqrt(2.0 / (n_in + n_out))


def _lecun(n_in: int, n_out: int) -> float:
    return math.sqrt(1.0 / n_in)


_STANDARD_DEVIATIONS: dict[str, Callable[[int, int], float]] = {
    "zeros": lambda n_in, n_out: 0.0,
    "random": lambda n_in, n_out: 1.0,
    "xavier": _lecun,
    "glorot": _glorot,
    "he": _he,
    "he_normal": _he,
    "glorot_normal": _glorot,
    "lecun_normal": _lecun,
    "he_uniform": _he,
    "glorot_uniform": _glorot,
    "lecun_uniform": _lecun,
}
_DEFAULT_MULTIPLIER = {"random": 0.01}
_TRUNCATED = ("he_normal", "glorot_normal", "lecun_normal")
_UNIFORM = ("he_uniform", "glorot_uniform", "lecun_uniform")

TRUNCATED_STD = 0.87962566103423978
"""The standard deviation of a standard normal truncated to ``[-2, 2]`` (Keras')."""

INITIALIZERS = tuple(_STANDARD_DEVIATIONS)

ALIASES = {
    "kaiming_normal": "he",
    "xavier_normal": "glorot",
    "kaiming_uniform": "he_uniform",
    "xavier_uniform": "glorot_uniform",
}
"""PyTorch's names of nntune's draws, with the functions' defaults: ``nn.init.
kaiming_normal_`` (``a=0``, ``mode="fan_in"``: std ``sqrt(2/n_in)``) and
``nn.init.xavier_normal_`` (``gain=1``: std ``sqrt(2/(n_in+n_out))``), untruncated
normals; ``nn.init.kaiming_uniform_`` (``a=0``: bound ``sqrt(6/n_in)``) and
``nn.init.xavier_uniform_`` (``gain=1``: bound ``sqrt(6/(n_in+n_out))``), Keras'
``he_uniform`` and ``glorot_uniform``."""


def _unknown(name: str) -> str:
    return (
        f"unknown initializer {name!r}; expected one of {INITIALIZERS} (or PyTorch's "
        f"{', '.join(ALIASES)}), optionally followed by ':multiplier' (e.g. 'he' "
        "or 'random:0.01')."
    )


def truncated_normal(rng: Draws, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """Standard normals of ``shape`` truncated to ``[-2, 2]``: those beyond are redrawn.

    Their standard deviation is :data:`TRUNCATED_STD`, as Keras' truncated normal.

    Example:
        >>> z = truncated_normal(np.random.default_rng(0), (100_000,))
        >>> bool(abs(z).max() <= 2), round(float(z.std()), 2)
        (True, 0.88)
    """
    z = rng.standard_normal(shape)
    outside = np.abs(z) > 2
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2
    return z


@dataclass(frozen=True)
class Initializer:
    """A named weight initializer with a multiplier on its standard deviation.

    ``W`` has mean 0 and standard deviation ``multiplier * std(n_in, n_out)``: a
    normal, a truncated normal or a uniform distribution (see the module docs);
    biases start at zero.

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
        rng: Draws,
        in_features: int,
        out_features: int,
        dtype: Any = None,
    ) -> np.ndarray[Any, Any]:
        """Draw a ``(in_features, out_features)`` weight matrix.

        A legacy ``RandomState`` draws the course's ``(out_features, in_features)``
        matrix, transposed (see the module docs).
        """
        resolved = resolve_dtype(dtype)
        shape = (in_features, out_features)
        if self.name == "zeros":
            return np.zeros(shape, dtype=resolved)
        std = self.standard_deviation(in_features, out_features)
        legacy = isinstance(rng, np.random.RandomState)
        drawn = (out_features, in_features) if legacy else shape
        if self.name in _UNIFORM:
            limit = math.sqrt(3.0) * std
            z = rng.uniform(-limit, limit, drawn)
        elif self.name in _TRUNCATED:
            z = truncated_normal(rng, drawn) * (std / TRUNCATED_STD)
        else:
            z = rng.standard_normal(drawn) * std
        # Drawn in float64 then cast, so float32 and float64 models start from the same
        # weights up to rounding.
        return (z.T if legacy else z).astype(resolved, order="C")

    def __str__(self) -> str:
        multiplier = f"{self.multiplier:g}"
        if self.multiplier == _DEFAULT_MULTIPLIER.get(self.name, 1.0):
            return self.name if self.name != "random" else f"random:{multiplier}"
        return f"{self.name}:{multiplier}"
