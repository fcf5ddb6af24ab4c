"""Start-up and I/O: import time, a one-epoch `nntune train`, CSV load time and memory.

Every measurement is a fresh process (this script run with ``--worker``, or the
command itself), after one warm-up run that is not counted; medians of ``--repeats``
runs are reported. Prints a markdown table and writes
``benchmarks/results/startup_io.json`` atomically.

    .venv/bin/python benchmarks/startup_io.py [--repeats 5] [--quick]

See benchmarks/README.md ("Start-up and I/O") for what each row measures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "startup_io.json"
ROWS, COLUMNS = 50_000, 50
BIG_COPIES = 4  # the 50k-row body four times: about 200 MB


# Workers: one measurement each, printed as one JSON line -----------------------------


def _peak_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss counts the parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _resident_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def worker(kind: str, path: str) -> dict[str, Any]:
    """Load ``path`` with one reader; the seconds of the load and the peak memory."""
    import numpy as np

    if kind == "pandas":
        import pandas as pd

        before = _resident_mb()
        started = time.perf_counter()
        frame = pd.read_csv(path)
        seconds = time.perf_counter() - started
        shape = list(frame.shape)
    else:
        import nntune

        if kind == "nntune-python":
            from nntune.data import csv_engines

            csv_engines.ENGINES = ()  # the Python reader, as without pyarrow/pandas
        before = _resident_mb()
        started = time.perf_counter()
        data = nntune.load_file(path)
        seconds = time.perf_counter() - started
        shape = list(data.X.shape)
        assert data.X.dtype == np.float64
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "before_mb": before,
        "shape": shape,
    }


# The orchestrator --------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Users' installs have bytecode caches; without them every import compiles.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _wall(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        command,
        cwd=cwd,
        env=_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _run_worker(kind: str, path: Path) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path)],
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def _median(runs: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(runs), "runs": runs}


def write_csv(folder: Path) -> tuple[Path, Path]:
    """A 50k x 50 numeric CSV (labels 0/1), and the same body four times (~200 MB)."""
    import numpy as np

    rng = np.random.default_rng(0)
    header = ",".join([f"x{i}" for i in range(COLUMNS)] + ["label"]) + "\n"
    small, big = folder / "50k_x_50.csv", folder / "200mb.csv"
    with small.open("w") as file:
        file.write(header)
        teacher = rng.standard_normal(COLUMNS)
        for start in range(0, ROWS, 5000):
            X = rng.standard_normal((min(5000, ROWS - start), COLUMNS))
            y = (X @ teacher > 0).astype(int)
            file.writelines(
                ",".join(map(repr, row)) + f",{label}\n"
                for row, label in zip(X.tolist(), y.tolist(), strict=True)
            )
    with small.open("rb") as source, big.open("wb") as target:
        target.write(source.readline())
        body = source.read()
        for _ in range(BIG_COPIES):
            target.write(body)
    return small, big


def _nntune_command() -> list[str]:
    script = Path(sys.executable).with_name("nntune")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nntune"]


def measure(repeats: int, quick: bool, folder: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    nntune = _nntune_command()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import nntune": [sys.executable, "-c", "import nntune"],
        "nntune --help": [*nntune, "--help"],
    }
    for name, command in commands.items():
        _wall(command, folder)  # warm-up: bytecode, page cache
        results[name] = _median([_wall(command, folder) for _ in range(repeats)])
        print(f"  {name}: {results[name]['median']:.3f} s", file=sys.stderr)

    def train(index: int) -> float:
        out = folder / f"run-{index}"
        shutil.rmtree(out, ignore_errors=True)
        return _wall([*nntune, "train", "--epochs", "1", "--out", str(out)], folder)

    train(-1)
    results["nntune train --epochs 1 (moons)"] = _median(
        [train(i) for i in range(repeats)]
    )
    print("  train: done", file=sys.stderr)

    small, big = write_csv(folder)
    results["files"] = {
        "csv_50k_x_50_mb": small.stat().st_size / 1e6,
        "csv_big_mb": big.stat().st_size / 1e6,
    }
    readers = ["nntune", "pandas"] if quick else ["nntune", "nntune-python", "pandas"]
    for reader in readers:
        _run_worker(reader, small)
        runs = [_run_worker(reader, small) for _ in range(repeats)]
        results[f"csv 50k x 50: {reader}"] = _median([run["seconds"] for run in runs])
        print(f"  csv {reader}: done", file=sys.stderr)
    for reader in readers:
        run = _run_worker(reader, big)
        results[f"csv 200 MB memory: {reader}"] = {
            "peak_mb": run["peak_mb"],
            "before_mb": run["before_mb"],
            "seconds": run["seconds"],
            "shape": run["shape"],
        }
        print(f"  memory {reader}: done", file=sys.stderr)
    return results


def environment() -> dict[str, Any]:
    versions = {}
    for module in ("numpy", "pyarrow", "pandas", "matplotlib", "sklearn"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "commit": commit,
    }


def table(results: dict[str, Any]) -> str:
    lines = ["| measurement | median | runs |", "|---|---:|---|"]
    for name, value in results.items():
        if "median" in value:
            runs = ", ".join(f"{run:.3f}" for run in value["runs"])
            lines.append(f"| {name} | {value['median']:.3f} s | {runs} |")
        elif "peak_mb" in value:
            lines.append(
                f"| {name} | {value['peak_mb']:.0f} MB peak | "
                f"{value['before_mb']:.0f} MB before the load; load "
                f"{value['seconds']:.2f} s |"
            )
    return "\n".join(lines)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing")
    parser.add_argument(
        "--quick", action="store_true", help="skip the pure-Python CSV reader (slow)"
    )
    parser.add_argument("--tmp", help="folder for the generated files")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=2, metavar=("READER", "PATH"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    folder = Path(tempfile.mkdtemp(prefix="nntune-startup-io-", dir=args.tmp))
    try:
        results = measure(args.repeats, args.quick, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    document = {
        "settings": {"repeats": args.repeats, "quick": args.quick},
        "environment": environment(),
        "results": results,
    }
    write_atomically(args.output, json.dumps(document, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
