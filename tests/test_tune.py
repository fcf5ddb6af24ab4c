"""Searches: nntune.tune and `nntune tune` — studies, strategies, workers, recovery."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import require

optuna = require("optuna")

import nntune  # noqa: E402
from nntune.tuning import Space, open_study, tune  # noqa: E402
from nntune.tuning.pruning import rule_for  # noqa: E402
from nntune.tuning.storage import open_storage  # noqa: E402

NNTUNE = str(Path(sys.executable).parent / "nntune")

SPACE = """
[base]
data = "moons"
epochs = {epochs}
layers = [8]
optimizer = "adam"

[space]
learning_rate = {{ log = [1e-4, 1e-1] }}
beta1 = {{ one_minus_log = [0.8, 0.999] }}
l2 = {{}}
keep_prob = {{}}
"""


def space_file(tmp_path: Path, epochs: int = 20, name: str = "space.toml") -> Path:
    path = tmp_path / name
    path.write_text(SPACE.format(epochs=epochs))
    return path


def run_tune(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    found = subprocess.run(
        [NNTUNE, "tune", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    if check and found.returncode != 0:
        raise AssertionError(found.stderr)
    return found


def small_space(**base: object) -> Space:
    return Space.from_mapping(
        {
            "learning_rate": {"log": [1e-3, 1e-1]},
            "beta1": {"one_minus_log": [0.8, 0.999]},
        },
        {"data": "moons", "epochs": 15, "layers": (8,), "optimizer": "adam", **base},
    )


def test_a_study_stores_each_setting_as_itself_and_its_dev_error(tmp_path):
    study = tune(small_space(), study=tmp_path / "s", trials=6, seed=1)
    records = study.trials
    assert [r.state for r in records] == ["complete"] * 6
    stored = optuna.load_study(
        study_name=study.name, storage=open_storage(tmp_path / "s")
    ).trials
    for record, trial in zip(records, stored, strict=True):
        assert 0.8 <= trial.params["beta1"] <= 0.999  # beta, not 1 - beta
        assert trial.params == record.params
        assert trial.value == pytest.approx(1 - record.dev["accuracy"])
        assert len(record.curve) == 15
        assert record.curve[-1] == pytest.approx(record.value)
        assert record.history["train_cost"][0] is not None
    assert study.best.value == min(r.value for r in records)
    frame = study.to_dataframe()
    assert list(frame["number"]) == list(range(6))
    assert {"params_learning_rate", "params_beta1", "dev_accuracy"} <= set(frame)


def test_the_trained_variant_is_the_one_drawn(tmp_path):
    # A trial's settings are what trained: rerunning them alone gives its numbers.
    study = tune(small_space(), study=tmp_path / "s", trials=3, seed=2)
    record = study.trials[2]
    config = nntune.TrainConfig.from_mapping(record.settings)
    result = nntune.train_trial(config, nntune.prepare_data(config))
    assert result.dev["accuracy"] == record.dev["accuracy"]
    assert result.dev["cost"] == pytest.approx(record.dev["cost"], rel=1e-12)


def test_random_draws_depend_on_seed_and_trial_not_on_workers(tmp_path):
    one = tune(small_space(), study=tmp_path / "a", trials=4, seed=5)
    two = tune(small_space(), study=tmp_path / "b", trials=4, seed=5, workers=2)
    other = tune(small_space(), study=tmp_path / "c", trials=4, seed=6)
    params = [r.params for r in one.trials]
    assert params == [r.params for r in sorted(two.trials, key=lambda r: r.number)]
    assert params != [r.params for r in other.trials]


def test_conditional_settings_are_drawn_only_when_they_apply(tmp_path):
    space = Space.from_mapping(
        {
            "optimizer": {"choice": ["adam", "momentum"]},
            "beta2": {"one_minus_log": [0.99, 0.9999]},
            "learning_rate": {"log": [1e-3, 1e-1]},
        },
        {"data": "moons", "epochs": 5, "layers": (4,)},
    )
    study = tune(space, study=tmp_path / "s", trials=10, seed=0)
    optimizers = set()
    for record in study.trials:
        optimizers.add(record.params["optimizer"])
        assert ("beta2" in record.params) == (record.params["optimizer"] == "adam")
    assert optimizers == {"adam", "momentum"}


def test_a_failing_trial_is_recorded_with_its_error_and_the_study_goes_on(tmp_path):
    space = Space.from_mapping(
        {"learning_rate": {"choice": [0.01, 1e9]}},
        {"data": "moons", "epochs": 10, "layers": (8,), "optimizer": "gd"},
    )
    study = tune(space, study=tmp_path / "s", strategy="grid")
    states = {r.params["learning_rate"]: r for r in study.trials}
    assert states[0.01].state == "complete"
    assert states[1e9].state == "failed"
    assert "diverged" in states[1e9].error.lower()
    assert study.best.params == {"learning_rate": 0.01}


def test_grid_runs_every_point_once(tmp_path):
    study = tune(small_space(), study=tmp_path / "s", strategy="grid", grid_points=2)
    values = sorted(
        (r.params["learning_rate"], r.params["beta1"]) for r in study.trials
    )
    expected = [(0.001, 0.8), (0.001, 0.999), (0.1, 0.8), (0.1, 0.999)]
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_coarse_to_fine_records_each_round_with_its_parent_and_zooms(tmp_path):
    study = tune(
        small_space(),
        study=tmp_path / "s",
        trials=12,
        strategy="coarse-to-fine",
        rounds=3,
    )
    assert [r.round for r in study.trials] == [0] * 4 + [1] * 4 + [2] * 4
    rounds = study.rounds
    assert [r["parent"] for r in rounds] == [None, 0, 1]
    first = rounds[0]["space"]["learning_rate"]["log"]
    last = rounds[2]["space"]["learning_rate"]["log"]
    assert first == [0.001, 0.1]
    assert math.log(last[1] / last[0]) < math.log(first[1] / first[0])
    for record in study.trials:  # each trial drawn from its round's space
        low, high = rounds[record.round]["space"]["learning_rate"]["log"]
        assert low <= record.params["learning_rate"] <= high * (1 + 1e-12)


@pytest.mark.parametrize("strategy", ["tpe", "gp"])
def test_model_based_samplers_search_each_setting_on_its_own_scale(tmp_path, strategy):
    if strategy == "gp":
        require("torch")
    study = tune(small_space(), study=tmp_path / "s", trials=8, strategy=strategy)
    assert len([r for r in study.trials if r.state == "complete"]) == 8
    for record in study.trials:
        assert 0.8 <= record.params["beta1"] <= 0.999
        assert 1e-3 <= record.params["learning_rate"] <= 0.1


def test_the_median_rule_decides_as_optunas_median_pruner():
    rng = np.random.default_rng(0)
    for _ in range(30):
        curves = [list(rng.random(8)) for _ in range(int(rng.integers(1, 8)))]
        current = list(rng.random(int(rng.integers(1, 8))))
        ours = rule_for(
            "median", curves, [False] * len(curves), epochs=8, startup=2, warmup=1
        ).should_prune(current)
        study = optuna.create_study(
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
        )
        for curve in curves:
            study.add_trial(
                optuna.trial.create_trial(
                    value=curve[-1],
                    intermediate_values={i: v for i, v in enumerate(curve)},
                )
            )
        trial = study.ask()
        for step, value in enumerate(current):
            trial.report(value, step)
        assert ours == trial.should_prune()


def test_pruned_trials_stop_early_and_say_so(tmp_path):
    study = tune(
        small_space(epochs=40),
        study=tmp_path / "s",
        trials=14,
        pruner="median",
        seed=3,
    )
    pruned = [r for r in study.trials if r.state == "pruned"]
    assert pruned, "a median rule over 14 trials of a wide space prunes some"
    assert all(r.epochs_run < 40 for r in pruned)
    assert all(r.state == "complete" for r in study.trials[:5])  # startup trials
    halving = tune(
        small_space(epochs=27),
        study=tmp_path / "h",
        trials=10,
        pruner="halving",
        seed=3,
    )
    stops = {r.epochs_run for r in halving.trials if r.state == "pruned"}
    assert stops
    assert stops <= {3, 9}


def test_a_study_continues_only_as_the_same_search(tmp_path):
    folder = tmp_path / "s"
    tune(small_space(), study=folder, trials=3)
    study = tune(small_space(), study=folder, trials=5)
    assert [r.number for r in study.trials] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="another space"):
        tune(small_space(epochs=7), study=folder, trials=6)
    with pytest.raises(ValueError, match="another strategy"):
        tune(small_space(), study=folder, trials=6, strategy="tpe")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        tune(small_space(), study=tmp_path / "other", trials=2)


def test_bad_options_say_what_to_fix(tmp_path):
    with pytest.raises(ValueError, match="unknown strategy"):
        tune(small_space(), study=tmp_path / "s", strategy="bayes")
    with pytest.raises(ValueError, match="expected a number with s, m or h"):
        tune(small_space(), study=tmp_path / "s", time_limit="soon")
    with pytest.raises(ValueError, match="has none; set dev"):
        tune(small_space(dev=0.0), study=tmp_path / "s", trials=1)
    assert not (tmp_path / "s").exists()  # nothing written for a refused search


def test_a_torn_journal_line_left_by_a_killed_writer_is_cut(tmp_path):
    study = tune(small_space(), study=tmp_path / "s", trials=2)
    journal = tmp_path / "s" / "study.journal"
    with open(journal, "ab") as handle:
        handle.write(b'{"op_code": 5, "worker_id": "x", "trial_id": 0, "par')
    continued = tune(small_space(), study=tmp_path / "s", trials=3)
    assert len(continued.trials) == 3
    assert journal.read_bytes().endswith(b"\n")
    assert study.name == continued.name


def test_cli_tune_finds_a_good_configuration_on_moons(tmp_path):
    space = space_file(tmp_path, epochs=100)
    found = run_tune(
        space, "--trials", 30, "--workers", 2, "--out", tmp_path / "s", "--json"
    )
    result = json.loads(found.stdout)
    assert len(result["trials"]) == 30
    assert {t["state"] for t in result["trials"]} == {"complete"}
    assert result["best"]["dev"]["accuracy"] >= 0.9
    keys = {"number", "state", "params", "train", "dev"}
    assert keys <= set(result["trials"][0])
    assert {"cost", "accuracy"} <= set(result["trials"][0]["train"])
    best = min(result["trials"], key=lambda t: (t["value"], t["number"]))
    assert best["number"] == result["best"]["number"]


def test_cli_tune_progress_and_summary(tmp_path):
    space = space_file(tmp_path, epochs=5)
    found = run_tune(space, "--trials", 3, "--workers", 1, "--out", tmp_path / "s")
    assert found.stderr.count("complete: dev error") == 3  # plain progress, no TTY
    assert "the best trials" in found.stdout
    assert f"nntune train --from-study {tmp_path / 's'}" in found.stdout


def test_a_killed_search_continues_to_exactly_its_trials(tmp_path):
    space = space_file(tmp_path, epochs=40)
    folder = tmp_path / "s"
    command = [NNTUNE, "tune", space, "--trials", "40", "--workers", "2"]
    command += ["--out", folder, "--quiet"]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        if (folder / "study.json").exists():
            done = sum(r.counted for r in open_study(folder).trials)
            if done >= 20:
                break
    assert process.poll() is None, "the search ended before it could be killed"
    process.kill()  # SIGKILL: no clean-up at all
    process.wait()
    killed = open_study(folder).trials
    assert 20 <= sum(r.counted for r in killed) < 40
    assert any(r.state == "running" for r in killed)  # left running by the kill
    run_tune(*command[2:])
    records = open_study(folder).trials
    complete = [r for r in records if r.state == "complete"]
    assert len(complete) == 40
    assert len({r.number for r in complete}) == 40
    interrupted = [r for r in records if r.state == "interrupted"]
    assert interrupted, "the trials the kill left running are marked interrupted"
    retries = {r.retry_of: r for r in records if r.retry_of is not None}
    for lost in interrupted:  # each run again with the same values
        assert retries[lost.number].params == lost.params
    assert not [r for r in records if r.state == "running"]


def test_eight_workers_share_the_embedded_store_without_locking(tmp_path):
    space = space_file(tmp_path, epochs=3)
    found = run_tune(space, "--trials", 24, "--workers", 8, "--out", tmp_path / "s")
    assert "locked" not in found.stderr + found.stdout
    records = open_study(tmp_path / "s").trials
    assert [r.state for r in records] == ["complete"] * 24


def test_sigterm_stops_a_search_and_the_same_command_continues_it(tmp_path):
    space = space_file(tmp_path, epochs=300)
    folder = tmp_path / "s"
    args = [space, "--trials", "6", "--workers", "1", "--out", folder]
    process = subprocess.Popen(
        [NNTUNE, "tune", *map(str, args)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (folder / "study.journal").exists():
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "run the same command to continue" in stderr
    stopped = open_study(folder).trials
    assert stopped
    assert stopped[-1].state == "interrupted"
    run_tune(*args, "--quiet")
    assert sum(r.state == "complete" for r in open_study(folder).trials) == 6


def test_a_time_limit_stops_starting_trials(tmp_path):
    study = tune(small_space(epochs=50), study=tmp_path / "s", trials=500, time_limit=2)
    assert 0 < len(study.trials) < 500


def test_train_from_study_retrains_the_best_and_tests_it_once(tmp_path):
    space = space_file(tmp_path, epochs=20)
    run_tune(space, "--trials", 4, "--workers", 1, "--out", tmp_path / "s", "--quiet")
    study = open_study(tmp_path / "s")
    run = tmp_path / "best"
    found = subprocess.run(
        [NNTUNE, "train", "--from-study", tmp_path / "s", "--out", run, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    metrics = json.loads(found.stdout)
    best = study.best
    assert metrics["from_study"]["trial"] == best.number
    assert metrics["dev"]["accuracy"] == best.dev["accuracy"]  # the same training
    assert metrics["dev"]["cost"] == pytest.approx(best.dev["cost"], rel=1e-12)
    assert metrics["final_evaluation"] is True
    assert "accuracy" in metrics["test"]
    other = study.trials[0] if best.number else study.trials[1]
    found = subprocess.run(
        [
            NNTUNE,
            "train",
            "--from-study",
            tmp_path / "s",
            "--trial",
            str(other.number),
            "--out",
            tmp_path / "other",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(found.stdout)["from_study"]["trial"] == other.number
    refused = subprocess.run(
        [NNTUNE, "train", "--from-study", tmp_path / "s", "--trial", "99"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "has no trial 99" in refused.stderr


def test_the_ray_engine_runs_a_study_on_a_local_head(tmp_path):
    require("ray")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    ray = str(Path(sys.executable).parent / "ray")
    subprocess.run(
        [
            ray,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    try:
        space = space_file(tmp_path, epochs=15)
        found = run_tune(
            space,
            "--trials",
            6,
            "--engine",
            "ray",
            "--address",
            f"127.0.0.1:{port}",
            "--out",
            tmp_path / "s",
            "--json",
        )
    finally:
        subprocess.run(
            [ray, "stop", "--force"], capture_output=True, env=env, timeout=120
        )
    result = json.loads(found.stdout)
    assert [t["state"] for t in result["trials"]] == ["complete"] * 6
    study = open_study(tmp_path / "s")
    hosts = {r.number for r in study.trials}
    assert hosts == set(range(6))
    # The trials ran in Ray's workers: the same values as a local search's.
    local = tune(
        Space.from_mapping(
            study.space.to_dict()["space"], study.space.to_dict()["base"]
        ),
        study=tmp_path / "local",
        trials=6,
    )
    ours = {r.number: r.dev["accuracy"] for r in study.trials}
    assert ours == {r.number: r.dev["accuracy"] for r in local.trials}
    report = subprocess.run(
        [NNTUNE, "report", tmp_path / "s"], capture_output=True, text=True, check=True
    )
    assert report.stdout.strip().endswith("report.html")
    page = (tmp_path / "s" / "report.html").read_text()
    assert f"Best trial: {study.best.number}</h3>" in page


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_trial_whose_worker_dies_runs_again_in_a_new_worker(tmp_path, monkeypatch):
    from nntune.tuning import engines

    marker = tmp_path / "killed-once"

    def kill_the_worker_once(spec):
        if spec.number == 2 and not marker.exists():
            marker.write_text("x")
            os._exit(1)  # as the out-of-memory killer would

    monkeypatch.setattr(engines, "_BEFORE_TRIAL", kill_the_worker_once)
    study = tune(small_space(), study=tmp_path / "s", trials=6, workers=2)
    records = study.trials
    lost = {r.number: r for r in records if r.state == "interrupted"}
    # A dead worker breaks the pool: the trial running beside it is lost too.
    assert 2 in lost
    assert len(lost) <= 2  # at most the two trials in flight when the pool broke
    retries = {r.retry_of: r for r in records if r.retry_of is not None}
    assert set(retries) == set(lost)
    for number, record in lost.items():
        assert "worker died" in record.error
        assert retries[number].state == "complete"
        assert retries[number].params == record.params
    assert sum(r.state == "complete" for r in records) == 6


def test_cmaes_searches_too(tmp_path):
    require("cmaes")
    study = tune(small_space(), study=tmp_path / "s", trials=6, strategy="cmaes")
    assert sum(r.state == "complete" for r in study.trials) == 6


def test_a_study_name_taken_by_another_search_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    tune(small_space(), study=tmp_path / "a" / "study", trials=2, storage=url)
    other = Space.from_mapping(
        {"batch_size": {"pow2": [16, 64]}},
        {"data": "moons", "epochs": 5, "layers": (8,)},
    )
    with pytest.raises(ValueError, match="already has a study named 'study'"):
        tune(other, study=tmp_path / "b" / "study", trials=2, storage=url)
    assert not (tmp_path / "b" / "study" / "study.json").exists()
    # The same search from another folder (another machine) joins it.
    joined = tune(small_space(), study=tmp_path / "c" / "study", trials=3, storage=url)
    assert [r.number for r in joined.trials] == [0, 1, 2]


def test_two_searches_on_one_study_share_its_budget_and_draws(tmp_path):
    space = space_file(tmp_path, epochs=60)
    command = [NNTUNE, "tune", space, "--trials", "6", "--workers", "1"]
    command += ["--out", tmp_path / "s", "--quiet"]
    first = subprocess.Popen(command)
    deadline = time.monotonic() + 60
    while not (tmp_path / "s" / "study.journal").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.Popen(command)
    assert first.wait(timeout=120) == 0
    assert second.wait(timeout=120) == 0
    records = open_study(tmp_path / "s").trials
    complete = [r for r in records if r.state == "complete"]
    # Each search checks the study's count before it starts a trial; only two
    # checks in the same instant can start one trial more.
    assert 6 <= len(complete) <= 7
    drawn = [tuple(sorted(r.params.items())) for r in complete]
    assert len(set(drawn)) == len(drawn)  # no configuration trained twice


def test_a_long_trial_keeps_its_heartbeat(tmp_path, monkeypatch):
    from nntune.tuning import heartbeat

    monkeypatch.setattr(heartbeat, "BEAT_SECONDS", 0.05)
    study = tune(small_space(epochs=300), study=tmp_path / "s", trials=1)
    trial = study.optuna.trials[0]
    beat = trial.user_attrs["nntune_heartbeat"]
    assert beat > trial.datetime_start.timestamp() + 0.1  # refreshed while it trained


def test_a_partial_grid_spreads_over_the_whole_grid(tmp_path):
    study = tune(
        small_space(), study=tmp_path / "s", strategy="grid", trials=4, grid_points=3
    )
    rates = [r.params["learning_rate"] for r in study.trials]
    assert len(study.trials) == 4
    assert len({tuple(sorted(r.params.items())) for r in study.trials}) == 4
    assert len(set(rates)) >= 2  # not the first corner of the grid only


def test_coarse_to_fine_continued_with_more_trials_adds_rounds(tmp_path):
    folder = tmp_path / "s"
    options = {"strategy": "coarse-to-fine", "rounds": 3}
    tune(small_space(), study=folder, trials=6, **options)
    study = tune(small_space(), study=folder, trials=10, **options)
    assert [r.round for r in study.trials] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [r["parent"] for r in study.rounds] == [None, 0, 1, 2, 3]


def test_data_settings_cannot_be_searched(tmp_path):
    space = Space.from_mapping(
        {"seed": {"int": [0, 5]}}, {"data": "moons", "epochs": 5, "layers": (4,)}
    )
    with pytest.raises(ValueError, match="use init_seed or shuffle_seed"):
        tune(space, study=tmp_path / "s", trials=2)
