"""A legacy RandomState draws as the course's labs do: weights, shuffles, dropout masks.

The reference is the labs' own NumPy code, written here as the notebooks write it
(examples as columns, ``W`` of shape ``(units, inputs)``), drawing from a
``RandomState(seed)`` where the labs call ``np.random.seed(seed)`` and draw from
``np.random`` (the same numbers); nntune must train to the same weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import nntune
from nntune.backend.random import LegacyKey, key
from nntune.training.fit import _plan
from nntune.training.trainer import Trainer

MOONS = nntune.load_dataset("moons", n_samples=150, noise=0.2, seed=3)


class Reseed(nntune.Callback):
    """The labs' ``np.random.seed(seed)`` before each epoch's draws."""

    def __init__(self, generator, first, step=1):
        self.generator, self.first, self.step = generator, first, step

    def on_epoch_begin(self, trainer, epoch):
        self.generator.seed(self.first + self.step * epoch)


def course_init(dims, seed=3):
    draw = np.random.RandomState(seed)
    params = {}
    for layer in range(1, len(dims)):
        n_in = dims[layer - 1]
        params[f"W{layer}"] = draw.randn(dims[layer], n_in) * np.sqrt(2 / n_in)
        params[f"b{layer}"] = np.zeros((dims[layer], 1))
    return params


def course_step(X, Y, params, keep_prob=1.0, draw=None):
    """forward_propagation(_with_dropout) and backward_propagation(_with_dropout)."""
    m, cache, A = X.shape[1], [], X
    for layer in (1, 2):
        Z = params[f"W{layer}"] @ A + params[f"b{layer}"]
        A = np.maximum(Z, 0)
        D = draw.rand(*A.shape) < keep_prob if keep_prob < 1 else None
        if D is not None:
            A = A * D / keep_prob
        cache.append((A, D))
    A3 = 1 / (1 + np.exp(-(params["W3"] @ A + params["b3"])))
    inputs = [X, cache[0][0], cache[1][0]]
    grads, dZ = {}, A3 - Y
    for layer in (3, 2, 1):
        grads[f"W{layer}"] = dZ @ inputs[layer - 1].T / m
        grads[f"b{layer}"] = np.sum(dZ, axis=1, keepdims=True) / m
        if layer > 1:
            A, D = cache[layer - 2]
            dA = params[f"W{layer}"].T @ dZ
            if D is not None:
                dA = dA * D / keep_prob
            dZ = dA * (A > 0)
    return grads


def course_minibatches(X, Y, size, seed):
    """The optimization lab's random_mini_batches."""
    order = list(np.random.RandomState(seed).permutation(X.shape[1]))
    X, Y = X[:, order], Y[:, order]
    starts = range(0, X.shape[1], size)
    return [(X[:, k : k + size], Y[:, k : k + size]) for k in starts]


def as_course(model):
    names = [name for name in model.names if name.startswith("dense")]
    return {
        f"{kind}{index}": model.params[name][kind].T.reshape(-1, 1)
        if kind == "b"
        else model.params[name][kind].T
        for index, name in enumerate(names, 1)
        for kind in ("W", "b")
    }


def test_weights_are_the_labs_randn_in_the_labs_layout():
    # The initialization lab's initialize_parameters_he([2, 4, 1]), as it printed it.
    model = nntune.mlp([4], init="he").init(2, seed=np.random.RandomState(3))
    np.testing.assert_allclose(
        model.params["dense_0"]["W"].T,
        [
            [1.78862847, 0.43650985],
            [0.09649747, -1.8634927],
            [-0.2773882, -0.35475898],
            [-0.08274148, -0.62700068],
        ],
        atol=5e-9,
    )
    np.testing.assert_allclose(
        model.params["dense_2"]["W"].T,
        [[-0.03098412, -0.33744411, -0.92904268, 0.62552248]],
        atol=5e-9,
    )
    deeper = nntune.mlp([5, 2]).init(2, seed=np.random.RandomState(3), dtype="float64")
    expected = course_init([2, 5, 2, 1])
    for name, array in as_course(deeper).items():
        np.testing.assert_array_equal(array, expected[name])  # bit for bit
    # An integer seed draws as before, in nntune's own layout.
    default = nntune.mlp([5, 2]).init(2, seed=3, dtype="float64")
    drawn = np.random.default_rng(3).standard_normal((2, 5)) * math.sqrt(2 / 2)
    np.testing.assert_array_equal(default.params["dense_0"]["W"], drawn)


def test_keras_kinds_draw_in_the_labs_layout_too():
    draw = np.random.RandomState(0)
    weights = nntune.Initializer("he_uniform")(draw, 3, 2, "float64")
    limit = math.sqrt(3.0) * math.sqrt(2 / 3)
    expected = np.random.RandomState(0).uniform(-limit, limit, (2, 3)).T
    np.testing.assert_array_equal(weights, expected)


@pytest.mark.parametrize(
    "optimizer",
    [nntune.gd(0.05), nntune.momentum(0.05, 0.9), nntune.adam(0.01)],
    ids=["gd", "momentum", "adam"],
)
def test_shuffles_are_the_optimization_labs_random_mini_batches(optimizer):
    generator = np.random.RandomState(3)
    model = nntune.mlp([5, 2]).init(2, seed=generator, dtype="float64")
    nntune.fit(
        model,
        MOONS.X,
        MOONS.y,
        optimizer=optimizer,
        epochs=6,
        batch_size=64,
        seed=generator,
        callbacks=[Reseed(generator, 11)],  # the lab's seed = 10, then seed + 1
        progress="silent",
    )
    # The same steps in the lab's code, with nntune's optimizer on the lab's arrays.
    params = course_init([2, 5, 2, 1])
    state = optimizer.init({"lab": params})  # an optimizer takes a tree of layers
    X, Y = MOONS.X.T, MOONS.y.reshape(1, -1)
    for epoch in range(6):
        for batch_X, batch_Y in course_minibatches(X, Y, 64, 11 + epoch):
            grads = course_step(batch_X, batch_Y, params)
            updates, state = optimizer.update({"lab": grads}, state, {"lab": params})
            params = {name: params[name] + updates["lab"][name] for name in params}
    for name, array in as_course(model).items():
        np.testing.assert_allclose(array, params[name], rtol=0, atol=1e-12)


def test_masks_are_the_regularization_labs_dropout():
    # forward_propagation_with_dropout_test_case with keep_prob 0.7, as the lab
    # printed it; the lab seeds np.random.seed(1) at the start of the pass.
    draw = np.random.RandomState(1)
    X = draw.randn(3, 5)
    shapes = [(2, 3), (2, 1), (3, 2), (3, 1), (1, 3), (1, 1)]
    W1, b1, W2, b2, W3, b3 = (draw.randn(*shape) for shape in shapes)
    model = nntune.mlp([2, 3], keep_prob=0.7).init(3, dtype="float64")
    model.params = {
        "dense_0": {"W": W1.T, "b": b1[:, 0]},
        "dense_3": {"W": W2.T, "b": b2[:, 0]},
        "dense_6": {"W": W3.T, "b": b3[:, 0]},
    }
    logits = model.apply(
        model.params, {}, X.T, training=True, key=key(np.random.RandomState(1))
    )[0]
    A3 = 1 / (1 + np.exp(-logits[:, 0]))
    expected = [0.36974721, 0.00305176, 0.04565099, 0.49683389, 0.36974721]
    np.testing.assert_allclose(A3, expected, atol=5e-9)


def test_fit_draws_each_steps_masks_in_the_labs_order():
    # The regularization lab's loop: np.random.seed(1) in every forward pass, so
    # every iteration (one epoch of batch gradient descent) draws the same masks.
    generator = np.random.RandomState(3)
    model = nntune.mlp([20, 3], keep_prob=0.86).init(2, seed=generator, dtype="float64")
    nntune.fit(
        model,
        MOONS.X,
        MOONS.y,
        optimizer=nntune.gd(0.3),
        epochs=5,
        batch_size=len(MOONS.X),
        seed=generator,
        callbacks=[Reseed(generator, 1, step=0)],
        progress="silent",
    )
    params = course_init([2, 20, 3, 1])
    X, Y = MOONS.X.T, MOONS.y.reshape(1, -1)
    for _ in range(5):
        draw = np.random.RandomState(1)  # the lab's np.random.seed(1)
        grads = course_step(X, Y, params, 0.86, draw)
        params = {name: params[name] - 0.3 * grads[name] for name in params}
    for name, array in as_course(model).items():
        np.testing.assert_allclose(array, params[name], rtol=0, atol=1e-12)


def test_a_replayed_epoch_draws_its_masks_again():
    # After a non-finite cost, fit replays the epoch to the last finite step: the
    # plan rewinds the generator to where the epoch's masks start.
    generator = np.random.RandomState(0)
    model = nntune.mlp([4], keep_prob=0.5).init(2)
    trainer = Trainer(model, nntune.gd(0.1), None, 1, 4, generator, [])
    plan = _plan(trainer, 10, 0)
    first, batches = plan()
    masks = LegacyKey(first).bernoulli(0.5, (4, 3))
    again, same_batches = plan()
    assert again is generator
    assert same_batches is batches
    np.testing.assert_array_equal(LegacyKey(again).bernoulli(0.5, (4, 3)), masks)
    order = np.random.RandomState(0).permutation(10)
    np.testing.assert_array_equal(np.concatenate(batches), order)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "jax"}, "does not work with the JAX backend"),
        ({"augment": lambda x, rng: x}, "does not work with augment"),
        (
            {"callbacks": [nntune.training.Checkpoint("ckpt", every=1)]},
            "does not work with a Checkpoint",
        ),
    ],
)
def test_what_a_legacy_seed_cannot_do_is_refused(options, message):
    model = nntune.mlp([3]).init(2, seed=np.random.RandomState(0))
    with pytest.raises(ValueError, match=f"numpy.random.RandomState.*{message}"):
        nntune.fit(model, MOONS.X, MOONS.y, seed=np.random.RandomState(0), **options)


def test_a_legacy_key_draws_for_one_model():
    with pytest.raises(ValueError, match=r"for one model, shape .* got shape"):
        LegacyKey(np.random.RandomState(0)).bernoulli(0.5, (3, 4, 2))
