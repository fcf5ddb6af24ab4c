"""A run knows its data (names, target, task, fingerprint); predict and evaluate use it.

Each test is a case that once gave a wrong answer without a word.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nntune
from nntune import TrainConfig
from nntune.experiment.rundir import run_training
from nntune.inference import load_run_model, predict
from nntune.training import CheckpointError

NNTUNE = str(Path(sys.executable).with_name("nntune"))


def write_csv(path, header, rows):
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = 3 * X[:, 0] - 2 * X[:, 2] + 0.1 * rng.normal(size=300)
    data = write_csv(
        folder / "houses.csv",
        ["rooms", "price", "age", "area"],
        [[a, t, b, c] for (a, b, c), t in zip(X, y, strict=True)],
    )
    config = TrainConfig(
        data=str(data),
        target="price",
        task="regression",
        layers=(16,),
        epochs=60,
        learning_rate=0.01,
        out=str(folder / "run"),
    )
    result = run_training(config, progress="silent")
    return folder, result


def cli(*args, cwd):
    return subprocess.run(
        [NNTUNE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_run_records_what_it_trained_on(regression_run):
    _, result = regression_run
    data = result.metrics["data"]
    assert data["target"] == "price"
    assert data["task"] == "regression"
    assert data["feature_names"] == ["rooms", "age", "area"]
    assert len(data["fingerprint"]) == 16
    model = load_run_model(result.run_dir)
    assert model.metadata["feature_names"] == ["rooms", "age", "area"]
    assert model.metadata["target"] == "price"
    assert model.metadata["data_fingerprint"] == data["fingerprint"]


def test_predict_matches_columns_by_name(regression_run, tmp_path):
    folder, result = regression_run
    with (folder / "houses.csv").open() as file:
        rows = list(csv.reader(file))[1:6]
    ordered = write_csv(
        tmp_path / "ordered.csv",
        ["rooms", "age", "area"],
        [[r[0], r[2], r[3]] for r in rows],
    )
    shuffled = write_csv(
        tmp_path / "shuffled.csv",
        ["area", "rooms", "price", "age"],
        [[r[3], r[0], r[1], r[2]] for r in rows],
    )
    first = cli(
        "predict",
        str(result.run_dir),
        "--input",
        str(ordered),
        "--output",
        "a.csv",
        cwd=tmp_path,
    )
    second = cli(
        "predict",
        str(result.run_dir),
        "--input",
        str(shuffled),
        "--output",
        "b.csv",
        cwd=tmp_path,
    )
    assert first.returncode == second.returncode == 0, second.stderr
    assert "matched by name" in second.stderr
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    renamed = write_csv(
        tmp_path / "renamed.csv",
        ["rooms", "years", "area"],
        [[r[0], r[2], r[3]] for r in rows],
    )
    refused = cli(
        "predict",
        str(result.run_dir),
        "--input",
        str(renamed),
        "--output",
        "c.csv",
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "lacks the feature column(s) ['age']" in refused.stderr
    assert "['years'] the model was not trained on" in refused.stderr
    assert not (tmp_path / "c.csv").exists()


def test_evaluate_uses_the_models_task_and_target(regression_run, tmp_path):
    folder, result = regression_run
    evaluated = cli(
        "evaluate",
        str(result.run_dir),
        "--data",
        str(folder / "houses.csv"),
        "--json",
        cwd=tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    document = json.loads(evaluated.stdout)
    model = load_run_model(result.run_dir)
    data = nntune.load_file(folder / "houses.csv", target="price", task="regression")
    residual = model.predict(data.X)[:, 0] - data.y
    assert document["mean_squared_error"] == pytest.approx(
        np.mean(residual**2), rel=1e-5
    )
    assert "accuracy" not in document


def test_changed_data_are_not_resumed(tmp_path):
    data = write_csv(
        tmp_path / "d.csv", ["a", "b", "y"], [[i, i % 3, i % 2] for i in range(60)]
    )
    config = TrainConfig(data=str(data), layers=(3,), epochs=3, out=str(tmp_path / "r"))
    run_training(config, progress="silent")
    write_csv(data, ["a", "b", "y"], [[i, i % 5, i % 2] for i in range(60)])
    with pytest.raises(CheckpointError, match="other data"):
        run_training(config, progress="silent")


def test_a_nan_model_refuses_to_predict(regression_run, tmp_path):
    _, result = regression_run
    model = load_run_model(result.run_dir)
    model.params["dense_1"]["W"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"weights \['dense_1/W'\] hold NaN"):
        predict(model, np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"target": "y"}, "does not apply to the built-in dataset 'moons'"),
        ({"data": "x.csv", "n_samples": 5}, "does not apply to a data file"),
        ({"optimizer": "gd", "beta2": 0.99}, "used only when optimizer is"),
        ({"decay_rate": 0.5}, "used only when decay is"),
        ({"patience": 3}, "used only when early_stopping is True"),
    ],
)
def test_settings_that_do_not_apply_are_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings).check_applicable()


def test_train_says_what_it_guessed(tmp_path):
    data = write_csv(
        tmp_path / "d.csv",
        ["a", "b", "kind"],
        [[i, i % 3, ["x", "y", "z"][i % 3]] for i in range(90)],
    )
    result = cli(
        "train", "--data", str(data), "--epochs", "2", "--out", "r", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "target 'kind', multiclass with 3 classes (x, y, z)" in result.stdout
    assert "2 features (a, b)" in result.stdout


def test_class_names_that_do_not_fit_the_output_are_refused(tmp_path):
    model = nntune.mlp([3], task="multiclass", outputs=3).init(2)
    model.metadata = {"class_names": ["a", "b"]}
    with pytest.raises(ValueError, match=r"lists class names \['a', 'b'\], but"):
        predict(model, np.zeros((1, 2)))
