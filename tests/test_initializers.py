from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import require
from nntune import Initializer
from nntune.initializers import TRUNCATED_STD

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


# Keras' VarianceScaling, written out: (scale, fan) of each initializer.
KERAS = {
    "he": (2.0, N_IN),
    "glorot": (1.0, (N_IN + N_OUT) / 2),
    "lecun": (1.0, N_IN),
}


def keras_draw(name: str) -> np.ndarray:
    return Initializer.parse(name)(np.random.default_rng(RNG_SEED), N_IN, N_OUT, "f8")


def test_the_truncated_normals_standard_deviation_is_kerass_constant():
    stats = require("scipy.stats")
    assert stats.truncnorm(-2, 2).std() == pytest.approx(TRUNCATED_STD, abs=1e-15)


@pytest.mark.parametrize("family", KERAS)
def test_keras_truncated_normals(family):
    stats = require("scipy.stats")
    scale, fan = KERAS[family]
    stddev = math.sqrt(scale / fan) / 0.87962566103423978  # Keras' stddev
    weights = keras_draw(f"{family}_normal")
    assert weights.shape == (N_IN, N_OUT)
    assert weights.std() == pytest.approx(math.sqrt(scale / fan), rel=0.01)
    assert 1.99 * stddev < np.abs(weights).max() <= 2 * stddev
    truncated = stats.truncnorm(-2, 2, scale=stddev)
    assert stats.kstest(weights.ravel(), truncated.cdf).pvalue > 0.01


@pytest.mark.parametrize("family", KERAS)
def test_keras_uniforms(family):
    stats = require("scipy.stats")
    scale, fan = KERAS[family]
    limit = math.sqrt(3 * scale / fan)
    weights = keras_draw(f"{family}_uniform")
    assert weights.std() == pytest.approx(math.sqrt(scale / fan), rel=0.01)
    assert 0.999 * limit < np.abs(weights).max() <= limit
    uniform = stats.uniform(-limit, 2 * limit)
    assert stats.kstest(weights.ravel(), uniform.cdf).pvalue > 0.01
    half = Initializer.parse(f"{family}_uniform:0.5")
    assert half.standard_deviation(N_IN, N_OUT) == pytest.approx(
        0.5 * math.sqrt(scale / fan)
    )


def test_pytorch_draws_the_same_uniforms_and_otherwise_truncates():
    torch = require("torch")
    stats = require("scipy.stats")
    torch.manual_seed(0)
    # torch's weights are (out, in): the same fans as nntune's (in, out).
    found = {}
    for name, fill in [
        ("he_uniform", torch.nn.init.kaiming_uniform_),  # a=0: bound sqrt(6/n_in)
        ("glorot_uniform", torch.nn.init.xavier_uniform_),  # gain=1
    ]:
        theirs = fill(torch.empty(N_OUT, N_IN, dtype=torch.float64)).numpy().T
        ours = keras_draw(name)
        assert np.abs(theirs).max() == pytest.approx(np.abs(ours).max(), rel=1e-3)
        assert stats.ks_2samp(theirs.ravel(), ours.ravel()).pvalue > 0.01
        found[name] = theirs
    assert Initializer.parse("kaiming_uniform") == Initializer("he_uniform")
    assert Initializer.parse("xavier_uniform:2") == Initializer("glorot_uniform", 2)
    # trunc_normal_'s std is the normal's before truncation and its bounds a, b are
    # absolute (default -2, 2): Keras' he_normal is trunc_normal_ with a, b = -+2 std.
    stddev = math.sqrt(2 / N_IN) / TRUNCATED_STD
    keras_like = torch.nn.init.trunc_normal_(
        torch.empty(N_OUT, N_IN, dtype=torch.float64),
        std=stddev,
        a=-2 * stddev,
        b=2 * stddev,
    )
    ours = keras_draw("he_normal")
    assert stats.ks_2samp(keras_like.numpy().ravel(), ours.ravel()).pvalue > 0.01
    defaults = torch.nn.init.trunc_normal_(
        torch.empty(N_OUT, N_IN, dtype=torch.float64), std=stddev
    )
    assert np.abs(defaults.numpy()).max() > 3 * stddev  # not truncated at 2 std
    # kaiming_normal_ is untruncated: nntune's he, not Keras' he_normal.
    untruncated = torch.nn.init.kaiming_normal_(torch.empty(N_OUT, N_IN))
    assert np.abs(untruncated.numpy()).max() > 2 * stddev
