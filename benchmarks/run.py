"""Benchmark nntune against PyTorch eager CPU: time per MLP training step.

Each peer runs in its own process (``benchmarks/peers.py``) with the BLAS/OpenMP
thread count pinned through the environment before it starts. Per case the two peers
first check that they compute the same cost on the same float32 weights and batch;
then each is timed (median of several repeats). The table goes to stdout and
everything, with the environment, to ``benchmarks/results/latest.json``.

Usage::

    python benchmarks/run.py                 # all cases, 1 thread, ~35 s on 2 cores
    python benchmarks/run.py --quick         # smoke run
    python benchmarks/run.py --cases mnist --threads 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from peers import CASES, PEERS, THREAD_VARIABLES

HERE = Path(__file__).resolve().parent
WORKER = HERE / "peers.py"
DEFAULT_OUTPUT = HERE / "results" / "latest.json"
INITIAL_TOLERANCE = 1e-5
AFTER_STEPS_TOLERANCE = 1e-4
CHILD_TIMEOUT_S = 300


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated cases from {', '.join(CASES)} (default: all)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 3 short repeats per peer"
    )
    parser.add_argument(
        "--repeats", type=int, help="timed repeats per process (default 7)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="processes per peer, run in alternating order (default 2)",
    )
    parser.add_argument(
        "--target-seconds", type=float, help="seconds per repeat (default 0.2)"
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results path"
    )
    args = parser.parse_args(argv)
    args.cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in args.cases if name not in CASES]
    if unknown or not args.cases:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.target_seconds is None:
        args.target_seconds = 0.05 if args.quick else 0.2
    args.warmup_seconds = 0.05 if args.quick else 0.3
    if args.repeats < 1 or args.rounds < 1 or args.target_seconds <= 0:
        parser.error("--repeats and --rounds must be >= 1, --target-seconds > 0")
    return args


def child_env(threads: int) -> dict[str, str]:
    """The inherited environment with every thread variable set to ``threads``."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env  # OPENBLAS_CORETYPE and the rest stay as inherited


def run_peer(
    peer: str, case: str, mode: str, weights: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one worker process and return the JSON record it printed."""
    command = [
        sys.executable,
        str(WORKER),
        f"--peer={peer}",
        f"--case={case}",
        f"--mode={mode}",
        f"--threads={args.threads}",
        f"--weights={weights}",
        f"--repeats={args.repeats}",
        f"--target-seconds={args.target_seconds}",
        f"--warmup-seconds={args.warmup_seconds}",
    ]
    completed = subprocess.run(
        command,
        env=child_env(args.threads),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"{peer} {mode} on {case} failed (exit {completed.returncode}):\n"
            f"$ {' '.join(command)}\n{completed.stderr.strip()}"
        )
    if completed.stderr.strip():
        print(completed.stderr.strip(), file=sys.stderr)
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def compare_costs(nntune: dict[str, Any], torch: dict[str, Any]) -> dict[str, Any]:
    """Whether both peers agree on the initial cost and the cost after a few steps."""
    result: dict[str, Any] = {}
    passed = True
    for key, tolerance in (
        ("initial_cost", INITIAL_TOLERANCE),
        ("cost_after_steps", AFTER_STEPS_TOLERANCE),
    ):
        a, b = nntune[key], torch[key]
        difference = abs(a - b)
        ok = difference <= tolerance * max(1.0, abs(a))
        passed = passed and ok
        result[key] = {
            "nntune": a,
            "torch": b,
            "abs_diff": difference,
            "tolerance": tolerance,
            "passed": ok,
        }
    result["check_steps"] = nntune["check_steps"]
    result["passed"] = passed
    return result


def cpu_info() -> dict[str, Any]:
    """Model name, family/model numbers and SIMD flags of the first CPU."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name") or platform.processor() or "unknown",
        "cpu_family": fields.get("cpu family"),
        "cpu_model_number": fields.get("model"),
        "cpu_simd": sorted(flags & {"avx", "avx2", "fma", "avx512f", "avx512_bf16"}),
    }


def environment(threads: int) -> dict[str, Any]:
    """Where and when this run happened (library versions come from the workers)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **cpu_info(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "threads": threads,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "openblas_env": {
            key: value
            for key, value in os.environ.items()
            if key.startswith("OPENBLAS")
        },
        "git_commit": commit or None,
    }


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def format_table(results: list[dict[str, Any]]) -> str:
    """Median microseconds per step per peer and the torch/nntune ratio."""
    header = (
        f"{'case':<7} {'layers':<15} {'batch':>5} {'nntune us':>10} "
        f"{'torch us':>10} {'torch/nntune':>12}  check"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        case = result["case"]
        timing = result["timing"]
        cells = [
            f"{timing[p]['median_s'] * 1e6:>10.1f}" if p in timing else f"{'-':>10}"
            for p in PEERS
        ]
        ratio = result["ratio_torch_over_nntune"]
        ratio_cell = f"{ratio:>12.2f}" if ratio is not None else f"{'n/a':>12}"
        check = "ok" if result["check"]["passed"] else "FAILED"
        lines.append(
            f"{case['name']:<7} {case['shape']:<15} {case['batch']:>5} "
            f"{cells[0]} {cells[1]} {ratio_cell}  {check}"
        )
    return "\n".join(lines)


def time_case(
    name: str, weights: Path, args: argparse.Namespace, versions: dict[str, Any]
) -> dict[str, Any]:
    """Time both peers in ``args.rounds`` alternating rounds (A B, B A, ...).

    Each round is a fresh process per peer; the median is over all repeats pooled.
    """
    rounds: dict[str, list[dict[str, Any]]] = {peer: [] for peer in PEERS}
    for index in range(args.rounds):
        for peer in PEERS if index % 2 == 0 else PEERS[::-1]:
            record = run_peer(peer, name, "time", weights, args)
            versions[peer] = record.pop("info")
            rounds[peer].append(record)
            print(
                f"[{name}] {peer:<6} round {index + 1}: median "
                f"{record['median_s'] * 1e6:9.1f} us/step (min "
                f"{record['min_s'] * 1e6:.1f}, max {record['max_s'] * 1e6:.1f}; "
                f"{record['repeats']} x {record['steps_per_repeat']} steps)",
                flush=True,
            )
    timing = {}
    for peer, records in rounds.items():
        pooled = [seconds for record in records for seconds in record["repeat_s"]]
        timing[peer] = {
            "median_s": statistics.median(pooled),
            "min_s": min(pooled),
            "max_s": max(pooled),
            "n_repeats": len(pooled),
            "rounds": records,
        }
    return timing


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    env = environment(args.threads)
    print(
        f"nntune vs torch: {len(args.cases)} case(s), {args.threads} thread(s), "
        f"{args.rounds} round(s) x {args.repeats} repeats x ~{args.target_seconds} s;"
        f" CPU {env['cpu_model']}; OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}",
        flush=True,
    )
    load = env["load_average"][0]
    if load > 0.5:
        print(
            f"note: 1-minute load average is {load:.2f} at start; if other work is "
            "running, the timings will be noisy",
            flush=True,
        )
    results = []
    versions: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nntune-bench-") as scratch:
        for name in args.cases:
            case = CASES[name]
            weights = Path(scratch) / f"{name}.npz"
            checks = {
                peer: run_peer(peer, name, "check", weights, args) for peer in PEERS
            }
            check = compare_costs(checks["nntune"], checks["torch"])
            for peer, record in checks.items():
                versions.setdefault(peer, record["info"])
            first, after = check["initial_cost"], check["cost_after_steps"]
            print(
                f"[{name}] cost check {'ok' if check['passed'] else 'FAILED'}: "
                f"initial nntune {first['nntune']:.7f} torch {first['torch']:.7f} "
                f"(|diff| {first['abs_diff']:.1e}); after {check['check_steps']} "
                f"steps |diff| {after['abs_diff']:.1e}",
                flush=True,
            )
            timing: dict[str, Any] = {}
            if check["passed"]:
                timing = time_case(name, weights, args, versions)
            else:
                print(f"[{name}] not timed: the peers disagree", flush=True)
            ratio = (
                timing["torch"]["median_s"] / timing["nntune"]["median_s"]
                if timing
                else None
            )
            results.append(
                {
                    "case": {**asdict(case), "shape": case.shape},
                    "check": check,
                    "timing": timing,
                    "ratio_torch_over_nntune": ratio,
                }
            )
    elapsed = time.perf_counter() - started
    table = format_table(results)
    print()
    print(table)
    print(
        "\ntorch/nntune > 1 means nntune is faster. Medians over "
        f"{args.rounds} x {args.repeats} timed repeats per peer."
    )
    report = {
        "benchmark": "mlp_sgd_train_step",
        "description": (
            "median seconds per training step (forward + backward + plain SGD update, "
            "float32, one in-memory mini-batch); ratio = torch / nntune"
        ),
        "settings": {
            "cases": args.cases,
            "threads": args.threads,
            "quick": args.quick,
            "repeats": args.repeats,
            "rounds": args.rounds,
            "target_seconds_per_repeat": args.target_seconds,
            "warmup_seconds": args.warmup_seconds,
            "gc_disabled_while_timing": True,
        },
        "environment": {**env, "peers": versions},
        "results": results,
        "table": table,
        "total_seconds": elapsed,
        "load_average_at_end": os.getloadavg(),
    }
    write_atomic(args.output, report)
    print(f"wrote {args.output} in {elapsed:.1f} s total")
    return 0 if all(result["check"]["passed"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
