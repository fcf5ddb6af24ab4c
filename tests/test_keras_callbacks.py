"""Callbacks written for Keras, ``on_epoch_end(epoch, logs)``, work in ``fit``."""

from __future__ import annotations

import pytest

import nntune
from nntune.training.callback_adapter import KerasStyleCallback, as_callback


class Recorder:
    """Written as for Keras: no nntune base class, no trainer argument."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", logs))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, logs["train_cost"]))
        logs["train_cost"] = -1.0  # a copy: the history keeps its value

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", logs["epoch"]))


def test_a_keras_style_callback_gets_each_epoch_and_its_logs():
    data = nntune.load_dataset("moons", n_samples=64)
    model = nntune.mlp([4]).init(2, seed=0)
    recorder = Recorder()
    history = nntune.fit(
        model,
        data.X,
        data.y,
        epochs=3,
        batch_size=32,
        callbacks=[recorder],
        progress="silent",
    )
    costs = history.column("train_cost")
    assert min(costs) > 0
    assert recorder.calls == [
        ("train_begin", {}),
        ("epoch_begin", 0),
        ("epoch_end", 0, costs[0]),
        ("epoch_begin", 1),
        ("epoch_end", 1, costs[1]),
        ("epoch_begin", 2),
        ("epoch_end", 2, costs[2]),
        ("train_end", 3),  # the last epoch's logs (epochs counted from 1 there)
    ]


def test_either_form_is_recognised_by_its_arguments():
    class OnlyEnd:
        def on_train_end(self, logs=None): ...

    class NntuneForm:  # nntune's hooks without the base class: passed as it is
        order = 0

        def on_train_begin(self, trainer): ...

    assert isinstance(as_callback(OnlyEnd()), KerasStyleCallback)
    duck = NntuneForm()
    assert as_callback(duck) is duck
    plateau = nntune.ReduceLROnPlateau()
    assert as_callback(plateau) is plateau


def test_an_object_of_neither_form_is_a_type_error():
    class Wrong:
        def on_epoch_end(self, a, b, c, d): ...

    with pytest.raises(TypeError, match=r"has on_epoch_end\(a, b, c, d\), which"):
        as_callback(Wrong())

    class Unordered:
        def on_epoch_end(self, trainer, epoch, logs): ...

    with pytest.raises(TypeError, match=r"has nntune's hooks.*subclass nntune\.Call"):
        as_callback(Unordered())
    with pytest.raises(TypeError, match=r"got int 3, which has none\. Expected nntune"):
        nntune.fit(
            nntune.mlp([2]).init(2, seed=0),
            [[0.0, 1.0], [1.0, 0.0]],
            [0, 1],
            epochs=1,
            callbacks=[3],
            progress="silent",
        )
