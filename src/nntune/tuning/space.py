"""Search spaces: every training setting on its natural scale.

The course's advice for random search: sample the learning rate on a log scale (as
many draws in [0.0001, 0.001] as in [0.1, 1]) and a beta on the log scale of
``1 - beta`` (as many in [0.9, 0.99] as in [0.99, 0.999], where averages over 10 and
100 values differ as much as those over 100 and 1000). A :class:`Dimension` maps a
setting to the unit interval on its scale (:meth:`Dimension.to_unit`,
:meth:`Dimension.from_unit`), so a sample, a grid or a zoom (coarse to fine) is
uniform there; values are kept and shown as the setting itself (beta, not 1 - beta).

Scales: ``uniform``, ``log``, ``one_minus_log``, ``int``, ``int_log``, ``pow2``
(powers of two, e.g. batch sizes) and ``choice``. Every setting of the table
(:data:`nntune.SETTINGS`) has a default scale and range; a setting that only applies
under a condition (``beta2`` for Adam and RMSprop, ``decay_rate`` with a decay) is
drawn only when the condition holds.

A space file is TOML with a ``[base]`` table of fixed settings and a ``[space]``
table of searched ones::

    [base]
    data = "moons"
    epochs = 200

    [space]
    learning_rate = { log = [1e-4, 1e-1] }
    beta1 = { one_minus_log = [0.8, 0.999] }
    optimizer = { choice = ["adam", "momentum"] }
    keep_prob = {}                                # the table's default range
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..experiment.settings import BY_NAME, SettingError, check_setting, setting_name

__all__ = ["SCALES", "Dimension", "Space", "load_space"]

SCALES = ("uniform", "log", "one_minus_log", "int", "int_log", "pow2", "choice")
_TABLE_SCALES = {"linear": "uniform"}


@dataclass(frozen=True)
class Dimension:
    """One searched setting: its scale and range (or choices).

    Example:
        >>> beta = Dimension("beta1", "one_minus_log", 0.9, 0.999)
        >>> [round(beta.from_unit(u), 4) for u in (0.0, 0.5, 1.0)]
        [0.9, 0.99, 0.999]
        >>> round(beta.to_unit(0.99), 6)
        0.5
    """

    name: str
    scale: str
    low: Any = None
    high: Any = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in BY_NAME:
            raise ValueError(
                f"unknown setting {self.name!r} in the search space; searchable "
                f"settings are those of nntune.SETTINGS, e.g. learning_rate, beta1."
            )
        if self.scale not in SCALES:
            raise ValueError(
                f"{self.name}: unknown scale {self.scale!r}; expected one of {SCALES}."
            )
        if self.scale == "choice":
            if not self.choices:
                raise ValueError(f"{self.name}: choice needs at least one value.")
            for value in self.choices:
                check_setting(self.name, value, "the search space")
            return
        low, high = self.low, self.high
        if not (_number(low) and _number(high)) or not low < high:
            raise ValueError(
                f"{self.name}: a {self.scale} range is [low, high] with low < high; "
                f"got [{low!r}, {high!r}]."
            )
        for value in (low, high):
            check_setting(self.name, _typed(self.name, value), "the search space")
        if self.scale in ("log", "int_log", "pow2") and low <= 0:
            raise ValueError(
                f"{self.name}: a {self.scale} range must be above 0; got low {low!r}."
            )
        if self.scale == "one_minus_log" and not 0 <= low < high < 1:
            raise ValueError(
                f"{self.name}: a one_minus_log range lies in [0, 1), the log scale of "
                f"1 - value; got [{low!r}, {high!r}]."
            )
        if self.scale == "pow2" and not _pow2_values(low, high):
            raise ValueError(
                f"{self.name}: no power of two lies in [{low!r}, {high!r}]."
            )

    def to_unit(self, value: Any) -> float:
        """``value``'s position in [0, 1] on this dimension's scale."""
        if self.scale == "choice":
            return self.choices.index(value) / max(1, len(self.choices) - 1)
        low, high = float(self.low), float(self.high)
        if self.scale in ("uniform", "int"):
            return (float(value) - low) / (high - low)
        if self.scale in ("log", "int_log", "pow2"):
            return math.log(float(value) / low) / math.log(high / low)
        # one_minus_log: 1 - value on a log scale, high end (nearest 1) at 1.
        return math.log((1 - low) / (1 - float(value))) / math.log(
            (1 - low) / (1 - high)
        )

    def from_unit(self, unit: float) -> Any:
        """The value at ``unit`` in [0, 1] on this dimension's scale."""
        u = min(1.0, max(0.0, float(unit)))
        if self.scale == "choice":
            return self.choices[min(len(self.choices) - 1, int(u * len(self.choices)))]
        low, high = float(self.low), float(self.high)
        if self.scale == "uniform":
            return low + u * (high - low)
        if self.scale == "int":
            return int(min(high, math.floor(low + u * (high - low + 1))))
        if self.scale == "log":
            return low * (high / low) ** u
        if self.scale == "int_log":
            return int(min(high, max(low, round(low * (high / low) ** u))))
        if self.scale == "pow2":
            values = _pow2_values(low, high)
            return values[min(len(values) - 1, int(u * len(values)))]
        return 1 - (1 - low) * ((1 - high) / (1 - low)) ** u

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn uniformly on this dimension's scale."""
        return self.from_unit(float(rng.random()))

    def to_dict(self) -> dict[str, Any]:
        """The space-file form, e.g. ``{"log": [0.0001, 0.1]}``."""
        if self.scale == "choice":
            return {"choice": list(self.choices)}
        return {self.scale: [self.low, self.high]}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _typed(name: str, value: Any) -> Any:
    return int(value) if BY_NAME[name].kind == "int" else float(value)


def _pow2_values(low: float, high: float) -> list[int]:
    first = max(0, math.ceil(math.log2(low)))
    return [2**k for k in range(first, math.floor(math.log2(high)) + 1)]


def default_dimension(name: str) -> Dimension:
    """The table's default scale and range of a setting.

    Raises:
        ValueError: for a setting the table gives no search range.
    """
    setting = BY_NAME.get(name)
    if setting is None or setting.scale is None or setting.search is None:
        searchable = sorted(
            n for n, s in BY_NAME.items() if s.scale is not None and s.search
        )
        raise ValueError(
            f"{name!r} has no default search range; give one (e.g. "
            f"{name} = {{ log = [0.001, 0.1] }}) or search one of {searchable}."
        )
    scale = _TABLE_SCALES.get(setting.scale, setting.scale)
    return Dimension(name, scale, *setting.search)


@dataclass
class Space:
    """Fixed settings (``base``) and searched ones (``dimensions``).

    Example:
        >>> space = Space.from_mapping({"learning_rate": {"log": [1e-4, 1e-1]},
        ...                             "beta2": {}}, base={"optimizer": "gd"})
        >>> draw = space.sample(np.random.default_rng(0))
        >>> sorted(draw)  # beta2 is for Adam and RMSprop: not drawn for gd
        ['learning_rate']
    """

    dimensions: dict[str, Dimension]
    base: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(
        cls,
        space: Mapping[str, Any],
        base: Mapping[str, Any] | None = None,
        source: str = "the search space",
    ) -> Space:
        """Build from the ``[space]`` table of a space file (and ``[base]``).

        Raises:
            ValueError: for an unknown setting or scale, a bad range, or a setting
                both fixed and searched.
        """
        fixed = {}
        for key, value in (base or {}).items():
            name = setting_name(key)
            if name not in BY_NAME:
                raise ValueError(f"{source}: [base] has an unknown setting {key!r}.")
            fixed[name] = check_setting(name, value, f"{source} [base]")
        dimensions = {}
        for key, spec in space.items():
            name = setting_name(key)
            if name in fixed:
                raise ValueError(
                    f"{source}: {name} is both fixed in [base] and searched in "
                    "[space]; keep one."
                )
            dimensions[name] = _dimension(name, spec, source)
        return cls(dimensions, fixed)

    def applies(self, name: str, values: Mapping[str, Any]) -> bool:
        """Whether ``name`` is drawn given the other settings ``values``."""
        return BY_NAME[name].applies_to({**self._defaults(), **self.base, **values})

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One random configuration's searched values (conditions respected)."""
        return self.from_units({name: float(rng.random()) for name in self.dimensions})

    def from_units(self, units: Mapping[str, float]) -> dict[str, Any]:
        """The searched values at unit positions (a sample, a grid point, a zoom).

        Settings that others' conditions depend on (the optimizer, the decay) are
        placed first, so a conditional one is kept only when its condition holds.
        """
        values: dict[str, Any] = {}
        for name in self.ordered():
            if name in units and self.applies(name, values):
                values[name] = self.dimensions[name].from_unit(units[name])
        return values

    def settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The whole configuration: the base with the searched ``values``."""
        return {**self.base, **values}

    def ordered(self) -> list[str]:
        """The searched settings, those others' conditions depend on first."""
        conditions = {o for n in self.dimensions for o in BY_NAME[n].applies}
        return sorted(self.dimensions, key=lambda n: (n not in conditions, n))

    @staticmethod
    def _defaults() -> dict[str, Any]:
        return {name: setting.default for name, setting in BY_NAME.items()}

    def to_dict(self) -> dict[str, Any]:
        """The space-file form: ``{"base": {...}, "space": {...}}``."""
        return {
            "base": dict(self.base),
            "space": {n: d.to_dict() for n, d in self.dimensions.items()},
        }


def _dimension(name: str, spec: Any, source: str) -> Dimension:
    if spec == {} or spec is None:
        return default_dimension(name)
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ValueError(
            f"{source}: {name} = {spec!r}; expected one scale and its range, e.g. "
            f"{name} = {{ log = [0.0001, 0.1] }}, or {{}} for the default."
        )
    ((scale, argument),) = spec.items()
    if scale == "choice":
        if not isinstance(argument, Sequence) or isinstance(argument, str):
            raise ValueError(f"{source}: {name}.choice must be a list of values.")
        return Dimension(name, "choice", choices=tuple(argument))
    if (
        not isinstance(argument, Sequence)
        or isinstance(argument, str)
        or len(argument) != 2
    ):
        raise ValueError(
            f"{source}: {name}.{scale} must be [low, high]; got {argument!r}."
        )
    try:
        return Dimension(name, str(scale), argument[0], argument[1])
    except SettingError as error:
        raise ValueError(f"{source}: {error}") from None


def load_space(path: str | Path) -> Space:
    """Read a space file (TOML with ``[base]`` and ``[space]`` tables).

    Raises:
        ValueError: for a missing, unsafe or invalid file.
    """
    from .._files import read_toml

    try:
        document = read_toml(path)
    except FileNotFoundError:
        raise ValueError(f"space file {path} does not exist.") from None
    unknown = sorted(set(document) - {"base", "space"})
    if unknown or not isinstance(document.get("space", {}), dict):
        raise ValueError(
            f"{path}: a space file has a [base] table of fixed settings and a "
            f"[space] table of searched ones; found {sorted(document)}."
        )
    if not document.get("space"):
        raise ValueError(f"{path}: [space] is empty; name at least one setting.")
    return Space.from_mapping(document["space"], document.get("base"), str(path))
