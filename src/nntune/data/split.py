"""Train/dev/test splits: stratified, seeded, with size-aware defaults.

Small data sets keep the classic 60/20/20; as data grows, the dev and test sets only
need to be big enough to tell models apart, so each is capped at 10,000 examples
(1,000,000 examples give about 98/1/1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import Seed, make_rng

DEV_TEST_CAP = 10_000


@dataclass(frozen=True)
class Split:
    """Index arrays of the train, dev and test sets (rows of the original data)."""

    train: np.ndarray[Any, Any]
    dev: np.ndarray[Any, Any]
    test: np.ndarray[Any, Any]


def default_sizes(m: int) -> tuple[int, int]:
    """Dev and test sizes for ``m`` examples: 20% each, at most 10,000 each.

    Example:
        >>> default_sizes(1_000), default_sizes(1_000_000)
        ((200, 200), (10000, 10000))
    """
    size = min(round(0.2 * m), DEV_TEST_CAP)
    return size, size


def _count(value: float | int | None, m: int, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{name} must be a fraction in [0, 1) or a count; got {value!r}."
        )
    if isinstance(value, float) and 0 <= value < 1:
        return round(value * m)
    if isinstance(value, int) and 0 <= value < m:
        return value
    raise ValueError(
        f"{name} must be a fraction in [0, 1) or a whole count below the {m} examples; "
        f"got {value!r}."
    )


def train_dev_test_split(
    y: Any,
    *,
    dev: float | int | None = None,
    test: float | int | None = None,
    stratify: bool = True,
    seed: Seed = 0,
) -> Split:
    """Split ``len(y)`` examples into train, dev and test index sets.

    Args:
        y: labels (used to stratify) or any sequence of length ``m``.
        dev: dev-set size as a fraction or a count (default: :func:`default_sizes`).
        test: test-set size as a fraction or a count (default: :func:`default_sizes`).
        stratify: keep each class's share in every set (classification labels).
        seed: seeds the shuffle.

    Raises:
        ValueError: if the sizes leave no training examples.

    Example:
        >>> split = train_dev_test_split([0, 1] * 50, seed=0)
        >>> len(split.train), len(split.dev), len(split.test)
        (60, 20, 20)
    """
    labels = np.asarray(y)
    m = len(labels)
    default_dev, default_test = default_sizes(m)
    n_dev = _count(dev, m, "dev")
    n_test = _count(test, m, "test")
    n_dev = default_dev if n_dev is None else n_dev
    n_test = default_test if n_test is None else n_test
    if n_dev + n_test >= m:
        raise ValueError(
            f"dev ({n_dev}) and test ({n_test}) leave no training examples out of {m}; "
            "make them smaller."
        )
    rng = make_rng(seed)
    order = rng.permutation(m)
    if stratify and labels.ndim == 1 and labels.dtype.kind in "iub":
        # Deal each class's shuffled examples round-robin into one sequence, so that
        # any prefix has the class proportions of the whole.
        classes, inverse = np.unique(labels[order], return_inverse=True)
        rank = np.empty(m)
        for index in range(len(classes)):
            members = np.flatnonzero(inverse == index)
            rank[members] = (np.arange(len(members)) + 0.5) / len(members)
        order = order[np.argsort(rank, kind="stable")]
    test_indices = np.sort(order[:n_test])
    dev_indices = np.sort(order[n_test : n_test + n_dev])
    train_indices = np.sort(order[n_test + n_dev :])
    return Split(train_indices, dev_indices, test_indices)
