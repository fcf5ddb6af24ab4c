"""Out-of-core training: peak memory and time of one epoch from a float32 .npy file.

Writes a ``--gb`` GB float32 ``X.npy`` and one of twice the examples (standard-normal
features, labelled by a random linear teacher into ``--classes`` classes; the labels
are a small ``y.npy`` of uint8) to a temporary folder under ``--tmp``, synced to disk,
then trains one epoch of ``nntune.mlp([--hidden], task="multiclass",
outputs=--classes)`` on ``np.load(X.npy, mmap_mode="r")`` with mini-batches of
``--batch-size``, ``--repeats`` times on each file (alternating). Each write and each
run is a process of its own; a run reports its wall and CPU seconds and its peak
memory (``ru_maxrss``, and ``VmHWM``: the process's own peak, without what
``ru_maxrss`` inherits from the process that started it). The time ratio compares the
fastest run of each size (the least disturbed on a shared machine). With
``--baseline``, the smaller file is also trained from the array loaded into memory.

The free space under ``--tmp`` is checked first (``shutil.disk_usage``): when the two
files do not fit, the sizes fall back to 1 GB and 2 GB, and the results say so. The
temporary files are deleted at the end.

Prints a markdown table and writes ``benchmarks/results/out_of_core.json``
atomically.
"""

from __future__ import annotations

import argparse
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

HERE = Path(__file__).resolve().parent
GB = 10**9
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def write(folder: Path, rows: int, features: int, classes: int) -> None:
    """Write ``X.npy`` (rows x features float32) and ``y.npy`` in 64 MB chunks."""
    import numpy as np

    rng = np.random.default_rng(1234)
    teacher = rng.standard_normal((features, classes)).astype(np.float32)
    step = max(1, (64 << 20) // (4 * features))
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, features)}
    labels = np.empty(rows, np.uint8)
    with (folder / "X.npy").open("wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        for start in range(0, rows, step):
            block = rng.standard_normal((min(step, rows - start), features), np.float32)
            labels[start : start + len(block)] = np.argmax(block @ teacher, axis=1)
            file.write(block.tobytes())
        # On disk before training starts: no write-back competes with the run.
        file.flush()
        os.fsync(file.fileno())
    np.save(folder / "y.npy", labels)


def train(folder: Path, hidden: int, classes: int, batch_size: int, mode: str) -> None:
    """Train one epoch and print a JSON line of what was measured."""
    import resource

    import numpy as np

    import nntune

    y = np.load(folder / "y.npy")
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    X = np.load(folder / "X.npy", mmap_mode=None if mode == "memory" else "r")
    loaded = time.perf_counter() - started_wall
    model = nntune.mlp([hidden], task="multiclass", outputs=classes)
    model.init(X.shape[1], seed=0)
    history = nntune.fit(
        model, X, y, epochs=1, batch_size=batch_size, seed=0, progress="silent"
    )
    seconds = time.perf_counter() - started_wall
    print(
        json.dumps(
            {
                "mode": mode,
                "rows": int(X.shape[0]),
                "features": int(X.shape[1]),
                "file_bytes": (folder / "X.npy").stat().st_size,
                "steps": len(history.iterations),
                "seconds": seconds,
                "load_seconds": loaded,
                "cpu_seconds": time.process_time() - started_cpu,
                "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                * 1024,
                "vmhwm_bytes": _vmhwm(),
                "train_cost": history.epochs[-1]["train_cost"],
                "train_accuracy": history.epochs[-1]["train_accuracy"],
            }
        )
    )


def _vmhwm() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _child(args: list[str], threads: int) -> dict[str, Any]:
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout else {}


def _memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def markdown(document: dict[str, Any]) -> str:
    lines = [
        f"Out-of-core training, {document['network']}, batch "
        f"{document['batch_size']}, 1 epoch, {document['threads']} BLAS thread(s)",
        "",
        "| data | X file | rows | steps | seconds | CPU seconds | s per M rows "
        "| ru_maxrss MB | VmHWM MB | train cost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in document["runs"]:
        per_million = run["seconds"] / run["rows"] * 1e6
        lines.append(
            f"| {run['mode']} | {run['file_bytes'] / GB:.2f} GB | {run['rows']:,} | "
            f"{run['steps']:,} | {run['seconds']:.1f} | {run['cpu_seconds']:.1f} | "
            f"{per_million:.2f} | "
            f"{_mb(run['ru_maxrss_bytes'])} | {_mb(run['vmhwm_bytes'])} | "
            f"{run['train_cost']:.4f} |"
        )
    scaling = document["scaling"]
    lines += [
        "",
        f"Twice the examples: {scaling['time_ratio']:.3f}x the wall time (fastest "
        f"of {document['repeats']} run(s) each; "
        f"{'within' if scaling['within_10_percent'] else 'NOT within'} 10% of 2x), "
        f"{scaling['median_time_ratio']:.3f}x the median wall time, "
        f"{scaling['cpu_time_ratio']:.3f}x the CPU time; peak memory (ru_maxrss) "
        f"under 1 GB: {document['under_1_gb']}.",
    ]
    lines += [f"Note: {note}" for note in document["notes"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gb", type=float, default=4.0, help="the smaller X file")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tmp", type=Path, default=Path("/tmp"))
    parser.add_argument("--repeats", type=int, default=1, help="runs of each size")
    parser.add_argument("--baseline", action="store_true", help="also train in memory")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--train", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="memmap", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write(args.write, args.rows, args.features, args.classes)
        return 0
    if args.train:
        train(args.train, args.hidden, args.classes, args.batch_size, args.mode)
        return 0

    notes = []
    free = shutil.disk_usage(args.tmp).free
    sizes = [args.gb, 2 * args.gb]
    if free < 3 * args.gb * GB * 1.05:  # both files at once, plus a margin
        notes.append(
            f"{free / GB:.1f} GB free under {args.tmp}: not enough for {args.gb:g} GB "
            f"and {2 * args.gb:g} GB files; ran 1 GB and 2 GB instead."
        )
        sizes = [1.0, 2.0]
        if free < 3 * GB * 1.05:
            raise SystemExit(f"{free / GB:.1f} GB free under {args.tmp}; need 3.2 GB.")
    memory = _memory()
    if memory is not None and memory < 2 * sum(sizes) * GB:
        notes.append(
            f"{memory / GB:.0f} GB of RAM: the files may not stay in the page cache, "
            "and their rows then come from the disk."
        )
    notes.append(
        "The files are read from the page cache (written just before): the times are "
        "the cost of reading rows through the kernel, not of a disk."
    )
    started = time.perf_counter()
    common = ["--features", str(args.features), "--classes", str(args.classes)]
    training = ["--hidden", str(args.hidden), "--batch-size", str(args.batch_size)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="nntune-ooc-", dir=args.tmp) as name:
        folders = [Path(name) / f"{size:g}GB" for size in sizes]
        for size, folder in zip(sizes, folders, strict=True):
            folder.mkdir()
            rows = int(size * GB) // (4 * args.features)
            print(f"writing {size:g} GB ({rows:,} rows) to {folder}", flush=True)
            _child(["--write", str(folder), "--rows", str(rows), *common], args.threads)
        for repeat in range(args.repeats):
            order = [0, 1] if repeat % 2 == 0 else [1, 0]  # alternate: drifts cancel
            for index in order:
                print(f"training one epoch on {sizes[index]:g} GB", flush=True)
                found = _child(
                    ["--train", str(folders[index]), *training, *common], args.threads
                )
                runs.append({**found, "size_gb": sizes[index], "repeat": repeat})
        if args.baseline:
            print(f"training one epoch on {sizes[0]:g} GB in memory", flush=True)
            found = _child(
                ["--train", str(folders[0]), "--mode", "memory", *training, *common],
                args.threads,
            )
            runs.append({**found, "size_gb": sizes[0], "repeat": 0})
    best = {}
    for size in sizes:
        mine = [r for r in runs if r["mode"] == "memmap" and r["size_gb"] == size]
        best[size] = {
            "seconds": min(r["seconds"] for r in mine),
            "median_seconds": statistics.median(r["seconds"] for r in mine),
            "cpu_seconds": min(r["cpu_seconds"] for r in mine),
            "ru_maxrss_bytes": max(r["ru_maxrss_bytes"] for r in mine),
        }
    small, large = best[sizes[0]], best[sizes[1]]
    ratio = large["seconds"] / small["seconds"]
    document = {
        "network": f"{args.features}-{args.hidden}-{args.classes} MLP (Adam)",
        "batch_size": args.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "sizes_gb": sizes,
        "runs": runs,
        "best": {f"{size:g}": found for size, found in best.items()},
        "scaling": {
            "time_ratio": ratio,
            "median_time_ratio": large["median_seconds"] / small["median_seconds"],
            "cpu_time_ratio": large["cpu_seconds"] / small["cpu_seconds"],
            "within_10_percent": abs(ratio - 2) <= 0.2,
        },
        "under_1_gb": all(found["ru_maxrss_bytes"] < GB for found in best.values()),
        "notes": notes,
        "environment": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "memory_bytes": memory,
            "free_disk_bytes": free,
        },
        "total_seconds": time.perf_counter() - started,
    }
    from nntune._files import atomic_write_text

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "out_of_core.json", json.dumps(document, indent=2))
    print(markdown(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
