"""scikit-learn's ``make_moons`` and ``make_circles``, drawn with NumPy alone.

Importing scikit-learn's dataset generators imports SciPy too (about a second), more
than ``nntune train`` on moons spends training. These functions draw the very same
arrays, bit for bit, from the same ``RandomState(seed)`` in the same order as
scikit-learn does (points on the curves, a shuffle of their order, then Gaussian
noise); ``tests/test_datasets.py`` compares them with scikit-learn for many seeds,
sizes and noise levels. Seeds outside ``0 <= seed < 2**32`` go to scikit-learn itself,
so that they fail with its message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["make_circles", "make_moons"]

_MAX_SEED = 2**32 - 1
_Arrays = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]


def make_moons(n_samples: int, noise: float, seed: int) -> _Arrays:
    """Two interleaving half circles: ``sklearn.datasets.make_moons``, bit for bit.

    The outer moon is ``(cos t, sin t)`` and the inner one ``(1 - cos t, 0.5 -
    sin t)`` for ``t`` in ``linspace(0, pi)``; rows are shuffled, then
    ``normal(0, noise)`` is added to each coordinate.

    Example:
        >>> from sklearn.datasets import make_moons as sklearn_moons
        >>> X, y = make_moons(20, 0.1, seed=3)
        >>> X_sk, y_sk = sklearn_moons(20, noise=0.1, random_state=3)
        >>> bool((X == X_sk).all() and (y == y_sk).all())
        True
    """
    if not _plain_seed(seed):
        from sklearn.datasets import make_moons as sklearn_moons

        X, y = sklearn_moons(n_samples=n_samples, noise=noise, random_state=seed)
        return X, y
    n_out = n_samples // 2
    n_in = n_samples - n_out
    generator = np.random.RandomState(seed)
    outer_x = np.cos(np.linspace(0, np.pi, n_out))
    outer_y = np.sin(np.linspace(0, np.pi, n_out))
    inner_x = 1 - np.cos(np.linspace(0, np.pi, n_in))
    inner_y = 1 - np.sin(np.linspace(0, np.pi, n_in)) - 0.5
    X = np.vstack([np.append(outer_x, inner_x), np.append(outer_y, inner_y)]).T
    return _shuffle_and_noise(X, n_out, n_in, noise, generator)


def make_circles(n_samples: int, noise: float, factor: float, seed: int) -> _Arrays:
    """A circle inside a circle: ``sklearn.datasets.make_circles``, bit for bit.

    The outer circle has radius 1 and the inner one radius ``factor``, with their
    points at ``linspace(0, 2 pi)`` (the end point left out); rows are shuffled, then
    ``normal(0, noise)`` is added to each coordinate.

    Example:
        >>> from sklearn.datasets import make_circles as sklearn_circles
        >>> X, y = make_circles(20, 0.05, 0.8, seed=1)
        >>> X_sk, y_sk = sklearn_circles(20, noise=0.05, factor=0.8, random_state=1)
        >>> bool((X == X_sk).all() and (y == y_sk).all())
        True
    """
    if not (_plain_seed(seed) and 0 <= factor < 1):
        from sklearn.datasets import make_circles as sklearn_circles

        X, y = sklearn_circles(
            n_samples=n_samples, noise=noise, factor=factor, random_state=seed
        )
        return X, y
    n_out = n_samples // 2
    n_in = n_samples - n_out
    generator = np.random.RandomState(seed)
    # endpoint=False so that the first point is not also the last
    angles_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    angles_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    outer_x = np.cos(angles_out)
    outer_y = np.sin(angles_out)
    inner_x = np.cos(angles_in) * factor
    inner_y = np.sin(angles_in) * factor
    X = np.vstack([np.append(outer_x, inner_x), np.append(outer_y, inner_y)]).T
    return _shuffle_and_noise(X, n_out, n_in, noise, generator)


def _plain_seed(seed: Any) -> bool:
    return type(seed) is int and 0 <= seed <= _MAX_SEED


def _shuffle_and_noise(
    X: np.ndarray[Any, Any],
    n_out: int,
    n_in: int,
    noise: float,
    generator: np.random.RandomState,
) -> _Arrays:
    """What ``sklearn.utils.shuffle`` then the noise do, draw for draw."""
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    order = np.arange(len(y))
    generator.shuffle(order)
    X, y = X[order, ...], y[order, ...]
    X += generator.normal(scale=noise, size=X.shape)
    return X, y
