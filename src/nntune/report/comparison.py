"""The comparison report: several runs side by side in one self-contained page.

One table row per run (the settings that differ, the scores, the time) with the best
dev score in bold, each run's name linking to its own report when it has one, the
settings every run shares, and the runs' cost and accuracy curves overlaid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from .._files import atomic_write_text
from ._markup import (
    _e,
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
from .plots_compare import compare_accuracy_curves, compare_cost_curves

_WHERE = ("out", "checkpoint_every")
"""Settings that do not change a run's result, left out of comparisons."""


def render_comparison_report(
    entries: Sequence[Mapping[str, Any]], *, title: str = "Comparison of runs"
) -> str:
    """Return an HTML page comparing runs: one table row per run, overlaid curves.

    Args:
        entries: One dict per run: ``{"name": "init=he", "settings": {...},
            "metrics": {"train": {"cost", "accuracy"}, "dev": ..., "test": ...,
            "epochs_run", "seconds"}, "history": History}``, and optionally
            ``"report"``: the path of the run's own report, relative to the page.
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
            _linked(run["name"], run.get("report")),
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
                partial(compare_cost_curves, names),
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
                    partial(compare_accuracy_curves, names),
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


def _linked(name: str, report: Any) -> str:
    if not report:
        return _e(name)
    return f'<a href="{_e(quote(str(report), safe="/=,"))}">{_e(name)}</a>'


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
