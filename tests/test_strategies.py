"""Search strategies: random, grid, coarse to fine (on synthetic objectives)."""

import math

import numpy as np
import pytest

from nntune.tuning import Space, coarse_to_fine, grid, random_search, zoom

SPACE = Space.from_mapping(
    {
        "learning_rate": {"log": [1e-5, 1.0]},
        "beta1": {"one_minus_log": [0.8, 0.9999]},
    }
)


def narrow(values):
    """A narrow good region: learning rate near 0.002, beta1 near 0.995."""
    rate = math.log10(values["learning_rate"] / 0.002)
    beta = math.log10((1 - values["beta1"]) / 0.005)
    return rate**2 + beta**2


def test_coarse_to_fine_beats_random_search_with_the_same_budget():
    margins = []
    for seed in range(40):
        plain = min(narrow(v) for v in random_search(SPACE, 45, seed=100 + seed))
        rounds = coarse_to_fine(SPACE, narrow, rounds=3, trials_per_round=15, seed=seed)
        zoomed = min(trial[1] for r in rounds for trial in r.trials)
        margins.append(plain / max(zoomed, 1e-12))
    # Over 40 repetitions with the same 45-trial budget, coarse to fine ends several
    # times closer to the optimum (median 7.6x, better in 31 of 40).
    assert np.median(margins) > 4
    assert np.mean([m > 1 for m in margins]) >= 0.7


def test_rounds_record_their_parent_and_zoom_on_each_settings_scale():
    rounds = coarse_to_fine(SPACE, narrow, rounds=3, trials_per_round=12, seed=1)
    assert [r.parent for r in rounds] == [None, 0, 1]
    last = rounds[-1].space.dimensions
    assert 1e-5 < last["learning_rate"].low < 0.002 < last["learning_rate"].high < 1
    assert last["learning_rate"].scale == "log"
    assert last["beta1"].scale == "one_minus_log"
    assert 0.8 <= last["beta1"].low < 0.995 < last["beta1"].high <= 0.9999


def test_zoom_keeps_the_best_choices_and_widens_a_single_point():
    space = Space.from_mapping(
        {"optimizer": {"choice": ["gd", "momentum", "adam"]}, "l2": {}}
    )
    trials = [
        ({"optimizer": "adam", "l2": 0.01}, 0.1),
        ({"optimizer": "gd", "l2": 1.0}, 0.9),
        ({"optimizer": "momentum", "l2": 0.1}, 0.5),
        ({"optimizer": "gd", "l2": 5.0}, 0.8),
    ]
    zoomed = zoom(space, trials, keep=0.25)
    assert zoomed.dimensions["optimizer"].choices == ("adam",)
    l2 = zoomed.dimensions["l2"]
    assert l2.low < 0.01 < l2.high  # a range around the single best value
    with pytest.raises(ValueError, match="at least one finished trial"):
        zoom(space, [])


def test_grid_spans_each_range_on_its_scale_and_skips_what_does_not_apply():
    points = grid(Space.from_mapping({"learning_rate": {"log": [1e-4, 1.0]}}), 5)
    rates = [p["learning_rate"] for p in points]
    assert rates == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    conditional = grid(
        Space.from_mapping({"optimizer": {"choice": ["gd", "momentum"]}, "beta": {}}),
        3,
    )
    assert sum(1 for p in conditional if p["optimizer"] == "gd") == 1  # no beta
    assert sum(1 for p in conditional if p["optimizer"] == "momentum") == 3
