"""Tests of nntune.optim.schedules: hand-computed values, validation, the registry."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from nntune.optim import (
    SCHEDULES,
    constant,
    exponential_decay,
    interval_decay,
    inverse_sqrt_decay,
    inverse_time_decay,
    piecewise_constant,
    schedule_from_name,
    warmup_cosine,
)


def values(schedule, epochs):
    return [schedule(epoch) for epoch in epochs]


# ------------------------------------------------------------ hand-computed values
def test_constant():
    assert values(constant(0.1), [0, 1, 50]) == [0.1, 0.1, 0.1]
    assert isinstance(constant(1)(0), float)  # an int rate becomes a float


def test_inverse_time_decay():
    # lr0 / (1 + decay_rate * epoch) with lr0 = 0.2, decay_rate = 1:
    # epoch 0: 0.2/1 = 0.2; epoch 1: 0.2/2 = 0.1; epoch 3: 0.2/4 = 0.05;
    # epoch 9: 0.2/10 = 0.02
    assert values(inverse_time_decay(0.2, 1.0), [0, 1, 3, 9]) == pytest.approx(
        [0.2, 0.1, 0.05, 0.02], rel=1e-15
    )
    # decay_rate = 0.5: epoch 2: 0.2 / (1 + 1) = 0.1; epoch 6: 0.2 / (1 + 3) = 0.05
    assert values(inverse_time_decay(0.2, 0.5), [2, 6]) == pytest.approx(
        [0.1, 0.05], rel=1e-15
    )
    # decay_rate = 0 keeps the rate constant
    assert values(inverse_time_decay(0.2, 0.0), [0, 100]) == [0.2, 0.2]


def test_exponential_decay():
    # lr0 * k^epoch with lr0 = 0.1, k = 0.5: 0.1, 0.05, 0.025, 0.1/1024 at epoch 10
    assert values(exponential_decay(0.1, 0.5), [0, 1, 2, 10]) == pytest.approx(
        [0.1, 0.05, 0.025, 0.1 / 1024], rel=1e-15
    )
    # the course's 0.95^epoch: epoch 2 -> 0.9025 * 0.1 = 0.09025
    assert exponential_decay(0.1, 0.95)(2) == pytest.approx(0.09025, rel=1e-14)
    assert values(exponential_decay(0.1, 1.0), [0, 7]) == [0.1, 0.1]


def test_inverse_sqrt_decay():
    # lr0 * k / sqrt(epoch + 1) with lr0 = 0.1, k = 2:
    # epoch 0: 0.2/1 = 0.2; epoch 3: 0.2/2 = 0.1; epoch 8: 0.2/3; epoch 99: 0.2/10
    assert values(inverse_sqrt_decay(0.1, 2.0), [0, 3, 8, 99]) == pytest.approx(
        [0.2, 0.1, 0.2 / 3, 0.02], rel=1e-15
    )
    # k defaults to 1: the course's k / sqrt(epoch_num), epoch_num = epoch + 1
    assert inverse_sqrt_decay(0.1)(3) == pytest.approx(0.05, rel=1e-15)


def test_interval_decay():
    # lr0 / (1 + decay_rate * floor(epoch / interval)), lr0 = 0.3, rate 1, interval 10:
    # epochs 0..9 -> 0.3/1; 10..19 -> 0.3/2 = 0.15; 25 -> floor 2 -> 0.3/3 = 0.1
    schedule = interval_decay(0.3, 1.0, 10)
    assert values(schedule, [0, 9, 10, 19, 20, 25]) == pytest.approx(
        [0.3, 0.3, 0.15, 0.15, 0.1, 0.1], rel=1e-15
    )
    # interval 1 is inverse_time_decay
    assert values(interval_decay(0.3, 0.5, 1), range(5)) == pytest.approx(
        values(inverse_time_decay(0.3, 0.5), range(5)), rel=1e-15
    )


def test_piecewise_constant():
    # values[i] until the epoch reaches boundaries[i]
    schedule = piecewise_constant([2, 5], [0.1, 0.01, 0.001])
    assert values(schedule, [0, 1, 2, 4, 5, 6, 1000]) == [
        0.1,
        0.1,
        0.01,
        0.01,
        0.001,
        0.001,
        0.001,
    ]
    assert values(piecewise_constant([], [0.5]), [0, 10]) == [0.5, 0.5]


def test_warmup_cosine_at_its_boundaries():
    # start 0.1 -> peak 1.0 over 4 steps, cosine to end 0.2 over 10 steps
    schedule = warmup_cosine(1.0, warmup_steps=4, decay_steps=10, end=0.2, start=0.1)
    assert schedule(0, 0) == pytest.approx(0.1)  # start
    assert schedule(0, 2) == pytest.approx(0.55)  # 0.1 + 0.9 * 2/4
    assert schedule(0, 4) == pytest.approx(1.0)  # peak
    assert schedule(0, 9) == pytest.approx(0.6)  # half-way: 0.2 + 0.8 * (1+0)/2
    # 0.2 + 0.8 * (1 + cos(pi * 0.1)) / 2 at one decay step
    assert schedule(0, 5) == pytest.approx(0.2 + 0.4 * (1 + math.cos(math.pi / 10)))
    assert schedule(0, 14) == pytest.approx(0.2)  # end
    assert schedule(0, 1000) == pytest.approx(0.2)
    assert schedule(7, 4) == schedule(0, 4)  # per step: the epoch is ignored


def test_warmup_cosine_without_warmup_starts_at_the_peak():
    schedule = warmup_cosine(0.5, warmup_steps=0, decay_steps=2)
    # 0.5 * (1 + cos(0)) / 2, 0.5 * (1 + cos(pi/2)) / 2, then end = 0
    assert [schedule(0, step) for step in range(4)] == pytest.approx(
        [0.5, 0.25, 0.0, 0.0], abs=1e-15
    )


def test_schedules_are_frozen_with_a_readable_repr():
    schedule = inverse_time_decay(0.1, 1.0)
    assert repr(schedule) == "InverseTimeDecay(learning_rate=0.1, decay_rate=1.0)"
    assert repr(piecewise_constant([2], [0.1, 0.01])) == (
        "PiecewiseConstant(boundaries=(2,), values=(0.1, 0.01))"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.learning_rate = 1.0
    assert schedule == inverse_time_decay(0.1, 1.0)


@pytest.mark.parametrize(("epoch", "step"), [(-1, 0), (0, -1)])
def test_schedules_refuse_negative_times(epoch, step):
    with pytest.raises(ValueError, match=r"epoch >= 0 and step >= 0"):
        constant(0.1)(epoch, step)


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: constant(0.0), ValueError, r"learning_rate must be .*\(0, inf\)"),
        (lambda: constant(-0.1), ValueError, r"learning_rate .*; got -0.1"),
        (lambda: constant(math.inf), ValueError, r"learning_rate .*; got inf"),
        (lambda: constant("0.1"), TypeError, "learning_rate must be a real number"),
        (
            lambda: inverse_time_decay(0.1, -1.0),
            ValueError,
            r"decay_rate must be a finite number in \[0, inf\); got -1.0",
        ),
        (lambda: exponential_decay(0.1, 0.0), ValueError, r"k must .*\(0, 1\]; got 0"),
        (lambda: exponential_decay(0.1, 1.5), ValueError, r"k must .*; got 1.5"),
        (lambda: inverse_sqrt_decay(0.1, 0.0), ValueError, r"k must .*\(0, inf\)"),
        (lambda: interval_decay(0.1, 1.0, 0), ValueError, "interval must be .* >= 1"),
        (lambda: interval_decay(0.1, 1.0, 2.5), TypeError, "interval must be an int"),
        (lambda: interval_decay(0.1, -1.0, 2), ValueError, "decay_rate must be"),
        (
            lambda: piecewise_constant([2, 5], [0.1, 0.01]),
            ValueError,
            "needs one more value than boundaries; got 2 boundaries",
        ),
        (
            lambda: piecewise_constant([5, 2], [0.1, 0.01, 0.001]),
            ValueError,
            r"boundaries must be strictly increasing epochs; got \[5, 2\]",
        ),
        (
            lambda: piecewise_constant([2, 2], [0.1, 0.01, 0.001]),
            ValueError,
            "strictly increasing",
        ),
        (
            lambda: piecewise_constant([2], [0.1, 0.0]),
            ValueError,
            r"values\[1\] must be",
        ),
        (lambda: piecewise_constant([0], [0.1, 0.2]), ValueError, r"boundaries\[0\]"),
        (lambda: warmup_cosine(0.0, 1, 1), ValueError, "peak must be"),
        (lambda: warmup_cosine(1.0, -1, 1), ValueError, "warmup_steps must be .* >= 0"),
        (lambda: warmup_cosine(1.0, 1, 0), ValueError, "decay_steps must be .* >= 1"),
        (lambda: warmup_cosine(1.0, 1, 1, end=-0.1), ValueError, "end must be"),
        (lambda: warmup_cosine(1.0, 1, 1, start=-0.1), ValueError, "start must be"),
    ],
)
def test_schedules_are_validated_when_built(build, error, message):
    with pytest.raises(error, match=message):
        build()


# ------------------------------------------------------------------ registry
OPTIONS = {
    "constant": {},
    "inverse_time": {"decay_rate": 1.0},
    "exponential": {"k": 0.9},
    "inverse_sqrt": {"k": 1.0},
    "interval": {"decay_rate": 1.0, "interval": 3},
}


def test_every_registered_schedule_has_test_options():
    assert set(OPTIONS) == set(SCHEDULES)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_registered_schedules_start_at_lr0_and_never_increase(name):
    schedule = schedule_from_name(name, 0.1, **OPTIONS[name])
    rates = values(schedule, range(30))
    assert rates[0] == pytest.approx(0.1)
    assert all(isinstance(rate, float) and rate > 0 for rate in rates)
    assert all(later <= earlier for earlier, later in itertools.pairwise(rates))


def test_schedule_from_name_builds_the_named_schedule_and_ignores_none():
    assert schedule_from_name(
        "interval", 0.3, decay_rate=1.0, interval=10, k=None
    ) == interval_decay(0.3, 1.0, 10)
    assert schedule_from_name("inverse_sqrt", 0.1) == inverse_sqrt_decay(0.1, 1.0)
    assert schedule_from_name("constant", 0.1, decay_rate=None) == constant(0.1)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("cosine", {}, r"unknown learning-rate schedule 'cosine'; expected one of \["),
        ("inverse_time", {}, "schedule 'inverse_time' needs decay_rate; pass"),
        ("interval", {"decay_rate": 1.0}, "schedule 'interval' needs interval"),
        ("constant", {"decay_rate": 1.0}, "'constant' does not take decay_rate"),
        ("exponential", {"k": 0.9, "interval": 2}, "does not take interval"),
    ],
)
def test_schedule_from_name_errors(name, options, message):
    with pytest.raises(ValueError, match=message):
        schedule_from_name(name, 0.1, **options)
