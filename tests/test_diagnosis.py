from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nntune.data.preprocessing import one_hot
from nntune.data.split import split_warnings, train_dev_test_split
from nntune.diagnosis import Thresholds, diagnose, diagnose_run

NNTUNE = str(Path(sys.executable).with_name("nntune"))


@pytest.mark.parametrize(
    ("human", "train", "dev", "verdict"),
    [
        (0.0, 0.01, 0.11, "high variance"),
        (0.0, 0.15, 0.16, "high bias"),
        (0.0, 0.15, 0.30, "high bias and high variance"),
        (0.0, 0.005, 0.01, "fine"),
        (0.15, 0.15, 0.16, "fine"),  # human error 15%: not high bias
    ],
)
def test_the_course_worked_examples(human, train, dev, verdict):
    report = diagnose(human_error=human, train_error=train, dev_error=dev)
    assert report.verdict == verdict
    assert report.avoidable_bias == pytest.approx(train - human)
    assert report.variance == pytest.approx(dev - train)


def test_remedies_follow_the_basic_recipe_in_order():
    variance = diagnose(train_error=0.01, dev_error=0.11)
    remedies = [r.remedy for r in variance.recommendations]
    assert remedies == ["more data", "L2 regularization", "dropout", "early stopping"]
    bias = diagnose(train_error=0.15, dev_error=0.16)
    assert [r.remedy for r in bias.recommendations][:2] == [
        "bigger network",
        "train longer",
    ]
    both = diagnose(train_error=0.15, dev_error=0.40)  # variance 25% > bias 15%
    assert both.problems == ("high variance", "high bias")
    assert diagnose(train_error=0.005, dev_error=0.01).recommendations == ()


def test_remedies_become_flags_from_the_run_settings():
    settings = {
        "layers": [10, 5],
        "epochs": 300,
        "l2": 0.7,
        "keep_prob": 0.9,
        "early_stopping": True,
    }
    flags = {
        r.remedy: r.flag
        for r in diagnose(
            train_error=0.01, dev_error=0.11, settings=settings
        ).recommendations
    }
    assert flags["L2 regularization"] == "--l2 3"  # half a decade up from 0.7
    assert flags["dropout"] == "--keep-prob 0.8"
    assert "early stopping" not in flags  # already on
    bias = diagnose(train_error=0.2, dev_error=0.21, settings=settings).recommendations
    assert bias[0].remedy == "weaker L2"
    assert {r.remedy: r.flag for r in bias}["bigger network"] == "--layers 20,10"
    assert {r.remedy: r.flag for r in bias}["train longer"] == "--epochs 600"


def test_train_dev_set_separates_variance_from_data_mismatch():
    report = diagnose(train_error=0.01, train_dev_error=0.015, dev_error=0.10)
    assert report.verdict == "data mismatch"
    assert report.variance == pytest.approx(0.005)
    assert report.data_mismatch == pytest.approx(0.085)
    assert report.recommendations[0].remedy == "error analysis"


def test_dev_set_overfit_is_noticed():
    report = diagnose(train_error=0.01, dev_error=0.02, test_error=0.08)
    assert report.problems == ("overfit to the dev set",)
    assert report.recommendations[0].remedy == "bigger dev set"


def test_thresholds_are_settable_and_explained():
    strict = diagnose(
        train_error=0.01, dev_error=0.02, thresholds=Thresholds(variance=0.005)
    )
    assert strict.verdict == "high variance"
    assert "high above 0.5%" in str(strict)
    assert diagnose(train_error=0.01, dev_error=0.02).verdict == "fine"
    with pytest.raises(ValueError, match="the bias threshold must be a fraction"):
        Thresholds(bias=2)


def test_errors_must_be_fractions():
    with pytest.raises(ValueError, match=r"train_error must be a fraction .* got 11"):
        diagnose(train_error=11, dev_error=0.2)


def run_cli(*args):
    return subprocess.run(
        [NNTUNE, "diagnose", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cli_from_numbers_acceptance():
    result = run_cli(
        "--human-error", "0", "--train-error", "0.01", "--dev-error", "0.11", "--json"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["verdict"] == "high variance"
    assert document["avoidable_bias"] == pytest.approx(0.01)
    assert document["variance"] == pytest.approx(0.10)
    remedies = {item["remedy"] for item in document["recommendations"]}
    assert {"L2 regularization", "dropout"} <= remedies


def test_cli_readable_output_and_usage_errors():
    result = run_cli("--train-error", "0.15", "--dev-error", "0.16")
    assert result.returncode == 0
    assert "high bias" in result.stdout
    assert "bigger network" in result.stdout
    missing = run_cli("--train-error", "0.1")
    assert missing.returncode == 2
    assert "--dev-error" in missing.stderr


def test_cli_from_a_run_directory(tmp_path):
    train = subprocess.run(
        [NNTUNE, "train", "--epochs", "20", "--out", "r", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert train.returncode == 0, train.stderr
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["diagnosis"]["verdict"] in {
        "high bias",
        "high variance",
        "high bias and high variance",
        "fine",
    }
    result = run_cli(str(tmp_path / "r"), "--human-error", "0.05", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["human_error"] == 0.05
    assert document["train_error"] == pytest.approx(1 - metrics["train"]["accuracy"])
    report = diagnose_run(tmp_path / "r")
    assert report.test_error == pytest.approx(1 - metrics["test"]["accuracy"])
    with pytest.raises(ValueError, match=r"has no metrics\.json"):
        diagnose_run(tmp_path)


def test_split_with_a_train_dev_set():
    y = np.repeat([0, 1], [600, 400])
    split = train_dev_test_split(y, train_dev=0.1, seed=0)
    sizes = [len(split.train), len(split.train_dev), len(split.dev), len(split.test)]
    assert sizes == [500, 100, 200, 200]
    together = np.concatenate([split.train, split.train_dev, split.dev, split.test])
    assert len(np.unique(together)) == 1000
    assert abs(np.mean(y[split.train_dev]) - 0.4) <= 0.01


def test_split_warnings():
    assert split_warnings(np.arange(200) % 2, np.arange(200) % 2) == []
    small = split_warnings(np.arange(50) % 2, np.arange(200) % 2)
    assert len(small) == 1
    assert "the dev set has 50 examples" in small[0]
    skewed = split_warnings(np.zeros(200, dtype=int), np.arange(200) % 2)
    assert (
        "different distributions: class 0 is 100% of dev but 50% of test" in skewed[0]
    )
    rng = np.random.default_rng(0)
    shifted = split_warnings(
        np.arange(200) % 2,
        np.arange(200) % 2,
        rng.normal(0, 1, (200, 3)),
        rng.normal(2, 1, (200, 3)),
    )
    assert "feature" in shifted[0]


def test_one_hot():
    np.testing.assert_array_equal(one_hot(np.array([1, 0, 2])), np.eye(3)[[1, 0, 2]])
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.1"):
        one_hot(np.array([0, 2]), 2)


def test_a_gap_equal_to_the_threshold_is_not_high():
    report = diagnose(train_error=0.08, dev_error=0.10, human_error=0.075)
    assert report.variance == 0.02
    assert "high variance" not in report.problems


def test_gaps_within_sampling_noise_are_not_high():
    small = diagnose(
        train_error=0.02, dev_error=0.05, examples={"train": 180, "dev": 60}
    )
    assert small.verdict == "fine"
    assert "sampling noise" in small.explanation[1]
    large = diagnose(
        train_error=0.02, dev_error=0.05, examples={"train": 18_000, "dev": 6_000}
    )
    assert large.verdict == "high variance"
    noisy_test = diagnose(
        train_error=0.01,
        dev_error=0.02,
        test_error=0.045,
        examples={"dev": 80, "test": 80},
    )
    assert "overfit to the dev set" not in noisy_test.problems


def test_unhealthy_gradients_put_the_initialization_first():
    report = diagnose(
        train_error=0.5,
        dev_error=0.5,
        gradient_health=("symmetric", ["zeros: use he"]),
        settings={"init": "zeros", "activation": "relu"},
    )
    assert report.problems[0] == "gradients symmetric"
    first = report.recommendations[0]
    assert (first.remedy, first.flag) == ("fix the initialization", "--init he")
    tanh = diagnose(
        train_error=0.5,
        dev_error=0.5,
        gradient_health=("saturated", []),
        settings={"init": "random:10", "activation": "tanh"},
    )
    assert tanh.recommendations[0].flag == "--init xavier"
    healthy = diagnose(train_error=0.5, dev_error=0.5, gradient_health=("healthy", []))
    assert healthy.problems == ("high bias",)


def test_optimization_advice_depends_on_the_optimizer():
    def flag(optimizer):
        report = diagnose(
            train_error=0.2, dev_error=0.21, settings={"optimizer": optimizer}
        )
        return {r.remedy: r.flag for r in report.recommendations}.get(
            "better optimization"
        )

    assert flag("gd") == "--optimizer adam"
    assert flag("adam") is None  # tune its learning rate instead of adding decay
