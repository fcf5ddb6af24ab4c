"""Tests of nntune.optim: EWA, transforms, aliases and the optimizer registry.

Parity with torch.optim is in tests/reference/test_torch_optim_parity.py.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nntune.optim import (
    HYPERPARAMETERS,
    OPTIMIZERS,
    AdamState,
    EmptyState,
    ExponentialWeightedAverage,
    LearningRateState,
    MomentumState,
    RmsState,
    adam,
    adamw,
    add_decayed_weights,
    apply_updates,
    bias_correction,
    chain,
    clip_by_global_norm,
    current_learning_rate,
    ewa,
    gd,
    inverse_time_decay,
    momentum,
    optimizer_from_name,
    rmsprop,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_momentum,
    scale_by_rms,
    scale_learning_rate,
    set_epoch,
    smooth,
    tree_ewa,
    warmup_cosine,
)


def tree(**layers):
    """``tree(dense_0={"W": [...]})`` -> a parameter tree of float64 arrays."""
    return {
        layer: {
            name: np.asarray(value, dtype=np.float64) for name, value in arrays.items()
        }
        for layer, arrays in layers.items()
    }


def leaf(tree_, layer="dense_0", name="W"):
    return tree_[layer][name]


# ------------------------------------------------------------------ EWA and smoothing
constants = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
betas = st.floats(0.0, 0.999)


@given(value=constants, beta=betas, steps=st.integers(1, 60))
def test_bias_corrected_average_of_a_constant_is_that_constant(value, beta, steps):
    average = ExponentialWeightedAverage(beta)
    for _ in range(steps):
        assert average.update(value) == pytest.approx(value, rel=1e-9, abs=1e-300)
    assert average.count == steps


@given(value=constants, beta=betas, steps=st.integers(1, 60))
def test_bias_correction_of_an_ewa_of_a_constant_is_that_constant(value, beta, steps):
    average = 0.0
    for count in range(1, steps + 1):
        average = ewa(average, value, beta)
        assert bias_correction(average, beta, count) == pytest.approx(
            value, rel=1e-9, abs=1e-300
        )


@given(beta=betas, steps=st.integers(1, 60))
def test_raw_average_of_a_constant_is_biased_towards_zero(beta, steps):
    # v_t = c * (1 - beta^t) for a constant c: the bias that 1 - beta^t removes.
    average = ExponentialWeightedAverage(beta, bias_correction=False)
    for _ in range(steps):
        result = average.update(2.0)
    assert result == pytest.approx(2.0 * (1 - beta**steps), rel=1e-9)
    assert average.average == result


def test_ewa_hand_values():
    assert ewa(2.0, 10.0, 0.75) == 4.0  # 0.75 * 2 + 0.25 * 10
    assert ewa(2.0, 10.0, 0.0) == 10.0  # beta = 0 keeps only the new value
    assert bias_correction(1.0, 0.5, 1) == 2.0  # 1 / (1 - 0.5)
    assert bias_correction(0.75, 0.5, 2) == 1.0  # 0.75 / (1 - 0.25)


def test_bias_correction_needs_a_count_of_at_least_one():
    with pytest.raises(ValueError, match=r"count must be >= 1 .*; got 0"):
        bias_correction(1.0, 0.9, 0)


def test_ewa_keeps_float32():
    average = np.zeros(3, dtype=np.float32)
    value = np.ones(3, dtype=np.float32)
    assert ewa(average, value, 0.9).dtype == np.float32
    assert bias_correction(ewa(average, value, 0.9), 0.9, 1).dtype == np.float32


def test_tree_ewa_maps_over_matching_keys_and_refuses_others():
    averages = tree(dense_0={"W": [0.0, 4.0], "b": [1.0]})
    values = tree(dense_0={"W": [2.0, 0.0], "b": [3.0]})
    result = tree_ewa(averages, values, 0.5)
    np.testing.assert_array_equal(leaf(result), [1.0, 2.0])  # (0+2)/2, (4+0)/2
    np.testing.assert_array_equal(leaf(result, name="b"), [2.0])
    with pytest.raises(ValueError, match="parameter trees do not match"):
        tree_ewa(averages, tree(dense_0={"W": [1.0, 1.0]}), 0.5)
    with pytest.raises(ValueError, match="parameter trees do not match"):
        tree_ewa(averages, tree(dense_1={"W": [1.0, 1.0], "b": [1.0]}), 0.5)


def test_smooth_hand_worked_values():
    # v1 = 0.5*0 + 0.5*1 = 0.5; v2 = 0.5*0.5 + 0.5*2 = 1.25; v3 = 0.625 + 1.5 = 2.125
    raw = smooth([1.0, 2.0, 3.0], beta=0.5, bias_correction=False)
    np.testing.assert_allclose(raw, [0.5, 1.25, 2.125], rtol=1e-15)
    # divided by 1 - 0.5^t = 0.5, 0.75, 0.875
    corrected = smooth([1.0, 2.0, 3.0], beta=0.5)
    np.testing.assert_allclose(corrected, [1.0, 1.25 / 0.75, 2.125 / 0.875], rtol=1e-15)
    # beta = 0.9: v1 = 0.1*10 = 1 (corrected 1/0.1 = 10); v2 = 0.9 + 0 = 0.9
    # (corrected 0.9 / 0.19 = 4.736842...)
    np.testing.assert_allclose(smooth([10.0, 0.0]), [10.0, 0.9 / 0.19], rtol=1e-14)
    assert smooth([1.0, 5.0], beta=0.0).tolist() == [1.0, 5.0]
    assert smooth([]).shape == (0,)
    assert smooth(np.array([1, 2], dtype=np.int64)).dtype == np.float64


def test_smooth_and_average_validation():
    with pytest.raises(ValueError, match=r"values must be a 1-D .*got shape \(2, 2\)"):
        smooth(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"beta must be a finite number in \[0, 1\)"):
        smooth([1.0], beta=1.0)
    with pytest.raises(ValueError, match=r"beta must be .*; got -0.1"):
        ExponentialWeightedAverage(-0.1)
    with pytest.raises(TypeError, match="beta must be a real number; got True"):
        ExponentialWeightedAverage(True)
    assert repr(ExponentialWeightedAverage(0.9)) == (
        "ExponentialWeightedAverage(beta=0.9, bias_correction=True)"
    )


# ------------------------------------------------------------- hand-worked transforms
def run(transform, grads_sequence, params=None):
    """Feed ``grads_sequence`` through ``transform``; return the list of outputs."""
    state = transform.init(params if params is not None else grads_sequence[0])
    outputs = []
    for grads in grads_sequence:
        out, state = transform.update(grads, state, params)
        outputs.append(out)
    return outputs, state


def test_momentum_is_the_course_ewa_without_bias_correction():
    grads = [tree(dense_0={"W": [1.0]}), tree(dense_0={"W": [3.0]})]
    outputs, state = run(scale_by_momentum(0.5), grads)
    # v1 = 0.5*0 + 0.5*1 = 0.5; v2 = 0.5*0.5 + 0.5*3 = 1.75
    assert [float(leaf(out)[0]) for out in outputs] == [0.5, 1.75]
    assert isinstance(state, MomentumState)
    outputs, _ = run(scale_by_momentum(0.5, nesterov=True), grads)
    # nesterov: 0.5*v1 + 0.5*g1 = 0.75; 0.5*v2 + 0.5*g2 = 0.875 + 1.5 = 2.375
    assert [float(leaf(out)[0]) for out in outputs] == [0.75, 2.375]


def test_rms_puts_eps_outside_the_root():
    grads = [tree(dense_0={"W": [2.0]}), tree(dense_0={"W": [4.0]})]
    outputs, state = run(scale_by_rms(0.5, eps=1.0), grads)
    # s1 = 0.5*4 = 2 -> 2 / (sqrt(2) + 1); s2 = 0.5*2 + 0.5*16 = 9 -> 4 / (3 + 1)
    np.testing.assert_allclose(leaf(outputs[0]), [2.0 / (math.sqrt(2.0) + 1.0)])
    np.testing.assert_allclose(leaf(outputs[1]), [1.0])
    np.testing.assert_allclose(leaf(state.square_average), [9.0])


def test_adam_follows_kingma_and_ba_algorithm_1():
    grads = [tree(dense_0={"W": [1.0]}), tree(dense_0={"W": [3.0]})]
    outputs, state = run(scale_by_adam(0.5, 0.75, eps=0.5), grads)
    # t=1: m = 0.5, v = 0.25; m_hat = 0.5/0.5 = 1, v_hat = 0.25/0.25 = 1
    #      -> 1 / (sqrt(1) + 0.5) = 2/3
    # t=2: m = 0.25 + 1.5 = 1.75, v = 0.1875 + 2.25 = 2.4375
    #      m_hat = 1.75/0.75 = 7/3, v_hat = 2.4375/0.4375 = 39/7
    #      -> (7/3) / (sqrt(39/7) + 0.5)
    np.testing.assert_allclose(leaf(outputs[0]), [2.0 / 3.0], rtol=1e-15)
    expected = (7.0 / 3.0) / (math.sqrt(39.0 / 7.0) + 0.5)
    np.testing.assert_allclose(leaf(outputs[1]), [expected], rtol=1e-14)
    assert isinstance(state, AdamState)
    assert state.step == 2


def test_adamw_decays_after_adam_scaling():
    params = tree(dense_0={"W": [2.0]})
    grads = [tree(dense_0={"W": [-5.0]})]
    outputs, _ = run(adamw(0.1, eps=1e-12, weight_decay=0.5), grads, params)
    # -0.1 * (sign(-5) + 0.5 * 2) = -0.1 * (-1 + 1) = 0
    np.testing.assert_allclose(leaf(outputs[0]), [0.0], atol=1e-12)


def test_add_decayed_weights_needs_params():
    transform = add_decayed_weights(0.1)
    grads = tree(dense_0={"W": [1.0]})
    with pytest.raises(ValueError, match="add_decayed_weights needs the parameters"):
        transform.update(grads, transform.init(grads), None)


def test_learning_rate_outputs_minus_lr_times_the_update():
    outputs, state = run(gd(0.25), [tree(dense_0={"W": [2.0, -4.0]})])
    np.testing.assert_array_equal(leaf(outputs[0]), [-0.5, 1.0])
    (lr_state,) = state
    assert isinstance(lr_state, LearningRateState)
    assert (int(lr_state.step), int(lr_state.epoch)) == (1, 0)
    assert (float(lr_state.learning_rate), float(lr_state.value)) == (0.25, 0.25)


def test_chain_applies_in_order_and_checks_its_state():
    transform = chain(scale_by_momentum(0.5), scale_by_learning_rate(2.0))
    outputs, state = run(transform, [tree(dense_0={"W": [1.0]})])
    np.testing.assert_array_equal(leaf(outputs[0]), [-1.0])  # -2 * (0.5 * 1)
    assert isinstance(state, tuple)
    assert len(state) == 2
    with pytest.raises(ValueError, match="a chain of 2 transformations needs a tuple"):
        transform.update(tree(dense_0={"W": [1.0]}), state[:1], None)


def test_apply_updates_adds_and_keeps_the_parameter_dtype():
    params = {"dense_0": {"W": np.ones(2, dtype=np.float32)}}
    updates = {"dense_0": {"W": np.full(2, 0.5, dtype=np.float64)}}
    new = apply_updates(params, updates)
    assert new["dense_0"]["W"].dtype == np.float32
    np.testing.assert_array_equal(new["dense_0"]["W"], [1.5, 1.5])
    np.testing.assert_array_equal(params["dense_0"]["W"], [1.0, 1.0])
    with pytest.raises(ValueError, match="parameter trees do not match"):
        apply_updates(params, {"dense_1": {"W": np.zeros(2)}})


# ------------------------------------------------------------------- clipping
def test_clip_scales_by_max_norm_over_the_global_norm():
    grads = tree(dense_0={"W": [3.0]}, dense_1={"b": [0.0, 4.0]})  # global norm 5
    transform = clip_by_global_norm(1.0)
    clipped, state = transform.update(grads, transform.init(grads), None)
    np.testing.assert_allclose(leaf(clipped), [0.6], rtol=1e-15)
    np.testing.assert_allclose(clipped["dense_1"]["b"], [0.0, 0.8], rtol=1e-15)
    assert state == EmptyState()


@pytest.mark.parametrize("max_norm", [5.0, 5.000001, 100.0])
def test_clip_leaves_gradients_at_or_below_the_threshold_unchanged(max_norm):
    grads = tree(dense_0={"W": [3.0]}, dense_1={"b": [0.0, 4.0]})  # global norm 5
    transform = clip_by_global_norm(max_norm)
    clipped, _ = transform.update(grads, transform.init(grads), None)
    np.testing.assert_array_equal(leaf(clipped), [3.0])
    np.testing.assert_array_equal(clipped["dense_1"]["b"], [0.0, 4.0])


def test_clip_of_zero_and_empty_gradients():
    transform = clip_by_global_norm(1.0)
    zeros = tree(dense_0={"W": [0.0, 0.0]})
    clipped, _ = transform.update(zeros, transform.init(zeros), None)
    np.testing.assert_array_equal(leaf(clipped), [0.0, 0.0])
    assert transform.update({}, EmptyState(), None)[0] == {}
    assert transform.update({"relu_1": {}}, EmptyState(), None)[0] == {"relu_1": {}}


def test_clip_of_a_non_finite_gradient_is_nan_not_a_silent_zero_step():
    grads = tree(dense_0={"W": [np.inf, 1.0]}, dense_1={"b": [2.0]})
    with np.errstate(invalid="ignore"):
        clipped, _ = clip_by_global_norm(1.0).update(grads, EmptyState(), None)
    assert np.all(np.isnan(leaf(clipped)))
    assert np.all(np.isnan(clipped["dense_1"]["b"]))


def test_clip_keeps_float32():
    grads = {"dense_0": {"W": np.full(4, 10.0, dtype=np.float32)}}
    clipped, _ = clip_by_global_norm(1.0).update(grads, EmptyState(), None)
    assert clipped["dense_0"]["W"].dtype == np.float32
    np.testing.assert_allclose(clipped["dense_0"]["W"], 0.5, rtol=1e-6)


# -------------------------------------------------- registry: every optimizer, all laws
# Learning rates tuned per optimizer for the two test functions below.
BOWL = {
    "gd": {"learning_rate": 0.019},
    "momentum": {"learning_rate": 0.1},
    "rmsprop": {"learning_rate": 0.003},
    "adam": {"learning_rate": 0.05},
    "adamw": {"learning_rate": 0.05, "weight_decay": 1e-3},
}
ROSENBROCK = {  # (hyperparameters, step budget)
    "gd": ({"learning_rate": 0.001}, 13_000),
    "momentum": ({"learning_rate": 0.01}, 1_500),
    "rmsprop": ({"learning_rate": 0.001}, 9_000),
    "adam": ({"learning_rate": 0.01}, 3_500),
    "adamw": ({"learning_rate": 0.01, "weight_decay": 1e-4}, 3_500),
}
CURVATURES = np.array([1.0, 10.0, 100.0])  # condition number 100


def test_every_registered_optimizer_has_test_settings():
    assert set(BOWL) == set(ROSENBROCK) == set(OPTIMIZERS)


def minimise(optimizer, params, gradient, steps):
    state = optimizer.init(params)
    for _ in range(steps):
        updates, state = optimizer.update(gradient(params), state, params)
        params = apply_updates(params, updates)
    return params


def bowl_gradient(params):
    # f = 0.5 * sum(a_i x_i^2), grad = a * x
    return {"bowl": {"x": CURVATURES * params["bowl"]["x"]}}


def rosenbrock_gradient(params):
    # f = (1 - x)^2 + 100 (y - x^2)^2
    x, y = params["rosenbrock"]["xy"]
    return {
        "rosenbrock": {
            "xy": np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        }
    }


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_converges_on_an_ill_conditioned_bowl(name):
    params = {"bowl": {"x": np.ones(3)}}
    final = minimise(
        optimizer_from_name(name, **BOWL[name]), params, bowl_gradient, 500
    )
    np.testing.assert_allclose(final["bowl"]["x"], 0.0, atol=1e-3)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_converges_on_rosenbrock(name):
    hyperparameters, steps = ROSENBROCK[name]
    params = {"rosenbrock": {"xy": np.array([-1.5, 2.0])}}
    optimizer = optimizer_from_name(name, **hyperparameters)
    final = minimise(optimizer, params, rosenbrock_gradient, steps)
    np.testing.assert_allclose(final["rosenbrock"]["xy"], [1.0, 1.0], atol=1e-2)


def test_nesterov_converges_on_rosenbrock():
    params = {"rosenbrock": {"xy": np.array([-1.5, 2.0])}}
    final = minimise(momentum(0.01, nesterov=True), params, rosenbrock_gradient, 1500)
    np.testing.assert_allclose(final["rosenbrock"]["xy"], [1.0, 1.0], atol=1e-2)


ALL_OPTIMIZERS = {
    **{name: optimizer_from_name(name, **BOWL[name]) for name in OPTIMIZERS},
    "nesterov": momentum(0.1, nesterov=True),
    "clipped_adam": adam(0.01, clip_norm=0.5),
    "scheduled_momentum": momentum(inverse_time_decay(0.1, 1.0), clip_norm=1.0),
}


def make_tree(dtype, seed):
    rng = np.random.default_rng(seed)
    return {
        "dense_0": {
            "W": rng.standard_normal((3, 2)).astype(dtype),
            "b": rng.standard_normal(2).astype(dtype),
        },
        "relu_1": {},
        "dense_2": {"W": rng.standard_normal((2, 1)).astype(dtype)},
    }


def structure(state):
    """The nested types, shapes and dtypes of a state; only the allowed kinds."""
    if isinstance(state, np.ndarray):
        return ("array", state.shape, state.dtype)
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return (type(state), tuple(structure(item) for item in state))
    if isinstance(state, tuple):
        return ("tuple", tuple(structure(item) for item in state))
    if isinstance(state, dict):
        return {key: structure(value) for key, value in state.items()}
    assert type(state) in (int, float), f"{type(state)} is not allowed in a state"
    return type(state)


def state_arrays(state):
    if isinstance(state, np.ndarray):
        return [state]
    if isinstance(state, tuple):
        return [a for item in state for a in state_arrays(item)]
    if isinstance(state, dict):
        return [a for value in state.values() for a in state_arrays(value)]
    return []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ALL_OPTIMIZERS))
def test_dtype_and_state_structure_are_kept(name, dtype):
    optimizer = ALL_OPTIMIZERS[name]
    params = make_tree(dtype, 0)
    state = optimizer.init(params)
    initial = structure(state)
    for seed in range(1, 4):
        state = set_epoch(state, seed)
        grads = make_tree(dtype, seed)
        updates, state = optimizer.update(grads, state, params)
        params = apply_updates(params, updates)
        assert structure(state) == initial
        for layer, arrays in params.items():
            for key, array in arrays.items():
                assert array.dtype == dtype, (layer, key)
                assert updates[layer][key].dtype == dtype, (layer, key)
        arrays = state_arrays(state)
        # Moments keep the parameters' dtype; counters are int32 and learning rates
        # float64 (0-d arrays, so the state keeps its structure).
        assert all(array.dtype == dtype for array in arrays if array.ndim)
        assert all(a.dtype in (np.int32, np.float64) for a in arrays if not a.ndim)


def read_only(tree_):
    for arrays in tree_.values():
        for array in arrays.values():
            array.flags.writeable = False
    return tree_


@pytest.mark.parametrize("name", sorted(ALL_OPTIMIZERS))
def test_nothing_is_modified_in_place(name):
    optimizer = ALL_OPTIMIZERS[name]
    params = read_only(make_tree(np.float64, 0))
    state = optimizer.init(params)
    for seed in range(1, 4):
        grads = read_only(make_tree(np.float64, seed))
        for array in state_arrays(state):
            array.flags.writeable = False  # an in-place update would raise
        saved = copy.deepcopy((params, grads, state))
        updates, new_state = optimizer.update(grads, state, params)
        new_params = apply_updates(params, updates)
        for before, after in zip(
            state_arrays(saved), state_arrays((params, grads, state)), strict=True
        ):
            np.testing.assert_array_equal(before, after)
        assert new_params is not params
        params, state = read_only(new_params), new_state


# ------------------------------------------------------ learning-rate state helpers
def test_set_epoch_drives_a_per_epoch_schedule():
    optimizer = gd(inverse_time_decay(0.3, decay_rate=1.0))
    grads = tree(dense_0={"W": [1.0]})
    state = optimizer.init(grads)
    assert current_learning_rate(state) == 0.3  # before any update: epoch 0, step 0
    state = set_epoch(state, 2)
    updates, state = optimizer.update(grads, state, grads)
    np.testing.assert_allclose(leaf(updates), [-0.1])  # 0.3 / (1 + 2)
    assert current_learning_rate(state) == pytest.approx(0.1)
    assert state[0].step == 1
    assert state[0].epoch == 2


def test_scale_learning_rate_multiplies_every_later_rate():
    optimizer = gd(inverse_time_decay(0.3, decay_rate=1.0))
    grads = tree(dense_0={"W": [1.0]})
    state = optimizer.init(grads)
    _, state = optimizer.update(grads, state, grads)
    state = scale_learning_rate(state, 0.5)
    assert current_learning_rate(state) == pytest.approx(0.15)  # shown at once
    state = set_epoch(state, 1)
    updates, state = optimizer.update(grads, state, grads)
    np.testing.assert_allclose(leaf(updates), [-0.075])  # 0.5 * 0.3 / 2
    assert current_learning_rate(state) == pytest.approx(0.075)
    state = scale_learning_rate(state, 0.1)
    assert float(state[0].learning_rate) == pytest.approx(0.3 * 0.5 * 0.1)


def test_the_step_counts_updates_from_zero():
    schedule = warmup_cosine(1.0, warmup_steps=4, decay_steps=4)
    optimizer = gd(schedule)
    grads = tree(dense_0={"W": [1.0]})
    state = optimizer.init(grads)
    rates = []
    for _ in range(10):
        _, state = optimizer.update(grads, state, grads)
        rates.append(current_learning_rate(state))
    assert rates == [schedule(0, step) for step in range(10)]
    assert rates[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_helpers_walk_nested_states():
    inner = chain(scale_by_momentum(0.9), scale_by_learning_rate(0.1))
    outer = chain(clip_by_global_norm(1.0), inner, scale_by_learning_rate(2.0))
    state = outer.init(tree(dense_0={"W": [1.0]}))
    state = scale_learning_rate(set_epoch(state, 4), 0.5)
    lr_states = [state[1][1], state[2]]
    assert [int(s.epoch) for s in lr_states] == [4, 4]
    assert [float(s.learning_rate) for s in lr_states] == [0.05, 1.0]
    assert current_learning_rate(state) == pytest.approx(0.05)  # the first one
    assert type(state[1][0]) is MomentumState


def test_helpers_without_a_learning_rate():
    state = (EmptyState(), RmsState({}))
    assert set_epoch(state, 1) == state
    with pytest.raises(ValueError, match="has no learning rate"):
        current_learning_rate(state)
    with pytest.raises(ValueError, match="has no learning rate"):
        scale_learning_rate(state, 0.1)


@pytest.mark.parametrize("epoch", [-1, 1.5, True, "2"])
def test_set_epoch_validates(epoch):
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        set_epoch(gd(0.1).init({}), epoch)


@pytest.mark.parametrize("factor", [0.0, -0.5, math.inf])
def test_scale_learning_rate_validates(factor):
    with pytest.raises(ValueError, match=r"factor must be a finite number in \(0, inf"):
        scale_learning_rate(gd(0.1).init({}), factor)


# ---------------------------------------------------- names and hyperparameter checks
def test_optimizer_from_name_passes_what_each_optimizer_takes():
    grads = tree(dense_0={"W": [1.0]})
    optimizer = optimizer_from_name(
        "momentum",
        learning_rate=1.0,
        beta=0.5,
        beta1=None,
        beta2=None,
        eps=None,
        weight_decay=None,
        nesterov=None,
        clip_norm=None,
    )
    updates, _ = optimizer.update(grads, optimizer.init(grads), grads)
    np.testing.assert_array_equal(leaf(updates), [-0.5])  # -(0.5*0 + 0.5*1)
    default_adam = optimizer_from_name("adam", learning_rate=None)
    assert current_learning_rate(default_adam.init(grads)) == 0.001


def test_every_optimizer_takes_only_known_hyperparameters():
    import inspect

    for name, factory in OPTIMIZERS.items():
        assert set(inspect.signature(factory).parameters) <= HYPERPARAMETERS, name


@pytest.mark.parametrize(
    ("name", "hyperparameters", "message"),
    [
        ("sgd", {}, r"unknown optimizer 'sgd'; expected one of \['adam', 'adamw', "),
        ("gd", {"learning_rate": 0.1, "beta1": 0.9}, "gd does not take beta1"),
        ("rmsprop", {"learning_rate": 0.1, "beta": 0.9}, "rmsprop does not take beta"),
        ("adam", {"nesterov": True}, "adam does not take nesterov.*: momentum"),
        ("adam", {"lerning_rate": 0.1}, "adam does not take lerning_rate"),
        ("gd", {"beta": None}, "gd needs learning_rate; pass e.g. learning_rate="),
    ],
)
def test_optimizer_from_name_errors(name, hyperparameters, message):
    with pytest.raises(ValueError, match=message):
        optimizer_from_name(name, **hyperparameters)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: gd(0.0), ValueError, r"learning_rate must be .* \(0, inf\); got 0.0"),
        (lambda: gd(-1), ValueError, r"learning_rate must be .*; got -1"),
        (lambda: gd(math.nan), ValueError, r"learning_rate must be .*; got nan"),
        (lambda: gd(True), TypeError, "learning_rate must be a real number; got True"),
        (lambda: gd(0.1, clip_norm=0), ValueError, r"clip_norm must be .* \(0, inf"),
        (lambda: momentum(0.1, beta=1.0), ValueError, r"beta must be .*\[0, 1\)"),
        (lambda: momentum(0.1, beta=-0.1), ValueError, r"beta must be .*got -0.1"),
        (lambda: rmsprop(0.1, beta2=1.0), ValueError, r"beta2 must be .*\[0, 1\)"),
        (lambda: rmsprop(0.1, eps=0.0), ValueError, r"eps must be .* \(0, inf\)"),
        (lambda: adam(beta1=1.5), ValueError, r"beta1 must be .*; got 1.5"),
        (lambda: adam(beta2=math.inf), ValueError, r"beta2 must be .*; got inf"),
        (lambda: adam(eps=-1e-8), ValueError, r"eps must be .*; got -1e-08"),
        (lambda: adam(beta1="0.9"), TypeError, "beta1 must be a real number"),
        (lambda: adamw(weight_decay=-1), ValueError, r"weight_decay must .*\[0, inf"),
        (lambda: clip_by_global_norm(-1.0), ValueError, r"max_norm must be .*\(0, inf"),
    ],
)
def test_hyperparameters_are_validated_when_built(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_a_schedule_with_the_wrong_signature_is_explained_at_init():
    optimizer = gd(lambda epoch: 0.1)
    with pytest.raises(TypeError, match=r"called as schedule\(epoch, step\)"):
        optimizer.init({})


def test_a_schedule_that_starts_negative_is_refused_at_init():
    optimizer = gd(lambda epoch, step=0: -1.0)
    with pytest.raises(ValueError, match=r"gives -1\.0 at epoch 0, step 0"):
        optimizer.init({})


@settings(max_examples=50)
@given(
    beta=st.floats(0.0, 0.99),
    values=st.lists(st.floats(-100, 100), min_size=1, max_size=20),
)
def test_momentum_stays_within_the_range_of_the_gradients_seen(beta, values):
    # v_t is a convex combination of 0 and the gradients so far.
    transform = scale_by_momentum(beta)
    state = transform.init(tree(dense_0={"W": [0.0]}))
    for count, value in enumerate(values, start=1):
        out, state = transform.update(tree(dense_0={"W": [value]}), state, None)
        seen = [0.0, *values[:count]]
        assert min(seen) - 1e-9 <= float(leaf(out)[0]) <= max(seen) + 1e-9
