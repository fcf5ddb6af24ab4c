"""The basic recipe's remedies, made concrete for a run: one command to paste each.

Each problem the diagnosis finds (high bias, high variance, data mismatch, dev-set
overfit, unhealthy gradients) maps to remedies in the course's order. Given the run,
each becomes a structured change: settings and their new values (``{"l2": 0.1}``,
trained again as a new run beside the first) or a curve to draw (a learning curve; a
validation curve over values of one setting), rendered as one full command::

    nntune train --config runs/flower/config.toml --l2 0.1 --out runs/flower-l2
    nntune curves learning --config runs/flower/config.toml

Values are centred on the run's own, on the setting's scale: half a decade (to the
1-3-10 grid of a log scale) for the L2 strength and the learning rate, 0.1 of
``keep_prob`` (kept in [0.5, 1]), twice the units or the epochs. A list changes each
setting once (the biggest problem's remedy wins, so no list holds two values of
``keep_prob``) and leaves out what cannot help the run: a change it already has,
training longer when early stopping stopped it or its training cost had gone flat,
augmentation for data that are not images, a change that would make its
configuration invalid.

Without a run (errors given as numbers) ``<your settings>`` stands where the run's
``--config`` goes.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .experiment.config import DEFAULT_LEARNING_RATES, TrainConfig
from .experiment.settings import BY_NAME, check_setting, render_flags

__all__ = [
    "UNHEALTHY",
    "Recommendation",
    "Run",
    "as_dicts",
    "describe_run",
    "format_remedies",
    "recommend",
]

UNHEALTHY = ("symmetric", "exploding", "vanishing", "saturated")
YOUR_SETTINGS = "<your settings>"
FIRST_L2 = 0.1  # where L2 starts when the run had none
KEEP_PROB_STEP = 0.1
AUGMENTATION = "shift:1"  # label-preserving for photos and digits alike (flips are not)


@dataclass(frozen=True)
class Run:
    """What the remedies know of a run besides its settings.

    Attributes:
        folder: the run's folder: commands read ``FOLDER/config.toml`` and write
            next to it. None: no run (the errors were given as numbers).
        stopped_early: early stopping ended the run before its epochs.
        cost_flat: the training cost no longer fell at the end.
        images: the data are images (augmentation applies).
    """

    folder: str | None = None
    stopped_early: bool = False
    cost_flat: bool = False
    images: bool = False


def describe_run(
    folder: str | Path,
    settings: Mapping[str, Any],
    metrics: Mapping[str, Any],
    train_costs: Sequence[Any],
) -> Run:
    """A run's facts from its settings, ``metrics.json`` and training costs per epoch.

    Example:
        >>> run = describe_run("runs/a", {"epochs": 100, "early_stopping": True},
        ...                    {"epochs_run": 40}, [0.7, 0.5, 0.4, 0.3, 0.25])
        >>> run.folder, run.stopped_early, run.cost_flat
        ('runs/a', True, False)
    """
    path = Path(folder)
    try:
        epochs = int(settings.get("epochs", BY_NAME["epochs"].default))
        stopped = (
            settings.get("early_stopping") is True
            and int(metrics.get("epochs_run", epochs)) < epochs
            and not metrics.get("interrupted")
        )
    except (TypeError, ValueError):  # a damaged run folder: not known to have stopped
        stopped = False
    data = metrics.get("data")
    images = isinstance(data, Mapping) and bool(data.get("image_shape"))
    return Run(
        str(path if path.name else path.resolve()),
        stopped,
        _flat(train_costs),
        images,
    )


def _flat(costs: Sequence[Any]) -> bool:
    """Whether the cost fell by less than 1% over the last quarter of the epochs."""
    values = [float(c) for c in costs if isinstance(c, int | float)]
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 4:
        return False  # too short to tell
    earlier = values[-1 - max(2, len(values) // 4)]
    return earlier - values[-1] <= 0.01 * abs(earlier)


@dataclass(frozen=True)
class Recommendation:
    """One remedy of the basic recipe and the command that tries it.

    Attributes:
        problem, remedy, action: what it fixes, its name, and why (with the values).
        change: settings and their new values (``{"l2": 0.1}``) to train with; for a
            validation curve the one setting and the values to try. None for a
            remedy that is no setting (a learning curve, more data).
        curve: ``"learning"`` or ``"validation"`` for a curve instead of a run.
        run_dir: the run's folder (None: no run).
        flag: the change as arguments (``--l2 0.1``).
        command: the full command to paste, or None for advice without one.
    """

    problem: str
    remedy: str
    action: str
    change: dict[str, Any] | None = None
    curve: str | None = None
    run_dir: str | None = None
    flag: str | None = field(init=False)
    command: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flag", _arguments(self.change, self.curve))
        object.__setattr__(self, "command", _command(self))


def _arguments(change: dict[str, Any] | None, curve: str | None) -> str | None:
    if not change:
        return None
    if curve == "validation":
        ((name, values),) = change.items()
        return f"--param {name} --values {','.join(f'{v:g}' for v in values)}"
    return render_flags(change)


def _command(item: Recommendation) -> str | None:
    if item.curve is None and item.change is None:
        return None
    program = "nntune train" if item.curve is None else f"nntune curves {item.curve}"
    folder = item.run_dir
    config = (
        f"--config {shlex.quote(str(Path(folder, 'config.toml')))}"
        if folder
        else YOUR_SETTINGS
    )
    parts = [program, config, item.flag or ""]
    if item.curve is None and folder and item.change:
        suffix = "-".join(name.replace("_", "-") for name in item.change)
        parts.append(f"--out {shlex.quote(f'{folder}-{suffix}')}")
    return " ".join(part for part in parts if part)


def format_remedies(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The remedies as ``nntune train``, ``nntune diagnose`` and reports print them.

    Numbered, biggest problem first, each command on a line of its own to paste.

    Example:
        >>> item = Recommendation(
        ...     "high variance", "dropout", "drop units", {"keep_prob": 0.9}, None, "r"
        ... )
        >>> for line in format_remedies([asdict(item)]):
        ...     print(line)
        What to try, in order:
          1. dropout (high variance): drop units
             nntune train --config r/config.toml --keep-prob 0.9 --out r-keep-prob
    """
    lines = ["What to try, in order:"] if items else []
    for number, item in enumerate(items, start=1):
        lines.append(
            f"  {number}. {item['remedy']} ({item['problem']}): {item['action']}"
        )
        if item.get("command"):
            lines.append(f"     {item['command']}")
    return lines


def recommend(
    problems: Sequence[str],
    settings: Mapping[str, Any] | None = None,
    run: Run | None = None,
    gradient_health: tuple[str, Sequence[str]] | None = None,
) -> tuple[Recommendation, ...]:
    """The remedies for ``problems`` (biggest first) as commands for one run.

    This is the one list: ``nntune train``'s summary, ``nntune diagnose`` and the
    run's report all show it.

    Args:
        problems: as the diagnosis names them ("high bias", "high variance", "data
            mismatch", "overfit to the dev set"), biggest first.
        settings: the run's settings (its ``config.toml``); none: the defaults.
        run: what else is known of the run (:func:`describe_run`).
        gradient_health: ``(verdict, suggestions)``; an unhealthy network gets its
            initialization fixed first.

    Example:
        >>> [r.remedy for r in recommend(["high variance"])]
        ['more data', 'L2 regularization', 'dropout', 'early stopping']
        >>> recommend(["high variance"])[1].command
        'nntune train <your settings> --l2 0.1'
    """
    run = run or Run()
    try:
        config = TrainConfig.from_mapping(dict(settings or {}), source="the run")
    except ValueError:  # settings of another version: advice, but no commands
        config, run = TrainConfig(), Run()
    found: list[Recommendation] = []
    if gradient_health is not None and gradient_health[0] in UNHEALTHY:
        found.append(_fix_initialization(config, run, *gradient_health))
    for problem in problems:
        found.extend(_RECIPE[problem](config, run))
    kept: list[Recommendation] = []
    changed: set[str] = set()
    for item in found:
        if item.change is not None:
            if changed & set(item.change) or not _fits(config, item):
                continue
            changed |= set(item.change)
        if item.command is None or item.command not in {k.command for k in kept}:
            kept.append(item)
    return tuple(kept)


def _fits(config: TrainConfig, item: Recommendation) -> bool:
    """Whether the change makes a difference and a valid, applicable configuration."""
    change = dict(item.change or {})
    tried = [change]
    if item.curve == "validation":
        ((name, values),) = change.items()
        tried = [{name: value} for value in values]
    elif all(getattr(config, name) == value for name, value in change.items()):
        return False  # the run already has it
    settings = config.settings()
    try:
        for values in tried:
            for name, value in values.items():
                check_setting(name, value, "the remedy")
            TrainConfig.from_mapping({**settings, **values}).check_applicable()
    except ValueError:
        return False
    return True


def _log_step(value: float, steps: int) -> float:
    """``value`` moved ``steps`` half-decades on a log scale, to the 1-3-10 grid."""
    target = math.log10(value) + steps / 2
    decade = math.floor(target)
    grid = [m * 10.0**decade for m in (1, 3, 10)]
    nearest = min(grid, key=lambda v: abs(math.log10(v) - target))
    return float(f"{nearest:.1g}")


def _changes(
    config: TrainConfig, run: Run, problem: str
) -> Callable[..., Recommendation]:
    """A maker of remedies that train ``config`` again with some settings changed."""

    def shown(value: Any) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)

    def make(remedy: str, why: str, **change: Any) -> Recommendation:
        moves = ", ".join(
            f"{name} {shown(getattr(config, name))} -> {shown(value)}"
            for name, value in change.items()
        )
        return Recommendation(
            problem, remedy, f"{why} ({moves})", change, None, run.folder
        )

    return make


def _high_bias(config: TrainConfig, run: Run) -> list[Recommendation]:
    change = _changes(config, run, "high bias")
    items = []
    fitting = "can keep the network from fitting the training set"
    if config.l2 > 0:
        l2 = _log_step(config.l2, -1)
        items.append(change("weaker L2", f"strong L2 {fitting}", l2=l2))
    if config.keep_prob < 1:
        kept = min(1.0, round(config.keep_prob + KEEP_PROB_STEP, 2))
        items.append(change("less dropout", f"dropout {fitting}", keep_prob=kept))
    why = "more hidden units fit the training set better"
    bigger = tuple(2 * units for units in config.layers)
    items.append(change("bigger network", why, layers=bigger))
    if not (run.stopped_early or run.cost_flat):
        why = "more epochs, while the training cost still falls"
        items.append(change("train longer", why, epochs=2 * config.epochs))
    if config.optimizer in ("gd", "momentum"):
        why = "Adam usually fits faster than gradient descent"
        items.append(change("better optimization", why, optimizer="adam"))
    rate = config.learning_rate or DEFAULT_LEARNING_RATES.get(config.optimizer, 0.001)
    values = sorted({_log_step(rate, step) for step in (-2, -1, 1, 2)} | {rate})
    why = "the hyperparameter that matters most: a validation curve around the "
    why += f"current {rate:g}, on a log scale"
    items.append(
        Recommendation(
            "high bias",
            "tune the learning rate",
            why,
            {"learning_rate": tuple(values)},
            "validation",
            run.folder,
        )
    )
    return items


def _high_variance(config: TrainConfig, run: Run) -> list[Recommendation]:
    change = _changes(config, run, "high variance")
    why = "more training examples narrow the gap between training and dev error; a "
    why += "learning curve shows how much more would help"
    items = [
        Recommendation("high variance", "more data", why, None, "learning", run.folder)
    ]
    l2 = FIRST_L2 if config.l2 == 0 else _log_step(config.l2, 1)
    items.append(change("L2 regularization", "penalize large weights", l2=l2))
    floor = BY_NAME["keep_prob"].search[0]  # type: ignore[index]
    kept = max(floor, round(config.keep_prob - KEEP_PROB_STEP, 2))
    why = "randomly drop hidden units while training"
    items.append(change("dropout", why, keep_prob=kept))
    if run.images and not config.augment:
        why = "train on shifted copies of the images"
        items.append(change("data augmentation", why, augment=AUGMENTATION))
    why = "stop when the dev cost stops improving and keep the best weights"
    items.append(change("early stopping", why, early_stopping=True))
    return items


def _data_mismatch(config: TrainConfig, run: Run) -> list[Recommendation]:
    analysis = "look at dev errors to learn how dev data differ from training data"
    like = "collect more data like the dev set, or synthesize it"
    return [
        Recommendation("data mismatch", "error analysis", analysis),
        Recommendation("data mismatch", "make training data more like dev data", like),
    ]


def _dev_overfit(config: TrainConfig, run: Run) -> list[Recommendation]:
    dev = 0.2 if config.dev is None else config.dev  # the split's default shares
    room = 0.9 - (0.2 if config.test is None else config.test) - (config.train_dev or 0)
    bigger = round(min(1.5 * dev, room), 2)
    if bigger <= dev:
        return []
    change = _changes(config, run, "overfit to the dev set")
    return [change("bigger dev set", "the dev set was overfit by tuning", dev=bigger)]


_RECIPE = {
    "high bias": _high_bias,
    "high variance": _high_variance,
    "data mismatch": _data_mismatch,
    "overfit to the dev set": _dev_overfit,
}


def _fix_initialization(
    config: TrainConfig, run: Run, verdict: str, suggestions: Sequence[str]
) -> Recommendation:
    """The first remedy for unhealthy gradients: an initializer for the activation."""
    problem = f"gradients {verdict}"
    why = suggestions[0] if suggestions else f"the weights start {verdict}"
    better = "xavier" if config.activation in ("tanh", "sigmoid") else "he"
    if config.init == better:
        return Recommendation(problem, "fix the initialization", why)
    return _changes(config, run, problem)("fix the initialization", why, init=better)


def as_dicts(items: Sequence[Recommendation]) -> list[dict[str, Any]]:
    """The recommendations as JSON-serializable dicts (as ``metrics.json`` holds)."""
    return [asdict(item) for item in items]
