"""Per-peer benchmark worker: one peer, one case, one process, one JSON line out.

Started by ``benchmarks/run.py`` with the thread environment already pinned, e.g.::

    python benchmarks/peers.py --peer torch --case digits --threads 1 \
        --mode time --weights /tmp/x/digits.npz

Modes:
    ``check``  compute the cost of the initial weights and after a few SGD steps
               (the nntune peer also writes its initial float32 weights to
               ``--weights``; the torch peer reads them, ``Linear.weight = W.T``).
    ``time``   warm up, calibrate the steps per repeat, then time ``--repeats``
               repeats and report the median seconds per training step.

A training step is forward + backward + a plain SGD update on one float32 mini-batch
already in memory. Heavy libraries are imported only after the thread variables are
set, so running this file by hand with ``--threads`` pins threads too.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
LEARNING_RATE = 0.01
CHECK_STEPS = 3
DATA_SEED = 1234
INIT_SEED = 0


@dataclass(frozen=True)
class Case:
    """One benchmark case: an MLP ``n_in-hidden...-outputs`` and a batch size."""

    name: str
    n_in: int
    hidden: tuple[int, ...]
    outputs: int
    batch: int

    @property
    def shape(self) -> str:
        """The layer sizes, e.g. ``"64-128-64-10"``."""
        return "-".join(str(n) for n in (self.n_in, *self.hidden, self.outputs))


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("moons", 2, (10, 5), 2, 64),
        Case("digits", 64, (128, 64), 10, 128),
        Case("mnist", 784, (256, 128), 10, 256),
    )
}
PEERS = ("nntune", "torch")

Trainer = Callable[[int], float]
"""``train(n)`` runs ``n`` training steps and returns the cost seen by the last one
(computed on that step's weights, before its update)."""


# --------------------------------------------------------------------------- data
def make_batch(case: Case) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The case's mini-batch: standard-normal float32 rows and integer labels."""
    import numpy as np

    rng = np.random.default_rng(DATA_SEED)
    X = rng.standard_normal((case.batch, case.n_in)).astype(np.float32)
    y = rng.integers(0, case.outputs, size=case.batch)
    return X, y


# ------------------------------------------------------------------------- nntune
def nntune_trainer(case: Case, weights_out: str | None) -> Trainer:
    """Build nntune's training loop; optionally save the initial weights (npz)."""
    import numpy as np

    import nntune

    model = nntune.mlp(case.hidden, task="multiclass", outputs=case.outputs).init(
        case.n_in, seed=INIT_SEED, dtype="float32"
    )
    X, y = make_batch(case)
    x, targets = model.prepare(X, y)
    dense = [name for name in model.names if name in model.params]
    if weights_out is not None:
        arrays = {}
        for index, name in enumerate(dense):
            arrays[f"W{index}"] = model.params[name]["W"]
            arrays[f"b{index}"] = model.params[name]["b"]
        np.savez(weights_out, **arrays)
    params = model.params
    state = model.state
    lr = LEARNING_RATE

    def train(n: int) -> float:
        nonlocal params
        cost = 0.0
        for _ in range(n):
            cost, grads, _ = model.value_and_grad(params, state, x, targets)
            params = {
                layer: {name: p - lr * grads[layer][name] for name, p in arrays.items()}
                for layer, arrays in params.items()
            }
        return float(cost)

    return train


# -------------------------------------------------------------------------- torch
def torch_trainer(case: Case, weights_in: str, threads: int) -> Trainer:
    """Build PyTorch's eager training loop from nntune's saved initial weights."""
    import numpy as np
    import torch  # noqa: TID251 - the benchmark peer, not a core dependency
    from torch.nn.functional import cross_entropy  # noqa: TID251

    torch.set_num_threads(threads)
    sizes = (case.n_in, *case.hidden, case.outputs)
    layers: list[torch.nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        if index:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(fan_in, fan_out))
    net = torch.nn.Sequential(*layers)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with np.load(weights_in, allow_pickle=False) as saved, torch.no_grad():
        for index, linear in enumerate(linears):
            linear.weight.copy_(torch.from_numpy(saved[f"W{index}"].T.copy()))
            linear.bias.copy_(torch.from_numpy(saved[f"b{index}"]))
    X, y = make_batch(case)
    x = torch.from_numpy(X)
    labels = torch.from_numpy(y.astype(np.int64))
    params = list(net.parameters())
    lr = LEARNING_RATE

    def train(n: int) -> float:
        loss = torch.zeros(())
        for _ in range(n):
            for p in params:
                p.grad = None
            loss = cross_entropy(net(x), labels)
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-lr)
        return float(loss.detach())

    return train


# ------------------------------------------------------------------------ timing
def time_steps(
    train: Trainer,
    *,
    repeats: int,
    target_seconds: float,
    warmup_seconds: float,
) -> dict[str, Any]:
    """Warm up, pick steps per repeat for ~``target_seconds``, time the repeats."""
    steps = 1
    warm_start = time.perf_counter()
    while True:  # warm-up doubles as calibration
        start = time.perf_counter()
        train(steps)
        elapsed = time.perf_counter() - start
        if time.perf_counter() - warm_start >= warmup_seconds and elapsed > 0.01:
            break
        if elapsed < target_seconds / 2:
            steps *= 2
    per_step = elapsed / steps
    steps = max(1, round(target_seconds / per_step))
    seconds = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            cost = train(steps)
            seconds.append((time.perf_counter() - start) / steps)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "repeat_s": seconds,
        "steps_per_repeat": steps,
        "repeats": repeats,
        "final_cost": cost,
    }


# ----------------------------------------------------------------------- records
def library_info(peer: str) -> dict[str, Any]:
    """Versions and the thread pools the peer actually got."""
    import numpy as np

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "env": {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                key: pool.get(key)
                for key in ("internal_api", "num_threads", "version", "architecture")
            }
            for pool in threadpool_info()
        ]
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        info["threadpools"] = None
    if peer == "nntune":
        from importlib.metadata import version

        info["nntune"] = version("nntune")
    else:
        import torch  # noqa: TID251

        info["torch"] = torch.__version__
        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


def pin_threads(threads: int) -> None:
    """Set the thread variables (if the parent did not) before numpy/torch load."""
    for name in THREAD_VARIABLES:
        current = os.environ.get(name)
        if current is None:
            os.environ[name] = str(threads)
        elif current != str(threads):
            print(
                f"warning: {name}={current} but --threads {threads}; keeping {current}",
                file=sys.stderr,
            )


def profile(train: Trainer, steps: int, top: int) -> None:
    """Print the ``top`` functions by own time over ``steps`` steps to stderr."""
    import cProfile
    import pstats

    train(steps)  # warm
    profiler = cProfile.Profile()
    profiler.runcall(train, steps)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(top)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=PEERS, required=True)
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", choices=("check", "time"), default="time")
    parser.add_argument(
        "--weights",
        required=True,
        help="npz of the initial weights: written by nntune --mode check, read by "
        "torch",
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--target-seconds", type=float, default=0.2)
    parser.add_argument("--warmup-seconds", type=float, default=0.3)
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="TOP",
        help="instead of timing, cProfile 200 steps and print the TOP functions",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads < 1 or args.repeats < 1:
        raise SystemExit("--threads and --repeats must be >= 1")
    pin_threads(args.threads)
    case = CASES[args.case]
    record: dict[str, Any] = {
        "peer": args.peer,
        "mode": args.mode,
        "case": asdict(case),
        "threads": args.threads,
    }
    if args.peer == "nntune":
        weights_out = args.weights if args.mode == "check" else None
        train = nntune_trainer(case, weights_out=weights_out)
    else:
        train = torch_trainer(case, args.weights, args.threads)
    if args.mode == "check":
        record["initial_cost"] = train(1)
        train(CHECK_STEPS - 1)
        record["check_steps"] = CHECK_STEPS
        record["cost_after_steps"] = train(
            1
        )  # on the weights after CHECK_STEPS updates
    elif args.profile:
        profile(train, 200, args.profile)
        return 0
    else:
        record.update(
            time_steps(
                train,
                repeats=args.repeats,
                target_seconds=args.target_seconds,
                warmup_seconds=args.warmup_seconds,
            )
        )
    record["info"] = library_info(args.peer)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
