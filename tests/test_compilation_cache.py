"""JAX's compiled programs, kept between runs of the ``nntune`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nntune.cli import jax_cache
from nntune.cli.jax_cache import CACHE_SIZE, keep_compilations

NNTUNE = str(Path(sys.executable).with_name("nntune"))


def test_the_default_is_nntune_jax_in_the_user_cache_directory(tmp_path):
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    assert keep_compilations(environ) == tmp_path / "nntune" / "jax"
    assert environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "nntune" / "jax")
    assert environ["JAX_COMPILATION_CACHE_MAX_SIZE"] == str(CACHE_SIZE)
    assert not (tmp_path / "nntune").exists()  # JAX makes it when it first writes


def test_without_xdg_cache_home_it_is_under_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    expected = tmp_path / ".cache" / "nntune" / "jax"
    assert keep_compilations({}) == expected
    assert keep_compilations({"XDG_CACHE_HOME": "cache"}) == expected  # relative


def test_the_size_is_left_unbounded_without_filelock(monkeypatch, tmp_path):
    # JAX refuses a bound without filelock (and then caches nothing).
    real = jax_cache.importlib.util.find_spec
    monkeypatch.setattr(
        jax_cache.importlib.util,
        "find_spec",
        lambda name: None if name == "filelock" else real(name),
    )
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    assert keep_compilations(environ) is not None
    assert "JAX_COMPILATION_CACHE_MAX_SIZE" not in environ


def test_a_cache_directory_of_your_own_is_kept_as_it_is(tmp_path):
    for yours in (str(tmp_path), ""):  # empty: yours too (JAX then keeps nothing)
        environ = {"JAX_COMPILATION_CACHE_DIR": yours}
        assert keep_compilations(environ) is None
        assert environ == {"JAX_COMPILATION_CACHE_DIR": yours}


@pytest.mark.parametrize("value", ["off", "OFF ", "0", "false", "no"])
def test_nntune_jax_cache_off_sets_nothing(value, tmp_path):
    environ = {"NNTUNE_JAX_CACHE": value, "XDG_CACHE_HOME": str(tmp_path)}
    assert keep_compilations(environ) is None
    assert "JAX_COMPILATION_CACHE_DIR" not in environ


def test_a_value_neither_on_nor_off_is_refused():
    with pytest.raises(ValueError, match=r"must be on or off; got 'disable'"):
        keep_compilations({"NNTUNE_JAX_CACHE": "disable"})


def test_no_writable_cache_directory_means_no_cache(monkeypatch, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert keep_compilations({"XDG_CACHE_HOME": str(a_file)}) is None
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    monkeypatch.setattr(jax_cache.os, "access", lambda path, mode: False)  # read-only
    assert keep_compilations(environ) is None
    assert environ == {"XDG_CACHE_HOME": str(tmp_path)}


def test_no_home_directory_means_no_cache(monkeypatch):
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    assert keep_compilations({}) is None


def _command(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    found = subprocess.run(
        [NNTUNE, *args], capture_output=True, text=True, env=environ, timeout=300
    )
    assert found.returncode == 0, found.stderr
    return found


def _train(out: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _command(
        "train",
        "--data",
        "moons",
        "--backend",
        "jax",
        "--epochs",
        "3",
        "--no-report",
        "--out",
        str(out),
        environ=environ,
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
    assert "UserWarning" not in first.stderr, first.stderr  # JAX's, on cache errors

    second = _train(tmp_path / "second", environ)
    assert "Persistent compilation cache hit for 'jit_run'" in second.stderr
    metrics = [
        json.loads((tmp_path / run / "metrics.json").read_text())
        for run in ("first", "second")
    ]
    for split in ("train", "dev"):  # the same program, loaded: the same numbers
        assert metrics[0][split] == metrics[1][split]

    cache = json.loads(_command("info", "--json", environ=environ).stdout)["jax_cache"]
    assert cache["dir"] == str(kept)
    assert cache["set_by"] == "nntune"
    assert cache["programs"] == len(programs)
    assert cache["bytes"] > 0
    text = _command("info", environ=environ).stdout
    assert f"JAX keeps compiled programs in {kept} ({len(programs)} program" in text
    assert "NNTUNE_JAX_CACHE=off to not keep them" in text


def test_info_says_whose_cache_it_is_or_why_there_is_none(tmp_path):
    pytest.importorskip("jax")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    environ["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path)
    environ.pop("NNTUNE_JAX_CACHE")
    cache = json.loads(_command("info", "--json", environ=environ).stdout)["jax_cache"]
    assert cache == {"dir": str(tmp_path), "set_by": "you", "programs": 0, "bytes": 0}
    assert "your JAX_COMPILATION_CACHE_DIR" in _command("info", environ=environ).stdout

    off = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    assert off["NNTUNE_JAX_CACHE"] == "off"  # the suite's setting (conftest.py)
    text = _command("info", environ=off).stdout
    assert "JAX keeps no compiled programs between runs (NNTUNE_JAX_CACHE=off)" in text
