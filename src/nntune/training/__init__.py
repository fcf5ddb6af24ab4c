"""Training: the fit loop, its callbacks, history and checkpoints."""

from .callbacks import (
    Callback,
    EarlyStopping,
    Improvement,
    ProgressBar,
    ReduceLROnPlateau,
)
from .checkpoint import Checkpoint, CheckpointError
from .fit import Trainer, TrainingDivergedError, evaluate, fit
from .history import History

__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "EarlyStopping",
    "History",
    "Improvement",
    "ProgressBar",
    "ReduceLROnPlateau",
    "Trainer",
    "TrainingDivergedError",
    "evaluate",
    "fit",
]
