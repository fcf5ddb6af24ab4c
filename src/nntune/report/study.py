"""The HTML report of a hyperparameter study: ``nntune report STUDY``.

The page is built like the run report (:mod:`.html`): one self-contained file, plots
as embedded PNGs, no JavaScript. It reads the study through
:func:`~nntune.tuning.open_study` and shows, in order: a summary (trials by state,
the strategy, the best trial and the commands that go on from it), the dev error
against each searched setting on that setting's own scale, the optimisation history,
the settings' importance (Optuna's), the coarse-to-fine rounds (when the
search had rounds), the best trial's curves and a table of every trial.

The dev error is what the search minimised: 1 - dev accuracy, or the dev cost of a
regression. A failed trial has none; it is marked on the plots, never plotted as a
value. The plots are drawn by :mod:`.plots_study`.
"""

from __future__ import annotations

import re
import shlex
from functools import partial
from pathlib import Path
from typing import Any

from .._files import atomic_write_text
from ..training.history import History
from ..tuning.study import Study, TrialRecord, open_study
from . import plots, plots_study
from ._markup import (
    _e,
    _Figure,
    _list,
    _num,
    _page,
    _percent,
    _plot_section,
    _require_matplotlib,
    _seconds,
    _settings,
    _table,
    _value,
)

__all__ = ["render_study_report", "write_study_report"]

_QUALIFIED = re.compile(r"^(?:\w+\.)+(?=\w+: )")
"""The module path of an error's class (``nntune.training.fit.``), left out."""
_STATES = ("complete", "pruned", "failed", "interrupted", "running")
_KEY = (
    '<p class="note">Dev error: 1 − dev accuracy (the dev cost for a regression), '
    "lower is better. Filled dots: completed trials; hollow grey: pruned trials, at "
    "their dev error when stopped; red × in the band along the top: failed trials "
    "(no dev error); star: the best trial.</p>"
)


def render_study_report(folder: str | Path, *, storage: str | None = None) -> str:
    """Return the HTML report of a study folder (``nntune tune ... --out FOLDER``).

    Sections: summary, dev error by setting, optimisation history, importance,
    coarse-to-fine rounds (only when the search had rounds), the best trial's
    curves and every trial. A study without finished trials gives a page that
    says so.

    Args:
        folder: The study folder (it holds ``study.json``).
        storage: The study's database URL, when ``study.json`` cannot hold it (a
            password); by default the one the study was created with.

    Returns:
        The page, as a string.

    Raises:
        ValueError: if ``folder`` holds no study, its storage cannot be opened, or
            matplotlib is missing.
    """
    _require_matplotlib()
    study = open_study(folder, storage=storage)
    records = study.trials
    best = _best(records)
    classification = any("accuracy" in record.dev for record in records)
    notes: list[str] = []
    sections = [("summary", "Summary", _summary(study, records, best))]
    by_setting = _by_setting(study, records, classification, notes)
    sections.append(("settings", "Dev error by setting", by_setting))
    history = _history(study, records, classification, notes)
    sections.append(("history", "Optimisation history", history))
    sections.append(("importance", "Importance", _importance(study, records, notes)))
    if study.rounds:
        sections.append(
            ("rounds", "Coarse-to-fine rounds", _rounds(study, records, notes))
        )
    sections.append(("best-curves", "Best trial's curves", _curves(best, notes)))
    sections.append(("trials", "All trials", _trials(study, records, best)))
    if notes:
        sections.append(("warnings", "Warnings", _list(notes, css="warnings")))
    done = sum(record.counted for record in records)
    parts = (
        study.space.base.get("data"),
        f"{study.meta.get('strategy', '?')} search",
        f"{done} finished trials",
    )
    subtitle = " · ".join(_value(part) for part in parts if part is not None)
    return _page(f"Study report: {study.name}", subtitle, sections, study.folder)


def write_study_report(
    folder: str | Path,
    output: str | Path | None = None,
    storage: str | None = None,
) -> Path:
    """Write :func:`render_study_report` to ``output`` (default ``folder/report.html``).

    The file is replaced atomically.

    Args:
        folder: The study folder.
        output: The HTML file to write.
        storage: The study's database URL, when it holds a password.

    Returns:
        The path written.

    Raises:
        ValueError: as :func:`render_study_report`.
    """
    target = Path(output) if output is not None else Path(folder) / "report.html"
    atomic_write_text(target, render_study_report(folder, storage=storage))
    return target


def _best(records: list[TrialRecord]) -> TrialRecord | None:
    done = [r for r in records if r.state == "complete" and r.value is not None]
    return min(done, key=lambda r: (r.value, r.number)) if done else None


def _error(value: Any, record: TrialRecord) -> str:
    return _percent(value) if "accuracy" in record.dev else _num(value)


def _summary(study: Study, records: list[TrialRecord], best: TrialRecord | None) -> str:
    counts = {state: 0 for state in _STATES}
    for record in records:
        counts[record.state] = counts.get(record.state, 0) + 1
    rows = [([_e(s), _num(n)], "") for s, n in counts.items() if n]
    rows.append(([_e("all"), _num(len(records))], ""))
    states = _table(["State", "Trials"], rows, numbers_from=1)
    meta = study.meta
    facts = [
        ("Strategy", _e(_value(meta.get("strategy")))),
        ("Pruner", _e(_value(meta.get("pruner")))),
        ("Seed", _num(meta.get("seed"))),
        ("Searched", _e(", ".join(study.space.dimensions))),
        ("Training time (all trials)", _seconds(sum(r.seconds or 0 for r in records))),
    ]
    if meta.get("rounds"):
        facts.insert(1, ("Rounds", _num(meta.get("rounds"))))
    info = _table(["", ""], [([_e(k), v], "") for k, v in facts], head=False)
    parts = [f'<div class="tables">{states}{info}</div>']
    if best is None:
        what = "has completed" if any(r.counted for r in records) else "has finished"
        parts.append(
            f"<p><strong>No trial {what} yet</strong>, so there is no best trial and "
            "nothing to plot.</p>"
        )
    else:
        accuracy = best.dev.get("accuracy")
        line = f"Dev error {_error(best.value, best)}"
        if isinstance(accuracy, int | float):
            line += f", dev accuracy {_percent(accuracy)}"
        parts.append(f"<h3>Best trial: {best.number}</h3><p>{line}.</p>")
        names = [n for n in study.space.dimensions if n in best.params]
        parts.append(_settings({n: best.params[n] for n in names}))
    items = "".join(
        f"<li><code>{_e(command)}</code> {_e(what)}</li>"
        for command, what in _commands(study, len(records), best is not None)
    )
    parts.append(f"<h3>Next</h3><ul>{items}</ul>")
    return "\n".join(parts)


def _commands(study: Study, trials: int, retrain: bool) -> list[tuple[str, str]]:
    """The commands that go on from the study: retrain its best, search more."""
    meta = study.meta
    folder = shlex.quote(str(study.folder))
    storage = meta.get("storage")
    where = f" --storage {shlex.quote(storage)}" if storage else ""
    options = ""
    if meta.get("strategy", "random") != "random":
        options += f" --strategy {meta['strategy']}"
    for key in ("rounds", "grid_points"):
        if meta.get(key) is not None:
            options += f" --{key.replace('_', '-')} {meta[key]}"
    if meta.get("pruner", "none") != "none":
        options += f" --pruner {meta['pruner']}"
    if meta.get("seed", 0) != 0:
        options += f" --seed {meta['seed']}"
    found = [
        (
            f"nntune tune SPACE.toml --out {folder}{options} --trials {trials + 10}"
            f"{where}",
            "continues the search with its space file (a larger --trials runs more "
            "trials; those that finished are kept)",
        )
    ]
    if retrain:
        found[:0] = [
            (
                f"nntune train --from-study {folder}{where}",
                "retrains the best trial with all its settings and tests it once, "
                "on the test set",
            ),
            (
                f"nntune train --from-study {folder} --trial N{where}",
                "retrains trial N instead",
            ),
        ]
    return found


def _figure(figure: _Figure, notes: list[str]) -> str:
    return _plot_section(*figure, notes)[2]


def _by_setting(
    study: Study, records: list[TrialRecord], classification: bool, notes: list[str]
) -> str:
    parts = [_KEY]
    for name, dimension in study.space.dimensions.items():
        draw = partial(plots_study.setting_plot, dimension, records, classification)
        caption = plots_study.scale_caption(dimension)
        parts.append(f'<h3 id="setting-{_e(name)}">{_e(name)}</h3>')
        if not any(name in record.params for record in records):
            parts.append(f'<p class="note">No trial has drawn {_e(name)} yet.</p>')
            continue
        parts.append(_figure((f"setting-{name}", name, draw, caption), notes))
    return "\n".join(parts)


def _history(
    study: Study, records: list[TrialRecord], classification: bool, notes: list[str]
) -> str:
    if not any(record.counted for record in records):
        return '<p class="note">No trial has finished yet.</p>'
    draw = partial(plots_study.history_plot, records, study.rounds, classification)
    caption = "Each trial's dev error by trial number; the line is the best so far."
    return _KEY + _figure(("history", "Optimisation history", draw, caption), notes)


def _importance(study: Study, records: list[TrialRecord], notes: list[str]) -> str:
    done = [r for r in records if r.state == "complete"]
    if len(done) < 2:
        return (
            '<p class="note">Not computed: the importance of the settings needs at '
            f"least 2 completed trials; this study has {len(done)}.</p>"
        )
    try:
        import optuna

        found = optuna.importance.get_param_importances(study.optuna)
    except Exception as error:  # Optuna's evaluators raise several kinds of error
        notes.append(f"Importance: not computed ({type(error).__name__}: {error})")
        return f'<p class="note">Not computed: {_e(error)}</p>'
    if not found:
        return (
            '<p class="note">Not computed: no setting was drawn in every completed '
            "trial.</p>"
        )
    importance = {name: float(value) for name, value in found.items()}
    draw = partial(plots_study.importance_plot, importance)
    caption = (
        "How much each setting matters for a low dev error, from the completed "
        "trials, as Optuna's get_param_importances measures it (its default "
        "evaluator: PED-ANOVA in Optuna 5, which compares how the best trials and "
        "all trials spread over each setting); the shares sum to 100%. A guide to "
        "which settings to search further, not a proof."
    )
    rows = [([_e(n), _percent(v)], "") for n, v in importance.items()]
    table = _table(["Setting", "Importance"], rows, numbers_from=1)
    return _figure(("importance", "Importance", draw, caption), notes) + table


def _rounds(study: Study, records: list[TrialRecord], notes: list[str]) -> str:
    draw = partial(plots_study.rounds_plot, study.space, study.rounds, records)
    caption = (
        "Each round's range of each setting, on the setting's own scale (0: the low "
        "end of the study's range, 1: the high end); the dots are the round's trials."
    )
    names = list(study.space.dimensions)
    rows = []
    for entry in study.rounds:
        number = entry.get("round")
        mine = [r for r in records if r.round == number]
        scored = [r for r in mine if r.state == "complete" and r.value is not None]
        top = min(scored, key=lambda r: (r.value, r.number)) if scored else None
        space = entry.get("space") or {}
        cells = [
            _num(number),
            _e(_value(entry.get("parent"))),
            _e(", ".join(str(r.number) for r in mine) or "—"),
            _error(top.value, top) if top else "—",
        ]
        cells += [_e(plots_study.range_text(space.get(name))) for name in names]
        rows.append((cells, ""))
    header = ["Round", "Parent", "Trials", "Best dev error", *names]
    table = _table(header, rows, css="comparison")
    return _figure(("rounds", "Rounds", draw, caption), notes) + table


def _curves(best: TrialRecord | None, notes: list[str]) -> str:
    if best is None:
        return '<p class="note">No completed trial, so no best trial to show.</p>'
    history = History()
    columns = best.history
    for index in range(max((len(v) for v in columns.values()), default=0)):
        row = {name: v[index] for name, v in columns.items() if index < len(v)}
        history.append({"epoch": index + 1, **row})
    intro = (
        f'<p class="note">Trial {best.number}, as the search trained it (train and '
        "dev sets; the test set is untouched).</p>"
    )
    cost: _Figure = (
        "best-cost",
        "Cost",
        partial(plots.cost_curves, history),
        "Cost on the training and dev sets after each epoch.",
    )
    parts = [intro, _figure(cost, notes)]
    if any(row.get("dev_accuracy") is not None for row in history.epochs):
        draw = partial(plots.accuracy_curves, history)
        caption = "Accuracy on the training and dev sets after each epoch."
        parts.append(_figure(("best-accuracy", "Accuracy", draw, caption), notes))
    return "\n".join(parts)


def _trials(study: Study, records: list[TrialRecord], best: TrialRecord | None) -> str:
    names = list(study.space.dimensions)
    rounds = bool(study.rounds)
    header = ["Trial", "State", *(["Round"] if rounds else []), "Dev error"]
    header += [*names, "Epochs", "Seconds", "Error"]
    rows = []
    for record in records:
        cells = [_num(record.number), _e(record.state)]
        cells += [_num(record.round)] if rounds else []
        cells.append(_error(record.value, record) if record.value is not None else "—")
        cells += [_e(_value(record.params.get(name))) for name in names]
        epochs = None if record.state == "failed" else record.epochs_run
        cells += [_num(epochs), _num(record.seconds)]
        cells.append(_e(_QUALIFIED.sub("", record.error or "")))
        rows.append((cells, "best" if record is best else ""))
    if not rows:
        return '<p class="note">No trials yet.</p>'
    note = (
        '<p class="note">Every trial in the order started; the settings as drawn '
        "(— where a setting does not apply, e.g. beta1 without Adam).</p>"
    )
    return note + _table(header, rows, css="comparison")
