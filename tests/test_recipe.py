"""The recipe end to end: it diagnoses, fixes what it sees, tunes, tests once."""

from __future__ import annotations

import json
import os

import pytest

import nntune.experiment.recipe_story as story_module
from helpers import require
from nntune.experiment.recipe import baseline, recipe

pytestmark = pytest.mark.slow


def names(result):
    return [step.name for step in result.steps]


def kept(result, prefix):
    return [s for s in result.steps if s.name.startswith(prefix) and s.kept]


def test_the_baseline_is_the_courses_defaults_sized_to_the_data():
    config = baseline({"data": "moons"}, n_features=2, m=300)
    assert config.layers == (16, 8)
    assert (config.init, config.optimizer, config.early_stopping) == (
        "he",
        "adam",
        True,
    )
    assert baseline({"layers": [1]}, 2, 300).layers == (1,)
    assert baseline({}, 784, 60_000).batch_size == 128


def test_a_one_unit_network_on_circles_grows_until_the_bias_is_gone(tmp_path):
    result = recipe(
        {"data": "circles", "layers": [1]},
        out=tmp_path / "r",
        budget="60s",
        trials=2,
    )
    assert names(result)[:2] == ["gradient check", "baseline"]
    assert result.steps[0].kept  # the gradient check passed
    first = result.steps[1]
    assert first.settings["layers"] == [1]
    assert first.dev_error > 0.2
    grown = kept(result, "high bias: bigger network")
    assert grown, names(result)
    assert "high bias" in grown[0].seen
    # The last diagnosis finds the bias gone, and the final network is bigger.
    diagnoses = [s for s in result.steps if s.name == "diagnosis"]
    assert diagnoses
    assert "high bias" not in diagnoses[-1].seen.split(":")[0]
    assert result.settings["layers"][0] > 1
    assert result.steps[-1].name == "final"
    assert result.final["test_error"] < first.dev_error
    assert "test" in result.final
    assert result.final["final_evaluation"] is True


def test_an_overfitting_network_is_regularized_and_its_dev_error_falls(tmp_path):
    from sklearn.datasets import make_moons

    # Noisy moons (Bayes error about 12%) and a big network trained long: it fits
    # the noise of its 180 training rows.
    X, y = make_moons(n_samples=300, noise=0.5, random_state=0)
    data = tmp_path / "noisy.csv"
    rows = [f"{a:.6f},{b:.6f},{label}" for (a, b), label in zip(X, y, strict=True)]
    data.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    settings = {
        "data": str(data),
        "target": "label",
        "layers": [128, 128],
        "learning_rate": 0.01,
        "early_stopping": False,
        "epochs": 200,
        "seed": 3,
    }
    result = recipe(
        settings, out=tmp_path / "r", budget="40s", trials=2, human_error=0.12
    )
    first = result.steps[1]
    seen = [s for s in result.steps if s.name == "learning curve"]
    assert seen, names(result)  # high variance: would more data help?
    fixes = [s for s in result.steps if s.name.startswith("high variance") and s.kept]
    assert fixes, names(result)
    assert "high variance" in fixes[0].seen
    assert set(fixes[0].changed) & {"l2", "keep_prob", "early_stopping"}
    assert fixes[0].dev_error < first.dev_error
    assert result.steps[-1].dev_error < first.dev_error


def test_a_regression_ends_below_its_baseline_in_the_targets_units(tmp_path):
    result = recipe({"data": "diabetes"}, out=tmp_path / "r", budget="20s", trials=2)
    assert result.error_name == "RMSE"
    first, final = result.steps[1], result.steps[-1]
    assert any("training RMSE" in step.seen for step in result.steps)
    # Disease progression is measured in tens of units: an RMSE in the target's
    # units, not the standardized ones the network trains on.
    assert 30 < first.dev_error < 200
    assert final.dev_error < first.dev_error
    assert result.final["test_error"] == pytest.approx(result.final["test"]["rmse"])


def test_an_interrupted_recipe_continues_where_it_stopped(tmp_path, monkeypatch):
    settings = {"data": "circles", "layers": [2], "epochs": 60}
    whole = recipe(settings, out=tmp_path / "whole", budget="10m", trials=2)

    class Stop(KeyboardInterrupt):
        pass

    def stop_at_the_fourth(step):
        if len(seen) == 3:
            raise Stop
        seen.append(step)

    seen: list = []
    with pytest.raises(Stop):
        recipe(
            settings,
            out=tmp_path / "part",
            budget="10m",
            trials=2,
            on_step=stop_at_the_fourth,
        )
    journal = json.loads((tmp_path / "part" / "recipe.json").read_text())
    done = set(journal["trials"])
    assert done
    trained = []
    real = story_module.train_trial

    def counting(config, data, *args, **kwargs):
        trained.append(f"{config.fingerprint()}-{config.epochs}")
        return real(config, data, *args, **kwargs)

    monkeypatch.setattr(story_module, "train_trial", counting)
    again = recipe(settings, out=tmp_path / "part", budget="10m", trials=2)
    assert not done & set(trained)  # nothing recorded was trained again
    assert [(s.name, s.changed, s.dev_error) for s in again.steps] == [
        (s.name, s.changed, s.dev_error) for s in whole.steps
    ]


def test_a_folder_holding_another_recipe_is_refused(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.json").write_text(json.dumps({"inputs": {"x": 1}}))
    with pytest.raises(ValueError, match="holds a recipe run with other inputs"):
        recipe({"data": "circles"}, out=tmp_path / "r", budget="10s")
    (tmp_path / "r" / "recipe.json").write_text("{not json")
    with pytest.raises(ValueError, match="is damaged"):
        recipe({"data": "circles"}, out=tmp_path / "r", budget="10s")
    with pytest.raises(ValueError, match="time limit 'soon'"):
        recipe({"data": "circles"}, out=tmp_path / "s", budget="soon")


def test_the_recipe_command_tells_the_story_and_writes_a_report(tmp_path):
    require("matplotlib")
    from click.testing import CliRunner

    from nntune.cli import main

    out = tmp_path / "r"
    arguments = ["recipe", "--data", "circles", "--layers", "2", "--epochs", "60"]
    arguments += ["--budget", "20s", "--trials", "2", "--out", str(out)]
    done = CliRunner().invoke(main, [*arguments, "--json"])
    assert done.exit_code == 0, done.output
    story = json.loads(done.output)
    assert [s["name"] for s in story["steps"]][:2] == ["gradient check", "baseline"]
    assert story["steps"][-1]["name"] == "final"
    assert story["steps"][1]["settings"]["layers"] == [2]
    report = out / "report.html"
    assert story["report"] == str(report)
    html = report.read_text()
    for step in story["steps"]:
        assert step["name"] in html
    assert (out / "final" / "report.html").exists()
    # Run again: read back from the journal, the same story, plain text.
    again = CliRunner().invoke(main, arguments)
    assert again.exit_code == 0, again.output
    assert f"Report: {report}" in again.output
    assert "- baseline" in again.output
    if os.environ.get("CI") or os.access("/usr/bin/chromium", os.X_OK):
        check_in_browser(report)


def check_in_browser(report):
    from playwright.sync_api import sync_playwright

    import test_report_browser as browser_tests

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(browser_tests.CHROMIUM),
            args=browser_tests.CHROMIUM_ARGS,
        )
        try:
            page, problems = browser_tests.open_offline(browser, report)
            images = page.evaluate(browser_tests.IMAGES)
            assert len(images) >= 2
            for image in images:
                assert image["complete"], image
                assert image["natural"] > 0, image
                assert image["shown"], image
                assert image["width"] > 100, image
            assert not problems, problems
        finally:
            browser.close()
