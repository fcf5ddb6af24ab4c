from __future__ import annotations

import numpy as np
import pytest

from nntune import (
    L1,
    L2,
    BinaryCrossEntropy,
    MeanSquaredError,
    SoftmaxCrossEntropy,
    numerical_gradient,
    relative_difference,
)

RNG = np.random.default_rng(7)


def loss_gradient_difference(loss, logits, targets):
    _, grad = loss.value_and_grad(logits, targets)
    tree = {"z": {"z": logits.copy()}}
    approx = numerical_gradient(
        lambda t: float(loss.value_and_grad(t["z"]["z"], targets)[0]),
        tree,
        {"z": {"z": np.arange(logits.size)}},
    )
    return relative_difference(grad, approx["z"]["z"])


CASES = [
    pytest.param(
        BinaryCrossEntropy(),
        RNG.standard_normal((9, 1)) * 3,
        RNG.integers(0, 2, (9, 1)).astype(float),
        id="binary",
    ),
    pytest.param(
        SoftmaxCrossEntropy(),
        RNG.standard_normal((9, 4)) * 3,
        np.eye(4)[RNG.integers(0, 4, 9)],
        id="softmax",
    ),
    pytest.param(
        MeanSquaredError(),
        RNG.standard_normal((9, 3)),
        RNG.standard_normal((9, 3)),
        id="mse",
    ),
]


@pytest.mark.parametrize(("loss", "logits", "targets"), CASES)
def test_gradient_matches_numerical(loss, logits, targets):
    assert loss_gradient_difference(loss, logits, targets) < 1e-7


def test_softmax_gradient_is_probabilities_minus_labels_over_m():
    logits = RNG.standard_normal((5, 3))
    targets = np.eye(3)[[0, 2, 1, 1, 0]]
    _, grad = SoftmaxCrossEntropy().value_and_grad(logits, targets)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad, (probabilities - targets) / 5, rtol=1e-12)


def test_binary_cross_entropy_golden_value():
    # -(log(sigmoid(2)) + log(1 - sigmoid(-1))) / 2, worked by hand.
    logits, targets = np.array([[2.0], [-1.0]]), np.array([[1.0], [0.0]])
    cost, _ = BinaryCrossEntropy().value_and_grad(logits, targets)
    expected = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2
    assert float(cost) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("big", [50.0, 800.0, 1e6])
def test_stable_for_huge_logits(big):
    logits = np.array([[big], [-big]])
    cost, grad = BinaryCrossEntropy().value_and_grad(logits, np.array([[1.0], [0.0]]))
    assert np.isfinite(cost)
    assert cost < 1e-20
    assert np.all(np.isfinite(grad))
    wrong, _ = BinaryCrossEntropy().value_and_grad(logits, np.array([[0.0], [1.0]]))
    assert float(wrong) == pytest.approx(big)
    cost, grad = SoftmaxCrossEntropy().value_and_grad(
        np.array([[big, -big, 0.0]]), np.array([[0.0, 1.0, 0.0]])
    )
    assert float(cost) == pytest.approx(2 * big)
    assert np.all(np.isfinite(grad))


class TestTargets:
    def test_binary_accepts_column_or_flat_labels(self):
        loss = BinaryCrossEntropy()
        flat = loss.prepare_targets([0, 1, 1], 1, "float32")
        column = loss.prepare_targets(np.array([[0], [1], [1]]), 1, "float32")
        assert flat.shape == (3, 1)
        assert flat.dtype == np.float32
        np.testing.assert_array_equal(flat, column)

    def test_binary_labels_outside_the_classes(self):
        with pytest.raises(
            ValueError, match=r"labels outside the classes 0\.\.1: found \[2\]"
        ):
            BinaryCrossEntropy().prepare_targets([0, 2, 1], 1, "float64")

    def test_softmax_integer_and_one_hot_labels_agree(self):
        loss = SoftmaxCrossEntropy()
        from_integers = loss.prepare_targets([2, 0, 1], 3, "float64")
        np.testing.assert_array_equal(from_integers, np.eye(3)[[2, 0, 1]])
        np.testing.assert_array_equal(
            loss.prepare_targets(from_integers, 3, "f8"), from_integers
        )

    def test_softmax_labels_outside_the_classes(self):
        with pytest.raises(
            ValueError, match=r"outside the classes 0\.\.2: found \[-1, 3\]"
        ):
            SoftmaxCrossEntropy().prepare_targets([0, 3, -1], 3, "float64")

    def test_not_one_hot(self):
        with pytest.raises(ValueError, match="exactly one 1 per row"):
            SoftmaxCrossEntropy().prepare_targets(np.array([[1, 1, 0]]), 3, "float64")

    def test_fractional_labels(self):
        with pytest.raises(ValueError, match="integer class indices"):
            SoftmaxCrossEntropy().prepare_targets([0.5, 1.0], 3, "float64")

    def test_nan_labels(self):
        with pytest.raises(ValueError, match="NaN or infinite"):
            BinaryCrossEntropy().prepare_targets([0.0, np.nan], 1, "float64")

    def test_regression_targets_shape(self):
        with pytest.raises(ValueError, match=r"shape \(m,\) or \(m, 2\)"):
            MeanSquaredError().prepare_targets(np.zeros((4, 3)), 2, "float64")


class TestRegularizers:
    def test_l2_uses_the_course_scaling(self):
        weights = np.array([[1.0, -2.0], [3.0, 0.0]])
        l2 = L2(0.7)
        assert float(l2.cost(weights, m=10)) == pytest.approx(0.7 / 20 * 14)
        np.testing.assert_allclose(l2.grad(weights, m=10), 0.07 * weights)

    def test_l1_uses_the_course_scaling(self):
        weights = np.array([[1.0, -2.0], [3.0, 0.0]])
        l1 = L1(0.5)
        assert float(l1.cost(weights, m=4)) == pytest.approx(0.5 / 8 * 6)
        np.testing.assert_allclose(l1.grad(weights, m=4), 0.5 / 8 * np.sign(weights))

    @pytest.mark.parametrize("regularizer", [L2, L1])
    def test_gradient_matches_numerical(self, regularizer):
        weights = RNG.standard_normal((4, 3))
        penalty = regularizer(0.9)
        approx = numerical_gradient(
            lambda t: float(penalty.cost(t["w"]["w"], m=6)),
            {"w": {"w": weights.copy()}},
            {"w": {"w": np.arange(weights.size)}},
        )
        assert relative_difference(penalty.grad(weights, m=6), approx["w"]["w"]) < 1e-7

    @pytest.mark.parametrize("regularizer", [L2, L1])
    def test_negative_lambda_is_rejected(self, regularizer):
        with pytest.raises(
            ValueError, match=r"lambda must be a finite number >= 0; got -0\.1"
        ):
            regularizer(-0.1)
