from __future__ import annotations

import numpy as np
import pytest

import nntune
from helpers import require
from nntune.backend import make_rng, namespace, resolve_dtype


def test_default_dtype_is_float32_and_float64_is_available():
    assert resolve_dtype(None) == np.float32
    assert resolve_dtype("float64") == np.float64
    assert resolve_dtype(np.float64) == np.float64


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex128"])
def test_unsupported_dtypes(dtype):
    with pytest.raises(ValueError, match="not supported; expected one of"):
        resolve_dtype(dtype)


def test_not_a_dtype():
    with pytest.raises(ValueError, match="is not a dtype"):
        resolve_dtype("banana")


def test_rng_from_seed_or_generator():
    assert make_rng(3).random() == make_rng(3).random()
    generator = np.random.default_rng(0)
    assert make_rng(generator) is generator
    with pytest.raises(TypeError, match="seed must be an int"):
        make_rng("3")  # type: ignore[arg-type]


def test_namespace_of_numpy_arrays():
    assert namespace(np.zeros(2)).__name__ == "array_api_compat.numpy"


def test_core_runs_on_another_array_api_namespace():
    """The same layer code runs on torch tensors, through their array namespace."""
    torch = require("torch")
    model = nntune.mlp([5, 3], batch_norm=True, activation="tanh", l2=0.1)
    model.init(2, seed=0, dtype="float64")
    data = nntune.load_dataset("moons", n_samples=40)
    x, targets = model.prepare(data.X, data.y)
    cost, grads, _ = model.value_and_grad(model.params, model.state, x, targets)
    to_torch = lambda tree: {  # noqa: E731
        k: {n: torch.from_numpy(a) for n, a in v.items()} for k, v in tree.items()
    }
    cost_t, grads_t, _ = model.value_and_grad(
        to_torch(model.params),
        to_torch(model.state),
        torch.from_numpy(x),
        torch.from_numpy(targets),
    )
    assert isinstance(cost_t, torch.Tensor)
    assert float(cost_t) == pytest.approx(float(cost), rel=1e-12)
    for layer, arrays in grads.items():
        for name, grad in arrays.items():
            np.testing.assert_allclose(grads_t[layer][name].numpy(), grad, rtol=1e-10)


def test_import_needs_only_the_core_dependencies():
    import subprocess
    import sys

    code = (
        "import sys, nntune; "
        "heavy = {'torch', 'matplotlib', 'sklearn', 'jax', 'ray', 'optuna', 'pandas'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
