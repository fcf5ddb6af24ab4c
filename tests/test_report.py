"""Tests of the HTML reports and their plots, on small real runs."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from helpers import require
from nntune import TrainConfig, run_training
from nntune.report import (
    plots,
    read_history,
    render_comparison_report,
    render_run_report,
    write_comparison_report,
    write_run_report,
)

require("matplotlib")  # the report draws with it

NNTUNE = str(Path(sys.executable).with_name("nntune"))
PLANTED = "<script>alert('x')</script>"
RUN_SECTIONS = (
    "summary",
    "classification",
    "cost",
    "accuracy",
    "learning-rate",
    "decision-boundary",
    "confusion",
    "roc",
    "diagnosis",
    "gradient-health",
    "warnings",
    "configuration",
)


class Page(HTMLParser):
    """The tags and attributes of a page that matter to a self-contained report."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.rows: dict[str, int] = {}
        self._table: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if "id" in values:
            self.ids.append(values["id"])
        if tag == "img":
            self.images.append(values.get("src") or "")
        if "href" in values:
            self.links.append(values["href"] or "")
        if "src" in values and tag != "img":
            self.links.append(values["src"] or "")
        self.scripts += tag == "script"
        if tag == "table":
            self._table = values.get("class") or ""
        if tag == "tr" and self._table is not None:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1


def png_size(uri: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix), uri[:60]
    data = base64.b64decode(uri[len(prefix) :], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def train(folder: Path, **settings) -> Path:
    options = {"epochs": 6, "layers": (8, 4), "seed": 1, **settings}
    config = TrainConfig(out=str(folder), **options)
    run_training(config, progress="silent")
    return folder


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("moons") / "run"
    return train(folder, data="moons", checkpoint_every=1)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("digits") / "run"
    return train(folder, data="digits", epochs=3, decay="inverse_time")


def check_self_contained(text: str) -> Page:
    page = Page(text)
    assert page.images
    for uri in page.images:
        assert png_size(uri) == (960, 600)
    assert all(link.startswith(("#", "data:")) for link in page.links), page.links
    assert page.scripts == 0
    assert "http://" not in text
    assert "https://" not in text
    assert "@import" not in text
    assert "url(" not in text
    return page


def test_moons_report_has_every_section(moons_run):
    path = write_run_report(moons_run)
    assert path == moons_run / "report.html"
    page = check_self_contained(path.read_text(encoding="utf-8"))
    assert [key for key in page.ids if key in RUN_SECTIONS] == list(RUN_SECTIONS)
    # cost, accuracy, learning rate, decision boundary, confusion matrix, ROC curve
    assert len(page.images) == 6


def test_digits_report_has_no_decision_boundary(digits_run):
    page = check_self_contained(render_run_report(digits_run))
    assert "decision-boundary" not in page.ids
    assert {"confusion", "learning-rate", "gradient-health"} <= set(page.ids)
    assert len(page.images) == 4


def test_strings_from_files_are_escaped(moons_run, tmp_path):
    # Markup in config.toml (a setting's value) is shown escaped.
    copy = shutil.copytree(moons_run, tmp_path / "copy")
    config = (copy / "config.toml").read_text()
    (copy / "config.toml").write_text(config + f'target = "{PLANTED}"\n')
    text = render_run_report(copy)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "<script" not in text
    # Markup in metrics.json (warnings, diagnosis, layer names) is escaped too.
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["warnings"].append('<img src="http://example.com/x.png">')
    metrics["diagnosis"]["explanation"].append("<b>bold</b>")
    metrics["gradient_health"]["final"]["layers"][0]["name"] = "<i>dense</i>"
    (copy / "metrics.json").write_text(json.dumps(metrics))
    text = render_run_report(copy)
    for raw in ('<img src="http', "<b>bold", "<i>dense"):
        assert raw not in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    assert "&lt;i&gt;dense&lt;/i&gt;" in text
    check_self_contained(text.replace("http://example.com/x.png", ""))


def test_confusion_matrix_is_computed_on_the_dev_set(moons_run, digits_run):
    for run in (moons_run, digits_run):
        metrics = json.loads((run / "metrics.json").read_text())
        text = render_run_report(run)
        dev = metrics["dev"]
        assert f"Counts of the {dev['examples']} dev examples" in text
        assert f"({dev['accuracy']:.2%})" in text


def test_history_has_the_batch_costs_with_or_without_history_json(moons_run, tmp_path):
    history = read_history(moons_run)
    metrics = json.loads((moons_run / "metrics.json").read_text())
    batches = -(-metrics["train"]["examples"] // 64)
    assert history.epochs_run == 6
    assert len(history.iterations) == 6 * batches
    assert history.epochs[0]["epoch"] == 1
    assert history.epochs[-1]["dev_cost"] == pytest.approx(metrics["dev"]["cost"])
    copy = shutil.copytree(moons_run, tmp_path / "copy")
    (copy / "history.json").unlink()  # an older run folder: CSV + checkpoint
    assert read_history(copy).iterations == history.iterations
    (copy / "checkpoint.json").unlink()
    assert read_history(copy).iterations == []
    assert "no mini-batch costs" in render_run_report(copy)


def test_report_survives_data_that_no_longer_matches(moons_run, tmp_path):
    copy = shutil.copytree(moons_run, tmp_path / "copy")
    config = (copy / "config.toml").read_text()
    (copy / "config.toml").write_text(config + "n_samples = 400\n")
    page = Page(render_run_report(copy))
    assert "decision-boundary" not in page.ids
    assert "confusion" in page.ids
    assert "could not be loaded again" in render_run_report(copy)


def test_regression_run_has_no_accuracy_or_confusion(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    lines = ["a,b,y"] + [f"{a},{b},{a - 2 * b}" for a, b in X]
    (tmp_path / "line.csv").write_text("\n".join(lines) + "\n")
    run = train(
        tmp_path / "run", data=str(tmp_path / "line.csv"), target="y", task="regression"
    )
    page = check_self_contained(render_run_report(run))
    assert {"summary", "cost", "learning-rate", "configuration"} <= set(page.ids)
    assert not {"accuracy", "confusion", "decision-boundary"} & set(page.ids)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(ValueError, match=r"not a run directory.*no config\.toml"):
        render_run_report(tmp_path)
    with pytest.raises(ValueError, match="it does not exist"):
        render_run_report(tmp_path / "missing")


def comparison_entries(moons_run):
    history = read_history(moons_run)
    metrics = json.loads((moons_run / "metrics.json").read_text())
    entries = []
    for index, init in enumerate(("he", "xavier", "<zeros>")):
        scores = {
            name: {**metrics[name], "accuracy": metrics[name]["accuracy"] - index / 10}
            for name in ("train", "dev", "test")
        }
        entries.append(
            {
                "name": f"init={init}",
                "settings": {"data": "moons", "init": init, "epochs": 6},
                "metrics": {**scores, "epochs_run": 6, "seconds": 1.5},
                "history": history,
            }
        )
    return entries


def test_comparison_report(moons_run, tmp_path):
    path = write_comparison_report(
        comparison_entries(moons_run), tmp_path / "compare.html", title="init <3"
    )
    text = path.read_text(encoding="utf-8")
    page = check_self_contained(text)
    assert page.rows["comparison"] == 1 + 3  # the header and one row per run
    assert {"runs", "cost", "accuracy"} <= set(page.ids)
    assert len(page.images) == 2
    assert "init=&lt;zeros&gt;" in text
    assert "init &lt;3" in text
    assert text.count('<tr class="best">') == 1
    assert '<tr class="best"><td>init=he</td>' in text


def test_comparison_entries_are_checked(moons_run):
    entry = comparison_entries(moons_run)[0]
    del entry["history"]
    with pytest.raises(ValueError, match=r"entry 0 lacks \['history'\]"):
        render_comparison_report([entry])
    with pytest.raises(ValueError, match="at least one run"):
        render_comparison_report([])


def test_plots_return_pngs_and_check_their_input(moons_run):
    history = read_history(moons_run)
    for png in (
        plots.cost_curves(history, beta=0.5),
        plots.compare_cost_curves({"a": history, "b": history}),
        plots.compare_accuracy_curves({"a": history}),
    ):
        assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match=r"beta must be a finite number in \[0, 1\)"):
        plots.cost_curves(history, beta=1.0)
    with pytest.raises(ValueError, match=r"X of shape \(4, 3\)"):
        plots.decision_boundary(None, np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one run"):
        plots.compare_cost_curves({})


def test_confusion_counts():
    counts = plots.confusion_counts([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    with pytest.raises(ValueError, match="below n_classes=2"):
        plots.confusion_counts([0, 2], [0, 1], 2)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NNTUNE, "report", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_writes_the_report(moons_run, tmp_path):
    result = run_cli(str(moons_run), "--json")
    assert result.returncode == 0, result.stderr
    path = Path(json.loads(result.stdout)["report"])
    assert path == moons_run / "report.html"
    check_self_contained(path.read_text(encoding="utf-8"))
    target = tmp_path / "out" / "moons.html"
    result = run_cli(str(moons_run), "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    quiet = run_cli(str(moons_run), "--quiet", "-o", str(target))
    assert (quiet.returncode, quiet.stdout) == (0, "")


def test_cli_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = run_cli(str(tmp_path))
    assert result.returncode == 2
    assert "is not a run directory of `nntune train`" in result.stderr
    assert "Traceback" not in result.stderr
