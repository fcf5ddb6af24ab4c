"""The style every plot shares, and the helpers that draw a figure to PNG bytes.

A figure is drawn with matplotlib's Agg renderer and no pyplot state, so it is safe in
scripts, servers and tests; matplotlib is imported only when a figure is rendered.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE = (6.4, 4.0)
"""Figure size in inches; at ``DPI`` 150 that is 960x600 pixels."""
DPI = 150
"""Dots per inch: sharp at the full width of a report, where a plot fills the page's
column (up to about 930 pixels) and shrinks with a narrower window."""
TRAIN_COLOR = "#1f77b4"
DEV_COLOR = "#ff7f0e"
BATCH_COLOR = "#6e7781"
CHANGE_COLOR = "#8250df"
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
)
"""Colours of classes and of runs, in order (cycled past ten)."""
_STYLE: dict[Any, Any] = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "savefig.facecolor": "white",
}


class HistoryLike(Protocol):
    """What the plots read from a :class:`~nntune.History`."""

    @property
    def iterations(self) -> Sequence[float]:
        """The cost of each mini-batch, in order."""

    @property
    def epochs(self) -> Sequence[Mapping[str, Any]]:
        """One row of metrics per epoch (``epoch``, ``train_cost``, ...)."""


def _render(draw: Callable[[Figure, Axes], None]) -> bytes:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError(
            'plots and reports need matplotlib: pip install "nntune[plots]".'
        ) from None
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
        draw(figure, figure.add_subplot())
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _finish(
    axes: Axes, title: str, ylabel: str, best_epoch: int | None, legend: bool = True
) -> None:
    if best_epoch is not None:
        axes.axvline(
            best_epoch, color="#57606a", linestyle=":", label=f"best epoch {best_epoch}"
        )
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best")


def _percent_axis(axes: Axes) -> None:
    from matplotlib.ticker import PercentFormatter

    axes.yaxis.set_major_formatter(PercentFormatter(1.0))


def _epochs(history: HistoryLike) -> np.ndarray:
    if not history.epochs:
        raise ValueError("the history has no epochs to plot; train for at least one.")
    numbers = [row.get("epoch") for row in history.epochs]
    if all(isinstance(number, int | float) for number in numbers):
        return np.asarray(numbers, dtype=np.float64)
    return np.arange(1, len(numbers) + 1, dtype=np.float64)


def _column(history: HistoryLike, name: str) -> np.ndarray:
    values = []
    for row in history.epochs:
        value = row.get(name)
        values.append(value if isinstance(value, int | float) else np.nan)
    return np.asarray(values, dtype=np.float64)


def _has(history: HistoryLike, *names: str) -> bool:
    return any(np.isfinite(_column(history, name)).any() for name in names)


def _spread(*curves: np.ndarray) -> float:
    """Return max / min of the finite values (1 when there are none or any is <= 0)."""
    values = np.concatenate(curves)
    values = values[np.isfinite(values)]
    if not values.size or values.min() <= 0:
        return 1.0
    return float(values.max() / values.min())


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


_NAMED_COLORS = {
    name: PALETTE[index]
    for index, names in enumerate(
        (
            ("blue",),
            ("red",),
            ("green",),
            ("purple",),
            ("orange",),
            ("cyan",),
            ("brown",),
            ("pink",),
            ("olive",),
            ("gray", "grey"),
        )
    )
    for name in names
}
"""The palette's colours by name (it is matplotlib's tab10, reordered)."""


def _class_colors(names: Sequence[str], k: int) -> list[str]:
    """One colour per class: the palette in order, or the colours the classes name.

    Classes named after colours, as the course's flower ("red", "blue"), are drawn
    in them: a class called red drawn blue reads as the other class.

    Example:
        >>> _class_colors(["red", "blue"], 2) == [PALETTE[1], PALETTE[0]]
        True
        >>> _class_colors(["no", "yes"], 2) == [PALETTE[0], PALETTE[1]]
        True
    """
    named = [_NAMED_COLORS.get(str(name).strip().lower()) for name in names[:k]]
    if len(named) == k and None not in named and len(set(named)) == k:
        return [str(color) for color in named]
    return [_color(index) for index in range(k)]
