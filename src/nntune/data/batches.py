"""Mini-batches: shuffle, then partition; the last batch may be smaller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backend import Draws


def minibatch_indices(
    m: int, batch_size: int, rng: Draws | None, min_last: int = 1
) -> Iterator[np.ndarray[Any, Any] | slice]:
    """Yield index arrays of mini-batches of ``m`` examples.

    ``batch_size >= m`` is batch gradient descent: one batch, the data as they are (a
    slice, so no copy is made). ``batch_size == 1`` is stochastic gradient descent.
    Otherwise the examples are shuffled with ``rng`` and cut into ``ceil(m /
    batch_size)`` batches, the last one smaller when ``batch_size`` does not divide
    ``m``; a last batch smaller than ``min_last`` joins the one before it (batch
    normalization needs at least 2 examples to estimate a variance). The order is
    ``rng.permutation(m)``: with a legacy RandomState, that of the course's
    ``random_mini_batches``.

    Raises:
        ValueError: if ``batch_size < 1``.

    Example:
        >>> import numpy as np
        >>> [len(b) for b in minibatch_indices(10, 4, np.random.default_rng(0))]
        [4, 4, 2]
        >>> list(minibatch_indices(10, 64, None))
        [slice(None, None, None)]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(f"batch_size must be an integer; got {batch_size!r}.")
    if batch_size < 1:
        raise ValueError(
            "batch_size must be >= 1 (1 is stochastic gradient descent); got "
            f"{batch_size}."
        )
    if batch_size >= m:
        yield slice(None)
        return
    if rng is None:
        raise ValueError("mini-batches need a random generator to shuffle; pass rng=.")
    order = rng.permutation(m)
    starts = list(range(0, m, batch_size))
    if len(starts) > 1 and m - starts[-1] < min_last:
        starts.pop()
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else m
        yield order[start:end]
