"""The settings of a training run: one flat, typed record, readable from TOML.

:class:`TrainConfig` holds every setting of ``nntune train`` under the flag's name
(``--batch-size`` is ``batch_size``). It is what a run directory's ``config.toml``
stores and what ``nntune compare --vary`` changes one at a time. Its fields, defaults,
types and bounds are those of the one table of settings
(:data:`nntune.experiment.settings.SETTINGS`), which checks every value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.datasets import DATASETS
from .settings import BY_NAME, DECAYS, SETTINGS, check_setting, setting_name

__all__ = [
    "DECAYS",
    "DEFAULT_DECAY_RATES",
    "DEFAULT_LEARNING_RATES",
    "SEED_KINDS",
    "TrainConfig",
    "parse_layers",
]

SEED_KINDS = ("data", "split", "init", "shuffle")
_FILE_ONLY = ("target", "x_key", "y_key", "task")
# The rate of each decay when none is given: the course's decay_rate=1 for the inverse
# time and interval decays, k=1 for k/sqrt(epoch), and a base of 0.95 for the
# exponential decay (a base of 1 would not decay at all).
DEFAULT_DECAY_RATES = {
    "inverse_time": 1.0,
    "interval": 1.0,
    "inverse_sqrt": 1.0,
    "exponential": 0.95,
    "piecewise": 0.1,
    "plateau": 0.1,
}
DEFAULT_LEARNING_RATES = {"gd": 0.01, "momentum": 0.01}


@dataclass
class TrainConfig:
    """Every setting of a training run (flag ``--batch-size`` is ``batch_size``)."""

    data: str = "moons"
    n_samples: int | None = None
    target: str | None = None
    x_key: str | None = None
    y_key: str | None = None
    task: str | None = None
    layers: tuple[int, ...] = (10, 5)
    activation: str = "relu"
    init: str = "he"
    optimizer: str = "adam"
    learning_rate: float | None = None
    beta: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    epsilon: float | None = None
    weight_decay: float | None = None
    clip_norm: float | None = None
    decay: str = "none"
    decay_rate: float | None = None
    decay_interval: int = 1000
    warmup_epochs: int | None = None
    decay_boundaries: tuple[int, ...] | None = None
    decay_patience: int | None = None
    batch_size: int = 64
    epochs: int = 100
    l2: float = 0.0
    l1: float | None = None
    keep_prob: float = 1.0
    batch_norm: bool = False
    batch_norm_momentum: float | None = None
    standardize: bool = True
    early_stopping: bool = False
    patience: int = 10
    min_delta: float | None = None
    class_weight: str | None = None
    threshold: float | str | None = None
    dev: float | None = None
    test: float | None = None
    train_dev: float | None = None
    augment: str | None = None
    seed: int = 0
    data_seed: int | None = None
    split_seed: int | None = None
    init_seed: int | None = None
    shuffle_seed: int | None = None
    dtype: str = "float32"
    backend: str = "numpy"
    checkpoint_every: int | None = None
    out: str | None = None

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            value = check_setting(setting.name, getattr(self, setting.name), "settings")
            object.__setattr__(self, setting.name, value)

    def inapplicable(self) -> dict[str, str]:
        """The settings given where they do nothing, each with the reason.

        A setting at its default never counts; ``n_samples`` only applies to a
        built-in dataset, ``target``/``x_key``/``y_key``/``task`` only to a data file,
        and an optimizer's or decay's setting only to that optimizer or decay.
        """
        values = dataclasses.asdict(self)
        builtin = self.data in DATASETS or self.data == "sklearn"
        found: dict[str, str] = {}
        for setting in SETTINGS:
            name, value = setting.name, values[setting.name]
            if value is None or value == setting.default:
                continue
            if name == "n_samples" and not builtin:
                found[name] = (
                    f"n_samples = {value!r} does not apply to a data file "
                    f"({self.data}); it sizes a built-in dataset. Remove it, or take "
                    "a sample of the file yourself."
                )
            elif name in _FILE_ONLY and builtin:
                found[name] = (
                    f"{name} = {value!r} does not apply to the built-in dataset "
                    f"{self.data!r}; it reads a data file. Remove it, or give --data "
                    "a .csv/.parquet/.npz/.h5 file."
                )
            elif not setting.applies_to(values):
                needs = " and ".join(
                    f"{other} is {' or '.join(map(repr, allowed))}"
                    for other, allowed in setting.applies.items()
                )
                current = ", ".join(f"{o} = {values[o]!r}" for o in setting.applies)
                found[name] = (
                    f"{name} = {value!r} does not apply to this run: it is used only "
                    f"when {needs} (here {current}). Remove it, or change "
                    f"{', '.join(setting.applies)}."
                )
        return found

    def check_applicable(self) -> None:
        """Refuse a setting given where it does nothing (it would be ignored).

        Also refuse a decay that lacks what it needs (piecewise's boundaries) or
        whose rate would not decay (plateau's factor must be below 1).

        Raises:
            ValueError: naming the first such setting, why, and how to fix it.
        """
        for message in self.inapplicable().values():
            raise ValueError(message)
        for message in _decay_problems(self):
            raise ValueError(message)

    @classmethod
    def from_mapping(
        cls, values: dict[str, Any], source: str = "config"
    ) -> TrainConfig:
        """Build from TOML keys (``batch_size``, ``batch-size``), checking each value.

        A setting's alias names it too (``lr`` is ``learning_rate``).

        Raises:
            ValueError: for an unknown key (with the closest known one), or a value
                of the wrong type or out of range (one line naming the key, the value
                and what was expected).
        """
        options: dict[str, Any] = {}
        for key, value in values.items():
            name = setting_name(key)
            if name in options:
                raise ValueError(
                    f"{source}: {name} is given twice (as {key!r} too); keep one."
                )
            if name not in BY_NAME:
                import difflib

                close = difflib.get_close_matches(name, sorted(BY_NAME), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"{source}: unknown setting {key!r}.{hint}")
            options[name] = check_setting(name, value, source)
        return cls(**options)

    def seed_for(self, kind: str) -> int:
        """The seed of ``kind`` (data, split, init or shuffle): its own, else ``seed``.

        Example:
            >>> TrainConfig(seed=3, split_seed=7).seed_for("split")
            7
            >>> TrainConfig(seed=3).seed_for("init")
            3
        """
        if kind not in SEED_KINDS:
            raise ValueError(
                f"unknown seed kind {kind!r}; expected one of {SEED_KINDS}."
            )
        own = getattr(self, f"{kind}_seed")
        return self.seed if own is None else int(own)

    def settings(self) -> dict[str, Any]:
        """The settings as a flat dict (None values left out), as written to TOML."""
        values = dataclasses.asdict(self)
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in values.items()
            if value is not None
        }

    def fingerprint(self) -> str:
        """A hash of the settings that change the result (not ``out`` or ``epochs``).

        The backend is left out too: it runs the same math on the same mini-batches,
        so a run started on one continues on the other. The epochs count for
        ``warmup_cosine``, whose cosine ends at the last epoch.
        """
        values = self.settings()
        kept = ("epochs",) if self.decay == "warmup_cosine" else ()
        for key in ("out", "epochs", "checkpoint_every", "backend"):
            if key not in kept:
                values.pop(key, None)
        text = json.dumps(values, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def run_dir(self) -> Path:
        """``out`` or ``runs/<data>-<fingerprint>``."""
        if self.out:
            return Path(self.out)
        return Path("runs") / f"{Path(self.data).stem}-{self.fingerprint()[:8]}"


def _decay_problems(config: TrainConfig) -> list[str]:
    """What keeps the decay of ``config`` from working as asked."""
    decay, rate = config.decay, config.decay_rate
    problems = []
    if decay == "piecewise" and config.decay_boundaries is None:
        problems.append(
            "decay = 'piecewise' needs decay_boundaries, the epochs from which the "
            "rate is multiplied by decay_rate; give them, e.g. --decay-boundaries "
            "50,80 (decay_boundaries = [50, 80] in a config file)."
        )
    if decay == "piecewise" and rate == 0:
        problems.append(
            "decay_rate = 0 would stop piecewise's training at the first boundary; "
            "expected a factor > 0 such as 0.1."
        )
    if decay == "plateau" and rate is not None and not 0 < rate < 1:
        problems.append(
            f"decay_rate = {rate!r} would not lower the rate on a plateau; expected "
            "a factor in (0, 1) such as 0.1 or 0.5."
        )
    warmup = config.warmup_epochs or 0
    if decay == "warmup_cosine" and warmup >= config.epochs:
        problems.append(
            f"warmup_epochs = {warmup} leaves no epoch for the cosine of a "
            f"{config.epochs}-epoch run; expected warmup_epochs < epochs. Lower "
            "--warmup-epochs or raise --epochs."
        )
    return problems


def parse_layers(text: str) -> tuple[int, ...]:
    """Parse ``"10,5"`` into ``(10, 5)``.

    Example:
        >>> parse_layers("10, 5")
        (10, 5)
    """
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"expected comma-separated hidden layer sizes such as 10,5; got {text!r}."
        ) from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"hidden layer sizes must be positive integers; got {text!r}.")
    return sizes
