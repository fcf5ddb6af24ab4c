"""One training setting: its declaration and the check of a value against it.

The table of every setting is :data:`nntune.experiment.settings.SETTINGS`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
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
        kind: ``"bool"``, ``"int"``, ``"float"``, ``"str"``, ``"layers"``,
            ``"epochs"`` (strictly increasing epoch numbers, e.g. ``[50, 80]``) or
            ``"number_or_auto"`` (``"auto"``, or a number: one given as text, as
            a flag gives it, is read as a number).
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
        aliases: other names of the setting, e.g. ``lr`` (flag ``--lr``) for
            ``learning_rate``: the spelling PyTorch and Keras users type.
        value_aliases: ``{alias: value}``: other spellings of a value, replaced by
            nntune's own, e.g. ``sgd`` for ``gd``; for a value of the form
            ``name:number`` the part before the colon is looked up.
        check: raises ValueError saying what is wrong with a string value (an
            initializer's name), so a config fails before anything is trained.
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
    aliases: tuple[str, ...] = ()
    value_aliases: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[str], Any] | None = None

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--batch-size``."""
        return "--" + self.name.replace("_", "-")

    @property
    def alias_flags(self) -> tuple[str, ...]:
        """The flags of the other names, e.g. ``("--lr",)``."""
        return tuple("--" + alias.replace("_", "-") for alias in self.aliases)

    def canonical(self, value: Any) -> Any:
        """``value`` in nntune's own spelling: a value alias replaced.

        Example:
            >>> Setting("init", "str", "he", "", "model",
            ...         value_aliases={"kaiming_normal": "he"}).canonical(
            ...     "kaiming_normal:0.5")
            'he:0.5'
        """
        if not isinstance(value, str) or not self.value_aliases:
            return value
        head, colon, tail = value.partition(":")
        if head.strip().lower() not in self.value_aliases:
            return value
        return self.value_aliases[head.strip().lower()] + colon + tail

    @property
    def expected(self) -> str:
        """What a valid value is, in words, for error messages."""
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
            if self.value_aliases:
                text += " (also " + ", ".join(
                    f"{alias!r} for {value!r}"
                    for alias, value in self.value_aliases.items()
                )
                text += ")"
        elif self.kind == "bool":
            text = "true or false (a TOML boolean, not a string)"
        elif self.kind == "layers":
            text = 'a list of positive integers such as [10, 5] (or "10,5")'
        elif self.kind == "epochs":
            text = 'increasing epoch numbers such as [50, 80] (or "50,80")'
        elif self.kind == "str":
            text = "a string"
        else:
            what = "an integer" if self.kind == "int" else "a number"
            text = what + _range_text(self)
            if self.kind == "number_or_auto":
                text = "'auto' or " + text
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
        value = setting.canonical(value)
        if setting.choices and value not in setting.choices:
            raise fail("is not a known value")
        if setting.check is not None:
            try:
                setting.check(value)
            except (TypeError, ValueError) as error:
                raise SettingError(f"{source}: {name} = {value!r}: {error}") from None
        return value
    if kind == "layers":
        return _positive_integers(value, fail, "size")
    if kind == "epochs":
        epochs = _positive_integers(value, fail, "epoch")
        if any(a >= b for a, b in itertools.pairwise(epochs)):
            raise fail("is not strictly increasing")
        return epochs
    if kind == "number_or_auto":
        if value == "auto":
            return value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise fail("is neither 'auto' nor a number") from None
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


def _positive_integers(value: Any, fail: Any, noun: str) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        try:
            value = [int(part) for part in parts]
        except ValueError:
            raise fail(f"is not a list of {noun}s") from None
    if not isinstance(value, list | tuple) or not value:
        raise fail()
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise fail(
            f"has {'an' if noun[0] in 'aeiou' else 'a'} {noun} that is not a "
            "positive integer"
        )
    return tuple(value)
