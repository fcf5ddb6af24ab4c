"""Self-contained HTML reports: one training run, or several runs side by side.

A report is a single HTML file that opens offline in any browser: the CSS is inline,
every plot is a PNG embedded as a ``data:`` URI, there is no JavaScript, and a
Content-Security-Policy forbids fetching anything else. Every string read from a
run's files is HTML-escaped.

The run report reads ``config.toml``, ``metrics.json`` and ``history.csv`` (the
mini-batch costs come from ``checkpoint.json`` when it is there); for the decision
boundary and the confusion matrix it rebuilds the run's data split from its settings
and loads ``model.safetensors``. Plots need the ``plots`` extra (matplotlib).

This module writes the run report and re-exports the rest: :mod:`.rundir` reads a run
directory, :mod:`.comparison` writes the comparison report, and both pages are built
from the pieces in :mod:`._markup`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write_text
from . import plots
from ._markup import (
    _badge,
    _e,
    _Figure,
    _list,
    _num,
    _page,
    _percent,
    _plot_section,
    _recorded,
    _require_matplotlib,
    _seconds,
    _settings,
    _table,
    _value,
    _warnings,
)
from .classification import classification_sections
from .comparison import render_comparison_report, write_comparison_report
from .rundir import RUN_FILES, _model_figures, read_history, read_run

if TYPE_CHECKING:
    from ..data.datasets import Dataset

__all__ = [
    "RUN_FILES",
    "read_history",
    "read_run",
    "render_comparison_report",
    "render_run_report",
    "write_comparison_report",
    "write_run_report",
]

_SETS = {"train": "training", "train_dev": "train-dev", "dev": "dev", "test": "test"}
_COST = (
    "Cost on the whole training and dev sets after each epoch (inference mode, "
    "without the regularization penalty). Grey: the cost of each mini-batch as "
    "minimised (training mode, penalty included), faint as measured and dark smoothed "
    "by a bias-corrected EWA, β = 0.9."
)
_NO_BATCHES = " (No checkpoint.json, so no mini-batch costs.)"
_STANDARDIZED = (
    " The model learns standardized targets, so the cost is the mean squared error "
    "in units of the training targets' variance: 1 is what predicting their mean "
    "costs, and 1 - cost is about R². RMSE, MAE and R² in the summary are in the "
    "target's own units."
)
_ACCURACY = "Accuracy on the whole training and dev sets after each epoch."
_RATE = "The learning rate of each epoch (log scale when it varies more than 10x)."


def render_run_report(run_dir: str | Path, *, data: Dataset | None = None) -> str:
    """Return the HTML report of a run directory written by ``nntune train``.

    Sections: summary, classification metrics (per class), cost, accuracy,
    learning rate, decision boundary (2-D inputs), confusion matrix (classification,
    dev set), ROC curve (binary), diagnosis, gradient health, warnings and
    configuration.

    Args:
        run_dir: The folder of the run (``--out`` of ``nntune train``).
        data: The run's :class:`~nntune.Dataset`, when you have it (a data file that
            has moved); by default it is loaded again from the run's settings.

    Returns:
        The page, as a string.

    Raises:
        ValueError: if ``run_dir`` is not a run directory or matplotlib is missing.
    """
    _require_matplotlib()
    folder = Path(run_dir)
    settings, metrics = read_run(folder)
    history = read_history(folder)
    best = metrics.get("best_epoch")
    best = best if isinstance(best, int) else None
    caption = _COST + ("" if history.iterations else _NO_BATCHES)
    if metrics.get("task") == "regression":
        caption += _STANDARDIZED
    figures: list[_Figure] = [
        ("cost", "Cost", partial(plots.cost_curves, history, best_epoch=best), caption)
    ]
    if _recorded(history, "train_accuracy", "dev_accuracy"):
        draw = partial(plots.accuracy_curves, history, best_epoch=best)
        figures.append(("accuracy", "Accuracy", draw, _ACCURACY))
    if _recorded(history, "learning_rate"):
        draw = partial(plots.learning_rate_curve, history)
        figures.append(("learning-rate", "Learning rate", draw, _RATE))
    notes: list[str] = []
    figures += _model_figures(folder, settings, metrics, data)
    sections = [("summary", "Summary", _summary(settings, metrics))]
    sections += classification_sections(metrics)  # per-class table (classifiers)
    sections += [_plot_section(*figure, notes) for figure in figures]
    sections += [
        *_changes(history.changes, metrics),
        ("diagnosis", "Diagnosis", _diagnosis(metrics.get("diagnosis"), metrics)),
        ("gradient-health", "Gradient health", _health(metrics.get("gradient_health"))),
        ("warnings", "Warnings", _warnings(metrics.get("warnings"), notes)),
        ("configuration", "Configuration", _configuration(settings)),
    ]
    layers = f"layers {_value(settings.get('layers', '?'))}"
    epochs = f"{metrics.get('epochs_run', '?')} epochs"
    parts = (
        settings.get("data"),
        metrics.get("task"),
        layers,
        settings.get("optimizer"),
    )
    subtitle = " · ".join(_value(part) for part in (*parts, epochs) if part is not None)
    return _page(f"Run report: {folder.resolve().name}", subtitle, sections, folder)


def write_run_report(
    run_dir: str | Path,
    path: str | Path | None = None,
    *,
    data: Dataset | None = None,
) -> Path:
    """Write :func:`render_run_report` to ``path`` (default ``run_dir/report.html``).

    The file is replaced atomically. Returns its path.
    """
    target = Path(path) if path is not None else Path(run_dir) / "report.html"
    atomic_write_text(target, render_run_report(run_dir, data=data))
    return target


def _summary(settings: dict[str, Any], metrics: dict[str, Any]) -> str:
    regression = metrics.get("task") == "regression"
    rows = []
    for key, name in _SETS.items():
        scores = metrics.get(key)
        if isinstance(scores, dict):
            accuracy = scores.get("accuracy")
            error = 1 - accuracy if isinstance(accuracy, int | float) else None
            cells = [_e(name), _num(scores.get("examples")), _num(scores.get("cost"))]
            if regression:  # in the target's units
                cells += [_num(scores.get(k)) for k in ("rmse", "mae", "r2")]
                rows.append((cells, ""))
            else:
                rows.append(([*cells, _percent(accuracy), _percent(error)], ""))
    header = ["Set", "Examples", "Cost", "Accuracy", "Error"]
    if regression:
        header = ["Set", "Examples", "Cost (standardized)", "RMSE", "MAE", "R²"]
    sets = _table(header, rows, numbers_from=1)
    best = _e(_value(metrics.get("best_epoch")))
    if metrics.get("restored_best"):
        best += " (weights restored)"
    health = (metrics.get("gradient_health") or {}).get("final") or {}
    facts = [
        ("Data", _e(_value(settings.get("data")))),
        ("Task", _e(_value(metrics.get("task")))),
        ("Epochs run", _num(metrics.get("epochs_run"))),
        ("Best epoch", best),
        ("Time", _seconds(metrics.get("seconds"))),
        ("Diagnosis", _badge((metrics.get("diagnosis") or {}).get("verdict"))),
        ("Gradient health", _badge(health.get("verdict"))),
    ]
    if metrics.get("resumed_from_epoch"):
        facts.append(("Resumed from epoch", _num(metrics["resumed_from_epoch"])))
    info = _table(["", ""], [([_e(k), v], "") for k, v in facts], head=False)
    return f'<div class="tables">{sets}{info}</div>'


def _changes(
    changes: list[dict[str, Any]], metrics: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """The settings changed while training (babysitting), when there were any."""
    if not changes:
        return []
    rows = [
        (
            [
                _num(change.get("epoch")),
                _e(str(change.get("setting", ""))),
                _num(change.get("old")),
                _num(change.get("new")),
            ],
            "",
        )
        for change in changes
    ]
    table = _table(["From epoch", "Setting", "Old", "New"], rows, numbers_from=2)
    lineage = metrics.get("lineage") or []
    steps = [
        f"<li><code>{_e(str(item.get('command', '')))}</code> "
        f'<span class="note">(epochs {_e(str(item.get("from_epoch")))}–'
        f"{_e(str(item.get('to_epoch')))})</span></li>"
        for item in lineage
        if isinstance(item, dict)
    ]
    body = (
        '<p class="note">Settings changed during the run (dashed lines on the '
        "curves); each takes effect in the epoch shown.</p>" + table
    )
    if steps:
        body += "<h3>Lineage</h3><ol>" + "".join(steps) + "</ol>"
    return [("changes", "Changes during training", body)]


def _diagnosis(diagnosis: Any, metrics: dict[str, Any]) -> str:
    if not isinstance(diagnosis, dict):
        return (
            '<p class="note">No bias/variance diagnosis (it needs train and dev '
            "errors: a dev set).</p>"
        )
    parts = [f"<p>Verdict: {_badge(diagnosis.get('verdict'))}</p>"]
    parts.append(_list(diagnosis.get("explanation")))
    items = []
    for item in diagnosis.get("recommendations") or []:
        if isinstance(item, dict):
            # The list `nntune train` and `nntune diagnose` print, commands and all.
            command = item.get("command")
            paste = f"<br><code>{_e(command)}</code>" if command else ""
            items.append(
                f"<li><strong>{_e(item.get('remedy', ''))}</strong> "
                f"({_e(item.get('problem', ''))}): {_e(item.get('action', ''))}"
                f"{paste}</li>"
            )
    if items:
        parts.append("<h3>What to try, in order</h3><ol>" + "".join(items) + "</ol>")
    if metrics.get("task") == "regression":
        std = metrics.get("target_std")
        parts.append(
            '<p class="note">Errors are RMSEs in the target\'s units; a gap is high '
            f"above a fraction (0.02 by default) of the training targets' standard "
            f"deviation, {_num(std)}. Human-level RMSE is taken as 0; <code>nntune "
            "diagnose RUN_DIR --human-error E</code> (an RMSE) redoes it with a "
            "better estimate.</p>"
        )
    else:
        parts.append(
            '<p class="note">Human-level error is taken as 0; <code>nntune diagnose '
            "RUN_DIR --human-error 0.05</code> redoes it with a better estimate.</p>"
        )
    return "\n".join(parts)


def _health(health: Any) -> str:
    final = (health or {}).get("final") if isinstance(health, dict) else None
    if not isinstance(final, dict):
        return '<p class="note">No gradient-health record in metrics.json.</p>'
    header = ["Layer", "Activation", "Verdict", "Activation std"]
    header += ["‖dW‖ (weight gradient)", "Dead ReLUs"]
    rows = []
    for layer in final.get("layers") or []:
        if isinstance(layer, dict):
            cells = [_e(layer.get("name", "")), _e(_value(layer.get("activation")))]
            cells += [_badge(layer.get("verdict")), _num(layer.get("activation_std"))]
            cells += [
                _num(layer.get("gradient_norm")),
                _percent(layer.get("dead_fraction")),
            ]
            rows.append((cells, ""))
    parts = [
        f"<p>Verdict at the end: {_badge(final.get('verdict'))}</p>",
        _table(header, rows, numbers_from=3),
    ]
    for heading, key in (("Problems", "problems"), ("Suggestions", "suggestions")):
        if final.get(key):
            parts.append(f"<h3>{heading}</h3>" + _list(final[key]))
    by_epoch = health.get("verdict_by_epoch") if isinstance(health, dict) else None
    if isinstance(by_epoch, dict) and by_epoch:
        runs: list[list[Any]] = []
        for epoch, verdict in by_epoch.items():
            if runs and runs[-1][2] == verdict:
                runs[-1][1] = epoch
            else:
                runs.append([epoch, epoch, verdict])
        spans = [
            f"epochs {a}–{b}: {v}" if a != b else f"epoch {a}: {v}" for a, b, v in runs
        ]
        parts.append(f'<p class="note">During training: {_e("; ".join(spans))}.</p>')
    return "\n".join(parts)


def _configuration(settings: dict[str, Any]) -> str:
    return (
        '<p class="note">Every setting of the run; <code>nntune train --config '
        f"config.toml</code> reproduces it.</p>{_settings(settings)}"
    )
