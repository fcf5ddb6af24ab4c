"""The recipe's story and journal: its steps as data, its trials kept on disk.

:mod:`nntune.experiment.recipe` runs the recipe; this module holds what it
records: each :class:`Step` (what was seen, what was changed, why, the errors),
the :class:`RecipeResult`, and ``recipe.json``, the journal every trial's result
is written to as it ends, from which a continued recipe reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write_text
from ..remedies import describe_run
from .config import TrainConfig
from .trial import PreparedData, train_trial

__all__ = ["RECIPE_FILE", "RecipeResult", "Step"]

RECIPE_FILE = "recipe.json"


@dataclass
class Step:
    """One step of the recipe: what was seen, what was changed, why, and the result.

    Attributes:
        name: e.g. ``"baseline"``, ``"high bias: bigger network"``, ``"tune"``.
        seen: what the recipe saw before acting (a diagnosis, a curve).
        changed: the settings changed (empty for an observation).
        why: the reason, in the course's terms.
        kept: whether the change was kept (it lowered the dev error).
        train_error, dev_error: of the model this step trained (None if none).
        settings: the whole configuration the step trained.
        seconds: the time the step took (0 for steps read back from the journal).
    """

    name: str
    seen: str
    changed: dict[str, Any] = field(default_factory=dict)
    why: str = ""
    kept: bool = False
    train_error: float | None = None
    dev_error: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable copy."""
        return dict(jsonable(dataclasses.asdict(self)))


@dataclass
class RecipeResult:
    """The story of a recipe and where its final run is.

    Attributes:
        steps: in order, from the baseline to the test set.
        settings: the chosen configuration.
        final: the final run's metrics (``train``, ``dev``, ``test``, diagnosis).
        run_dir: the final run's folder (model, history, metrics).
        folder: the recipe's folder (``recipe.json``, studies).
        task: ``binary``, ``multiclass`` or ``regression``.
        error_name: what the errors measure (``error rate`` or ``RMSE``).
    """

    steps: list[Step]
    settings: dict[str, Any]
    final: dict[str, Any]
    run_dir: Path
    folder: Path
    task: str
    error_name: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable copy (what ``nntune recipe --json`` prints)."""
        return dict(
            jsonable(
                {
                    "steps": [step.to_dict() for step in self.steps],
                    "settings": self.settings,
                    "final": self.final,
                    "run_dir": str(self.run_dir),
                    "folder": str(self.folder),
                    "task": self.task,
                    "error_name": self.error_name,
                }
            )
        )


class Journal:
    """``recipe.json``: every trial's result by its settings, written as it ends."""

    def __init__(self, folder: Path, inputs: dict[str, Any]) -> None:
        self.path = folder / RECIPE_FILE
        self.inputs = inputs
        self.trials: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                document = json.loads(self.path.read_text())
                same = document.get("inputs") == jsonable(inputs)
            except (OSError, ValueError, AttributeError):
                raise ValueError(
                    f"{self.path} is damaged (not the JSON nntune wrote); move it "
                    "away to start the recipe afresh."
                ) from None
            if not same:
                raise ValueError(
                    f"{folder} holds a recipe run with other inputs (settings, "
                    "budget, human-level error, trials, or data that changed since): "
                    f"{document.get('inputs')}. Use another --out folder, or the same "
                    "inputs to continue it."
                )
            self.trials = dict(document.get("trials", {}))
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, steps: list[Step], spent: float) -> None:
        document = {
            "inputs": self.inputs,
            "spent": spent,
            "trials": self.trials,
            "steps": [step.to_dict() for step in steps],
        }
        atomic_write_text(self.path, json.dumps(jsonable(document), indent=1) + "\n")


class RecipeState:
    """The state of one recipe run (see :func:`recipe`)."""

    def __init__(
        self,
        folder: Path,
        journal: Journal,
        budget: float,
        human_error: float | None,
        on_step: Callable[[Step], None] | None,
    ) -> None:
        self.folder, self.journal, self.budget = folder, journal, budget
        self.human_error = human_error
        self.on_step = on_step
        self.steps: list[Step] = []
        self.started = time.perf_counter()
        # The clock counts a result read back from the journal as the time it took
        # when it was made, so a continued recipe takes the same decisions.
        self.replayed = 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started + self.replayed

    def recorded(self, key: str) -> dict[str, Any] | None:
        """A result the journal holds (its time counted on the clock), or None."""
        found = self.journal.trials.get(key)
        if found is not None:
            self.replayed += float(found.get("seconds", 0.0))
        return found

    def record(self, key: str, found: dict[str, Any]) -> dict[str, Any]:
        """Keep ``found`` in the journal (written at once); return it as kept."""
        kept: dict[str, Any] = jsonable(found)
        self.journal.trials[key] = kept
        self.journal.write(self.steps, self.elapsed)
        return kept

    def left(self) -> float:
        return self.budget - self.elapsed

    def add(self, step: Step) -> None:
        self.steps.append(step)
        self.journal.write(self.steps, self.elapsed)
        if self.on_step is not None:
            self.on_step(step)

    def trial(self, config: TrainConfig, data: PreparedData) -> dict[str, Any]:
        """Train ``config`` (or read its result back from the journal)."""
        key = f"{config.fingerprint()}-{config.epochs}"
        found = self.recorded(key)
        if found is not None:
            return found
        started = time.perf_counter()
        result = train_trial(config, data)
        train_costs = result.history.column("train_cost")
        metrics = {"epochs_run": result.history.epochs_run, "data": described(data)}
        run = describe_run(self.folder, config.settings(), metrics, train_costs)
        found = {
            "train": result.train,
            "dev": result.dev,
            "epochs_run": result.history.epochs_run,
            "stopped_early": run.stopped_early,
            "cost_flat": run.cost_flat,
            "seconds": time.perf_counter() - started,
        }
        return self.record(key, found)


def make_step(
    name: str,
    seen: str,
    config: TrainConfig,
    found: dict[str, Any],
    changed: dict[str, Any],
) -> Step:
    errors = [
        _error_of(found.get(part, {})) if found else None for part in ("train", "dev")
    ]
    return Step(
        name,
        seen,
        changed,
        kept=True,
        train_error=errors[0],
        dev_error=errors[1],
        settings=config.settings(),
        seconds=float(found.get("seconds", 0.0)) if found else 0.0,
    )


def _error_of(metrics: Mapping[str, Any]) -> float | None:
    if not metrics:
        return None
    if "accuracy" in metrics:
        return 1.0 - float(metrics["accuracy"])
    return _rmse(metrics)


def task_error(task: str, metrics: Mapping[str, Any]) -> float:
    """The error the recipe compares: 1 - accuracy, or the RMSE for regression."""
    if task == "regression":
        return _rmse(metrics)
    return 1.0 - float(metrics.get("accuracy", math.nan))


def _rmse(metrics: Mapping[str, Any]) -> float:
    if "rmse" in metrics:
        return float(metrics["rmse"])
    return math.sqrt(float(metrics.get("cost", math.nan)))


def dev_error(data: PreparedData, found: Mapping[str, Any]) -> float:
    return task_error(data.dataset.task, found.get("dev", {}))


def changed_settings(before: TrainConfig, after: TrainConfig) -> dict[str, Any]:
    old, new = before.settings(), after.settings()
    return {k: v for k, v in new.items() if old.get(k) != v}


def described(data: PreparedData) -> dict[str, Any]:
    shape = data.dataset.image_shape
    return {"image_shape": list(shape) if shape else None}


def shown(values: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in values.items()
    )


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, NumPy scalars as numbers, paths as text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
