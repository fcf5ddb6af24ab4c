"""One training setting: its declaration and the check of a value against it.

The table of every setting is :data:`nntune.experiment.settings.SETTINGS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._validation import interval_text

__all__ = ["Setting", "SettingError", "check_value"]


class SettingError(ValueError):
    """A setting has a value of the wrong type or out of its range."""


@dataclass(frozen=True)
class Setting:
    """One training setting (see the module docstring).

    Attributes:
        name: the key in configs and ``TrainConfig`` (flag: ``--name-with-dashes``).
        kind: ``"bool"``, ``"int"``, ``"float"``, ``"str"`` or ``"layers"``.
        default: the value when not given (None: "the optimizer's or decay's own").
        help: one line for ``--help`` and the docs.
        group: data, model, optimizer, schedule, training, split, seeds or run.
        low, high, low_open, high_open: bounds of a number.
        choices: the allowed strings.
        scale: the natural scale of a search, or None for settings not searched.
        search: the default range ``(low, high)`` of a search.
        applies: ``{setting: values}``: it only matters when another setting has one
            of these values (beta2 only for rmsprop, adam and adamw).
        estimator: whether the scikit-learn estimators take it.
    """

    name: str
    kind: str
    default: Any
    help: str
    group: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    scale: str | None = None
    search: tuple[float, float] | None = None
    applies: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    estimator: bool = True

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--batch-size``."""
        return "--" + self.name.replace("_", "-")

    @property
    def expected(self) -> str:
        """What a valid value is, in words, for error messages."""
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "bool":
            text = "true or false (a TOML boolean, not a string)"
        elif self.kind == "layers":
            text = 'a list of positive integers such as [10, 5] (or "10,5")'
        elif self.kind == "str":
            text = "a string"
        else:
            what = "an integer" if self.kind == "int" else "a number"
            text = what + _range_text(self)
        return text + (", or left out" if self.default is None else "")

    def applies_to(self, values: Mapping[str, Any]) -> bool:
        """Whether this setting matters for the settings ``values``."""
        return all(
            values.get(name) in allowed for name, allowed in self.applies.items()
        )


def _range_text(setting: Setting) -> str:
    if setting.low is None and setting.high is None:
        return ""
    return " in " + interval_text(
        setting.low, setting.high, setting.low_open, setting.high_open
    )


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        type(value), type(value).__name__
    )


def check_value(setting: Setting, value: Any, source: str = "config") -> Any:
    """Return ``value`` checked against ``setting`` (see :func:`check_setting`)."""
    name = setting.name
    if value is None and setting.default is None:
        return None

    def fail(reason: str = "") -> SettingError:
        what = reason or f"is a {_type_name(value)}"
        return SettingError(
            f"{source}: {name} = {value!r} {what}; expected {setting.expected}."
        )

    kind = setting.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise fail()
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise fail()
        if setting.choices and value not in setting.choices:
            raise fail("is not a known value")
        return value
    if kind == "layers":
        return _check_layers(value, fail)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail()
    if kind == "int":
        if not isinstance(value, int):
            raise fail()
        number: float = value
    else:
        number = float(value)
        if not math.isfinite(number):
            raise fail("is not finite")
    low, high = setting.low, setting.high
    outside = (
        low is not None and (number < low or (setting.low_open and number == low))
    ) or (
        high is not None and (number > high or (setting.high_open and number == high))
    )
    if outside:
        raise fail("is out of range")
    return value if kind == "int" else number


def _check_layers(value: Any, fail: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        try:
            value = [int(part) for part in parts]
        except ValueError:
            raise fail("is not a list of sizes") from None
    if not isinstance(value, list | tuple) or not value:
        raise fail()
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise fail("has a size that is not a positive integer")
    return tuple(value)
