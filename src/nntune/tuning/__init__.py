"""Hyperparameter tuning: search spaces on each setting's natural scale.

:mod:`.space` builds spaces from the one table of settings (log for the learning
rate, one-minus-log for betas, powers of two for batch sizes) and samples them;
:mod:`.strategies` proposes configurations: random, grid, coarse to fine.
"""

from .space import SCALES, Dimension, Space, load_space
from .strategies import Round, coarse_to_fine, grid, random_search, zoom

__all__ = [
    "SCALES",
    "Dimension",
    "Round",
    "Space",
    "coarse_to_fine",
    "grid",
    "load_space",
    "random_search",
    "zoom",
]
