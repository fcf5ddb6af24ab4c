"""The basic recipe, run end to end: baseline, diagnose, fix, tune, test once.

The course's recipe is a loop: train; while the bias is high, use a bigger network,
train longer or tune the learning rate; while the variance is high, get more data
or regularize; then tune what matters most first, and look at the test set once.
:func:`recipe` runs that loop for the user and records why it did each thing:

1. **Baseline**: the data split by size, standardized inputs, He initialization,
   Adam, mini-batches and early stopping, the network sized to the inputs; its
   backpropagation gradient-checked once at initialization (float64).
2. **Diagnose and fix**: each round diagnoses the current model (bias against
   the human-level error, variance against the training error) and tries the
   remedies the diagnosis recommends (:func:`nntune.remedies.recommend`, the same
   list ``nntune train`` prints) in order, keeping the first that lowers the dev
   error; with high variance it draws a learning curve once to say whether more
   data would help. It stops when the diagnosis finds nothing left, when no
   remedy helps, or when its share of the budget is spent.
3. **Tune**: random, coarse-to-fine searches on the right scales in the course's
   order of importance: the learning rate first (log scale; one population where
   it can), then ``beta1`` (one-minus-log scale) and the mini-batch size; last the
   hidden units, the number of layers and the decay, a few configurations each. A
   result replaces the model only when its dev error is lower.
4. **Final**: the chosen settings trained as a run folder (model, history, report
   files) and evaluated on the test set, once.

Every trial's result is written to ``OUT/recipe.json`` as it ends and the searches
keep their trials in their study store (``OUT/studies``, or ``storage``), so a
recipe that was interrupted continues where it stopped when run again: the trials
it already has are read back instead of trained, and it takes the same decisions.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..diagnosis import diagnose
from ..regression_diagnosis import diagnose_regression
from ..remedies import Recommendation, Run
from .config import DEFAULT_LEARNING_RATES, TrainConfig
from .recipe_story import (
    Journal,
    RecipeResult,
    RecipeState,
    Step,
    changed_settings,
    dev_error,
    jsonable,
    make_step,
    task_error,
)
from .recipe_tune import learning_curve_step, structure_steps, tune_steps
from .trial import PreparedData, build_model, prepare_data

__all__ = ["RecipeResult", "Step", "baseline", "recipe"]

FIX_SHARE = 0.45
"""The share of the budget the diagnose-and-fix rounds may use."""
MAX_ROUNDS = 8
TUNE_TRIALS = 12
"""Trials of each search (fewer when the time runs out)."""


def baseline(settings: Mapping[str, Any], n_features: int, m: int) -> TrainConfig:
    """The recipe's first model: the course's sensible defaults, sized to the data.

    He initialization, Adam, early stopping on the dev cost, standardized inputs,
    and two hidden layers of ``clip(2 n_features, 16, 128)`` and half as many
    units; mini-batches of 64 (128 from 10,000 examples). ``settings`` override
    any of them (a recipe can start from a network of one unit).

    Example:
        >>> config = baseline({"data": "digits"}, n_features=64, m=1797)
        >>> config.layers, config.optimizer, config.early_stopping
        ((128, 64), 'adam', True)
    """
    units = int(np.clip(2 * n_features, 16, 128))
    chosen: dict[str, Any] = {
        "layers": (units, max(8, units // 2)),
        "init": "he",
        "optimizer": "adam",
        "batch_size": 128 if m >= 10_000 else 64,
        "epochs": 200,
        "early_stopping": True,
        "patience": 15,
        "standardize": True,
    }
    chosen.update(settings)
    if not chosen["early_stopping"] and "patience" not in settings:
        del chosen["patience"]  # the baseline's patience only goes with its stopping
    return TrainConfig.from_mapping(chosen, source="the recipe")


def recipe(
    settings: Mapping[str, Any],
    *,
    out: str | Path = "recipe",
    budget: str | float = "10m",
    human_error: float | None = None,
    storage: str | None = None,
    engine: str = "local",
    workers: int = 1,
    trials: int = TUNE_TRIALS,
    on_step: Callable[[Step], None] | None = None,
    run_final: Callable[[TrainConfig], Any] | None = None,
) -> RecipeResult:
    """Run the basic recipe on ``settings``'s data (see the module docstring).

    Args:
        settings: the data (``{"data": "digits"}``, a file and its ``target``) and
            any setting to start from instead of the baseline's (``layers``...).
        out: the recipe's folder; run again with the same inputs, it continues.
        budget: the time the recipe may take (``"10m"``, seconds).
        human_error: human-level error (Bayes error proxy): an error rate for
            classification, an RMSE in the target's units for regression (0 if
            unknown).
        storage: the searches' study store (a database URL; default files in
            ``OUT/studies``).
        engine: the searches' engine, ``"local"`` or ``"ray"``.
        workers: trials at once in the searches.
        trials: trials of each search (fewer when the time runs out).
        on_step: called with each :class:`Step` as it is recorded.
        run_final: trains the final configuration as a run folder and returns its
            :class:`~nntune.experiment.rundir.RunResult` (default
            :func:`~nntune.experiment.rundir.run_training`; the CLI passes one that
            also writes the run's report).

    Returns:
        The story: every step, the chosen settings and the final run's metrics.

    Raises:
        ValueError: for bad settings or data, or a folder that holds another recipe.
    """
    from ..tuning.search import parse_duration
    from .rundir import run_training

    seconds = parse_duration(budget)
    if seconds is None:
        raise ValueError("budget must be a duration such as '10m' or 600 (seconds).")
    if human_error is not None and not (
        isinstance(human_error, int | float) and 0 <= human_error < math.inf
    ):
        raise ValueError(f"human_error must be a number >= 0; got {human_error!r}.")
    folder = Path(out)
    given = dict(settings)
    given.pop("out", None)
    probe = TrainConfig.from_mapping(given, source="the recipe")
    data = prepare_data(probe)
    config = baseline(given, data.dataset.n_features, len(data.split.train))
    config.check_applicable()
    if not len(data.split.dev):
        raise ValueError("the recipe diagnoses on a dev set; set dev above 0.")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1; got {trials!r}.")
    inputs = {
        "settings": given,
        "budget": seconds,
        "human_error": human_error,
        "trials": trials,
        "data_fingerprint": data.dataset.fingerprint(),
    }
    state = RecipeState(folder, Journal(folder, inputs), seconds, human_error, on_step)
    task = data.dataset.task
    state.add(_gradient_check(config, data))
    current = state.trial(config, data)
    state.add(make_step("baseline", "the course's defaults", config, current, {}))
    config, current = _fix(state, config, current, data)
    searches = {"storage": storage, "engine": engine, "workers": workers}
    config, current = tune_steps(state, config, current, data, trials, searches)
    config, current = structure_steps(state, config, current, data)
    final_config = dataclasses.replace(config, out=str(folder / "final"))
    finish = run_final or (lambda c: run_training(c, progress="silent"))
    started = time.perf_counter()
    result = finish(final_config)
    metrics = dict(result.metrics)
    test_error = task_error(task, metrics.get("test", {}))
    state.add(
        Step(
            "final",
            f"the chosen settings trained as {final_config.out}",
            {},
            "evaluate the chosen model on the test set, once, at the end",
            True,
            task_error(task, metrics.get("train", {})),
            task_error(task, metrics.get("dev", {})),
            final_config.settings(),
            time.perf_counter() - started,
        )
    )
    metrics["test_error"] = test_error
    return RecipeResult(
        state.steps,
        final_config.settings(),
        jsonable(metrics),
        Path(final_config.out or folder / "final"),
        folder,
        task,
        "RMSE" if task == "regression" else "error rate",
    )


def _gradient_check(config: TrainConfig, data: PreparedData) -> Step:
    """Check the baseline's backpropagation once, at initialization, in float64."""
    from ..gradcheck import gradient_check

    started = time.perf_counter()
    rows = data.split.train[:64]
    X, y = data.dataset.X[rows], data.dataset.y[rows]
    checked = dataclasses.replace(config, dtype="float64", keep_prob=1.0)
    model = build_model(checked, data.dataset, X, y)
    report = gradient_check(model, X, y, max_entries=50)
    seen = f"backpropagation against two-sided differences: {report.explain()}"
    return Step(
        "gradient check",
        seen,
        {},
        "a bug in backpropagation would make every later step meaningless",
        report.passed,
        settings=checked.settings(),
        seconds=time.perf_counter() - started,
    )


def _fix(
    state: RecipeState, config: TrainConfig, current: dict[str, Any], data: PreparedData
) -> tuple[TrainConfig, dict[str, Any]]:
    """Diagnose and fix, round after round (see the module docstring)."""
    curve_drawn = False
    for _ in range(MAX_ROUNDS):
        problems, seen, remedies = _diagnose(state, config, current, data)
        if not problems:
            state.add(Step("diagnosis", seen, why="nothing left to fix: tune next"))
            break
        if state.elapsed > FIX_SHARE * state.budget:
            why = "the diagnose-and-fix share of the budget is spent: tune next"
            state.add(Step("diagnosis", seen, why=why))
            break
        why = "try the remedies in the course's order; keep the first that lowers "
        why += "the dev error"
        state.add(Step("diagnosis", seen, why=why))
        if "high variance" in problems and not curve_drawn:
            curve_drawn = True
            state.add(learning_curve_step(state, config, data))
        verdict = seen.split(":")[0]
        improved = False
        for remedy in remedies:
            if state.elapsed > FIX_SHARE * state.budget:
                break
            for candidate in _candidates(config, remedy):
                found = state.trial(candidate, data)
                changed = changed_settings(config, candidate)
                kept = dev_error(data, found) < dev_error(data, current)
                name = f"{remedy.problem}: {remedy.remedy}"
                step = make_step(name, verdict, candidate, found, changed)
                step.why, step.kept = remedy.action, kept
                state.add(step)
                if kept:
                    config, current, improved = candidate, found, True
                    break
            if improved:
                break
        if not improved:
            why = "no remedy lowered the dev error: tune next"
            state.add(Step("diagnosis", verdict, why=why))
            break
    return config, current


def _candidates(config: TrainConfig, remedy: Recommendation) -> list[TrainConfig]:
    """The configurations a remedy tries: one, or a validation curve's values."""
    if remedy.change is None:
        return []
    if remedy.curve == "validation":
        ((name, values),) = remedy.change.items()
        current = getattr(config, name)
        if name == "learning_rate" and current is None:
            current = DEFAULT_LEARNING_RATES.get(config.optimizer, 0.001)
        return [
            TrainConfig.from_mapping({**config.settings(), name: value})
            for value in values
            if value != current
        ]
    return [TrainConfig.from_mapping({**config.settings(), **remedy.change})]


def _diagnose(
    state: RecipeState, config: TrainConfig, current: dict[str, Any], data: PreparedData
) -> tuple[tuple[str, ...], str, tuple[Recommendation, ...]]:
    """The problems of the current model, what was seen, and the remedies."""
    task = data.dataset.task
    train, dev = task_error(task, current["train"]), task_error(task, current["dev"])
    run = Run(
        str(state.folder),
        bool(current["stopped_early"]),
        bool(current["cost_flat"]),
        data.dataset.image_shape is not None,
    )
    common: dict[str, Any] = {
        "train_error": train,
        "dev_error": dev,
        "human_error": state.human_error or 0.0,
        "settings": config.settings(),
        "examples": {"train": len(data.split.train), "dev": len(data.split.dev)},
        "run": run,
    }
    if task == "regression":
        targets = np.asarray(data.dataset.y[data.split.train], dtype=float)
        scale = float(np.mean(np.std(targets, axis=0)))
        found = diagnose_regression(target_std=scale, **common)
    else:
        found = diagnose(**common)
    seen = f"{found.verdict}: " + "; ".join(found.explanation)
    return found.problems, seen, found.recommendations
