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


def test_numpy_namespace_takes_numpy_own_functions_where_compat_does():
    """The names taken from NumPy are the very functions array-api-compat gives."""
    import array_api_compat

    from nntune import backend

    compat = array_api_compat.array_namespace(np.zeros(0))
    xp = backend.namespace(np.zeros(1))
    for name in sorted(backend._NATIVE):
        assert getattr(np, name) is getattr(compat, name), name
    assert xp.exp is np.exp
    assert xp.clip is compat.clip  # a wrapped name comes from compat


def test_numpy_namespace_overrides_give_compat_results():
    import array_api_compat

    from nntune.backend import namespace

    compat = array_api_compat.array_namespace(np.zeros(0))
    xp = namespace(np.zeros(1))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 7)).astype(np.float32)
    for name, kwargs in [
        ("sum", {"axis": 0}),
        ("sum", {"axis": (-2, -1)}),
        ("sum", {"axis": -1, "keepdims": True}),
        ("max", {"axis": -1, "keepdims": True}),
        ("mean", {"axis": -1}),
        ("argmax", {"axis": -1}),
    ]:
        found, expected = (
            getattr(xp, name)(a, **kwargs),
            getattr(compat, name)(a, **kwargs),
        )
        assert type(found) is type(expected)
        np.testing.assert_array_equal(found, expected)
        assert np.asarray(found).dtype == np.asarray(expected).dtype
    assert (
        xp.sum(np.arange(3, dtype=np.int32)).dtype
        == compat.sum(np.arange(3, dtype=np.int32)).dtype
    )
    assert xp.astype(np.float64(2.0), np.float32) == np.float32(2.0)
    assert xp.astype(a, np.float32, copy=False) is a
    assert xp.asarray(a) is a
    assert xp.asarray([1.0], dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(xp.matrix_transpose(a), compat.matrix_transpose(a))
    assert xp.zeros_like(a).dtype == np.float32
    assert xp.ones_like(a, dtype=np.int64)[0, 0] == 1
    assert xp.finfo(np.float32).bits == compat.finfo(np.float32).bits == 32
    for args in [(5,), (2, 9, 3)]:
        found, expected = (
            xp.arange(*args, dtype=np.uint32),
            compat.arange(*args, dtype=np.uint32),
        )
        np.testing.assert_array_equal(found, expected)
        assert found.dtype == expected.dtype
    with pytest.raises(ValueError, match="at least 2-dimensional"):
        xp.matrix_transpose(np.zeros(3))


def test_training_on_numpy_does_not_import_the_compat_namespace():
    """It costs about 0.2 s of start-up; fit needs none of what it wraps."""
    import subprocess
    import sys

    code = (
        "import sys, nntune\n"
        "data = nntune.load_dataset('moons', n_samples=64)\n"
        "model = nntune.mlp([4], keep_prob=0.9, batch_norm=True).init(2, seed=0)\n"
        "nntune.fit(model, data.X, data.y, epochs=2, progress='silent')\n"
        "model.predict(data.X)\n"
        "print('array_api_compat.numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("columns", [2, 3, 4])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_argmax_along_a_short_strided_axis_is_ndarray_argmax(
    columns, dtype, monkeypatch
):
    """Class-major logits seen row-major (a population's): the column-by-column
    argmax gives ndarray.argmax's indices, ties (the first), NaN and infinities."""
    from nntune.backend import _across_short_strided, _argmax_by_columns

    rng = np.random.default_rng(columns)
    # Few distinct values, so that rows tie; NaN and infinities where floating.
    values = rng.integers(-2, 3, (7, columns, 300)).astype(dtype)
    if dtype != "int64":
        special = rng.choice([np.nan, np.inf, -np.inf], size=values.shape)
        values = np.where(rng.random(values.shape) < 0.15, special, values)
    rows = values.swapaxes(-1, -2)  # (7, 300, columns), the last axis strided
    xp = namespace(rows)
    assert _across_short_strided(rows, -1)  # the column-by-column path is taken
    expected = rows.argmax(axis=-1)
    np.testing.assert_array_equal(_argmax_by_columns(rows), expected)
    import nntune.backend as backend

    calls = []
    monkeypatch.setattr(
        backend, "_argmax_by_columns", lambda x: calls.append(x) or expected
    )
    found = xp.argmax(rows, axis=-1)
    assert len(calls) == 1  # the namespace's argmax went column by column
    assert found.dtype == np.intp
    np.testing.assert_array_equal(found, expected)
    if dtype != "int64":
        assert np.isnan(rows).any(axis=-1).any()  # the NaN rows were there


def test_argmax_keeps_ndarray_argmax_where_rows_are_contiguous_or_long():
    from nntune.backend import _across_short_strided

    x = np.zeros((300, 2))
    assert not _across_short_strided(x, -1)  # contiguous rows
    assert not _across_short_strided(np.zeros((3, 300)).T, 0)  # another axis
    assert not _across_short_strided(np.zeros((3, 300)).T, True)  # not an axis
    assert not _across_short_strided(np.zeros((10, 300)).T, -1)  # 10 columns
    assert not _across_short_strided(np.zeros((2, 8)).T, -1)  # a few rows
