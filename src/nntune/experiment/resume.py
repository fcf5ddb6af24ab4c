"""Babysitting ("pandas"): continue a paused run with changed settings.

:func:`resume_training` is ``nntune resume RUN``: it reads the run's settings, checks
the changes (the learning rate, ``l2``, ``l1`` and ``keep_prob`` change from the
next step on; the loop's epochs, batch size, early stopping and patience for the
rest of the run; anything that would not fit the paused state is refused with the
reason) and continues the run from its checkpoint through
:func:`~.rundir.run_training`. The run's ``config.toml`` stays the settings it
started with; ``metrics.json`` keeps the lineage: each resume's command, changes and
epochs, noted before it trains, so a resume killed part-way is continued with its
changes by the next one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import read_regular
from ..training import Callback, Checkpoint
from .config import TrainConfig
from .rundir import RunResult, run_training, write_metrics
from .settings import setting_name
from .trial import DATA_SETTINGS

__all__ = ["LIVE_SETTINGS", "LOOP_SETTINGS", "Resume", "resume_training"]

LIVE_SETTINGS = ("learning_rate", "l2", "l1", "keep_prob")
"""Settings a paused run can continue with, changed from the next step on."""

LOOP_SETTINGS = (
    "epochs",
    "batch_size",
    "early_stopping",
    "patience",
    "min_delta",
    "checkpoint_every",
    "backend",
)
"""Settings of the training loop a paused run can continue with, changed."""

_REFUSED = {
    "changes the network, so the paused weights do not fit it; start a new run": (
        "layers",
        "activation",
        "init",
        "batch_norm",
        "batch_norm_momentum",
        "standardize",
        "dtype",
    ),
    "changes the data or its split, so the run would be scored on other examples": (
        *DATA_SETTINGS,
        "augment",
        "init_seed",
        "shuffle_seed",
    ),
    "is part of the optimizer built when the run started (its state would not "
    "fit); change the learning rate, or start a new run": (
        "optimizer",
        "beta",
        "beta1",
        "beta2",
        "epsilon",
        "weight_decay",
        "clip_norm",
        "decay",
        "decay_rate",
        "decay_interval",
        "warmup_epochs",
        "decay_boundaries",
        "decay_patience",
    ),
    "is the run's own folder: resume writes into RUN": ("out",),
}


@dataclass(frozen=True)
class Resume:
    """A run continued with changes: what :func:`run_training` does besides."""

    start: TrainConfig
    live: dict[str, Any]
    changes: dict[str, Any]
    command: str
    lineage: list[dict[str, Any]]

    def callback(self, checkpoint: Checkpoint) -> Callback:
        """The callback that applies the changes once the checkpoint is restored."""
        return _ApplyChanges(self.live, checkpoint)

    def begin(self, run_dir: Path, epoch: int) -> None:
        """Before training: the lineage notes this resume (a kill keeps it)."""
        _note_pending(run_dir, self, epoch)

    def end(self, result: RunResult, from_epoch: int | None) -> None:
        """After training: the lineage records the epochs this resume ran."""
        _record_lineage(result, self, from_epoch)


class _ApplyChanges(Callback):
    """After the checkpoint is restored: go on training, with the changed settings."""

    order = 101  # after Checkpoint (100) restored the run

    def __init__(self, live: dict[str, Any], checkpoint: Checkpoint) -> None:
        self.live, self.checkpoint = live, checkpoint
        self.began = 0

    def on_train_begin(self, trainer: Any) -> None:
        trainer.stop_training, trainer.stop_reason = False, None
        trainer.interrupted = False
        self.began = trainer.epoch
        if self.live:
            trainer.set_hyperparams(**self.live)

    def on_train_end(self, trainer: Any) -> None:
        if trainer.epoch == self.began and self.live:
            self.checkpoint.save(trainer)  # no epoch ran: keep the changes anyway


def resume_training(
    run_dir: str | Path,
    changes: Mapping[str, Any],
    *,
    command: str = "",
    progress: str = "auto",
    final_evaluation: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Continue a paused (or finished) run from its checkpoint, with changes.

    Babysitting ("pandas"): watch a run, pause it (Ctrl-C or SIGTERM keep its
    checkpoint), and continue it with, say, a learning rate ten times lower. The
    settings of :data:`LIVE_SETTINGS` change from the next step on and each change
    is recorded in the history (epoch, old and new value) and marked on the report's
    curves; :data:`LOOP_SETTINGS` change the rest of the loop (``epochs`` is the
    total). Everything else is refused with the reason. The run's ``config.toml``
    stays the settings it started with; ``metrics.json`` gets the lineage (each
    command and the epochs it ran).

    A run paused at epoch 100 and continued with ``learning_rate=0.001`` computes
    exactly what a run given a piecewise-constant schedule (0.01, then 0.001 from
    epoch 101) computes from the start.

    Raises:
        ValueError: for a folder with no run or no checkpoint, or a refused change.
    """
    from .._files import read_toml

    folder = Path(run_dir)
    try:
        stored = read_toml(folder / "config.toml")
    except FileNotFoundError:
        raise ValueError(
            f"{folder} is not an nntune run folder (no config.toml); `nntune train "
            "--out FOLDER` writes one."
        ) from None
    start = TrainConfig.from_mapping(stored, source=str(folder / "config.toml"))
    wanted = {setting_name(key): value for key, value in changes.items()}
    for reason, names in _REFUSED.items():
        refused = sorted(set(wanted) & set(names))
        if refused:
            raise ValueError(f"cannot resume with {', '.join(refused)}: it {reason}.")
    unknown = sorted(set(wanted) - set(LIVE_SETTINGS) - set(LOOP_SETTINGS))
    if unknown:
        raise ValueError(
            f"cannot resume with {', '.join(unknown)}; a run continues with changes "
            f"to {', '.join(LIVE_SETTINGS + LOOP_SETTINGS)}."
        )
    if "keep_prob" in wanted and start.keep_prob >= 1:
        raise ValueError(
            "cannot resume with keep_prob: the run started without dropout "
            "(keep_prob = 1), so its network has no dropout layers; start a new run."
        )
    loop: dict[str, Any] = {}
    lineage = _previous_lineage(folder)  # read before the run rewrites metrics.json
    for entry in lineage:
        loop.update(
            {k: v for k, v in entry.get("changes", {}).items() if k in LOOP_SETTINGS}
        )
    loop.update({k: v for k, v in wanted.items() if k in LOOP_SETTINGS})
    _check_warmup_cosine(start, loop)
    live = _unsaved_changes(folder, lineage)
    live.update({k: v for k, v in wanted.items() if k in LIVE_SETTINGS})
    config = TrainConfig.from_mapping(
        {**start.settings(), **loop, "out": str(folder)}, source="the changes"
    )
    for name, value in live.items():  # checked as the table checks them
        TrainConfig.from_mapping({**start.settings(), name: value}, source="changes")
    return run_training(
        config,
        progress=progress,
        final_evaluation=final_evaluation,
        callbacks=callbacks,
        resume=Resume(start, live, dict(wanted), command, lineage),
    )


def _check_warmup_cosine(start: TrainConfig, loop: Mapping[str, Any]) -> None:
    """A warmup_cosine run keeps its length: its cosine ends at its last step."""
    if start.decay != "warmup_cosine":
        return
    for name in ("epochs", "batch_size"):
        if name in loop and loop[name] != getattr(start, name):
            raise ValueError(
                f"cannot resume with {name}: the run's warmup_cosine decay counts its "
                f"steps from {name} = {getattr(start, name)!r}, so its cosine would "
                "jump; start a new run, or change the learning rate instead."
            )


def _unsaved_changes(folder: Path, lineage: list[dict[str, Any]]) -> dict[str, Any]:
    """The live changes of a resume killed before any checkpoint kept them."""
    if not lineage or lineage[-1].get("to_epoch") is not None:
        return {}
    try:
        saved = json.loads(read_regular(folder / "checkpoint.json", limit=None))
        epoch = saved["epoch"]
        kept = saved["history"].get("changes", [])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    last = lineage[-1]
    if epoch != last.get("from_epoch"):
        return {}  # epochs were checkpointed since: the changes are in the state
    recorded = {
        (c.get("setting"), c.get("new")) for c in kept if c.get("epoch") == epoch + 1
    }
    changes = last.get("changes", {})
    return {
        k: v
        for k, v in changes.items()
        if k in LIVE_SETTINGS and (k, v) not in recorded
    }


def _previous_lineage(folder: Path) -> list[dict[str, Any]]:
    try:
        metrics = json.loads(read_regular(folder / "metrics.json"))
    except (OSError, ValueError):
        return []
    lineage = metrics.get("lineage") if isinstance(metrics, dict) else None
    return (
        [e for e in lineage if isinstance(e, dict)] if isinstance(lineage, list) else []
    )


def _note_pending(run_dir: Path, resume: Resume, epoch: int) -> None:
    """Write the resume to the lineage before it trains: a kill keeps its changes.

    The next ``nntune resume`` continues with this entry's loop settings (the total
    epochs, say) and, if no epoch was checkpointed since, applies its live changes
    again.
    """
    try:
        metrics = json.loads(read_regular(run_dir / "metrics.json"))
    except (OSError, ValueError):
        metrics = {}
    if not isinstance(metrics, dict):
        metrics = {}
    entry = _entry(resume, epoch, None)
    metrics["lineage"] = [*resume.lineage, entry]
    write_metrics(run_dir, metrics)


def _entry(
    resume: Resume, from_epoch: int | None, to_epoch: int | None
) -> dict[str, Any]:
    return {
        "command": resume.command,
        "changes": resume.changes,
        "from_epoch": from_epoch,
        "to_epoch": to_epoch,
    }


def _record_lineage(result: RunResult, resume: Resume, from_epoch: int | None) -> None:
    lineage = [
        {**entry, "interrupted": True} if entry.get("to_epoch") is None else entry
        for entry in resume.lineage
    ]
    lineage.append(_entry(resume, from_epoch, result.history.epochs_run))
    result.metrics["lineage"] = lineage
    write_metrics(result.run_dir, result.metrics)
