"""The recipe's report: the story of a recipe step by step, as one HTML page.

What was seen at each step, what was changed and why, the errors it led to (a plot
of every model the recipe trained), the final run's curves and its test result,
and the final diagnosis with what to try next. Self-contained like the run report
(images inlined, no scripts), written next to ``recipe.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write_text
from ..training.history import History
from ._markup import _badge, _e, _list, _num, _page, _plot_section, _table
from ._plot_style import DEV_COLOR, TRAIN_COLOR, _render
from .plots import cost_curves

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..experiment.recipe_story import RecipeResult

__all__ = ["write_recipe_report"]


def write_recipe_report(result: RecipeResult) -> Path:
    """Write ``report.html`` in the recipe's folder; return its path."""
    path = result.folder / "report.html"
    atomic_write_text(path, render_recipe_report(result))
    return path


def render_recipe_report(result: RecipeResult) -> str:
    """The recipe's report as HTML text (see the module docstring)."""
    notes: list[str] = []
    percent = result.task != "regression"
    sections = [
        ("summary", "Summary", _summary(result, percent)),
        ("steps", "Step by step", _steps(result, percent)),
        _plot_section(
            "errors",
            "Every model the recipe trained",
            lambda: _errors_plot(result, percent),
            f"Training and dev {result.error_name} of each model, in the order the "
            "recipe trained them; filled markers are the changes it kept.",
            notes,
        ),
    ]
    history = _final_history(result.run_dir)
    if history is not None:
        sections.append(
            _plot_section(
                "final-curves",
                "The final model's training",
                lambda: cost_curves(history),
                "Cost per epoch of the final run (its report has every curve).",
                notes,
            )
        )
    sections.append(("next", "What to try next", _next(result)))
    data = result.settings.get("data", "")
    return _page(f"Recipe: {data}", _headline(result, percent), sections, result.folder)


def _headline(result: RecipeResult, percent: bool) -> str:
    test = result.final.get("test", {})
    if percent and "accuracy" in test:
        return f"test accuracy {test['accuracy']:.2%} after {len(result.steps)} steps"
    error = result.final.get("test_error")
    return f"test {result.error_name} {_num(error)} after {len(result.steps)} steps"


def _summary(result: RecipeResult, percent: bool) -> str:
    first = next((s for s in result.steps if s.name == "baseline"), None)
    final = result.steps[-1]
    shown = _shown_error(percent)
    rows = []
    if first is not None:
        rows.append(
            ([_e("baseline"), shown(first.train_error), shown(first.dev_error), ""], "")
        )
    test = result.final.get("test_error")
    rows.append(
        (
            [
                _e("final"),
                shown(final.train_error),
                shown(final.dev_error),
                shown(test),
            ],
            "",
        )
    )
    table = _table(
        ["model", "training", "dev", "test"], rows, numbers_from=1, css="narrow"
    )
    changes = {
        key: value
        for key, value in result.settings.items()
        if first is not None
        and first.settings.get(key) != value
        and key not in ("out", "dtype")
    }
    changed = (
        _list(
            [
                f"{k}: {_setting(first.settings.get(k) if first else None)} -> "
                f"{_setting(v)}"
                for k, v in changes.items()
            ]
        )
        if changes
        else "<p>The baseline's settings were kept.</p>"
    )
    link = result.run_dir / "report.html"
    where = (
        f"<p>The final model is in <code>{_e(result.run_dir)}</code>"
        + (' (<a href="final/report.html">its report</a>)' if link.exists() else "")
        + ".</p>"
    )
    return (
        f"<p>{_e(result.error_name.capitalize())} of the baseline and of the final "
        "model; the test set was evaluated once, at the end.</p>"
        f"{table}<h3>What changed from the baseline</h3>{changed}{where}"
    )


def _steps(result: RecipeResult, percent: bool) -> str:
    shown = _shown_error(percent)
    rows = []
    for number, step in enumerate(result.steps, 1):
        changed = ", ".join(f"{k} = {_setting(v)}" for k, v in step.changed.items())
        kept = "kept" if step.kept and step.changed else ""
        rows.append(
            (
                [
                    str(number),
                    f"<b>{_e(step.name)}</b>",
                    _e(step.seen),
                    _e(changed) + (f" {_badge('kept')}" if kept else ""),
                    _e(step.why),
                    shown(step.train_error),
                    shown(step.dev_error),
                ],
                "good" if kept else "",
            )
        )
    return _table(
        ["#", "step", "what was seen", "what was changed", "why", "training", "dev"],
        rows,
        numbers_from=5,
    )


def _errors_plot(result: RecipeResult, percent: bool) -> bytes:
    trained = [s for s in result.steps if s.dev_error is not None]
    if not trained:
        raise ValueError("no model was trained")

    def draw(figure: Figure, axes: Axes) -> None:
        xs = list(range(1, len(trained) + 1))
        for name, color, values in (
            ("training", TRAIN_COLOR, [_number(s.train_error) for s in trained]),
            ("dev", DEV_COLOR, [_number(s.dev_error) for s in trained]),
        ):
            axes.plot(xs, values, "-", color=color, alpha=0.5)
            for x, value, step in zip(xs, values, trained, strict=True):
                axes.plot(
                    x,
                    value,
                    "o",
                    color=color,
                    markerfacecolor=color if step.kept else "white",
                )
            axes.plot([], [], "o", color=color, label=f"{name} {result.error_name}")
        axes.set_xticks(xs, [_short(s.name) for s in trained], rotation=30, ha="right")
        axes.set_ylabel(result.error_name)
        axes.set_title("Errors of the models the recipe trained")
        axes.legend(loc="best")
        if percent:
            from matplotlib.ticker import PercentFormatter

            axes.yaxis.set_major_formatter(PercentFormatter(1.0))

    return _render(draw)


def _next(result: RecipeResult) -> str:
    diagnosis = result.final.get("diagnosis")
    if not isinstance(diagnosis, dict):
        return "<p>No final diagnosis (regression runs are judged by RMSE above).</p>"
    remedies = diagnosis.get("recommendations") or []
    lines = [
        f"{_e(item.get('remedy'))}: {_e(item.get('action'))}"
        + (f"<br><code>{_e(item['command'])}</code>" if item.get("command") else "")
        for item in remedies
    ]
    verdict = _e(diagnosis.get("verdict"))
    listed = "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"
    return f"<p>Final diagnosis: <b>{verdict}</b>.</p>" + (
        listed if lines else "<p>Nothing left to fix.</p>"
    )


def _final_history(run_dir: Path) -> History | None:
    path = run_dir / "history.json"
    if not path.exists():
        return None
    try:
        return History.from_dict(json.loads(path.read_text()))
    except ValueError:
        return None


def _shown_error(percent: bool) -> Any:
    def shown(value: Any) -> str:
        if value is None:
            return ""
        return f"{value:.2%}" if percent else _num(value)

    return shown


def _setting(value: Any) -> str:
    if value is None:
        return "the default"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _short(name: str) -> str:
    return name.split(": ")[-1][:18]
