"""nntune: improve deep neural networks, with numbers you can check.

Example:
    >>> import nntune
    >>> data = nntune.load_dataset("moons", n_samples=100)
    >>> model = nntune.mlp([10, 5], batch_norm=True, l2=0.7)
    >>> model = model.init(2, seed=1, dtype="float64")
    >>> nntune.gradient_check(model, data.X, data.y).passed
    True
"""

from . import optim
from .activations import (
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    sigmoid,
    softmax,
)
from .architectures import ACTIVATIONS, mlp
from .backend import (
    DEFAULT_DTYPE,
    Array,
    Params,
    State,
    make_rng,
    namespace,
    resolve_dtype,
)
from .backend.random import key as random_key
from .data import (
    DataFileError,
    Dataset,
    list_datasets,
    load_dataset,
    load_file,
    save_file,
)
from .data.split import train_dev_test_split
from .export import to_onnx, to_torch
from .gradcheck import (
    GradientCheckReport,
    ParameterCheck,
    gradient_check,
    numerical_gradient,
    relative_difference,
)
from .initializers import INITIALIZERS, Initializer
from .layers import Dense, Dropout, Layer, layer_from_config
from .losses import (
    BinaryCrossEntropy,
    Loss,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)
from .model import Sequential
from .normalization import BatchNorm, Standardize
from .optim import ExponentialWeightedAverage, adam, adamw, gd, momentum, rmsprop
from .regularizers import L1, L2
from .serialization import ModelFileError, load_model, save_model
from .training import (
    Callback,
    Checkpoint,
    EarlyStopping,
    GradientHealth,
    GradientHealthReport,
    History,
    ProgressBar,
    ReduceLROnPlateau,
    TrainingDivergedError,
    TrainState,
    fit,
    gradient_health,
    make_train_step,
)

__version__ = "0.1.0"


# Workflows and interfaces load on first use: `import nntune` loads only the core
# (and the scikit-learn estimators would load scikit-learn).
_LAZY = {
    "NNClassifier": "estimators",
    "NNRegressor": "estimators",
    "TrainConfig": "experiment.config",
    "run_training": "experiment.rundir",
    "prepare_data": "experiment.trial",
    "train_trial": "experiment.trial",
    "recipe": "experiment.recipe",
    "PreparedData": "experiment.trial",
    "TrialResult": "experiment.trial",
    "SETTINGS": "experiment.settings",
    "tune": "tuning",
    "open_study": "tuning",
    "Space": "tuning",
    "Study": "tuning",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'nntune' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "DEFAULT_DTYPE",
    "INITIALIZERS",
    "L1",
    "L2",
    "SETTINGS",
    "Array",
    "BatchNorm",
    "BinaryCrossEntropy",
    "Callback",
    "Checkpoint",
    "DataFileError",
    "Dataset",
    "Dense",
    "Dropout",
    "EarlyStopping",
    "ExponentialWeightedAverage",
    "GradientCheckReport",
    "GradientHealth",
    "GradientHealthReport",
    "History",
    "Identity",
    "Initializer",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MeanSquaredError",
    "ModelFileError",
    "NNClassifier",
    "NNRegressor",
    "ParameterCheck",
    "Params",
    "PreparedData",
    "ProgressBar",
    "ReLU",
    "ReduceLROnPlateau",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Space",
    "Standardize",
    "State",
    "Study",
    "Tanh",
    "TrainConfig",
    "TrainState",
    "TrainingDivergedError",
    "TrialResult",
    "__version__",
    "adam",
    "adamw",
    "fit",
    "gd",
    "gradient_check",
    "gradient_health",
    "layer_from_config",
    "list_datasets",
    "load_dataset",
    "load_file",
    "load_model",
    "make_rng",
    "make_train_step",
    "mlp",
    "momentum",
    "namespace",
    "numerical_gradient",
    "open_study",
    "optim",
    "prepare_data",
    "random_key",
    "recipe",
    "relative_difference",
    "resolve_dtype",
    "rmsprop",
    "run_training",
    "save_file",
    "save_model",
    "sigmoid",
    "softmax",
    "to_onnx",
    "to_torch",
    "train_dev_test_split",
    "train_trial",
    "tune",
]
