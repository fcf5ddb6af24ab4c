"""A population's packed NumPy training: the optimizers' twins on one row per member
and the feature-major planned pass, against the pure stacked code they replace."""

import numpy as np
import pytest

import nntune
from nntune import optim
from nntune.optim import inplace
from nntune.population import fit_population
from nntune.population.plan import (
    PlannedPopulation,
    _BatchMajorOp,
    _DenseOp,
    _ReLUOp,
)
from nntune.training.packed import LINE, PACKED, InPlaceUpdate, Packing
from nntune.training.plan import PlannedModel
from nntune.trees import stack
from test_inplace_optimizers import (
    OPTIMIZERS,
    assert_identical,
    copy_tree,
    every_layer_model,
)

DATA = nntune.load_dataset("moons", n_samples=96, seed=2)
K = 5


def stacked_params(dtype, count=K):
    rng = np.random.default_rng(0)
    return {
        "dense_0": {
            "W": rng.standard_normal((count, 3, 5)).astype(dtype),
            "b": rng.standard_normal((count, 5)).astype(dtype),
        },
        "dense_1": {"W": rng.standard_normal((count, 5, 2)).astype(dtype)},
    }


# ------------------------------------------------------------------ the packing
def test_a_population_packs_one_row_per_member_and_unpacks_to_views():
    params = stacked_params("float64")
    packing = Packing(params, members=K)
    packed = packing.pack(params)[PACKED]["all"]
    assert packed.shape == (K, 3 * 5 + 5 + 5 * 2)
    # Row k is member k's arrays end to end, in the slots' order.
    assert np.array_equal(packed[2, :15], params["dense_0"]["W"][2].ravel())
    assert np.array_equal(packed[2, 15:20], params["dense_0"]["b"][2])
    views = packing.unpack({PACKED: {"all": packed}})
    assert_identical(views, params)
    views["dense_1"]["W"][3, 4, 1] = 7.0  # a view: writes land in the member's row
    assert packed[3, -1] == 7.0
    assert packing.matches(params)
    assert not packing.matches(
        {k: {n: a[0] for n, a in v.items()} for k, v in params.items()}
    )


def test_packing_applies_to_a_population_only_when_told_its_size():
    model = nntune.mlp([3]).init(2, seed=0)
    one = nntune.TrainState.create(model, optim.adam(0.1))
    population = stack([one, one, one])
    assert Packing.applies(one)
    assert not Packing.applies(population)
    assert Packing.applies(population, members=3)
    assert not Packing.applies(population, members=4)
    assert not Packing.applies(one, members=3)


# --------------------------------------------------- the twins, a row per member
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunk", [2 * K, inplace.CHUNK])
def test_every_twin_updates_a_population_as_its_pure_update_bit_for_bit(
    name, dtype, chunk, monkeypatch
):
    """Per-member learning rates and step counts (the population's arrays)."""
    monkeypatch.setattr(inplace, "CHUNK", chunk)  # 2K: pieces of LINE columns
    optimizer = OPTIMIZERS[name]()
    twin = inplace.twin_of(optimizer.update)
    params = stacked_params(dtype)
    packing = Packing(params, members=K)
    pure_params = packing.pack(params)
    rates = np.linspace(0.001, 0.1, K)
    # Each member's own state (counters 0-d), stacked: as a population holds them.
    one = {k: {n: a[0] for n, a in v.items()} for k, v in params.items()}
    member_state = optimizer.init(Packing(one).pack(one))
    pure_state = optim.set_learning_rate(stack([member_state] * K), rates)
    # The counters of a population are arrays, one per member.
    assert np.ndim(optim.current_learning_rate(pure_state)) == 1
    fast_params, fast_state = copy_tree(pure_params), copy_tree(pure_state)
    update = InPlaceUpdate(packing, twin)
    width = max(chunk // K, min(packing.size, LINE))  # at least a cache line
    assert len(update.pieces) == -(-packing.size // width)
    rng = np.random.default_rng(1)
    for step in range(12):
        grads = {PACKED: {"all": rng.standard_normal((K, packing.size)).astype(dtype)}}
        epoch = np.full(K, step // 4, dtype=np.int32)
        pure_state = optim.set_epoch(pure_state, epoch)
        fast_state = optim.set_epoch(fast_state, epoch)
        updates, pure_state = optimizer.update(grads, pure_state, pure_params)
        pure_params = optim.apply_updates(pure_params, updates)
        fast_params, fast_state = update(copy_tree(grads), fast_state, fast_params)
        assert_identical(fast_params, pure_params)
        assert_identical(fast_state, pure_state)
    # The members moved apart: each used its own rate.
    moved = np.abs(fast_params[PACKED]["all"] - packing.pack(params)[PACKED]["all"])
    assert len(set(np.round(moved.sum(axis=1), 12))) == K


# ----------------------------------------------------------- the planned pass
@pytest.mark.parametrize("live", [False, True])
def test_the_planned_population_pass_equals_the_stacked_train_pass(live):
    """Every kind of layer, both penalties, per-member L2 and keep_prob when live."""
    model = every_layer_model().adapt(DATA.X)
    params = stack(
        [model.init(2, seed=s, dtype="float64").adapt(DATA.X).params for s in range(K)]
    )
    state = stack([model.state] * K)
    hyperparams = {}
    if live:
        hyperparams = {
            "l2": np.linspace(0.0, 0.4, K),
            "keep_prob": np.linspace(0.5, 1.0, K),
        }
    packing = Packing(params, members=K)
    planned = PlannedPopulation(model, packing)
    kinds = [type(op) for op in planned.ops]
    assert kinds.count(_DenseOp) == 6  # every Dense, with or without its bias
    # Standardize, BatchNorm, Dropout and Softmax (along the classes: not in any
    # layout, unlike the elementwise activations).
    assert kinds.count(_BatchMajorOp) == 4
    x, targets = model.prepare(DATA.X, DATA.y)
    keys = stack([nntune.random_key(5 + i) for i in range(K)])
    packed = packing.pack(params)
    for rows in (slice(0, 32), slice(32, 96), slice(0, 32)):
        expected = model.train_pass(
            params, state, x[rows], targets[rows], key=keys, hyperparams=hyperparams
        )
        found = planned.train_pass(
            packed, state, x[rows], targets[rows], key=keys, hyperparams=hyperparams
        )
        for ours, theirs in [
            (found.cost, expected.cost),
            (found.loss, expected.loss),
            (found.logits, expected.logits),
            (found.grads[PACKED]["all"], packing.pack(expected.grads)[PACKED]["all"]),
        ]:
            assert ours.shape == theirs.shape
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)
        for layer, arrays in expected.state.items():
            for name, array in arrays.items():
                np.testing.assert_allclose(found.state[layer][name], array, rtol=1e-12)


def test_a_dense_layer_whose_bias_is_not_after_its_weights_runs_batch_major():
    """[W; b] is one matrix only when b follows W in the packed row."""
    model = nntune.mlp([4]).init(2, seed=0, dtype="float64")
    params = stack([model.params] * K)
    swapped = {
        layer: dict(reversed(list(arrays.items()))) for layer, arrays in params.items()
    }
    planned = PlannedPopulation(model, Packing(swapped, members=K))
    assert [type(op) for op in planned.ops] == [_BatchMajorOp, _ReLUOp, _BatchMajorOp]
    assert planned.ops[1].feeds is None  # the next op has no row of ones to fill
    x, targets = model.prepare(DATA.X, DATA.y)
    packing = Packing(swapped, members=K)
    found = planned.train_pass(packing.pack(swapped), {}, x, targets)
    expected = model.train_pass(params, {}, x, targets)
    np.testing.assert_allclose(
        found.grads[PACKED]["all"],
        packing.pack(expected.grads)[PACKED]["all"],
        rtol=1e-12,
    )


def test_a_relu_before_a_dense_layer_writes_above_its_row_of_ones():
    """No copy: the ReLU's output is the next Dense op's input rows; its numbers are
    ReLU's (NaN and an overflowed -inf give NaN, for the divergence guard)."""
    model = nntune.mlp([4, 3]).init(2, seed=0, dtype="float64")
    packing = Packing(stack([model.params] * K), members=K)
    planned = PlannedPopulation(model, packing)
    ops = planned.ops
    assert [type(op) for op in ops] == [_DenseOp, _ReLUOp, _DenseOp, _ReLUOp, _DenseOp]
    assert ops[1].feeds is ops[2]
    assert ops[3].feeds is ops[4]
    z = np.array([-np.inf, np.nan, -1.0, 0.0, 2.0, np.inf] * 4).reshape(1, 4, 6)
    z = np.repeat(z, K, axis=0)  # (K, 4 units, 6 examples), feature-major
    with np.errstate(invalid="ignore"):  # -inf times 0, as training runs it
        out, _ = ops[1].forward(z, {}, None, None)
        expected = nntune.ReLU().forward({}, {}, z, training=True)[0]
    np.testing.assert_array_equal(out, expected)  # NaN where ReLU gives NaN
    with_ones = ops[2]._ones_below(out)
    assert out is ops[2].slot(z.shape, z.dtype)
    assert np.shares_memory(with_ones, out)
    np.testing.assert_array_equal(with_ones[:, -1, :], 1.0)
    np.testing.assert_array_equal(with_ones[:, :-1, :], expected)
    dx = ops[1].backward(np.full_like(z, 3.0), True)
    np.testing.assert_array_equal(dx, np.where(z > 0, 3.0, 0.0))


def test_planned_population_refuses_one_model():
    model = nntune.mlp([4]).init(2, seed=0)
    with pytest.raises(ValueError, match="stacked population"):
        PlannedPopulation(model, Packing(model.params))


# ------------------------------------------------------------------ the engine
def members(count):
    return [
        {"learning_rate": rate, "l2": l2, "init_seed": i}
        for i, (rate, l2) in enumerate(
            zip(np.logspace(-3, -1, count), np.linspace(0, 0.5, count), strict=True)
        )
    ]


def test_a_numpy_population_trains_with_the_plan_and_the_twin(monkeypatch):
    used = []
    real_pass, real_update = PlannedPopulation.train_pass, InPlaceUpdate.__call__

    def spied_pass(self, *args, **kwargs):
        used.append("plan")
        return real_pass(self, *args, **kwargs)

    def spied_update(self, *args):
        used.append("twin")
        return real_update(self, *args)

    monkeypatch.setattr(PlannedPopulation, "train_pass", spied_pass)
    monkeypatch.setattr(InPlaceUpdate, "__call__", spied_update)
    monkeypatch.setattr(
        PlannedModel, "train_pass", lambda *a, **k: pytest.fail("one model's plan")
    )
    model = nntune.mlp([4]).init(2, seed=0)
    fit_population(
        model, DATA.X, DATA.y, members=members(3), optimizer=optim.adam(0.01), epochs=2
    )
    assert used == ["plan", "twin"] * 4  # two epochs of two mini-batches


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "custom"])
def test_each_member_of_a_plain_network_equals_its_separate_run(optimizer):
    """The common case (Dense and ReLU, biases in the products), 1e-6 in float64;
    a custom transformation trains the pure stacked way and agrees too."""
    build = {
        "adam": lambda rate: optim.adam(optim.inverse_time_decay(rate, 0.5)),
        "momentum": lambda rate: optim.momentum(rate, beta=0.8),
        "custom": lambda rate: optim.chain(
            optim.GradientTransformation(lambda p: (), lambda u, s, p=None: (u, s)),
            optim.scale_by_learning_rate(rate),
        ),
    }[optimizer]
    model = nntune.mlp([6, 5], task="multiclass", outputs=2)
    model = model.init(2, seed=0, dtype="float64")
    found = members(4)
    result = fit_population(
        model,
        DATA.X,
        DATA.y,
        members=found,
        optimizer=build(0.01),
        epochs=5,
        batch_size=32,
        seed=3,
    )
    for member, history in zip(found, result.histories, strict=True):
        alone = nntune.mlp([6, 5], task="multiclass", outputs=2)
        alone = alone.init(2, seed=member["init_seed"], dtype="float64")
        separate = nntune.fit(
            alone,
            DATA.X,
            DATA.y,
            optimizer=build(member["learning_rate"]),
            epochs=5,
            batch_size=32,
            seed=3,
            train_state=nntune.TrainState.create(
                alone, build(member["learning_rate"]), hyperparams={"l2": member["l2"]}
            ),
            progress="silent",
        )
        np.testing.assert_allclose(history.iterations, separate.iterations, rtol=1e-9)
        for layer, arrays in separate.train_state.params.items():
            for name, array in arrays.items():
                np.testing.assert_allclose(
                    history.train_state.params[layer][name], array, atol=1e-6, rtol=0
                )


@pytest.mark.parametrize(
    ("task", "outputs"), [("multiclass", 3), ("regression", 2), ("binary", 1)]
)
def test_the_planned_population_pass_equals_the_stacked_one_for_each_loss(
    task, outputs
):
    """Softmax over 3 classes, mean squared error on 2 targets, and a sigmoid."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = {
        "multiclass": rng.integers(0, 3, 40),
        "regression": rng.standard_normal((40, 2)),
        "binary": rng.integers(0, 2, 40),
    }[task]
    model = nntune.mlp([4], task=task, outputs=outputs)
    params = stack([model.init(3, seed=s, dtype="float64").params for s in range(K)])
    x, targets = model.prepare(X, y)
    packing = Packing(params, members=K)
    found = PlannedPopulation(model, packing).train_pass(
        packing.pack(params), {}, x, targets
    )
    expected = model.train_pass(params, {}, x, targets)
    assert found.cost.shape == (K,)
    np.testing.assert_allclose(found.cost, expected.cost, rtol=1e-12)
    np.testing.assert_allclose(found.logits, expected.logits, rtol=1e-12)
    np.testing.assert_allclose(
        found.grads[PACKED]["all"],
        packing.pack(expected.grads)[PACKED]["all"],
        rtol=1e-10,
        atol=1e-14,
    )


@pytest.mark.parametrize(
    ("count", "hidden"), [(1, [4]), (3, [1]), (1, [1])], ids=["K=1", "1 unit", "both"]
)
def test_one_member_and_one_unit_layers_train_as_their_separate_runs(count, hidden):
    """Axes of length 1 (one member, a 1 -> 1 Dense layer) have any strides."""
    model = nntune.mlp(hidden).init(2, seed=0, dtype="float64")
    result = fit_population(
        model,
        DATA.X,
        DATA.y,
        members=members(count),
        optimizer=optim.adam(0.01),
        epochs=3,
        batch_size=32,
    )
    for member, history in zip(members(count), result.histories, strict=True):
        alone = nntune.mlp(hidden).init(2, seed=member["init_seed"], dtype="float64")
        separate = nntune.fit(
            alone,
            DATA.X,
            DATA.y,
            optimizer=optim.adam(member["learning_rate"]),
            epochs=3,
            batch_size=32,
            train_state=nntune.TrainState.create(
                alone,
                optim.adam(member["learning_rate"]),
                hyperparams={"l2": member["l2"]},
            ),
            progress="silent",
        )
        np.testing.assert_allclose(history.iterations, separate.iterations, rtol=1e-9)
