"""A classifier's part of the run report: the per-class table and the ROC curve.

The table comes from metrics.json (precision, recall, F1 and support of each class,
their macro averages, ROC AUC and the decision threshold, on the dev set or else the
training set); the ROC curve is drawn from the run's model and data, as the
confusion matrix is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.classification import roc_auc, roc_curve
from ._markup import _e, _num, _table
from ._plot_style import DEV_COLOR, _render

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["classification_sections", "roc_plot"]

_KEYS = ("precision", "recall", "f1")


def classification_sections(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The "Classification metrics" section of a classifier's run (else none)."""
    name = "dev" if "per_class" in (metrics.get("dev") or {}) else "train"
    scores = metrics.get(name) or {}
    rows_in = scores.get("per_class")
    if not isinstance(rows_in, list):
        return []
    rows = [
        (
            [
                _e(row.get("class", "")),
                *(_num(row.get(key)) for key in _KEYS),
                _num(row.get("support")),
            ],
            "",
        )
        for row in rows_in
        if isinstance(row, dict)
    ]
    total = sum(r.get("support", 0) for r in rows_in if isinstance(r, dict))
    macro = [_num(scores.get(f"{key}_macro")) for key in _KEYS]
    rows.append((["<strong>macro average</strong>", *macro, _num(total)], ""))
    header = ["Class", "Precision", "Recall", "F1", "Support"]
    table = _table(header, rows, numbers_from=1)
    notes = [
        f"On the {'dev' if name == 'dev' else 'training'} set. The macro averages "
        "count every class the same, however rare."
    ]
    if scores.get("roc_auc") is not None:
        notes.append(f"ROC AUC {_num(scores['roc_auc'])}.")
    threshold = metrics.get("threshold")
    if isinstance(threshold, dict) and threshold.get("value") is not None:
        how = threshold.get("chosen_on")
        chosen = f" (chosen on the {_e(how)})" if how else ""
        notes.append(
            f"Class 1 is predicted where P(class 1) &gt; {_num(threshold['value'])}"
            f"{chosen}."
        )
    body = f'<p class="note">{" ".join(notes)}</p>{table}'
    return [("classification", "Classification metrics", body)]


def roc_plot(
    labels: Any, scores: Any, *, threshold: float = 0.5, title: str = "ROC curve"
) -> bytes:
    r"""The ROC curve of P(class 1) ``scores``, the operating point at ``threshold``.

    Example:
        >>> roc_plot([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).startswith(b"\x89PNG")
        True
    """
    fpr, tpr, _ = roc_curve(labels, scores)
    area = roc_auc(labels, scores)
    truth, values = np.asarray(labels).reshape(-1), np.asarray(scores).reshape(-1)
    chosen = values > threshold
    point = (np.mean(chosen[truth == 0]), np.mean(chosen[truth == 1]))

    def draw(figure: Figure, axes: Axes) -> None:
        axes.plot([0, 1], [0, 1], color="#8c959f", linestyle="--", label="chance")
        axes.plot(fpr, tpr, color=DEV_COLOR, linewidth=2, label=f"AUC {area:.3f}")
        axes.plot(
            *point,
            "o",
            color="#24292f",
            label=f"threshold {threshold:.3g}",
        )
        axes.set_xlim(-0.01, 1.01)
        axes.set_ylim(-0.01, 1.01)
        axes.set_xlabel("false-positive rate (1 - specificity)")
        axes.set_ylabel("true-positive rate (recall)")
        axes.set_title(title)
        axes.legend(loc="lower right")

    return _render(draw)
