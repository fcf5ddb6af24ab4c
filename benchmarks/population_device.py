"""Population throughput: nntune's JAX population beside a hand-written JAX one.

Course-sized nets (2-20-7-5-2, ReLU, softmax, Adam, 300 examples, mini-batches of
64, float32) trained as one population of K members that differ in learning rate,
for ``--epochs`` epochs, on JAX's default device (a GPU when there is one)::

    python benchmarks/population_device.py --members 1024 4096 --epochs 200 \\
        --out benchmarks/results/population_device.json

Both peers see the same shuffles; each is run twice and timed the second time (the
first compiles). nntune's time is that of :func:`nntune.population.fit_population`
from the model to the members' histories and final states (its set-up, drawing
the members' weights, is also reported apart); the hand-written peer is
``jit(vmap(train))`` over the members with ``lax.scan`` over epochs and batches,
its weights drawn on the device and no history kept. Throughput is in
model-epochs per second. It also trains one mnist-sized net (784-256-128-10, 60k
examples, 2 epochs) with ``fit(backend="jax")`` and ``backend="numpy"``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = (2, 20, 7, 5, 2)
EXAMPLES, BATCH, RATE = 300, 64, 1e-3


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    X = rng.standard_normal((EXAMPLES, 2), dtype=np.float32)
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def rates(count: int) -> np.ndarray:
    return np.logspace(-4, -1, count)


def nntune_population(count: int, epochs: int) -> dict[str, float]:
    import nntune
    from nntune.population import _members, fit_population, member_states

    X, y = data()
    model = nntune.mlp([20, 7, 5], task="multiclass", outputs=2).init(2, seed=0)
    optimizer = nntune.adam(RATE)  # one object: the second run reuses the compile
    members = [{"learning_rate": r, "init_seed": i} for i, r in enumerate(rates(count))]
    started = time.perf_counter()
    member_states(model, optimizer, _members(members, 0), 2)
    setup = time.perf_counter() - started
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        result = fit_population(
            model,
            X,
            y,
            members=members,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=BATCH,
            backend="jax",
        )
        seconds.append(time.perf_counter() - started)
    final = [h.epochs[-1]["train_cost"] for h in result.histories]
    return {
        "first_seconds": seconds[0],
        "seconds": seconds[1],
        "setup_seconds": setup,
        "model_epochs_per_second": count * epochs / seconds[1],
        "median_final_cost": float(np.nanmedian(final)),
    }


def handwritten_population(count: int, epochs: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    X, y = data()
    onehot = np.eye(2, dtype=np.float32)[y]
    shuffle = np.random.default_rng(0)
    orders = np.stack([shuffle.permutation(EXAMPLES) for _ in range(epochs)])
    full = EXAMPLES // BATCH * BATCH
    index = orders[:, :full].reshape(epochs, -1, BATCH).astype(np.int32)
    rest = orders[:, full:].astype(np.int32)

    def init(key: Any) -> list[tuple[Any, Any]]:
        keys = jax.random.split(key, len(SIZES) - 1)
        return [
            (
                jax.random.normal(k, (a, b), jnp.float32) * jnp.sqrt(2.0 / a),
                jnp.zeros(b, jnp.float32),
            )
            for k, a, b in zip(keys, SIZES, SIZES[1:], strict=False)
        ]

    def loss(params: Any, x: Any, t: Any) -> Any:
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = params[-1]
        return -jnp.mean(jnp.sum(t * jax.nn.log_softmax(x @ W + b), axis=-1))

    def adam_step(carry: Any, rows: Any) -> Any:
        params, m, v, t, lr = carry
        grads = jax.grad(loss)(params, Xd[rows], Td[rows])
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        params = jax.tree_util.tree_map(
            lambda p, a, b: p - lr * (a / c1) / (jnp.sqrt(b / c2) + 1e-8), params, m, v
        )
        return (params, m, v, t, lr), None

    def train(key: Any, lr: Any) -> Any:
        params = init(key)
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        carry = (params, zeros, zeros, jnp.float32(0), lr)

        def epoch(carry: Any, batches: Any) -> Any:
            equal, last = batches
            carry, _ = jax.lax.scan(adam_step, carry, equal)
            carry, _ = adam_step(carry, last)
            return carry, None

        carry, _ = jax.lax.scan(epoch, carry, (index, rest))
        params = carry[0]
        return loss(params, Xd, Td)

    Xd, Td = jnp.asarray(X), jnp.asarray(onehot)
    run = jax.jit(jax.vmap(train))
    keys = jax.random.split(jax.random.PRNGKey(0), count)
    lrs = jnp.asarray(rates(count), jnp.float32)
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        costs = jax.block_until_ready(run(keys, lrs))
        seconds.append(time.perf_counter() - started)
    return {
        "first_seconds": seconds[0],
        "seconds": seconds[1],
        "model_epochs_per_second": count * epochs / seconds[1],
        "median_final_cost": float(np.nanmedian(np.asarray(costs))),
    }


def one_model(backend: str) -> dict[str, float]:
    import nntune

    rng = np.random.default_rng(1234)
    X = rng.standard_normal((60_000, 784), dtype=np.float32)
    y = np.argmax(X @ rng.standard_normal((784, 10)).astype(np.float32), axis=1)
    seconds = []
    optimizer = nntune.adam(RATE)
    for _ in range(2):
        model = nntune.mlp([256, 128], task="multiclass", outputs=10).init(784, seed=0)
        started = time.perf_counter()
        history = nntune.fit(
            model,
            X,
            y,
            optimizer=optimizer,
            epochs=2,
            batch_size=128,
            progress="silent",
            backend=backend,
        )
        seconds.append(time.perf_counter() - started)
    return {
        "first_seconds": seconds[0],
        "seconds": seconds[1],
        "final_train_cost": history.epochs[-1]["train_cost"],
    }


def environment() -> dict[str, Any]:
    import jax

    found: dict[str, Any] = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(AttributeError, IndexError):
        found["device_kind"] = jax.devices()[0].device_kind
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--skip-one-model", action="store_true")
    parser.add_argument(
        "--at-once",
        type=int,
        default=None,
        help="epochs per compiled call (default: nntune's EPOCHS_AT_ONCE)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.at_once is not None:
        import nntune.population.engines

        nntune.population.engines.EPOCHS_AT_ONCE = args.at_once
    report: dict[str, Any] = {"environment": environment(), "epochs": args.epochs}
    report["at_once"] = args.at_once
    print(json.dumps(report["environment"]), flush=True)
    rows = []
    for count in args.members:
        ours = nntune_population(count, args.epochs)
        theirs = handwritten_population(count, args.epochs)
        rows.append(
            {
                "members": count,
                "nntune": ours,
                "handwritten_jax": theirs,
                "ratio": theirs["model_epochs_per_second"]
                / ours["model_epochs_per_second"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    report["population"] = rows
    if not args.skip_one_model:
        report["one_model_mnist"] = {b: one_model(b) for b in ("jax", "numpy")}
        print(json.dumps(report["one_model_mnist"]), flush=True)
    print(
        "| members | nntune model-epochs/s | hand-written JAX | hand-written / nntune |"
    )
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['members']} | {row['nntune']['model_epochs_per_second']:,.0f} | "
            f"{row['handwritten_jax']['model_epochs_per_second']:,.0f} | "
            f"{row['ratio']:.2f} |"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=args.out.parent, delete=False, suffix=".tmp"
        ) as handle:
            json.dump(report, handle, indent=2)
        os.replace(handle.name, args.out)


if __name__ == "__main__":
    main()
