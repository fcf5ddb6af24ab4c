"""Checkpoints: everything a run needs to continue exactly where it stopped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from .._files import atomic_write_files, read_json, read_regular, recover
from ..trees import flatten, unflatten_like
from .callbacks import Callback
from .history import History

if TYPE_CHECKING:
    from .trainer import Trainer

FORMAT = "nntune.checkpoint"
VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint is damaged or belongs to a run with other settings."""


class Checkpoint(Callback):
    """Save the run every ``every`` epochs; resume from the saved run when it exists.

    A checkpoint is ``<path>.safetensors`` (weights, batch-norm statistics, optimizer
    state, the arrays of callbacks such as early stopping's best weights) plus
    ``<path>.json`` (epoch, history, numbers of the optimizer and callbacks, a
    fingerprint of the settings and the checksum of the weights), replaced together
    atomically. Shuffling and dropout are seeded per epoch, so a resumed run computes
    exactly what the uninterrupted run would have: the same weights and the same
    history (wall-clock times aside).

    Args:
        path: file stem, e.g. ``runs/moons/checkpoint``.
        every: save after every ``every`` epochs (and after the last one).
        resume: load ``path`` when it exists at the start of training.
        fingerprint: any string describing the settings (the ``nntune train`` config);
            resuming a checkpoint written with another fingerprint is refused.
    """

    order: ClassVar[int] = 100  # last: it saves what the other callbacks decided

    def __init__(
        self,
        path: str | Path,
        every: int = 1,
        resume: bool = True,
        fingerprint: str = "",
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1 (epochs); got {every!r}.")
        stem = Path(path)
        self.weights_path = stem.with_name(f"{stem.name}.safetensors")
        self.config_path = stem.with_name(f"{stem.name}.json")
        self.every, self.resume, self.fingerprint = every, resume, fingerprint
        self.resumed_from: int | None = None

    def exists(self) -> bool:
        """Whether a checkpoint is on disk."""
        return self.config_path.exists()

    def on_train_begin(self, trainer: Trainer) -> None:
        self.resumed_from = None
        recover(self.config_path.parent)  # a write killed part-way is undone
        if self.resume and self.exists():
            self.restore(trainer)
            self.resumed_from = trainer.epoch

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        done = trainer.stop_training or trainer.epoch >= trainer.epochs
        if trainer.epoch % self.every == 0 or done:
            self.save(trainer)

    def save(self, trainer: Trainer) -> None:
        """Write the trainer's state now."""
        arrays: dict[str, Any] = {}
        scalars: dict[str, Any] = {}
        parts: dict[str, Any] = {"train_state": trainer.train_state}
        for index, callback in enumerate(_stateful(trainer)):
            parts[f"callbacks/{index}"] = callback.get_state(trainer)
        for prefix, tree in parts.items():
            part_arrays, part_scalars = flatten(tree, prefix)
            arrays.update(part_arrays)
            scalars.update(part_scalars)
        payload = save_tensors(arrays, metadata={"format": FORMAT})
        history = trainer.history
        document = {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "epoch": trainer.epoch,
            # An interrupted run is to be continued, not reported as finished.
            "stop_training": trainer.stop_training and not trainer.interrupted,
            "stop_reason": trainer.stop_reason,
            "time": history.epochs[-1]["time"] if history.epochs else 0.0,
            "history": history.to_dict(),
            "scalars": scalars,
            "callbacks": [type(callback).__name__ for callback in _stateful(trainer)],
            "weights_sha256": hashlib.sha256(payload).hexdigest(),
        }
        text = json.dumps(document, allow_nan=True) + "\n"
        atomic_write_files(
            {self.weights_path: payload, self.config_path: text.encode()}
        )

    def read(self) -> tuple[dict[str, Any], bytes]:
        """The checkpoint's document and weights, checked against this run's settings.

        Raises:
            CheckpointError: if the files are damaged, of another format version, or
                were written by a run with another fingerprint.
        """
        where = self.config_path
        try:
            document = read_json(where, "JSON (an nntune checkpoint)")
            payload = read_regular(self.weights_path, limit=None)
        except (OSError, ValueError) as error:
            raise CheckpointError(
                f"cannot read the checkpoint {where}: {error}"
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CheckpointError(f"{where} is not an nntune checkpoint.")
        if document.get("version") != VERSION:
            raise CheckpointError(
                f"the checkpoint {where} has format version {document.get('version')}; "
                f"this nntune reads version {VERSION}. Delete both checkpoint files to "
                "start the run over."
            )
        if document.get("weights_sha256") != hashlib.sha256(payload).hexdigest():
            raise CheckpointError(
                f"{self.weights_path} does not match the checksum in {where.name}: "
                "it is "
                "damaged or truncated. Delete both files to start over."
            )
        if document.get("fingerprint") != self.fingerprint:
            raise CheckpointError(
                f"the checkpoint {where} was written by a run with other settings "
                "or other data (the data file changed since); resuming it would mix "
                "two experiments. Use another output folder, or delete the "
                "checkpoint to start over."
            )
        return document, payload

    def restore(self, trainer: Trainer) -> None:
        """Load the checkpoint into ``trainer``.

        Raises:
            CheckpointError: if the files are damaged or were written by a run with
                another fingerprint, optimizer or architecture.
        """
        where = self.config_path
        document, payload = self.read()
        names = [type(callback).__name__ for callback in _stateful(trainer)]
        if document.get("callbacks") != names:
            raise CheckpointError(
                f"the checkpoint {where} was written with callbacks "
                f"{document.get('callbacks')}, this run has {names}."
            )
        try:
            arrays = load_tensors(payload)
            scalars = document["scalars"]
            train_state = unflatten_like(
                trainer.train_state, arrays, scalars, "train_state"
            )
            history = History.from_dict(document["history"])
        except (SafetensorError, KeyError, ValueError) as error:
            raise CheckpointError(
                f"the checkpoint {where} does not fit this model and optimizer: {error}"
            ) from None
        trainer.train_state = train_state
        trainer.history = history
        trainer.epoch = int(document["epoch"])
        trainer.stop_training = bool(document["stop_training"])
        trainer.stop_reason = document.get("stop_reason")
        trainer.time_offset = float(document.get("time") or 0.0)
        for index, callback in enumerate(_stateful(trainer)):
            prefix = f"callbacks/{index}/"
            callback.set_state(
                trainer,
                {
                    k[len(prefix) :]: v
                    for k, v in arrays.items()
                    if k.startswith(prefix)
                },
                {
                    k[len(prefix) :]: v
                    for k, v in scalars.items()
                    if k.startswith(prefix)
                },
            )


def _stateful(trainer: Trainer) -> list[Callback]:
    # Progress bars and checkpoints carry nothing to resume, so a run may be resumed
    # with or without them.
    return [callback for callback in trainer.callbacks if callback.stateful]
