"""The README's Python examples run as written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_starts_with_the_two_commands():
    first_lines = README.read_text().splitlines()[:6]
    assert any(line.startswith("make demo") for line in first_lines)
    assert any(line.startswith("make test") for line in first_lines)


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert "history" in namespace


def test_the_install_lines_name_extras_that_exist():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    readme, makefile = README.read_text(), (ROOT / "Makefile").read_text()
    assert 'pip install "nntune[plots,data]"' in readme  # the users' route
    named = re.findall(
        r'pip install[^"\n]*"(?:nntune|\.)\[([a-z,]+)\]"', readme + makefile
    )
    assert len(named) >= 5
    for group in named:
        assert set(group.split(",")) <= extras, group
    # make demo installs what the demo runs (nntune, matplotlib for the report,
    # Optuna for the recipe's searches), no test tools.
    recipe = re.search(r"^\$\(DEMO_STAMP\):.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None
    assert re.findall(r'-e "\.\[([a-z,]+)\]"', recipe.group(1)) == ["plots,tune"]
    # ... and runs the main job, the recipe, on a built-in real dataset.
    demo = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert demo is not None
    assert "nntune recipe --data digits" in demo.group(1)
