"""Search strategies over a :class:`~nntune.tuning.Space`: random, grid, coarse to fine.

Each strategy proposes configurations (the searched values); training them is the
caller's (a trial, a study). Random search is the course's advice; a grid is for
comparisons; coarse to fine runs rounds of random search, each one zoomed into the
region of the best trials so far, on each setting's own scale.

Example:
    >>> import math
    >>> from nntune.tuning import Space
    >>> space = Space.from_mapping({"learning_rate": {"log": [1e-5, 1.0]}})
    >>> def score(values):  # the best learning rate is 0.003
    ...     return abs(math.log10(values["learning_rate"] / 0.003))
    >>> rounds = coarse_to_fine(space, score, rounds=3, trials_per_round=10, seed=0)
    >>> [len(r.trials) for r in rounds]
    [10, 10, 10]
    >>> rounds[-1].space.dimensions["learning_rate"].low > 1e-5  # zoomed in
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .space import Dimension, Space

__all__ = ["Round", "coarse_to_fine", "grid", "random_search", "zoom"]

Trial = tuple[dict[str, Any], float]
"""The searched values of a trial and its score (lower is better: a dev error)."""


def random_search(space: Space, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` configurations drawn at random, each setting on its own scale."""
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(count)]


def grid(space: Space, points: int = 3) -> list[dict[str, Any]]:
    """Every combination of ``points`` values per setting, evenly spaced on its scale.

    The ends of each range are included; a ``choice`` setting gives every choice.

    Raises:
        ValueError: for fewer than 2 points.
    """
    if points < 2:
        raise ValueError(f"a grid needs at least 2 points per setting; got {points}.")
    axes = []
    for name, dimension in space.dimensions.items():
        count = len(dimension.choices) if dimension.scale == "choice" else points
        units = [(i + 0.5) / count for i in range(count)]
        if dimension.scale != "choice":
            units = [i / (count - 1) for i in range(count)]
        axes.append([(name, unit) for unit in units])
    found: list[dict[str, Any]] = []
    for combination in itertools.product(*axes):
        values = space.from_units(dict(combination))
        if values not in found:  # a setting that does not apply collapses points
            found.append(values)
    return found


def zoom(
    space: Space, trials: Sequence[Trial], keep: float = 0.25, margin: float = 0.25
) -> Space:
    """A narrower space around the best ``keep`` share of ``trials``.

    On each setting's own scale (its unit interval), the new range spans the best
    trials' values, widened by ``margin`` of that span on each side (at least
    ``margin`` of the old range in all), and clipped to the old range; a ``choice``
    keeps the choices the best trials used.

    Raises:
        ValueError: for no trials or ``keep`` outside (0, 1].
    """
    if not trials:
        raise ValueError("zoom needs at least one finished trial.")
    if not 0 < keep <= 1:
        raise ValueError(
            f"keep is the share of trials to zoom on, in (0, 1]; got {keep}."
        )
    ranked = sorted(trials, key=lambda trial: trial[1])
    best = ranked[: max(1, round(keep * len(ranked)))]
    dimensions = {}
    for name, dimension in space.dimensions.items():
        values = [values[name] for values, _ in best if name in values]
        dimensions[name] = _narrow(dimension, values, margin) if values else dimension
    return Space(dimensions, dict(space.base))


def _narrow(dimension: Dimension, values: list[Any], margin: float) -> Dimension:
    if dimension.scale == "choice":
        kept = tuple(c for c in dimension.choices if c in values)
        return Dimension(dimension.name, "choice", choices=kept)
    units = [dimension.to_unit(value) for value in values]
    low, high = min(units), max(units)
    pad = max(margin * (high - low), margin / 2)
    low, high = max(0.0, low - pad), min(1.0, high + pad)
    new_low, new_high = dimension.from_unit(low), dimension.from_unit(high)
    if not new_low < new_high:
        return dimension
    return Dimension(dimension.name, dimension.scale, new_low, new_high)


@dataclass
class Round:
    """One round of coarse to fine: its space, its parent's index and its trials."""

    space: Space
    parent: int | None
    trials: list[Trial] = field(default_factory=list)

    def best(self) -> Trial:
        """The round's best trial (lowest score)."""
        return min(self.trials, key=lambda trial: trial[1])


def coarse_to_fine(
    space: Space,
    objective: Callable[[Mapping[str, Any]], float],
    *,
    rounds: int = 3,
    trials_per_round: int = 10,
    keep: float = 0.1,
    seed: int = 0,
) -> list[Round]:
    """Rounds of random search, each zoomed into the best trials of all so far.

    Args:
        space: the first (coarse) space.
        objective: the score of a configuration's searched values; lower is better.
        rounds: how many rounds (1 is plain random search).
        trials_per_round: the trials of each round.
        keep: the share of the best trials (of all so far) each zoom spans; 0.1
            measured best on narrow optima (see tests/test_strategies.py).
        seed: the seed of the draws (round ``r`` uses ``seed + r``).

    Returns:
        The rounds, each with its space, its parent round and its trials.
    """
    history: list[Round] = []
    current = space
    for index in range(rounds):
        trials = [
            (values, float(objective(values)))
            for values in random_search(current, trials_per_round, seed + index)
        ]
        history.append(Round(current, index - 1 if index else None, trials))
        everything = [trial for past in history for trial in past.trials]
        current = zoom(space, everything, keep)
    return history
