from __future__ import annotations

import math

import numpy as np
import pytest

from nntune import Initializer

RNG_SEED = 0
N_IN, N_OUT = 400, 300


@pytest.mark.parametrize(
    ("spec", "expected_std"),
    [
        ("random", 0.01),
        ("random:10", 10.0),
        ("random:0.01", 0.01),
        ("xavier", math.sqrt(1 / N_IN)),
        ("glorot", math.sqrt(2 / (N_IN + N_OUT))),
        ("he", math.sqrt(2 / N_IN)),
        ("he:0.5", 0.5 * math.sqrt(2 / N_IN)),
        ("xavier:2", 2 * math.sqrt(1 / N_IN)),
    ],
)
def test_standard_deviation(spec, expected_std):
    init = Initializer.parse(spec)
    assert init.standard_deviation(N_IN, N_OUT) == pytest.approx(expected_std)
    weights = init(np.random.default_rng(RNG_SEED), N_IN, N_OUT, "float64")
    assert weights.shape == (N_IN, N_OUT)
    assert weights.std() == pytest.approx(expected_std, rel=0.01)
    assert abs(weights.mean()) < 0.01 * expected_std * 10


def test_zeros():
    weights = Initializer.parse("zeros")(np.random.default_rng(0), 3, 2)
    assert weights.dtype == np.float32
    assert not weights.any()


def test_same_seed_same_weights_and_dtype_kept():
    a = Initializer.parse("he")(np.random.default_rng(5), 4, 3, "float32")
    b = Initializer.parse("he")(np.random.default_rng(5), 4, 3, "float64")
    assert a.dtype == np.float32
    assert b.dtype == np.float64
    np.testing.assert_array_equal(a, b.astype(np.float32))


@pytest.mark.parametrize("spec", ["he", "he:0.5", "random:0.01", "random:10", "zeros"])
def test_string_round_trip(spec):
    assert str(Initializer.parse(spec)) == spec
    assert Initializer.parse(str(Initializer.parse(spec))) == Initializer.parse(spec)


def test_plain_random_means_one_hundredth():
    assert Initializer.parse("random") == Initializer("random", 0.01)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("kaiming", ValueError, "unknown initializer 'kaiming'; expected one of"),
        ("he:big", ValueError, "the part after ':' must be a number"),
        ("he:-1", ValueError, "multiplier must be a finite number >= 0"),
        (3, TypeError, "initializer must be a string"),
    ],
)
def test_errors(spec, error, message):
    with pytest.raises(error, match=message):
        Initializer.parse(spec)
