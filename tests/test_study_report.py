"""Tests of the study report (``nntune report STUDY``), on small real searches."""

from __future__ import annotations

import base64
import json
import struct
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import nntune
from helpers import require
from nntune.cli import main
from nntune.report import plots_study
from nntune.tuning import Dimension, TrialRecord, open_study

require("matplotlib")  # the report draws with it
require("optuna")  # the study's storage

BASE = {"data": "moons", "epochs": 10, "layers": [8]}
SPACE = {
    "learning_rate": {"log": [1e-3, 1e-1]},
    "beta1": {"one_minus_log": [0.8, 0.999]},
    "keep_prob": {},
    "optimizer": {"choice": ["adam", "momentum"]},
}
SECTIONS = ("summary", "settings", "history", "importance", "best-curves", "trials")


class Page(HTMLParser):
    """The ids, images (by alt text), links and table rows of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: dict[str, str] = {}
        self.links: list[str] = []
        self.scripts = 0
        self.rows: dict[str, int] = {}
        self._table = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        values = dict(attrs)
        if "id" in values:
            self.ids.append(values["id"])
        if tag == "img":
            assert values["alt"] not in self.images, values["alt"]
            self.images[values["alt"]] = values["src"]
        self.links += [values[key] for key in ("href", "src") if key in values]
        self.scripts += tag == "script"
        if tag == "table":
            self._table = values.get("class") or ""
        if tag == "tr":
            self.rows[self._table] = self.rows.get(self._table, 0) + 1


def report(*args: str) -> tuple[Path, str]:
    """Run ``nntune report ARGS --json``; return the file written and its text."""
    result = CliRunner().invoke(main, ["report", *args, "--json"])
    assert result.exit_code == 0, result.output
    path = Path(json.loads(result.output)["report"])
    return path, path.read_text(encoding="utf-8")


def self_contained(text: str) -> Page:
    page = Page(text)
    for uri in page.images.values():
        prefix = "data:image/png;base64,"
        assert uri.startswith(prefix), uri[:60]
        png = base64.b64decode(uri[len(prefix) :], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", png[16:24]) == (960, 600)
    assert all(link.startswith(("#", "data:")) for link in page.links), page.links
    assert page.scripts == 0
    assert "http://" not in text
    assert "https://" not in text
    return page


def search(folder: Path, space: dict[str, Any], **options: Any) -> Path:
    base = {**BASE, **options.pop("base", {})}
    nntune.tune({"base": base, "space": space}, study=folder, workers=1, **options)
    return folder


@pytest.fixture(scope="module")
def random_study(tmp_path_factory) -> Path:
    return search(tmp_path_factory.mktemp("random") / "study", SPACE, trials=8)


@pytest.fixture(scope="module")
def rounds_study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rounds") / "study"
    space = {"learning_rate": SPACE["learning_rate"], "beta1": SPACE["beta1"]}
    options = {"strategy": "coarse-to-fine", "rounds": 3, "pruner": "median"}
    return search(folder, space, trials=9, base={"epochs": 12}, **options)


@pytest.fixture(scope="module")
def failing_study(tmp_path_factory) -> Path:
    # Plain gradient descent diverges above a learning rate of about 10 on moons:
    # the cost becomes nan and the trial fails.
    space = {"learning_rate": {"log": [1e-2, 1e4]}, "batch_size": {"pow2": [16, 256]}}
    folder = tmp_path_factory.mktemp("failing") / "study"
    return search(folder, space, trials=6, base={"optimizer": "gd"})


def test_report_has_every_section_and_one_plot_per_setting(random_study):
    path, text = report(str(random_study))
    assert path == random_study / "report.html"
    page = self_contained(text)
    assert [key for key in page.ids if key in SECTIONS] == list(SECTIONS)
    assert "rounds" not in page.ids  # a random search has no rounds
    for name in SPACE:
        assert f"setting-{name}" in page.ids
        assert f"{name} plot" in page.images
    plots = ("Optimisation history", "Importance", "Cost", "Accuracy")
    assert set(page.images) == {f"{n} plot" for n in (*SPACE, *plots)}
    study = open_study(random_study)
    assert f"Best trial: {study.best.number}</h3>" in text
    assert f"nntune train --from-study {random_study}</code>" in text
    assert page.rows["comparison"] == 1 + len(study.trials)
    assert text.count('<tr class="best">') == 1
    assert "log scale of 1 − beta1" in text
    assert 'id="warnings"' not in text  # nothing failed to draw


def test_coarse_to_fine_report_shows_each_round(rounds_study, tmp_path):
    target = tmp_path / "pages" / "rounds.html"
    path, text = report(str(rounds_study), "--output", str(target))
    assert path == target
    page = self_contained(text)
    assert [key for key in page.ids if key in SECTIONS] == list(SECTIONS)
    assert "rounds" in page.ids
    assert "Rounds plot" in page.images
    study = open_study(rounds_study)
    assert len(study.rounds) == 3
    # The rounds table: a header and one row per round; trials have a round column.
    assert page.rows["comparison"] == (1 + 3) + (1 + len(study.trials))
    assert "<th>Round</th>" in text


def test_failed_trials_do_not_break_the_report(failing_study):
    study = open_study(failing_study)
    states = [record.state for record in study.trials]
    assert "failed" in states
    assert states.count("complete") >= 2
    _, text = report(str(failing_study))
    page = self_contained(text)
    names = ("learning_rate", "batch_size", "Optimisation history", "Importance")
    assert {f"{name} plot" for name in names} <= set(page.images)
    assert "training diverged" in text  # each failed trial's error, in the table
    assert 'id="warnings"' not in text


def test_study_without_finished_trials_says_so(tmp_path):
    # The time limit passes before the first trial starts.
    empty = search(tmp_path / "empty", SPACE, time_limit=1e-9)
    _, text = report(str(empty), "--storage", str(empty))
    page = self_contained(text)
    assert [key for key in page.ids if key in SECTIONS] == list(SECTIONS)
    assert page.images == {}
    assert "No trial has finished yet" in text
    assert "needs at least 2 completed trials; this study has 0" in text
    assert "--from-study" not in text  # nothing to retrain
    # Every trial failed: a page all the same, with where they failed.
    space = {"learning_rate": {"log": [1e3, 1e4]}}
    failed = search(tmp_path / "failed", space, trials=2, base={"optimizer": "gd"})
    _, text = report(str(failed))
    page = self_contained(text)
    assert "No trial has completed yet" in text
    assert set(page.images) == {"learning_rate plot", "Optimisation history plot"}


def test_importance_that_cannot_be_computed_is_explained(failing_study, monkeypatch):

    def broken(study: Any, **options: Any) -> dict[str, float]:
        raise RuntimeError("planted: the evaluator failed")

    # By name: optuna.importance may still be Optuna's lazy proxy of the module.
    monkeypatch.setattr("optuna.importance.get_param_importances", broken)
    _, text = report(str(failing_study))
    page = self_contained(text)
    assert "Importance plot" not in page.images
    assert "Not computed: planted: the evaluator failed" in text
    assert "Importance: not computed (RuntimeError" in text  # and in the warnings


def beta_axis(low: float, high: float, betas: list[float]) -> tuple[Any, list[str]]:
    """Draw dev error against beta1 and return the axes and its tick labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = [
        TrialRecord(i, "complete", {"beta1": b}, {}, value=0.1, dev={"accuracy": 0.9})
        for i, b in enumerate(betas)
    ]
    figure = Figure()
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    dimension = Dimension("beta1", "one_minus_log", low, high)
    plots_study._draw_setting(figure, axes, dimension, records, True)
    figure.canvas.draw()
    left, right = sorted(axes.get_xlim())
    labels = []
    for axis in (axes.xaxis.get_major_ticks(), axes.xaxis.get_minor_ticks()):
        for tick in axis:
            if left <= tick.get_loc() <= right and tick.label1.get_text():
                labels.append(tick.label1.get_text())
    return axes, labels


def test_one_minus_log_axis_is_labelled_with_the_betas():
    axes, labels = beta_axis(0.8, 0.999, [0.9, 0.99, 0.999])
    assert axes.get_xscale() == "log"
    assert sorted(labels, key=float) == ["0.9", "0.99", "0.999"]  # not 1 - beta
    # Each point sits at 1 - beta, so 0.9, 0.99 and 0.999 are evenly spaced.
    points = axes.collections[0].get_offsets()[:, 0]
    assert points.tolist() == pytest.approx([0.1, 0.01, 0.001])
    left, right = axes.get_xlim()
    assert left > right  # beta grows to the right
    # Less than two decades of 1 - beta: the 2s and 5s are labelled too.
    _, labels = beta_axis(0.95, 0.995, [0.96, 0.99])
    assert {"0.95", "0.98", "0.99", "0.995"} <= set(labels)


def test_storage_goes_with_a_study(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--storage", "x"])
    assert result.exit_code == 2
    assert "--storage goes with a study folder" in result.output
