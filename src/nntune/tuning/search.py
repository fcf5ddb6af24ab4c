"""The search: propose trials, run them on an engine, record them in the study.

:func:`tune` is ``nntune tune`` from Python. One process (this one) owns the study:
it draws each trial's values, asks Optuna for a trial with them, hands the trial to
an engine (this process, local worker processes, or Ray), and records what came
back. Workers never write the study, so any number of them is safe with the
embedded store; several searches (on several machines) may share one study through
a database URL.

Strategies:

- ``random`` (the default, the course's advice): each setting drawn on its own
  scale; trial ``k`` of a seed always draws the same values, whatever the workers.
- ``grid``: every combination of ``grid_points`` values per setting on its scale.
- ``coarse-to-fine``: ``rounds`` rounds of random search, each zoomed into the
  region of the best trials so far (:func:`~nntune.tuning.zoom`); each round is
  recorded with its space and parent.
- ``tpe``, ``cmaes``, ``gp``: Optuna's model-based samplers, run over each setting's
  own scale (the unit interval of :class:`~nntune.tuning.Dimension`), so they too
  see a beta on the scale of ``1 - beta``; the trials store the values themselves.

A killed search loses no finished trial: running it again recovers the trials its
processes left running (they are marked ``interrupted`` and run again with the
same values) and goes on until the study has ``trials`` finished trials.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..experiment.config import TrainConfig
from ..experiment.trial import PreparedData, prepare_data
from .engines import ENGINES, InlineEngine, LocalEngine, PopulationEngine, RayEngine
from .loop import Search, TuneEvent
from .pruning import PRUNERS
from .sampling import check_sampler_packages
from .space import Space, load_space
from .strategies import grid
from .study import Study, create_or_continue

__all__ = ["STRATEGIES", "TuneEvent", "parse_duration", "tune"]

STRATEGIES = ("random", "grid", "coarse-to-fine", "tpe", "cmaes", "gp")


def parse_duration(text: str | float | None) -> float | None:
    """Seconds of ``"90s"``, ``"10m"``, ``"1.5h"`` or a number of seconds.

    Raises:
        ValueError: for anything else.
    """
    if text is None or isinstance(text, int | float):
        if text is not None and not text > 0:
            raise ValueError(f"a time limit must be above 0 seconds; got {text}.")
        return None if text is None else float(text)
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(
            f"time limit {text!r}: expected a number with s, m or h, e.g. 90s, 10m "
            "or 1.5h."
        )
    return seconds


def tune(
    space: Space | Mapping[str, Any] | str | Path,
    *,
    study: str | Path = "studies/study",
    trials: int | None = None,
    time_limit: str | float | None = None,
    workers: int = 1,
    strategy: str = "random",
    rounds: int = 3,
    grid_points: int = 3,
    pruner: str = "none",
    storage: str | None = None,
    engine: str = "local",
    address: str | None = None,
    seed: int = 0,
    base: Mapping[str, Any] | None = None,
    on_event: Callable[[TuneEvent], None] | None = None,
    population: int | str = "auto",
) -> Study:
    """Search the space and return the study (continued if it exists).

    Args:
        space: a :class:`Space`, a space file's path, or a mapping with ``space``
            (and ``base``) tables as in a space file.
        study: the study folder (created, or continued with the same search).
        trials: the finished trials the study should hold (default 20; a grid's
            size for ``grid``). Continuing a study with more trials runs the rest.
        time_limit: stop starting trials after this long (``"10m"``, seconds).
        workers: trials at once: local processes (``engine="local"``) or Ray tasks.
        strategy: one of :data:`STRATEGIES`.
        rounds: coarse to fine's rounds.
        grid_points: a grid's values per setting.
        pruner: ``"none"``, ``"median"`` or ``"halving"`` (see :mod:`.pruning`).
        storage: a database URL; default the study folder's journal file.
        engine: ``"local"`` or ``"ray"``.
        address: the Ray cluster (``"auto"``, ``HOST:PORT``; default a local Ray).
        seed: the seed of the draws (the trials' training seeds are the space's).
        base: settings that override the space's ``[base]`` (e.g. ``data``).
        on_event: called with a :class:`TuneEvent` as trials start and end.
        population: trials trained at once as one population when they share an
            architecture (:mod:`nntune.experiment.populations`), in this process;
            ``0`` never; ``"auto"`` (the default) 16 when the space searches only
            the members' own settings (learning rate, ``l2``, ``keep_prob``,
            ``init_seed``), one worker, no pruner and a random, grid or
            coarse-to-fine search. The trials of a population start together and
            report their epochs when they end; a time limit stops new trials, not
            a population that has started.

    Raises:
        ValueError: for a bad space, option, data set, or a study folder that holds
            another search.
    """
    if not isinstance(space, Space):
        space = _as_space(space)
    if base:
        space = Space.from_mapping(
            {n: d.to_dict() for n, d in space.dimensions.items()},
            {**space.base, **base},
        )
    if strategy not in STRATEGIES:
        raise ValueError(
            f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}."
        )
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected local or ray.")
    if pruner not in PRUNERS:
        raise ValueError(f"unknown pruner {pruner!r}; expected one of {PRUNERS}.")
    for name, value in (("workers", workers), ("rounds", rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    if strategy in ("cmaes", "gp"):
        check_sampler_packages(strategy)
    jax_trials = space.base.get("backend") == "jax" or "backend" in space.dimensions
    if jax_trials and engine == "local" and workers > 1:
        raise ValueError(
            f"trials on backend='jax' cannot run in {workers} forked local workers "
            "(JAX's threads do not survive a fork). Run them in this process "
            "(workers=1, --workers 1: trials of one architecture share the compiled "
            "program) or on Ray (engine='ray')."
        )
    from ..experiment.trial import DATA_SETTINGS

    data_settings = sorted(set(space.dimensions) & {*DATA_SETTINGS, "out"})
    if data_settings:
        raise ValueError(
            f"{', '.join(data_settings)} cannot be searched: every trial of a study "
            "is scored on the same data and split (and writes no folder). Fix them in "
            "[base]; to search seeds, use init_seed or shuffle_seed."
        )
    points = grid(space, grid_points) if strategy == "grid" else []
    budget = trials if trials is not None else (len(points) if points else 20)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"trials must be an integer >= 1; got {trials!r}.")
    if points and budget < len(points):
        # Part of a grid: its points in a seeded random order, so that the trials
        # spread over the whole grid rather than its first corner.
        order = np.random.default_rng(seed).permutation(len(points))
        points = [points[i] for i in order]
    seconds = parse_duration(time_limit)
    prepared = _prepare(space)
    options = {
        "strategy": strategy,
        "seed": seed,
        "rounds": rounds if strategy == "coarse-to-fine" else None,
        "grid_points": grid_points if strategy == "grid" else None,
        "pruner": pruner,
    }
    size = population_size(population, space, engine, workers, pruner, strategy)
    found = create_or_continue(Path(study), space, options, storage)
    search = Search(found, prepared, budget, seconds, points, on_event)
    if size > 1:
        search.run(PopulationEngine(prepared, min(size, budget), search.epoch_event))
    elif engine == "ray":
        search.run(RayEngine(prepared, address, workers if workers > 1 else None))
    elif workers == 1:
        search.run(InlineEngine(prepared, search.epoch_event))
    else:
        search.run(LocalEngine(prepared, workers, search.epoch_event))
    return found


AUTO_POPULATION = 16
"""Trials trained at once by ``population="auto"`` when the search allows it."""


def population_size(
    population: int | str,
    space: Space,
    engine: str,
    workers: int,
    pruner: str,
    strategy: str,
) -> int:
    """How many trials to train at once as one population (1: one at a time).

    See :func:`tune`'s ``population``.
    """
    from ..experiment.populations import MEMBER_SETTINGS

    if population == "auto":
        members_only = set(space.dimensions) <= set(MEMBER_SETTINGS)
        fits = engine == "local" and workers == 1 and pruner == "none"
        simple = strategy in ("random", "grid", "coarse-to-fine")
        return AUTO_POPULATION if members_only and fits and simple else 1
    if isinstance(population, bool) or not isinstance(population, int):
        raise ValueError(
            f"population must be 'auto' or an integer >= 0; got {population!r}."
        )
    if population > 1 and (engine != "local" or workers != 1 or pruner != "none"):
        raise ValueError(
            f"population={population} trains trials together in this process, "
            "without pruning; it takes engine='local', workers=1 and pruner='none' "
            f"(got engine={engine!r}, workers={workers}, pruner={pruner!r})."
        )
    if population < 0:
        raise ValueError(f"population must be >= 0; got {population}.")
    return population


def _as_space(space: Mapping[str, Any] | str | Path) -> Space:
    if isinstance(space, str | Path):
        return load_space(space)
    if "space" in space:
        return Space.from_mapping(space["space"], space.get("base"))
    return Space.from_mapping(space)


def _prepare(space: Space) -> PreparedData:
    """Check the base settings and one draw, and prepare the data once."""
    config = TrainConfig.from_mapping(space.base, source="the space's [base]")
    config.check_applicable()
    prepared = prepare_data(config)
    if not len(prepared.split.dev):
        raise ValueError(
            "tuning scores trials on the dev set, and this split has none; set dev "
            "in [base] (e.g. dev = 0.2)."
        )
    return prepared
