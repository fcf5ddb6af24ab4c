"""The record of a training run: per-iteration cost and per-epoch metrics."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import atomic_write_text

COLUMNS = (
    "epoch",
    "train_cost",
    "train_accuracy",
    "dev_cost",
    "dev_accuracy",
    "learning_rate",
    "time",
)


@dataclass
class History:
    """Per-iteration costs and one row of metrics per epoch.

    ``iterations`` holds the cost the optimizer minimised on each mini-batch (training
    mode: dropout on, batch statistics, regularization included). Each row of
    ``epochs`` holds the epoch's cost (the loss, without the penalty, so runs with
    and without regularization compare) and accuracy on the training set and the dev
    set, the learning rate used and the seconds since the start of training.
    ``epoch`` counts from 1. The dev set is evaluated after the epoch in inference
    mode; the training set's values are by default the epoch's running metrics (the
    mean over its mini-batches, training mode) and its inference-mode evaluation
    with :func:`~nntune.fit`'s ``train_metrics="full"``.

    Example:
        >>> history = History()
        >>> history.append({"epoch": 1, "train_cost": 0.5})
        >>> history.column("train_cost"), history.epochs_run
        ([0.5], 1)
    """

    iterations: list[float] = field(default_factory=list)
    epochs: list[dict[str, float | int | None]] = field(default_factory=list)
    best_epoch: int | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    """Hyperparameters changed mid-run: epoch (from 1), step, setting, old, new."""
    interrupted: bool = field(default=False, compare=False)
    """Whether a signal paused the run (:class:`~nntune.training.StopOnSignal`)."""
    train_state: Any = field(default=None, repr=False, compare=False)
    """The final :class:`~nntune.TrainState` of :func:`~nntune.fit` (not saved)."""

    def append(self, row: dict[str, Any]) -> None:
        """Add the metrics of one epoch."""
        self.epochs.append({name: row.get(name) for name in COLUMNS})

    def column(self, name: str) -> list[Any]:
        """One metric across epochs."""
        if name not in COLUMNS:
            raise ValueError(
                f"unknown history column {name!r}; expected one of {COLUMNS}."
            )
        return [row[name] for row in self.epochs]

    @property
    def epochs_run(self) -> int:
        """Number of epochs recorded."""
        return len(self.epochs)

    def last(self) -> dict[str, Any]:
        """The metrics of the last epoch (empty before the first)."""
        return dict(self.epochs[-1]) if self.epochs else {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable copy."""
        return {
            "iterations": list(self.iterations),
            "epochs": [dict(row) for row in self.epochs],
            "best_epoch": self.best_epoch,
            "changes": [dict(change) for change in self.changes],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> History:
        """Rebuild from :meth:`to_dict` output."""
        try:
            history = cls(
                iterations=[float(v) for v in document["iterations"]],
                best_epoch=document.get("best_epoch"),
                changes=[dict(change) for change in document.get("changes", [])],
            )
            for row in document["epochs"]:
                history.append(row)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a training history: {error}") from None
        return history

    def to_json(self, path: str | Path) -> None:
        """Write the whole history as JSON, atomically."""
        atomic_write_text(path, json.dumps(self.to_dict(), allow_nan=True) + "\n")

    def to_csv(self, path: str | Path) -> None:
        """Write the per-epoch rows as CSV (empty cells for metrics not computed)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in self.epochs:
            writer.writerow(
                ["" if row[name] is None else _format(row[name]) for name in COLUMNS]
            )
        atomic_write_text(path, buffer.getvalue())


def _format(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)
