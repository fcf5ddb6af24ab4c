"""fit's per-epoch training metrics: running means of the mini-batches by default."""

from __future__ import annotations

import numpy as np
import pytest

import nntune
from nntune.training.evaluation import evaluate

DATA = nntune.load_dataset("moons", n_samples=150, seed=0)


def model(**options):
    return nntune.mlp([6], l2=0.5, **options).init(2, seed=1, dtype="float64")


def by_hand(epochs, batch_size, seed, optimizer):
    """Each epoch's rows-weighted mean of the mini-batches' training-mode loss and
    accuracy, computed with the weights before each step (no penalty)."""
    net = model()
    x, targets = net.prepare(DATA.X, DATA.y)
    step = nntune.make_train_step(net, optimizer)
    state = nntune.TrainState.create(net, optimizer, seed=seed)
    found = []
    for epoch in range(epochs):
        state = state.with_epoch(epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        losses, correct = 0.0, 0.0
        for begin in range(0, len(x), batch_size):
            rows = order[begin : begin + batch_size]
            logits = net.apply(state.params, state.model_state, x[rows], training=True)[
                0
            ]
            probability = 1 / (1 + np.exp(-logits[:, 0]))
            loss = -np.mean(
                targets[rows, 0] * np.log(probability)
                + (1 - targets[rows, 0]) * np.log(1 - probability)
            )
            losses += loss * len(rows)
            correct += np.sum((probability > 0.5) == (targets[rows, 0] > 0.5))
            state, _ = step(state, x[rows], targets[rows])
        found.append((losses / len(x), correct / len(x)))
    return found, state


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_running_metrics_are_the_rows_weighted_mean_of_the_mini_batches(backend):
    if backend == "jax":
        from helpers import require

        require("jax")
    optimizer = nntune.adam(0.05)
    # 150 rows in batches of 64: 64, 64 and 22 (an uneven last batch).
    history = nntune.fit(
        model(),
        DATA.X,
        DATA.y,
        optimizer=optimizer,
        epochs=3,
        batch_size=64,
        seed=4,
        progress="silent",
        backend=backend,
    )
    expected, _ = by_hand(3, 64, 4, optimizer)
    np.testing.assert_allclose(
        history.column("train_cost"), [e[0] for e in expected], rtol=1e-10
    )
    np.testing.assert_allclose(
        history.column("train_accuracy"), [e[1] for e in expected], rtol=1e-12
    )


def test_full_evaluates_the_training_set_after_every_epoch_or_every_k():
    optimizer = nntune.adam(0.05)
    runs = {
        every: nntune.fit(
            model(),
            DATA.X,
            DATA.y,
            optimizer=optimizer,
            epochs=5,
            batch_size=64,
            seed=4,
            progress="silent",
            train_metrics=every,
        )
        for every in ("running", "full", 2)
    }
    expected, _ = by_hand(5, 64, 4, optimizer)
    # The same steps whatever is recorded.
    final = [r.train_state.params for r in runs.values()]
    for params in final[1:]:
        for name in params:
            np.testing.assert_array_equal(params[name]["W"], final[0][name]["W"])
    # "full": the inference-mode evaluation of the weights after each epoch.
    net = model()
    step = nntune.make_train_step(net, optimizer)
    state = nntune.TrainState.create(net, optimizer, seed=4)
    x, targets = net.prepare(DATA.X, DATA.y)
    full = []
    for epoch in range(5):
        state = state.with_epoch(epoch)
        order = np.random.default_rng([4, epoch]).permutation(len(x))
        for begin in range(0, len(x), 64):
            rows = order[begin : begin + 64]
            state, _ = step(state, x[rows], targets[rows])
        full.append(evaluate(net, state.params, state.model_state, x, targets)[0])
    np.testing.assert_allclose(runs["full"].column("train_cost"), full, rtol=1e-12)
    # Every 2 epochs and after the last one; the running metrics in between.
    mixed = [full[i] if i in (1, 3, 4) else expected[i][0] for i in range(5)]
    np.testing.assert_allclose(runs[2].column("train_cost"), mixed, rtol=1e-10)
    np.testing.assert_allclose(
        runs["running"].column("train_cost"), [e[0] for e in expected], rtol=1e-10
    )


@pytest.mark.parametrize("value", ["fast", 0, True, 1.5])
def test_train_metrics_refuses_what_it_does_not_know(value):
    with pytest.raises(ValueError, match="train_metrics must be 'running'"):
        nntune.fit(
            model(), DATA.X, DATA.y, epochs=1, progress="silent", train_metrics=value
        )


class _Threads(nntune.Callback):
    """Records the BLAS threads NumPy has while fit trains."""

    def on_epoch_end(self, trainer, epoch, logs):
        from threadpoolctl import threadpool_info

        self.found = [
            p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
        ]


def _blas_threads_outside():
    from threadpoolctl import threadpool_info

    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


@pytest.mark.parametrize("variable", [None, "OPENBLAS_NUM_THREADS"])
def test_small_networks_train_on_one_blas_thread_unless_the_user_chose(
    variable, monkeypatch
):
    from nntune.backend import blas

    for name in blas._THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    outside = _blas_threads_outside()
    assert outside  # NumPy's BLAS is seen, so the comparisons below can fail
    if variable is not None:
        monkeypatch.setenv(variable, str(outside[0]))
    small, large = _Threads(), _Threads()
    nntune.fit(model(), DATA.X, DATA.y, epochs=1, progress="silent", callbacks=[small])
    # A product of SMALL_PRODUCT multiply-adds keeps the BLAS's threads.
    monkeypatch.setattr(blas, "SMALL_PRODUCT", 64 * 2 * 6)
    nntune.fit(model(), DATA.X, DATA.y, epochs=1, progress="silent", callbacks=[large])
    assert large.found == outside
    assert small.found == (outside if variable else [1] * len(outside))
    assert _blas_threads_outside() == outside  # given back after fit
