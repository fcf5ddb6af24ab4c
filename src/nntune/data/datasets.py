"""Built-in datasets from generators and from data scikit-learn ships (no downloads).

=============  ==========  ============================================================
name           task        what
=============  ==========  ============================================================
blobs          multiclass  3 Gaussian blobs in 2-D (``noise`` is the cluster std, 1.0)
breast_cancer  binary      569 tumours, 30 measurements, malignant or benign
circles        binary      a circle inside a circle (course: noise 0.05, factor 0.8)
diabetes       regression  442 patients, 10 baseline measurements, disease progression
digits         multiclass  8x8 handwritten digits 0-9, 1,797 images, 64 pixels 0..16
flower         binary      the course's planar "flower": 400 points, 2 petal colours
iris           multiclass  150 irises, 4 measurements, 3 species
moons          binary      two interleaving half circles (course: noise 0.2, 300 points)
spiral         multiclass  3 interleaved spiral arms, 300 points (CS231n)
wine           multiclass  178 wines, 13 chemical measurements, 3 cultivars
=============  ==========  ============================================================

Generated sets (blobs, circles, flower, moons, spiral) take ``noise``; fixed sets
(breast_cancer, diabetes, digits, iris, wine) are subsampled, seeded, when
``n_samples`` is smaller than they are. Every draw comes from a generator seeded with
``seed``. moons and circles are scikit-learn's, drawn bit for bit without importing it
(:mod:`nntune.data.generators`); the other sets import scikit-learn when loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (rows are examples), labels ``y``, the task and class names.

    ``image_shape`` is set when each row is a flattened image (``(64, 64, 3)`` for the
    course's cat pictures): ``X[i].reshape(image_shape)`` is example ``i``'s image.
    """

    name: str
    X: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    task: str
    class_names: tuple[str, ...]
    description: str
    image_shape: tuple[int, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    """The feature columns' names, in order (files with named columns)."""
    target: str | None = None
    """The label column's name (files with named columns)."""

    def __post_init__(self) -> None:
        if self.image_shape is not None and (
            self.X.ndim != 2 or math.prod(self.image_shape) != self.X.shape[1]
        ):
            raise ValueError(
                f"image_shape {self.image_shape} does not fit X of shape "
                f"{self.X.shape}; each row must hold prod(image_shape) = "
                f"{math.prod(self.image_shape)} values."
            )

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.X.shape[1])

    def fingerprint(self) -> str:
        """A hash of the features and labels: it changes when the data do.

        Example:
            >>> import numpy as np
            >>> data = Dataset("d", np.zeros((2, 1)), np.zeros(2), "regression", (), "")
            >>> len(data.fingerprint())
            16
        """
        digest = hashlib.sha256()
        for array in (self.X, self.y):
            contiguous = np.ascontiguousarray(array)
            digest.update(str((contiguous.shape, contiguous.dtype.str)).encode())
            digest.update(contiguous.tobytes())
        return digest.hexdigest()[:16]

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.class_names)


class DatasetLoader(Protocol):
    """Builds a built-in dataset from validated options (``None``: its default)."""

    def __call__(
        self,
        n_samples: int | None,
        seed: int,
        noise: float | None,
        n_classes: int | None = None,
    ) -> Dataset: ...


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    """Split ``n_samples`` as evenly as possible, the first classes taking the rest."""
    base, extra = divmod(n_samples, n_classes)
    return [base + (1 if j < extra else 0) for j in range(n_classes)]


def _names(n_classes: int) -> tuple[str, ...]:
    return tuple(str(c) for c in range(n_classes))


def _moons(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from .generators import make_moons

    noise = 0.2 if noise is None else noise
    X, y = make_moons(n_samples or 300, noise, seed)
    return Dataset(
        "moons",
        X,
        y.astype(np.int64),
        "binary",
        ("0", "1"),
        f"two interleaving half circles, noise {noise}",
    )


def _circles(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from .generators import make_circles

    noise = 0.05 if noise is None else noise
    X, y = make_circles(n_samples or 300, noise, 0.8, seed)
    return Dataset(
        "circles",
        X,
        y.astype(np.int64),
        "binary",
        ("outer", "inner"),
        f"a circle inside a circle, noise {noise}, factor 0.8",
    )


def _flower(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    """The course's planar dataset: petals of ``r = 4 sin(4t)``, one colour per half.

    For class ``j`` in (0, 1) with ``N`` points (half of ``n_samples``)::

        t = linspace(3.12 j, 3.12 (j + 1), N) + noise * standard_normal(N)
        r = 4 sin(4 t) + noise * standard_normal(N)
        x = (r sin t, r cos t)

    drawn in that order from ``np.random.default_rng(seed)``; ``noise`` is 0.2.
    """
    noise = 0.2 if noise is None else noise
    sizes = _class_sizes(n_samples or 400, 2)
    rng = np.random.default_rng(seed)
    parts = []
    for j, size in enumerate(sizes):
        t = (
            np.linspace(j * 3.12, (j + 1) * 3.12, size)
            + rng.standard_normal(size) * noise
        )
        r = 4 * np.sin(4 * t) + rng.standard_normal(size) * noise
        parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
    return Dataset(
        "flower",
        np.concatenate(parts),
        np.repeat(np.arange(2, dtype=np.int64), sizes),
        "binary",
        ("red", "blue"),
        f"the course's planar flower, r = 4 sin 4t, noise {noise}",
    )


def _spiral(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    """K spiral arms (CS231n), ``noise`` 0.2 by default.

    Arm ``j`` has radius ``linspace(0, 1, N)`` and angle
    ``linspace(4 j, 4 (j + 1), N) + noise * standard_normal(N)``.
    """
    noise = 0.2 if noise is None else noise
    n_classes = n_classes or 3
    sizes = _class_sizes(n_samples or 300, n_classes)
    rng = np.random.default_rng(seed)
    parts = []
    for j, size in enumerate(sizes):
        r = np.linspace(0.0, 1.0, size)
        t = (
            np.linspace(j * 4.0, (j + 1) * 4.0, size)
            + rng.standard_normal(size) * noise
        )
        parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
    return Dataset(
        "spiral",
        np.concatenate(parts),
        np.repeat(np.arange(n_classes, dtype=np.int64), sizes),
        "multiclass",
        _names(n_classes),
        f"{n_classes} interleaved spiral arms, noise {noise}",
    )


def _blobs(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from sklearn.datasets import make_blobs

    noise = 1.0 if noise is None else noise
    n_classes = n_classes or 3
    X, y = make_blobs(
        n_samples=n_samples or 300,
        centers=n_classes,
        n_features=2,
        cluster_std=noise,
        random_state=seed,
    )
    return Dataset(
        "blobs",
        X,
        y.astype(np.int64),
        "binary" if n_classes == 2 else "multiclass",
        _names(n_classes),
        f"{n_classes} Gaussian blobs, cluster std {noise}",
    )


def _fixed(
    name: str,
    X: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    class_names: Sequence[str],
    description: str,
    n_samples: int | None,
    seed: int,
    image_shape: tuple[int, ...] | None = None,
) -> Dataset:
    """A fixed set, subsampled; without class names it is a regression."""
    if n_samples is not None and n_samples > len(y):
        raise ValueError(
            f"{name} has {len(y)} examples; n_samples must be at most {len(y)} "
            f"(got {n_samples}). Leave n_samples out to use them all."
        )
    classes = len(class_names)
    X, y = X.astype(np.float64), y.astype(np.int64 if classes else np.float64)
    if n_samples is not None and n_samples < len(y):
        keep = np.sort(
            np.random.default_rng(seed).choice(len(y), n_samples, replace=False)
        )
        X, y = X[keep], y[keep]
    task = "binary" if classes == 2 else "multiclass" if classes else "regression"
    names = tuple(str(c) for c in class_names)
    return Dataset(name, X, y, task, names, description, image_shape=image_shape)


def _digits(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _fixed(
        "digits",
        bunch.data,
        bunch.target,
        _names(10),
        "8x8 images of handwritten digits, pixel values 0..16",
        n_samples,
        seed,
        image_shape=(8, 8, 1),
    )


def _breast_cancer(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return _fixed(
        "breast_cancer",
        bunch.data,
        bunch.target,
        bunch.target_names,
        "Wisconsin tumours, 30 measurements of cell nuclei",
        n_samples,
        seed,
    )


def _diabetes(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()  # scikit-learn's bundled copy: no download
    found = _fixed(
        "diabetes",
        bunch.data,
        bunch.target,
        (),
        "disease progression a year on (25 to 346), from 10 baseline measurements",
        n_samples,
        seed,
    )
    return dataclasses.replace(found, feature_names=tuple(bunch.feature_names))


def _iris(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return _fixed(
        "iris",
        bunch.data,
        bunch.target,
        bunch.target_names,
        "Fisher's irises: sepal and petal sizes, 3 species",
        n_samples,
        seed,
    )


def _wine(
    n_samples: int | None, seed: int, noise: float | None, n_classes: int | None = None
) -> Dataset:
    from sklearn.datasets import load_wine

    bunch = load_wine()
    return _fixed(
        "wine",
        bunch.data,
        bunch.target,
        bunch.target_names,
        "wines from 3 cultivars, 13 chemical measurements",
        n_samples,
        seed,
    )


DATASETS: dict[str, DatasetLoader] = {
    "blobs": _blobs,
    "breast_cancer": _breast_cancer,
    "circles": _circles,
    "diabetes": _diabetes,
    "digits": _digits,
    "flower": _flower,
    "iris": _iris,
    "moons": _moons,
    "spiral": _spiral,
    "wine": _wine,
}
GENERATED = ("blobs", "circles", "flower", "moons", "spiral")
"""Datasets drawn from a generator: they take ``noise`` and any ``n_samples``."""
CLASS_COUNT_OPTION = ("blobs", "spiral")
"""Generated datasets whose number of classes ``n_classes`` chooses."""


def list_datasets() -> list[str]:
    """Names of the built-in datasets, sorted.

    Example:
        >>> list_datasets()
        ['blobs', 'breast_cancer', 'circles', 'diabetes', 'digits', 'flower', 'iris', \
'moons', 'spiral', 'wine']
    """
    return sorted(DATASETS)


def load_dataset(
    name: str,
    *,
    n_samples: int | None = None,
    seed: int = 0,
    noise: float | None = None,
    n_classes: int | None = None,
) -> Dataset:
    """Load a built-in dataset by name.

    Args:
        name: one of :func:`list_datasets`.
        n_samples: number of examples. Generated sets default to 300 (flower 400);
            fixed sets (breast_cancer, diabetes, digits, iris, wine) are subsampled
            without replacement, seeded, when it is smaller than they are.
        seed: seeds the generator (or the subsample).
        noise: noise of a generated set (moons 0.2, circles 0.05, flower 0.2, spiral
            0.2, blobs: the cluster standard deviation, 1.0).
        n_classes: number of classes of spiral and blobs (3 by default).

    Raises:
        ValueError: for an unknown name, a bad size, noise for a fixed set or
            n_classes for a set whose classes are fixed.

    Example:
        >>> data = load_dataset("moons", n_samples=10, seed=3)
        >>> data.X.shape, data.task, data.class_names
        ((10, 2), 'binary', ('0', '1'))
        >>> load_dataset("iris", n_samples=20, seed=0).class_names
        ('setosa', 'versicolor', 'virginica')
    """
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; built-in datasets are {list_datasets()}."
        )
    if n_samples is not None and (
        isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2
    ):
        raise ValueError(f"n_samples must be an integer >= 2; got {n_samples!r}.")
    if noise is not None and not (
        isinstance(noise, int | float) and not isinstance(noise, bool) and noise >= 0
    ):
        raise ValueError(f"noise must be a number >= 0; got {noise!r}.")
    if noise is not None and name not in GENERATED:
        raise ValueError(
            f"{name} is a fixed dataset; noise applies to the generated sets "
            f"({', '.join(GENERATED)}). Leave noise out."
        )
    if n_classes is not None:
        if name not in CLASS_COUNT_OPTION:
            raise ValueError(
                f"{name} has a fixed number of classes; n_classes applies to "
                f"{' and '.join(CLASS_COUNT_OPTION)}. Leave n_classes out."
            )
        if isinstance(n_classes, bool) or not isinstance(n_classes, int):
            raise ValueError(f"n_classes must be an integer >= 2; got {n_classes!r}.")
        if n_classes < 2 or n_classes > (n_samples or 300):
            raise ValueError(
                f"n_classes must be between 2 and n_samples ({n_samples or 300}); "
                f"got {n_classes}."
            )
    return DATASETS[name](n_samples, seed, noise, n_classes)
