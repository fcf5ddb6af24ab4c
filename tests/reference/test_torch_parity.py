"""Parity of nntune's layers, losses and a whole network with PyTorch autograd.

PyTorch is the oracle: for every layer the forward output and the gradients (``dx``
and the parameter gradients, for the same random upstream gradient ``dy``) must agree
with ``torch`` in float64. Conventions bridged here:

- examples are rows in both libraries; nntune's Dense ``W`` has shape
  ``(in_features, out_features)``, the transpose of ``torch.nn.Linear.weight``;
- nntune's ``BatchNorm(momentum=0.9)`` weighs the *old* running statistic, which is
  ``torch.nn.BatchNorm1d(momentum=0.1)``; both use the unbiased batch variance for the
  running variance and ``eps=1e-5``;
- nntune's ``Dropout(keep_prob)`` is torch's dropout with ``p = 1 - keep_prob``.

Under CI (``CI`` set to a non-empty value) a missing torch is an error, not a skip.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import pytest

import nntune
from helpers import require
from nntune import (
    BatchNorm,
    BinaryCrossEntropy,
    Dense,
    Dropout,
    Identity,
    LeakyReLU,
    MeanSquaredError,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
)
from nntune.backend.random import key as random_key

torch = require("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

RTOL = 1e-10
ATOL = 1e-12
DTYPE = np.float64
SEEDS = (0, 1, 2)


# --------------------------------------------------------------------------- helpers
def tensor(array, *, grad=False):
    """A float64 torch tensor copy of ``array`` (a leaf that records its gradient)."""
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=grad)


def as_numpy(value):
    """A NumPy array from a torch tensor, NumPy array or Python number."""
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(actual, expected, *, rtol=RTOL, atol=ATOL):
    """Assert nntune's ``actual`` equals torch's ``expected`` within float64 noise."""
    actual, expected = as_numpy(actual), as_numpy(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@contextmanager
def no_numeric_warnings():
    """Turn any warning and any NumPy overflow / invalid / divide into an error.

    Underflow to 0 (``exp(-800)``) is expected and allowed.
    """
    with (
        warnings.catch_warnings(),
        np.errstate(over="raise", invalid="raise", divide="raise"),
    ):
        warnings.simplefilter("error")
        yield


def torch_backward(output, dy):
    """Backpropagate the upstream gradient ``dy`` through a torch ``output``."""
    output.backward(tensor(dy))


def activation_input(rng):
    """Random pre-activations with exact zeros and a row of very large magnitudes."""
    x = rng.normal(scale=3.0, size=(9, 6))
    x[0, :3] = 0.0
    x[1] = [50.0, -50.0, 800.0, -800.0, 0.0, 1e-3]
    x[2] = [-50.0, 50.0, -800.0, 800.0, 1e-300, -1e-300]
    return x


# ---------------------------------------------------------------------------- Dense
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("seed", SEEDS)
def test_dense_matches_torch_linear(use_bias, seed):
    rng = np.random.default_rng(seed)
    m, n_in, n_out = 11, 5, 4
    layer = Dense(n_out, init="he", use_bias=use_bias)
    params, state, out = layer.build(rng, n_in, DTYPE)
    assert out == n_out
    assert params["W"].shape == (n_in, n_out)
    if use_bias:
        params["b"] = rng.normal(size=n_out)  # build starts biases at zero
    x = rng.normal(size=(m, n_in))
    dy = rng.normal(size=(m, n_out))

    y, cache, new_state = layer.forward(params, state, x, training=True)
    dx, grads = layer.backward(params, cache, dy)

    x_t = tensor(x, grad=True)
    weight_t = tensor(params["W"].T, grad=True)  # torch Linear weight: (out, in)
    bias_t = tensor(params["b"], grad=True) if use_bias else None
    y_t = F.linear(x_t, weight_t, bias_t)
    torch_backward(y_t, dy)

    assert new_state == state
    assert y.dtype == DTYPE
    assert_close(y, y_t)
    assert_close(dx, x_t.grad)
    assert sorted(grads) == sorted(params)
    assert_close(grads["W"], weight_t.grad.T)
    if use_bias:
        assert_close(grads["b"], bias_t.grad)


# ---------------------------------------------------------------------- activations
ACTIVATIONS = [
    pytest.param(ReLU(), F.relu, id="relu"),
    pytest.param(
        LeakyReLU(), lambda z: F.leaky_relu(z, negative_slope=0.01), id="leaky_0.01"
    ),
    pytest.param(
        LeakyReLU(negative_slope=0.2),
        lambda z: F.leaky_relu(z, negative_slope=0.2),
        id="leaky_0.2",
    ),
    pytest.param(Tanh(), torch.tanh, id="tanh"),
    pytest.param(Sigmoid(), torch.sigmoid, id="sigmoid"),
    pytest.param(Identity(), torch.nn.Identity(), id="identity"),
    pytest.param(Softmax(), lambda z: torch.softmax(z, dim=1), id="softmax"),
]


@pytest.mark.parametrize(("layer", "torch_fn"), ACTIVATIONS)
@pytest.mark.parametrize("seed", SEEDS)
def test_activation_matches_torch(layer, torch_fn, seed):
    rng = np.random.default_rng(seed)
    x = activation_input(rng)
    dy = rng.normal(size=x.shape)

    params, state, out = layer.build(rng, x.shape[1], DTYPE)
    assert (params, state, out) == ({}, {}, x.shape[1])
    with no_numeric_warnings():
        y, cache, _ = layer.forward(params, state, x, training=True)
        dx, grads = layer.backward(params, cache, dy)

    x_t = tensor(x, grad=True)
    y_t = torch_fn(x_t)
    torch_backward(y_t, dy)

    assert grads == {}
    assert y.dtype == DTYPE
    assert np.all(np.isfinite(y))
    assert np.all(np.isfinite(dx))
    assert_close(y, y_t)
    assert_close(dx, x_t.grad)


def test_sigmoid_saturates_without_overflow():
    z = np.array([[-800.0, -50.0, -1.0, 0.0, 1.0, 50.0, 800.0]])
    dy = np.ones_like(z)
    layer = Sigmoid()
    with no_numeric_warnings():
        y, cache, _ = layer.forward({}, {}, z, training=True)
        dx, _ = layer.backward({}, cache, dy)
        direct = nntune.sigmoid(z)

    z_t = tensor(z, grad=True)
    y_t = torch.sigmoid(z_t)
    torch_backward(y_t, dy)

    np.testing.assert_array_equal(y, direct)
    assert y[0, 0] == 0.0
    assert y[0, -1] == 1.0
    assert y[0, 3] == 0.5
    assert 0 < y[0, 1] < 1e-21  # sigmoid(-50) ~ 1.9e-22 is not rounded to 0
    assert_close(y, y_t, rtol=1e-14, atol=0)
    assert_close(dx, z_t.grad, rtol=1e-14, atol=0)


# ------------------------------------------------------------------------ BatchNorm
def torch_batch_norm(params, state):
    """A ``BatchNorm1d`` equal to nntune's ``BatchNorm()`` with the same values."""
    n = params["gamma"].shape[0]
    bn = torch.nn.BatchNorm1d(n, eps=1e-5, momentum=0.1, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(tensor(params["gamma"]))
        bn.bias.copy_(tensor(params["beta"]))
        bn.running_mean.copy_(tensor(state["running_mean"]))
        bn.running_var.copy_(tensor(state["running_var"]))
    return bn


def random_batch_norm(rng, n):
    """nntune BatchNorm params with random ``gamma``/``beta`` and its default state."""
    layer = BatchNorm(momentum=0.9, eps=1e-5)
    params, state, out = layer.build(rng, n, DTYPE)
    assert out == n
    params = {
        "gamma": rng.uniform(0.5, 2.0, size=n) * rng.choice([-1.0, 1.0], size=n),
        "beta": rng.normal(size=n),
    }
    return layer, params, state


def batch_norm_step(layer, bn, params, state, x, dy, *, training):
    """Run nntune and torch on one batch; check outputs and all gradients agree."""
    y, cache, new_state = layer.forward(params, state, x, training=training)
    dx, grads = layer.backward(params, cache, dy)

    bn.zero_grad()
    bn.train(training)
    x_t = tensor(x, grad=True)
    y_t = bn(x_t)
    torch_backward(y_t, dy)

    assert_close(y, y_t)
    assert_close(dx, x_t.grad)
    assert sorted(grads) == ["beta", "gamma"]
    assert_close(grads["gamma"], bn.weight.grad)
    assert_close(grads["beta"], bn.bias.grad)
    return new_state


def assert_running_stats_match(state, bn):
    assert_close(state["running_mean"], bn.running_mean)
    assert_close(state["running_var"], bn.running_var)


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_training_forward_backward(seed):
    rng = np.random.default_rng(seed)
    m, n = 16, 5
    layer, params, state = random_batch_norm(rng, n)
    bn = torch_batch_norm(params, state)
    x = rng.normal(loc=3.0, scale=2.0, size=(m, n))
    dy = rng.normal(size=(m, n))

    new_state = batch_norm_step(layer, bn, params, state, x, dy, training=True)

    assert_running_stats_match(new_state, bn)
    # the layer is pure: the state passed in is not updated in place
    np.testing.assert_array_equal(state["running_mean"], np.zeros(n))
    np.testing.assert_array_equal(state["running_var"], np.ones(n))


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_running_statistics_then_inference(seed):
    rng = np.random.default_rng(seed)
    n = 4
    layer, params, state = random_batch_norm(rng, n)
    bn = torch_batch_norm(params, state)

    batch_sizes = (8, 2, 13, 5, 32, 3, 7)  # includes m = 2, where m/(m-1) = 2
    for step, m in enumerate(batch_sizes):
        loc = rng.normal(scale=3.0, size=n)
        scale = rng.uniform(0.2, 4.0, size=n)
        x = rng.normal(loc=loc, scale=scale, size=(m, n))
        dy = rng.normal(size=(m, n))
        state = batch_norm_step(layer, bn, params, state, x, dy, training=True)
        assert int(bn.num_batches_tracked) == step + 1
        assert_running_stats_match(state, bn)

    x = rng.normal(loc=1.0, scale=3.0, size=(10, n))
    dy = rng.normal(size=(10, n))
    frozen = batch_norm_step(layer, bn, params, state, x, dy, training=False)
    for key in ("running_mean", "running_var"):  # inference leaves the state alone
        np.testing.assert_array_equal(frozen[key], state[key])
    assert_running_stats_match(frozen, bn)


# -------------------------------------------------------------------------- Dropout
def torch_dropout_mask(shape, keep_prob, seed):
    """Torch's dropout scale: ``F.dropout`` applied to ones (0 or ``1/(1 - p)``).

    The torch generator is forked so the global torch RNG is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ones = torch.ones(shape, dtype=torch.float64)
        return F.dropout(ones, p=1.0 - keep_prob, training=True)


@pytest.mark.parametrize("keep_prob", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_training_scaling_matches_torch(keep_prob, seed):
    rng = np.random.default_rng(seed)
    shape = (200, 50)
    x = rng.normal(size=shape)
    dy = rng.normal(size=shape)
    layer = Dropout(keep_prob=keep_prob)

    y, scale, _ = layer.forward({}, {}, x, training=True, key=random_key(seed))
    dx, grads = layer.backward({}, scale, dy)

    # nntune: the cache is the scale keep / keep_prob; y = x * d / keep_prob
    kept = scale != 0
    assert scale.dtype == DTYPE
    np.testing.assert_array_equal(scale[kept], 1.0 / keep_prob)
    assert_close(y, x * kept / keep_prob, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(y[~kept], 0.0)
    assert_close(dx, dy * scale, rtol=1e-15, atol=0)
    assert grads == {}
    # units are *kept* with probability keep_prob (within 5 standard deviations)
    sd = np.sqrt(keep_prob * (1 - keep_prob) / kept.size)
    assert abs(kept.mean() - keep_prob) < 5 * sd

    # torch: inverted dropout with p = 1 - keep_prob scales kept units by 1/(1 - p)
    torch_mask = as_numpy(torch_dropout_mask(shape, keep_prob, seed))
    torch_scales = np.unique(torch_mask[torch_mask != 0])
    assert torch_scales.size == 1
    assert_close(np.unique(scale[kept]), torch_scales, rtol=1e-15, atol=0)

    # with torch's mask as nntune's cache, nntune's backward is torch's autograd
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x_t = tensor(x, grad=True)
        y_t = F.dropout(x_t, p=1.0 - keep_prob, training=True)
    torch_backward(y_t, dy)
    assert_close(y_t, x * torch_mask, rtol=1e-15, atol=0)
    dx_with_torch_mask, _ = layer.backward({}, torch_mask, dy)
    assert_close(dx_with_torch_mask, x_t.grad, rtol=1e-15, atol=0)


@pytest.mark.parametrize("keep_prob", [0.5, 0.8, 1.0])
def test_dropout_inference_is_identity(keep_prob):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 4))
    dy = rng.normal(size=(6, 4))
    layer = Dropout(keep_prob=keep_prob)

    y, cache, _ = layer.forward({}, {}, x, training=False)
    dx, _ = layer.backward({}, cache, dy)

    x_t = tensor(x, grad=True)
    y_t = F.dropout(x_t, p=1.0 - keep_prob, training=False)
    torch_backward(y_t, dy)

    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(dx, dy)
    assert_close(y, y_t, rtol=0, atol=0)
    assert_close(dx, x_t.grad, rtol=0, atol=0)
    if keep_prob == 1.0:  # keep_prob=1 is the identity in training too
        y_train, _, _ = layer.forward({}, {}, x, training=True, key=random_key(7))
        np.testing.assert_array_equal(y_train, x)


# --------------------------------------------------------------------------- losses
def loss_parity(loss, logits, targets, torch_loss):
    """Compare nntune's ``(cost, dJ/dlogits)`` with torch autograd of ``torch_loss``."""
    with no_numeric_warnings():
        cost, dlogits = loss.value_and_grad(logits, targets)
    logits_t = tensor(logits, grad=True)
    cost_t = torch_loss(logits_t)
    cost_t.backward()
    assert np.ndim(cost) == 0
    assert_close(cost, cost_t)
    assert_close(dlogits, logits_t.grad)


def classification_logits(rng, m, k):
    """Random logits with rows of very large magnitude (saturated predictions)."""
    logits = rng.normal(scale=3.0, size=(m, k))
    logits[0] = 100.0
    logits[1] = -100.0
    logits[2, 0] = 100.0 * (-1) ** k
    return logits


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_cross_entropy_matches_torch(seed):
    rng = np.random.default_rng(seed)
    m = 12
    logits = classification_logits(rng, m, 1)
    labels = rng.integers(0, 2, size=m)
    labels[:2] = [0, 1]  # logit +100 with label 0, -100 with label 1: cost ~ 100
    loss = BinaryCrossEntropy()
    targets = loss.prepare_targets(labels, 1, DTYPE)
    assert targets.shape == (m, 1)

    loss_parity(
        loss,
        logits,
        targets,
        lambda z: F.binary_cross_entropy_with_logits(
            z, tensor(targets), reduction="mean"
        ),
    )


@pytest.mark.parametrize("one_hot", [False, True], ids=["labels", "one_hot"])
@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy_matches_torch(one_hot, seed):
    rng = np.random.default_rng(seed)
    m, k = 10, 4
    logits = classification_logits(rng, m, k)
    labels = rng.integers(0, k, size=m)
    loss = SoftmaxCrossEntropy()
    y = np.eye(k)[labels] if one_hot else labels
    targets = loss.prepare_targets(y, k, DTYPE)
    assert targets.shape == (m, k)

    # one-hot rows are class probabilities for torch; otherwise integer class indices
    target_t = tensor(targets) if one_hot else torch.tensor(labels)
    loss_parity(
        loss,
        logits,
        targets,
        lambda z: F.cross_entropy(z, target_t, reduction="mean"),
    )


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_mean_squared_error_matches_torch(outputs, seed):
    rng = np.random.default_rng(seed)
    m = 9
    logits = rng.normal(scale=2.0, size=(m, outputs))
    y = rng.normal(size=m) if outputs == 1 else rng.normal(size=(m, outputs))
    loss = MeanSquaredError()
    targets = loss.prepare_targets(y, outputs, DTYPE)
    assert targets.shape == (m, outputs)

    loss_parity(
        loss,
        logits,
        targets,
        lambda z: F.mse_loss(z, tensor(targets), reduction="mean"),
    )


# ------------------------------------------------------------------ whole network
LAYER_NAMES = [
    "dense_0",
    "batch_norm_1",
    "tanh_2",
    "dense_3",
    "batch_norm_4",
    "tanh_5",
    "dense_6",
]


def torch_network(params, state):
    """The torch twin of ``mlp([7, 5], multiclass, batch_norm, tanh)`` for 4 inputs."""
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 7, bias=False),
        torch.nn.BatchNorm1d(7, eps=1e-5, momentum=0.1),
        torch.nn.Tanh(),
        torch.nn.Linear(7, 5, bias=False),
        torch.nn.BatchNorm1d(5, eps=1e-5, momentum=0.1),
        torch.nn.Tanh(),
        torch.nn.Linear(5, 3),
    ).to(torch.float64)
    with torch.no_grad():
        for name, module in zip(LAYER_NAMES, net, strict=True):
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(tensor(params[name]["W"].T))
                if module.bias is not None:
                    module.bias.copy_(tensor(params[name]["b"]))
            elif isinstance(module, torch.nn.BatchNorm1d):
                module.weight.copy_(tensor(params[name]["gamma"]))
                module.bias.copy_(tensor(params[name]["beta"]))
                module.running_mean.copy_(tensor(state[name]["running_mean"]))
                module.running_var.copy_(tensor(state[name]["running_var"]))
    return dict(zip(LAYER_NAMES, net, strict=True)), net


def randomized(rng, params, state):
    """Copies of the trees with random BN gamma/beta, output bias and running stats."""
    params = {name: dict(tree) for name, tree in params.items()}
    state = {name: dict(tree) for name, tree in state.items()}
    for name in ("batch_norm_1", "batch_norm_4"):
        n = params[name]["gamma"].shape[0]
        params[name] = {
            "gamma": rng.uniform(0.5, 2.0, size=n),
            "beta": rng.normal(size=n),
        }
        state[name] = {
            "running_mean": rng.normal(size=n),
            "running_var": rng.uniform(0.5, 2.0, size=n),
        }
    params["dense_6"]["b"] = rng.normal(size=3)
    return params, state


@pytest.mark.parametrize("seed", SEEDS)
def test_network_cost_and_gradients_match_torch(seed):
    rng = np.random.default_rng(seed)
    m, l2 = 24, 0.3
    model = nntune.mlp(
        [7, 5],
        task="multiclass",
        outputs=3,
        batch_norm=True,
        activation="tanh",
        l2=l2,
    ).init(in_features=4, seed=seed, dtype="float64")
    assert list(model.names) == LAYER_NAMES
    params, state = randomized(rng, model.params, model.state)
    x = rng.normal(loc=0.5, scale=2.0, size=(m, 4))
    labels = rng.integers(0, 3, size=m)
    x, targets = model.prepare(x, labels)

    cost, grads, new_state = model.value_and_grad(params, state, x, targets)

    modules, net = torch_network(params, state)
    net.train()
    logits_t = net(tensor(x))
    penalty = sum(
        (module.weight**2).sum()
        for module in net
        if isinstance(module, torch.nn.Linear)
    )
    labels_t = torch.tensor(labels, dtype=torch.int64)
    cost_t = F.cross_entropy(logits_t, labels_t) + l2 / (2 * m) * penalty
    cost_t.backward()

    assert_close(cost, cost_t)
    assert sorted(grads) == sorted(params)
    for name, tree in grads.items():
        assert sorted(tree) == sorted(params[name]), name
        module = modules[name]
        if isinstance(module, torch.nn.Linear):
            assert_close(tree["W"], module.weight.grad.T)
            if "b" in tree:
                assert_close(tree["b"], module.bias.grad)
        else:
            assert_close(tree["gamma"], module.weight.grad)
            assert_close(tree["beta"], module.bias.grad)

    assert sorted(new_state) == ["batch_norm_1", "batch_norm_4"]
    for name, tree in new_state.items():
        assert_running_stats_match(tree, modules[name])

    # inference with the updated running statistics
    net.eval()
    x_new = rng.normal(size=(5, 4))
    logits, _, _ = model.apply(params, new_state, x_new, training=False)
    with torch.no_grad():
        assert_close(logits, net(tensor(x_new)))
