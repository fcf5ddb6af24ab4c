"""Study stores under parallel workers: failures and seconds (docs/tuning.md).

Eight processes each run 25 trials (ask, 5 intermediate values, a user attribute,
tell) against one store: SQLite as Optuna opens it by default, SQLite in WAL mode
with a busy timeout (nntune's ``sqlite:///`` URLs), and the journal file with
nntune's flock lock (the default). Prints one JSON object per store.

    .venv/bin/python benchmarks/study_storage.py [--workers 8] [--trials 25]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path


def _open(kind: str, folder: str):  # type: ignore[no-untyped-def]
    import optuna

    from nntune.tuning.storage import open_storage

    if kind == "sqlite-default":
        return optuna.storages.RDBStorage(f"sqlite:///{folder}/default.db")
    if kind == "sqlite-wal":
        return open_storage(f"sqlite:///{folder}/wal.db")
    return open_storage(folder)


def _worker(kind: str, folder: str, trials: int, queue) -> None:  # type: ignore[no-untyped-def]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    failures: list[str] = []
    done = 0
    try:
        study = optuna.load_study(study_name="bench", storage=_open(kind, folder))
    except Exception as error:
        queue.put((0, [f"load: {error}"]))
        return
    for _ in range(trials):
        try:
            trial = study.ask()
            x = trial.suggest_float("x", -1, 1)
            for step in range(5):
                trial.report(x * x + step, step)
            trial.set_user_attr("note", "x" * 100)
            study.tell(trial, x * x)
            done += 1
        except Exception as error:
            failures.append(str(error).splitlines()[0][:120])
    queue.put((done, failures))


def measure(kind: str, workers: int, trials: int) -> dict[str, object]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        optuna.create_study(study_name="bench", storage=_open(kind, folder))
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        started = time.perf_counter()
        processes = [
            context.Process(target=_worker, args=(kind, folder, trials, queue))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        results = [queue.get() for _ in processes]
        for process in processes:
            process.join()
        seconds = time.perf_counter() - started
        reopened = optuna.load_study(study_name="bench", storage=_open(kind, folder))
        stored = len(reopened.trials)
    failures = [f for _, fs in results for f in fs]
    return {
        "store": kind,
        "workers": workers,
        "trials_told": sum(done for done, _ in results),
        "trials_stored": stored,
        "failures": len(failures),
        "locked_failures": sum("locked" in f for f in failures),
        "first_failure": failures[0] if failures else None,
        "seconds": round(seconds, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=25)
    arguments = parser.parse_args()
    for kind in ("sqlite-default", "sqlite-wal", "journal"):
        found = measure(kind, arguments.workers, arguments.trials)
        print(json.dumps(found), flush=True)
    print(json.dumps({"folder": str(Path.cwd())}))
