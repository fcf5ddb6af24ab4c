"""One peer trains one workload in this process; prints one JSON line.

Started by ``benchmarks/fit_bench.py`` with the thread variables already pinned::

    python benchmarks/fit_peers.py --peer torch --workload mnist --weights W.npz \
        --mode time

A workload is a whole training run as its users write it: Adam (lr 1e-3), float32,
shuffled mini-batches, softmax cross-entropy over an MLP with ReLU. ``check`` mode
reports the cost of the initial weights (the same for every peer, loaded from
``--weights``) and after 3 Adam steps on the first 3 mini-batches in order, for the
correctness gate; ``time`` mode trains the workload and reports CPU and wall seconds
and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

if "NNTUNE_BENCH_CPUS" in os.environ:  # fit_bench.py's binding, before any import
    CPUS = os.environ["NNTUNE_BENCH_CPUS"].split(",")
    os.sched_setaffinity(0, {int(c) for c in CPUS})

import numpy as np  # after the binding: runtimes size their pools from it

LEARNING_RATE = 1e-3
CHECK_STEPS = 3
KEEP_PROB = 0.8


@dataclass(frozen=True)
class Workload:
    """An MLP ``n_in-hidden...-classes``, its data size, batch and epochs."""

    name: str
    n_in: int
    hidden: tuple[int, ...]
    classes: int
    examples: int
    batch: int
    epochs: int
    bn_dropout: bool = False
    quick: bool = False  # make bench-quick's smaller run

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_in, *self.hidden, self.classes)

    @property
    def flops(self) -> float:
        """Matrix-product FLOPs of the run: 2 forward + 4 backward per weight."""
        weights = sum(a * b for a, b in zip(self.sizes, self.sizes[1:], strict=False))
        return 6.0 * weights * self.examples * self.epochs


WORKLOADS = {
    w.name: w
    for w in (
        Workload("course", 2, (20, 7, 5), 2, 300, 64, 200),
        Workload("mnist", 784, (256, 128), 10, 60_000, 128, 1),
        Workload("bn_dropout", 784, (256, 128), 10, 60_000, 128, 1, bn_dropout=True),
        Workload("wide", 1024, (2048, 2048), 10, 20_000, 512, 1),
    )
}
QUICK = {
    "course": Workload("course", 2, (20, 7, 5), 2, 300, 64, 48, quick=True),
    "mnist": Workload("mnist", 784, (256, 128), 10, 10_000, 128, 1, quick=True),
    "bn_dropout": Workload(
        "bn_dropout", 784, (256, 128), 10, 10_000, 128, 1, True, quick=True
    ),
    "wide": Workload("wide", 1024, (2048, 2048), 10, 2_048, 512, 1, quick=True),
}


def data(workload: Workload) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    X = rng.standard_normal((workload.examples, workload.n_in), dtype=np.float32)
    teacher = rng.standard_normal((workload.n_in, workload.classes)).astype(np.float32)
    y = np.argmax(X @ teacher + rng.standard_normal(teacher.shape[1]), axis=1)
    return X, y.astype(np.int64)


def initial_weights(workload: Workload) -> dict[str, np.ndarray]:
    """He-initialised float32 weights, the same for every peer."""
    rng = np.random.default_rng(0)
    found = {}
    for i, (a, b) in enumerate(zip(workload.sizes, workload.sizes[1:], strict=False)):
        found[f"W{i}"] = (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(
            np.float32
        )
        found[f"b{i}"] = np.zeros(b, dtype=np.float32)
    return found


class _Clock:
    """CPU and wall seconds of the training itself (not imports or data)."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def start(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def stop(self) -> dict[str, float]:
        return {
            "cpu_seconds": time.process_time() - self.cpu,
            "wall_seconds": time.perf_counter() - self.wall,
        }


CLOCK = _Clock()


def batches(m: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(m)
    return [order[i : i + batch] for i in range(0, m, batch)]


# -- peers ------------------------------------------------------------------------


def _nntune_model(workload, weights):  # type: ignore[no-untyped-def]
    import nntune

    model = nntune.mlp(
        list(workload.hidden),
        task="multiclass",
        outputs=workload.classes,
        init="he",
        batch_norm=workload.bn_dropout,
        keep_prob=KEEP_PROB if workload.bn_dropout else 1.0,
    ).init(workload.n_in, seed=0, dtype="float32")
    dense = [name for name in model.params if "W" in model.params[name]]
    for i, name in enumerate(dense):
        model.params[name]["W"] = weights[f"W{i}"].copy()
        if "b" in model.params[name]:
            model.params[name]["b"] = weights[f"b{i}"].reshape(
                model.params[name]["b"].shape
            )
    return model


def nntune_peer(workload, weights, mode, backend="numpy"):  # type: ignore[no-untyped-def]
    import nntune

    X, y = data(workload)
    model = _nntune_model(workload, weights)
    optimizer = nntune.adam(LEARNING_RATE)
    compile_seconds = None
    if backend == "jax":
        if mode == "check":
            return {"skipped": "tests/test_jax_backend.py checks it against NumPy"}
        from nntune.training.compiled import EPOCHS_AT_ONCE

        # Compile first (reported apart): a short run of the same model and
        # optimizer compiles what the timed run uses, and only that (epochs run
        # EPOCHS_AT_ONCE at a time, the last few one at a time).
        epochs = workload.epochs
        if epochs > EPOCHS_AT_ONCE:
            epochs = EPOCHS_AT_ONCE + epochs % EPOCHS_AT_ONCE
        CLOCK.start()
        nntune.fit(
            _nntune_model(workload, weights),
            X,
            y,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=workload.batch,
            progress="silent",
            backend="jax",
        )
        compile_seconds = CLOCK.stop()["wall_seconds"]
    if mode == "check":
        x, targets = model.prepare(X, y)
        state = nntune.TrainState.create(model, optimizer, seed=0)
        step = nntune.make_train_step(model, optimizer)
        first = _nntune_cost(model, x, targets)
        if workload.bn_dropout:
            return {"initial": first}  # the steps draw different dropout masks
        for i in range(CHECK_STEPS):
            rows = slice(i * workload.batch, (i + 1) * workload.batch)
            state, _ = step(state, x[rows], targets[rows])
        model.params = state.params
        return {"initial": first, "after": _nntune_cost(model, x, targets)}
    CLOCK.start()
    nntune.fit(
        model,
        X,
        y,
        optimizer=optimizer,
        epochs=workload.epochs,
        batch_size=workload.batch,
        progress="silent",
        backend=backend,
    )
    found = CLOCK.stop()
    if compile_seconds is not None:
        found["compile_seconds"] = compile_seconds
    return found


def nntune_jax_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    """nntune's JAX backend: each epoch (16 at once) one compiled call."""
    return nntune_peer(workload, weights, mode, backend="jax")


def _nntune_cost(model, x, targets):  # type: ignore[no-untyped-def]
    from nntune.training import evaluate

    return float(evaluate(model, model.params, model.state, x, targets)[0])


def numpy_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    """The floor: a minimal hand-written NumPy loop (ReLU, softmax, Adam)."""
    X, y = data(workload)
    params = [
        [weights[f"W{i}"].copy(), weights[f"b{i}"].copy()]
        for i in range(len(workload.sizes) - 1)
    ]
    moments = [[np.zeros_like(p) for p in layer] for layer in params]
    squares = [[np.zeros_like(p) for p in layer] for layer in params]
    onehot = np.eye(workload.classes, dtype=np.float32)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    t = 0

    def forward(x):  # type: ignore[no-untyped-def]
        activations = [x]
        for W, b in params[:-1]:
            activations.append(np.maximum(activations[-1] @ W + b, 0))
        W, b = params[-1]
        return activations, activations[-1] @ W + b

    def cost(x, labels):  # type: ignore[no-untyped-def]
        logits = forward(x)[1]
        logits = logits - logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(labels)), labels].mean())

    def step(x, labels):  # type: ignore[no-untyped-def]
        nonlocal t
        activations, logits = forward(x)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        delta = (probs - onehot[labels]) / len(labels)
        t += 1
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        for i in range(len(params) - 1, -1, -1):
            W = params[i][0]
            grads = (activations[i].T @ delta, delta.sum(axis=0))
            if i:
                delta = (delta @ W.T) * (activations[i] > 0)
            for j, g in enumerate(grads):
                m, v = moments[i][j], squares[i][j]
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g
                params[i][j] -= (LEARNING_RATE / c1) * m / (np.sqrt(v / c2) + eps)

    if mode == "check":
        first = cost(X, y)
        for i in range(CHECK_STEPS):
            rows = slice(i * workload.batch, (i + 1) * workload.batch)
            step(X[rows], y[rows])
        return {"initial": first, "after": cost(X, y)}
    CLOCK.start()
    rng = np.random.default_rng(0)
    for _ in range(workload.epochs):
        for rows in batches(len(X), workload.batch, rng):
            step(X[rows], y[rows])
    return CLOCK.stop()


def torch_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    import torch  # noqa: TID251 - the benchmark peer, not a core dependency
    from torch import nn  # noqa: TID251

    torch.set_num_threads(1)
    X, y = data(workload)
    layers: list[Any] = []
    linears = []
    for i, (a, b) in enumerate(zip(workload.sizes, workload.sizes[1:], strict=False)):
        linear = nn.Linear(a, b)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weights[f"W{i}"].T.copy()))
            linear.bias.copy_(torch.from_numpy(weights[f"b{i}"]))
        linears.append(linear)
        layers.append(linear)
        if i < len(workload.sizes) - 2:
            if workload.bn_dropout:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU())
            if workload.bn_dropout:
                layers.append(nn.Dropout(1 - KEEP_PROB))
    model = nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss = nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step(rows):  # type: ignore[no-untyped-def]
        optimizer.zero_grad(set_to_none=True)
        value = loss(model(Xt[rows]), yt[rows])
        value.backward()
        optimizer.step()

    if mode == "check":
        model.eval()  # dropout off, batch norm on its (initial) running statistics
        with torch.no_grad():
            first = float(loss(model(Xt), yt))
        if workload.bn_dropout:
            return {"initial": first}  # the steps draw different dropout masks
        model.train()
        for i in range(CHECK_STEPS):
            step(slice(i * workload.batch, (i + 1) * workload.batch))
        with torch.no_grad():
            return {"initial": first, "after": float(loss(model(Xt), yt))}
    model.train()
    CLOCK.start()
    for epoch in range(workload.epochs):
        order = torch.randperm(len(X), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(X), workload.batch):
            step(order[i : i + workload.batch])
    return CLOCK.stop()


def sklearn_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = data(workload)
    clf = MLPClassifier(
        hidden_layer_sizes=workload.hidden,
        solver="adam",
        learning_rate_init=LEARNING_RATE,
        batch_size=workload.batch,
        max_iter=workload.epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        alpha=0.0,
        random_state=0,
    )
    if mode == "check":
        return {"skipped": "scikit-learn draws its own initial weights"}
    CLOCK.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return CLOCK.stop()


def _keras_model(keras, workload, weights):  # type: ignore[no-untyped-def]
    """The workload's network in Keras, the shared weights loaded, compiled."""
    layers: list[Any] = [keras.Input((workload.n_in,))]
    count = len(workload.sizes) - 1
    for i in range(count):
        layers.append(keras.layers.Dense(workload.sizes[i + 1]))
        if i < count - 1:
            if workload.bn_dropout:  # PyTorch's defaults, as the torch peer has them
                norm = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
                layers.append(norm)
            layers.append(keras.layers.ReLU())
            if workload.bn_dropout:
                layers.append(keras.layers.Dropout(1 - KEEP_PROB))
    model = keras.Sequential(layers)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for i, layer in enumerate(dense):
        layer.set_weights([weights[f"W{i}"], weights[f"b{i}"]])
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE, epsilon=1e-8),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def keras_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    """Keras 3 as its guides write it (``compile``, then ``fit``), when installed.

    On the JAX backend (``KERAS_BACKEND``, unless the environment names another):
    ``fit`` compiles its step on the first mini-batch of each shape. That happens
    on a first, short ``fit`` (timed apart, as JAX's compilation is); the weights
    and the optimizer's state are then set back to where they started.
    """
    if importlib.util.find_spec("keras") is None:
        return {"skipped": "Keras is not installed (pip install keras)"}
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as error:  # its backend missing (TensorFlow, by default)
        return {"skipped": f"Keras does not import here: {error}"}
    if int(keras.__version__.split(".")[0]) < 3:
        return {"skipped": f"Keras {keras.__version__}; this peer is written for 3"}

    X, y = data(workload)
    model = _keras_model(keras, workload, weights)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if mode == "check":
        first = float(loss(y, model(X, training=False)))
        if workload.bn_dropout:
            return {"initial": first}  # the steps draw different dropout masks
        for i in range(CHECK_STEPS):
            rows = slice(i * workload.batch, (i + 1) * workload.batch)
            model.train_on_batch(X[rows], y[rows])
        return {"initial": first, "after": float(loss(y, model(X, training=False)))}
    start = model.get_weights()
    # A full mini-batch and the last, smaller one: the two shapes fit will see.
    warm = workload.batch + len(X) % workload.batch
    CLOCK.start()
    model.fit(X[:warm], y[:warm], batch_size=workload.batch, shuffle=False, verbose=0)
    compile_seconds = CLOCK.stop()["wall_seconds"]
    model.set_weights(start)
    for variable in model.optimizer.variables:
        if "learning_rate" not in variable.path:  # the moments and the step count
            variable.assign(np.zeros(variable.shape, variable.dtype))
    CLOCK.start()
    model.fit(
        X,
        y,
        batch_size=workload.batch,
        epochs=workload.epochs,
        shuffle=True,
        verbose=0,
    )
    return {**CLOCK.stop(), "compile_seconds": compile_seconds}


def _jax_setup(workload, weights):  # type: ignore[no-untyped-def]
    import jax
    import jax.numpy as jnp
    import optax

    params = [
        (jnp.asarray(weights[f"W{i}"]), jnp.asarray(weights[f"b{i}"]))
        for i in range(len(workload.sizes) - 1)
    ]

    def loss(params, x, labels):  # type: ignore[no-untyped-def]
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = params[-1]
        logits = x @ W + b
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    optimizer = optax.adam(LEARNING_RATE)
    return jax, jnp, optax, params, loss, optimizer


def jax_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    """JAX + Optax as the tutorials write it: a jitted step per mini-batch."""
    jax, _, optax, params, loss, optimizer = _jax_setup(workload, weights)
    X, y = data(workload)

    @jax.jit
    def step(params, state, x, labels):  # type: ignore[no-untyped-def]
        grads = jax.grad(loss)(params, x, labels)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    state = optimizer.init(params)
    if mode == "check":
        first = float(loss(params, X, y))
        for i in range(CHECK_STEPS):
            rows = slice(i * workload.batch, (i + 1) * workload.batch)
            params, state = step(params, state, X[rows], y[rows])
        return {"initial": first, "after": float(loss(params, X, y))}
    CLOCK.start()  # compile every batch shape first: reported apart
    last = len(X) % workload.batch or workload.batch
    for size in {workload.batch, last}:
        jax.block_until_ready(step(params, state, X[:size], y[:size]))
    compile_seconds = CLOCK.stop()["wall_seconds"]
    CLOCK.start()
    rng = np.random.default_rng(0)
    for _ in range(workload.epochs):
        for rows in batches(len(X), workload.batch, rng):
            params, state = step(params, state, X[rows], y[rows])
    jax.block_until_ready(params)
    return {**CLOCK.stop(), "compile_seconds": compile_seconds}


def jax_scan_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    """JAX with a whole epoch compiled (lax.scan over full mini-batches)."""
    jax, _, optax, params, loss, optimizer = _jax_setup(workload, weights)
    if mode == "check":
        return {"skipped": "the same step as jax; only the loop differs"}
    X, y = data(workload)
    full = len(X) // workload.batch * workload.batch  # scan needs equal batches

    @jax.jit
    def epoch(params, state, xs, ys):  # type: ignore[no-untyped-def]
        def body(carry, batch):  # type: ignore[no-untyped-def]
            params, state = carry
            grads = jax.grad(loss)(params, *batch)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        return jax.lax.scan(body, (params, state), (xs, ys))[0]

    state = optimizer.init(params)
    rng = np.random.default_rng(0)
    shape = (full // workload.batch, workload.batch)
    CLOCK.start()  # compile first: reported apart
    xs0 = X[:full].reshape(*shape, workload.n_in)
    jax.block_until_ready(epoch(params, state, xs0, y[:full].reshape(shape)))
    compile_seconds = CLOCK.stop()["wall_seconds"]
    CLOCK.start()
    for _ in range(workload.epochs):
        order = rng.permutation(len(X))[:full]
        xs = X[order].reshape(*shape, workload.n_in)
        params, state = epoch(params, state, xs, y[order].reshape(shape))
    jax.block_until_ready(params)
    return {**CLOCK.stop(), "compile_seconds": compile_seconds}


def population_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    """64 course nets: one population (nntune) against 64 separate fits."""
    import nntune
    from nntune.population import fit_population

    X, y = data(workload)
    rates = list(np.logspace(-4, -1, 64))
    model = nntune.mlp(list(workload.hidden), task="multiclass", outputs=2)
    model = model.init(workload.n_in, seed=0, dtype="float32")
    on_numpy = []
    for _ in range(2):  # as on JAX, the second run (the first's one-time costs apart)
        started = time.perf_counter()
        fit_population(
            model,
            X,
            y,
            members=[{"learning_rate": rate} for rate in rates],
            optimizer=nntune.adam(LEARNING_RATE),
            epochs=workload.epochs,
            batch_size=workload.batch,
        )
        on_numpy.append(time.perf_counter() - started)
    optimizer = nntune.adam(LEARNING_RATE)
    on_jax = []
    for _ in range(0 if workload.quick else 2):  # the first compiles (seconds)
        started = time.perf_counter()
        fit_population(
            model,
            X,
            y,
            members=[{"learning_rate": rate} for rate in rates],
            optimizer=optimizer,
            epochs=workload.epochs,
            batch_size=workload.batch,
            backend="jax",
        )
        on_jax.append(time.perf_counter() - started)
    started = time.perf_counter()
    for rate in rates:
        single = nntune.mlp(list(workload.hidden), task="multiclass", outputs=2)
        single = single.init(workload.n_in, seed=0, dtype="float32")
        nntune.fit(
            single,
            X,
            y,
            optimizer=nntune.adam(float(rate)),
            epochs=workload.epochs,
            batch_size=workload.batch,
            progress="silent",
        )
    return {
        "population": on_numpy[1],
        "population_first": on_numpy[0],
        "population_jax": on_jax[1] if on_jax else None,
        "population_jax_compile": on_jax[0] - on_jax[1] if on_jax else None,
        "separate": time.perf_counter() - started,
    }


def gemm_peer(workload, weights, mode):  # type: ignore[no-untyped-def]
    """Float32 GEMM peak of this process's BLAS (2048^3, best of 5)."""
    a = np.ones((2048, 2048), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - started)
    return {"gflops": 2 * 2048**3 / best / 1e9}


PEERS = {
    "nntune": nntune_peer,
    "nntune_jax": nntune_jax_peer,
    "numpy": numpy_peer,
    "torch": torch_peer,
    "sklearn": sklearn_peer,
    "keras": keras_peer,
    "jax": jax_peer,
    "jax_scan": jax_scan_peer,
    "population": population_peer,
    "gemm": gemm_peer,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer", choices=sorted(PEERS), required=True)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--mode", choices=("check", "time"), default="time")
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    workload = (QUICK if arguments.quick else WORKLOADS)[arguments.workload]
    weights = initial_weights(workload)
    found = PEERS[arguments.peer](workload, weights, arguments.mode)
    found.update(
        {
            "peer": arguments.peer,
            "workload": workload.name,
            "mode": arguments.mode,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "flops": workload.flops,
        }
    )
    sys.stdout.write(json.dumps(found) + "\n")


if __name__ == "__main__":
    main()
