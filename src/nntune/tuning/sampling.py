"""How trials get their values: Optuna's distributions and model-based samplers.

Optuna stores each searched setting's value under a distribution
(:func:`distribution`): the setting's own value, on a log scale where its scale is
one (a ``one_minus_log`` beta is stored as itself, on a linear range). Optuna's
model-based samplers (TPE, CMA-ES, GP) run over each setting's unit interval
instead (:func:`model_based`), so they search a beta on the scale of ``1 - beta``
as random search does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .space import Dimension, Space
from .study import TrialRecord

__all__ = ["check_sampler_packages", "distribution", "model_based"]


def check_sampler_packages(strategy: str) -> None:
    """Refuse a strategy whose packages are missing, naming them."""
    needed = {"cmaes": ["cmaes"], "gp": ["torch", "scipy"]}[strategy]
    import importlib.util

    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(
            f"the {strategy} strategy is Optuna's and needs {', '.join(missing)}, "
            f"which is not installed (pip install {' '.join(missing)}); or use tpe."
        )


def distribution(dimension: Dimension) -> Any:
    """The Optuna distribution a setting's values are stored under."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if dimension.scale == "choice":
        return CategoricalDistribution(list(dimension.choices))
    if dimension.scale == "pow2":
        values = [dimension.from_unit(i / 64) for i in range(65)]
        return CategoricalDistribution(sorted(set(values)))
    if dimension.scale in ("int", "int_log"):
        log = dimension.scale == "int_log"
        return IntDistribution(int(dimension.low), int(dimension.high), log=log)
    log = dimension.scale == "log"
    return FloatDistribution(float(dimension.low), float(dimension.high), log=log)


def model_based(
    space: Space, finished: Sequence[TrialRecord], strategy: str, seed: int
) -> dict[str, Any]:
    """Values drawn by an Optuna sampler over each setting's own scale.

    The sampler sees the finished trials in each setting's unit interval (a beta on
    the log scale of ``1 - beta``), asks for the next point there, and the point is
    mapped back to the settings' values.
    """
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    sampler: Any
    if strategy == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    elif strategy == "cmaes":
        sampler = optuna.samplers.CmaEsSampler(
            seed=seed, warn_independent_sampling=False
        )
    else:
        sampler = optuna.samplers.GPSampler(seed=seed)
    units = optuna.create_study(sampler=sampler)
    dimensions = space.dimensions

    def unit_distribution(name: str) -> Any:
        dimension = dimensions[name]
        if dimension.scale == "choice":
            return CategoricalDistribution(list(dimension.choices))
        return FloatDistribution(0.0, 1.0)

    for record in finished:
        if record.value is None or not record.params.keys() <= dimensions.keys():
            continue
        params = {
            name: value
            if dimensions[name].scale == "choice"
            else dimensions[name].to_unit(value)
            for name, value in record.params.items()
        }
        units.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={n: unit_distribution(n) for n in params},
                value=record.value,
            )
        )
    trial = units.ask()
    values: dict[str, Any] = {}
    for name in space.ordered():
        if not space.applies(name, values):
            continue
        dimension = dimensions[name]
        if dimension.scale == "choice":
            values[name] = trial.suggest_categorical(name, list(dimension.choices))
        else:
            values[name] = dimension.from_unit(trial.suggest_float(name, 0.0, 1.0))
    return values
