"""Nothing lost: kills at every write step, refused reruns, run folders, signals."""

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import nntune
from nntune import TrainConfig, _files
from nntune.experiment.rundir import run_training
from nntune.training import CheckpointError

HERE = Path(__file__).parent
NNTUNE = str(Path(sys.executable).with_name("nntune"))


def killed_run(step: int, folder: Path, data: Path) -> subprocess.CompletedProcess[str]:
    script = str(HERE / "kill_during_writes.py")
    return subprocess.run(
        [sys.executable, script, str(step), str(folder), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def outcome(folder: Path) -> tuple[bytes, list, list]:
    history = json.loads((folder / "history.json").read_text())
    rows = [{k: v for k, v in row.items() if k != "time"} for row in history["epochs"]]
    return (folder / "model.safetensors").read_bytes(), history["iterations"], rows


@pytest.mark.slow
def test_a_kill_at_any_write_step_never_loses_the_run(tmp_path):
    data = tmp_path / "moons.csv"
    moons = nntune.load_dataset("moons", n_samples=120)
    nntune.save_file(moons.X, moons.y, data)
    reference = killed_run(0, tmp_path / "reference", data)
    assert reference.returncode == 0, reference.stderr
    steps = int(reference.stdout.split()[-1])
    assert steps >= 15  # checkpoints, the model pair, config, history, metrics

    def kill_and_rerun(step: int) -> tuple[int, Path]:
        folder = tmp_path / f"killed-{step}"
        killed = killed_run(step, folder, data)
        assert killed.returncode == 137, (step, killed.stderr)
        rerun = killed_run(0, folder, data)  # the same command, run again
        assert rerun.returncode == 0, (step, rerun.stderr)
        return step, folder

    with ThreadPoolExecutor(max_workers=2) as pool:
        folders = list(pool.map(kill_and_rerun, range(1, steps + 1)))
    expected = outcome(tmp_path / "reference")
    for step, folder in folders:
        assert outcome(folder) == expected, f"killed at write step {step}"
        leftovers = [
            p.name
            for p in folder.iterdir()
            if p.name.startswith(".") and p.name != ".nntune.lock"
        ]
        assert leftovers == [], (step, leftovers)


def test_recover_puts_back_the_pair_a_kill_left_half_replaced(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "a.safetensors"
    _files.atomic_write_files({first: b"old-1", second: b"old-2"})
    # What a kill after the first rename leaves: the journal, the first file new with
    # its old version linked beside it, the second one's new version still staged.
    (tmp_path / ".a.json.journal").write_text(
        json.dumps({"existed": ["a.json", "a.safetensors"], "new": []})
    )
    os.link(first, tmp_path / ".a.json.previous")
    first.unlink()
    first.write_bytes(b"new-1")
    (tmp_path / ".a.safetensors.abcd1234").write_bytes(b"new-2")
    done = _files.recover(tmp_path)
    assert first.read_bytes() == b"old-1"
    assert second.read_bytes() == b"old-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.safetensors"]
    assert len(done) == 2
    # After the commit (no journal) an old version left behind is only deleted.
    os.link(first, tmp_path / ".a.json.previous")
    _files.recover(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.safetensors"]


def test_files_respect_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        _files.atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
        assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        _files.atomic_write_text(tmp_path / "private.txt", "x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


def config(folder, **settings):
    return TrainConfig(
        data="moons", n_samples=100, layers=(3,), epochs=2, out=str(folder), **settings
    )


def test_a_refused_rerun_writes_nothing(tmp_path):
    folder = tmp_path / "run"
    run_training(config(folder), progress="silent")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(CheckpointError, match="written by a run with other settings"):
        run_training(config(folder, l2=0.5), progress="silent")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_out_refuses_a_folder_of_other_files_unless_forced(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.toml").write_text("my own settings\n")
    with pytest.raises(ValueError, match="is not an nntune run folder"):
        run_training(config(folder), progress="silent")
    assert (folder / "config.toml").read_text() == "my own settings\n"
    run_training(config(folder), progress="silent", force=True)
    assert (folder / "model.json").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file; give --out a folder"):
        run_training(config(tmp_path / "file"), progress="silent")


@pytest.mark.parametrize(
    ("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_a_signal_checkpoints_and_the_same_command_continues(tmp_path, sent, status):
    command = [NNTUNE, "train", "--epochs", "1000", "--checkpoint-every", "10"]
    command += ["--out", "run", "--quiet"]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    checkpoint = tmp_path / "run" / "checkpoint.json"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert "Run the same command to continue" in stderr
    assert "Traceback" not in stderr
    saved = json.loads(checkpoint.read_text())
    assert saved["stop_training"] is False
    assert 0 < saved["epoch"] < 1000
    again = subprocess.run(
        [*command[:-1], "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["resumed_from_epoch"] == saved["epoch"]
    assert document["epochs_run"] == 1000


def test_debug_works_after_the_subcommand(tmp_path):
    result = subprocess.run(
        [NNTUNE, "train", "--data", "nosuch.csv", "--debug"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" in result.stderr
    assert "DataFileError" in result.stderr


def test_two_runs_into_one_folder_do_not_mix(tmp_path):
    import fcntl

    folder = tmp_path / "run"
    run_training(config(folder), progress="silent")
    with open(folder / ".nntune.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="another nntune run is writing into"):
            run_training(config(folder), progress="silent")


def test_an_unwritable_place_is_an_error_not_a_traceback(tmp_path):
    (tmp_path / "file").write_text("")
    result = subprocess.run(
        [NNTUNE, "train", "--epochs", "1", "--out", str(tmp_path / "file" / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
