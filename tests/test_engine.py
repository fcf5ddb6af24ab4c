"""The training engine: pure train step, explicit keys, array-safe optimizers,
the population axis, live hyperparameters."""

import numpy as np
import pytest

import nntune
from helpers import require
from nntune import optim
from nntune.backend import random
from nntune.population import fit_population
from nntune.trees import stack, unstack

DATA = nntune.load_dataset("moons", n_samples=120, seed=4)


def rich_model(seed=0, keep_prob=0.8, l2=0.3):
    """Batch norm, dropout and L2: every piece of the step that could go wrong."""
    return nntune.mlp(
        [6, 5], batch_norm=True, keep_prob=keep_prob, l2=l2, standardize=True
    ).init(2, seed=seed, dtype="float64")


def fitted_rich_model(seed=0, **options):
    model = rich_model(seed, **options)
    return model.adapt(DATA.X)


def assert_trees_close(a, b, rtol=1e-10, atol=1e-12):
    assert a.keys() == b.keys()
    for layer in a:
        assert a[layer].keys() == b[layer].keys()
        for name in a[layer]:
            np.testing.assert_allclose(
                np.asarray(a[layer][name]),
                np.asarray(b[layer][name]),
                rtol=rtol,
                atol=atol,
                err_msg=f"{layer}/{name}",
            )


# ---------------------------------------------------------------- random keys
def test_keys_draw_the_same_bits_on_numpy_and_jax():
    jnp = require("jax.numpy")
    k_np, k_jax = random.key(11), random.key(11, jnp)
    a = random.uniform(random.fold_in(k_np, 3), (5, 7), np.float32)
    b = random.uniform(random.fold_in(k_jax, 3), (5, 7), jnp.float32)
    np.testing.assert_array_equal(a, np.asarray(b))


def test_fold_in_and_split_give_distinct_keys_and_a_stack_draws_per_member():
    k = random.key(0)
    keys = [random.fold_in(k, i) for i in range(50)] + random.split(k, 5)
    assert len({tuple(np.asarray(key).tolist()) for key in keys}) == 55
    stacked = np.stack([random.key(s) for s in range(4)])
    masks = random.bernoulli(random.fold_in(stacked, np.arange(4)), 0.5, (6, 3))
    for member in range(4):
        alone = random.bernoulli(
            random.fold_in(random.key(member), member), 0.5, (6, 3)
        )
        np.testing.assert_array_equal(masks[member], alone)


def test_uniform_draws_are_uniform_and_independent_of_neighbours():
    u = random.uniform(random.key(5), (200_000,), np.float64)
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert counts.min() > 19_000
    assert counts.max() < 21_000
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


# -------------------------------------------------------------------- the step
def numpy_steps(model, optimizer, steps, x, targets):
    step = nntune.make_train_step(model, optimizer)
    state = nntune.TrainState.create(model, optimizer, seed=5)
    costs = []
    for index in range(steps):
        # Two epochs' worth of steps: the epoch counter drives the decay.
        state = state.with_epoch(index // 10)
        state, cost = step(state, x, targets)
        costs.append(float(cost))
    return state, costs


def test_jitted_step_equals_the_numpy_step_in_float64():
    jax = require("jax")
    jnp = jax.numpy
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        model = fitted_rich_model()
        optimizer = optim.adam(optim.exponential_decay(0.01, 0.7))
        x, targets = model.prepare(DATA.X, DATA.y)
        reference, reference_costs = numpy_steps(model, optimizer, 20, x, targets)

        step = jax.jit(nntune.make_train_step(model, optimizer))
        state = jax.tree_util.tree_map(
            jnp.asarray, nntune.TrainState.create(model, optimizer, seed=5)
        )
        costs = []
        for index in range(20):
            state = state._replace(epoch=jnp.asarray(index // 10, dtype=jnp.int32))
            state, cost = step(state, jnp.asarray(x), jnp.asarray(targets))
            costs.append(float(cost))
        assert step._cache_size() == 1  # one compilation for all 20 steps
        np.testing.assert_allclose(costs, reference_costs, rtol=1e-10)
        assert_trees_close(state.params, reference.params)
        assert_trees_close(state.model_state, reference.model_state)
        assert float(state.opt_state[1].value) == pytest.approx(0.01 * 0.7, rel=1e-12)
        assert int(state.step) == 20
    finally:
        jax.config.update("jax_enable_x64", previous)


def test_step_is_pure_and_deterministic():
    model = fitted_rich_model()
    optimizer = optim.adam(0.01)
    x, targets = model.prepare(DATA.X, DATA.y)
    step = nntune.make_train_step(model, optimizer)
    start = nntune.TrainState.create(model, optimizer, seed=1)
    before = {k: dict(v) for k, v in start.params.items()}
    first, cost_a = step(start, x, targets)
    second, cost_b = step(start, x, targets)
    assert float(cost_a) == float(cost_b)
    assert_trees_close(first.params, second.params, rtol=0, atol=0)
    assert_trees_close(start.params, before, rtol=0, atol=0)  # nothing in place
    # The dropout key moves with the step: the next step draws other masks.
    third, cost_c = step(first, x, targets)
    assert int(third.step) == 2
    assert float(cost_c) != float(cost_a)


def test_fit_is_the_loop_over_the_step():
    model = fitted_rich_model()
    optimizer = optim.momentum(0.05, beta=0.9)
    x, targets = model.prepare(DATA.X, DATA.y)
    state = nntune.TrainState.create(model, optimizer, seed=2)
    history = nntune.fit(
        fitted_rich_model(),
        DATA.X,
        DATA.y,
        optimizer=optimizer,
        epochs=3,
        batch_size=200,  # one batch: the data in their order
        seed=2,
        progress="silent",
    )
    step = nntune.make_train_step(model, optimizer)
    costs = []
    for epoch in range(3):
        state, cost = step(state.with_epoch(epoch), x, targets)
        costs.append(float(cost))
    assert history.iterations == costs
    assert_trees_close(history.train_state.params, state.params, rtol=0, atol=0)


# ------------------------------------------------------- schedules, decays
@pytest.mark.parametrize(
    "schedule",
    [
        optim.constant(0.1),
        optim.inverse_time_decay(0.2, 1.0),
        optim.exponential_decay(0.3, 0.9),
        optim.inverse_sqrt_decay(0.1, 2.0),
        optim.interval_decay(0.3, 1.0, 3),
        optim.piecewise_constant([2, 5], [0.1, 0.01, 0.001]),
        optim.warmup_cosine(1.0, warmup_steps=4, decay_steps=6, end=0.1),
    ],
    ids=lambda s: type(s).__name__,
)
def test_schedules_are_array_safe(schedule):
    epochs = np.arange(9)
    steps = np.arange(0, 18, 2)
    on_arrays = [
        float(schedule(np.asarray(e), np.asarray(s)))
        for e, s in zip(epochs, steps, strict=True)
    ]
    python = [schedule(int(e), int(s)) for e, s in zip(epochs, steps, strict=True)]
    assert on_arrays == pytest.approx(python, rel=1e-15)
    jax = require("jax")
    compiled = jax.jit(lambda e, s: schedule(e, s))
    jitted = [float(compiled(e, s)) for e, s in zip(epochs, steps, strict=True)]
    assert jitted == pytest.approx(python, rel=1e-6)


def test_fit_decays_the_learning_rate_every_epoch():
    # Planted bug 1 (a train step that never gives the optimizer the epoch, as `fit`
    # once could skip set_epoch) leaves every rate at 0.02: this test fails then.
    history = nntune.fit(
        nntune.mlp([4]).init(2, seed=0, dtype="float64"),
        DATA.X,
        DATA.y,
        optimizer=optim.gd(optim.exponential_decay(0.02, 0.5)),
        epochs=4,
        batch_size=40,
        progress="silent",
    )
    assert history.column("learning_rate") == pytest.approx(
        [0.02, 0.01, 0.005, 0.0025], rel=1e-15
    )


def test_bias_correction_has_no_branch_on_array_counts():
    average = np.array([0.1, 0.2])
    corrected = optim.bias_correction(average, 0.9, np.asarray(1, dtype=np.int32))
    np.testing.assert_allclose(corrected, average / 0.1)
    with pytest.raises(ValueError, match="count must be >= 1"):
        optim.bias_correction(average, 0.9, 0)


# --------------------------------------------------------- live hyperparameters
class LowerTheRate(nntune.Callback):
    """Babysitting: after epoch ``at`` (from 1), set the learning rate to ``rate``."""

    def __init__(self, at, rate):
        self.at, self.rate = at, rate

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch + 1 == self.at:
            trainer.set_hyperparams(learning_rate=self.rate)


def test_changing_the_learning_rate_mid_run_takes_effect_at_the_next_step():
    def run(callbacks, optimizer):
        model = nntune.mlp([5]).init(2, seed=1, dtype="float64")
        return nntune.fit(
            model,
            DATA.X,
            DATA.y,
            optimizer=optimizer,
            epochs=6,
            batch_size=30,
            seed=3,
            progress="silent",
            callbacks=callbacks,
        )

    changed = run([LowerTheRate(3, 0.001)], optim.adam(0.01))
    assert changed.column("learning_rate") == [0.01] * 3 + [0.001] * 3
    assert changed.changes == [
        {"epoch": 4, "step": 12, "setting": "learning_rate", "old": 0.01, "new": 0.001}
    ]
    # The same schedule given from the start trains bit for bit the same weights.
    planned = run([], optim.adam(optim.piecewise_constant([3], [0.01, 0.001])))
    assert planned.iterations == changed.iterations
    assert_trees_close(
        planned.train_state.params, changed.train_state.params, rtol=0, atol=0
    )
    assert nntune.History.from_dict(changed.to_dict()).changes == changed.changes


def test_a_run_continues_from_its_train_state():
    def model():
        return nntune.mlp([5], keep_prob=0.9).init(2, seed=1, dtype="float64")

    options = {"optimizer": optim.adam(0.01), "batch_size": 30, "progress": "silent"}
    whole = nntune.fit(model(), DATA.X, DATA.y, epochs=5, **options)
    half = nntune.fit(model(), DATA.X, DATA.y, epochs=2, **options)
    rest = nntune.fit(
        model(), DATA.X, DATA.y, epochs=5, train_state=half.train_state, **options
    )
    assert half.iterations + rest.iterations == whole.iterations
    assert_trees_close(
        rest.train_state.params, whole.train_state.params, rtol=0, atol=0
    )


def test_injected_hyperparameters_change_in_a_live_state():
    params = {"dense_0": {"W": np.ones(3)}}
    grads = {"dense_0": {"W": np.array([1.0, -2.0, 0.5])}}
    injected = optim.inject_hyperparams(optim.adam)(learning_rate=0.1, beta1=0.9)
    state = injected.init(params)
    for _ in range(2):
        _, state = injected.update(grads, state, params)
    state = optim.set_hyperparams(state, beta1=0.5)
    changed, _ = injected.update(grads, state, params)
    plain = optim.adam(0.1, beta1=0.9)
    reference = plain.init(params)
    for _ in range(2):
        _, reference = plain.update(grads, reference, params)
    again, _ = optim.adam(0.1, beta1=0.5).update(grads, reference, params)
    np.testing.assert_allclose(changed["dense_0"]["W"], again["dense_0"]["W"])
    with pytest.raises(ValueError, match="holds no hyperparameter beta1"):
        optim.set_hyperparams(reference, beta1=0.5)


def test_train_state_hyperparameters_are_checked():
    model = nntune.mlp([3], keep_prob=0.5).init(2)
    state = nntune.TrainState.create(model, optim.adam(0.01))
    with pytest.raises(
        ValueError, match=r"keep_prob must be a finite number in \(0, 1\]"
    ):
        state.with_hyperparams(keep_prob=1.5)
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        state.with_hyperparams(learning_rate=-1.0)
    with pytest.raises(ValueError, match="holds no hyperparameter gamma"):
        state.with_hyperparams(gamma=0.1)


# ----------------------------------------------------------------- population
MEMBERS = [
    {
        "learning_rate": rate,
        "keep_prob": keep_prob,
        "l2": l2,
        "init_seed": index,
        "seed": 10 + index,
    }
    for index, (rate, keep_prob, l2) in enumerate(
        zip(
            [0.001, 0.003, 0.01, 0.03, 0.1, 0.002, 0.02, 0.05],
            [1.0, 0.9, 0.8, 0.7, 0.95, 0.85, 0.75, 0.6],
            [0.0, 0.01, 0.1, 0.3, 1.0, 0.05, 0.5, 2.0],
            strict=True,
        )
    )
]


def test_a_population_of_8_equals_8_separate_runs():
    model = fitted_rich_model()
    decay = optim.inverse_time_decay(0.01, decay_rate=0.5)
    optimizer = optim.adam(decay)
    result = fit_population(
        model,
        DATA.X,
        DATA.y,
        members=MEMBERS,
        optimizer=optimizer,
        epochs=3,
        batch_size=32,
        seed=7,
        dev=(DATA.X[:40], DATA.y[:40]),
    )
    for member, history in zip(MEMBERS, result.histories, strict=True):
        alone = fitted_rich_model(member["init_seed"])
        start = nntune.TrainState.create(
            alone,
            optim.adam(optim.inverse_time_decay(member["learning_rate"], 0.5)),
            seed=member["seed"],
            hyperparams={"keep_prob": member["keep_prob"], "l2": member["l2"]},
        )
        separate = nntune.fit(
            alone,
            DATA.X,
            DATA.y,
            optimizer=optim.adam(
                optim.inverse_time_decay(member["learning_rate"], 0.5)
            ),
            epochs=3,
            batch_size=32,
            seed=7,
            dev=(DATA.X[:40], DATA.y[:40]),
            train_state=start,
            progress="silent",
        )
        assert_trees_close(history.train_state.params, separate.train_state.params)
        assert_trees_close(
            history.train_state.model_state, separate.train_state.model_state
        )
        np.testing.assert_allclose(history.iterations, separate.iterations, rtol=1e-10)
        for ours, theirs in zip(history.epochs, separate.epochs, strict=True):
            for column in ("train_cost", "dev_cost", "dev_accuracy", "learning_rate"):
                assert ours[column] == pytest.approx(theirs[column], rel=1e-10)
    final_rates = [h.epochs[-1]["learning_rate"] for h in result.histories]
    assert final_rates == pytest.approx([m["learning_rate"] / 2 for m in MEMBERS])


def test_a_population_differs_per_member_and_stacks_back():
    model = fitted_rich_model()
    result = fit_population(
        model,
        DATA.X,
        DATA.y,
        members=MEMBERS[:3],
        optimizer=optim.adam(0.01),
        epochs=1,
        batch_size=64,
    )
    first, second, _ = result.states
    assert not np.allclose(first.params["dense_1"]["W"], second.params["dense_1"]["W"])
    restacked = stack(result.states)
    assert restacked.params["dense_1"]["W"].shape == (3, 2, 6)
    np.testing.assert_array_equal(
        unstack(restacked, 1).params["dense_1"]["W"], second.params["dense_1"]["W"]
    )
    with pytest.raises(ValueError, match="unknown settings"):
        fit_population(
            model, DATA.X, DATA.y, members=[{"beta": 0.9}], optimizer=optim.adam()
        )


def test_stacked_losses_and_layers_reduce_per_member():
    logits = np.random.default_rng(0).normal(size=(3, 10, 4))
    targets = np.eye(4)[np.arange(10) % 4]
    loss = nntune.SoftmaxCrossEntropy()
    costs, grads = loss.value_and_grad(logits, targets)
    assert costs.shape == (3,)
    for member in range(3):
        cost, grad = loss.value_and_grad(logits[member], targets)
        assert costs[member] == pytest.approx(float(cost), rel=1e-14)
        np.testing.assert_allclose(grads[member], grad, rtol=1e-14)


def test_evaluation_in_chunks_equals_the_whole_set(monkeypatch):
    import importlib

    import nntune

    fit_module = importlib.import_module("nntune.training.evaluation")
    data = nntune.load_dataset("moons", n_samples=300)
    model = nntune.mlp([8], batch_norm=True, keep_prob=0.8).init(2, seed=0)
    model.adapt(data.X)
    x, targets = model.prepare(data.X, data.y)
    whole = fit_module.evaluate_arrays(model, model.params, model.state, x, targets)
    # The cache-free forward pass is the inference-mode apply, bit for bit.
    assert np.array_equal(
        model.infer(model.params, model.state, x),
        model.apply(model.params, model.state, x, training=False)[0],
    )
    monkeypatch.setattr(fit_module, "EVALUATION_ROWS", 7)  # 43 chunks, the last of 6
    chunked = fit_module.evaluate_arrays(model, model.params, model.state, x, targets)
    assert float(chunked[0]) == pytest.approx(float(whole[0]), rel=1e-6)
    assert float(chunked[1]) == pytest.approx(float(whole[1]), abs=1e-12)


def test_fit_trains_packed_and_equals_the_pure_step_bit_for_bit(monkeypatch):
    """fit's NumPy runner packs the state into contiguous arrays; same numbers."""
    import importlib

    from nntune.trees import flatten

    packed = importlib.import_module("nntune.training.packed")
    plan = importlib.import_module("nntune.training.plan")
    calls = []
    real = plan.PlannedModel.train_pass

    def spied(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(plan.PlannedModel, "train_pass", spied)
    for optimizer in (
        optim.adam(optim.inverse_time_decay(0.01, 0.5)),
        optim.adamw(0.01, weight_decay=0.1),
        optim.momentum(0.05, beta=0.9),
        optim.rmsprop(0.01),
    ):
        model = fitted_rich_model()
        start = nntune.TrainState.create(model, optimizer, seed=3)
        assert packed.Packing.applies(start)
        history = nntune.fit(
            model,
            DATA.X,
            DATA.y,
            optimizer=optimizer,
            epochs=2,
            batch_size=32,
            seed=3,
            progress="silent",
        )
        step = nntune.make_train_step(model, optimizer)
        x, targets = model.prepare(DATA.X, DATA.y)
        state = start
        for epoch in range(2):
            state = state.with_epoch(epoch)
            order = np.random.default_rng([3, epoch]).permutation(len(x))
            for begin in range(0, len(x), 32):
                rows = order[begin : begin + 32]
                state, _ = step(state, x[rows], targets[rows])
        for layer in state.params:
            for name in state.params[layer]:
                np.testing.assert_array_equal(
                    history.train_state.params[layer][name], state.params[layer][name]
                )
        # The state handed back is keyed as the pure step keeps it, and it was packed.
        assert flatten(history.train_state.opt_state)[0].keys() == (
            flatten(state.opt_state)[0].keys()
        )
        assert calls, "fit should have trained packed"
        calls.clear()


def test_a_custom_optimizer_that_looks_at_each_tensor_trains_unpacked():
    """Only the built-in optimizers are packed; a custom one sees its tensors."""

    def weights_only(rate):
        def init(params):
            return optim.EmptyState()

        def update(grads, state, params=None):
            return {
                layer: {
                    name: (g if name == "W" else 0 * g) for name, g in arrays.items()
                }
                for layer, arrays in grads.items()
            }, state

        direction = optim.GradientTransformation(init, update)
        return optim.chain(direction, optim.scale_by_learning_rate(rate))

    model = fitted_rich_model()
    before = {k: dict(v) for k, v in model.params.items()}
    nntune.fit(
        model,
        DATA.X,
        DATA.y,
        optimizer=weights_only(0.1),
        epochs=1,
        batch_size=32,
        progress="silent",
    )
    for layer, arrays in model.params.items():
        for name, value in arrays.items():
            changed = not np.array_equal(value, before[layer][name])
            assert changed == (name == "W"), (layer, name)
