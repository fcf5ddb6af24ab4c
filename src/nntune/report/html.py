"""Self-contained HTML reports: one training run, or several runs side by side.

A report is a single HTML file that opens offline in any browser: the CSS is inline,
every plot is a PNG embedded as a ``data:`` URI, there is no JavaScript, and a
Content-Security-Policy forbids fetching anything else. Every string read from a
run's files is HTML-escaped.

The run report reads ``config.toml``, ``metrics.json`` and ``history.csv`` (the
mini-batch costs come from ``checkpoint.json`` when it is there); for the decision
boundary and the confusion matrix it rebuilds the run's data split from its settings
and loads ``model.safetensors``. Plots need the ``plots`` extra (matplotlib).
"""

from __future__ import annotations

import base64
import csv
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import atomic_write_text
from ..training.history import History
from . import plots

if TYPE_CHECKING:
    from ..data.datasets import Dataset

RUN_FILES = ("config.toml", "metrics.json", "history.csv")
"""The files that make a folder a run directory of ``nntune train``."""
_SETS = {"train": "training", "train_dev": "train-dev", "dev": "dev", "test": "test"}
_GOOD = ("fine", "healthy")
_WHERE = ("out", "checkpoint_every")
"""Settings that do not change a run's result, left out of comparisons."""
_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--link:#0969da}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:980px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:1.7rem;margin:0 0 2px}
h2{font-size:1.25rem;margin:6px 0 12px}
.sub,.note,figcaption,footer{color:var(--muted)}
nav{display:flex;flex-wrap:wrap;gap:4px 16px;margin:14px 0 4px;font-size:.92rem}
nav a{color:var(--link);text-decoration:none}
section{border-top:1px solid var(--line);margin-top:26px;padding-top:10px}
table{border-collapse:collapse;margin:6px 0 14px;font-size:.92rem}
th,td{border:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.wide{overflow-x:auto}
table.comparison{font-size:.86rem}
table.comparison th,table.comparison td{padding:4px 7px}
tbody tr:nth-child(even){background:#fafbfc}
tr.best td{font-weight:700;background:#eaf5ec}
.tables{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
figure{margin:6px 0 16px}
img{display:block;max-width:100%;height:auto;border:1px solid var(--line);
border-radius:6px}
figcaption{font-size:.88rem;margin-top:6px;max-width:640px}
.badge{display:inline-block;padding:0 9px;border-radius:10px;font-size:.86rem;
font-weight:600;color:#fff;background:#bf8700}
.badge.ok{background:#1a7f37}
code{font:.86em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
background:var(--soft);padding:1px 5px;border-radius:4px}
li{margin:3px 0}
ul.warnings li::marker{color:#bf8700}
footer{margin-top:36px;font-size:.85rem}
dl.settings{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));
gap:0 24px;margin:8px 0}
dl.settings div{display:flex;justify-content:space-between;gap:12px;padding:3px 0;
border-bottom:1px solid var(--line)}
dt{font-weight:600}
dd{margin:0;text-align:right;overflow-wrap:anywhere}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_COST = (
    "Cost on the whole training and dev sets after each epoch (inference mode, "
    "without the regularization penalty). Grey: the cost of each mini-batch as "
    "minimised (training mode, penalty included), faint as measured and dark smoothed "
    "by a bias-corrected EWA, β = 0.9."
)
_NO_BATCHES = " (No checkpoint.json, so no mini-batch costs.)"
_ACCURACY = "Accuracy on the whole training and dev sets after each epoch."
_RATE = "The learning rate of each epoch (log scale when it varies more than 10x)."
_Figure = tuple[str, str, Callable[[], bytes], str]
"""A section with a plot: id, title, a function drawing the PNG, caption."""


def render_run_report(run_dir: str | Path, *, data: Dataset | None = None) -> str:
    """Return the HTML report of a run directory written by ``nntune train``.

    Sections: summary, cost, accuracy, learning rate, decision boundary (2-D inputs),
    confusion matrix (classification, dev set), diagnosis, gradient health,
    warnings and configuration.

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
    sections += [_plot_section(*figure, notes) for figure in figures]
    sections += [
        ("diagnosis", "Diagnosis", _diagnosis(metrics.get("diagnosis"))),
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


def render_comparison_report(
    entries: Sequence[Mapping[str, Any]], *, title: str = "Comparison of runs"
) -> str:
    """Return an HTML page comparing runs: one table row per run, overlaid curves.

    Args:
        entries: One dict per run: ``{"name": "init=he", "settings": {...},
            "metrics": {"train": {"cost", "accuracy"}, "dev": ..., "test": ...,
            "epochs_run", "seconds"}, "history": History}``.
        title: The page's heading.

    Raises:
        ValueError: if there are no entries or one lacks a key or has a bad type.
    """
    _require_matplotlib()
    runs = [_check_entry(index, entry) for index, entry in enumerate(entries)]
    if not runs:
        raise ValueError("give at least one run to compare; got no entries.")
    keys = [k for run in runs for k in run["settings"] if k not in _WHERE]
    keys = list(dict.fromkeys(keys))
    varying = [k for k in keys if len({_value(r["settings"].get(k)) for r in runs}) > 1]
    best = _best_run(runs)
    header = ["Run", *varying, "Train cost", "Train acc.", "Dev cost", "Dev acc."]
    header += ["Test cost", "Test acc.", "Epochs", "Time"]
    rows = []
    for index, run in enumerate(runs):
        m = run["metrics"]
        cells = [
            _e(run["name"]),
            *(_e(_value(run["settings"].get(k))) for k in varying),
        ]
        for name in ("train", "dev", "test"):
            scores = m.get(name) or {}
            cells += [_num(scores.get("cost")), _percent(scores.get("accuracy"))]
        cells += [_num(m.get("epochs_run")), _seconds(m.get("seconds"))]
        rows.append((cells, "best" if index == best else ""))
    table = _table(header, rows, numbers_from=1 + len(varying), css="comparison")
    if best is not None:
        table += '<p class="note">Bold: the best dev accuracy (or dev cost).</p>'
    shared = {
        key: runs[0]["settings"][key]
        for key in keys
        if key not in varying and all(key in run["settings"] for run in runs)
    }
    if shared:
        table += "<h3>Settings shared by every run</h3>" + _settings(shared)
    names: dict[str, Any] = {}
    for run in runs:
        if run["history"] is not None and run["history"].epochs:
            name, copy = run["name"], 2
            while name in names:
                name, copy = f"{run['name']} ({copy})", copy + 1
            names[name] = run["history"]
    notes: list[str] = []
    sections = [("runs", "Runs", table)]
    if names:
        sections.append(
            _plot_section(
                "cost",
                "Cost",
                partial(plots.compare_cost_curves, names),
                "Dev cost (solid) and training cost (dashed) after each epoch "
                "(log scale when they span more than 100x).",
                notes,
            )
        )
        if any(_recorded(h, "train_accuracy", "dev_accuracy") for h in names.values()):
            sections.append(
                _plot_section(
                    "accuracy",
                    "Accuracy",
                    partial(plots.compare_accuracy_curves, names),
                    "Dev accuracy (solid) and training accuracy (dashed).",
                    notes,
                )
            )
    if notes:
        sections.append(("warnings", "Warnings", _warnings([], notes)))
    return _page(title, f"{len(runs)} runs", sections, None)


def write_comparison_report(
    entries: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    title: str = "Comparison of runs",
) -> Path:
    """Write :func:`render_comparison_report` to ``path`` atomically; return it."""
    atomic_write_text(path, render_comparison_report(entries, title=title))
    return Path(path)


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the settings (config.toml) and metrics (metrics.json) of a run.

    Raises:
        ValueError: if the folder is not a run directory or a file does not parse.
    """
    folder = Path(run_dir)
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        what = "does not exist" if not folder.exists() else f"has no {missing[0]}"
        raise ValueError(
            f"{folder} is not a run directory of `nntune train`: it {what}. Give the "
            "folder a finished run wrote (its --out), which holds "
            f"{', '.join(RUN_FILES)}."
        )
    try:
        with (folder / "config.toml").open("rb") as file:
            settings = tomllib.load(file)
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{folder}: a run file does not parse: {error}") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{folder / 'metrics.json'} must hold a JSON object.")
    return settings, metrics


def read_history(run_dir: str | Path) -> History:
    """Return a run's history: history.json, else history.csv plus the checkpoint.

    Runs write ``history.json`` with the per-iteration costs. For a folder without it,
    the epochs come from ``history.csv`` and the batch costs from ``checkpoint.json``;
    ``iterations`` stays empty when that is missing, damaged or holds another number
    of epochs.

    Raises:
        ValueError: if neither history file can be read.
    """
    try:
        document = json.loads((Path(run_dir) / "history.json").read_text("utf-8"))
        return History.from_dict(document)
    except (OSError, ValueError):
        pass  # an older run directory: fall back to the CSV
    path = Path(run_dir) / "history.csv"
    history = History()
    try:
        with path.open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                history.append({key: _cell(value) for key, value in row.items()})
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist; is this a run directory?") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a history CSV: {error}") from None
    try:
        saved = json.loads((path.parent / "checkpoint.json").read_text("utf-8"))
        if len(saved["history"]["epochs"]) == history.epochs_run:
            history.iterations = [float(v) for v in saved["history"]["iterations"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # the curves are drawn without the batch costs
    return history


def _model_figures(
    folder: Path,
    settings: dict[str, Any],
    metrics: dict[str, Any],
    given: Dataset | None,
) -> list[_Figure]:
    """The decision boundary (2-D inputs) and confusion matrix of a classifier."""
    from ..runs import TrainConfig, load_data, split_data
    from ..serialization import load_model

    if metrics.get("task") == "regression":
        return []
    try:
        config = TrainConfig.from_mapping(settings, source=str(folder / "config.toml"))
        data = load_data(config) if given is None else given
        split = split_data(config, data)
        model = load_model(folder / "model")
        sizes = {name: len(getattr(split, name)) for name in ("train", "dev")}
        recorded = {k: (metrics.get(k) or {}).get("examples", 0) for k in sizes}
        if sizes != recorded:
            raise ValueError(f"it splits into {sizes}, the run had {recorded}")
    except (ValueError, TypeError, OSError) as error:
        reason = f"the run's data or model could not be loaded again: {error}"
        return [("confusion", "Confusion matrix", _failing(reason), "")]
    classes = [str(name) for name in metrics.get("class_names") or data.class_names]
    figures: list[_Figure] = []
    if data.n_features == 2:
        X, y = data.X[split.train], data.y[split.train]
        kind = (
            "boundary p = 0.5 in black" if len(classes) <= 2 else "most probable class"
        )
        draw = partial(plots.decision_boundary, model, X, y, class_names=classes)
        caption = f"The model's predictions over the input plane ({kind}); points: "
        shown = f"the {len(X)}" if len(X) <= 2000 else f"2,000 of the {len(X)}"
        caption += f"{shown} training examples by class."
        figures.append(("decision-boundary", "Decision boundary", draw, caption))
    name, rows = ("dev", split.dev) if len(split.dev) else ("training", split.train)
    labels = np.asarray(data.y[rows]).reshape(-1)
    predicted = np.asarray(model.predict(data.X[rows])).reshape(-1)
    title = f"Confusion matrix ({name} set)"
    caption = f"Counts of the {len(rows)} {name} examples by true class (rows) and "
    caption += "predicted class (columns); the diagonal is right "
    caption += f"({np.mean(labels == predicted):.2%})."
    draw = partial(plots.confusion_matrix, labels, predicted, classes, title=title)
    return [*figures, ("confusion", "Confusion matrix", draw, caption)]


def _failing(reason: str) -> Callable[[], bytes]:
    def draw() -> bytes:
        raise ValueError(reason)

    return draw


def _summary(settings: dict[str, Any], metrics: dict[str, Any]) -> str:
    rows = []
    for key, name in _SETS.items():
        scores = metrics.get(key)
        if isinstance(scores, dict):
            accuracy = scores.get("accuracy")
            error = 1 - accuracy if isinstance(accuracy, int | float) else None
            cells = [_e(name), _num(scores.get("examples")), _num(scores.get("cost"))]
            rows.append(([*cells, _percent(accuracy), _percent(error)], ""))
    sets = _table(
        ["Set", "Examples", "Cost", "Accuracy", "Error"], rows, numbers_from=1
    )
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


def _diagnosis(diagnosis: Any) -> str:
    if not isinstance(diagnosis, dict):
        return '<p class="note">No bias/variance diagnosis (it needs accuracies).</p>'
    parts = [f"<p>Verdict: {_badge(diagnosis.get('verdict'))}</p>"]
    parts.append(_list(diagnosis.get("explanation")))
    items = []
    for item in diagnosis.get("recommendations") or []:
        if isinstance(item, dict):
            flag = f" <code>{_e(item['flag'])}</code>" if item.get("flag") else ""
            items.append(
                f"<li><strong>{_e(item.get('remedy', ''))}</strong>: "
                f"{_e(item.get('action', ''))}{flag} "
                f'<span class="note">({_e(item.get("problem", ""))})</span></li>'
            )
    if items:
        parts.append("<h3>What to try, in order</h3><ol>" + "".join(items) + "</ol>")
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


def _warnings(warnings: Any, notes: list[str]) -> str:
    items = [str(w) for w in warnings or []] + notes
    if not items:
        return '<p class="note">No warnings.</p>'
    return _list(items, css="warnings")


def _configuration(settings: dict[str, Any]) -> str:
    return (
        '<p class="note">Every setting of the run; <code>nntune train --config '
        f"config.toml</code> reproduces it.</p>{_settings(settings)}"
    )


def _settings(settings: Mapping[str, Any]) -> str:
    items = "".join(
        f"<div><dt>{_e(key)}</dt><dd><code>{_e(_value(value))}</code></dd></div>"
        for key, value in settings.items()
    )
    return f'<dl class="settings">{items}</dl>'


def _plot_section(
    key: str, title: str, draw: Callable[[], bytes], caption: str, notes: list[str]
) -> tuple[str, str, str]:
    try:
        png = draw()
    except ValueError as error:  # a curve the data cannot give; the rest still renders
        notes.append(f"{title}: not drawn ({error})")
        return key, title, f'<p class="note">Not drawn: {_e(error)}</p>'
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    width, height = int(plots.SIZE[0] * plots.DPI), int(plots.SIZE[1] * plots.DPI)
    return (
        key,
        title,
        (
            f'<figure><img src="{source}" width="{width}" height="{height}" '
            f'alt="{_e(title)} plot"><figcaption>{_e(caption)}</figcaption></figure>'
        ),
    )


def _page(
    title: str, subtitle: str, sections: list[tuple[str, str, str]], folder: Path | None
) -> str:
    from .. import __version__

    nav = "".join(f'<a href="#{key}">{_e(name)}</a>' for key, name, _ in sections)
    body = "\n".join(
        f'<section id="{key}">\n<h2>{_e(name)}</h2>\n{html}\n</section>'
        for key, name, html in sections
    )
    where = f" from <code>{_e(folder)}</code>" if folder is not None else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f'<link rel="icon" href="data:,">\n<title>{_e(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(subtitle)}</p></header>\n'
        f"<nav>{nav}</nav>\n{body}\n"
        f"<footer>Made by nntune {_e(__version__)}{where}.</footer>\n"
        "</main>\n</body>\n</html>\n"
    )


def _table(
    header: list[str],
    rows: list[tuple[list[str], str]],
    *,
    numbers_from: int | None = None,
    css: str = "",
    head: bool = True,
) -> str:
    """A table of cells that are already HTML (escape strings with _e first).

    Columns from ``numbers_from`` on hold numbers, aligned right.
    """
    top = "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>"
    first = len(header) if numbers_from is None else numbers_from
    lines = []
    for cells, row_css in rows:
        tds = "".join(
            f'<td class="n">{c}</td>' if i >= first else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        lines.append(
            f'<tr class="{row_css}">{tds}</tr>' if row_css else f"<tr>{tds}</tr>"
        )
    css_attr = f' class="{css}"' if css else ""
    body = f"{top if head else ''}<tbody>{''.join(lines)}</tbody>"
    return f'<div class="wide"><table{css_attr}>{body}</table></div>'


def _check_entry(index: int, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise TypeError(f"entry {index} must be a dict; got {type(entry).__name__}.")
    missing = [k for k in ("name", "settings", "metrics", "history") if k not in entry]
    if missing:
        raise ValueError(
            f"entry {index} lacks {missing}; each entry needs name, settings, metrics "
            "and history (None when there is none)."
        )
    if not isinstance(entry["settings"], Mapping) or not isinstance(
        entry["metrics"], Mapping
    ):
        raise TypeError(f"entry {index}: settings and metrics must be dicts.")
    return {**entry, "name": str(entry["name"])}


def _best_run(runs: list[dict[str, Any]]) -> int | None:
    for key, sign in (("accuracy", -1.0), ("cost", 1.0)):
        scores = [(r["metrics"].get("dev") or {}).get(key) for r in runs]
        values = [float(s) for s in scores if isinstance(s, int | float)]
        if len(values) == len(runs) and np.isfinite(values).all():
            return int(np.argmin([sign * value for value in values]))
    return None


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError(
            'reports need matplotlib: pip install "nntune[plots]".'
        ) from None


def _recorded(history: History, *columns: str) -> bool:
    return any(row.get(c) is not None for row in history.epochs for c in columns)


def _cell(text: str | None) -> int | float | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else _e(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _percent(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else _e(value)
    return f"{100 * value:.2f}%"


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    minutes, seconds = divmod(float(value), 60)
    return f"{int(minutes)} min {seconds:.0f} s" if minutes else f"{seconds:.2f} s"


def _badge(verdict: Any) -> str:
    if verdict is None:
        return "—"
    css = "badge ok" if verdict in _GOOD else "badge"
    return f'<span class="{css}">{_e(verdict)}</span>'


def _list(items: Any, css: str = "") -> str:
    css_attr = f' class="{css}"' if css else ""
    return (
        f"<ul{css_attr}>" + "".join(f"<li>{_e(i)}</li>" for i in items or []) + "</ul>"
    )
