from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.datasets import make_moons

import nntune
from nntune.optim import adam, gd, interval_decay, momentum
from nntune.training import (
    Callback,
    Checkpoint,
    EarlyStopping,
    History,
    ProgressBar,
    ReduceLROnPlateau,
    TrainingDivergedError,
    fit,
)

DATA = nntune.load_dataset("moons", n_samples=200, seed=0)
X, Y = DATA.X[:150], DATA.y[:150]
X_DEV, Y_DEV = DATA.X[150:], DATA.y[150:]


def rich_model(seed=1):
    return nntune.mlp([8, 6], batch_norm=True, keep_prob=0.9, l2=0.1).init(2, seed=seed)


def run(model, epochs=12, callbacks=(), optimizer=None, **kwargs):
    return fit(
        model,
        X,
        Y,
        optimizer=optimizer or adam(0.01),
        epochs=epochs,
        batch_size=32,
        dev=(X_DEV, Y_DEV),
        callbacks=callbacks,
        seed=5,
        progress="silent",
        **kwargs,
    )


def rows_without_time(history):
    return [{k: v for k, v in row.items() if k != "time"} for row in history.epochs]


def assert_same_trees(a, b):
    assert a.keys() == b.keys()
    for layer in a:
        for name in a[layer]:
            np.testing.assert_array_equal(a[layer][name], b[layer][name])


def test_history_records_iterations_and_epochs():
    history = run(rich_model(), epochs=4)
    assert history.epochs_run == 4
    assert len(history.iterations) == 4 * 5  # ceil(150 / 32) mini-batches per epoch
    row = history.epochs[-1]
    assert row["epoch"] == 4
    assert 0 <= row["train_accuracy"] <= 1
    assert 0 <= row["dev_accuracy"] <= 1
    assert row["learning_rate"] == pytest.approx(0.01)
    assert history.column("time") == sorted(history.column("time"))


def test_training_lowers_the_cost():
    history = run(rich_model(), epochs=30)
    assert history.epochs[-1]["train_cost"] < 0.7 * history.epochs[0]["train_cost"]


def test_same_seed_same_history_and_weights_bit_for_bit():
    first, second = rich_model(), rich_model()
    history_a, history_b = run(first), run(second)
    assert history_a.iterations == history_b.iterations
    assert rows_without_time(history_a) == rows_without_time(history_b)
    assert_same_trees(first.params, second.params)
    assert_same_trees(first.state, second.state)
    third = rich_model()
    fit(
        third,
        X,
        Y,
        optimizer=adam(0.01),
        epochs=12,
        batch_size=32,
        seed=6,
        progress="silent",
    )
    assert not np.array_equal(
        third.params["dense_0"]["W"], first.params["dense_0"]["W"]
    )


@pytest.mark.parametrize("batch_size", [1, 150, 1000])
def test_stochastic_and_batch_gradient_descent_extremes(batch_size):
    model = nntune.mlp([4]).init(2, seed=0)
    history = fit(
        model,
        X,
        Y,
        optimizer=gd(0.01),
        epochs=2,
        batch_size=batch_size,
        progress="silent",
    )
    assert len(history.iterations) == 2 * (150 if batch_size == 1 else 1)


class SimulatedKillError(Exception):
    pass


class KillAfter(Callback):
    order = 200  # after the checkpoint has been written

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch + 1 == self.epoch:
            raise SimulatedKillError


def callbacks_for(path):
    return [
        EarlyStopping("dev_accuracy", patience=1000),
        ReduceLROnPlateau("train_cost", patience=3, factor=0.5, min_delta=1.0),
        Checkpoint(path, every=4),
    ]


@pytest.mark.parametrize("killed_after", [5, 8, 12])
def test_resume_from_checkpoint_equals_the_uninterrupted_run(tmp_path, killed_after):
    schedule = interval_decay(0.02, decay_rate=1.0, interval=5)
    straight = rich_model()
    history = run(
        straight,
        epochs=20,
        optimizer=adam(schedule),
        callbacks=callbacks_for(tmp_path / "a"),
    )

    interrupted = rich_model()
    with pytest.raises(SimulatedKillError):
        run(
            interrupted,
            epochs=20,
            optimizer=adam(schedule),
            callbacks=[*callbacks_for(tmp_path / "b"), KillAfter(killed_after)],
        )
    resumed_model = rich_model()  # a new process would start from a fresh model
    resumed = run(
        resumed_model,
        epochs=20,
        optimizer=adam(schedule),
        callbacks=callbacks_for(tmp_path / "b"),
    )

    assert resumed.iterations == history.iterations
    assert rows_without_time(resumed) == rows_without_time(history)
    assert resumed.best_epoch == history.best_epoch
    assert_same_trees(resumed_model.params, straight.params)
    assert_same_trees(resumed_model.state, straight.state)
    # The plateau callback cut the rate: its state was resumed, not reset.
    assert history.epochs[-1]["learning_rate"] < 0.02 / 4


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    run(rich_model(), epochs=3, callbacks=[Checkpoint(tmp_path / "c", fingerprint="a")])
    with pytest.raises(ValueError, match="written by a run with other settings"):
        run(
            rich_model(),
            epochs=3,
            callbacks=[Checkpoint(tmp_path / "c", fingerprint="b")],
        )
    with pytest.raises(ValueError, match="does not fit this model"):
        fit(
            nntune.mlp([3]).init(2),
            X,
            Y,
            epochs=3,
            progress="silent",
            callbacks=[Checkpoint(tmp_path / "c", fingerprint="a")],
        )


def test_damaged_checkpoint_is_refused(tmp_path):
    run(rich_model(), epochs=2, callbacks=[Checkpoint(tmp_path / "c")])
    weights = tmp_path / "c.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ValueError, match="damaged or truncated"):
        run(rich_model(), epochs=2, callbacks=[Checkpoint(tmp_path / "c")])


def test_divergence_stops_with_the_epoch_and_keeps_finite_weights():
    model = nntune.mlp([8, 8], task="regression", activation="relu").init(2, seed=0)
    targets = X.sum(axis=1) * 1e3
    with pytest.raises(
        TrainingDivergedError,
        match=r"diverged in epoch \d+ .*Lower the "
        "learning rate",
    ) as caught:
        fit(
            model,
            X,
            targets,
            optimizer=gd(10.0),
            epochs=50,
            batch_size=150,
            progress="silent",
        )
    assert caught.value.epoch >= 1
    for arrays in model.params.values():
        assert all(np.all(np.isfinite(a)) for a in arrays.values())
    assert all(np.isfinite(caught.value.history.iterations))


def test_early_stopping_stops_and_restores_the_best_weights():
    model = nntune.mlp([30, 30]).init(2, seed=0)
    history = fit(
        model,
        X,
        Y,
        optimizer=adam(0.05),
        epochs=300,
        batch_size=150,
        dev=(X_DEV, Y_DEV),
        callbacks=[EarlyStopping(patience=5)],
        progress="silent",
    )
    assert history.epochs_run < 300
    best = history.best_epoch
    assert history.epochs_run == best + 5
    best_cost = history.epochs[best - 1]["dev_cost"]
    assert best_cost == min(history.column("dev_cost"))
    x, targets = model.prepare(X_DEV, Y_DEV)
    cost, _ = nntune.training.evaluate(model, model.params, model.state, x, targets)
    assert cost == pytest.approx(best_cost, rel=1e-6)


def test_early_stopping_without_a_dev_set_explains():
    with pytest.raises(ValueError, match="'dev_cost' is not computed in this run"):
        fit(
            nntune.mlp([3]).init(2),
            X,
            Y,
            epochs=2,
            callbacks=[EarlyStopping()],
            progress="silent",
        )


def test_reduce_on_plateau_cuts_the_learning_rate():
    history = fit(
        nntune.mlp([3]).init(2),
        X,
        Y,
        optimizer=momentum(0.1),
        epochs=9,
        batch_size=150,
        progress="silent",
        callbacks=[
            ReduceLROnPlateau("train_cost", patience=3, factor=0.5, min_delta=10.0)
        ],
    )
    rates = history.column("learning_rate")
    # Epoch 1 sets the best; epochs 2-4 fail to improve, so epoch 5 runs at half.
    assert rates == pytest.approx([0.1] * 4 + [0.05] * 3 + [0.025] * 2)


def test_plain_progress_lines_and_silence():
    stream = io.StringIO()
    fit(
        nntune.mlp([3]).init(2),
        X,
        Y,
        epochs=40,
        dev=(X_DEV, Y_DEV),
        callbacks=[ProgressBar("plain", stream=stream)],
    )
    lines = stream.getvalue().splitlines()
    assert len(lines) == 20
    assert lines[-1].startswith("epoch 40/40  train_cost ")
    assert "dev_accuracy" in lines[-1]


def test_history_exports(tmp_path):
    history = run(rich_model(), epochs=3)
    history.to_csv(tmp_path / "h.csv")
    history.to_json(tmp_path / "h.json")
    text = (tmp_path / "h.csv").read_text().splitlines()
    assert (
        text[0]
        == "epoch,train_cost,train_accuracy,dev_cost,dev_accuracy,learning_rate,time"
    )
    assert len(text) == 4
    import json

    again = History.from_dict(json.loads((tmp_path / "h.json").read_text()))
    assert again.to_dict() == history.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"progress": "loud"}, "progress must be"),
    ],
)
def test_bad_arguments(kwargs, message):
    options = {"epochs": 1, "batch_size": 8, "progress": "silent", **kwargs}
    with pytest.raises(ValueError, match=message):
        fit(nntune.mlp([3]).init(2), X, Y, **options)


@pytest.mark.slow
def test_course_optimization_lab_adam_beats_gd_and_interval_decay_rescues_gd():
    """The course's lab: make_moons(300, noise=0.2), 2-5-2-1 He network, batch 64."""
    X_lab, y_lab = make_moons(n_samples=300, noise=0.2, random_state=3)

    def train(optimizer, epochs):
        model = nntune.mlp([5, 2], init="he").init(2, seed=2)
        history = fit(
            model,
            X_lab,
            y_lab,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=64,
            seed=1,
            progress="silent",
        )
        return history.epochs[-1]

    plain = train(gd(0.0007), 3000)
    with_adam = train(adam(0.0007), 3000)
    assert with_adam["train_cost"] < plain["train_cost"] - 0.2
    assert with_adam["train_accuracy"] >= 0.9 > plain["train_accuracy"]
    rescued = train(gd(interval_decay(0.1, decay_rate=1.0, interval=1000)), 3000)
    assert rescued["train_accuracy"] >= 0.9
    assert rescued["train_cost"] < plain["train_cost"] - 0.2


def test_rich_progress_bar_draws_epochs_and_metrics():
    stream = io.StringIO()
    fit(
        nntune.mlp([3]).init(2),
        X,
        Y,
        epochs=5,
        dev=(X_DEV, Y_DEV),
        callbacks=[ProgressBar("rich", stream=stream)],
    )
    text = stream.getvalue()
    assert "5/5" in text
    assert "acc 0." in text


def test_batch_norm_trains_when_the_last_mini_batch_would_hold_one_example():
    model = nntune.mlp([4], batch_norm=True).init(2, seed=0)
    history = fit(model, X[:129], Y[:129], epochs=2, batch_size=64, progress="silent")
    assert len(history.iterations) == 4  # 64 + 65 per epoch
