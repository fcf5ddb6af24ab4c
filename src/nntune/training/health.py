"""Gradient health: per-layer activation and gradient statistics, with a verdict.

One training-mode forward and backward pass on a batch gives, for every Dense layer,
the statistics of its activation (the output of the activation that follows it), the
fraction of dead ReLUs, ``||dW||_F``, ``||W||_F``, their ratio and ``||dJ/dx||`` at its
input. From those, :func:`gradient_health` names the course's initialization failures
and relates them to each layer's ``init``. The verdicts, in order of precedence:

- ``"exploding"``: activation std > ``exploding_std`` (1e3), a weight gradient more
  than ``exploding_ratio`` (1e3) times the last layer's, or any NaN/inf;
- ``"symmetric"``: the units of a layer have identical weights and bias (``zeros``):
  they compute the same thing and get the same gradient, so symmetry is never broken;
- ``"saturated"``: more than ``saturated_fraction`` (0.5) of tanh/sigmoid outputs are
  within 0.01 of their limits, where the local derivative is about zero;
- ``"vanishing"``: a hidden tanh/sigmoid/ReLU activation collapses (std <
  ``collapse_std``, 1e-3) or a weight gradient is below ``vanishing_ratio`` (1e-3)
  times the last layer's;
- ``"dead ReLUs"``: more than ``dead_fraction`` (0.5) of a layer's ReLUs output 0 for
  every example of the batch;
- ``"healthy"``: none of those. The model's verdict is the first found in any layer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..activations import LeakyReLU, ReLU, Sigmoid, Tanh
from ..backend import Params, State
from ..initializers import Initializer
from ..model import Sequential
from .health_stats import SQUASHING, LayerHealth, layer_statistics, ratio

VERDICTS = ("exploding", "symmetric", "saturated", "vanishing", "dead ReLUs")
"""Problems in order of precedence; a layer or model with none is ``"healthy"``."""
"""Columns of ``[W; b]`` within this times ``max|W|`` of each other are one unit."""
_COLLAPSIBLE = {Tanh.kind, Sigmoid.kind, ReLU.kind, LeakyReLU.kind}
_TOO_LARGE = {
    "exploding": "blow up ReLU activations and gradients",
    "saturated": "saturate tanh/sigmoid",
    "dead ReLUs": "push many ReLUs below 0 for every example",
}
_ELSEWHERE = {
    "exploding": "lower the learning rate, clip gradients (clip_norm) or batch norm",
    "saturated": "standardize the inputs or add batch_norm=True",
    "vanishing": "use ReLU with he, batch_norm=True or fewer layers",
    "dead ReLUs": "lower the learning rate, use leaky_relu or batch_norm=True",
}


@dataclass(frozen=True)
class Thresholds:
    """Where :func:`gradient_health` draws its lines (see the module docstring)."""

    vanishing_ratio: float = 1e-3
    exploding_ratio: float = 1e3
    collapse_std: float = 1e-3
    exploding_std: float = 1e3
    dead_fraction: float = 0.5
    saturated_fraction: float = 0.5
    output_std: float = 10.0
    """Classifier logits spread wider than this put the sigmoid/softmax at 0 or 1;
    with a cost above twice chance level (``2 ln K``) that is saturation, not
    confidence."""

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not (isinstance(value, int | float) and 0 <= value < math.inf):
                raise ValueError(
                    f"threshold {name} must be a number >= 0; got {value!r}."
                )

    @classmethod
    def of(cls, options: dict[str, Any]) -> Thresholds:
        """Build from keyword arguments; a ``TypeError`` names any unknown one."""
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(
                f"unknown gradient-health threshold(s) {unknown}; expected some of "
                f"{known}."
            )
        return cls(**options)


__all__ = [
    "VERDICTS",
    "GradientHealthReport",
    "LayerHealth",
    "Thresholds",
    "gradient_health",
    "layer_statistics",
]


def _worse_than_chance(
    model: Sequential, X: Any, y: Any, params: Params | None, state: State | None
) -> bool:
    """Whether a classifier's cost is above twice the chance level ``ln K``."""
    if model.loss.task == "regression":
        return False
    x, targets = model.prepare(X, y)
    with np.errstate(over="ignore", invalid="ignore"):
        logits = model.apply(
            model.params if params is None else params,
            model.state if state is None else state,
            x,
            training=False,
        )[0]
        cost = float(model.loss.value_and_grad(logits, targets)[0])
    classes = max(2, int(model.n_outputs or 2))
    return not math.isfinite(cost) or cost > 2 * math.log(classes)


def _judge(
    layer: LayerHealth,
    last_gradient: float,
    last: bool,
    t: Thresholds,
    confused: bool,
) -> str:
    """Return ``"verdict: what was seen"`` for one layer (first match wins)."""
    gap = ratio(layer.gradient_norm, last_gradient)
    norms = (layer.weight_norm, layer.gradient_norm, layer.input_gradient_norm)
    std = layer.activation_std
    if not all(math.isfinite(v) for v in (*norms, std, layer.activation_mean)):
        return "exploding: NaN or inf in its activations, weights or gradients"
    if layer.symmetric:
        return (
            f"symmetric: its {layer.units} units have identical weights and bias, "
            "so they compute the same output and get the same gradient"
        )
    if std > t.exploding_std:
        return f"exploding: activation std {std:.3g}"
    if not last and gap > t.exploding_ratio:
        return f"exploding: weight gradient {gap:.3g} x the last layer's"
    if last and confused and std > t.output_std:
        return (
            f"saturated: its logits have std {std:.3g}, so the sigmoid/softmax outputs "
            "sit at 0 or 1: confident, often wrong, with a huge starting cost"
        )
    if (layer.saturated_fraction or 0) > t.saturated_fraction:
        return (
            f"saturated: {layer.saturated_fraction:.0%} of {layer.activation} outputs "
            "are at their limits, where the derivative is about 0"
        )
    if not last and std < t.collapse_std and layer.activation in _COLLAPSIBLE:
        return f"vanishing: activation std {std:.3g} (collapsed)"
    if not last and gap < t.vanishing_ratio:
        return f"vanishing: weight gradient {gap:.3g} x the last layer's"
    if (layer.dead_fraction or 0) > t.dead_fraction:
        return f"dead ReLUs: {layer.dead_fraction:.0%} of its units never fire"
    return "healthy"


def _suggest(layer: LayerHealth, verdict: str) -> str:
    # No per-layer numbers in the text, so that layers with one cause share one line.
    init = Initializer.parse(layer.init)
    best = "xavier" if layer.activation in SQUASHING else "he"
    fix = best if layer.activation else "he for ReLU, xavier for tanh"
    n_in = layer.in_features
    scale = init.standard_deviation(n_in, 1) / Initializer(best).standard_deviation(
        n_in, 1
    )
    if init.name in ("random", "zeros"):
        drawn = f"weights drawn with std {init.multiplier:g} ({init})"
    else:
        drawn = f"{init} weights ({init.multiplier:g} x the {init.name} std)"
    if verdict == "symmetric" and init.name == "zeros":
        return (
            "zeros: every unit of a layer computes the same thing and gets the same "
            f"gradient, so symmetry is never broken: use {fix} or random:0.01"
        )
    if verdict == "symmetric":
        return f"{init}: the units are identical: re-initialize with {fix}"
    if scale > 2 and verdict in _TOO_LARGE:
        return f"{drawn} {_TOO_LARGE[verdict]}: use he for ReLU, xavier for tanh"
    if scale < 0.5 and verdict == "vanishing":
        return (
            f"{drawn} shrink the signal at every layer (std x sqrt(n_in) << 1): "
            f"use {fix} (std sqrt({2 if best == 'he' else 1}/n_in))"
        )
    return f"{init} is scaled to the fan-in; look elsewhere: {_ELSEWHERE[verdict]}"


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": JSON has no number for them
    return value


@dataclass(frozen=True)
class GradientHealthReport:
    """Result of :func:`gradient_health`: per-layer statistics, verdicts and fixes.

    ``gradient_ratio`` is ``||dW_first|| / ||dW_last||`` over the Dense layers.
    """

    layers: tuple[LayerHealth, ...]
    verdict: str
    problems: tuple[str, ...]
    suggestions: tuple[str, ...]
    gradient_ratio: float
    thresholds: Thresholds

    @property
    def healthy(self) -> bool:
        """Whether no layer has a problem."""
        return self.verdict == "healthy"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary (NaN and inf become the strings "nan", "inf")."""
        return {
            "verdict": self.verdict,
            "healthy": self.healthy,
            "gradient_ratio": _plain(self.gradient_ratio),
            "problems": list(self.problems),
            "suggestions": list(self.suggestions),
            "thresholds": dataclasses.asdict(self.thresholds),
            "layers": [
                {key: _plain(value) for key, value in dataclasses.asdict(h).items()}
                for h in self.layers
            ],
        }

    def __str__(self) -> str:
        header = (
            f"{'layer':<10} {'init':<11} {'act':<8} {'mean':>9} {'std':>9} "
            f"{'dead':>5} {'|dW|':>9} {'|W|':>9} {'|dW|/|W|':>9} {'|dx|':>9}  verdict"
        )
        lines = [header, "-" * len(header)]
        for h in self.layers:
            dead = "" if h.dead_fraction is None else f"{h.dead_fraction:.0%}"
            lines.append(
                f"{h.name:<10} {h.init:<11} {h.activation or '-':<8} "
                f"{h.activation_mean:>9.3g} {h.activation_std:>9.3g} {dead:>5} "
                f"{h.gradient_norm:>9.3g} {h.weight_norm:>9.3g} "
                f"{h.gradient_to_weight:>9.3g} {h.input_gradient_norm:>9.3g}  "
                f"{h.verdict}"
            )
        ratio = f"{self.gradient_ratio:.3g}"
        lines.append(f"verdict: {self.verdict} (|dW| first/last {ratio})")
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"fix: {s}" for s in self.suggestions]
        return "\n".join(lines)


def gradient_health(
    model: Sequential,
    X: Any,
    y: Any,
    *,
    params: Params | None = None,
    state: State | None = None,
    seed: int = 0,
    **thresholds: float,
) -> GradientHealthReport:
    """Check activations and gradients on one batch; say what is wrong and the fix.

    Args:
        model: an initialised model.
        X: a batch of inputs (a few hundred rows is plenty).
        y: its labels or targets.
        params: parameters to check (default: ``model.params``).
        state: non-trainable state (default: ``model.state``).
        seed: seeds dropout masks.
        **thresholds: fields of :class:`Thresholds`, e.g. ``dead_fraction=0.3``.

    Returns:
        A :class:`GradientHealthReport` whose ``verdict`` is ``"healthy"`` or the
        first of :data:`VERDICTS` found in any layer.

    Raises:
        TypeError: for an unknown threshold name.
        ValueError: for a negative threshold, bad ``X``/``y`` or no Dense layer.

    Example:
        >>> import nntune
        >>> data = nntune.load_dataset("circles")
        >>> model = nntune.mlp([10, 5, 5], init="zeros").init(2, seed=0)
        >>> report = gradient_health(model, data.X, data.y)
        >>> report.verdict, report.layers[0].gradient_norm
        ('symmetric', 0.0)
        >>> report.suggestions[0][:60]
        'dense_0, dense_2, dense_4: zeros: every unit of a layer comp'
    """
    limits = Thresholds.of(thresholds)
    stats = layer_statistics(model, X, y, params=params, state=state, seed=seed)
    if not stats:
        raise ValueError(f"gradient_health needs a Dense layer; got {model!r}.")
    last_gradient = stats[-1].gradient_norm
    confused = _worse_than_chance(model, X, y, params, state)
    judged, problems = [], []
    advice: dict[str, list[str]] = {}
    for index, layer in enumerate(stats):
        finding = _judge(
            layer, last_gradient, index == len(stats) - 1, limits, confused=confused
        )
        verdict, _, problem = finding.partition(": ")
        if verdict != "healthy":
            problems.append(f"{layer.name} ({layer.init}): {finding}")
            advice.setdefault(_suggest(layer, verdict), []).append(layer.name)
        judged.append(
            dataclasses.replace(layer, verdict=verdict, problem=problem or None)
        )
    found = [v for v in VERDICTS if any(h.verdict == v for h in judged)]
    return GradientHealthReport(
        layers=tuple(judged),
        verdict=found[0] if found else "healthy",
        problems=tuple(problems),
        suggestions=tuple(f"{', '.join(at)}: {text}" for text, at in advice.items()),
        gradient_ratio=ratio(stats[0].gradient_norm, last_gradient),
        thresholds=limits,
    )
