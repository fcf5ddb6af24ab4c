"""Label encoding.

Input standardization is the :class:`nntune.Standardize` layer, so that a saved model
standardizes its own inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def one_hot(labels: Any, n_classes: int | None = None, dtype: Any = np.float32) -> Any:
    """Encode integer labels ``0..K-1`` as one-hot rows.

    Raises:
        ValueError: for labels that are not integers in ``0..n_classes-1``.

    Example:
        >>> one_hot([2, 0], 3)
        array([[0., 0., 1.],
               [1., 0., 0.]], dtype=float32)
    """
    values = np.asarray(labels)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise ValueError(
            f"one_hot takes a 1-D array of integer class indices; got shape "
            f"{values.shape} and dtype {values.dtype}."
        )
    classes = int(values.max()) + 1 if n_classes is None and values.size else n_classes
    classes = classes or 0
    if values.size and (values.min() < 0 or values.max() >= classes):
        raise ValueError(
            f"labels must be in 0..{classes - 1}; found values from {values.min()} to "
            f"{values.max()}."
        )
    return np.eye(classes, dtype=dtype)[values]
