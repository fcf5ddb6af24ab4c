"""Built-in datasets from generators and from data scikit-learn ships (no downloads).

==========  ==========  ==========================================================
name        task        what
==========  ==========  ==========================================================
moons       binary      two interleaving half circles (course: noise 0.2, 300 points)
circles     binary      a circle inside a circle (course: noise 0.05, factor 0.8)
digits      multiclass  8x8 handwritten digits 0-9, 1,797 images, 64 pixels 0..16
==========  ==========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (rows are examples), labels ``y``, the task and class names."""

    name: str
    X: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    task: str
    class_names: tuple[str, ...]
    description: str

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.class_names)


def _moons(n_samples: int | None, seed: int, noise: float | None) -> Dataset:
    from sklearn.datasets import make_moons

    noise = 0.2 if noise is None else noise
    X, y = make_moons(n_samples=n_samples or 300, noise=noise, random_state=seed)
    return Dataset(
        "moons",
        X,
        y.astype(np.int64),
        "binary",
        ("0", "1"),
        f"two interleaving half circles, noise {noise}",
    )


def _circles(n_samples: int | None, seed: int, noise: float | None) -> Dataset:
    from sklearn.datasets import make_circles

    noise = 0.05 if noise is None else noise
    X, y = make_circles(
        n_samples=n_samples or 300, noise=noise, factor=0.8, random_state=seed
    )
    return Dataset(
        "circles",
        X,
        y.astype(np.int64),
        "binary",
        ("outer", "inner"),
        f"a circle inside a circle, noise {noise}, factor 0.8",
    )


def _digits(n_samples: int | None, seed: int, noise: float | None) -> Dataset:
    from sklearn.datasets import load_digits

    if noise is not None:
        raise ValueError(
            "digits is a fixed dataset; noise applies to moons and circles."
        )
    bunch = load_digits()
    X, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    if n_samples is not None and n_samples < len(y):
        keep = np.sort(
            np.random.default_rng(seed).choice(len(y), n_samples, replace=False)
        )
        X, y = X[keep], y[keep]
    return Dataset(
        "digits",
        X,
        y,
        "multiclass",
        tuple(str(c) for c in range(10)),
        "8x8 images of handwritten digits, pixel values 0..16",
    )


DATASETS: dict[str, Callable[[int | None, int, float | None], Dataset]] = {
    "moons": _moons,
    "circles": _circles,
    "digits": _digits,
}


def list_datasets() -> list[str]:
    """Names of the built-in datasets.

    Example:
        >>> list_datasets()
        ['circles', 'digits', 'moons']
    """
    return sorted(DATASETS)


def load_dataset(
    name: str,
    *,
    n_samples: int | None = None,
    seed: int = 0,
    noise: float | None = None,
) -> Dataset:
    """Load a built-in dataset by name.

    Args:
        name: one of :func:`list_datasets`.
        n_samples: number of examples (generated sets default to 300; digits is
            subsampled when smaller than its 1,797 images).
        seed: seeds the generator (or the subsample).
        noise: noise of a generated set (moons 0.2, circles 0.05 by default).

    Raises:
        ValueError: for an unknown name or a bad size.

    Example:
        >>> data = load_dataset("moons", n_samples=10, seed=3)
        >>> data.X.shape, data.task, data.class_names
        ((10, 2), 'binary', ('0', '1'))
    """
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; built-in datasets are {list_datasets()}."
        )
    if n_samples is not None and (
        isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2
    ):
        raise ValueError(f"n_samples must be an integer >= 2; got {n_samples!r}.")
    if noise is not None and not (isinstance(noise, int | float) and noise >= 0):
        raise ValueError(f"noise must be a number >= 0; got {noise!r}.")
    return DATASETS[name](n_samples, seed, noise)
