"""The loop of a search: start trials, hand them to an engine, record what returns.

:class:`Search` owns the study while a search runs (:func:`~.search.tune` builds
it): it recovers trials a killed search left running, starts trials while the
study's budget allows (counting every search that shares the study), draws each
trial's values by the strategy (retries first), asks Optuna for the trial, keeps its
heartbeat, and tells Optuna how it ended. A signal or a crash of the search marks
its running trials interrupted, so the next search runs them again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..experiment.config import TrainConfig
from ..experiment.trial import PreparedData
from .heartbeat import Heartbeat
from .pruning import rule_for
from .sampling import distribution, model_based
from .space import Space
from .strategies import zoom
from .study import (
    HEARTBEAT_ATTR,
    RESULT_ATTR,
    RUN_ATTR,
    Study,
    TrialRecord,
    owner,
)
from .worker import TrialOutcome, TrialSpec

__all__ = ["Search", "TuneEvent"]


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


class Search:
    """One search over a study (see the module's docstring)."""

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
        taken = 0  # running or finished, interrupted trials aside (they run again)
        for trial in self.study.optuna.get_trials(deepcopy=False):
            if trial.state == states.FAIL:
                taken += not trial.user_attrs.get(RESULT_ATTR, {}).get("interrupted")
            elif trial.state != states.WAITING:
                taken += 1
        return taken < self.budget

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
