"""``fit(seed=np.random.RandomState(...))``: training drawn as the course's labs draw.

The labs draw from NumPy's legacy global generator: each epoch's order is
``np.random.permutation(m)`` (the optimization lab's ``random_mini_batches``) and each
step's dropout masks ``np.random.rand(units, examples) < keep_prob``, layer by layer
(the regularization lab). Given a ``RandomState``, :func:`~nntune.fit` draws the order
of an epoch here, on the host, and the masks through the training state's key, a
:class:`~nntune.backend.random.LegacyKey`; the generator changes as it draws, so such
a run is eager NumPy, one model, not resumable from a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..data.batches import minibatch_indices
from .checkpoint import Checkpoint

__all__ = ["check_legacy_seed", "legacy_plan"]


def legacy_plan(
    generator: np.random.RandomState, m: int, batch_size: int, min_last: int
) -> Callable[[], tuple[Any, list[Any]]]:
    """An epoch's plan (see ``nntune.training.runners.Plan``) drawn from ``generator``.

    The order is drawn now, when the epoch starts (after its ``on_epoch_begin``
    callbacks, which may reseed the generator as the labs do). Each call of the plan
    puts the generator back where the order left it, so that an epoch replayed after
    a non-finite cost draws its dropout masks again.
    """
    batches = list(minibatch_indices(m, batch_size, generator, min_last))
    after = generator.get_state()

    def plan() -> tuple[Any, list[Any]]:
        generator.set_state(after)
        return generator, batches

    return plan


def check_legacy_seed(backend: str, augment: Any, callbacks: Sequence[Any]) -> None:
    """Refuse what a RandomState seed cannot do, saying what to pass instead.

    Raises:
        ValueError: for the JAX backend, augmentation or a checkpoint.
    """
    refused = {
        "the JAX backend (its compiled steps cannot draw from it)": backend != "numpy",
        "augment (it draws from a numpy Generator)": augment is not None,
        "a Checkpoint (the generator is not saved)": any(
            isinstance(callback, Checkpoint) for callback in callbacks
        ),
    }
    for what, applies in refused.items():
        if applies:
            raise ValueError(
                f"seed is a numpy.random.RandomState, which draws as the course's "
                f"labs do, on the host; it does not work with {what}. Pass an "
                "integer seed instead."
            )
