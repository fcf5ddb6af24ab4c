"""Optimizers as chains of small gradient transformations, and learning-rate schedules.

Every optimizer is a pair of pure functions over parameter trees (optax style)::

    optimizer = nntune.optim.adam(learning_rate=0.001)
    opt_state = optimizer.init(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = nntune.optim.apply_updates(params, updates)

Momentum, RMSprop and Adam share one exponentially weighted average (:func:`ewa`) and
one bias correction (:func:`bias_correction`). Every state is made of arrays (counters
too) and every update is free of Python branches on them, so an update compiles under
``jax.jit``; hyperparameters may be arrays with one value per member of a stacked
population, and the learning rate (any hyperparameter, with
:func:`inject_hyperparams`) can be changed in a live state.

The conventions (momentum's EWA form, ``eps`` outside the root, decoupled weight
decay, epochs counted from 0) and their PyTorch and Keras equivalents are listed in
docs/conventions.md.

Example:
    >>> import numpy as np
    >>> from nntune import optim
    >>> params = {"bowl": {"x": np.array([3.0, -4.0])}}
    >>> optimizer = optim.momentum(learning_rate=0.5, beta=0.9)
    >>> opt_state = optimizer.init(params)
    >>> for _ in range(400):  # minimise 0.5 * ||x||^2, whose gradient is x
    ...     grads = {"bowl": {"x": params["bowl"]["x"]}}
    ...     updates, opt_state = optimizer.update(grads, opt_state, params)
    ...     params = optim.apply_updates(params, updates)
    >>> bool(np.allclose(params["bowl"]["x"], 0.0, atol=1e-6))
    True
"""

from .aliases import (
    HYPERPARAMETERS,
    OPTIMIZERS,
    adam,
    adamw,
    gd,
    momentum,
    optimizer_from_name,
    rmsprop,
)
from .clipping import clip_by_global_norm
from .ewa import (
    ExponentialWeightedAverage,
    bias_correction,
    ewa,
    smooth,
    tree_ewa,
)
from .inject import InjectHyperparamsState, inject_hyperparams, set_hyperparams
from .learning_rate import (
    LearningRateState,
    base_learning_rate,
    current_learning_rate,
    scale_by_learning_rate,
    scale_learning_rate,
    set_epoch,
    set_learning_rate,
)
from .phased import piecewise_constant, warmup_cosine
from .schedules import (
    SCHEDULES,
    Schedule,
    constant,
    exponential_decay,
    interval_decay,
    inverse_sqrt_decay,
    inverse_time_decay,
    schedule_from_name,
)
from .transforms import (
    AdamState,
    EmptyState,
    GradientTransformation,
    MomentumState,
    RmsState,
    add_decayed_weights,
    apply_updates,
    chain,
    scale_by_adam,
    scale_by_momentum,
    scale_by_rms,
)

__all__ = [
    "HYPERPARAMETERS",
    "OPTIMIZERS",
    "SCHEDULES",
    "AdamState",
    "EmptyState",
    "ExponentialWeightedAverage",
    "GradientTransformation",
    "InjectHyperparamsState",
    "LearningRateState",
    "MomentumState",
    "RmsState",
    "Schedule",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "base_learning_rate",
    "bias_correction",
    "chain",
    "clip_by_global_norm",
    "constant",
    "current_learning_rate",
    "ewa",
    "exponential_decay",
    "gd",
    "inject_hyperparams",
    "interval_decay",
    "inverse_sqrt_decay",
    "inverse_time_decay",
    "momentum",
    "optimizer_from_name",
    "piecewise_constant",
    "rmsprop",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_momentum",
    "scale_by_rms",
    "scale_learning_rate",
    "schedule_from_name",
    "set_epoch",
    "set_hyperparams",
    "set_learning_rate",
    "smooth",
    "tree_ewa",
    "warmup_cosine",
]
