"""Search spaces: the right scale for each setting, conditions, space files."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nntune import TrainConfig
from nntune.tuning import Dimension, Space, load_space

DRAWS = 10_000


def draws(dimension, count=DRAWS, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([dimension.sample(rng) for _ in range(count)])


def test_the_learning_rate_is_sampled_on_a_log_scale():
    values = draws(Dimension("learning_rate", "log", 1e-4, 1.0))
    decades = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0] / DRAWS
    np.testing.assert_allclose(decades, 0.25, atol=0.02)  # a quarter per decade


def test_beta_is_sampled_on_the_log_scale_of_one_minus_beta():
    values = draws(Dimension("beta1", "one_minus_log", 0.9, 0.999))
    assert values.min() >= 0.9
    assert values.max() <= 0.999  # the value itself, not 1 - beta
    share = np.mean(values >= 0.99)
    assert share == pytest.approx(0.5, abs=0.02)  # uniform would give 0.1


def test_integer_scales_give_integers_in_range():
    sizes = draws(Dimension("batch_size", "pow2", 16, 512), count=2000)
    assert set(sizes.tolist()) == {16, 32, 64, 128, 256, 512}
    counts = np.unique(sizes, return_counts=True)[1] / 2000
    np.testing.assert_allclose(counts, 1 / 6, atol=0.03)
    units = draws(Dimension("batch_size", "int_log", 10, 1000), count=2000)
    assert units.dtype.kind == "i"
    assert units.min() >= 10
    assert units.max() <= 1000
    assert np.mean(units < 100) == pytest.approx(0.5, abs=0.04)
    epochs = draws(Dimension("epochs", "int", 1, 4), count=2000)
    assert set(epochs.tolist()) == {1, 2, 3, 4}


@pytest.mark.parametrize(
    "dimension",
    [
        Dimension("learning_rate", "log", 1e-4, 0.1),
        Dimension("beta1", "one_minus_log", 0.8, 0.999),
        Dimension("keep_prob", "uniform", 0.5, 1.0),
    ],
)
def test_unit_positions_round_trip(dimension):
    for unit in np.linspace(0, 1, 11):
        assert dimension.to_unit(dimension.from_unit(unit)) == pytest.approx(unit)


def test_conditional_settings_appear_only_when_their_condition_holds():
    space = Space.from_mapping(
        {
            "optimizer": {"choice": ["gd", "momentum", "adam"]},
            "beta": {},
            "beta1": {},
            "decay": {"choice": ["none", "exponential"]},
            "decay_rate": {"uniform": [0.5, 0.99]},
        }
    )
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(300):
        draw = space.sample(rng)
        seen.add(draw["optimizer"])
        assert ("beta" in draw) == (draw["optimizer"] == "momentum")
        assert ("beta1" in draw) == (draw["optimizer"] == "adam")
        assert ("decay_rate" in draw) == (draw["decay"] != "none")
        TrainConfig(**space.settings(draw)).check_applicable()
    assert seen == {"gd", "momentum", "adam"}


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["learning_rate", "beta1", "beta2", "l2", "keep_prob", "batch_size"]
        ),
        st.floats(0, 1),
        min_size=1,
    )
)
def test_every_point_of_the_default_space_is_a_valid_configuration(units):
    space = Space.from_mapping({name: {} for name in units}, base={"epochs": 5})
    values = space.from_units(units)
    TrainConfig(**space.settings(values)).check_applicable()


def test_a_space_file(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(
        '[base]\ndata = "moons"\nepochs = 50\n\n[space]\n'
        "learning_rate = { log = [1e-4, 1e-1] }\n"
        "beta1 = { one_minus_log = [0.8, 0.999] }\n"
        "keep_prob = {}\n"
    )
    space = load_space(path)
    assert space.base == {"data": "moons", "epochs": 50}
    assert space.dimensions["beta1"] == Dimension("beta1", "one_minus_log", 0.8, 0.999)
    assert space.dimensions["keep_prob"].scale == "uniform"
    assert Space.from_mapping(space.to_dict()["space"], space.base) == space


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[space]\nlearning_rat = { log = [1e-4, 1] }\n", "unknown setting"),
        ("[space]\nl2 = { log = [0, 1] }\n", "must be above 0"),
        ("[space]\nlearning_rate = { log = [0, 1] }\n", "0.0 is out of range"),
        ("[space]\nlearning_rate = { cubic = [1, 2] }\n", "unknown scale 'cubic'"),
        ("[space]\nbeta1 = { one_minus_log = [0.9, 1.0] }\n", "out of range"),
        ("[space]\nl2 = { log = [1, 0.1] }\n", "low < high"),
        ("[space]\noptimizer = { choice = ['adam', 'sgdx'] }\n", "not a known value"),
        ("[base]\nl2 = 0.1\n[space]\nl2 = {}\n", "both fixed in \\[base\\] and"),
        ("[space]\nepochs = {}\n", "has no default search range"),
        ("[space]\n", "\\[space\\] is empty"),
        ("[searching]\n", "a space file has a \\[base\\] table"),
    ],
)
def test_space_file_errors_say_what_to_fix(tmp_path, text, message):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_space(path)
