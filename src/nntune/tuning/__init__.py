"""Hyperparameter tuning: search spaces on each setting's natural scale.

:mod:`.space` builds spaces from the one table of settings (log for the learning
rate, one-minus-log for betas, powers of two for batch sizes) and samples them.
"""

from .space import SCALES, Dimension, Space, load_space

__all__ = ["SCALES", "Dimension", "Space", "load_space"]
