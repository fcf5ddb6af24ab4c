"""The recipe's searches and its learning curve (see :mod:`nntune.experiment.recipe`).

The searches follow the course's order of importance: the learning rate first, on
a log scale (coarse to fine; one population where it can), then ``beta1`` on the
one-minus-log scale and the mini-batch size over powers of two. A search's best
trial replaces the model only when its dev error is lower. The learning curve
trains on growing shares of the training set to tell whether more data would help.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .config import DEFAULT_LEARNING_RATES, TrainConfig
from .recipe_story import RecipeState, Step, dev_error, make_step, shown
from .trial import PreparedData, train_trial

__all__ = ["learning_curve_step", "structure_steps", "tune_steps"]


def learning_curve_step(
    state: RecipeState, config: TrainConfig, data: PreparedData
) -> Step:
    """Would more data help? The dev error on growing shares of the training set."""
    train = data.split.train
    order = np.random.default_rng(config.seed_for("split")).permutation(train)
    points = []
    started = time.perf_counter()
    for share in (0.25, 0.5, 1.0):
        rows = order[: max(2, round(share * len(order)))]
        key = f"curve-{config.fingerprint()}-{config.epochs}-{len(rows)}"
        found = state.recorded(key)
        if found is None:
            begun = time.perf_counter()
            result = train_trial(config, data, train_rows=rows)
            seconds = time.perf_counter() - begun
            found = {"train": result.train, "dev": result.dev, "seconds": seconds}
            found = state.record(key, found)
        points.append((len(rows), dev_error(data, found)))
    falling = points[-1][1] < points[-2][1] - 1e-12
    shown = ", ".join(f"{n} examples: dev {e:.4g}" for n, e in points)
    verdict = (
        "the dev error still falls as examples are added: more data would help"
        if falling
        else "the dev error no longer falls with more examples: more data alone "
        "would help little"
    )
    return Step(
        "learning curve",
        f"{shown}; {verdict}",
        {},
        "high variance: a learning curve tells whether more data would narrow the gap",
        seconds=time.perf_counter() - started,
    )


def tune_steps(
    state: RecipeState,
    config: TrainConfig,
    current: dict[str, Any],
    data: PreparedData,
    trials: int,
    searches: dict[str, Any],
) -> tuple[TrainConfig, dict[str, Any]]:
    """Search the learning rate, then beta1 and the mini-batch size."""
    from ..tuning.search import tune

    rate = config.learning_rate or DEFAULT_LEARNING_RATES.get(config.optimizer, 1e-3)
    stages: list[tuple[str, dict[str, Any], str]] = [
        (
            "learning_rate",
            {"learning_rate": {"log": [rate / 10, min(1.0, rate * 10)]}},
            "the learning rate matters most: searched first, on a log scale",
        )
    ]
    second: dict[str, Any] = {"batch_size": {"pow2": [32, 256]}}
    if config.optimizer == "adam":
        second["beta1"] = {"one_minus_log": [0.8, 0.99]}
    why = "next in importance: momentum's beta1 (1 - beta on a log scale) and the "
    why += "mini-batch size (powers of two)"
    stages.append(("beta1_batch_size", second, why))
    for index, (name, space, why) in enumerate(stages):
        reserve = _reserve(current)
        share = 0.5 if index == 0 else 1.0
        limit = share * (state.left() - reserve)
        if limit <= 1:
            state.add(Step(f"tune {name}", "the budget is spent", {}, why))
            continue
        base = {k: v for k, v in config.settings().items() if k not in space}
        base.pop("out", None)
        started = time.perf_counter()
        key = f"tune-{name}-{config.fingerprint()}-{config.epochs}"
        best = state.recorded(key)
        if best is None:
            study = tune(
                {"space": space, "base": base},
                study=state.folder / "studies" / f"{name}-{config.fingerprint()[:8]}",
                trials=trials,
                time_limit=limit,
                strategy="coarse-to-fine" if index == 0 else "random",
                rounds=2,
                **searches,
            )
            try:
                record = study.best
            except ValueError:  # no trial finished in the time left
                state.add(Step(f"tune {name}", "no trial finished in time", {}, why))
                continue
            best = state.record(
                key,
                {
                    "params": record.params,
                    "value": record.value,
                    "train": record.train,
                    "dev": record.dev,
                    "epochs_run": record.epochs_run,
                    "trials": len(study.trials),
                    "seconds": time.perf_counter() - started,
                },
            )
        params = best["params"]
        candidate = TrainConfig.from_mapping({**config.settings(), **params})
        before, value = dev_error(data, current), dev_error(data, best)
        kept = value < before
        seen = (
            f"{best['trials']} trials; the best dev error {value:.4g} with "
            f"{shown(params)} (the current model's: {before:.4g})"
        )
        found = {**best, "stopped_early": False, "cost_flat": False}
        if kept:
            config, current = candidate, found
        step = make_step(f"tune {name}", seen, candidate, found if kept else {}, {})
        step.changed = dict(params) if kept else {}
        step.why, step.kept = why, kept
        step.seconds = float(best["seconds"])
        state.add(step)
    return config, current


def structure_steps(
    state: RecipeState,
    config: TrainConfig,
    current: dict[str, Any],
    data: PreparedData,
) -> tuple[TrainConfig, dict[str, Any]]:
    """Last in importance: the hidden units, the number of layers and the decay.

    Each is a few configurations trained outright (half and twice the units, one
    layer more, an inverse-time decay), the best kept when it lowers the dev error.
    """
    units = config.layers
    extra = max(4, units[-1] // 2)
    options: list[tuple[str, str, list[dict[str, Any]]]] = [
        (
            "hidden units",
            "the hidden units come after the learning rate, beta and batch size",
            [
                {"layers": tuple(max(1, u // 2) for u in units)},
                {"layers": tuple(2 * u for u in units)},
            ],
        ),
        (
            "layers",
            "the number of layers is among the last things to tune",
            [{"layers": (*units, extra)}],
        ),
    ]
    if config.decay == "none":
        why = "learning-rate decay, last: smaller steps as training converges"
        options.append(("decay", why, [{"decay": "inverse_time"}]))
    for name, why, changes in options:
        reserve = _reserve(current)
        if state.left() < reserve * (len(changes) + 1):
            state.add(Step(f"tune {name}", "the budget is spent", {}, why))
            continue
        before = dev_error(data, current)
        tried = []
        for change in changes:
            candidate = TrainConfig.from_mapping({**config.settings(), **change})
            found = state.trial(candidate, data)
            tried.append((dev_error(data, found), candidate, found, change))
        value, candidate, found, change = min(tried, key=lambda item: item[0])
        kept = value < before
        seen = (
            ", ".join(f"{shown(c)}: dev {v:.4g}" for v, _, _, c in tried)
            + f" (the current model's: {before:.4g})"
        )
        step = make_step(f"tune {name}", seen, candidate, found, change)
        step.why, step.kept = why, kept
        if not kept:
            step.changed = {}
        state.add(step)
        if kept:
            config, current = candidate, found
    return config, current


def _reserve(current: dict[str, Any]) -> float:
    """Seconds kept for the final run: twice the current model's training, and 5."""
    return 2 * float(current.get("seconds", 1.0)) + 5
