"""Whole training runs: nntune against every peer, each in its own process.

``make bench`` runs this (``--quick``: ``make bench-quick``). For each workload
(``course``, ``mnist``, ``bn_dropout``, ``wide``; see ``fit_peers.py``):

1. a correctness gate: every peer that can load the same initial weights reports the
   cost of those weights and after 3 Adam steps; they must agree (1e-4 relative,
   Keras 1e-3) before the workload is timed (the checks are not timed: they run on
   the CPUs no timed peer uses, while earlier workloads are timed);
2. ``--rounds`` rounds, the peers in a rotated order each round, every run a fresh
   process with its BLAS/OpenMP threads pinned (``--threads``, default 1) and bound
   to as many CPUs (XLA does not read the thread variables), reporting
   CPU and wall seconds of the training itself and the process's peak memory;
3. medians per peer; nntune's speed-up against the fastest peer among PyTorch,
   JAX+Optax (a jitted step per mini-batch), scikit-learn and Keras (when it is
   installed); nntune's achieved
   GFLOPS against the float32 GEMM peak measured in the same run.

The NumPy peers (nntune and the hand-written loop) run under the environment's
``OPENBLAS_CORETYPE`` and, when it is set, also without it (OpenBLAS then picks the
CPU's own kernels); both are recorded. The population run trains 64 course nets as
one population and as 64 separate ``fit`` calls.

Writes ``benchmarks/results/latest.json`` and ``latest.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from peers import THREAD_VARIABLES as PINNED  # benchmarks/ is on the path

HERE = Path(__file__).resolve().parent
PEERS = (
    "nntune",
    "nntune_jax",
    "numpy",
    "torch",
    "jax",
    "jax_scan",
    "sklearn",
    "keras",
)
GATED = ("nntune", "numpy", "torch", "jax", "keras")
TOLERANCE = 1e-4
"""Relative difference of the gate's costs from nntune's."""
LOOSER = {"keras": 1e-3}
"""Keras's Adam adds its epsilon after the bias correction (the Adam paper's
epsilon-hat): on wide, whose gradients are small, that moves the cost after 3 steps
by about 1e-4 of itself."""
FASTEST_AMONG = ("torch", "jax", "sklearn", "keras")
NUMPY_PEERS = ("nntune", "numpy")
NO_BN = {"numpy", "jax", "jax_scan", "sklearn"}  # peers without batch norm here
QUICK_SKIPS = {
    "jax_scan": "not run by --quick: a reference, not one of the ratio's peers",
}


def environment(threads: int, coretype: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in PINNED:
        env[name] = str(threads)
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false" if threads == 1 else ""
    env.pop("OPENBLAS_CORETYPE", None)
    # Every compile is timed as a compile, never loaded from a cache on disk.
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def cores(threads: int) -> set[int]:
    """The CPUs a timed peer runs on: ``threads`` of them (the last ones allowed).

    The thread variables pin the BLAS libraries, but not every runtime reads them
    (XLA sizes its own pool), and CPU seconds are only comparable when no peer
    spreads its work over idle cores: each process is bound to these CPUs.
    """
    allowed = sorted(os.sched_getaffinity(0))
    return set(allowed[-threads:])


def spare(threads: int) -> set[int]:
    """The CPUs no timed peer uses, where the gate's checks run meanwhile (none:
    the checks run before the timing, on every CPU)."""
    return set(os.sched_getaffinity(0)) - cores(threads)


def run(
    peer: str,
    workload: str,
    mode: str,
    args: argparse.Namespace,
    coretype: str | None,
    cpus: set[int] | None = None,
) -> dict[str, Any]:
    """One peer in a fresh process, bound to ``cpus`` (default: the timing CPUs)."""
    bound = cores(args.threads) if cpus is None else cpus
    command = [sys.executable, str(HERE / "fit_peers.py"), "--peer", peer]
    command += ["--workload", workload, "--mode", mode]
    if args.quick:
        command.append("--quick")
    env = environment(args.threads, coretype)
    # The child binds itself first thing (fit_peers.py): no preexec_fn, which is
    # not safe in the threads the gate's checks run from.
    env["NNTUNE_BENCH_CPUS"] = ",".join(str(c) for c in sorted(bound))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_gates(
    workloads: list[str],
    args: argparse.Namespace,
    coretype: str | None,
    pool: ThreadPoolExecutor,
) -> dict[str, dict[str, Future[dict[str, Any]]]]:
    """Every workload's checks, queued in the pool.

    Nothing in the gate is timed: the first workload's checks run on every CPU
    (nothing is timed before them), the others' on the spare CPUs (:func:`spare`)
    while the timed peers run on theirs. Without a spare CPU, every workload's
    checks run on every CPU, and its timing waits for them. A workload is timed
    once its own checks are in.
    """
    everywhere = set(os.sched_getaffinity(0))
    checks = spare(args.threads) or everywhere
    return {
        workload: {
            p: pool.submit(
                run, p, workload, "check", args, coretype, checks if i else everywhere
            )
            for p in GATED
        }
        for i, workload in enumerate(workloads)
    }


def gate(checks: dict[str, Future[dict[str, Any]]]) -> dict[str, Any]:
    reports = {p: found.result() for p, found in checks.items()}
    reference = reports["nntune"]
    failures = []
    for peer, found in reports.items():
        if "skipped" in found:  # Keras where it is not installed
            continue
        for key in ("initial", "after"):
            if key not in reference and "error" not in found:
                continue  # bn_dropout: the initial cost only
            if key not in found:
                failures.append(f"{peer}: {found.get('error')}")
                break
            scale = max(1.0, abs(reference[key])) * LOOSER.get(peer, TOLERANCE)
            if abs(found[key] - reference[key]) > scale:
                failures.append(f"{peer} {key} {found[key]} vs nntune {reference[key]}")
    return {"costs": reports, "passed": not failures, "failures": failures}


def time_workload(
    workload: str,
    checked: dict[str, Any],
    args: argparse.Namespace,
    coretype: str | None,
    rounds: int,
    gemm: dict[str, Any],
) -> dict[str, Any]:
    """A workload's timed rounds (none when its gate failed) and its ratios."""
    entry: dict[str, Any] = {
        "gate": checked,
        "seconds": {},
        "wall": {},
        "peak_mb": {},
        "compile_seconds": {},
    }
    if not checked["passed"]:
        return entry
    peers = [p for p in PEERS if not (workload == "bn_dropout" and p in NO_BN)]
    if args.quick:
        entry["skipped"] = {p: QUICK_SKIPS[p] for p in peers if p in QUICK_SKIPS}
        peers = [p for p in peers if p not in QUICK_SKIPS]
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
    variants = {p: coretype for p in peers}
    if coretype:
        for p in NUMPY_PEERS:
            runs[f"{p}@cpu_best"] = []
            variants[f"{p}@cpu_best"] = None
    names = list(runs)
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            peer = name.split("@")[0]
            runs[name].append(run(peer, workload, "time", args, variants[name]))
    return summarize(workload, entry, runs, gemm)


def summarize(
    workload: str,
    entry: dict[str, Any],
    runs: dict[str, list[dict[str, Any]]],
    gemm: dict[str, Any],
) -> dict[str, Any]:
    """``entry`` with each peer's medians and nntune's ratios, from ``runs``.

    A peer none of whose runs timed anything is recorded as skipped (with its
    reason) or as an error; without nntune's or a peer's seconds the ratio is None.
    """
    flops = None
    for name, found in runs.items():
        good = [f for f in found if "cpu_seconds" in f]
        if not good:
            entry["seconds"][name] = None
            if "skipped" in found[0]:
                entry.setdefault("skipped", {})[name] = found[0]["skipped"]
            else:
                entry.setdefault("errors", {})[name] = found[0].get("error")
            continue
        entry["seconds"][name] = statistics.median(f["cpu_seconds"] for f in good)
        entry["wall"][name] = statistics.median(f["wall_seconds"] for f in good)
        entry["peak_mb"][name] = max(f["peak_mb"] for f in good)
        if "compile_seconds" in good[0]:
            compiled = statistics.median(f["compile_seconds"] for f in good)
            entry["compile_seconds"][name] = compiled
        flops = good[0]["flops"]
    ours = {
        n: entry["seconds"].get(n) for n in ("nntune", "nntune@cpu_best", "nntune_jax")
    }
    timed = [(v, n) for n, v in ours.items() if v]
    peers_seconds = [v for p in FASTEST_AMONG if (v := entry["seconds"].get(p))]
    if not timed or not peers_seconds:
        entry["speedup_vs_fastest_peer"] = None
        print(f"{workload}: no ratio (nntune or every peer failed)", flush=True)
        return entry
    best, entry["nntune_best_backend"] = min(timed)
    fastest = min(peers_seconds)
    entry["nntune_best"] = best
    entry["speedup_vs_fastest_peer"] = fastest / best
    entry["gflops"] = flops / best / 1e9 if flops else None
    entry["gemm_peak_gflops"] = max((v for v in gemm.values() if v), default=None)
    print(
        f"{workload}: nntune {best:.3f}s, fastest peer {fastest:.3f}s "
        f"({entry['speedup_vs_fastest_peer']:.2f}x)",
        flush=True,
    )
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, 1 round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workloads", default="course,mnist,bn_dropout,wide")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    started = time.perf_counter()
    gemm = {
        "environment": run("gemm", "course", "time", args, coretype).get("gflops"),
    }
    if coretype:
        gemm["cpu_best"] = run("gemm", "course", "time", args, None).get("gflops")
    results: dict[str, Any] = {}
    workloads = args.workloads.split(",")
    everywhere = set(os.sched_getaffinity(0))
    overlapped = bool(spare(args.threads))
    pool = ThreadPoolExecutor(max_workers=len(everywhere))
    try:
        # Without a spare CPU, a workload's checks are queued only at its turn:
        # none runs beside a timed peer.
        checks = start_gates(workloads if overlapped else [], args, coretype, pool)
        for workload in workloads:
            if workload not in checks:
                checks.update(start_gates([workload], args, coretype, pool))
            checked = gate(checks[workload])
            print(
                f"{workload}: gate "
                + ("passed" if checked["passed"] else f"FAILED {checked['failures']}"),
                flush=True,
            )
            results[workload] = time_workload(
                workload, checked, args, coretype, rounds, gemm
            )
    finally:  # on an error, the checks still queued are not waited for
        pool.shutdown(wait=False, cancel_futures=True)
    exit_status = int(any(not e["gate"]["passed"] for e in results.values()))
    population = run("population", "course", "time", args, coretype)
    if "population" in population:
        best_population = min(
            population["population"], population.get("population_jax") or math.inf
        )
        population["population_speedup"] = population["separate"] / best_population
        population["population_speedup_numpy"] = (
            population["separate"] / population["population"]
        )
    document = {
        "workloads": results,
        "population": population,
        "population_speedup": population.get("population_speedup"),
        "gemm_peak_gflops": gemm,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "cores": sorted(cores(args.threads)),
            "OPENBLAS_CORETYPE": coretype,
            "rounds": rounds,
            "quick": args.quick,
            "gate_beside_timing": overlapped,  # on other CPUs (see start_gates)
        },
        "seconds": time.perf_counter() - started,
    }
    from nntune._files import atomic_write_text

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "latest.json", json.dumps(document, indent=2) + "\n")
    atomic_write_text(args.out / "latest.md", markdown(document))
    print(markdown(document))
    return exit_status


def markdown(document: dict[str, Any]) -> str:
    workloads = document["workloads"]
    names: list[str] = []
    skipped: dict[str, str] = {}
    failed: dict[str, Any] = {}
    for entry in workloads.values():
        names += [n for n in entry["seconds"] if n not in names]
        skipped.update(entry.get("skipped", {}))
        failed.update(entry.get("errors", {}))
    # A peer that ran nowhere (Keras, not installed) is named below, not tabled.
    names = [n for n in names if any(e["seconds"].get(n) for e in workloads.values())]
    header = " | ".join(names)
    lines = [
        "CPU seconds of the training (median over rounds), one BLAS thread per peer;",
        "compilation (JAX, Keras) is not included (`compile_seconds` in latest.json).",
        "",
        f"| workload | {header} | nntune vs fastest peer | GFLOPS (peak) |",
        "|---" * (len(names) + 3) + "|",
    ]
    for workload, entry in workloads.items():
        cells = [
            "—" if entry["seconds"].get(n) is None else f"{entry['seconds'][n]:.3f}"
            for n in names
        ]
        speedup = entry.get("speedup_vs_fastest_peer")
        gflops = entry.get("gflops")
        lines.append(
            f"| {workload} | "
            + " | ".join(cells)
            + f" | {'—' if speedup is None else f'{speedup:.2f}x'} | "
            + (
                "—"
                if gflops is None
                else f"{gflops:.1f} ({entry['gemm_peak_gflops'] or 0:.0f})"
            )
            + " |"
        )
    for name, reason in skipped.items():
        if name not in names:
            lines += ["", f"Not run: {name} ({reason})."]
    for name, error in failed.items():
        if name not in names:
            lines += ["", f"Failed wherever it ran: {name} ({error})."]
    population = document.get("population") or {}
    if "population" in population:
        on_jax = "JAX not run by --quick"
        if population.get("population_jax") is not None:
            on_jax = (
                f"{population['population_jax']:.2f}s on JAX (+"
                f"{population['population_jax_compile']:.1f}s to compile)"
            )
        lines += [
            "",
            f"64 course nets: one population {population['population']:.2f}s on "
            f"NumPy, {on_jax}; 64 separate NumPy fits {population['separate']:.2f}s "
            f"({population['population_speedup']:.1f}x).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
