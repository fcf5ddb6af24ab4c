"""End-to-end tests of ``nntune evaluate``, ``predict`` and ``export`` on a real run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import nntune
from helpers import require
from nntune.cli import main
from nntune.data.features import load_features

NNTUNE = str(Path(sys.executable).with_name("nntune"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NNTUNE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("use")
    result = run(
        "train",
        "--data",
        "iris",
        "--layers",
        "8",
        "--epochs",
        "60",
        "--out",
        "r",
        "--quiet",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    return folder


def test_evaluate_reports_accuracy_and_confusion(trained):
    result = run("evaluate", "r", "--data", "iris", "--json", cwd=trained)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["examples"] == 150
    matrix = np.array(document["confusion_matrix"])
    assert matrix.sum() == 150
    assert np.trace(matrix) / 150 == pytest.approx(document["accuracy"])
    assert document["class_names"] == ["setosa", "versicolor", "virginica"]
    readable = run("evaluate", "r", "--data", "iris", cwd=trained)
    assert "Confusion matrix" in readable.stdout


def test_evaluate_maps_class_names_of_a_file(trained):
    data = nntune.load_dataset("iris")
    keep = data.y > 0  # a file without setosa: its own codes would start at 0
    subset = nntune.Dataset(
        "part", data.X[keep], data.y[keep], "multiclass", data.class_names, ""
    )
    nntune.save_file(subset, None, trained / "part.npz")
    result = run("evaluate", "r", "--data", "part.npz", "--json", cwd=trained)
    assert result.returncode == 0, result.stderr
    matrix = np.array(json.loads(result.stdout)["confusion_matrix"])
    assert matrix[0].sum() == 0
    assert matrix[1:].sum() == 100


def test_predict_writes_names_and_probabilities(trained):
    data = nntune.load_dataset("iris")
    nntune.save_file(data, None, trained / "iris.csv")
    result = run(
        "predict",
        "r",
        "--input",
        "iris.csv",
        "--output",
        "out.csv",
        "--json",
        cwd=trained,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predictions"] == 150
    with (trained / "out.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert set(rows[0]) == {"prediction", "p_setosa", "p_versicolor", "p_virginica"}
    assert {row["prediction"] for row in rows} <= {"setosa", "versicolor", "virginica"}
    for row in rows[:5]:
        total = sum(float(row[k]) for k in row if k.startswith("p_"))
        assert total == pytest.approx(1.0, abs=1e-6)
    model = nntune.load_model(trained / "r" / "model")
    expected = np.array(model.metadata["class_names"])[model.predict(data.X)]
    assert [row["prediction"] for row in rows] == expected.tolist()


def test_predict_npz_output_and_errors(trained):
    np.save(trained / "x.npy", np.zeros((3, 4)))
    ok = run("predict", "r", "--input", "x.npy", "--output", "p.npz", cwd=trained)
    assert ok.returncode == 0, ok.stderr
    with np.load(trained / "p.npz") as archive:
        assert archive["probabilities"].shape == (3, 3)
    np.save(trained / "bad.npy", np.zeros((3, 5)))
    bad = run("predict", "r", "--input", "bad.npy", "--output", "p.csv", cwd=trained)
    assert bad.returncode == 2
    assert "has 5 features per example but the model expects 4" in bad.stderr
    missing = run("evaluate", str(trained), "--data", "iris", cwd=trained)
    assert missing.returncode == 2
    assert "holds no model.json" in missing.stderr


def test_export_onnx_returns_the_class_names(trained):
    onnxruntime = require("onnxruntime")
    result = run("export", "r", "--format", "onnx", cwd=trained)
    assert result.returncode == 0, result.stderr
    assert "Wrote r/model.onnx: outputs label and probabilities" in result.stdout
    assert "classes: setosa, versicolor, virginica" in result.stdout
    session = onnxruntime.InferenceSession(str(trained / "r" / "model.onnx"))
    data = nntune.load_dataset("iris")
    label, probabilities = session.run(None, {"input": data.X.astype(np.float32)})
    model = nntune.load_model(trained / "r" / "model")
    expected = np.array(model.metadata["class_names"])[model.predict(data.X)]
    assert label.tolist() == expected.tolist()
    assert len(set(label.tolist())) > 1  # names, and not all the same
    np.testing.assert_allclose(probabilities, model.predict_proba(data.X), atol=1e-6)


def test_export_torch_writes_a_program_with_the_class_names(trained):
    torch = require("torch")
    out = trained / "exported" / "iris.pt2"
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(trained / "r"),
            "--format",
            "torch",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "file": str(out),
        "format": "torch",
        "outputs": ["probabilities"],
        "classes": ["setosa", "versicolor", "virginica"],
    }
    extra = {"nntune.json": ""}
    program = torch.export.load(str(out), extra_files=extra)
    assert json.loads(extra["nntune.json"])["classes"] == list(
        nntune.load_dataset("iris").class_names
    )
    model = nntune.load_model(trained / "r" / "model")
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    with torch.no_grad():
        probabilities = program.module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(probabilities, model.predict_proba(x), atol=1e-6)
    refused = CliRunner().invoke(
        main, ["export", str(trained / "r"), "--format", "torch", "--opset", "13"]
    )
    assert refused.exit_code == 2
    assert "--opset 13 is an ONNX setting" in refused.output


def test_load_features_drops_a_target_column(tmp_path):
    (tmp_path / "f.csv").write_text("a,b,target\n1,2,cat\n3,4,dog\n")
    np.testing.assert_array_equal(
        load_features(tmp_path / "f.csv", 2), [[1, 2], [3, 4]]
    )
    (tmp_path / "g.csv").write_text("a,label,b\n1,x,2\n")
    np.testing.assert_array_equal(
        load_features(tmp_path / "g.csv", 2, target="label"), [[1, 2]]
    )
    with pytest.raises(
        ValueError, match="has 3 feature columns but the model expects 2"
    ):
        load_features(tmp_path / "g.csv", 2)
