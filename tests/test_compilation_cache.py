"""JAX's compiled programs, kept between runs of the ``nntune`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nntune.backend.accelerated import CACHE_SIZE, keep_compilations

NNTUNE = str(Path(sys.executable).with_name("nntune"))


def test_the_default_is_nntune_jax_in_the_user_cache_directory():
    environ: dict[str, str] = {}
    assert keep_compilations(environ) == Path.home() / ".cache" / "nntune" / "jax"
    assert environ == {
        "JAX_COMPILATION_CACHE_DIR": str(Path.home() / ".cache" / "nntune" / "jax"),
        "JAX_COMPILATION_CACHE_MAX_SIZE": str(CACHE_SIZE),
    }


def test_xdg_cache_home_is_followed_when_absolute(tmp_path):
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    assert keep_compilations(environ) == tmp_path / "nntune" / "jax"
    relative = {"XDG_CACHE_HOME": "cache"}  # XDG: a relative path is ignored
    assert keep_compilations(relative) == Path.home() / ".cache" / "nntune" / "jax"


def test_a_cache_directory_of_your_own_is_kept_as_it_is(tmp_path):
    environ = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path)}
    assert keep_compilations(environ) == tmp_path
    assert environ == {"JAX_COMPILATION_CACHE_DIR": str(tmp_path)}  # no size added
    environ["NNTUNE_JAX_CACHE"] = "off"  # turns off nntune's default, not JAX's
    assert keep_compilations(environ) == tmp_path


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_nntune_jax_cache_off_sets_nothing(value):
    environ = {"NNTUNE_JAX_CACHE": value}
    assert keep_compilations(environ) is None
    assert environ == {"NNTUNE_JAX_CACHE": value}


def _train(out: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [NNTUNE, "train", "--data", "moons", "--backend", "jax"]
    command += ["--epochs", "3", "--no-report", "--out", str(out)]
    return subprocess.run(
        command, capture_output=True, text=True, env=environ, timeout=300, check=True
    )


@pytest.mark.slow
def test_the_second_run_loads_what_the_first_compiled(tmp_path):
    pytest.importorskip("jax")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    environ.pop("NNTUNE_JAX_CACHE")
    environ["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # fast machines too
    environ["JAX_LOG_COMPILES"] = "1"
    first = _train(tmp_path / "first", environ)
    kept = tmp_path / "cache" / "nntune" / "jax"
    programs = sorted(p.name for p in kept.glob("*-cache"))
    assert any(name.startswith("jit_run-") for name in programs), programs
    assert "Persistent compilation cache hit" not in first.stderr

    second = _train(tmp_path / "second", environ)
    assert "Persistent compilation cache hit for 'jit_run'" in second.stderr
    metrics = [
        json.loads((tmp_path / run / "metrics.json").read_text())
        for run in ("first", "second")
    ]
    for split in ("train", "dev"):  # the same program, loaded: the same numbers
        assert metrics[0][split] == metrics[1][split]

    found = subprocess.run(
        [NNTUNE, "info", "--json"], capture_output=True, text=True, env=environ
    )
    cache = json.loads(found.stdout)["jax_cache"]
    assert cache["dir"] == str(kept)
    assert cache["programs"] == len(programs)
    assert cache["bytes"] > 0


def test_the_suite_keeps_no_compiled_programs():
    found = subprocess.run(
        [NNTUNE, "info", "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(found.stdout)["jax_cache"] is None
