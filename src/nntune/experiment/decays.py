"""The learning-rate decay of a config: its optimizer's schedule, or a callback.

``decay`` names one of the schedules of :mod:`nntune.optim` (the course's four decays,
``piecewise`` and ``warmup_cosine``), or ``plateau``: a constant rate that
:class:`~nntune.ReduceLROnPlateau` lowers when the dev cost stops falling.
``warmup_cosine`` counts optimizer steps: its warm-up and cosine are given in epochs
and turned into steps from the number of training examples and the batch size.
"""

from __future__ import annotations

import numpy as np

from ..data.batches import minibatch_indices
from ..optim import (
    Schedule,
    piecewise_constant,
    schedule_from_name,
    warmup_cosine,
)
from ..training import Callback, ReduceLROnPlateau
from .config import DEFAULT_DECAY_RATES, TrainConfig

__all__ = ["build_schedule", "decay_callbacks", "steps_per_epoch"]

DEFAULT_DECAY_PATIENCE = 10


def steps_per_epoch(config: TrainConfig, train_examples: int) -> int:
    """The optimizer steps of one epoch of ``train_examples`` (as ``fit`` cuts them).

    Example:
        >>> steps_per_epoch(TrainConfig(batch_size=64), 180)  # 64 + 64 + 52
        3
    """
    # Batch norm cannot train on a lone example: fit joins it to the batch before.
    min_last = 2 if config.batch_norm else 1
    rng = np.random.default_rng(0)
    batches = minibatch_indices(train_examples, config.batch_size, rng, min_last)
    return sum(1 for _ in batches)


def build_schedule(
    config: TrainConfig, learning_rate: float, train_examples: int | None = None
) -> float | Schedule:
    """The learning rate of ``config``'s optimizer: a number or a schedule.

    Args:
        config: the settings (``decay``, ``decay_rate``, ...).
        learning_rate: the initial rate ``lr0`` (the peak of ``warmup_cosine``).
        train_examples: the training examples per epoch; ``warmup_cosine`` needs it
            to count its steps.

    Raises:
        ValueError: for ``warmup_cosine`` without ``train_examples``.
    """
    decay = config.decay
    rate = config.decay_rate
    if rate is None:
        rate = DEFAULT_DECAY_RATES.get(decay, 1.0)
    if decay in ("none", "plateau"):
        return learning_rate
    if decay == "piecewise":
        boundaries = config.decay_boundaries or ()
        values = [learning_rate * rate**i for i in range(len(boundaries) + 1)]
        return piecewise_constant(boundaries, values)
    if decay == "warmup_cosine":
        if train_examples is None:
            raise ValueError(
                "decay = 'warmup_cosine' turns its epochs into optimizer steps, so it "
                "needs the number of training examples (build_optimizer(config, "
                "train_examples=m)); a loop that trains one epoch at a time "
                "(partial_fit) cannot use it. Choose another decay there."
            )
        steps = steps_per_epoch(config, train_examples)
        warmup = config.warmup_epochs or 0
        return warmup_cosine(
            learning_rate,
            warmup_steps=warmup * steps,
            decay_steps=(config.epochs - warmup) * steps,
        )
    if decay == "interval":
        options = {"decay_rate": rate, "interval": config.decay_interval}
    elif decay == "inverse_time":
        options = {"decay_rate": rate}
    else:  # exponential, inverse_sqrt
        options = {"k": rate}
    return schedule_from_name(decay, learning_rate, **options)


def decay_callbacks(config: TrainConfig) -> list[Callback]:
    """The callbacks of ``config``'s decay: ReduceLROnPlateau for ``plateau``."""
    if config.decay != "plateau":
        return []
    patience = config.decay_patience or DEFAULT_DECAY_PATIENCE
    factor = config.decay_rate or DEFAULT_DECAY_RATES["plateau"]
    return [ReduceLROnPlateau("dev_cost", factor=factor, patience=patience)]
