"""The remedies fit the run: centred values, one change per setting, nothing useless."""

from __future__ import annotations

import shlex

import pytest

from nntune.experiment.config import TrainConfig
from nntune.remedies import Run, describe_run, format_remedies, recommend

BIAS, VARIANCE = "high bias", "high variance"
RUN = Run("runs/a")


def changes(items):
    """{remedy: change} of the remedies that change settings."""
    return {item.remedy: item.change for item in items if item.change is not None}


def test_values_are_centred_on_the_run_on_the_settings_scale():
    settings = {"learning_rate": 0.03, "l2": 0.7, "keep_prob": 0.7, "epochs": 40}
    bias = changes(recommend([BIAS], settings, RUN))
    # Half a decade either way on a log scale, to one digit; keep_prob by 0.1.
    assert bias["tune the learning rate"] == {
        "learning_rate": (0.003, 0.01, 0.03, 0.1, 0.3)
    }
    assert bias["weaker L2"] == {"l2": 0.3}
    assert bias["less dropout"] == {"keep_prob": 0.8}
    assert bias["train longer"] == {"epochs": 80}
    variance = changes(recommend([VARIANCE], settings, RUN))
    assert variance["L2 regularization"] == {"l2": 3.0}
    assert variance["dropout"] == {"keep_prob": 0.6}
    # The optimizer's own rate when the run set none: momentum's 0.01, Adam's 0.001.
    momentum = changes(recommend([BIAS], {"optimizer": "momentum"}, RUN))
    assert momentum["tune the learning rate"]["learning_rate"][2] == 0.01
    rates = changes(recommend([BIAS], {}, RUN))["tune the learning rate"]
    assert rates == {"learning_rate": (0.0001, 0.0003, 0.001, 0.003, 0.01)}
    # A rate off the grid stays itself in the middle.
    odd = changes(recommend([BIAS], {"learning_rate": 0.0015}, RUN))
    assert odd["tune the learning rate"]["learning_rate"][2] == 0.0015


def test_each_setting_changes_once_and_the_biggest_problem_wins():
    settings = {"l2": 0.7, "keep_prob": 0.8}
    for problems in ([VARIANCE, BIAS], [BIAS, VARIANCE]):
        items = recommend(problems, settings, RUN)
        flags = " ".join(item.command or "" for item in items).split()
        assert flags.count("--l2") == flags.count("--keep-prob") == 1
        first = changes(item for item in items if item.problem == problems[0])
        if problems[0] == VARIANCE:
            assert (first["L2 regularization"], first["dropout"]) == (
                {"l2": 3.0},
                {"keep_prob": 0.7},
            )
        else:
            assert (first["weaker L2"], first["less dropout"]) == (
                {"l2": 0.3},
                {"keep_prob": 0.9},
            )
        outs = [
            item.command.split("--out ")[1]
            for item in items
            if "--out" in (item.command or "")
        ]
        assert len(outs) == len(set(outs))  # every run gets its own folder


def test_what_cannot_help_the_run_is_left_out():
    def remedies(problem, settings=None, **facts):
        return {item.remedy for item in recommend([problem], settings, Run(**facts))}

    assert "train longer" in remedies(BIAS)
    assert "train longer" not in remedies(BIAS, stopped_early=True)
    assert "train longer" not in remedies(BIAS, cost_flat=True)
    assert "data augmentation" not in remedies(VARIANCE)  # tabular data
    assert "data augmentation" in remedies(VARIANCE, images=True)
    assert "data augmentation" not in remedies(VARIANCE, {"augment": "flip"}, images=1)
    assert "early stopping" not in remedies(VARIANCE, {"early_stopping": True})
    assert "dropout" not in remedies(VARIANCE, {"keep_prob": 0.5})  # the floor
    assert "weaker L2" not in remedies(BIAS)  # no L2 to weaken
    assert "better optimization" in remedies(BIAS, {"optimizer": "gd"})
    assert "better optimization" not in remedies(BIAS, {"optimizer": "adam"})
    # Adam would not take momentum's beta: the switch would be refused, so not offered.
    beta = {"optimizer": "momentum", "beta": 0.95}
    assert "better optimization" not in remedies(BIAS, beta)
    initialized = recommend([], {"init": "zeros"}, RUN, ("symmetric", []))
    assert initialized[0].change == {"init": "he"}


@pytest.mark.parametrize(
    ("costs", "flat"),
    [
        ([0.7, 0.6, 0.5, 0.45, 0.4, 0.36, 0.33, 0.3], False),
        ([0.7, 0.5, 0.4, 0.35, 0.35, 0.3499, 0.3498, 0.3497], True),
        ([0.7, 0.5, 0.4, 0.3, 0.31, 0.32, 0.33, 0.34], True),  # rising again
        ([0.7, 0.7, 0.7], False),  # too short to tell
        ([0.7, None, 0.5, 0.4, float("nan"), 0.3], False),
    ],
)
def test_a_flat_training_cost(costs, flat):
    assert describe_run("r", {}, {}, costs).cost_flat is flat


def test_what_a_run_folder_says_of_the_run():
    settings = {"epochs": 50, "early_stopping": True}
    assert describe_run("r", settings, {"epochs_run": 12}, []).stopped_early
    assert not describe_run("r", settings, {"epochs_run": 50}, []).stopped_early
    paused = {"epochs_run": 12, "interrupted": True}
    assert not describe_run("r", settings, paused, []).stopped_early
    no_stopping = {"epochs": 50}
    assert not describe_run("r", no_stopping, {"epochs_run": 12}, []).stopped_early
    images = {"data": {"image_shape": [8, 8, 1]}}
    assert describe_run("r", {}, images, []).images
    assert not describe_run("r", {}, {"data": {"image_shape": None}}, []).images
    assert describe_run("runs/a/", {}, {}, []).folder == "runs/a"
    damaged = describe_run("r", {"epochs": "many"}, {"epochs_run": [1], "data": 3}, [])
    assert not damaged.stopped_early
    assert not damaged.images


def test_every_command_is_one_shell_command_for_the_run():
    folder = "my runs/it's"
    items = recommend([BIAS, VARIANCE], {"l2": 0.1}, Run(folder), None)
    assert all(item.command for item in items)
    for item in items:
        words = shlex.split(item.command)
        assert words[:2] in (["nntune", "train"], ["nntune", "curves"])
        assert words[words.index("--config") + 1] == f"{folder}/config.toml"
        if words[1] == "train":
            suffix = "-".join(name.replace("_", "-") for name in item.change)
            assert words[-2:] == ["--out", f"{folder}-{suffix}"]
            assert TrainConfig.from_mapping({"l2": 0.1, **item.change})
    # Without a run the command says what is missing instead of running on moons.
    alone = recommend([VARIANCE], {})
    assert alone[0].command == "nntune curves learning <your settings>"
    assert alone[1].command == "nntune train <your settings> --l2 0.1"


def test_settings_of_another_version_give_advice_without_commands():
    items = recommend([BIAS], {"no_such_setting": 1}, RUN)
    assert items
    assert all(
        "<your settings>" in (item.command or "<your settings>") for item in items
    )


def test_one_rendering_with_each_command_on_its_own_line():
    items = recommend(["data mismatch", VARIANCE], {}, RUN)
    lines = format_remedies([item.__dict__ for item in items])
    assert lines[0] == "What to try, in order:"
    assert lines[1].startswith("  1. error analysis (data mismatch): ")
    commands = [line.strip() for line in lines if line.startswith("     ")]
    assert commands == [item.command for item in items if item.command]
    assert format_remedies([]) == []
