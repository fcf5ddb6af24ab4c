"""The optimizer and learning-rate schedule rows of the table of settings.

:data:`nntune.experiment.settings.SETTINGS` puts them between the model's settings and
the training loop's. Names PyTorch and Keras users type are accepted where they mean
exactly the same: ``--lr`` for ``--learning-rate`` and ``sgd`` for ``gd``.
"""

from __future__ import annotations

from .setting import Setting

__all__ = ["DECAYS", "OPTIMIZERS", "OPTIMIZER_SETTINGS", "SCHEDULE_SETTINGS"]

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam", "adamw")
DECAYS = (
    "none",
    "inverse_time",
    "exponential",
    "inverse_sqrt",
    "interval",
    "piecewise",
    "warmup_cosine",
    "plateau",
)

_ADAM = ("adam", "adamw")
_ROOT = ("rmsprop", "adam", "adamw")
_DECAYING = tuple(decay for decay in DECAYS if decay not in ("none", "warmup_cosine"))

OPTIMIZER_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "optimizer",
        "str",
        "adam",
        "Optimizer (default adam); sgd is gd, plain gradient descent (PyTorch's and "
        "Keras' SGD without momentum).",
        "optimizer",
        choices=OPTIMIZERS,
        value_aliases={"sgd": "gd"},
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
        aliases=("lr",),
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
)

SCHEDULE_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "decay",
        "str",
        "none",
        "Learning-rate decay (default none): inverse_time lr0/(1+rate*epoch), "
        "exponential lr0*rate^epoch, inverse_sqrt lr0*rate/sqrt(epoch+1), interval "
        "lr0/(1+rate*floor(epoch/interval)), piecewise lr0*rate^i from the i-th of "
        "--decay-boundaries on, warmup_cosine (per step: linear from 0 to lr0 over "
        "--warmup-epochs, then a cosine to 0 at the last epoch), plateau (lr*rate "
        "after --decay-patience epochs without a lower dev cost).",
        "schedule",
        choices=DECAYS,
    ),
    Setting(
        "decay_rate",
        "float",
        None,
        "Rate of the decay: decay_rate of inverse_time and interval (default 1), k "
        "of inverse_sqrt (1), the base k of exponential (0.95), the factor of "
        "piecewise and plateau (0.1).",
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
    Setting(
        "warmup_epochs",
        "int",
        None,
        "Epochs of linear warm-up from 0 to the learning rate before warmup_cosine's "
        "cosine (default 0).",
        "schedule",
        low=0,
        applies={"decay": ("warmup_cosine",)},
    ),
    Setting(
        "decay_boundaries",
        "epochs",
        None,
        "Epochs from which piecewise multiplies the rate by decay_rate, e.g. 50,80 "
        "(PyTorch's MultiStepLR milestones).",
        "schedule",
        applies={"decay": ("piecewise",)},
    ),
    Setting(
        "decay_patience",
        "int",
        None,
        "Epochs without a lower dev cost before plateau multiplies the rate by "
        "decay_rate (default 10).",
        "schedule",
        low=1,
        applies={"decay": ("plateau",)},
    ),
)
