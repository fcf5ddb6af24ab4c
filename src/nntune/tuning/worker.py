"""What a worker does with one trial: train it on prepared data, report plain data.

:func:`run_trial` is the same in the search's own process, in a local worker
process and in a Ray task: it takes a :class:`TrialSpec` (plain data), trains the
trial with :func:`~nntune.experiment.trial.train_trial` on data prepared once per
process (or handed over), prunes it by its rule, and returns a :class:`TrialOutcome`
(plain data again). It never touches the study's storage and never the test set; a
trial that raises is returned as ``failed`` with its error, so the search goes on.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..experiment.config import TrainConfig
from ..experiment.populations import population_key, train_population
from ..experiment.trial import PreparedData, TrialResult, prepare_data, train_trial
from ..training import Callback, Trainer
from .pruning import Pruner, PruneRule, dev_error

__all__ = ["TrialOutcome", "TrialSpec", "run_population", "run_trial"]

HISTORY_COLUMNS = (
    "train_cost",
    "dev_cost",
    "train_accuracy",
    "dev_accuracy",
    "learning_rate",
)


@dataclass(frozen=True)
class TrialSpec:
    """One trial to run: its number, every setting, and its pruning rule."""

    number: int
    settings: dict[str, Any]
    rule: PruneRule = field(default_factory=PruneRule)


@dataclass
class TrialOutcome:
    """What a trial produced, as plain data.

    ``state`` is ``complete``, ``pruned``, ``failed`` or ``lost`` (its worker
    died: it is run again); ``value`` the final dev
    error (lower is better; None when failed); ``curve`` the dev error per epoch;
    ``history`` the per-epoch columns; ``error`` the failure's message.
    """

    number: int
    state: str
    value: float | None = None
    train: dict[str, Any] = field(default_factory=dict)
    dev: dict[str, Any] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)
    history: dict[str, list[Any]] = field(default_factory=dict)
    epochs_run: int = 0
    seconds: float = 0.0
    error: str | None = None


class _Progress(Callback):
    def __init__(self, number: int, report: Callable[[int, int, int], None]) -> None:
        self.number, self.report = number, report

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        self.report(self.number, trainer.epoch, trainer.epochs)


def run_trial(
    spec: TrialSpec,
    data: PreparedData | None = None,
    on_epoch: Callable[[int, int, int], None] | None = None,
) -> TrialOutcome:
    """Train one trial and say how it went (never raises for a trial's own failure).

    Args:
        spec: the trial.
        data: prepared data with the trial's data settings (default: prepared here,
            once per process, by :func:`~nntune.experiment.trial.prepare_data`).
        on_epoch: called with ``(number, epoch, epochs)`` after every epoch.
    """
    started = time.perf_counter()
    try:
        config = TrainConfig.from_mapping(spec.settings, source=f"trial {spec.number}")
        prepared = data if data is not None else prepare_data(config)
        pruner = Pruner(spec.rule)
        callbacks: list[Callback] = [pruner]
        if on_epoch is not None:
            callbacks.append(_Progress(spec.number, on_epoch))
        result = train_trial(config, prepared, callbacks)
    except Exception as error:  # a trial's own failure: recorded, the search goes on
        return _failed(spec, error, time.perf_counter() - started)
    return _outcome(spec, result, pruner.pruned_at is not None, started)


def run_population(
    specs: list[TrialSpec],
    data: PreparedData | None = None,
    on_epoch: Callable[[int, int, int], None] | None = None,
) -> list[TrialOutcome]:
    """Run ``specs``, those that share an architecture as one population.

    Trials whose settings differ only in the members' own
    (:data:`~nntune.experiment.populations.MEMBER_SETTINGS`) and that no rule
    prunes train together (:func:`~nntune.experiment.populations.train_population`),
    each ending as it would alone; the others run one by one (:func:`run_trial`),
    and so does a member whose cost stopped being finite (alone, it fails with the
    divergence's message, as it would have).
    The outcomes come back in the order of ``specs``.
    """
    started = time.perf_counter()
    outcomes: dict[int, TrialOutcome] = {}
    groups: dict[Any, list[tuple[TrialSpec, TrainConfig]]] = {}
    for spec in specs:
        try:
            config = TrainConfig.from_mapping(
                spec.settings, source=f"trial {spec.number}"
            )
        except Exception as error:  # a trial's own failure
            outcomes[spec.number] = _failed(spec, error, 0.0)
            continue
        key = population_key(config) if spec.rule.kind == "none" else None
        groups.setdefault(key or ("alone", spec.number), []).append((spec, config))
    for members in groups.values():
        if len(members) == 1:
            spec = members[0][0]
            outcomes[spec.number] = run_trial(spec, data, on_epoch)
            continue
        try:
            configs = [config for _, config in members]
            prepared = data if data is not None else prepare_data(configs[0])
            results = train_population(configs, prepared)
        except Exception as error:  # the pass failed: every member says why
            for spec, _ in members:
                outcomes[spec.number] = _failed(
                    spec, error, time.perf_counter() - started
                )
            continue
        for (spec, _), result in zip(members, results, strict=True):
            if not all(math.isfinite(c) for c in result.history.iterations):
                # Its cost stopped being finite: alone, the run stops there with
                # the divergence's message (and the last finite weights).
                outcomes[spec.number] = run_trial(spec, data, on_epoch)
                continue
            outcomes[spec.number] = _outcome(spec, result, False, started)
            outcomes[spec.number].seconds = result.seconds
            if on_epoch is not None:
                epochs = result.config.epochs
                on_epoch(spec.number, result.history.epochs_run, epochs)
    return [outcomes[spec.number] for spec in specs]


def _failed(spec: TrialSpec, error: BaseException, seconds: float) -> TrialOutcome:
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return TrialOutcome(spec.number, "failed", error=last, seconds=seconds)


def _outcome(
    spec: TrialSpec, result: TrialResult, pruned: bool, started: float
) -> TrialOutcome:
    """The outcome of a trained trial (failed when it has no finite dev error)."""
    history = result.history
    columns = {
        name: [_plain(v) for v in history.column(name)]
        for name in HISTORY_COLUMNS
        if any(v is not None for v in history.column(name))
    }
    curve = [
        e
        for e in (dev_error(row) for row in history.epochs)
        if e is not None and math.isfinite(e)
    ]
    if result.dev:
        value = dev_error({f"dev_{k}": v for k, v in result.dev.items()})
    else:
        value = None
    if value is None or not math.isfinite(value):
        return TrialOutcome(
            spec.number,
            "failed",
            error="no dev set to score the trial on (dev = 0?); give the data a dev "
            "set, e.g. dev = 0.2."
            if value is None
            else f"the dev error is {value}",
            seconds=time.perf_counter() - started,
        )
    return TrialOutcome(
        number=spec.number,
        state="pruned" if pruned else "complete",
        value=float(value),
        train=_plain_dict(result.train),
        dev=_plain_dict(result.dev),
        curve=curve,
        history=columns,
        epochs_run=history.epochs_run,
        seconds=time.perf_counter() - started,
    )


def _plain(value: Any) -> Any:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain_dict(metrics: dict[str, Any]) -> dict[str, Any]:
    # The scalars only: a study keeps no per-class table or confusion matrix.
    return {
        k: (int(v) if k == "examples" else float(v))
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
