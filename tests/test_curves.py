from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nntune import TrainConfig
from nntune.curves import learning_curve, validation_curve

NNTUNE = str(Path(sys.executable).with_name("nntune"))
CONFIG = TrainConfig(data="moons", n_samples=400, layers=(16, 8), epochs=60, seed=2)


def test_learning_curve_trains_on_growing_nested_subsets():
    curve = learning_curve(CONFIG, sizes=(0.1, 0.5, 1.0))
    counts = [point.train_examples for point in curve.points]
    assert counts == [24, 120, 240]  # 60% of 400 examples train
    assert [point.x for point in curve.points] == counts
    # More data: the dev error of the smallest subset is the worst.
    assert curve.points[0].dev_error > curve.points[-1].dev_error
    assert all(0 <= p.train_error <= 1 and 0 <= p.dev_error <= 1 for p in curve.points)


def test_validation_curve_over_l2_uses_a_log_axis():
    curve = validation_curve(CONFIG, "l2", [0.0, 0.1, 30.0])
    assert curve.log_scale
    assert [p.x for p in curve.points] == [0.0, 0.1, 30.0]
    # A huge penalty underfits: training error rises.
    assert curve.points[-1].train_error > curve.points[0].train_error
    assert curve.best().dev_error == min(p.dev_error for p in curve.points)


def test_curve_points_are_real_training_runs_with_the_same_seed():
    a = validation_curve(CONFIG, "keep_prob", [0.8])
    b = validation_curve(CONFIG, "keep_prob", [0.8])
    assert a.points == b.points


def test_plot_and_table(tmp_path):
    curve = validation_curve(CONFIG, "l2", [0.0, 1.0])
    path = curve.plot(tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "train error" in curve.table().splitlines()[0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: learning_curve(CONFIG, sizes=(0.0, 1.0)), r"fractions in \(0, 1\]"),
        (lambda: validation_curve(CONFIG, "layers", [1]), "cannot vary 'layers'"),
        (lambda: validation_curve(CONFIG, "l2", []), "at least one value"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_cli_validation_curve_json_and_plot(tmp_path):
    result = subprocess.run(
        [
            NNTUNE,
            "curves",
            "validation",
            "--param",
            "l2",
            "--values",
            "0,1",
            "--data",
            "moons",
            "--epochs",
            "20",
            "--plot",
            "v.png",
            "--json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["parameter"] == "l2"
    assert [p["x"] for p in document["points"]] == [0.0, 1.0]
    assert (tmp_path / "v.png").exists()


def test_cli_usage_errors(tmp_path):
    result = subprocess.run(
        [NNTUNE, "curves", "validation", "--param", "l2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "needs --param and --values" in result.stderr
