r"""Run the user guide's examples and refresh its figures in docs/img/.

Usage::

    .venv/bin/python docs/figures.py                 # every page
    .venv/bin/python docs/figures.py optimizers.md   # some pages

Each page runs in a fresh temporary folder, in the order of its code blocks:

- every ```python block runs in one namespace shared by the page; when a ```text
  block follows it directly, each of its lines must appear in what the block printed;
- in every ```console or ```sh block, each line that starts with ``$ nntune`` runs
  as a command (``\`` continues it on the next line) and must exit with status 0;
  the lines after it, up to the next ``$``, must appear in what it printed.

A shown line matches when it appears in the output with runs of whitespace taken as
one space (so line wrapping does not matter); ``...`` stands for any text, so a line
``...`` matches anything and ``difference ... is good`` matches
``difference 4.2e-12 is good``.

The PNG files a page writes into its folder are the figures of that page: this script
copies them into docs/img/, and tests/test_docs.py checks that the page shows each of
them. The test runs the same code with the same runner, in a temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS / "img"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(img/([^)\s]+\.png)\)")
COMMAND_TIMEOUT = 300
ENVIRONMENT = {
    "MPLBACKEND": "Agg",
    "COLUMNS": "80",
    "NO_COLOR": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
"""Set for the examples: no display for plots, an 80-column terminal, and one BLAS
thread (the examples' matrices are small; on a busy machine, BLAS threads waiting for
each other make them up to ten times slower)."""


class ExampleError(AssertionError):
    """An example of the guide failed, or did not print what the page shows."""


@dataclass(frozen=True)
class Example:
    """One runnable piece of a page: a Python block or one ``$ nntune`` command."""

    kind: str
    """``"python"`` or ``"command"``."""
    code: str
    line: int
    """Line of the page where the code starts (1-based)."""
    expected: tuple[str, ...] = ()
    """Lines the page shows as the output."""


def pages() -> list[Path]:
    """The Markdown pages of the guide, sorted by name."""
    return sorted(DOCS.glob("*.md"))


def images(page: Path) -> list[str]:
    """File names of the figures a page shows (``![...](img/NAME.png)``)."""
    return IMAGE_LINK.findall(page.read_text(encoding="utf-8"))


def examples(page: Path) -> list[Example]:
    """The runnable examples of ``page``, in page order."""
    text = page.read_text(encoding="utf-8")
    fences = list(FENCE.finditer(text))
    found: list[Example] = []
    for index, fence in enumerate(fences):
        language, body = fence.group(1), fence.group(2)
        first_line = text.count("\n", 0, fence.start(2)) + 1
        if language == "python":
            expected: tuple[str, ...] = ()
            following = fences[index + 1] if index + 1 < len(fences) else None
            if (
                following is not None
                and following.group(1) == "text"
                and not text[fence.end() : following.start()].strip()
            ):
                expected = tuple(following.group(2).splitlines())
            found.append(Example("python", body, first_line, expected))
        elif language in ("console", "sh"):
            found.extend(_commands(body, first_line))
    return found


def _commands(body: str, first_line: int) -> list[Example]:
    """The ``$ nntune`` commands of a console block, each with the output shown."""
    found: list[Example] = []
    lines = body.splitlines()
    at = 0
    while at < len(lines):
        line = lines[at]
        if not line.startswith("$ "):
            at += 1
            continue
        start = at
        command = line[2:]
        while command.endswith("\\") and at + 1 < len(lines):
            at += 1
            command = command[:-1] + " " + lines[at].strip()
        at += 1
        output = []
        while at < len(lines) and not lines[at].startswith("$ "):
            output.append(lines[at])
            at += 1
        if command.split()[:1] == ["nntune"]:
            found.append(Example("command", command, first_line + start, tuple(output)))
    return found


def _normal(text: str) -> str:
    return " ".join(text.split())


def check_output(example: Example, page: Path, output: str) -> None:
    """Raise :class:`ExampleError` unless every shown line appears in ``output``."""
    actual = _normal(output)
    for shown in example.expected:
        wanted = _normal(shown)
        if not _appears(wanted, actual):
            raise ExampleError(
                f"{page.name}:{example.line}: the page shows the output line\n"
                f"    {shown.strip()}\nbut the example printed:\n{output}"
            )


def _appears(wanted: str, actual: str) -> bool:
    """Whether ``wanted`` appears in ``actual``, ``...`` standing for any text."""
    pattern = ".*?".join(re.escape(part.strip()) for part in wanted.split("..."))
    return re.search(pattern, actual) is not None


def _nntune() -> list[str]:
    script = Path(sys.executable).with_name("nntune")
    if script.exists():
        return [str(script)]
    found = shutil.which("nntune")
    return [found] if found else [sys.executable, "-m", "nntune"]


def run_python(example: Example, page: Path, namespace: dict[str, object]) -> None:
    """Run a Python block in ``namespace``; check what it prints."""
    # Pad with blank lines so that tracebacks give the line number in the page.
    source = "\n" * (example.line - 1) + example.code
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, str(page), "exec"), namespace)
    check_output(example, page, printed.getvalue())


def run_command(example: Example, page: Path, folder: Path) -> None:
    """Run a ``$ nntune`` command in ``folder``; check its status and output."""
    arguments = shlex.split(example.code)
    result = subprocess.run(
        _nntune() + arguments[1:],
        cwd=folder,
        env={**os.environ, **ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise ExampleError(
            f"{page.name}:{example.line}: `{example.code}` exited with status "
            f"{result.returncode}:\n{output}"
        )
    check_output(example, page, output)


def run_page(page: Path, folder: Path) -> list[Path]:
    """Run every example of ``page`` in ``folder``; return the PNG files written there.

    The current directory is ``folder`` while the page runs, and the variables of
    :data:`ENVIRONMENT` are set; both are restored afterwards.
    """
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    saved_directory = Path.cwd()
    saved_environment = {name: os.environ.get(name) for name in ENVIRONMENT}
    os.environ.update(ENVIRONMENT)
    os.chdir(folder)
    try:
        with _one_blas_thread():
            for example in examples(page):
                if example.kind == "python":
                    run_python(example, page, namespace)
                else:
                    run_command(example, page, folder)
    finally:
        os.chdir(saved_directory)
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _close_figures()
    return sorted(folder.glob("*.png"))


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    # threadpoolctl (a dependency of scikit-learn) limits the BLAS already loaded,
    # so load NumPy's first.
    import numpy  # noqa: F401

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _close_figures() -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def main(names: list[str]) -> int:
    """Run the named pages (default: all) and copy their figures into docs/img/."""
    chosen = [DOCS / name for name in names] if names else pages()
    IMAGES.mkdir(exist_ok=True)
    for page in chosen:
        with tempfile.TemporaryDirectory() as folder:
            produced = run_page(page, Path(folder))
            for figure in produced:
                shutil.copyfile(figure, IMAGES / figure.name)
                size = (IMAGES / figure.name).stat().st_size
                print(f"{page.name}: img/{figure.name} ({size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
