"""The search: propose trials, run them on an engine, record them in the study.

:func:`tune` is ``nntune tune`` from Python. One process (this one) owns the study:
it draws each trial's values, asks Optuna for a trial with them, hands the trial to
an engine (this process, local worker processes, or Ray), and records what came
back. Workers never write the study, so any number of them is safe with the
embedded store; several searches (on several machines) may share one study through
a database URL.

Strategies:

- ``random`` (the default, the course's advice): each setting drawn on its own
  scale; trial ``k`` of a seed always draws the same values, whatever the workers.
- ``grid``: every combination of ``grid_points`` values per setting on its scale.
- ``coarse-to-fine``: ``rounds`` rounds of random search, each zoomed into the
  region of the best trials so far (:func:`~nntune.tuning.zoom`); each round is
  recorded with its space and parent.
- ``tpe``, ``cmaes``, ``gp``: Optuna's model-based samplers, run over each setting's
  own scale (the unit interval of :class:`~nntune.tuning.Dimension`), so they too
  see a beta on the scale of ``1 - beta``; the trials store the values themselves.

A killed search loses no finished trial: running it again recovers the trials its
processes left running (they are marked ``interrupted`` and run again with the
same values) and goes on until the study has ``trials`` finished trials.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..experiment.config import TrainConfig
from ..experiment.trial import PreparedData, prepare_data
from .engines import ENGINES, InlineEngine, LocalEngine, RayEngine
from .heartbeat import Heartbeat
from .pruning import PRUNERS, rule_for
from .sampling import check_sampler_packages, distribution, model_based
from .space import Space, load_space
from .strategies import grid, zoom
from .study import (
    HEARTBEAT_ATTR,
    RESULT_ATTR,
    RUN_ATTR,
    Study,
    TrialRecord,
    create_or_continue,
    owner,
)
from .worker import TrialOutcome, TrialSpec

__all__ = ["STRATEGIES", "TuneEvent", "parse_duration", "tune"]

STRATEGIES = ("random", "grid", "coarse-to-fine", "tpe", "cmaes", "gp")


@dataclass(frozen=True)
class TuneEvent:
    """What the search tells its watcher (a progress view).

    ``kind`` is ``started`` (a trial began), ``epoch`` (a trial finished an epoch),
    ``finished`` (a trial ended: ``record`` holds it) or ``recovered`` (a trial a
    killed search left running is to be run again).
    """

    kind: str
    number: int
    record: TrialRecord | None = None
    epoch: int = 0
    epochs: int = 0


def parse_duration(text: str | float | None) -> float | None:
    """Seconds of ``"90s"``, ``"10m"``, ``"1.5h"`` or a number of seconds.

    Raises:
        ValueError: for anything else.
    """
    if text is None or isinstance(text, int | float):
        if text is not None and not text > 0:
            raise ValueError(f"a time limit must be above 0 seconds; got {text}.")
        return None if text is None else float(text)
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(
            f"time limit {text!r}: expected a number with s, m or h, e.g. 90s, 10m "
            "or 1.5h."
        )
    return seconds


def tune(
    space: Space | Mapping[str, Any] | str | Path,
    *,
    study: str | Path = "studies/study",
    trials: int | None = None,
    time_limit: str | float | None = None,
    workers: int = 1,
    strategy: str = "random",
    rounds: int = 3,
    grid_points: int = 3,
    pruner: str = "none",
    storage: str | None = None,
    engine: str = "local",
    address: str | None = None,
    seed: int = 0,
    base: Mapping[str, Any] | None = None,
    on_event: Callable[[TuneEvent], None] | None = None,
) -> Study:
    """Search the space and return the study (continued if it exists).

    Args:
        space: a :class:`Space`, a space file's path, or a mapping with ``space``
            (and ``base``) tables as in a space file.
        study: the study folder (created, or continued with the same search).
        trials: the finished trials the study should hold (default 20; a grid's
            size for ``grid``). Continuing a study with more trials runs the rest.
        time_limit: stop starting trials after this long (``"10m"``, seconds).
        workers: trials at once: local processes (``engine="local"``) or Ray tasks.
        strategy: one of :data:`STRATEGIES`.
        rounds: coarse to fine's rounds.
        grid_points: a grid's values per setting.
        pruner: ``"none"``, ``"median"`` or ``"halving"`` (see :mod:`.pruning`).
        storage: a database URL; default the study folder's journal file.
        engine: ``"local"`` or ``"ray"``.
        address: the Ray cluster (``"auto"``, ``HOST:PORT``; default a local Ray).
        seed: the seed of the draws (the trials' training seeds are the space's).
        base: settings that override the space's ``[base]`` (e.g. ``data``).
        on_event: called with a :class:`TuneEvent` as trials start and end.

    Raises:
        ValueError: for a bad space, option, data set, or a study folder that holds
            another search.
    """
    if not isinstance(space, Space):
        space = _as_space(space)
    if base:
        space = Space.from_mapping(
            {n: d.to_dict() for n, d in space.dimensions.items()},
            {**space.base, **base},
        )
    if strategy not in STRATEGIES:
        raise ValueError(
            f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}."
        )
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected local or ray.")
    if pruner not in PRUNERS:
        raise ValueError(f"unknown pruner {pruner!r}; expected one of {PRUNERS}.")
    for name, value in (("workers", workers), ("rounds", rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    if strategy in ("cmaes", "gp"):
        check_sampler_packages(strategy)
    from ..experiment.trial import DATA_SETTINGS

    data_settings = sorted(set(space.dimensions) & {*DATA_SETTINGS, "out"})
    if data_settings:
        raise ValueError(
            f"{', '.join(data_settings)} cannot be searched: every trial of a study "
            "is scored on the same data and split (and writes no folder). Fix them in "
            "[base]; to search seeds, use init_seed or shuffle_seed."
        )
    points = grid(space, grid_points) if strategy == "grid" else []
    budget = trials if trials is not None else (len(points) if points else 20)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"trials must be an integer >= 1; got {trials!r}.")
    if points and budget < len(points):
        # Part of a grid: its points in a seeded random order, so that the trials
        # spread over the whole grid rather than its first corner.
        order = np.random.default_rng(seed).permutation(len(points))
        points = [points[i] for i in order]
    seconds = parse_duration(time_limit)
    prepared = _prepare(space)
    options = {
        "strategy": strategy,
        "seed": seed,
        "rounds": rounds if strategy == "coarse-to-fine" else None,
        "grid_points": grid_points if strategy == "grid" else None,
        "pruner": pruner,
    }
    found = create_or_continue(Path(study), space, options, storage)
    search = _Search(found, prepared, budget, seconds, points, on_event)
    if engine == "ray":
        search.run(RayEngine(prepared, address, workers if workers > 1 else None))
    elif workers == 1:
        search.run(InlineEngine(prepared, search.epoch_event))
    else:
        search.run(LocalEngine(prepared, workers, search.epoch_event))
    return found


def _as_space(space: Mapping[str, Any] | str | Path) -> Space:
    if isinstance(space, str | Path):
        return load_space(space)
    if "space" in space:
        return Space.from_mapping(space["space"], space.get("base"))
    return Space.from_mapping(space)


def _prepare(space: Space) -> PreparedData:
    """Check the base settings and one draw, and prepare the data once."""
    config = TrainConfig.from_mapping(space.base, source="the space's [base]")
    config.check_applicable()
    prepared = prepare_data(config)
    if not len(prepared.split.dev):
        raise ValueError(
            "tuning scores trials on the dev set, and this split has none; set dev "
            "in [base] (e.g. dev = 0.2)."
        )
    return prepared


class _Search:
    def __init__(
        self,
        study: Study,
        data: PreparedData,
        budget: int,
        seconds: float | None,
        points: list[dict[str, Any]],
        on_event: Callable[[TuneEvent], None] | None,
    ) -> None:
        self.study, self.data, self.budget = study, data, budget
        self.space = study.space
        self.options = study.meta
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.points = points
        self.on_event = on_event
        self.stopping = False
        self.distributions = {
            name: distribution(d) for name, d in self.space.dimensions.items()
        }
        self.epochs = int(TrainConfig.from_mapping(self.space.base).epochs)

    def emit(self, event: TuneEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def epoch_event(self, number: int, epoch: int, epochs: int) -> None:
        self.emit(TuneEvent("epoch", number, epoch=epoch, epochs=epochs))

    def stop(self) -> None:
        """Start no more trials; the running ones finish (a signal handler)."""
        self.stopping = True

    # -- the loop ---------------------------------------------------------------

    def run(self, engine: Any) -> None:
        for lost in self.study.recover():
            self.emit(TuneEvent("recovered", lost.number, lost))
        self.finished = [r for r in self.study.trials if r.counted]
        running: dict[Future[TrialOutcome], tuple[Any, int]] = {}
        starting: Any = None
        beats = Heartbeat()
        try:
            with beats:
                while True:
                    engine.poll()
                    while self._may_start(running, engine.workers):
                        started = self._start(running)
                        if started is None:
                            break
                        trial, spec, round_ = started
                        starting = trial  # the inline engine trains inside submit
                        beats.add(trial)
                        self.emit(TuneEvent("started", trial.number))
                        running[engine.submit(spec)] = (trial, round_)
                        starting = None
                    if not running:
                        break
                    done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        trial, _ = running[future]
                        self._tell(trial, _outcome(future, trial.number))
                        beats.remove(trial)
                        del running[future]  # only now: a signal mid-tell interrupts
        except BaseException:
            # Ctrl-C, SIGTERM or a crash of the search itself: the running trials
            # are interrupted (run again by the next search), never lost.
            unfinished = [trial for trial, _ in running.values()]
            if starting is not None:
                unfinished.append(starting)
            for trial in unfinished:
                self._interrupt(trial)
            raise
        finally:
            engine.close()

    def _may_start(self, running: Mapping[Any, Any], workers: int) -> bool:
        """Whether to start a trial now: the study's count, with every search's."""
        if self.stopping or len(running) >= workers:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        import optuna

        states = optuna.trial.TrialState
        busy = self.study.optuna.get_trials(
            deepcopy=False, states=(states.RUNNING, states.COMPLETE, states.PRUNED)
        )
        failed = self.study.optuna.get_trials(deepcopy=False, states=(states.FAIL,))
        counted_failures = sum(
            1
            for t in failed
            if not t.user_attrs.get(RESULT_ATTR, {}).get("interrupted")
        )
        return len(busy) + counted_failures < self.budget

    # -- proposing ----------------------------------------------------------------

    def _start(
        self, running: Mapping[Any, tuple[Any, int]]
    ) -> tuple[Any, TrialSpec, int] | None:
        """Ask the study for the next trial and give it its values (None: wait)."""
        records = self.study.trials
        retried = {r.retry_of for r in records if r.retry_of is not None}
        retry = next(
            (
                r
                for r in records
                if r.state == "interrupted" and r.number not in retried
            ),
            None,
        )
        strategy = self.options["strategy"]
        slot = sum(1 for r in records if r.retry_of is None)  # this original draw
        round_ = 0
        if retry is not None:
            values, round_ = retry.params, retry.round
        elif strategy == "grid":
            if slot >= len(self.points):
                return None
            values = self.points[slot]
        else:
            if strategy == "coarse-to-fine":
                round_ = slot // self._per_round()
                if any(r < round_ for _, r in running.values()):
                    return None  # a round starts when the one before it has ended
                space = self._round_space(round_)
            else:
                space = self.space
            rng = np.random.default_rng([self.options["seed"], slot])
            if strategy in ("random", "coarse-to-fine"):
                values = space.sample(rng)
            else:
                values = model_based(
                    self.space, self.finished, strategy, int(rng.integers(2**31))
                )
        return self._ask(values, round_, None if retry is None else retry.number)

    def _per_round(self) -> int:
        """Coarse to fine's trials per round, fixed when the study began."""
        stored = self.study.optuna.user_attrs.get("trials_per_round")
        if isinstance(stored, int) and stored > 0:
            return stored
        per_round = math.ceil(self.budget / int(self.options["rounds"]))
        self.study.optuna.set_user_attr("trials_per_round", per_round)
        return int(per_round)

    def _round_space(self, round_: int) -> Space:
        rounds = self.study.rounds
        if round_ < len(rounds):
            stored = rounds[round_]["space"]
            return Space.from_mapping(stored, self.space.base)
        if round_ == 0:
            space = self.space
        else:
            done = [
                (r.params, r.value)
                for r in self.finished
                if r.value is not None and r.round < round_
            ]
            space = zoom(self.space, done, keep=0.1) if done else self.space
        entry = {
            "round": round_,
            "parent": round_ - 1 if round_ else None,
            "space": {n: d.to_dict() for n, d in space.dimensions.items()},
        }
        self.study.optuna.set_user_attr("rounds", [*rounds, entry])
        return space

    # -- asking and telling -----------------------------------------------------------

    def _ask(
        self, values: dict[str, Any], round_: int, retry_of: int | None
    ) -> tuple[Any, TrialSpec, int]:
        self.study.sampler.values = values
        trial = self.study.optuna.ask(
            {name: self.distributions[name] for name in values}
        )
        run: dict[str, Any] = {"owner": owner(), "round": round_}
        if retry_of is not None:
            run["retry_of"] = retry_of
        trial.set_user_attr(RUN_ATTR, run)
        trial.set_user_attr(HEARTBEAT_ATTR, time.time())
        rule = rule_for(
            self.options["pruner"],
            [r.curve for r in self.finished if r.state != "failed"],
            [r.state == "pruned" for r in self.finished if r.state != "failed"],
            epochs=self.epochs,
            warmup=max(1, self.epochs // 10),
            min_epochs=max(1, self.epochs // 9),
        )
        spec = TrialSpec(trial.number, self.space.settings(values), rule)
        return trial, spec, round_

    def _tell(self, trial: Any, outcome: TrialOutcome) -> None:
        import optuna

        result: dict[str, Any] = {
            "train": outcome.train,
            "dev": outcome.dev,
            "curve": outcome.curve,
            "history": outcome.history,
            "seconds": round(outcome.seconds, 4),
            "epochs_run": outcome.epochs_run,
        }
        if outcome.error:
            result["error"] = outcome.error
        states = optuna.trial.TrialState
        if outcome.state == "lost":
            self._lose(trial, outcome)
            return
        try:
            trial.set_user_attr(RESULT_ATTR, result)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another search took this trial for lost (no heartbeat in time) and runs
            # it again; its result is that trial's to record.
            return
        if outcome.state == "complete":
            self.study.optuna.tell(trial, outcome.value)
        elif outcome.state == "pruned":
            if outcome.curve:
                trial.report(outcome.curve[-1], len(outcome.curve))
            self.study.optuna.tell(trial, state=states.PRUNED)
        else:
            self.study.optuna.tell(trial, state=states.FAIL)
        record = self.study.trial(trial.number)
        self.finished.append(record)
        self.emit(TuneEvent("finished", trial.number, record))

    def _lose(self, trial: Any, outcome: TrialOutcome) -> None:
        """A trial whose worker died: run again as a new trial, 3 tries at most."""
        import optuna

        by_number = {r.number: r for r in self.study.trials}
        tries, first = 1, by_number[trial.number]
        while first.retry_of is not None and first.retry_of in by_number:
            first, tries = by_number[first.retry_of], tries + 1
        result: dict[str, Any] = {"error": outcome.error or "its worker died"}
        if tries < 3:
            result["interrupted"] = True  # the next start runs it again
        else:
            result["error"] += f" (the values of trial {first.number}, 3 times)"
        trial.set_user_attr(RESULT_ATTR, result)
        self.study.optuna.tell(trial, state=optuna.trial.TrialState.FAIL)
        record = self.study.trial(trial.number)
        if record.counted:
            self.finished.append(record)
        self.emit(TuneEvent("finished", trial.number, record))

    def _interrupt(self, trial: Any) -> None:
        import optuna

        try:
            trial.set_user_attr(
                RESULT_ATTR, {"interrupted": True, "error": "the search was stopped"}
            )
            self.study.optuna.tell(trial, state=optuna.trial.TrialState.FAIL)
        except Exception:
            return


def _outcome(future: Future[TrialOutcome], number: int) -> TrialOutcome:
    try:
        return future.result()
    except Exception as error:  # the worker itself died (killed, out of memory)
        return TrialOutcome(
            number,
            "lost",
            error=f"its worker died: {type(error).__name__}: {error}",
        )
