"""Training: the fit loop, its callbacks, history and checkpoints."""

from .callbacks import (
    Callback,
    EarlyStopping,
    Improvement,
    ProgressBar,
    ReduceLROnPlateau,
    StopOnSignal,
)
from .checkpoint import Checkpoint, CheckpointError
from .evaluation import evaluate
from .fit import TrainingDivergedError, fit
from .health import GradientHealthReport, LayerHealth, gradient_health, layer_statistics
from .health_callback import GradientHealth
from .history import History
from .state import TrainState
from .step import TrainStep, make_train_step
from .trainer import Trainer

__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "EarlyStopping",
    "GradientHealth",
    "GradientHealthReport",
    "History",
    "Improvement",
    "LayerHealth",
    "ProgressBar",
    "ReduceLROnPlateau",
    "StopOnSignal",
    "TrainState",
    "TrainStep",
    "Trainer",
    "TrainingDivergedError",
    "evaluate",
    "fit",
    "gradient_health",
    "layer_statistics",
    "make_train_step",
]
