"""Plots of a hyperparameter study, each returned as the bytes of a 960x600 PNG.

Drawn in the style of :mod:`nntune.report.plots` for the study report
(:mod:`nntune.report.study`). Every setting is drawn on its own scale: a log axis for
``log``, ``int_log`` and ``pow2``; for ``one_minus_log`` a log axis of ``1 - value``
whose ticks name the value itself (0.9, 0.99, 0.999); one column per choice.

Trials are drawn alike everywhere: completed ones filled and coloured, pruned ones
hollow and grey (at their dev error when stopped), failed ones (no dev error) as a
red x along the top, the best as a star.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..tuning.space import Dimension, Space
from ._plot_style import DEV_COLOR, TRAIN_COLOR, _color, _percent_axis, _render, _spread

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..tuning.study import TrialRecord

__all__ = [
    "history_plot",
    "importance_plot",
    "range_text",
    "rounds_plot",
    "scale_caption",
    "setting_plot",
]

_PRUNED = "#8c959f"
_FAILED = "#cf222e"
_BEST = "#cf222e"
_LOG_SCALES = ("log", "int_log", "pow2")


def scale_caption(dimension: Dimension) -> str:
    """Say how a setting's axis is drawn, for the caption of its plot.

    Example:
        >>> scale_caption(Dimension("learning_rate", "log", 1e-4, 1e-1))
        'learning_rate on a log scale, as it was searched.'
    """
    name, scale = dimension.name, dimension.scale
    if scale == "choice":
        return f"One column per choice of {name}; the boxes span the completed trials."
    if scale == "one_minus_log":
        return (
            f"{name} on its search scale, the log scale of 1 − {name} (ticks name "
            f"{name} itself: 0.9, 0.99, 0.999 are evenly spaced)."
        )
    if scale in _LOG_SCALES:
        return f"{name} on a log scale, as it was searched."
    return f"{name} on a linear scale, as it was searched."


def setting_plot(
    dimension: Dimension, records: Sequence[TrialRecord], classification: bool
) -> bytes:
    r"""Draw each trial's dev error against one searched setting, on its scale.

    Args:
        dimension: The searched setting (its scale and the study's range).
        records: The study's trials; those that did not draw the setting (a beta
            of another optimizer) are left out.
        classification: Whether the dev error is a share (a percent axis).

    Returns:
        The PNG file's bytes.

    Raises:
        ValueError: if no trial drew the setting yet.

    Example:
        >>> from nntune.tuning import Dimension, TrialRecord
        >>> beta = Dimension("beta1", "one_minus_log", 0.8, 0.999)
        >>> trials = [TrialRecord(0, "complete", {"beta1": 0.99}, {}, value=0.1),
        ...           TrialRecord(1, "failed", {"beta1": 0.9}, {})]
        >>> setting_plot(beta, trials, classification=True).startswith(b"\x89PNG")
        True
    """
    if not any(dimension.name in record.params for record in records):
        raise ValueError(f"no trial has drawn {dimension.name} yet")

    def draw(figure: Figure, axes: Axes) -> None:
        _draw_setting(figure, axes, dimension, records, classification)

    return _render(draw)


def history_plot(
    records: Sequence[TrialRecord],
    rounds: Sequence[Mapping[str, Any]],
    classification: bool,
) -> bytes:
    """Draw the dev error of each trial by number, and the best so far.

    Rounds of a coarse-to-fine search are marked by dotted lines where they begin.

    Raises:
        ValueError: if the study has no finished trial.
    """
    if not any(record.counted for record in records):
        raise ValueError("no trial has finished yet")

    def draw(figure: Figure, axes: Axes) -> None:
        numbers = [float(record.number) for record in records]
        _trials(figure, axes, numbers, records, colour_by_number=False)
        best, steps = math.inf, []
        for record in sorted(records, key=lambda r: r.number):
            if record.state == "complete" and record.value is not None:
                best = min(best, record.value)
            steps.append((record.number, best))
        line = [(x, y) for x, y in steps if math.isfinite(y)]
        if line:
            xs, ys = [x for x, _ in line], [y for _, y in line]
            axes.step(xs, ys, where="post", color="#24292f", label="best so far")
        for entry in rounds[1:]:
            first = [r.number for r in records if r.round == entry.get("round")]
            if first:
                axes.axvline(min(first) - 0.5, color="#57606a", linestyle=":")
                axes.annotate(
                    f"round {entry.get('round')}",
                    xy=(min(first) - 0.5, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(3, -12),
                    textcoords="offset points",
                    fontsize=8,
                    color="#57606a",
                )
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(min(numbers) - 0.6, max(numbers) + 0.6)
        axes.set_xlabel("trial number")
        _error_axis(axes, records, classification)
        axes.set_title("Optimisation history")
        axes.legend(loc="best")

    return _render(draw)


def importance_plot(importance: Mapping[str, float]) -> bytes:
    """Draw each setting's importance as a horizontal bar, the largest on top.

    Raises:
        ValueError: if ``importance`` is empty.
    """
    if not importance:
        raise ValueError("no importance to draw")
    names = sorted(importance, key=lambda n: importance[n])

    def draw(figure: Figure, axes: Axes) -> None:
        values = [importance[n] for n in names]
        axes.barh(names, values, color=TRAIN_COLOR)
        for y, value in enumerate(values):
            axes.annotate(
                f"{value:.0%}",
                xy=(value, y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        axes.set_xlim(0, max(1e-9, max(values)) * 1.15)
        axes.grid(axis="y", visible=False)
        _percent_axis_x(axes)
        axes.set_xlabel("importance (share of the total)")
        axes.set_title("Importance of each setting")

    return _render(draw)


def rounds_plot(
    space: Space, rounds: Sequence[Mapping[str, Any]], records: Sequence[TrialRecord]
) -> bytes:
    """Draw each coarse-to-fine round's range of each setting on the unit scale.

    One row per setting, one bar per round (0: the low end of the study's range, 1:
    the high end, on the setting's scale), with the round's trials as dots.

    Raises:
        ValueError: if there are no rounds.
    """
    if not rounds:
        raise ValueError("the study has no coarse-to-fine rounds")
    names = list(space.dimensions)
    height = 0.8 / len(rounds)

    def draw(figure: Figure, axes: Axes) -> None:
        from matplotlib.patches import Patch

        handles = []
        for index, entry in enumerate(rounds):
            number = entry.get("round", index)
            color = _color(index)
            mine = [r for r in records if r.round == number]
            offset = (index - (len(rounds) - 1) / 2) * height
            ranges = entry.get("space") or {}
            for row, name in enumerate(names):
                span = _unit_range(space.dimensions[name], ranges.get(name))
                y = row + offset
                if span is not None:
                    low, high = span
                    axes.barh(
                        y,
                        max(high - low, 0.012),
                        left=low - (high == low) * 0.006,
                        height=height * 0.85,
                        color=color,
                        alpha=0.3,
                    )
                units = [
                    _unit(space.dimensions[name], r.params.get(name)) for r in mine
                ]
                found = [u for u in units if u is not None]
                axes.scatter(
                    found,
                    [y] * len(found),
                    s=14,
                    color=color,
                    edgecolors="#24292f",
                    linewidths=0.3,
                    zorder=3,
                )
            handles.append(Patch(color=color, alpha=0.5, label=f"round {number}"))
        axes.set_yticks(range(len(names)), names)
        axes.set_ylim(len(names) - 0.5, -0.5)
        axes.set_xlim(-0.03, 1.03)
        axes.grid(axis="y", visible=False)
        axes.set_xlabel("position on the setting's scale (0 low end, 1 high end)")
        axes.set_title("Coarse-to-fine rounds")
        axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    return _render(draw)


def range_text(spec: Any) -> str:
    """A round's range of one setting (as ``study.rounds`` stores it) as text.

    Example:
        >>> range_text({"log": [0.0204, 0.1]}), range_text({"choice": ["adam", "gd"]})
        ('0.0204–0.1', 'adam, gd')
    """
    if not isinstance(spec, Mapping) or len(spec) != 1:
        return "—"
    ((scale, argument),) = spec.items()
    if scale == "choice" and isinstance(argument, Sequence):
        return ", ".join(str(choice) for choice in argument)
    if isinstance(argument, Sequence) and len(argument) == 2:
        return f"{argument[0]:.3g}–{argument[1]:.3g}"
    return "—"


def _draw_setting(
    figure: Figure,
    axes: Axes,
    dimension: Dimension,
    records: Sequence[TrialRecord],
    classification: bool,
) -> None:
    drew = [r for r in records if dimension.name in r.params]
    positions = [_position(dimension, r.params[dimension.name]) for r in drew]
    kept = [(x, r) for x, r in zip(positions, drew, strict=True) if x is not None]
    if dimension.scale == "choice":
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(kept))
        boxes = [
            [
                r.value
                for x, r in kept
                if x == i and r.state == "complete" and r.value is not None
            ]
            for i in range(len(dimension.choices))
        ]
        filled = [(i, box) for i, box in enumerate(boxes) if box]
        if filled:
            axes.boxplot(
                [box for _, box in filled],
                positions=[i for i, _ in filled],
                widths=0.5,
                showfliers=False,
                manage_ticks=False,
                medianprops={"color": DEV_COLOR},
            )
        kept = [(x + j, r) for (x, r), j in zip(kept, jitter, strict=True)]
    _trials(figure, axes, [x for x, _ in kept], [r for _, r in kept])
    _scale_axis(axes, dimension)
    _error_axis(axes, drew, classification)
    axes.set_title(f"Dev error by {dimension.name}")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best")


def _trials(
    figure: Figure,
    axes: Axes,
    xs: Sequence[float],
    records: Sequence[TrialRecord],
    *,
    colour_by_number: bool = True,
) -> None:
    """Completed (filled), pruned (hollow grey), failed (x along the top), best."""
    points = list(zip(xs, records, strict=True))
    done = [
        (x, r.value, r)
        for x, r in points
        if r.state == "complete" and r.value is not None
    ]
    pruned = [
        (x, r.value) for x, r in points if r.state == "pruned" and r.value is not None
    ]
    failed = [x for x, r in points if r.state == "failed"]
    if done:
        x, y = [p[0] for p in done], [p[1] for p in done]
        if colour_by_number:
            numbers = [p[2].number for p in done]
            top = max(1, *(r.number for r in records))
            drawn = axes.scatter(
                x,
                y,
                c=numbers,
                cmap="viridis",
                vmin=0,
                vmax=top,
                s=28,
                edgecolors="#24292f",
                linewidths=0.3,
                label="completed",
                zorder=3,
            )
            figure.colorbar(drawn, ax=axes, pad=0.01, fraction=0.05).set_label(
                "trial number"
            )
        else:
            axes.scatter(x, y, s=28, color=TRAIN_COLOR, label="completed", zorder=3)
        best_x, best_y, best = min(done, key=lambda p: (p[1], p[2].number))
        axes.scatter(
            [best_x],
            [best_y],
            marker="*",
            s=240,
            color=_BEST,
            edgecolors="white",
            linewidths=0.6,
            zorder=4,
            label=f"best: trial {best.number}",
        )
    if pruned:
        axes.scatter(
            [p[0] for p in pruned],
            [p[1] for p in pruned],
            s=28,
            facecolors="none",
            edgecolors=_PRUNED,
            label="pruned",
            zorder=2,
        )
    if failed:
        from matplotlib.patches import Rectangle

        band = Rectangle((0, 0.91), 1, 0.09, transform=axes.transAxes, zorder=0)
        axes.add_patch(band).set(color="#ffebe9", linewidth=0)
        axes.scatter(
            failed,
            [0.955] * len(failed),
            marker="x",
            color=_FAILED,
            transform=axes.get_xaxis_transform(),
            label="failed",
            zorder=4,
        )


def _position(dimension: Dimension, value: Any) -> float | None:
    """Where a value goes on its setting's axis (1 - value for one_minus_log)."""
    if dimension.scale == "choice":
        for index, choice in enumerate(dimension.choices):
            if choice == value or str(choice) == str(value):
                return float(index)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return 1 - float(value) if dimension.scale == "one_minus_log" else float(value)


def _scale_axis(axes: Axes, dimension: Dimension) -> None:
    """Put the x-axis on the setting's scale, over the study's range."""
    from matplotlib.ticker import (
        FuncFormatter,
        LogLocator,
        MaxNLocator,
        NullFormatter,
    )

    name, scale = dimension.name, dimension.scale
    axes.set_xlabel(name)
    if scale == "choice":
        count = len(dimension.choices)
        axes.set_xticks(range(count), [str(c) for c in dimension.choices])
        axes.set_xlim(-0.6, count - 0.4)
        axes.grid(axis="x", visible=False)
        return
    low, high = float(dimension.low), float(dimension.high)
    if scale == "one_minus_log":
        low, high = 1 - low, 1 - high  # low > high: beta grows to the right
    logarithmic = scale in (*_LOG_SCALES, "one_minus_log")
    if logarithmic:
        base = 2 if scale in ("int_log", "pow2") else 10
        axes.set_xscale("log", base=base)
        a, b = math.log(low), math.log(high)
        pad = 0.04 * (b - a)
        axes.set_xlim(math.exp(a - pad), math.exp(b + pad))
    else:
        pad = 0.04 * (high - low)
        axes.set_xlim(low - pad, high + pad)
    if scale in ("int", "int_log", "pow2"):
        if scale == "int":
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
            axes.xaxis.set_minor_formatter(NullFormatter())
    if scale == "one_minus_log":
        label = FuncFormatter(lambda x, _: f"{1 - x:.6g}")
        axes.xaxis.set_major_formatter(label)
        if math.log10(low / high) < 1.5:  # few decades: label 2 and 5 of each too
            axes.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
            axes.xaxis.set_minor_formatter(label)
        else:
            axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xlabel(f"{name} (log scale of 1 − {name})")
    elif logarithmic:
        axes.set_xlabel(f"{name} (log scale)")


def _error_axis(
    axes: Axes, records: Sequence[TrialRecord], classification: bool
) -> None:
    """Label the dev error axis; leave a band on top for the failed trials' marks."""
    axes.set_ylabel("dev error")
    values = [r.value for r in records if r.value is not None]
    if classification:
        _percent_axis(axes)
    elif values and _spread(np.asarray(values, dtype=np.float64)) > 100:
        axes.set_yscale("log")
    if values and any(r.state == "failed" for r in records):
        low, high = axes.get_ylim()
        if axes.get_yscale() == "log":
            axes.set_ylim(low, high * (high / low) ** 0.12)
        else:
            axes.set_ylim(low, high + 0.12 * (high - low))


def _percent_axis_x(axes: Axes) -> None:
    from matplotlib.ticker import PercentFormatter

    axes.xaxis.set_major_formatter(PercentFormatter(1.0))


def _unit(dimension: Dimension, value: Any) -> float | None:
    if value is None:
        return None
    try:
        return min(1.0, max(0.0, dimension.to_unit(value)))
    except (ValueError, TypeError, ZeroDivisionError):
        return None


def _unit_range(dimension: Dimension, spec: Any) -> tuple[float, float] | None:
    """A round's range of a setting as (low, high) on the study's unit scale."""
    if not isinstance(spec, Mapping) or len(spec) != 1:
        return None
    ((scale, argument),) = spec.items()
    if not isinstance(argument, Sequence) or isinstance(argument, str):
        return None
    values = argument if scale == "choice" else argument[:2]
    units = [u for u in (_unit(dimension, v) for v in values) if u is not None]
    return (min(units), max(units)) if units else None
