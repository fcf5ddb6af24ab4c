"""Hyperparameter tuning: spaces on each setting's scale, strategies, studies.

:mod:`.space` builds spaces from the one table of settings (log for the learning
rate, one-minus-log for betas, powers of two for batch sizes) and samples them;
:mod:`.strategies` proposes configurations (random, grid, coarse to fine);
:mod:`.search` runs a search (:func:`tune`) whose trials live in an Optuna study
(:mod:`.study`, :mod:`.storage`), on local processes or Ray (:mod:`.engines`),
pruned by their dev error per epoch (:mod:`.pruning`).

Optuna is imported when a search or a study needs it, never by ``import nntune``.
"""

from .pruning import PRUNERS, Pruner, PruneRule, rule_for
from .search import STRATEGIES, TuneEvent, parse_duration, tune
from .space import SCALES, Dimension, Space, load_space
from .strategies import Round, coarse_to_fine, grid, random_search, zoom
from .study import Study, TrialRecord, open_study

__all__ = [
    "PRUNERS",
    "SCALES",
    "STRATEGIES",
    "Dimension",
    "PruneRule",
    "Pruner",
    "Round",
    "Space",
    "Study",
    "TrialRecord",
    "TuneEvent",
    "coarse_to_fine",
    "grid",
    "load_space",
    "open_study",
    "parse_duration",
    "random_search",
    "rule_for",
    "tune",
    "zoom",
]
