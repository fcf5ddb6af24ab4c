from __future__ import annotations

import numpy as np
import pytest

from nntune import (
    L2,
    BatchNorm,
    Dense,
    ReLU,
    Sequential,
    Tanh,
    gradient_check,
    load_dataset,
    mlp,
    relative_difference,
)
from nntune.gradcheck import verdict

MOONS = load_dataset("moons", n_samples=60, seed=1)


def test_passes_in_float64_even_for_a_float32_model():
    model = mlp([10, 5], batch_norm=True, l2=0.7).init(2, seed=1)  # float32
    report = gradient_check(model, MOONS.X, MOONS.y)
    assert report.passed
    assert report.verdict == "good"
    assert report.max_relative_difference < 1e-7
    assert model.params["dense_0"]["W"].dtype == np.float32  # model left unchanged


def test_reports_every_parameter_and_what_was_sampled():
    model = mlp([30, 20]).init(2, seed=0, dtype="float64")
    report = gradient_check(model, MOONS.X, MOONS.y, max_entries=50)
    assert set(report.parameters) == {
        "dense_0.W",
        "dense_0.b",
        "dense_2.W",
        "dense_2.b",
        "dense_4.W",
        "dense_4.b",
    }
    assert report.parameters["dense_2.W"].checked == 50
    assert report.parameters["dense_2.W"].size == 600
    assert report.parameters["dense_0.b"].checked == 30
    document = report.to_dict()
    assert (
        document["parameters"]["dense_2.W"] == report.parameters["dense_2.W"].difference
    )
    assert {"max_relative_difference", "passed", "parameters"} <= set(document)


def test_catches_a_planted_wrong_activation_backward():
    class WrongTanh(Tanh):
        kind = "wrong_tanh"

        def _backward(self, cache, dy):
            return dy * (1 - cache)

    model = Sequential([Dense(5), WrongTanh(), Dense(1)]).init(
        2, seed=0, dtype="float64"
    )
    report = gradient_check(model, MOONS.X, MOONS.y)
    assert not report.passed
    assert report.verdict == "wrong"
    assert report.parameters["dense_0.W"].verdict == "wrong"
    assert report.parameters["dense_2.W"].verdict == "good"  # above the bug: fine
    assert "FAILED" in report.explain()


def test_catches_batch_norm_backward_that_ignores_the_batch_statistics():
    class NaiveBatchNorm(BatchNorm):
        kind = "naive_batch_norm"

        def backward(self, params, cache, dy, *, input_grad=True):
            z_norm, inv_std, _ = cache
            grads = {"gamma": (dy * z_norm).sum(0), "beta": dy.sum(0)}
            return dy * params["gamma"] * inv_std, grads

    model = Sequential([Dense(5, use_bias=False), NaiveBatchNorm(), ReLU(), Dense(1)])
    model.init(2, seed=0, dtype="float64")
    assert gradient_check(model, MOONS.X, MOONS.y).verdict == "wrong"


def test_catches_a_wrong_regularization_gradient(monkeypatch):
    model = mlp([5], l2=5.0).init(2, seed=0, dtype="float64")
    monkeypatch.setattr(L2, "grad", lambda self, w, m: self.strength / (2 * m) * w)
    assert not gradient_check(model, MOONS.X, MOONS.y).passed


def test_refuses_dropout_unless_one_mask_is_frozen():
    model = mlp([10, 5], keep_prob=0.8).init(2, seed=0, dtype="float64")
    with pytest.raises(ValueError, match="every evaluation of the cost would drop"):
        gradient_check(model, MOONS.X, MOONS.y)
    report = gradient_check(model, MOONS.X, MOONS.y, freeze_dropout=True)
    assert report.passed
    assert any("frozen" in note for note in report.notes)


def test_steps_that_cross_a_relu_kink_are_left_out_and_said():
    # A zero input row puts z = b = 0 exactly on the ReLU kink.
    model = Sequential([Dense(3), ReLU(), Dense(1)]).init(2, seed=0, dtype="float64")
    X = np.vstack([MOONS.X, np.zeros((1, 2))])
    y = np.append(MOONS.y, 1)
    report = gradient_check(model, X, y)
    assert report.skipped_entries >= 1
    assert any("kink" in note for note in report.notes)
    assert report.passed


def test_thresholds_in_words():
    assert verdict(5e-8) == "good"
    assert verdict(3e-6) == "look closer"
    assert verdict(1e-3) == "wrong"


def test_relative_difference_is_the_course_formula():
    g, a = np.array([3.0, 4.0]), np.array([3.0, 4.1])
    expected = 0.1 / (5.0 + np.hypot(3.0, 4.1))
    assert relative_difference(g, a) == pytest.approx(expected)
    assert relative_difference([0.0], [0.0]) == 0.0


def test_threshold_decides_passed():
    model = mlp([5]).init(2, seed=0, dtype="float64")
    assert not gradient_check(model, MOONS.X, MOONS.y, threshold=1e-30).passed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 0}, "epsilon must be a positive"),
        ({"max_entries": 0}, "max_entries"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_check(mlp([3]).init(2), MOONS.X, MOONS.y, **kwargs)


def test_a_tensor_with_every_step_on_a_kink_is_not_checked_rather_than_good():
    # Zero inputs put every row of z = b on the ReLU kink: b cannot be checked.
    model = Sequential([Dense(3), ReLU(), Dense(1)]).init(2, seed=0, dtype="float64")
    report = gradient_check(model, np.zeros((8, 2)), np.arange(8) % 2)
    bias = report.parameters["dense_0.b"]
    assert (bias.checked, bias.verdict) == (0, "not checked")
    assert np.isnan(bias.difference)
    assert report.to_dict()["parameters"]["dense_0.b"] is None
    assert report.to_dict()["not_checked"] == ["dense_0.b"]
    assert any(note.startswith("not checked: dense_0.b") for note in report.notes)
    assert "n/a" in str(report)
    assert not np.isnan(report.max_relative_difference)
