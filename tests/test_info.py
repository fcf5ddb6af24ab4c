"""`nntune info` and the BLAS report: what runs matrix products, held back or not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nntune.backend.blas import blas_notes

NNTUNE = str(Path(sys.executable).parent / "nntune")
OPENBLAS = {"internal_api": "openblas", "num_threads": 1}


def test_avx2_kernels_on_an_avx512_cpu_are_reported_with_the_fix():
    pools = [{**OPENBLAS, "architecture": "Haswell"}]
    notes = blas_notes(
        pools, cpu_flags={"avx2", "avx512f"}, cores=2, coretype="Haswell"
    )
    assert len(notes) == 1
    assert "OPENBLAS_CORETYPE=Haswell" in notes[0]
    assert "unset OPENBLAS_CORETYPE" in notes[0]


def test_best_kernels_and_threads_within_the_cores_need_no_note():
    skylake = [{**OPENBLAS, "architecture": "SkylakeX"}]
    assert blas_notes(skylake, cpu_flags={"avx512f"}, cores=2, coretype=None) == []
    haswell = [{**OPENBLAS, "architecture": "Haswell"}]
    assert blas_notes(haswell, cpu_flags={"avx2"}, cores=2, coretype=None) == []


def test_more_blas_threads_than_cores_is_reported():
    pools = [{**OPENBLAS, "architecture": "Haswell", "num_threads": 8}]
    (note,) = blas_notes(pools, cpu_flags={"avx2"}, cores=2, coretype=None)
    assert "8 threads on 2 cores" in note


def test_info_command_reports_versions_extras_and_the_blas():
    found = subprocess.run(
        [NNTUNE, "info", "--json"], capture_output=True, text=True, check=True
    )
    report = json.loads(found.stdout)
    assert report["numpy"]
    assert report["extras"]["optuna"]["extra"] == "tune"
    assert report["blas"][0]["internal_api"] in ("openblas", "mkl", "blis")
    assert report["cores"] >= 1
    assert isinstance(report["notes"], list)
    assert report["jax_device"] == "cpu"  # the test extra installs JAX; no GPU here
    text = subprocess.run([NNTUNE, "info"], capture_output=True, text=True, check=True)
    assert "BLAS:" in text.stdout
    assert "backend='jax' runs on: cpu" in text.stdout
