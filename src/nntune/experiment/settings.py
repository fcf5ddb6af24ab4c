"""The one table of training settings: every setting declared once.

Each :class:`Setting` has a name (the TOML key; the flag is ``--`` plus the name with
dashes), a type, a default, bounds or choices, its natural scale for a search
(``log`` for rates and strengths, ``one_minus_log`` for betas, ``int_log`` for sizes),
a help text and the optimizer, decay or switch it belongs to. From this table come:

- :class:`~nntune.TrainConfig`'s checks (types, bounds, choices) and the TOML schema:
  ``batch_norm = "false"`` is an error naming the key, the value and the type;
- the options of ``nntune train``, ``compare``, ``curves`` (:func:`click_options`);
- the scikit-learn estimators' parameters (:func:`estimator_settings`);
- the default search space of tuning (:func:`search_space`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..architectures import ACTIVATIONS
from .setting import Setting, SettingError, check_value

__all__ = [
    "BY_NAME",
    "DECAYS",
    "OPTIMIZERS",
    "SETTINGS",
    "Setting",
    "SettingError",
    "check_setting",
    "estimator_settings",
    "render_flags",
    "search_space",
]

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam", "adamw")
DECAYS = ("none", "inverse_time", "exponential", "inverse_sqrt", "interval")


def _seed(kind: str, help: str) -> Setting:
    return Setting(f"{kind}_seed", "int", None, help, "seeds", estimator=False)


def _data_file(name: str, help: str) -> Setting:
    return Setting(name, "str", None, help, "data", estimator=False)


_ADAM = ("adam", "adamw")
_ROOT = ("rmsprop", "adam", "adamw")
_DECAYING = ("inverse_time", "exponential", "inverse_sqrt", "interval")

SETTINGS: tuple[Setting, ...] = (
    # data
    Setting(
        "data",
        "str",
        "moons",
        "Built-in dataset (see `nntune datasets`) or a data file: .csv, .parquet, "
        ".npy, .npz, .h5/.hdf5.",
        "data",
        estimator=False,
    ),
    Setting(
        "n_samples",
        "int",
        None,
        "Examples to generate or sample.",
        "data",
        low=2,
        estimator=False,
    ),
    _data_file(
        "target", "Label column of a CSV/Parquet file (default: the last column)."
    ),
    _data_file("x_key", "Features dataset of an HDF5/.npz file (e.g. train_set_x)."),
    _data_file("y_key", "Labels dataset of an HDF5/.npz file (e.g. train_set_y)."),
    Setting(
        "task",
        "str",
        None,
        "Task of a data file (default: inferred from the labels).",
        "data",
        choices=("binary", "multiclass", "regression"),
        estimator=False,
    ),
    # model
    Setting(
        "layers",
        "layers",
        (10, 5),
        "Hidden layer sizes, comma-separated (default 10,5).",
        "model",
        estimator=False,  # the estimators call it hidden_layer_sizes
    ),
    Setting(
        "activation",
        "str",
        "relu",
        "Hidden activation (default relu).",
        "model",
        choices=tuple(sorted(ACTIVATIONS)),
    ),
    Setting(
        "init",
        "str",
        "he",
        "Initializer: zeros, random[:scale], xavier, glorot, he[:scale] (he).",
        "model",
    ),
    # optimizer
    Setting(
        "optimizer",
        "str",
        "adam",
        "Optimizer (default adam).",
        "optimizer",
        choices=OPTIMIZERS,
    ),
    Setting(
        "learning_rate",
        "float",
        None,
        "Initial learning rate alpha (default 0.001; 0.01 for gd and momentum).",
        "optimizer",
        low=0.0,
        low_open=True,
        scale="log",
        search=(1e-4, 1e-1),
    ),
    Setting(
        "beta",
        "float",
        None,
        "Momentum's EWA coefficient (default 0.9).",
        "optimizer",
        low=0.0,
        high=1.0,
        high_open=True,
        scale="one_minus_log",
        search=(0.8, 0.999),
        applies={"optimizer": ("momentum",)},
    ),
    Setting(
        "beta1",
        "float",
        None,
        "Adam's first-moment coefficient (default 0.9).",
        "optimizer",
        low=0.0,
        high=1.0,
        high_open=True,
        scale="one_minus_log",
        search=(0.8, 0.999),
        applies={"optimizer": _ADAM},
    ),
    Setting(
        "beta2",
        "float",
        None,
        "Adam's / RMSprop's second-moment coefficient (default 0.999).",
        "optimizer",
        low=0.0,
        high=1.0,
        high_open=True,
        scale="one_minus_log",
        search=(0.9, 0.9999),
        applies={"optimizer": _ROOT},
    ),
    Setting(
        "epsilon",
        "float",
        None,
        "Adam's / RMSprop's epsilon (default 1e-8).",
        "optimizer",
        low=0.0,
        low_open=True,
        scale="log",
        applies={"optimizer": _ROOT},
    ),
    Setting(
        "weight_decay",
        "float",
        None,
        "AdamW's decoupled decay.",
        "optimizer",
        low=0.0,
        scale="log",
        search=(1e-5, 1e-1),
        applies={"optimizer": ("adamw",)},
    ),
    Setting(
        "clip_norm",
        "float",
        None,
        "Clip gradients to this global L2 norm.",
        "optimizer",
        low=0.0,
        low_open=True,
        scale="log",
    ),
    # schedule
    Setting(
        "decay",
        "str",
        "none",
        "Learning-rate decay per epoch (default none): inverse_time "
        "lr0/(1+rate*epoch), exponential lr0*rate^epoch, inverse_sqrt "
        "lr0*rate/sqrt(epoch+1), interval lr0/(1+rate*floor(epoch/interval)).",
        "schedule",
        choices=DECAYS,
    ),
    Setting(
        "decay_rate",
        "float",
        None,
        "Rate of the decay: decay_rate of inverse_time and interval (default 1), k "
        "of inverse_sqrt (1) and the base k of exponential (0.95).",
        "schedule",
        low=0.0,
        scale="log",
        applies={"decay": _DECAYING},
    ),
    Setting(
        "decay_interval",
        "int",
        1000,
        "Epochs per step of the interval decay (default 1000).",
        "schedule",
        low=1,
        applies={"decay": ("interval",)},
    ),
    # training
    Setting(
        "batch_size",
        "int",
        64,
        "Mini-batch size (default 64; 1 is SGD, >= the training set is batch GD).",
        "training",
        low=1,
        scale="int_log",
        search=(16, 512),
    ),
    Setting("epochs", "int", 100, "Epochs (default 100).", "training", low=1),
    Setting(
        "l2",
        "float",
        0.0,
        "L2 regularization lambda (default 0).",
        "model",
        low=0.0,
        scale="log",
        search=(1e-4, 10.0),
    ),
    Setting(
        "keep_prob",
        "float",
        1.0,
        "Dropout keep probability (default 1: no dropout).",
        "model",
        low=0.0,
        high=1.0,
        low_open=True,
        scale="linear",
        search=(0.5, 1.0),
    ),
    Setting(
        "batch_norm",
        "bool",
        False,
        "Batch normalization after hidden layers.",
        "model",
    ),
    Setting(
        "standardize",
        "bool",
        True,
        "Standardize inputs with training-set statistics (default on).",
        "model",
    ),
    Setting(
        "early_stopping",
        "bool",
        False,
        "Stop when the dev cost stops improving; keep the best weights.",
        "training",
    ),
    Setting(
        "patience",
        "int",
        10,
        "Early-stopping patience (10).",
        "training",
        low=1,
        applies={"early_stopping": (True,)},
    ),
    # split
    Setting(
        "dev",
        "float",
        None,
        "Dev-set fraction (default 20%, at most 10,000 examples).",
        "split",
        low=0.0,
        high=1.0,
        high_open=True,
        estimator=False,
    ),
    Setting(
        "test",
        "float",
        None,
        "Test-set fraction (default 20%, at most 10,000 examples).",
        "split",
        low=0.0,
        high=1.0,
        high_open=True,
        estimator=False,
    ),
    Setting(
        "train_dev",
        "float",
        None,
        "Train-dev fraction held out of training (separates variance from data "
        "mismatch in the diagnosis; default none).",
        "split",
        low=0.0,
        high=1.0,
        high_open=True,
        estimator=False,
    ),
    Setting(
        "augment",
        "str",
        None,
        "Image augmentation per training mini-batch: flip, shift[:pixels], "
        "rotate[:degrees], noise[:std], comma-separated (e.g. flip,shift:1).",
        "training",
        estimator=False,
    ),
    # seeds
    Setting(
        "seed",
        "int",
        0,
        "Seed of the data, split, weights and shuffles (0); the four seeds below "
        "override it one by one.",
        "seeds",
        estimator=False,
    ),
    _seed("data", "Seed of a generated dataset or its sample (default: --seed)."),
    _seed("split", "Seed of the train/dev/test split (default: --seed)."),
    _seed("init", "Seed of the initial weights (default: --seed)."),
    _seed(
        "shuffle",
        "Seed of the mini-batch shuffles and dropout masks (default: --seed).",
    ),
    # run
    Setting(
        "dtype",
        "str",
        "float32",
        "Precision (float32).",
        "run",
        choices=("float32", "float64"),
    ),
    Setting(
        "backend",
        "str",
        "numpy",
        "Array backend: numpy (eager) or jax (each epoch compiled, on a GPU when JAX "
        'has one; pip install "nntune[jax]"). Same math, same mini-batches.',
        "run",
        choices=("numpy", "jax"),
    ),
    Setting(
        "checkpoint_every",
        "int",
        None,
        "Epochs between checkpoints (default: epochs/50).",
        "run",
        low=1,
        estimator=False,
    ),
    Setting(
        "out",
        "str",
        None,
        "Run directory (default runs/<data>-<settings hash>); a rerun with the same "
        "settings resumes from its checkpoint.",
        "run",
        estimator=False,
    ),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def check_setting(name: str, value: Any, source: str = "config") -> Any:
    """Return ``value`` for setting ``name``, checked against the table.

    Integers are accepted for numbers (and returned as floats); a whole float is not
    an integer. Layers may be given as a list or as ``"10,5"``.

    Raises:
        SettingError: one line naming the source, the key, the value and what was
            expected.

    Example:
        >>> check_setting("batch_norm", "false", "config.toml")
        Traceback (most recent call last):
        ...
        nntune.experiment.setting.SettingError: config.toml: batch_norm = 'false' is a string; expected true or false (a TOML boolean, not a string).
    """  # noqa: E501
    return check_value(BY_NAME[name], value, source)


def render_flags(change: Mapping[str, Any]) -> str:
    """The command-line flags of a change of settings, in the table's spelling.

    Example:
        >>> render_flags({"layers": (20, 10), "l2": 0.7, "early_stopping": True})
        '--layers 20,10 --l2 0.7 --early-stopping'
    """
    parts = []
    for name, value in change.items():
        setting = BY_NAME[name]
        if setting.kind == "bool":
            parts.append(setting.flag if value else f"--no-{setting.flag[2:]}")
        elif setting.kind == "layers":
            parts.append(f"{setting.flag} {','.join(str(int(u)) for u in value)}")
        elif isinstance(value, float):
            parts.append(f"{setting.flag} {value:g}")
        else:
            parts.append(f"{setting.flag} {value}")
    return " ".join(parts)


def estimator_settings() -> tuple[Setting, ...]:
    """The settings the scikit-learn estimators take as parameters."""
    return tuple(setting for setting in SETTINGS if setting.estimator)


def search_space() -> dict[str, tuple[str, float, float]]:
    """The default search space: ``{name: (scale, low, high)}`` of searched settings.

    Example:
        >>> search_space()["beta1"]
        ('one_minus_log', 0.8, 0.999)
    """
    return {
        setting.name: (setting.scale, *setting.search)
        for setting in SETTINGS
        if setting.scale is not None and setting.search is not None
    }
