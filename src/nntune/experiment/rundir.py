"""The run writer: train one configuration and write its run directory.

This is what ``nntune train`` does, available from Python: :func:`run_training`
prepares the data (:func:`~nntune.experiment.trial.prepare_data`), trains a trial with
a checkpoint and gradient health watching it, evaluates the test set once at the end
(clearly labelled as the final evaluation), diagnoses the run and writes::

    runs/<name>/config.toml      every setting, to reproduce the run
    runs/<name>/model.safetensors + model.json
    runs/<name>/history.csv      per-epoch train/dev cost and accuracy, learning rate
    runs/<name>/history.json     the same with the per-iteration costs and changes
    runs/<name>/metrics.json     final train/dev/test metrics, epochs, timings
    runs/<name>/checkpoint.*     the latest checkpoint (a rerun resumes from it)

The report (``report.html``) is drawn by the interfaces (``nntune train`` does), never
here: workflows do not import the report layer.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import TEMPORARY, atomic_write_text, read_regular, recover
from ..data.datasets import Dataset
from ..data.split import split_warnings
from ..diagnosis import diagnose_metrics
from ..metrics.regression import target_std
from ..model import Sequential
from ..remedies import describe_run
from ..serialization import save_model
from ..training import (
    Callback,
    Checkpoint,
    GradientHealth,
    GradientHealthReport,
    History,
    gradient_health,
)
from .classification import threshold_record
from .config import TrainConfig

if TYPE_CHECKING:
    from .resume import Resume
from .trial import (
    PreparedData,
    TrialResult,
    evaluate_sets,
    evaluate_test,
    prepare_data,
    train_trial,
)

__all__ = [
    "RUN_FILES",
    "RunResult",
    "check_run_folder",
    "run_training",
    "write_config",
    "write_trained_run",
]


@dataclass
class RunResult:
    """What a run produced: the model, its history and the final metrics."""

    model: Sequential
    history: History
    metrics: dict[str, Any]
    run_dir: Path


RUN_FILES = frozenset(
    {
        "config.toml",
        "model.json",
        "model.safetensors",
        "history.csv",
        "history.json",
        "metrics.json",
        "report.html",
        "checkpoint.json",
        "checkpoint.safetensors",
        ".nntune.lock",
    }
)
"""The files a run folder holds."""

_HEADER = "# nntune train settings"


def check_run_folder(run_dir: Path, *, force: bool = False) -> None:
    """Refuse to write a run into a folder that holds other files, unless ``force``.

    A folder is a run folder when it is empty or its ``config.toml`` was written by
    nntune; writing into any other folder would replace a user's own
    ``config.toml`` or ``metrics.json``.

    Raises:
        ValueError: for a path that is a file, or a non-empty folder that is not an
            nntune run (without ``force``).
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(
            f"the run folder {run_dir} is a file; give --out a folder path (it is "
            "created if it does not exist)."
        )
    if force or not run_dir.is_dir():
        return
    entries = sorted(entry.name for entry in run_dir.iterdir())
    config = run_dir / "config.toml"
    try:
        ours = read_regular(config).startswith(_HEADER.encode())
    except (OSError, ValueError):
        ours = False
    # Empty, only what a (perhaps killed) run writes, or a run's own config.toml.
    only_run_files = all(_run_file(name) for name in entries)
    if not (ours or (only_run_files and not config.exists())):
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise ValueError(
            f"{run_dir} is not empty ({shown}) and is not an nntune run folder; a run "
            f"writes {', '.join(sorted(RUN_FILES & {'config.toml', 'metrics.json'}))} "
            "and more there. Choose a new or empty folder with --out, or pass --force "
            "to write into it anyway."
        )


def _run_file(name: str) -> bool:
    match = TEMPORARY.match(name)
    return (match.group("name") if match else name) in RUN_FILES


def run_training(
    config: TrainConfig,
    *,
    progress: str = "auto",
    final_evaluation: bool = True,
    force: bool = False,
    callbacks: Sequence[Callback] = (),
    resume: Resume | None = None,
) -> RunResult:
    """Split the data, build and train the model, write the run directory.

    A rerun with the same settings and folder resumes from the checkpoint there (and,
    when the run had finished, only reports it); another run's checkpoint is refused
    before anything in the folder is written. A write that a killed run left part-way
    is undone first (:func:`nntune._files.recover`).

    Args:
        config: the run's settings.
        progress: ``"auto"``, ``"rich"``, ``"plain"`` or ``"silent"``.
        final_evaluation: evaluate the test set at the end (under ``test`` in the
            metrics, with ``final_evaluation: true``); the test set is touched
            nowhere else.
        force: write into a non-empty folder that is not an nntune run.
        callbacks: more callbacks for the training (e.g. :class:`StopOnSignal`).
        resume: set by :func:`resume_training` (a run continued with changes).

    Raises:
        ValueError: for an unusable run folder or data.
        CheckpointError: when the folder's checkpoint belongs to other settings.
    """
    started = time.perf_counter()
    config.check_applicable()
    run_dir = config.run_dir()
    check_run_folder(run_dir, force=force)
    prepared = prepare_data(config)
    data = prepared.dataset
    every = config.checkpoint_every or max(1, config.epochs // 50)
    described = describe_data(data)
    # The data's own fingerprint too: a changed data file is not resumed. A resumed
    # run keeps the fingerprint of the settings it started with.
    start = resume.start if resume is not None else config
    fingerprint = f"{start.fingerprint()}-{described['fingerprint']}"
    checkpoint = Checkpoint(
        run_dir / "checkpoint", every=every, fingerprint=fingerprint
    )
    if resume is not None:
        callbacks = [*callbacks, resume.callback(checkpoint)]
    run_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(run_dir):
        if resume is not None:
            if not checkpoint.exists():
                raise ValueError(
                    f"{run_dir} has no checkpoint to resume from; `nntune train` "
                    "writes one (checkpoint.json and checkpoint.safetensors)."
                )
            resume.begin(run_dir, int(checkpoint.read()[0]["epoch"]))
        result = _run(
            config,
            prepared,
            run_dir,
            checkpoint,
            described,
            started,
            progress=progress,
            final_evaluation=final_evaluation,
            callbacks=callbacks,
            start=start,
        )
        if resume is not None:
            resume.end(result, checkpoint.resumed_from)
        return result


@contextlib.contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock: two runs writing one folder would mix files."""
    import fcntl

    with open(run_dir / ".nntune.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"another nntune run is writing into {run_dir} right now; wait for it "
                "to finish, or give this run another --out."
            ) from None
        yield


def _run(
    config: TrainConfig,
    prepared: PreparedData,
    run_dir: Path,
    checkpoint: Checkpoint,
    described: dict[str, Any],
    started: float,
    *,
    progress: str,
    final_evaluation: bool,
    callbacks: Sequence[Callback],
    start: TrainConfig,
) -> RunResult:
    data, split = prepared.dataset, prepared.split
    recovered = recover(run_dir)
    if checkpoint.exists():
        checkpoint.read()  # another run's checkpoint: refused before any write
    # The settings the run started with (a resumed run's changes go to its lineage).
    write_config(run_dir, start.settings())
    sample = split.train[:256]
    health = GradientHealth(
        data.X[sample], data.y[sample], every=max(1, config.epochs // 10)
    )
    trial = train_trial(
        config, prepared, [health, checkpoint, *callbacks], progress=progress
    )
    return write_trained_run(
        trial,
        prepared,
        run_dir,
        described,
        started,
        final_evaluation=final_evaluation,
        start=start,
        health=health.reports,
        resumed_from=checkpoint.resumed_from,
        recovered=recovered,
    )


def write_trained_run(
    trial: TrialResult,
    prepared: PreparedData,
    run_dir: Path,
    described: dict[str, Any],
    started: float,
    *,
    final_evaluation: bool = False,
    start: TrainConfig | None = None,
    health: Mapping[int, GradientHealthReport] | None = None,
    resumed_from: int | None = None,
    recovered: list[str] | None = None,
) -> RunResult:
    """Evaluate and diagnose a trained trial; write its run files but config.toml.

    What :func:`run_training` does once training ends, and ``nntune compare`` for
    each variant: the model (with its metadata), history and metrics. ``described``
    is :func:`describe_data` of ``prepared``; ``seconds`` counts from ``started`` (a
    :func:`time.perf_counter` value); ``start`` is the settings a resumed run
    started with; ``health`` the gradient-health reports by epoch.
    """
    config = trial.config
    start = start or config
    data, split = prepared.dataset, prepared.split
    sample = split.train[:256]
    model, history = trial.model, trial.history
    metrics: dict[str, Any] = {"train": trial.train}
    metrics.update(evaluate_sets(model, data, {"train_dev": split.train_dev}))
    if trial.dev:
        metrics["dev"] = trial.dev
    if final_evaluation and not history.interrupted:
        test = evaluate_test(model, prepared)
        if test:
            metrics["test"] = test
            metrics["final_evaluation"] = True
    metrics.update(
        {
            "epochs_run": history.epochs_run,
            "best_epoch": _best_epoch(history),
            "restored_best": history.best_epoch is not None,
            "resumed_from_epoch": resumed_from,
            "interrupted": history.interrupted,
            "task": data.task,
            "class_names": list(data.class_names),
            "data": described,
            "seconds": time.perf_counter() - started,
            "run_dir": str(run_dir),
            "warnings": split_warnings(
                data.y[split.dev],
                data.y[split.test],
                data.X[split.dev],
                data.X[split.test],
                task=data.task,
            ),
        }
    )
    threshold = threshold_record(config, model, split.dev)
    if threshold is not None:  # a binary classifier's, as predict uses it
        metrics["threshold"] = threshold
    if history.changes:
        metrics["changes"] = history.changes
    if recovered:
        metrics["recovered"] = recovered
    final_health = gradient_health(model, data.X[sample], data.y[sample])
    metrics["gradient_health"] = {
        "final": final_health.to_dict(),
        "verdict_by_epoch": {
            str(epoch): report.verdict
            for epoch, report in sorted((health or {}).items())
        },
    }
    if data.task == "regression":  # the unit of the regression diagnosis
        metrics["target_std"] = target_std(data.y[split.train])
    # Human-level error unknown here: 0 (Bayes error ~ 0); `nntune diagnose RUN
    # --human-error` redoes it with a better estimate.
    diagnosis = diagnose_metrics(
        metrics,
        # As config.toml holds them: what the remedies' commands start from.
        settings=start.settings(),
        run=describe_run(
            run_dir, start.settings(), metrics, history.column("train_cost")
        ),
    )
    if diagnosis is not None:
        metrics["diagnosis"] = diagnosis.to_dict()
    model.metadata = {
        "task": data.task,
        "class_names": list(data.class_names),
        "data": config.data,
        "fingerprint": start.fingerprint(),
        "data_fingerprint": described["fingerprint"],
        "target": described["target"],
        "feature_names": described["feature_names"],
    }
    save_model(model, run_dir / "model")
    history.to_csv(run_dir / "history.csv")
    history.to_json(run_dir / "history.json")  # with the per-iteration costs
    write_metrics(run_dir, metrics)
    return RunResult(model, history, metrics, run_dir)


def describe_data(data: Dataset) -> dict[str, Any]:
    """What a run trained on: the target, task, classes, features and fingerprint."""
    names = data.feature_names
    return {
        "name": data.name,
        "examples": len(data.X),
        "target": data.target,
        "task": data.task,
        "classes": list(data.class_names),
        "features": data.n_features,
        "feature_names": None if names is None else list(names),
        "fingerprint": data.fingerprint(),
        "image_shape": None if data.image_shape is None else list(data.image_shape),
    }


def write_config(run_dir: Path, settings: dict[str, Any]) -> None:
    """Write ``config.toml`` of a run, atomically (``--config`` reads it back)."""
    atomic_write_text(run_dir / "config.toml", _toml(settings))


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Write ``metrics.json`` of a run, atomically."""
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def _best_epoch(history: History) -> int | None:
    if history.best_epoch is not None:
        return history.best_epoch
    costs = history.column("dev_cost")
    if not costs or costs[0] is None:
        costs = history.column("train_cost")
    if not costs:
        return None
    return int(np.nanargmin(np.asarray(costs, dtype=float))) + 1


def _toml(settings: dict[str, Any]) -> str:
    import tomli_w

    return (
        f"{_HEADER}: nntune train --config config.toml reproduces the run\n"
        + tomli_w.dumps(settings)
    )
