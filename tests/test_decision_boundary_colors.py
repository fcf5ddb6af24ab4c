"""The decision boundary draws each class in its colour, regions and points alike.

The plot is drawn into an array with matplotlib's Agg canvas instead of a PNG, so a
point given in data coordinates has a known pixel. The models are half-planes, so
the class predicted at every point is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import require
from nntune import load_dataset
from nntune.report import plots

require("matplotlib")

WHITE = np.array([255.0, 255.0, 255.0])


class HalfPlanes:
    """Class 1 right of x = 0 (binary); class 2 above y = 1 as well (three classes)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def predict_proba(self, X):
        right = 1 / (1 + np.exp(-8 * X[:, 0]))
        if self.k == 2:
            return np.column_stack([1 - right, right])
        top = (X[:, 1] > 1).astype(float)
        return np.column_stack([(1 - right) * (1 - top), right * (1 - top), top])


def rendered(monkeypatch, *args, **kwargs):
    """The plot as RGB pixels, and a function from data to pixel coordinates."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def render(draw):
        figure = Figure(figsize=plots.SIZE, dpi=plots.DPI, layout="constrained")
        canvas = FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        draw(figure, axes)
        axes.get_legend().remove()  # "best" place: it may cover a point looked at
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())[..., :3].astype(float)

        def at(x, y):
            column, row = axes.transData.transform((x, y))
            return pixels[pixels.shape[0] - 1 - round(row), round(column)]

        return at

    monkeypatch.setattr(plots, "_render", render)
    return plots.decision_boundary(*args, **kwargs)


def rgb(color):
    from matplotlib.colors import to_rgb

    return 255 * np.array(to_rgb(color))


def nearest(pixel, colors, alpha):
    """Index of the colour whose tint (``alpha`` over white) is nearest ``pixel``."""
    tints = [alpha * rgb(color) + (1 - alpha) * WHITE for color in colors]
    return int(np.argmin([np.linalg.norm(pixel - tint) for tint in tints]))


# The points: class 0 left of x = 0, class 1 right of it (and class 2 above y = 1).
X = np.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, 2.0], [1.0, 2.0], [0.0, 3.0]])


def test_flower_regions_and_points_have_the_colours_its_classes_name(monkeypatch):
    names = load_dataset("flower", n_samples=20).class_names
    assert names == ("red", "blue")  # the course's: class 0 red, class 1 blue
    y = np.array([0, 1, 0, 1, 1])
    at = rendered(monkeypatch, HalfPlanes(2), X, y, class_names=names)
    red, blue = rgb("tab:red"), rgb("tab:blue")
    # A point of each class, at its centre: the class's own colour.
    assert np.abs(at(-1.0, -1.0) - red).max() < 12
    assert np.abs(at(1.0, -1.0) - blue).max() < 12
    # The regions, where the model is sure and no point is drawn: tints of them.
    assert nearest(at(-1.0, 0.5), ["tab:red", "tab:blue"], 0.45) == 0
    assert nearest(at(1.0, 0.5), ["tab:red", "tab:blue"], 0.45) == 1


def test_classes_not_named_after_colours_take_the_palette_in_order(monkeypatch):
    y = np.array([0, 1, 0, 1, 1])
    at = rendered(monkeypatch, HalfPlanes(2), X, y, class_names=["no", "yes"])
    assert np.abs(at(-1.0, -1.0) - rgb(plots.PALETTE[0])).max() < 12
    assert nearest(at(1.0, 0.5), plots.PALETTE[:2], 0.45) == 1


@pytest.mark.parametrize(
    ("names", "colors"),
    [
        (["green", "red", "blue"], ["tab:green", "tab:red", "tab:blue"]),
        (["a", "b", "c"], list(plots.PALETTE[:3])),
    ],
)
def test_multiclass_regions_and_points(monkeypatch, names, colors):
    y = np.array([0, 1, 2, 2, 2])
    at = rendered(monkeypatch, HalfPlanes(3), X, y, class_names=names)
    for (x, y_), label in zip(X, y, strict=True):
        assert np.abs(at(x, y_) - rgb(colors[label])).max() < 12, (names, label)
    for point, label in (((-1.0, 0.0), 0), ((1.0, 0.0), 1), ((-0.5, 2.5), 2)):
        assert nearest(at(*point), colors, 0.25) == label, (names, point)
