"""The optimizers' in-place twins and the NumPy runner's planned train pass.

Both are speed-ups of code that stays the reference: every twin must give its pure
``update``'s numbers bit for bit (so must :class:`PlannedModel` give
``Sequential.train_pass``'s), whatever the dtype, the number of pieces or the
schedule.
"""

import numpy as np
import pytest

import nntune
from nntune import optim
from nntune.optim import inplace
from nntune.optim.transforms import PACKABLE
from nntune.training.packed import PACKED, InPlaceUpdate, Packing
from nntune.training.plan import PlannedModel

DATA = nntune.load_dataset("moons", n_samples=96, seed=2)

OPTIMIZERS = {
    "gd": lambda: optim.gd(0.1),
    "momentum": lambda: optim.momentum(0.05, beta=0.8),
    "nesterov": lambda: optim.momentum(0.05, beta=0.8, nesterov=True),
    "rmsprop": lambda: optim.rmsprop(0.01, beta2=0.9),
    "adam": lambda: optim.adam(0.01, beta1=0.8, beta2=0.95),
    "adam decayed": lambda: optim.adam(optim.inverse_time_decay(0.01, 0.5)),
    "adamw": lambda: optim.adamw(0.01, weight_decay=0.1),
    "adam clipped": lambda: optim.adam(0.01, clip_norm=0.05),
    "warm-up cosine": lambda: optim.adam(optim.warmup_cosine(0.01, 3, 10)),
}


def packed_state(params, optimizer):
    packing = Packing(params)
    tree = packing.pack(params)
    return packing, tree, optimizer.init(tree)


def copy_tree(tree):
    if isinstance(tree, dict):
        return {key: copy_tree(value) for key, value in tree.items()}
    if isinstance(tree, tuple):
        values = [copy_tree(value) for value in tree]
        return type(tree)(*values) if hasattr(tree, "_fields") else tuple(values)
    return np.array(tree, copy=True) if isinstance(tree, np.ndarray) else tree


def leaves(tree):
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in leaves(value)]
    if isinstance(tree, tuple):
        return [leaf for value in tree for leaf in leaves(value)]
    return [np.asarray(tree)]


def assert_identical(a, b):
    found, expected = leaves(a), leaves(b)
    assert len(found) == len(expected)
    for x, y in zip(found, expected, strict=True):
        assert x.dtype == y.dtype
        assert x.shape == y.shape
        assert np.array_equal(x, y), np.abs(x.astype(float) - y).max()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunk", [7, inplace.CHUNK])
def test_every_twin_equals_its_pure_update_bit_for_bit(name, dtype, chunk, monkeypatch):
    """Twelve steps on random gradients: parameters and the whole state equal."""
    monkeypatch.setattr(inplace, "CHUNK", chunk)  # 7: many pieces, a short last one
    optimizer = OPTIMIZERS[name]()
    twin = inplace.twin_of(optimizer.update)
    assert twin is not None, f"{name} has no in-place twin"
    rng = np.random.default_rng(0)
    params = {
        "dense_0": {"W": rng.standard_normal((3, 5)), "b": rng.standard_normal(5)},
        "dense_1": {"W": rng.standard_normal((5, 2))},
    }
    params = {k: {n: a.astype(dtype) for n, a in v.items()} for k, v in params.items()}
    packing, pure_params, pure_state = packed_state(params, optimizer)
    fast_params, fast_state = copy_tree(pure_params), copy_tree(pure_state)
    update = InPlaceUpdate(packing, twin)
    assert len(update.pieces) == -(-packing.size // chunk)
    for step in range(12):
        grads = {PACKED: {"all": rng.standard_normal(packing.size).astype(dtype)}}
        pure_state = optim.set_epoch(pure_state, step // 4)
        fast_state = optim.set_epoch(fast_state, step // 4)
        updates, pure_state = optimizer.update(grads, pure_state, pure_params)
        pure_params = optim.apply_updates(pure_params, updates)
        fast_params, fast_state = update(copy_tree(grads), fast_state, fast_params)
        assert_identical(fast_params, pure_params)
        assert_identical(fast_state, pure_state)


def test_a_twin_updates_the_given_arrays_in_place():
    optimizer = optim.adam(0.1)
    packing, params, state = packed_state({"d": {"W": np.ones((2, 2))}}, optimizer)
    moment = state[0].first_moment[PACKED]["all"]
    weights = params[PACKED]["all"]
    update = InPlaceUpdate(packing, inplace.twin_of(optimizer.update))
    new_params, new_state = update({PACKED: {"all": np.ones(4)}}, state, params)
    assert new_params[PACKED]["all"] is weights
    assert weights[0] == pytest.approx(0.9)
    assert new_state[0].first_moment[PACKED]["all"] is moment
    assert moment[0] == pytest.approx(0.1)
    assert int(new_state[0].step) == 1


def test_transformations_without_a_twin_have_none():
    """A custom transformation, hyperparameters as arrays, or a clip after Adam."""
    custom = optim.GradientTransformation(lambda p: (), lambda u, s, p=None: (u, s))
    assert inplace.twin_of(custom.update) is None
    assert inplace.twin_of(optim.chain(custom, optim.scale_by_adam()).update) is None
    assert inplace.twin_of(optim.scale_by_adam(np.asarray(0.9)).update) is None
    late_clip = optim.chain(optim.scale_by_adam(), optim.clip_by_global_norm(1.0))
    assert inplace.twin_of(late_clip.update) is None
    assert inplace.twin_of(optim.adam(0.1, clip_norm=1.0).update) is not None


def test_fit_with_a_custom_transformation_still_trains_the_pure_way():
    custom = optim.chain(
        optim.GradientTransformation(lambda p: (), lambda u, s, p=None: (u, s)),
        optim.scale_by_learning_rate(0.1),
    )
    PACKABLE.add(custom.update)  # elementwise: packed, but no twin
    assert inplace.twin_of(custom.update) is None
    model = nntune.mlp([4]).init(2, seed=0, dtype="float64")
    reference = nntune.mlp([4]).init(2, seed=0, dtype="float64")
    nntune.fit(model, DATA.X, DATA.y, optimizer=custom, epochs=2, progress="silent")
    nntune.fit(
        reference, DATA.X, DATA.y, optimizer=optim.gd(0.1), epochs=2, progress="silent"
    )
    assert_identical(model.params, reference.params)


# ------------------------------------------------------------- the planned pass
def every_layer_model(dtype="float64"):
    return nntune.Sequential(
        [
            nntune.Standardize(),
            nntune.Dense(7, l2=0.05),
            nntune.BatchNorm(),
            nntune.ReLU(),
            nntune.Dropout(0.7),
            nntune.Dense(6, init="xavier", l1=0.01),
            nntune.Tanh(),
            nntune.Dense(5, use_bias=False),
            nntune.LeakyReLU(0.1),
            nntune.Dense(4),
            nntune.Sigmoid(),
            nntune.Dense(3),
            nntune.Softmax(),
            nntune.Identity(),
            nntune.Dense(1),
        ],
        loss="binary_cross_entropy",
        l2=0.2,
    ).init(2, seed=1, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("live", [False, True])
def test_the_planned_pass_equals_the_model_train_pass_bit_for_bit(dtype, live):
    """Every kind of layer, both penalties; with a live L2 and keep_prob too."""
    model = every_layer_model(dtype).adapt(DATA.X)
    hyperparams = {}
    if live:  # as TrainState.with_hyperparams keeps them: in the model's dtype
        hyperparams = {
            "l2": np.asarray(0.3, dtype),
            "keep_prob": np.asarray(0.6, dtype),
        }
    packing = Packing(model.params)
    planned = PlannedModel(model, packing)
    x, targets = model.prepare(DATA.X, DATA.y)
    key = nntune.random_key(5)
    params = packing.pack(model.params)
    for rows in (slice(0, 32), slice(32, 96), slice(0, 32)):
        expected = model.train_pass(
            model.params,
            model.state,
            x[rows],
            targets[rows],
            key=key,
            hyperparams=hyperparams,
        )
        found = planned.train_pass(
            params,
            model.state,
            x[rows],
            targets[rows],
            key=key,
            hyperparams=hyperparams,
        )
        assert_identical(found.cost, expected.cost)
        assert_identical(found.loss, expected.loss)
        assert_identical(found.logits, expected.logits)
        assert_identical(found.state, expected.state)
        assert_identical(found.grads, packing.pack(expected.grads))


def test_the_planned_pass_follows_a_new_packed_array():
    """The views are rebound when the parameters are another array (each epoch)."""
    model = nntune.mlp([3]).init(2, seed=0, dtype="float64")
    packing = Packing(model.params)
    planned = PlannedModel(model, packing)
    x, targets = model.prepare(DATA.X, DATA.y)
    first = planned.train_pass(packing.pack(model.params), {}, x, targets)
    cost = float(first.cost)
    doubled = {k: {n: 2 * a for n, a in v.items()} for k, v in model.params.items()}
    second = planned.train_pass(packing.pack(doubled), {}, x, targets)
    assert float(second.cost) != cost
    assert float(second.cost) == float(model.train_pass(doubled, {}, x, targets).cost)


def test_fit_on_numpy_uses_the_plan_and_the_twin(monkeypatch):
    """The NumPy runner trains with both (and the pure step's numbers, test_engine)."""
    used = []
    real_pass, real_update = PlannedModel.train_pass, InPlaceUpdate.__call__

    def spied_pass(self, *args, **kwargs):
        used.append("plan")
        return real_pass(self, *args, **kwargs)

    def spied_update(self, *args):
        used.append("twin")
        return real_update(self, *args)

    monkeypatch.setattr(PlannedModel, "train_pass", spied_pass)
    monkeypatch.setattr(InPlaceUpdate, "__call__", spied_update)
    model = nntune.mlp([4]).init(2, seed=0)
    nntune.fit(model, DATA.X, DATA.y, epochs=1, batch_size=32, progress="silent")
    assert used == ["plan", "twin"] * 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_twin_bias_corrections_equal_the_pure_ones_for_every_count(dtype):
    """Python floats and the pure update's 0-d arrays: the same bits, t = 1..20000."""
    from nntune.optim.ewa import bias_correction_denominator, correction_for

    like = np.zeros(1, dtype=dtype)
    counts = np.arange(1, 20001, dtype=np.int32)
    for beta in (0.9, 0.999, 0.95, 0.5):
        pure = [
            correction_for(like, bias_correction_denominator(beta, np.asarray(t)))
            for t in counts
        ]
        twin = [dtype(1 - beta ** int(t)) for t in counts]
        assert np.array_equal(np.array(pure, dtype=dtype), np.array(twin, dtype=dtype))
