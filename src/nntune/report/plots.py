r"""Plots of training runs, each returned as the bytes of a 960x600 PNG.

Every function draws one figure in the same style (training set blue, dev set orange,
mini-batches grey, one colour per class or per run) with matplotlib's Agg renderer
and no pyplot state, so it is safe in scripts, servers and tests. The bytes can be
written to a file or embedded in HTML (:mod:`nntune.report.html`).

matplotlib is the ``plots`` extra: it is imported when a plot is drawn, and a
missing install raises ``ValueError`` naming the extra.

Example:
    >>> from nntune import History
    >>> history = History(iterations=[0.9, 0.7, 0.6, 0.5])
    >>> history.append({"epoch": 1, "train_cost": 0.65, "dev_cost": 0.7})
    >>> history.append({"epoch": 2, "train_cost": 0.5, "dev_cost": 0.55})
    >>> cost_curves(history).startswith(b"\x89PNG")
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.classification import confusion_matrix as count_confusions
from ..optim.ewa import smooth
from ._plot_style import (
    BATCH_COLOR,
    CHANGE_COLOR,
    DEV_COLOR,
    DPI,
    PALETTE,
    SIZE,
    TRAIN_COLOR,
    HistoryLike,
    _class_colors,
    _column,
    _epochs,
    _finish,
    _has,
    _percent_axis,
    _render,
    _spread,
)
from .plots_compare import compare_accuracy_curves, compare_cost_curves

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BATCH_COLOR",
    "DEV_COLOR",
    "DPI",
    "PALETTE",
    "SIZE",
    "TRAIN_COLOR",
    "HistoryLike",
    "accuracy_curves",
    "compare_accuracy_curves",
    "compare_cost_curves",
    "confusion_counts",
    "confusion_matrix",
    "cost_curves",
    "decision_boundary",
    "learning_rate_curve",
]


def cost_curves(
    history: HistoryLike, *, beta: float = 0.9, best_epoch: int | None = None
) -> bytes:
    """Draw the training and dev cost per epoch, over the mini-batch cost.

    Each mini-batch cost ``theta_t`` is drawn faintly at its fractional epoch ``t / n``
    (``n`` mini-batches per epoch), with its bias-corrected EWA on top::

        v_t = beta * v_{t-1} + (1 - beta) * theta_t,    v_hat_t = v_t / (1 - beta^t)

    Args:
        history: The run's history; ``iterations`` may be empty.
        beta: The EWA weight, in ``[0, 1)``; it averages about ``1/(1-beta)`` batches.
        best_epoch: Marked with a dotted line when given.

    Returns:
        The PNG file's bytes.

    Raises:
        ValueError: if the history has no epochs, ``beta`` is outside ``[0, 1)``
            or matplotlib is missing.
    """
    epochs = _epochs(history)
    batches = np.asarray(history.iterations, dtype=np.float64)
    smoothed = smooth(batches, beta) if batches.size else batches

    def draw(figure: Figure, axes: Axes) -> None:
        if batches.size:
            steps = np.arange(1, batches.size + 1) * epochs[-1] / batches.size
            axes.plot(
                steps,
                batches,
                color=BATCH_COLOR,
                alpha=0.3,
                linewidth=0.7,
                label="mini-batch cost",
            )
            axes.plot(
                steps,
                smoothed,
                color=BATCH_COLOR,
                linewidth=1.2,
                label=f"mini-batch cost (EWA, β={beta:g})",
            )
        _epoch_lines(axes, history, epochs, "cost")
        _change_lines(axes, history)
        _finish(axes, "Cost", "cost", best_epoch)
        if _spread(_column(history, "train_cost"), _column(history, "dev_cost")) > 100:
            axes.set_yscale("log")

    return _render(draw)


def accuracy_curves(history: HistoryLike, *, best_epoch: int | None = None) -> bytes:
    """Draw the training and dev accuracy per epoch.

    Raises:
        ValueError: if the history has no accuracy (a regression) or no epochs.
    """
    epochs = _epochs(history)
    if not _has(history, "train_accuracy", "dev_accuracy"):
        raise ValueError("the history has no accuracy (a regression run has none).")

    def draw(figure: Figure, axes: Axes) -> None:
        _epoch_lines(axes, history, epochs, "accuracy")
        _change_lines(axes, history)
        _finish(axes, "Accuracy", "accuracy", best_epoch)
        _percent_axis(axes)

    return _render(draw)


def learning_rate_curve(history: HistoryLike) -> bytes:
    """Draw the learning rate of each epoch, on a log axis when it varies > 10x.

    Raises:
        ValueError: if no epoch recorded a learning rate.
    """
    epochs = _epochs(history)
    rates = _column(history, "learning_rate")
    if not np.isfinite(rates).any():
        raise ValueError("the history has no learning rate.")

    def draw(figure: Figure, axes: Axes) -> None:
        marker = "o" if epochs.size <= 30 else None
        axes.plot(epochs, rates, color=TRAIN_COLOR, marker=marker, markersize=4)
        _change_lines(axes, history)
        finite = rates[np.isfinite(rates)]
        if _spread(rates) > 10:
            axes.set_yscale("log")
        elif finite.min() == finite.max():  # show a constant rate as one, from 0
            axes.set_ylim(0, 1.5 * finite.max() if finite.max() > 0 else 1)
            axes.set_title(f"constant: {finite.max():g}", loc="right", fontsize=9)
        _finish(axes, "Learning rate", "learning rate", None, legend=False)

    return _render(draw)


def decision_boundary(
    model: Any,
    X: Any,
    y: Any,
    *,
    class_names: Sequence[str] | None = None,
    resolution: int = 200,
    margin: float = 0.1,
    max_points: int = 2000,
    threshold: float | None = None,
) -> bytes:
    """Draw a classifier's regions over 2-D inputs, with the points by class.

    ``model.predict_proba`` is evaluated on a ``resolution x resolution`` grid spanning
    the points plus ``margin`` times their range on each side. Binary: the probability
    of class 1 shaded, the boundary ``p = threshold`` drawn; multiclass: each grid
    point coloured by its most probable class.

    Args:
        model: A fitted classifier with ``predict_proba`` (a Sequential or estimator).
        X: Inputs, shape ``(n_examples, 2)``, in the units the model was trained on.
        y: Class labels (``0..k-1``), shape ``(n_examples,)``.
        class_names: Legend names of the classes (default ``"0"``, ``"1"``, ...).
        resolution: Grid points along each axis.
        margin: Share of the data's range added on each side.
        max_points: At most this many points are drawn (a seeded sample).
        threshold: The binary boundary's ``P(class 1)``, where the predictions
            change: by default the model's own (a Sequential's ``threshold``, an
            estimator's ``threshold_``), else 0.5.

    Raises:
        ValueError: if ``X`` is not 2-D with two features or ``y`` does not match.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = _labels(y)
    if X.ndim != 2 or X.shape[1] != 2 or len(labels) != len(X):
        raise ValueError(
            f"a decision boundary needs X of shape (n_examples, 2) and n labels; got "
            f"X of shape {X.shape} and {len(labels)} labels."
        )
    low, high = X.min(axis=0), X.max(axis=0)
    if len(X) > max_points:  # the grid spans them all; the scatter stays readable
        shown = np.random.default_rng(0).choice(len(X), max_points, replace=False)
        X, labels = X[shown], labels[shown]
    pad = margin * np.where(high > low, high - low, 1.0)
    grid = [np.linspace(low[i] - pad[i], high[i] + pad[i], resolution) for i in (0, 1)]
    xx, yy = np.meshgrid(*grid)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    proba = np.asarray(model.predict_proba(points), dtype=np.float64)
    k = max(proba.shape[1], int(labels.max()) + 1)
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    colors = _class_colors(names, k)

    def draw(figure: Figure, axes: Axes) -> None:
        from matplotlib.colors import LinearSegmentedColormap, ListedColormap

        if proba.shape[1] == 2:
            shades = LinearSegmentedColormap.from_list(
                "classes", [colors[0], "#ffffff", colors[1]]
            )
            p1 = proba[:, 1].reshape(xx.shape)
            filled = axes.contourf(
                xx, yy, p1, levels=np.linspace(0, 1, 11), cmap=shades, alpha=0.45
            )
            level = _decision_threshold(model) if threshold is None else threshold
            axes.contour(xx, yy, p1, levels=[level], colors="#24292f", linewidths=1.5)
            bar = figure.colorbar(filled, ax=axes, fraction=0.05, pad=0.02)
            bar.set_label(f"P({names[1] if len(names) > 1 else 1})")
        else:
            regions = proba.argmax(axis=1).reshape(xx.shape)
            levels = np.arange(k + 1) - 0.5
            cmap = ListedColormap(colors[:k])
            axes.contourf(xx, yy, regions, levels=levels, cmap=cmap, alpha=0.25)
            axes.contour(
                xx, yy, regions, levels=levels, colors="#24292f", linewidths=0.6
            )
        for label in np.unique(labels):
            chosen = labels == label
            name = names[label] if label < len(names) else str(label)
            axes.scatter(
                X[chosen, 0],
                X[chosen, 1],
                s=16,
                color=colors[label],
                edgecolors="white",
                linewidths=0.4,
                label=name,
            )
        axes.set_xlim(grid[0][0], grid[0][-1])
        axes.set_ylim(grid[1][0], grid[1][-1])
        axes.grid(False)
        axes.set_xlabel("feature 1")
        axes.set_ylabel("feature 2")
        axes.set_title("Decision boundary (training set)")
        axes.legend(title="class", loc="best", markerscale=1.4)

    return _render(draw)


def _decision_threshold(model: Any) -> float:
    """A binary classifier's threshold on P(class 1): its own, else 0.5."""
    for name in ("threshold_", "threshold"):
        value = getattr(model, name, None)
        if isinstance(value, float):
            return value
    return 0.5


def confusion_counts(labels: Any, predictions: Any, n_classes: int) -> np.ndarray:
    """Count examples by (true class, predicted class); one-hot rows are classes.

    :func:`nntune.metrics.classification.confusion_matrix` of the classes.

    Example:
        >>> confusion_counts([0, 1, 1, 2], [0, 1, 2, 2], 3).tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    return count_confusions(_labels(labels), _labels(predictions), n_classes)


def confusion_matrix(
    labels: Any,
    predictions: Any,
    class_names: Sequence[str],
    *,
    title: str = "Confusion matrix",
) -> bytes:
    """Draw the counts of :func:`confusion_counts`, true classes down, predicted across.

    Args:
        labels: True classes ``0..k-1`` of some set (the dev set, usually).
        predictions: Predicted classes, aligned with ``labels``.
        class_names: One name per class; ``k = len(class_names)``.
        title: Figure title (name the set, e.g. ``"Confusion matrix (dev set)"``).
    """
    counts = confusion_counts(labels, predictions, len(class_names))
    k = len(class_names)

    def draw(figure: Figure, axes: Axes) -> None:
        image = axes.imshow(counts, cmap="Blues", vmin=0)
        if k > 20:  # too many cells to write the counts in: give the scale instead
            figure.colorbar(image, ax=axes, fraction=0.05).set_label("examples")
        axes.grid(False)
        ticks = np.arange(k)
        axes.set_xticks(ticks, [str(name) for name in class_names])
        axes.set_yticks(ticks, [str(name) for name in class_names])
        if k > 6 and max(len(str(name)) for name in class_names) > 2:
            axes.tick_params(axis="x", labelrotation=45)
        if k <= 20:
            top = counts.max() or 1
            size = 10 if k <= 10 else 7
            for (row, column), count in np.ndenumerate(counts):
                dark = count > top / 2
                axes.text(
                    column,
                    row,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if dark else "#24292f",
                )
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        axes.set_title(title)

    return _render(draw)


def _epoch_lines(
    axes: Axes, history: HistoryLike, epochs: np.ndarray, metric: str
) -> None:
    marker = "o" if epochs.size <= 30 else None
    for name, color, label in (
        ("train", TRAIN_COLOR, "training set"),
        ("dev", DEV_COLOR, "dev set"),
    ):
        values = _column(history, f"{name}_{metric}")
        if np.isfinite(values).any():
            axes.plot(
                epochs, values, color=color, linewidth=2, marker=marker, label=label
            )


def _change_lines(axes: Axes, history: HistoryLike) -> None:
    """Mark each change of a setting during training (``history.changes``).

    A change takes effect in its epoch, so the line sits just before it.
    """
    changes = getattr(history, "changes", None) or []
    labelled = False
    for change in changes:
        epoch = change.get("epoch") if isinstance(change, Mapping) else None
        if not isinstance(epoch, int | float):
            continue
        text = f"{change.get('setting')}: {_short(change.get('old'))} → "
        text += _short(change.get("new"))
        axes.axvline(
            epoch - 0.5,
            color=CHANGE_COLOR,
            linestyle="--",
            linewidth=1.2,
            label=None if labelled else "setting changed",
        )
        labelled = True
        axes.annotate(
            text,
            xy=(epoch - 0.5, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
            color=CHANGE_COLOR,
        )


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _labels(y: Any) -> np.ndarray:
    values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] > 1:
        values = values.argmax(axis=1)
    return values.reshape(-1).astype(np.int64)
