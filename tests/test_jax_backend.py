"""The JAX backend trains what the NumPy backend trains (float64: to rounding)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import nntune
from helpers import require
from nntune.optim import adam, gd, interval_decay, momentum
from nntune.training import (
    Checkpoint,
    EarlyStopping,
    ReduceLROnPlateau,
    TrainingDivergedError,
    fit,
)

require("jax")
compiled = importlib.import_module("nntune.training.compiled")
programs = importlib.import_module("nntune.training.programs")
evaluation = importlib.import_module("nntune.training.evaluation")

DATA = nntune.load_dataset("moons", n_samples=200, seed=0)
X, Y = DATA.X[:150], DATA.y[:150]
X_DEV, Y_DEV = DATA.X[150:], DATA.y[150:]


def rich_model():
    return nntune.mlp([8, 6], batch_norm=True, keep_prob=0.9, l2=0.1).init(
        2, seed=1, dtype="float64"
    )


def both(make_model, **options):
    """Train a fresh model on each backend; return {backend: (model, history)}."""
    found = {}
    for backend in ("numpy", "jax"):
        model = make_model()
        history = fit(
            model, X, Y, progress="silent", seed=5, backend=backend, **options
        )
        found[backend] = (model, history)
    return found


def assert_close_trees(a, b, tol=1e-10):
    assert a.keys() == b.keys()
    for layer in a:
        assert a[layer].keys() == b[layer].keys()
        for name in a[layer]:
            np.testing.assert_allclose(a[layer][name], b[layer][name], atol=tol)


def assert_close_histories(a, b, tol=1e-10):
    assert len(a.epochs) == len(b.epochs)
    for left, right in zip(a.epochs, b.epochs, strict=True):
        assert left.keys() == right.keys()
        for key in left:
            if key != "time" and left[key] is not None:
                assert right[key] == pytest.approx(left[key], abs=tol, rel=tol), key
    np.testing.assert_allclose(a.iterations, b.iterations, rtol=tol)


def test_jax_equals_numpy_with_batch_norm_dropout_l2_and_callbacks(tmp_path):
    callbacks = {
        backend: [
            EarlyStopping("dev_cost", patience=4),
            ReduceLROnPlateau("train_cost", patience=2, factor=0.5, min_delta=1.0),
            Checkpoint(tmp_path / backend, every=3),
        ]
        for backend in ("numpy", "jax")
    }
    found = {}
    for backend in ("numpy", "jax"):
        model = rich_model()
        history = fit(
            model,
            X,
            Y,
            optimizer=adam(interval_decay(0.05, decay_rate=0.5, interval=3)),
            epochs=25,
            batch_size=32,  # 150 rows: 4 batches of 32 and one of 22
            dev=(X_DEV, Y_DEV),
            callbacks=callbacks[backend],
            seed=5,
            progress="silent",
            backend=backend,
        )
        found[backend] = (model, history)
    (numpy_model, numpy_history), (jax_model, jax_history) = found.values()
    assert_close_histories(numpy_history, jax_history)
    assert numpy_history.best_epoch == jax_history.best_epoch
    assert_close_trees(numpy_model.params, jax_model.params)
    assert_close_trees(numpy_model.state, jax_model.state)
    # The callbacks acted: the rate was cut and the best weights restored.
    assert jax_history.epochs[-1]["learning_rate"] < 0.05 * 0.5
    # The model gets NumPy arrays of its own, writable.
    weights = jax_model.params["dense_0"]["W"]
    assert type(weights) is np.ndarray
    assert weights.flags.writeable
    assert weights.dtype == np.float64


@pytest.mark.parametrize(
    "batch_size",
    [1, 16, 150, 149],  # SGD, scan + the last batch, the whole set, one joined batch
)
def test_every_batch_layout_trains_the_same(batch_size):
    def no_batch_norm():  # batch norm cannot train on one example
        return nntune.mlp([8, 6], keep_prob=0.9, l2=0.1).init(2, 1, "float64")

    found = both(
        rich_model if batch_size > 1 else no_batch_norm,
        optimizer=momentum(0.05, beta=0.9),
        epochs=2,
        batch_size=batch_size,
    )
    (numpy_model, numpy_history), (jax_model, jax_history) = found.values()
    assert_close_histories(numpy_history, jax_history)
    assert_close_trees(numpy_model.params, jax_model.params)


def test_augmentation_draws_the_same_on_both_backends():
    def jitter(batch, rng):
        return batch + rng.normal(0.0, 0.1, size=batch.shape)

    found = both(rich_model, epochs=3, batch_size=32, augment=jitter)
    (numpy_model, numpy_history), (jax_model, jax_history) = found.values()
    assert_close_histories(numpy_history, jax_history)
    assert_close_trees(numpy_model.params, jax_model.params)


def test_large_sets_are_evaluated_in_chunks_as_on_numpy(monkeypatch):
    monkeypatch.setattr(compiled, "EVALUATION_ROWS", 40)
    monkeypatch.setattr(evaluation, "EVALUATION_ROWS", 40)
    found = both(rich_model, epochs=2, batch_size=32, dev=(X_DEV, Y_DEV))
    (_, numpy_history), (_, jax_history) = found.values()
    assert_close_histories(numpy_history, jax_history)


def test_divergence_keeps_the_last_finite_weights_as_on_numpy():
    targets = X.sum(axis=1) * 1e3
    found = {}
    for backend in ("numpy", "jax"):
        model = nntune.mlp([8, 8], task="regression").init(2, seed=0, dtype="float64")
        with pytest.raises(TrainingDivergedError) as caught:
            fit(
                model,
                X,
                targets,
                optimizer=gd(10.0),
                epochs=50,
                batch_size=40,
                progress="silent",
                backend=backend,
            )
        found[backend] = (model, caught.value)
    (numpy_model, numpy_error), (jax_model, jax_error) = found.values()
    assert (jax_error.epoch, jax_error.iteration) == (
        numpy_error.epoch,
        numpy_error.iteration,
    )
    assert_close_trees(numpy_model.params, jax_model.params)
    for arrays in jax_model.params.values():
        assert all(np.all(np.isfinite(a)) for a in arrays.values())


def test_float32_stays_float32_and_agrees_to_its_precision():
    def model32():
        return nntune.mlp([8, 6]).init(2, seed=1)

    found = both(model32, epochs=5, batch_size=32)
    (numpy_model, numpy_history), (jax_model, jax_history) = found.values()
    assert jax_model.params["dense_0"]["W"].dtype == np.float32
    assert_close_trees(numpy_model.params, jax_model.params, tol=1e-4)
    assert jax_history.epochs[-1]["train_cost"] == pytest.approx(
        numpy_history.epochs[-1]["train_cost"], rel=1e-4
    )


def test_a_second_fit_of_the_same_pair_compiles_nothing(monkeypatch):
    built = []
    real = programs._Compiled

    def counting(*args):
        built.append(args)
        return real(*args)

    monkeypatch.setattr(programs, "_Compiled", counting)
    optimizer = adam(0.01)
    model = nntune.mlp([5]).init(2, seed=3, dtype="float64")
    for _ in range(2):
        fit(
            model, X, Y, optimizer=optimizer, epochs=1, progress="silent", backend="jax"
        )
    assert len(built) == 1
    other = nntune.mlp([6]).init(2, seed=3, dtype="float64")  # another architecture
    fit(other, X, Y, optimizer=optimizer, epochs=1, progress="silent", backend="jax")
    assert len(built) == 2


def test_bad_backend_and_missing_jax_say_what_to_do(monkeypatch):
    model = nntune.mlp([4]).init(2)
    with pytest.raises(ValueError, match=r"backend must be one of \('numpy', 'jax'\)"):
        fit(model, X, Y, epochs=1, progress="silent", backend="torch")
    real_import = importlib.import_module

    def without_jax(name, *args):
        if name == "jax":
            raise ModuleNotFoundError("No module named 'jax'")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_jax)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "nntune\[jax\]"'):
        fit(model, X, Y, epochs=1, progress="silent", backend="jax")


def test_the_train_command_runs_on_jax_and_continues_on_numpy(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    nntune_command = str(Path(sys.executable).with_name("nntune"))
    common = ["--data", "moons", "--layers", "6", "--dtype", "float64", "--quiet"]
    for backend in ("numpy", "jax"):
        done = subprocess.run(
            [
                nntune_command,
                "train",
                *common,
                "--epochs",
                "20",
                "--backend",
                backend,
                "--out",
                str(tmp_path / backend),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert 'backend = "jax"' in (tmp_path / "jax" / "config.toml").read_text()
    numpy_model = nntune.load_model(tmp_path / "numpy" / "model")
    jax_model = nntune.load_model(tmp_path / "jax" / "model")
    assert_close_trees(numpy_model.params, jax_model.params)
    # The backend is not part of the run's identity: the JAX run continues on NumPy.
    done = subprocess.run(
        [
            nntune_command,
            "resume",
            str(tmp_path / "jax"),
            "--epochs",
            "25",
            "--backend",
            "numpy",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    resumed = nntune.load_model(tmp_path / "jax" / "model")
    dense = next(name for name in resumed.params if "W" in resumed.params[name])
    assert not np.allclose(resumed.params[dense]["W"], jax_model.params[dense]["W"])


def test_trials_that_differ_in_state_values_share_the_compiled_programs(monkeypatch):
    import jax

    compiles = []
    real_compile = jax.stages.Lowered.compile

    def counting(self, *args, **kwargs):
        compiles.append(self)
        return real_compile(self, *args, **kwargs)

    monkeypatch.setattr(jax.stages.Lowered, "compile", counting)
    programs._EXECUTABLES.clear()
    models = {}
    for rate in (0.01, 0.03):
        model = nntune.mlp([5], keep_prob=0.9).init(2, seed=3, dtype="float64")
        fit(
            model,
            X,
            Y,
            optimizer=adam(rate),
            epochs=2,
            progress="silent",
            backend="jax",
            hyperparams={"l2": rate},
        )
        models[rate] = model
        if rate == 0.01:
            compiled_programs = len(compiles)
    assert compiled_programs > 0
    assert len(compiles) == compiled_programs  # the second trial compiled nothing
    # ... and the second trial trained with its own rate and l2, as NumPy does.
    alone = nntune.mlp([5], keep_prob=0.9).init(2, seed=3, dtype="float64")
    fit(
        alone,
        X,
        Y,
        optimizer=adam(0.03),
        epochs=2,
        progress="silent",
        hyperparams={"l2": 0.03},
    )
    assert_close_trees(alone.params, models[0.03].params)


def test_data_read_from_a_file_as_needed_is_refused_with_what_to_do(tmp_path):
    from nntune.data import open_mapped

    rows = np.random.default_rng(0).normal(size=(5000, 2))
    np.save(tmp_path / "X.npy", rows)
    labels = (rows[:, 0] > 0).astype(int)
    model = nntune.mlp([4]).init(2)
    with pytest.raises(ValueError, match="backend='jax' moves the training data"):
        fit(
            model,
            open_mapped(tmp_path / "X.npy"),
            labels,
            epochs=1,
            progress="silent",
            backend="jax",
        )


def test_epochs_run_together_equal_numpy_epoch_by_epoch():
    from nntune.training.compiled import EPOCHS_AT_ONCE

    epochs = EPOCHS_AT_ONCE + 3  # one block of epochs at once, then three alone
    found = both(
        rich_model,
        optimizer=adam(interval_decay(0.05, decay_rate=0.5, interval=2)),
        epochs=epochs,
        batch_size=32,
        dev=(X_DEV, Y_DEV),
    )
    (numpy_model, numpy_history), (jax_model, jax_history) = found.values()
    assert jax_history.epochs_run == epochs
    assert_close_histories(numpy_history, jax_history)
    assert_close_trees(numpy_model.params, jax_model.params)
    for state in (numpy_history.train_state, jax_history.train_state):
        assert int(state.epoch) == epochs
    assert int(jax_history.train_state.step) == int(numpy_history.train_state.step)
    rates = [row["learning_rate"] for row in jax_history.epochs]
    assert rates == pytest.approx(
        [row["learning_rate"] for row in numpy_history.epochs]
    )
    assert len(set(rates)) > 5  # the schedule moved within the block


def test_a_divergence_inside_epochs_run_together_keeps_its_epoch():
    targets = X.sum(axis=1) * 30.0
    found = {}
    for backend in ("numpy", "jax"):
        model = nntune.mlp([8], task="regression").init(2, seed=0, dtype="float64")
        with pytest.raises(TrainingDivergedError) as caught:
            fit(
                model,
                X,
                targets,
                optimizer=gd(0.06),
                epochs=40,
                batch_size=150,
                progress="silent",
                backend=backend,
            )
        found[backend] = caught.value
    numpy_error, jax_error = found["numpy"], found["jax"]
    assert 2 < numpy_error.epoch < 16, "the test wants a divergence inside the block"
    assert jax_error.epoch == numpy_error.epoch
    numpy_state = numpy_error.history.train_state
    jax_state = jax_error.history.train_state
    assert int(jax_state.epoch) == int(numpy_state.epoch)
    assert int(jax_state.step) == int(numpy_state.step)


def test_a_passive_callback_may_not_stop_epochs_run_together():
    class Stopper(nntune.training.Callback):
        reads_state = False

        def on_epoch_end(self, trainer, epoch, logs):
            trainer.stop("planted")

    model = nntune.mlp([4]).init(2, seed=0)
    with pytest.raises(RuntimeError, match="reads_state = False stopped training"):
        fit(
            model,
            X,
            Y,
            epochs=20,
            progress="silent",
            backend="jax",
            callbacks=[Stopper()],
        )


def test_a_search_forks_numpy_workers_after_jax_ran_and_refuses_jax_workers(tmp_path):
    from nntune.tuning import tune

    fit(nntune.mlp([3]).init(2), X, Y, epochs=1, progress="silent", backend="jax")
    space = {
        "base": {"data": "moons", "n_samples": 120, "layers": [4], "epochs": 2},
        "space": {
            "learning_rate": {"log": [1e-3, 0.1]},
            "batch_size": {"pow2": [16, 64]},
        },
    }
    # JAX is loaded and running in this process: forking NumPy workers is quiet
    # (pytest turns warnings into errors) and works.
    study = tune(space, study=tmp_path / "s", trials=2, workers=2)
    assert [t.state for t in study.trials] == ["complete", "complete"]
    on_jax = {**space, "base": {**space["base"], "backend": "jax"}}
    with pytest.raises(ValueError, match="cannot run in 2 forked local workers"):
        tune(on_jax, study=tmp_path / "j", trials=2, workers=2)
