"""Weighted losses against PyTorch autograd, float64: value and gradient.

The convention pinned (nntune.sample_weights): a mini-batch's cost is
``sum_i w_i l_i / sum_i w_i``, PyTorch's ``CrossEntropyLoss(weight=class_weights,
reduction="mean")``; a row's weight is its sample weight times its class's weight.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import require
from nntune import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from nntune.sample_weights import row_weights, with_weights

torch = require("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-10, 1e-12
M, K = 13, 4


def nntune_loss(loss, logits, targets, weights):
    cost, dz = loss.value_and_grad(logits, with_weights(targets, weights))
    return float(cost), dz


def torch_loss(make_cost, logits):
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    cost = make_cost(z)
    cost.backward()
    return float(cost.detach()), z.grad.numpy()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (M, K))
    labels = rng.integers(0, K, M)
    class_weight = rng.uniform(0.1, 5, K)
    sample_weight = rng.uniform(0, 3, M)
    return logits, labels, class_weight, sample_weight


def test_softmax_class_weights_are_torch_weighted_cross_entropy(data):
    logits, labels, class_weight, _ = data
    weights = row_weights(M, labels, K, class_weight=dict(enumerate(class_weight)))
    found = nntune_loss(SoftmaxCrossEntropy(), logits, np.eye(K)[labels], weights)
    loss = torch.nn.CrossEntropyLoss(weight=torch.tensor(class_weight))
    expected = torch_loss(lambda z: loss(z, torch.tensor(labels)), logits)
    np.testing.assert_allclose(found[0], expected[0], rtol=RTOL)
    np.testing.assert_allclose(found[1], expected[1], rtol=RTOL, atol=ATOL)


def test_softmax_sample_and_class_weights_multiply(data):
    logits, labels, class_weight, sample_weight = data
    weights = row_weights(
        M,
        labels,
        K,
        sample_weight=sample_weight,
        class_weight=dict(enumerate(class_weight)),
    )
    found = nntune_loss(SoftmaxCrossEntropy(), logits, np.eye(K)[labels], weights)
    w = torch.tensor(sample_weight * class_weight[labels])

    def cost(z):
        return (
            w * F.cross_entropy(z, torch.tensor(labels), reduction="none")
        ).sum() / (w.sum())

    expected = torch_loss(cost, logits)
    np.testing.assert_allclose(found[0], expected[0], rtol=RTOL)
    np.testing.assert_allclose(found[1], expected[1], rtol=RTOL, atol=ATOL)


def test_binary_weights_are_torch_weighted_cross_entropy_of_two_logits(data):
    # One logit z is the two logits [0, z] of softmax: binary cross-entropy with
    # class weights is CrossEntropyLoss(weight=...) on them, mean over the weights.
    logits, labels, class_weight, sample_weight = data
    z, y = logits[:, :1], labels % 2
    weights = row_weights(
        M,
        y,
        2,
        sample_weight=sample_weight,
        class_weight=dict(enumerate(class_weight[:2])),
    )
    found = nntune_loss(BinaryCrossEntropy(), z, y[:, None].astype(float), weights)
    w = torch.tensor(sample_weight)

    def cost(zt):
        two = torch.cat([torch.zeros_like(zt), zt], dim=1)
        each = F.cross_entropy(
            two,
            torch.tensor(y),
            weight=torch.tensor(class_weight[:2]),
            reduction="none",
        )
        return (w * each).sum() / (w * torch.tensor(class_weight[:2])[y]).sum()

    expected = torch_loss(cost, z)
    np.testing.assert_allclose(found[0], expected[0], rtol=RTOL)
    np.testing.assert_allclose(found[1], expected[1], rtol=RTOL, atol=ATOL)
    # BCEWithLogitsLoss(weight=w) divides by the rows instead: sum(w)/m apart.
    bce = F.binary_cross_entropy_with_logits(
        torch.tensor(z),
        torch.tensor(y[:, None], dtype=torch.float64),
        weight=torch.tensor(weights[:, None]),
    )
    np.testing.assert_allclose(float(bce), found[0] * weights.sum() / M, rtol=RTOL)


def test_mean_squared_error_weights_average_the_rows(data):
    logits, _, _, sample_weight = data
    targets = np.random.default_rng(1).normal(size=(M, K))
    found = nntune_loss(MeanSquaredError(), logits, targets, sample_weight)
    w = torch.tensor(sample_weight)

    def cost(z):
        rows = ((z - torch.tensor(targets)) ** 2).mean(dim=1)
        return (w * rows).sum() / w.sum()

    expected = torch_loss(cost, logits)
    np.testing.assert_allclose(found[0], expected[0], rtol=RTOL)
    np.testing.assert_allclose(found[1], expected[1], rtol=RTOL, atol=ATOL)


def test_equal_weights_change_nothing_and_zero_weights_move_nothing(data):
    logits, labels, _, _ = data
    loss, targets = SoftmaxCrossEntropy(), np.eye(K)[labels]
    plain = loss.value_and_grad(logits, targets)
    scaled = loss.value_and_grad(logits, with_weights(targets, np.full(M, 7.0)))
    np.testing.assert_allclose(scaled[0], plain[0], rtol=RTOL)
    np.testing.assert_allclose(scaled[1], plain[1], rtol=RTOL, atol=ATOL)
    cost, dz = loss.value_and_grad(logits, with_weights(targets, np.zeros(M)))
    assert float(cost) == 0.0
    assert not np.any(dz)


def test_a_stack_of_members_shares_the_weighted_targets(data):
    logits, labels, _, sample_weight = data
    targets = with_weights(np.eye(K)[labels], sample_weight)
    stack = np.stack([logits, 2 * logits])
    costs, grads = SoftmaxCrossEntropy().value_and_grad(stack, targets)
    for member in range(2):
        cost, dz = SoftmaxCrossEntropy().value_and_grad(stack[member], targets)
        np.testing.assert_allclose(costs[member], cost, rtol=RTOL)
        np.testing.assert_allclose(grads[member], dz, rtol=RTOL, atol=ATOL)
