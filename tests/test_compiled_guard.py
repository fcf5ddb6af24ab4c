"""The JAX runner's steps run unguarded, and again guarded only after a divergence.

A guarded step keeps the old state when its cost is not finite; the select that
takes makes XLA copy the optimizer's moments at every step of a scan, so
:class:`~nntune.training.compiled.JaxRunner` runs its epochs without it and runs a
call again, guarded, only when one of its costs is not finite.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import nntune
from helpers import require
from nntune.data.batches import minibatch_indices
from nntune.optim import adam, gd
from nntune.training import TrainingDivergedError, fit

jax = require("jax")
compiled = importlib.import_module("nntune.training.compiled")
programs = importlib.import_module("nntune.training.programs")

DATA = nntune.load_dataset("moons", n_samples=150, seed=0)
X, Y = DATA.X, DATA.y


def rich_model():
    """Batch norm, dropout (the steps draw keys) and L2, in float64."""
    return nntune.mlp([8, 6], batch_norm=True, keep_prob=0.9, l2=0.1).init(
        2, seed=1, dtype="float64"
    )


def layouts(count, batch_size):
    found = []
    for epoch in range(count):
        rng = np.random.default_rng([5, epoch])
        rows = minibatch_indices(len(X), batch_size, rng, 2)
        found.append(compiled.layout(list(rows)))
    return found


def assert_same(left, right):
    flat_left, structure = jax.tree_util.tree_flatten(left)
    flat_right, other = jax.tree_util.tree_flatten(right)
    assert structure == other
    for a, b in zip(flat_left, flat_right, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=0)


@pytest.mark.parametrize("batch_size", [32, 150])  # scan + last batch; whole set
def test_an_unguarded_epoch_trains_what_a_guarded_one_trains(batch_size):
    model = rich_model()
    optimizer = adam(0.05)
    x, targets = model.prepare(X, Y)
    with jax.enable_x64(True):
        functions = compiled.compiled(jax, model, optimizer)
        state = jax.device_put(
            nntune.TrainState.create(model, optimizer, seed=5)._replace(epoch=None)
        )
        data = jax.device_put((x, targets))
        whole, index, rest = layouts(1, batch_size)[0]
        found = {
            guard: functions.run(
                state,
                0,
                jax.numpy.asarray(True),
                data,
                index,
                rest,
                data,  # a dev set evaluated inline
                whole=whole,
                evaluate=False,
                guard=guard,
            )
            for guard in (True, False)
        }
    assert int(found[False][0].step) == -(-len(X) // batch_size)  # every step taken
    assert_same(found[True], found[False])  # state, flag, costs, train and dev


def test_epochs_run_together_unguarded_train_what_guarded_ones_train():
    model = rich_model()
    optimizer = adam(0.05)
    x, targets = model.prepare(X, Y)
    plans = layouts(3, 32)
    with jax.enable_x64(True):
        functions = compiled.compiled(jax, model, optimizer)
        state = jax.device_put(
            nntune.TrainState.create(model, optimizer, seed=5)._replace(epoch=None)
        )
        found = {
            guard: functions.run_epochs(
                state,
                np.arange(3, dtype=np.int32),
                jax.numpy.asarray(True),
                jax.device_put((x, targets)),
                np.stack([plan[1] for plan in plans]),
                np.stack([plan[2] for plan in plans]),
                None,
                whole=False,
                full=True,
                guard=guard,
            )
            for guard in (True, False)
        }
    assert int(found[False][0].step) == 3 * 5
    assert_same(found[True], found[False])


def calls_by_guard(monkeypatch):
    """Record the ``guard`` of every compiled epoch call (run and run_epochs)."""
    guards = []
    real = programs.Shared.__call__

    def recording(self, *args, **static):
        if "whole" in static:  # an epoch or epochs, not a step or an evaluation
            guards.append(static.get("guard", True))
        return real(self, *args, **static)

    monkeypatch.setattr(programs.Shared, "__call__", recording)
    return guards


@pytest.mark.parametrize("epochs", [2, compiled.EPOCHS_AT_ONCE + 1])
def test_a_finite_run_never_runs_the_guarded_steps(monkeypatch, epochs):
    guards = calls_by_guard(monkeypatch)
    model = nntune.mlp([5]).init(2, seed=0, dtype="float64")
    fit(
        model,
        X,
        Y,
        optimizer=adam(0.01),
        epochs=epochs,
        batch_size=32,
        progress="silent",
        backend="jax",
    )
    assert guards  # the epochs were seen
    assert not any(guards)


@pytest.mark.parametrize("epochs", [1, 40])  # one epoch alone; epochs run together
def test_a_divergence_is_run_again_guarded_and_keeps_the_last_finite_step(
    monkeypatch, epochs
):
    targets = X.sum(axis=1) * 30.0
    found = {}
    for backend in ("numpy", "jax"):
        guards = calls_by_guard(monkeypatch)
        model = nntune.mlp([8], task="regression").init(2, seed=0, dtype="float64")
        with pytest.raises(TrainingDivergedError) as caught:
            fit(
                model,
                X,
                targets,
                optimizer=gd(0.06 if epochs > 1 else 3.0),
                epochs=epochs,
                batch_size=150 if epochs > 1 else 10,
                progress="silent",
                backend=backend,
            )
        found[backend] = (model, caught.value, guards)
    (numpy_model, numpy_error, _), (jax_model, jax_error, guards) = found.values()
    assert guards[-2:] == [False, True]  # the diverging call, then its replay
    assert (jax_error.epoch, jax_error.iteration) == (
        numpy_error.epoch,
        numpy_error.iteration,
    )
    for layer, tensors in numpy_model.params.items():
        for name, values in tensors.items():
            assert np.all(np.isfinite(jax_model.params[layer][name]))
            np.testing.assert_allclose(
                jax_model.params[layer][name], values, rtol=1e-10, atol=1e-12
            )
