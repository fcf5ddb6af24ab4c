"""The NumPy runner's epochs run several at once, packed throughout: the same run as
one epoch at a time (history, rates, dev metrics, weights, a divergence's state)."""

from __future__ import annotations

import numpy as np
import pytest

import nntune
from nntune import optim
from nntune.training import TrainingDivergedError, runners
from nntune.training.packed import Packing

DATA = nntune.load_dataset("moons", n_samples=260, seed=5)
X, Y, DEV = DATA.X[:200], DATA.y[:200], (DATA.X[200:], DATA.y[200:])
PACK_STATE = Packing.pack_state


def train(monkeypatch, grouped, model=None, **settings):
    monkeypatch.setattr(runners, "GROUP_ROWS", 10_000 if grouped else 0)
    packs = []

    def counted(self, state):
        packs.append(int(state.epoch))
        return PACK_STATE(self, state)

    monkeypatch.setattr(Packing, "pack_state", counted)
    if model is None:
        model = nntune.mlp([6, 4], keep_prob=0.9)
    model = model.init(2, seed=0, dtype="float64")
    outcome = {"packs": packs, "model": model}
    try:
        outcome["history"] = nntune.fit(model, progress="silent", **settings)
    except TrainingDivergedError as error:
        outcome["error"] = error
        outcome["history"] = error.history
    return outcome


def test_epochs_run_together_equal_epochs_run_one_at_a_time(monkeypatch):
    settings = dict(
        X=X,
        y=Y,
        dev=DEV,
        epochs=37,  # two blocks of 16, then five alone
        batch_size=64,
        optimizer=optim.adam(optim.inverse_time_decay(0.02, 0.3)),
    )
    alone = train(monkeypatch, grouped=False, **settings)
    together = train(monkeypatch, grouped=True, **settings)
    assert alone["packs"] == list(range(37))
    assert together["packs"] == [0, 16, 32, 33, 34, 35, 36]
    ours, theirs = together["history"], alone["history"]
    assert ours.iterations == theirs.iterations
    columns = ("train_cost", "train_accuracy", "dev_cost", "dev_accuracy")
    for mine, other in zip(ours.epochs, theirs.epochs, strict=True):
        for column in (*columns, "learning_rate", "epoch"):
            assert mine[column] == other[column], column
    rates = [row["learning_rate"] for row in ours.epochs]
    assert len(set(rates)) == 37  # one rate per epoch, not the block's last
    for layer, arrays in alone["model"].params.items():
        for name, array in arrays.items():
            assert np.array_equal(together["model"].params[layer][name], array)


def test_a_divergence_inside_a_block_keeps_its_last_finite_step(monkeypatch):
    settings = dict(
        X=X,
        y=X.sum(axis=1) * 30.0,
        epochs=40,
        batch_size=150,
        optimizer=optim.gd(0.15),
    )
    alone, together = (
        train(monkeypatch, grouped, nntune.mlp([8], task="regression"), **settings)
        for grouped in (False, True)
    )
    assert 2 < alone["error"].epoch < 16, "the test wants a divergence inside a block"
    assert together["error"].epoch == alone["error"].epoch
    # The block packed once, then its epochs up to the failing one were replayed.
    assert together["packs"] == [0, *range(alone["error"].epoch)]
    assert together["history"].iterations == alone["history"].iterations
    mine, other = together["history"].train_state, alone["history"].train_state
    assert int(mine.step) == int(other.step)
    assert int(mine.epoch) == int(other.epoch)
    for layer, arrays in other.params.items():
        for name, array in arrays.items():
            assert np.all(np.isfinite(array))
            assert np.array_equal(mine.params[layer][name], array)


@pytest.mark.parametrize("rows", [200, 20_000])
def test_only_short_epochs_run_together(rows):
    runner = runners.NumpyRunner(nntune.mlp([4]).init(2, seed=0), optim.adam(0.01))
    data = (np.zeros((rows, 2)), np.zeros((rows, 2)))
    expected = runners.EPOCHS_AT_ONCE if rows <= runners.GROUP_ROWS else 1
    assert runner.together(data, None, None, False) == expected
    assert runner.together(data, None, lambda x, rng: x, False) == 1  # augmented
