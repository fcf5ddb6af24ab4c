"""Populations: each member equals its separate run, on NumPy and on JAX, early
stopping included."""

from __future__ import annotations

import numpy as np
import pytest

import nntune
from helpers import require
from nntune import optim
from nntune.population import fit_population

DATA = nntune.load_dataset("moons", n_samples=160, seed=4)
X, Y = DATA.X[:120], DATA.y[:120]
DEV = (DATA.X[120:], DATA.y[120:])
MEMBERS = [
    {"learning_rate": rate, "keep_prob": keep, "l2": l2, "init_seed": i, "seed": 9 + i}
    for i, (rate, keep, l2) in enumerate(
        [(0.003, 1.0, 0.0), (0.03, 0.9, 0.1), (0.3, 0.8, 1.0), (0.01, 0.7, 0.3)]
    )
]


def model_for(seed):
    model = nntune.mlp([6, 5], batch_norm=True, keep_prob=0.9, l2=0.1)
    return model.init(2, seed=seed, dtype="float64").adapt(DATA.X)


def schedule(rate):
    return optim.inverse_time_decay(rate, decay_rate=0.5)


def separate_run(member, early_stopping=None):
    alone = model_for(member["init_seed"])
    optimizer = optim.adam(schedule(member["learning_rate"]))
    start = nntune.TrainState.create(
        alone,
        optimizer,
        seed=member["seed"],
        hyperparams={"keep_prob": member["keep_prob"], "l2": member["l2"]},
    )
    return nntune.fit(
        alone,
        X,
        Y,
        optimizer=optimizer,
        epochs=12,
        batch_size=32,
        seed=7,
        dev=DEV,
        train_state=start,
        callbacks=[early_stopping] if early_stopping else [],
        progress="silent",
    )


def assert_close(a, b, tol=1e-10):
    for layer in a:
        for name in a[layer]:
            np.testing.assert_allclose(a[layer][name], b[layer][name], atol=tol)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_each_member_stops_on_its_own_as_its_separate_run_would(backend):
    if backend == "jax":
        require("jax")
    stopping = dict(monitor="dev_cost", patience=2, min_delta=0.002)
    result = fit_population(
        model_for(0),
        X,
        Y,
        members=MEMBERS,
        optimizer=optim.adam(schedule(0.01)),
        epochs=12,
        batch_size=32,
        seed=7,
        dev=DEV,
        early_stopping=nntune.EarlyStopping(**stopping),
        backend=backend,
    )
    lengths = set()
    for member, history in zip(MEMBERS, result.histories, strict=True):
        separate = separate_run(member, nntune.EarlyStopping(**stopping))
        lengths.add(history.epochs_run)
        assert history.epochs_run == separate.epochs_run
        assert history.best_epoch == separate.best_epoch
        np.testing.assert_allclose(history.iterations, separate.iterations, rtol=1e-9)
        for ours, theirs in zip(history.epochs, separate.epochs, strict=True):
            for column in ("train_cost", "dev_cost", "dev_accuracy", "learning_rate"):
                assert ours[column] == pytest.approx(theirs[column], rel=1e-9)
        # The best epoch's weights, restored, and the counters at the stop.
        assert_close(history.train_state.params, separate.train_state.params)
        assert_close(history.train_state.model_state, separate.train_state.model_state)
        assert int(history.train_state.step) == int(separate.train_state.step)
        assert int(history.train_state.epoch) == int(separate.train_state.epoch)
    assert len(lengths) > 1, "the members should stop at different epochs"


def test_jax_population_without_stopping_equals_the_numpy_population():
    require("jax")
    results = [
        fit_population(
            model_for(0),
            X,
            Y,
            members=MEMBERS,
            optimizer=optim.adam(schedule(0.01)),
            epochs=3,
            batch_size=32,
            seed=7,
            dev=DEV,
            backend=backend,
        )
        for backend in ("numpy", "jax")
    ]
    for ours, theirs in zip(results[0].histories, results[1].histories, strict=True):
        assert ours.epochs_run == theirs.epochs_run == 3
        assert_close(ours.train_state.params, theirs.train_state.params)
        np.testing.assert_allclose(ours.iterations, theirs.iterations, rtol=1e-10)


def test_population_refuses_a_monitor_it_does_not_compute():
    with pytest.raises(ValueError, match="Give a dev set"):
        fit_population(
            model_for(0),
            X,
            Y,
            members=MEMBERS[:2],
            optimizer=optim.adam(0.01),
            epochs=2,
            early_stopping=nntune.EarlyStopping("dev_cost", patience=1),
        )


def test_a_long_jax_population_runs_epochs_together_and_equals_numpy():
    require("jax")
    from nntune.training.compiled import EPOCHS_AT_ONCE

    results = [
        fit_population(
            model_for(0),
            X,
            Y,
            members=MEMBERS,
            optimizer=optim.adam(schedule(0.01)),
            epochs=EPOCHS_AT_ONCE + 2,
            batch_size=32,
            seed=7,
            dev=DEV,
            backend=backend,
        )
        for backend in ("numpy", "jax")
    ]
    for ours, theirs in zip(results[0].histories, results[1].histories, strict=True):
        assert ours.epochs_run == theirs.epochs_run == EPOCHS_AT_ONCE + 2
        assert_close(ours.train_state.params, theirs.train_state.params, tol=1e-9)
        np.testing.assert_allclose(ours.iterations, theirs.iterations, rtol=1e-9)
        rates = [row["learning_rate"] for row in theirs.epochs]
        assert rates == pytest.approx([row["learning_rate"] for row in ours.epochs])
