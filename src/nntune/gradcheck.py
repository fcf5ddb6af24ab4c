"""Gradient checking: compare backpropagation with two-sided numerical differences.

For each checked entry ``theta_i`` of every parameter tensor::

    g_approx_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

and the course's relative difference, overall and per parameter tensor::

    difference = ||g - g_approx||_2 / (||g||_2 + ||g_approx||_2)

Read it as: below 1e-7 good; below 1e-5 look closer; larger, backpropagation is wrong.
Backpropagation runs in float64 on a copy of the model. The cost differences are
evaluated in extended precision (``numpy.longdouble``, 80 bits on x86-64) where the
platform has it, so that rounding in ``J`` (about 1e-16 relative, divided by ``2 eps``)
does not swamp tensors with small gradients; ``precision="float64"`` follows the
course's procedure to the letter. The check includes the L2/L1 term, runs batch
norm in training mode on one fixed batch, and refuses dropout (each evaluation of ``J``
would draw a new mask) unless asked to freeze one mask. Large tensors are sampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .activations import LeakyReLU, ReLU
from .backend import Params, Seed, State, make_rng, to_numpy
from .backend.random import key as random_key
from .layers import Dropout
from .model import Sequential

GOOD = 1e-7
LOOK_CLOSER = 1e-5
PASS_MARK = 2e-7
"""The course labs' pass mark for the overall difference."""


def relative_difference(grad: Any, approx: Any) -> float:
    """``||g - g_approx|| / (||g|| + ||g_approx||)`` (0 when both are zero).

    Example:
        >>> relative_difference([1.0, 2.0], [1.0, 2.0])
        0.0
        >>> round(relative_difference([1.0, 0.0], [0.0, 1.0]), 4)
        0.7071
    """
    g = np.asarray(grad, dtype=np.float64).ravel()
    a = np.asarray(approx, dtype=np.float64).ravel()
    denominator = float(np.linalg.norm(g) + np.linalg.norm(a))
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(g - a) / denominator)


def verdict(difference: float) -> str:
    """Return ``"good"``, ``"look closer"`` or ``"wrong"`` for a relative difference.

    ``"not checked"`` when the difference is NaN: no entry could be compared.
    """
    if math.isnan(difference):
        return "not checked"
    if difference < GOOD:
        return "good"
    if difference < LOOK_CLOSER:
        return "look closer"
    return "wrong"


_EXPLANATIONS = {
    "good": "backpropagation matches the numerical gradient (difference < 1e-7).",
    "look closer": (
        "probably right, but a difference between 1e-7 and 1e-5 can be a small bug "
        "or a ReLU kink crossed by eps; check the largest entries."
    ),
    "not checked": (
        "no entry could be compared (every step crossed a ReLU kink); check at "
        "other weights, e.g. after a few training steps."
    ),
    "wrong": (
        "backpropagation is very likely wrong (difference >= 1e-5): compare the "
        "parameters with the largest difference to find the faulty backward."
    ),
}


@dataclass(frozen=True)
class ParameterCheck:
    """The check of one parameter tensor."""

    name: str
    difference: float
    checked: int
    size: int
    gradient_norm: float
    verdict: str


@dataclass(frozen=True)
class GradientCheckReport:
    """Result of :func:`gradient_check`: overall and per-parameter differences."""

    overall_difference: float
    parameters: dict[str, ParameterCheck]
    epsilon: float
    threshold: float
    notes: tuple[str, ...] = field(default=())
    skipped_entries: int = 0

    @property
    def max_relative_difference(self) -> float:
        """The worst of the overall and per-parameter differences (NaN: none checked).

        Tensors with no comparable entry ("not checked") are left out.
        """
        values = [
            self.overall_difference,
            *(p.difference for p in self.parameters.values()),
        ]
        checked = [value for value in values if not math.isnan(value)]
        return max(checked) if checked else math.nan

    @property
    def passed(self) -> bool:
        """Whether the worst difference is below the pass mark ``threshold``."""
        return bool(self.max_relative_difference < self.threshold)  # NaN: False

    @property
    def verdict(self) -> str:
        """``"good"``, ``"look closer"`` or ``"wrong"`` for the worst difference."""
        return verdict(self.max_relative_difference)

    def explain(self) -> str:
        """One sentence on what the worst difference means."""
        status = "PASSED" if self.passed else "FAILED"
        return (
            f"{status} (pass mark {self.threshold:.0e}): max relative difference "
            f"{self.max_relative_difference:.3e}, {self.verdict}: "
            f"{_EXPLANATIONS[self.verdict]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary (``parameters``: name -> difference)."""
        return {
            "max_relative_difference": _number(self.max_relative_difference),
            "overall_relative_difference": _number(self.overall_difference),
            "passed": self.passed,
            "verdict": self.verdict,
            "threshold": self.threshold,
            "epsilon": self.epsilon,
            "parameters": {
                name: _number(p.difference) for name, p in self.parameters.items()
            },
            "not_checked": [
                name
                for name, p in self.parameters.items()
                if p.verdict == "not checked"
            ],
            "checked_entries": {name: p.checked for name, p in self.parameters.items()},
            "skipped_entries": self.skipped_entries,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = [f"{'parameter':<22} {'difference':>11} {'checked':>12}  verdict"]
        for p in self.parameters.values():
            shown = "n/a" if math.isnan(p.difference) else f"{p.difference:.3e}"
            lines.append(
                f"{p.name:<22} {shown:>11} {f'{p.checked}/{p.size}':>12}  {p.verdict}"
            )
        lines.append(f"{'overall':<22} {self.overall_difference:>11.3e}")
        lines.extend(self.notes)
        lines.append(self.explain())
        return "\n".join(lines)


def _number(value: float) -> float | None:
    # JSON has no NaN: a tensor that was not checked has no difference.
    return None if math.isnan(value) else value


def numerical_gradient(
    cost: Callable[[Params], float],
    params: Params,
    entries: dict[str, dict[str, np.ndarray[Any, Any]]],
    epsilon: float = 1e-7,
) -> dict[str, dict[str, np.ndarray[Any, Any]]]:
    """Two-sided differences of ``cost`` at the flat ``entries`` of each parameter.

    ``params`` must hold float64 NumPy arrays; each is perturbed on a copy and restored.

    Example:
        >>> import numpy as np
        >>> params = {"f": {"x": np.array([1.0, 2.0])}}
        >>> cost = lambda p: float(np.sum(p["f"]["x"] ** 3))
        >>> approx = numerical_gradient(cost, params, {"f": {"x": np.arange(2)}})
        >>> np.round(approx["f"]["x"], 6).tolist()  # 3 x^2
        [3.0, 12.0]
    """
    approx, _ = _differences(lambda p: (cost(p), b""), params, entries, epsilon)
    return approx


def _differences(
    evaluate: Callable[[Params], tuple[Any, bytes]],
    params: Params,
    entries: dict[str, dict[str, np.ndarray[Any, Any]]],
    epsilon: float,
) -> tuple[
    dict[str, dict[str, np.ndarray[Any, Any]]],
    dict[str, dict[str, np.ndarray[Any, Any]]],
]:
    """Differences, plus for each entry whether the activation pattern changed."""
    approx: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
    crossed: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
    for layer, names in entries.items():
        approx[layer], crossed[layer] = {}, {}
        for name, indices in names.items():
            original = params[layer][name]
            values = np.empty(len(indices))
            changed = np.zeros(len(indices), dtype=bool)
            for position, index in enumerate(indices):
                perturbed = original.copy()
                flat = perturbed.reshape(-1)
                flat[index] = original.flat[index] + epsilon
                params[layer][name] = perturbed
                plus, plus_pattern = evaluate(params)
                flat[index] = original.flat[index] - epsilon
                minus, minus_pattern = evaluate(params)
                values[position] = float((plus - minus) / (2 * epsilon))
                changed[position] = plus_pattern != minus_pattern
            params[layer][name] = original
            approx[layer][name], crossed[layer][name] = values, changed
    return approx, crossed


def gradient_check(
    model: Sequential,
    X: Any,
    y: Any,
    *,
    epsilon: float = 1e-7,
    max_entries: int = 1000,
    threshold: float = PASS_MARK,
    freeze_dropout: bool = False,
    seed: Seed = 0,
    precision: str = "extended",
) -> GradientCheckReport:
    """Check ``model``'s backpropagation on ``(X, y)`` against numerical gradients.

    Args:
        model: an initialised model (left unchanged: the check runs on a float64 copy).
        X: inputs, shape ``(m, n_features)``; the whole batch is one fixed batch.
        y: labels or targets.
        epsilon: the two-sided difference step (the course uses 1e-7).
        max_entries: at most this many entries per parameter tensor, sampled.
        threshold: pass mark for the worst difference (the course labs use 2e-7).
        freeze_dropout: allow dropout by drawing one mask and reusing it in every
            evaluation of the cost.
        seed: seeds the sampled entries and the frozen dropout mask.
        precision: ``"extended"`` evaluates the cost differences in
            ``numpy.longdouble`` (float64 where the platform has nothing wider);
            ``"float64"`` evaluates them in float64.

    Raises:
        ValueError: for dropout with ``keep_prob < 1`` unless ``freeze_dropout``, or
            bad arguments.

    Example:
        >>> from nntune import mlp, load_dataset
        >>> data = load_dataset("moons", n_samples=64)
        >>> report = gradient_check(mlp([5, 3], l2=0.7).init(2, seed=1), data.X, data.y)
        >>> report.passed, report.verdict
        (True, 'good')
    """
    if not (
        isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0
    ):
        raise ValueError(
            f"epsilon must be a positive number (e.g. 1e-7); got {epsilon!r}."
        )
    if (
        isinstance(max_entries, bool)
        or not isinstance(max_entries, int)
        or max_entries < 1
    ):
        raise ValueError(
            f"max_entries must be a positive integer; got {max_entries!r}."
        )
    dropouts = [
        layer
        for layer in model.layers
        if isinstance(layer, Dropout) and layer.keep_prob < 1
    ]
    if dropouts and not freeze_dropout:
        raise ValueError(
            f"the model has dropout (keep_prob={dropouts[0].keep_prob}), so every "
            "evaluation of the cost would drop different units and the numerical "
            "gradient would be noise. Check with keep_prob=1 (the course's advice: "
            "turn dropout off, check, then turn it on), or pass freeze_dropout=True to "
            "reuse "
            "one mask (--freeze-dropout on the command line)."
        )
    if precision not in ("extended", "float64"):
        raise ValueError(
            f"precision must be 'extended' or 'float64'; got {precision!r}."
        )
    model._require_built()
    checked = _copy_as(model, np.float64)
    x, targets = checked.prepare(X, y)
    params = _cast(model.params, np.float64)
    reference_dtype = np.longdouble if precision == "extended" else np.float64
    reference = _copy_as(model, reference_dtype)
    x_reference, targets_reference = reference.prepare(X, y)
    params_reference = _cast(model.params, reference_dtype)
    state_reference = _cast(model.state, reference_dtype)
    state = _cast(model.state, np.float64)
    # One dropout key for every evaluation: the masks are frozen while checking.
    dropout_key = random_key(int(make_rng(seed).integers(2**63)))

    kinked = [
        index
        for index, layer in enumerate(checked.layers)
        if isinstance(layer, ReLU | LeakyReLU)
    ]

    def evaluate(current: Params) -> tuple[Any, bytes]:
        # The activation pattern of every ReLU tells whether a step crossed a kink,
        # where the two-sided difference averages two different slopes.
        logits, caches, _ = reference.apply(
            current, state_reference, x_reference, training=True, key=dropout_key
        )
        cost = reference.loss.value_and_grad(logits, targets_reference)[0]
        cost = cost + reference.regularization_cost(current, x.shape[0])
        pattern = b"".join(
            np.packbits(to_numpy(caches[i]) > 0).tobytes() for i in kinked
        )
        return cost, pattern  # kept in its precision until the difference is taken

    _, grads, _ = checked.value_and_grad(params, state, x, targets, key=dropout_key)
    sampler = make_rng(seed)
    entries = {
        layer: {
            name: np.sort(
                sampler.choice(
                    array.size, size=min(array.size, max_entries), replace=False
                )
            )
            for name, array in arrays.items()
        }
        for layer, arrays in params.items()
    }
    approx, crossed = _differences(evaluate, params_reference, entries, epsilon)
    all_grads, all_approx = [], []
    results = {}
    skipped = 0
    for layer, names in entries.items():
        for name, indices in names.items():
            smooth = ~crossed[layer][name]
            skipped += int(np.sum(~smooth))
            indices = indices[smooth]
            analytic = to_numpy(grads[layer][name]).reshape(-1)[indices]
            numeric = approx[layer][name][smooth]
            all_grads.append(analytic)
            all_approx.append(numeric)
            difference = (
                relative_difference(analytic, numeric) if len(indices) else math.nan
            )
            key = f"{layer}.{name}"
            results[key] = ParameterCheck(
                key,
                difference,
                len(indices),
                params[layer][name].size,
                float(np.linalg.norm(analytic)),
                verdict(difference),
            )
    notes = []
    if (
        precision == "extended"
        and np.finfo(np.longdouble).eps < np.finfo(np.float64).eps
    ):
        notes.append("cost differences evaluated in extended precision (longdouble)")
    else:
        notes.append("cost differences evaluated in float64")
    if skipped:
        notes.append(
            f"{skipped} entr{'y' if skipped == 1 else 'ies'} left out: the step of "
            "+-epsilon crossed a ReLU kink, where the derivative is not defined"
        )
    unchecked = [key for key, check in results.items() if not check.checked]
    if unchecked:
        notes.append(
            f"not checked: {', '.join(unchecked)} (every step crossed a ReLU kink, "
            "e.g. zero biases under inputs that are exactly 0; check again after a "
            "few training steps)"
        )
    if dropouts:
        notes.append("dropout: one mask frozen for every evaluation of the cost")
    return GradientCheckReport(
        overall_difference=relative_difference(
            np.concatenate(all_grads), np.concatenate(all_approx)
        ),
        parameters=results,
        epsilon=float(epsilon),
        threshold=float(threshold),
        notes=tuple(notes),
        skipped_entries=skipped,
    )


def _cast(tree: Params | State, dtype: Any) -> Params:
    return {
        layer: {name: np.array(to_numpy(a), dtype=dtype) for name, a in arrays.items()}
        for layer, arrays in tree.items()
    }


def _copy_as(model: Sequential, dtype: Any) -> Sequential:
    """The same architecture with another dtype (which ``init`` would not accept)."""
    copy = Sequential(model.layers, model.loss, l2=model.l2, l1=model.l1)
    copy.in_features, copy.n_outputs = model.in_features, model.n_outputs
    copy.dtype = np.dtype(dtype)
    return copy
