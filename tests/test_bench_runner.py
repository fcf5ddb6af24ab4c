"""The bench runner's decisions (benchmarks/fit_bench.py), without running a peer.

The gate decides whether a workload is timed at all, and the summary turns runs
into the ratios the issue's goals are read from: both are tested on made-up reports.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fit_bench


def _done(report: dict[str, Any]) -> Future[dict[str, Any]]:
    future: Future[dict[str, Any]] = Future()
    future.set_result(report)
    return future


def _gate(**reports: dict[str, Any]) -> dict[str, Any]:
    return fit_bench.gate({peer: _done(r) for peer, r in reports.items()})


def test_the_gate_passes_costs_that_agree_and_skips_what_did_not_run():
    found = _gate(
        nntune={"initial": 2.0, "after": 1.0},
        numpy={"initial": 2.0 + 1e-4, "after": 1.0 - 5e-5},  # 1e-4 of max(1, cost)
        keras={"initial": 2.0 + 1e-3, "after": 1.0},  # Keras's looser 1e-3
        torch={"skipped": "not installed"},
    )
    assert found["passed"], found["failures"]


def test_the_gate_fails_a_cost_that_disagrees_or_a_peer_that_failed():
    found = _gate(
        nntune={"initial": 2.0, "after": 1.0},
        numpy={"initial": 2.0, "after": 1.0 + 2e-4},
        jax={"error": ["ImportError: no jax"]},
    )
    assert not found["passed"]
    assert found["failures"] == [
        "numpy after 1.0002 vs nntune 1.0",
        "jax: ['ImportError: no jax']",
    ]
    broken = _gate(nntune={"error": ["Traceback"]}, numpy={"initial": 1.0})
    assert broken["failures"] == ["nntune: ['Traceback']"]  # nothing to compare to


def test_the_gate_compares_only_the_initial_cost_where_that_is_all_nntune_has():
    found = _gate(nntune={"initial": 2.0}, torch={"initial": 2.0, "after": 9.0})
    assert found["passed"]  # bn_dropout: the peers' dropout masks differ


def test_checks_run_beside_the_timing_only_on_spare_cpus(monkeypatch):
    monkeypatch.setattr(fit_bench.os, "sched_getaffinity", lambda pid: {0, 1})
    assert fit_bench.cores(1) == {1}
    assert fit_bench.spare(1) == {0}
    assert fit_bench.spare(2) == set()  # none spare: the checks run before timing

    submitted = []

    class Pool:
        def submit(self, function, *args):  # type: ignore[no-untyped-def]
            submitted.append((args[0], args[1], args[-1]))
            return _done({})

    args = argparse.Namespace(threads=1, quick=True)
    fit_bench.start_gates(["course", "mnist"], args, None, Pool())  # type: ignore[arg-type]
    where = {(peer, workload): cpus for peer, workload, cpus in submitted}
    assert where[("torch", "course")] == {0, 1}  # nothing is timed yet
    assert where[("torch", "mnist")] == {0}  # beside course's timing on CPU 1
    assert {peer for peer, _, _ in submitted} == set(fit_bench.GATED)


def _runs(**seconds: Any) -> dict[str, list[dict[str, Any]]]:
    def one(value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        return {
            "cpu_seconds": value,
            "wall_seconds": value + 0.01,
            "peak_mb": 100.0,
            "flops": 6e9,
        }

    return {
        peer: [one(v) for v in (values if isinstance(values, list) else [values])]
        for peer, values in seconds.items()
    }


def _entry() -> dict[str, Any]:
    return {"seconds": {}, "wall": {}, "peak_mb": {}, "compile_seconds": {}}


def test_the_summary_takes_medians_and_compares_nntune_best_with_the_fastest_peer():
    runs = _runs(
        nntune=[1.0, 3.0, 2.0],
        nntune_jax=[0.5, 0.7],
        numpy=0.4,  # the floor: not a peer of the ratio
        jax_scan=0.3,  # a reference: not a peer of the ratio either
        torch=1.5,
        jax=[1.2, 1.2],
        keras={"skipped": "Keras is not installed"},
        sklearn={"error": ["MemoryError"]},
    )
    found = fit_bench.summarize("mnist", _entry(), runs, {"environment": 100.0})
    assert found["seconds"]["nntune"] == 2.0
    assert found["nntune_best"] == pytest.approx(0.6)
    assert found["nntune_best_backend"] == "nntune_jax"
    assert found["speedup_vs_fastest_peer"] == pytest.approx(1.2 / 0.6)
    assert found["gflops"] == pytest.approx(6e9 / 0.6 / 1e9)
    assert found["gemm_peak_gflops"] == 100.0
    assert found["skipped"] == {"keras": "Keras is not installed"}
    assert found["errors"] == {"sklearn": ["MemoryError"]}
    table = fit_bench.markdown({"workloads": {"mnist": found}, "population": {}})
    assert "| mnist | 2.000 | 0.600 |" in table
    assert "keras" not in table.splitlines()[3]  # ran nowhere: not a column
    assert "Not run: keras (Keras is not installed)." in table


def test_a_workload_without_nntune_or_any_peer_gets_no_ratio():
    runs = _runs(nntune={"error": ["boom"]}, torch=1.0)
    found = fit_bench.summarize("course", _entry(), runs, {})
    assert found["speedup_vs_fastest_peer"] is None
    table = fit_bench.markdown({"workloads": {"course": found}, "population": {}})
    assert "| course | 1.000 | — | — |" in table  # no nntune column, no ratio
    assert "Failed wherever it ran: nntune (['boom'])." in table
