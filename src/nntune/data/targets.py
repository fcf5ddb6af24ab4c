"""Targets for data read out of core: class labels kept small, checked in chunks.

One-hot targets are ``n_classes`` numbers a row: for a file of 64 float32 features and
10 classes they would take a sixth of the file's size in memory. :class:`ClassTargets`
keeps one small integer a row and gives out the loss's rows of targets for the rows
indexed (a mini-batch, a chunk to evaluate), equal to the dense ones row for row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .mapped import CHUNK_BYTES, split_rows_key

__all__ = ["ClassTargets", "chunked_targets"]


class ClassTargets:
    """Class labels kept as small integers, indexed as the loss's rows of targets.

    ``one_hot``: rows of the identity (softmax cross-entropy); else one column of
    0/1 (binary cross-entropy). Equal to the dense targets, row for row; with
    ``weights`` (one per row, see :mod:`nntune.sample_weights`) each row ends with
    its weight.

    Example:
        >>> import numpy as np
        >>> ClassTargets(np.array([2, 0]), 3, np.float32, one_hot=True)[1:].tolist()
        [[1.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        labels: Any,
        n_classes: int,
        dtype: Any,
        *,
        one_hot: bool,
        weights: Any = None,
    ) -> None:
        self.labels = np.asarray(labels, dtype=_label_dtype(n_classes))
        self.n_classes, self.dtype, self.one_hot = n_classes, np.dtype(dtype), one_hot
        self.weights = None if weights is None else np.asarray(weights, self.dtype)
        columns = (n_classes if one_hot else 1) + (weights is not None)
        self.shape = (len(self.labels), columns)
        self.ndim = 2

    def weighted(self, weights: Any) -> ClassTargets:
        """The same targets with a last column of weights, one per row."""
        return ClassTargets(
            self.labels,
            self.n_classes,
            self.dtype,
            one_hot=self.one_hot,
            weights=weights,
        )

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray[Any, Any]:
        rows, columns = split_rows_key(key)
        labels = np.asarray(self.labels[rows])[..., None]
        if self.one_hot:
            found = (labels == np.arange(self.n_classes)).astype(self.dtype)
        else:
            found = labels.astype(self.dtype)
        if self.weights is not None:
            weights = np.asarray(self.weights[rows])[..., None]
            found = np.concatenate([found, weights], axis=-1)
        return np.asarray(found[columns]) if columns else found

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)


def chunked_targets(y: Any, m: int, prepare: Callable[[Any], Any], task: str) -> Any:
    """The targets of ``m`` rows, validated by ``prepare`` one chunk of ``y`` at a time.

    Classification targets come back as :class:`ClassTargets`, regression targets as
    an array (their values are the data).

    Raises:
        ValueError: for ``len(y) != m`` or a chunk ``prepare`` refuses (with its rows).
    """
    labels = y if isinstance(y, np.ndarray) else np.asarray(y)
    count = labels.shape[0] if labels.ndim else 0
    if count != m:
        raise ValueError(
            f"X has {m} examples but y has {count}; they must have one label per row "
            "of X."
        )
    step = max(1, CHUNK_BYTES // 64)
    found: Any = None
    for start in range(0, m, step):
        stop = min(m, start + step)
        try:
            rows = np.asarray(prepare(labels[start:stop]))
        except ValueError as error:
            raise ValueError(
                f"{error} (y is checked in chunks; this was rows {start} to {stop - 1} "
                f"of y, shape {tuple(labels.shape)})"
            ) from None
        if found is None:
            found = _empty_targets(task, m, rows)
        if isinstance(found, ClassTargets):  # the class of each row, one byte or so
            found.labels[start:stop] = (
                np.argmax(rows, axis=1) if found.one_hot else rows[:, 0]
            )
        else:
            found[start:stop] = rows
    return found


def _empty_targets(task: str, m: int, rows: np.ndarray[Any, Any]) -> Any:
    if task == "multiclass":
        labels = np.zeros(m, _label_dtype(rows.shape[1]))
        return ClassTargets(labels, rows.shape[1], rows.dtype, one_hot=True)
    if task == "binary":
        return ClassTargets(np.zeros(m, np.uint8), 2, rows.dtype, one_hot=False)
    return np.empty((m, *rows.shape[1:]), rows.dtype)


def _label_dtype(n_classes: int) -> np.dtype[Any]:
    return np.dtype(np.uint8 if n_classes <= 256 else np.int32)
