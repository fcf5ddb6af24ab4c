"""Untrusted input: run folders, configs and data files, tried by property and fuzz.

Each property names a class of input (a TOML config, a CSV file, a model.json, a run
folder) and draws many cases of it: whatever is drawn, nntune answers with a clear
ValueError (or loads it) and never a traceback, a hang or a huge allocation.
"""

import json
import os
import string
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nntune
from nntune import ModelFileError, TrainConfig
from nntune.cli import main
from nntune.experiment.settings import SETTINGS

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def attempt(function, *args, **kwargs):
    """``(result, None)``, or ``(None, error)`` for a ValueError (ModelFileError...)."""
    try:
        return function(*args, **kwargs), None
    except ValueError as error:
        return None, error


# ---------------------------------------------------------------- configs
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=40), max_size=4),
)
keys = st.sampled_from([s.name for s in SETTINGS] + ["bogus", "batch-size"])


@FUZZ
@given(st.dictionaries(keys, values, max_size=6))
def test_any_config_is_accepted_or_refused_with_a_value_error(mapping):
    mapping = {k: v for k, v in mapping.items() if v is not None}
    config, error = attempt(TrainConfig.from_mapping, mapping, source="fuzz.toml")
    if config is not None:
        _, error = attempt(config.check_applicable)
    if error is not None:
        assert str(error)
        assert "\n" not in str(error)


# --------------------------------------------------------------- CSV files
cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 5).map(str),
    st.text(alphabet=string.ascii_letters + ' ;,"\t', max_size=5),
    st.just(""),
)


@FUZZ
@given(
    header=st.lists(st.text(alphabet="abxy_;", min_size=1, max_size=3), max_size=4),
    rows=st.lists(st.lists(cells, max_size=5), max_size=6),
)
def test_any_csv_loads_or_says_what_is_wrong(tmp_path, header, rows):
    path = tmp_path / "fuzz.csv"
    lines = [",".join(header), *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    data, error = attempt(nntune.load_file, path)
    if error is not None:
        assert str(path) in str(error) or "fuzz" in str(error)
    else:
        assert np.all(np.isfinite(data.X))
        assert len(data.X) == len(data.y) >= 1


# ------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    model = nntune.mlp([4, 3], batch_norm=True).init(2, seed=0)
    model.save(folder / "model")
    return folder


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        st.floats(),
        st.text(max_size=8),
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
model_fields = st.sampled_from(
    ["layers", "loss", "in_features", "dtype", "l2", "l1", "layers/0", "layers/0/units"]
)


@FUZZ
@given(field=model_fields, value=json_values)
def test_any_model_json_loads_or_raises_model_file_error(
    saved_model, tmp_path, field, value
):
    document = json.loads((saved_model / "model.json").read_text())
    target = document["model"]
    *parents, last = field.split("/")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = value
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors").write_bytes(
        (saved_model / "model.safetensors").read_bytes()
    )
    (folder / "model.json").write_text(json.dumps(document))
    _, error = attempt(nntune.load_model, folder / "model")
    assert error is None or isinstance(error, ModelFileError), repr(error)


def huge_layers_model(folder: Path, source: Path) -> None:
    document = json.loads((source / "model.json").read_text())
    document["model"]["layers"][0]["units"] = 50_000_000  # 400 MB of float32 weights
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps(document))
    (folder / "model.safetensors").write_bytes(
        (source / "model.safetensors").read_bytes()
    )


def test_a_hostile_model_json_is_refused_before_any_allocation(saved_model, tmp_path):
    huge_layers_model(tmp_path / "huge", saved_model)
    tracemalloc.start()
    with pytest.raises(ModelFileError, match="declares 1800000064 bytes"):
        nntune.load_model(tmp_path / "huge" / "model")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 1024 * 1024  # what the files need, not what they declare


@pytest.mark.parametrize("kind", ["device", "fifo", "link-out", "folder"])
def test_run_files_that_are_not_regular_files_are_refused(saved_model, tmp_path, kind):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model.json").write_bytes((saved_model / "model.json").read_bytes())
    weights = folder / "model.safetensors"
    if kind == "device":
        weights.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(weights)
    elif kind == "link-out":
        outside = tmp_path / "elsewhere.safetensors"
        outside.write_bytes((saved_model / "model.safetensors").read_bytes())
        weights.symlink_to(outside)
    else:
        weights.mkdir()
    with pytest.raises(ModelFileError, match=r"not a regular file|links outside"):
        nntune.load_model(folder / "model")


# ------------------------------------------------ the CLI on bad inputs
@pytest.fixture(scope="module")
def corpus(tmp_path_factory, saved_model):
    """Bad inputs of every class, each a file or folder the CLI is given."""
    root = tmp_path_factory.mktemp("corpus")
    files = {
        "empty.csv": "",
        "header-only.csv": "a,b,y\n",
        "semicolons.csv": "a;b;y\n1;2;0\n3;4;1\n",
        "text-cells.csv": "a,b,y\n1,x,0\n2,3,1\n",
        "one-class.csv": "a,y\n1,0\n2,0\n3,0\n",
        "ragged.csv": "a,b,y\n1,2\n3,4,1\n",
        "latin1.csv": "a,b,y\n1,2,caf\xe9\n".encode("latin-1"),
        "nested.toml": "a = " + "[" * 2000 + "]" * 2000 + "\n",
        "bad-type.toml": 'batch_norm = "false"\n',
        "zero-checkpoint.toml": "checkpoint_every = 0\n",
        "not-toml.toml": "{{{\n",
        "bad.npz": b"PK\x03\x04 truncated",
        "bad.h5": b"\x89HDF\r\n\x1a\n truncated",
    }
    for name, content in files.items():
        path = root / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    runs = root / "runs"
    runs.mkdir()
    nested = runs / "nested"
    nested.mkdir()
    (nested / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    (nested / "config.toml").write_text("# nntune train settings\n")
    huge_layers_model(runs / "huge", saved_model)
    (runs / "empty").mkdir()
    return root


def commands(root: Path):
    csvs = (
        sorted(root.glob("*.csv"))
        + sorted(root.glob("*.npz"))
        + sorted(root.glob("*.h5"))
    )
    for path in csvs:
        yield ["train", "--data", str(path), "--epochs", "1", "--out", str(root / "o")]
        yield ["evaluate", str(root / "runs" / "huge"), "--data", str(path)]
    for path in sorted(root.glob("*.toml")):
        yield ["train", "--config", str(path), "--epochs", "1"]
    for run in sorted((root / "runs").iterdir()):
        yield ["diagnose", str(run)]
        yield ["report", str(run)]
        yield ["export", str(run), "--out", str(root / "m.onnx")]
        yield [
            "predict",
            str(run),
            "--input",
            str(root / "ragged.csv"),
            "--output",
            str(root / "p.csv"),
        ]
    for path in sorted(root.glob("*.toml")):
        yield ["compare", str(path), "--vary", "l2=0,1", "--out", str(root / "c")]
        yield [
            "curves",
            "validation",
            "--config",
            str(path),
            "--param",
            "l2",
            "--values",
            "0,1",
        ]
    yield ["compare", "--vary", "l2=0,big"]
    yield ["compare", "--vary", "bogus=1,2"]
    yield ["curves", "validation", "--param", "seed", "--values", "1,2"]
    yield ["curves", "learning", "--data", str(root / "one-class.csv")]
    yield ["gradcheck", "--data", str(root / "semicolons.csv")]
    yield ["gradcheck", "--layers", "0,-1"]
    yield ["datasets", "--json"]
    yield ["train", "--out", str(root / "empty.csv")]
    yield ["train", "--data", "moons", "--target", "y"]
    yield ["train", "--data", str(root / "ragged.csv"), "--n-samples", "5"]


def test_no_command_shows_a_traceback_on_bad_input(corpus, monkeypatch):
    monkeypatch.chdir(corpus)
    runner = CliRunner()
    tried = 0
    for args in commands(corpus):
        result = runner.invoke(main, args, catch_exceptions=True)
        tried += 1
        shown = result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            repr(result.exception),
        )
        assert result.exit_code in (0, 1, 2), (args, result.exit_code, shown)
        assert "Traceback" not in shown, (args, shown)
        if result.exit_code == 2:
            assert "Error:" in shown, (args, shown)
            if args[:2] == ["train", "--data"]:
                # The message names the file, never an internal symptom.
                assert Path(args[2]).name in shown, (args, shown)
    assert tried >= 45


def test_loading_a_csv_takes_memory_for_its_arrays_not_its_text(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 20))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "big.csv"
    nntune.save_file(X, y, path)
    tracemalloc.start()
    data = nntune.load_file(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The parsed features are 3.2 MB; the text is 2.5 times that. Holding the text's
    # rows as lists of strings, as the reader once did, peaked near 12 times X.
    assert peak < 3 * data.X.nbytes
