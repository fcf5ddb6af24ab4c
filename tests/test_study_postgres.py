"""A study kept in a real PostgreSQL server, through the real ``nntune tune`` command.

The server is Debian's PostgreSQL, started for the test on loopback and stopped
after it (:mod:`postgres_server`); ``make pytest`` installs the package. Locally the
test skips without it; under CI (``CI`` set) it fails instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import require
from nntune.tuning import open_study
from nntune.tuning.storage import JOURNAL
from postgres_server import postgres_server

psycopg2 = require("psycopg2")  # nntune's postgres extra; the test reads the tables
require("optuna")

pytestmark = pytest.mark.slow

NNTUNE = str(Path(sys.executable).parent / "nntune")
SPACE = """\
[base]
data = "moons"
epochs = 15
layers = [8]
optimizer = "adam"

[space]
learning_rate = { log = [1e-3, 1e-1] }
beta1 = { one_minus_log = [0.8, 0.999] }
"""


def _tune(space: Path, study: Path, url: str, trials: int) -> dict[str, Any]:
    command = [NNTUNE, "tune", str(space), "--trials", str(trials)]
    command += ["--workers", "2", "--storage", url, "--out", str(study), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _stored_trials(url: str, name: str) -> list[tuple[int, str]]:
    """(number, state) of the study's trials, read from PostgreSQL's own tables."""
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.number, t.state FROM trials t "
                "JOIN studies s ON s.study_id = t.study_id "
                "WHERE s.study_name = %s ORDER BY t.number",
                (name,),
            )
            return [(int(number), str(state)) for number, state in cursor.fetchall()]
    finally:
        connection.close()


def test_a_study_lives_in_postgres_and_continues_there(tmp_path: Path) -> None:
    space, study = tmp_path / "space.toml", tmp_path / "study"
    space.write_text(SPACE)
    with postgres_server(tmp_path) as url:
        first = _tune(space, study, url, trials=6)
        numbers = [trial["number"] for trial in first["trials"]]
        assert [trial["state"] for trial in first["trials"]] == ["complete"] * 6
        assert sorted(numbers) == list(range(6))

        meta = json.loads((study / "study.json").read_text())
        assert meta["storage"] == url  # no password to redact
        assert _stored_trials(url, meta["name"]) == [(n, "COMPLETE") for n in range(6)]
        assert not (study / JOURNAL).exists()

        more = _tune(space, study, url, trials=8)
        assert [trial["state"] for trial in more["trials"]] == ["complete"] * 8
        assert sorted(trial["number"] for trial in more["trials"]) == list(range(8))
        assert _stored_trials(url, meta["name"]) == [(n, "COMPLETE") for n in range(8)]
        assert not (study / JOURNAL).exists()

        best = open_study(study, storage=url).best
        values = [trial["value"] for trial in more["trials"]]
        assert best.state == "complete"
        assert best.value == min(values)
        assert best.number == more["best"]["number"]

        report = subprocess.run(
            [NNTUNE, "report", str(study)], capture_output=True, text=True, timeout=120
        )
        assert report.returncode == 0, report.stderr
        page = (study / "report.html").read_text()
        assert f"Best trial: {best.number}</h3>" in page  # read from PostgreSQL
