"""The user guide (docs/) runs as written, shows the figures its code draws, builds.

Every ```python block of a page runs, in order, in one namespace per page; every
``$ nntune`` line of a ```console or ```sh block runs as a command and must exit with
status 0; output the page shows must appear in what was printed. The runner is
docs/figures.py, which also refreshes docs/img/ from the same code.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import require

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MAX_IMAGE_BYTES = 100 * 1024
REFERENCE_PAGES = ("index.md", "conventions.md", "cli.md")
"""Pages without an example or a figure of their own (cli.md is generated)."""
EXTERNAL = re.compile(
    r"<(?:script|link)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.IGNORECASE
)


def _load_runner():
    spec = importlib.util.spec_from_file_location("docs_figures", DOCS / "figures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


figures = _load_runner()
PAGES = figures.pages()


def test_the_guide_has_its_pages():
    names = {page.name for page in PAGES}
    expected = {
        "index.md",
        "data-setup.md",
        "bias-variance.md",
        "regularization.md",
        "initialization.md",
        "gradient-checking.md",
        "optimizers.md",
        "learning-rate-decay.md",
        "batch-norm.md",
        "softmax.md",
        "regression.md",
        "tuning.md",
        "export.md",
        "course-labs.md",
        "estimators.md",
        "cli.md",
        "conventions.md",
    }
    assert expected <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_page_examples_run_and_draw_the_figures_shown(page, tmp_path):
    produced = {figure.name for figure in figures.run_page(page, tmp_path)}
    shown = set(figures.images(page))
    assert produced == shown, (
        f"{page.name}: figures drawn by its code {sorted(produced)} differ from the "
        f"figures it shows {sorted(shown)}"
    )


def test_topic_pages_have_examples_and_a_figure():
    for page in PAGES:
        if page.name in REFERENCE_PAGES:
            continue
        kinds = {example.kind for example in figures.examples(page)}
        assert "python" in kinds, f"{page.name} has no Python example"
        assert figures.images(page), f"{page.name} shows no figure"


def test_every_figure_is_committed_small_and_shown():
    shown = [name for page in PAGES for name in figures.images(page)]
    assert len(shown) == len(set(shown)), "two pages show a figure of the same name"
    committed = {path.name for path in (DOCS / "img").glob("*.png")}
    assert set(shown) <= committed, (
        f"run `python docs/figures.py` to draw {sorted(set(shown) - committed)}"
    )
    assert committed <= set(shown), f"unused figures: {sorted(committed - set(shown))}"
    for name in committed:
        size = (DOCS / "img" / name).stat().st_size
        assert size < MAX_IMAGE_BYTES, f"docs/img/{name} is {size} bytes"


def test_runner_reads_commands_and_their_output(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ nntune diagnose --train-error 0.01 \\\n    --dev-error 0.11\n"
        "Verdict: high variance\n$ make test\n```\n\n"
        "```python\nprint('a  b')\n```\n\n```text\na b\n...\n```\n",
        encoding="utf-8",
    )
    found = figures.examples(page)
    assert [example.kind for example in found] == ["command", "python"]
    assert found[0].code.split() == [
        "nntune",
        "diagnose",
        "--train-error",
        "0.01",
        "--dev-error",
        "0.11",
    ]
    assert found[0].expected == ("Verdict: high variance",)
    assert found[1].expected == ("a b", "...")
    with pytest.raises(figures.ExampleError, match="shows the output line"):
        figures.check_output(found[0], page, "Verdict: fine")


def _nav_pages() -> set[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return set(re.findall(r":\s*([\w-]+\.md)\s*$", text, re.M))


def test_mkdocs_nav_lists_every_page():
    assert _nav_pages() == {page.name for page in PAGES}


def test_mkdocs_build_strict(tmp_path):
    require("mkdocs")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    assert (site / "conventions" / "index.html").exists()
    # Offline, as built: no script or stylesheet from another site (the theme's
    # highlight.js came from a CDN); the code is coloured at build time instead.
    for page in site.rglob("*.html"):
        found = EXTERNAL.findall(page.read_text(encoding="utf-8"))
        assert not found, f"{page.relative_to(site)} loads {found}"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert '<span class="kn">import</span>' in index  # highlighted by Pygments
    assert ".codehilite .kn" in (site / "css" / "pygments.css").read_text()
