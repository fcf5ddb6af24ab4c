"""Train/dev/test splits: stratified, seeded, with size-aware defaults.

Small data sets keep the classic 60/20/20; as data grows, the dev and test sets only
need to be big enough to tell models apart, so each is capped at 10,000 examples
(1,000,000 examples give about 98/1/1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import Seed, make_rng

DEV_TEST_CAP = 10_000


@dataclass(frozen=True)
class Split:
    """Index arrays of the train, dev and test sets (rows of the original data).

    ``train_dev`` is empty unless asked for: examples drawn like the training set but
    held out of it, so that dev error can be split into variance and data mismatch.
    """

    train: np.ndarray[Any, Any]
    dev: np.ndarray[Any, Any]
    test: np.ndarray[Any, Any]
    train_dev: np.ndarray[Any, Any] = field(
        default_factory=lambda: np.empty(0, dtype=np.int64)
    )


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
    train_dev: float | int | None = None,
) -> Split:
    """Split ``len(y)`` examples into train, dev and test index sets.

    Args:
        y: labels (used to stratify) or any sequence of length ``m``.
        dev: dev-set size as a fraction or a count (default: :func:`default_sizes`).
        test: test-set size as a fraction or a count (default: :func:`default_sizes`).
        stratify: keep each class's share in every set (classification labels).
        seed: seeds the shuffle.
        train_dev: size of a train-dev set taken from the training share (a
            fraction of all examples or a count); default none.

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
    n_train_dev = _count(train_dev, m, "train_dev") or 0
    if n_dev + n_test + n_train_dev >= m:
        raise ValueError(
            f"dev ({n_dev}), test ({n_test}) and train-dev ({n_train_dev}) leave no "
            f"training examples out of {m}; make them smaller."
        )
    # The order interleaves the classes, so each consecutive block is stratified.
    cuts = np.cumsum([n_test, n_dev, n_train_dev])
    test_indices, dev_indices, train_dev_indices, train_indices = (
        np.sort(part) for part in np.split(order, cuts)
    )
    return Split(train_indices, dev_indices, test_indices, train_dev_indices)


def split_warnings(
    y_dev: Any,
    y_test: Any,
    X_dev: Any = None,
    X_test: Any = None,
    *,
    task: str | None = None,
) -> list[str]:
    """Say when dev and test sets are too small or look drawn from different data.

    - Too small: with ``n`` examples an error rate is known to about
      ``1.96 * sqrt(0.25 / n)`` (95%), a regression's RMSE to about
      ``1.96 / sqrt(2 n)`` of itself (normal errors); below 100 examples that is more
      than ±10 points (±14% of the RMSE), too coarse to tell models apart.
    - Different distributions: class shares differ by more than 10 points (a
      regression: the target's mean by more than half a standard deviation), or a
      feature's mean differs by more than half a standard deviation. The course's
      rule is that dev and test sets come from the same distribution.

    Args:
        y_dev: the labels (a regression's targets) of the dev set.
        y_test: those of the test set.
        X_dev: the dev set's features, to compare their means (optional).
        X_test: the test set's features.
        task: ``"regression"`` speaks of RMSE and target means; any other task
            (or None, integer labels) of error rates and class shares.

    Example:
        >>> split_warnings([0, 1] * 20, [0] * 40)[0].split(":")[0]
        'the dev set has 40 examples'
        >>> split_warnings([1.5] * 40, [2.5] * 200, task="regression")[0]
        'the dev set has 40 examples: its RMSE is only known to about ±22% of \
itself, too coarse to tell close models apart; use more examples if you can'
    """
    regression = task == "regression"
    notes = []
    for name, labels in (("dev", y_dev), ("test", y_test)):
        n = len(labels)
        if 0 < n < 100:
            known = (
                f"its RMSE is only known to about ±{100 * 1.96 / (2 * n) ** 0.5:.0f}% "
                "of itself"
                if regression
                else f"its error rate is only known to about "
                f"±{100 * 1.96 * (0.25 / n) ** 0.5:.0f} points"
            )
            notes.append(
                f"the {name} set has {n} examples: {known}, too coarse to tell close "
                "models apart; use more examples if you can"
            )
    dev, test = np.asarray(y_dev), np.asarray(y_test)
    classes_known = dev.ndim == 1 and dev.dtype.kind in "iub"
    if len(dev) and len(test) and classes_known and not regression:
        classes = np.union1d(np.unique(dev), np.unique(test))
        shares = [np.mean(dev == c) - np.mean(test == c) for c in classes]
        worst = int(np.argmax(np.abs(shares)))
        if abs(shares[worst]) > 0.1:
            notes.append(
                f"dev and test look drawn from different distributions: class "
                f"{classes[worst]} is {100 * np.mean(dev == classes[worst]):.0f}% "
                "of dev "
                f"but {100 * np.mean(test == classes[worst]):.0f}% of test; draw both "
                "from the same data (shuffle before splitting)"
            )
    if regression and len(dev) > 1 and len(test) > 1:
        gap = _mean_gaps(dev.reshape(len(dev), -1), test.reshape(len(test), -1))
        if gap.max() > 0.5:
            notes.append(
                f"dev and test look drawn from different distributions: the target's "
                f"mean differs by {gap.max():.1f} standard deviations (dev "
                f"{dev.mean():.4g}, test {test.mean():.4g}); draw both from the same "
                "data (shuffle before splitting)"
            )
    if X_dev is not None and X_test is not None and len(X_dev) > 1 and len(X_test) > 1:
        gap = _mean_gaps(X_dev, X_test)
        if gap.size and gap.max() > 0.5:
            notes.append(
                f"dev and test look drawn from different distributions: feature "
                f"{int(gap.argmax())} differs by {gap.max():.1f} standard "
                "deviations in "
                "mean; draw both from the same data"
            )
    return notes


def _mean_gaps(a: Any, b: Any) -> np.ndarray[Any, Any]:
    """Each column's difference in mean, in standard deviations pooled over a, b."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    spread = np.sqrt((a.var(axis=0) + b.var(axis=0)) / 2)
    gap: np.ndarray[Any, Any] = np.abs(a.mean(axis=0) - b.mean(axis=0))
    return gap / np.where(spread > 0, spread, 1)
