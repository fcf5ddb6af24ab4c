"""The HTML reports in a real headless Chromium, offline, with screenshots.

Needs the Debian package ``chromium`` (/usr/bin/chromium, or NNTUNE_CHROMIUM) and the
Python package ``playwright``, which drives it; no browser is downloaded. Locally the
tests skip when either is missing; under CI (``CI`` set) they fail instead.
Screenshots go to ``artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from helpers import require, unavailable
from nntune import TrainConfig, run_training, tune
from nntune.report import (
    read_history,
    read_run,
    write_comparison_report,
    write_run_report,
)
from nntune.report.study import write_study_report

require("matplotlib")  # the report draws with it

CHROMIUM = Path(os.environ.get("NNTUNE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IMAGES = """() => Array.from(document.images).map((image) => {
    const box = image.getBoundingClientRect();
    const style = getComputedStyle(image);
    return {alt: image.alt, complete: image.complete, natural: image.naturalWidth,
            width: box.width, height: box.height,
            shown: style.display !== "none" && style.visibility !== "hidden"};
})"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install playwright")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser")
    runs = {}
    # Long enough to learn something, so the screenshots show real curves.
    for data, epochs, decay in (("moons", 150, "none"), ("digits", 20, "inverse_time")):
        config = TrainConfig(
            data=data,
            epochs=epochs,
            decay=decay,
            learning_rate=0.01,
            layers=(16, 8),
            seed=2,
            out=str(folder / data),
        )
        run_training(config, progress="silent")
        runs[data] = folder / data
    entries = []
    for data, run in runs.items():
        settings, metrics = read_run(run)
        entries.append(
            {
                "name": f"data={data}",
                "settings": settings,
                "metrics": metrics,
                "history": read_history(run),
            }
        )
    compare = write_comparison_report(entries, folder / "compare.html")
    return {
        "moons": write_run_report(runs["moons"]),
        "digits": write_run_report(runs["digits"]),
        "compare": compare,
    }


@pytest.fixture(scope="module")
def study_report(tmp_path_factory) -> Path:
    # Coarse to fine with a pruner and a diverging corner (plain gradient descent
    # above a learning rate of about 10), so every kind of section and mark is drawn.
    folder = tmp_path_factory.mktemp("browser-study") / "study"
    space = {
        "base": {"data": "moons", "epochs": 12, "layers": [8], "optimizer": "gd"},
        "space": {
            "learning_rate": {"log": [1e-2, 1e3]},
            "batch_size": {"pow2": [16, 256]},
            "keep_prob": {},
        },
    }
    tune(space, study=folder, trials=9, strategy="coarse-to-fine", pruner="median")
    return write_study_report(folder)


def open_offline(browser: Any, path: Path, **options: Any) -> tuple[Any, list[str]]:
    """A page showing ``path`` with the network off; returns it and its problems."""
    context = browser.new_context(
        offline=True, viewport={"width": 1100, "height": 900}, **options
    )
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: m.type in ("error", "warning") and problems.append(m.text),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "request",
        lambda r: r.url.startswith(("file:", "data:")) or problems.append(r.url),
    )
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


@pytest.mark.parametrize(
    ("name", "count"), [("moons", 6), ("digits", 4), ("compare", 2)]
)
def test_report_renders_with_every_image(browser, reports, name, count):
    page, problems = open_offline(browser, reports[name])
    images = page.evaluate(IMAGES)
    overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"report-{name}.png", full_page=True)
    page.context.close()
    assert problems == []
    assert overflow <= 0  # nothing sticks out sideways
    assert len(images) == count
    for image in images:
        assert image["complete"], image
        assert image["natural"] == 960, image
        assert image["width"] > 0, image
        assert image["height"] > 0, image
        assert image["shown"], image


@pytest.mark.parametrize("width", [360, 1400])
def test_plots_scale_with_the_window(browser, reports, width):
    """A phone's width shrinks the plots, a wide window grows them past 640 px."""
    page, problems = open_offline(browser, reports["moons"])
    page.set_viewport_size({"width": width, "height": 800})
    images = page.evaluate(IMAGES)
    column = page.evaluate("document.querySelector('figure').clientWidth")
    overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
    page.context.close()
    assert problems == []
    assert overflow <= 0
    assert images
    for image in images:
        assert image["width"] == pytest.approx(column, abs=1), image
        assert image["height"] == pytest.approx(0.625 * image["width"], abs=2), image
    if width < 640:
        assert images[0]["width"] < width - 20
    else:
        assert images[0]["width"] > 900


def test_report_needs_no_javascript(browser, reports):
    page, problems = open_offline(browser, reports["moons"], java_script_enabled=False)
    boxes = [image.bounding_box() for image in page.locator("img").all()]
    assert page.locator("h1").inner_text().startswith("Run report")
    page.context.close()
    assert problems == []
    assert len(boxes) == 6  # with the binary moons' ROC curve
    assert all(box and box["width"] > 600 and box["height"] > 300 for box in boxes)


def test_study_report_renders_with_every_image(browser, study_report):
    page, problems = open_offline(browser, study_report)
    images = page.evaluate(IMAGES)
    overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report-study.png", full_page=True)
    page.context.close()
    assert problems == []
    assert overflow <= 0  # nothing sticks out sideways, not even the trials table
    # 3 settings, history, importance, rounds, the best trial's cost and accuracy
    assert len(images) == 8
    for image in images:
        assert image["complete"], image
        assert image["natural"] == 960, image
        assert image["width"] > 0, image
        assert image["height"] > 0, image
        assert image["shown"], image
