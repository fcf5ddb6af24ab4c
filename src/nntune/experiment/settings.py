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
from ..initializers import ALIASES, Initializer
from .classification import parse_class_weight
from .optimizer_settings import (
    DECAYS,
    OPTIMIZER_SETTINGS,
    OPTIMIZERS,
    SCHEDULE_SETTINGS,
)
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
    "setting_name",
]


def _seed(kind: str, help: str) -> Setting:
    return Setting(f"{kind}_seed", "int", None, help, "seeds", estimator=False)


def _data_file(name: str, help: str) -> Setting:
    return Setting(name, "str", None, help, "data", estimator=False)


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
        "Initializer: zeros, random[:scale], xavier, glorot, he[:scale] (he); "
        "Keras' he_normal, glorot_normal, lecun_normal (truncated), he_uniform, "
        "glorot_uniform, lecun_uniform; PyTorch's kaiming_normal is he, "
        "xavier_normal glorot, kaiming_uniform he_uniform, xavier_uniform "
        "glorot_uniform.",
        "model",
        value_aliases=ALIASES,
        check=Initializer.parse,
    ),
    *OPTIMIZER_SETTINGS,
    *SCHEDULE_SETTINGS,
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
        "l1",
        "float",
        None,
        "L1 regularization lambda: lambda/(2m) * sum |W| over the weights (default 0).",
        "model",
        low=0.0,
        scale="log",
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
        "batch_norm_momentum",
        "float",
        None,
        "Batch norm's running statistics: momentum*running + (1-momentum)*batch "
        "(default 0.9 = PyTorch's momentum=0.1; Keras' momentum is nntune's).",
        "model",
        low=0.0,
        high=1.0,
        high_open=True,
        applies={"batch_norm": (True,)},
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
    Setting(
        "min_delta",
        "float",
        None,
        "Smallest fall of the dev cost that early stopping counts as an "
        "improvement (default 0).",
        "training",
        low=0.0,
        applies={"early_stopping": (True,)},
    ),
    Setting(
        "class_weight",
        "str",
        None,
        "Weigh the training loss by class: balanced (n_samples / (n_classes * "
        "count of the class)) or CLASS:WEIGHT,... such as spam:5 (default: 1 each).",
        "training",
        check=parse_class_weight,
        estimator=False,  # NNClassifier's own class_weight also takes a dict
    ),
    Setting(
        "threshold",
        "number_or_auto",
        None,
        "Binary decision threshold on P(class 1) in (0, 1), or auto: the one of "
        "best F1 on the dev set (default 0.5). Kept with the model.",
        "training",
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
        estimator=False,  # NNClassifier's own: a regressor has none
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
_ALIAS_NAMES = {
    alias: setting.name for setting in SETTINGS for alias in setting.aliases
}


def setting_name(key: str) -> str:
    """The setting a key names: dashes are underscores, an alias is its setting.

    Example:
        >>> setting_name("batch-size"), setting_name("lr")
        ('batch_size', 'learning_rate')
    """
    name = key.replace("-", "_")
    return _ALIAS_NAMES.get(name, name)


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
        elif setting.kind in ("layers", "epochs"):
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
