"""Losses fused with their output activation (L2/L1: :mod:`nntune.regularizers`).

Each loss takes the *logits* ``z`` of the last layer (its pre-activation) and returns
the cost averaged over the ``m`` examples together with ``dJ/dz``. Fusing the output
activation into the loss avoids ``log(0)`` and overflow for large logits:

- BinaryCrossEntropy: ``J = mean(max(z,0) - z*y + log(1 + exp(-|z|)))``,
  ``dJ/dz = (sigmoid(z) - y) / m``;
- SoftmaxCrossEntropy: ``J = -mean_rows(sum(y * log_softmax(z)))``,
  ``dJ/dz = (softmax(z) - y) / m``;
- MeanSquaredError: ``J = mean((z - y)^2)`` over all ``m * k`` entries,
  ``dJ/dz = 2 (z - y) / (m k)``; ``y`` may be the standardized targets, whose
  statistics the loss keeps to give predictions in the target's units.

So the course's ``dZ = Y_hat - Y`` appears divided by ``m`` because the cost is a mean.
Targets with a last column of row weights (:mod:`nntune.sample_weights`) make each
cost the weighted mean ``sum_i w_i l_i / sum_i w_i`` (PyTorch's weighted
``CrossEntropyLoss``), its gradient ``w_i dl_i/dz_i / sum_i w_i``.

Every loss also takes a stack of ``K`` models' logits ``(K, m, k)``
(targets ``(m, k)`` shared, or ``(K, m, k)``) and then returns one cost per member,
shape ``(K,)``: sums run over the last two axes and ``m = shape[-2]``.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, ClassVar

import numpy as np

from .activations import sigmoid, softmax
from .backend import Array, namespace, to_numpy
from .layers import _register
from .sample_weights import split_weights, weighted_mean

LOSS_TYPES: dict[str, type[Loss]] = {}


class Loss(abc.ABC):
    """A cost on logits with its gradient, output link and target validation."""

    kind: ClassVar[str] = ""
    task: ClassVar[str] = ""
    """``"binary"``, ``"multiclass"`` or ``"regression"``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that names its own kind is registered: a subclass that inherits
        # "tanh" must not replace Tanh when configs are loaded.
        if "kind" in cls.__dict__ and cls.kind:
            _register(LOSS_TYPES, cls)

    @abc.abstractmethod
    def value_and_grad(self, logits: Array, targets: Array) -> tuple[Array, Array]:
        """Return the mean cost and ``dJ/dlogits`` for prepared ``targets``."""

    @abc.abstractmethod
    def link(self, logits: Array) -> Array:
        """Map logits to the model's output (probabilities or values)."""

    @abc.abstractmethod
    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        """Validate user targets and return them in the shape of the logits.

        Raises:
            ValueError: if targets have the wrong shape or values outside the classes.
        """

    def predict(self, logits: Array) -> Array:
        """Return predictions: class labels for classifiers, values for regressors."""
        return self.link(logits)

    def output_units(self, n_classes: int) -> int:
        """Number of logits the last layer must produce for ``n_classes`` classes."""
        return n_classes

    def config(self) -> dict[str, Any]:
        """Return the JSON-serializable config of this loss."""
        return {"kind": self.kind}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """Rebuild the loss from :meth:`config` (a loss without options: ``cls()``)."""
        return cls()


def loss_from_config(config: dict[str, Any]) -> Loss:
    """Rebuild a loss from its config (``{"kind": ...}`` and its options).

    Raises:
        ValueError: for an unknown kind or options the loss refuses.
    """
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind not in LOSS_TYPES:
        raise ValueError(
            f"unknown loss {config!r}; expected a kind among {sorted(LOSS_TYPES)}."
        )
    return LOSS_TYPES[str(kind)].from_config(config)


def _as_labels(y: Any) -> np.ndarray[Any, Any]:
    labels = to_numpy(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    return labels


def _check_finite(values: np.ndarray[Any, Any], what: str) -> None:
    if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise ValueError(
            f"{what} contain {bad} NaN or infinite value(s); expected finite numbers. "
            "Drop or impute those rows before training."
        )


def _integer_labels(
    labels: np.ndarray[Any, Any], n_classes: int
) -> np.ndarray[Any, Any]:
    _check_finite(labels, "labels")
    if labels.dtype.kind not in "iub" and not (
        labels.dtype.kind == "f" and np.all(labels == np.round(labels))
    ):
        raise ValueError(
            f"labels must be integer class indices 0..{n_classes - 1}; got dtype "
            f"{labels.dtype}. Encode class names as integers first."
        )
    outside = (labels < 0) | (labels >= n_classes)
    if np.any(outside):
        found = sorted({int(v) for v in np.unique(labels[outside])})[:5]
        raise ValueError(
            f"labels outside the classes 0..{n_classes - 1}: found {found}. The model "
            f"has {n_classes} classes; give it more output classes or re-encode labels."
        )
    return labels.astype(np.int64)


@dataclass(frozen=True)
class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on logits (sigmoid output), labels 0/1.

    ``threshold`` is the decision threshold of :meth:`predict`: class 1 where
    ``sigmoid(z) > threshold``, that is ``z > logit(threshold)`` (``z > 0`` for the
    default 0.5). It changes no cost or gradient;
    :func:`nntune.metrics.classification.best_threshold` chooses one.

    Example:
        >>> import numpy as np
        >>> cost, dz = BinaryCrossEntropy().value_and_grad(
        ...     np.array([[0.0], [0.0]]), np.array([[1.0], [0.0]]))
        >>> round(float(cost), 6), dz.ravel().tolist()  # log 2; (0.5 - y) / 2
        (0.693147, [-0.25, 0.25])
        >>> z = np.array([[-0.5], [-1.0]])  # sigmoid: 0.38 and 0.27
        >>> BinaryCrossEntropy(threshold=0.3).predict(z).tolist()
        [1, 0]
    """

    kind: ClassVar[str] = "binary_cross_entropy"
    task: ClassVar[str] = "binary"
    threshold: float = 0.5
    """The probability of class 1 above which :meth:`predict` says class 1."""

    def __post_init__(self) -> None:
        value: Any = self.threshold  # what was passed: perhaps not a number
        if isinstance(value, bool) or not isinstance(value, Real):
            value = math.nan
        if not 0 < float(value) < 1:
            raise ValueError(
                f"threshold must be a number in (0, 1), the probability of class 1 "
                f"above which class 1 is predicted; got {self.threshold!r}. The "
                "default is 0.5."
            )
        object.__setattr__(self, "threshold", float(value))

    @property
    def decision_logit(self) -> float:
        """``logit(threshold) = log(t / (1 - t))``, the logit above which it is 1."""
        t = self.threshold
        return 0.0 if t == 0.5 else math.log(t / (1 - t))

    def value_and_grad(self, logits: Array, targets: Array) -> tuple[Array, Array]:
        xp = namespace(logits, targets)
        targets, weights = split_weights(logits, targets)
        losses = (
            xp.maximum(logits, xp.zeros_like(logits))
            - logits * targets
            + xp.log1p(xp.exp(-xp.abs(logits)))
        )
        delta = sigmoid(logits) - targets
        return weighted_mean(losses, delta, weights, logits.shape[-2])

    def link(self, logits: Array) -> Array:
        return sigmoid(logits)

    def predict(self, logits: Array) -> Array:
        xp = namespace(logits)
        return xp.astype(logits[..., 0] > self.decision_logit, xp.int64)

    def config(self) -> dict[str, Any]:
        if self.threshold == 0.5:
            return {"kind": self.kind}
        return {"kind": self.kind, "threshold": self.threshold}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(config.get("threshold", 0.5))

    def output_units(self, n_classes: int) -> int:
        return 1

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        labels = _integer_labels(_as_labels(y), 2)
        if labels.ndim != 1:
            raise ValueError(
                f"binary labels must have shape (m,) or (m, 1); got {labels.shape}."
            )
        return labels.astype(dtype)[:, None]


@dataclass(frozen=True)
class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy on logits; labels are integers 0..K-1 or one-hot rows.

    Example:
        >>> import numpy as np
        >>> cost, dz = SoftmaxCrossEntropy().value_and_grad(
        ...     np.zeros((1, 4)), np.array([[0.0, 1.0, 0.0, 0.0]]))
        >>> round(float(cost), 6), dz.tolist()  # log 4; softmax - y
        (1.386294, [[0.25, -0.75, 0.25, 0.25]])
    """

    kind: ClassVar[str] = "softmax_cross_entropy"
    task: ClassVar[str] = "multiclass"

    def value_and_grad(self, logits: Array, targets: Array) -> tuple[Array, Array]:
        xp = namespace(logits, targets)
        targets, weights = split_weights(logits, targets)
        shifted = logits - xp.max(logits, axis=-1, keepdims=True)
        log_normalizer = xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
        log_probabilities = shifted - log_normalizer
        delta = xp.exp(log_probabilities) - targets
        losses = -targets * log_probabilities
        return weighted_mean(losses, delta, weights, logits.shape[-2])

    def link(self, logits: Array) -> Array:
        return softmax(logits)

    def predict(self, logits: Array) -> Array:
        return namespace(logits).argmax(logits, axis=-1)

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        labels = to_numpy(y)
        if labels.ndim == 2 and labels.shape[1] == n_outputs and n_outputs > 1:
            _check_finite(labels, "one-hot labels")
            if not (
                np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(1) == 1)
            ):
                raise ValueError(
                    "one-hot labels must have exactly one 1 per row and 0 elsewhere; "
                    "pass integer class indices instead if they are not one-hot."
                )
            return labels.astype(dtype)
        labels = _integer_labels(_as_labels(labels), n_outputs)
        if labels.ndim != 1:
            raise ValueError(
                f"labels must be class indices of shape (m,) or one-hot of shape "
                f"(m, {n_outputs}); got shape {to_numpy(y).shape}."
            )
        return np.eye(n_outputs, dtype=dtype)[labels]


@dataclass(frozen=True)
class MeanSquaredError(Loss):
    """Mean squared error over all entries, with an identity output.

    With ``target_mean`` and ``target_scale`` (one value per output; see
    :meth:`standardized`) the network learns standardized targets: the loss is the
    mean squared error of ``z`` against ``(y - target_mean) / target_scale``, and
    :meth:`predict` returns ``z * target_scale + target_mean``, in the target's own
    units. The cost is then in standardized units: the error relative to the
    targets' spread (a cost of 1 is what predicting the mean scores).

    Example:
        >>> import numpy as np
        >>> cost, dz = MeanSquaredError().value_and_grad(
        ...     np.array([[1.0], [3.0]]), np.array([[0.0], [0.0]]))
        >>> float(cost), dz.ravel().tolist()  # (1 + 9) / 2; 2 (z - y) / 2
        (5.0, [1.0, 3.0])
        >>> loss = MeanSquaredError.standardized(np.array([100.0, 300.0]))
        >>> loss.target_mean, loss.target_scale  # mean 200, standard deviation 100
        ((200.0,), (100.0,))
        >>> loss.prepare_targets([400.0], 1, "float64").tolist()
        [[2.0]]
        >>> loss.predict(np.array([[2.0]])).tolist()
        [[400.0]]
    """

    kind: ClassVar[str] = "mean_squared_error"
    task: ClassVar[str] = "regression"
    target_mean: tuple[float, ...] | None = None
    """The training targets' mean of each output (None: targets used as given)."""
    target_scale: tuple[float, ...] | None = None
    """The training targets' standard deviation of each output (1 where constant)."""

    def __post_init__(self) -> None:
        mean, scale = self.target_mean, self.target_scale
        if mean is None and scale is None:
            return
        given = f"target_mean={mean!r}, target_scale={scale!r}"
        try:
            means = tuple(_number(v) for v in mean or ())
            scales = tuple(_number(v) for v in scale or ())
        except TypeError:
            means, scales = (), ()
        if (
            not means
            or len(means) != len(scales)
            or not all(math.isfinite(v) for v in means + scales)
            or not all(v > 0 for v in scales)
        ):
            raise ValueError(
                f"MeanSquaredError got {given}; expected two sequences of finite "
                "numbers of the same length, one per output, the scales > 0. Use "
                "MeanSquaredError.standardized(y_train) to compute them."
            )
        object.__setattr__(self, "target_mean", means)
        object.__setattr__(self, "target_scale", scales)

    @classmethod
    def standardized(cls, y: Any) -> MeanSquaredError:
        """The loss that standardizes targets with the statistics of ``y`` (training).

        Each output's mean and standard deviation (population, ``ddof=0``) are taken
        in float64; a constant output gets a scale of 1.

        Raises:
            ValueError: for targets that are not finite numbers of shape ``(m,)`` or
                ``(m, k)``, ``m >= 1``.
        """
        values = to_numpy(y)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or not values.shape[0] or values.dtype.kind not in "iufb":
            raise ValueError(
                f"standardized needs numeric training targets of shape (m,) or (m, k) "
                f"with m >= 1; got shape {to_numpy(y).shape} and dtype {values.dtype}."
            )
        _check_finite(values, "regression targets")
        values = values.astype(np.float64)
        scale = values.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        return cls(tuple(values.mean(axis=0).tolist()), tuple(scale.tolist()))

    def value_and_grad(self, logits: Array, targets: Array) -> tuple[Array, Array]:
        targets, weights = split_weights(logits, targets)
        residual = logits - targets
        count = math.prod(logits.shape[-2:])
        per_row = logits.shape[-1]  # a row's loss is the mean over its outputs
        squares = residual * residual
        return weighted_mean(squares, 2 * residual, weights, count, per_row)

    def link(self, logits: Array) -> Array:
        """The values in the target's units: ``z * target_scale + target_mean``."""
        if self.target_mean is None or self.target_scale is None:
            return logits
        xp = namespace(logits)
        scale = xp.asarray(self.target_scale, dtype=logits.dtype)
        return logits * scale + xp.asarray(self.target_mean, dtype=logits.dtype)

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        values = to_numpy(y)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[1] != n_outputs:
            raise ValueError(
                f"regression targets must have shape (m,) or (m, {n_outputs}) to match "
                f"the {n_outputs} output unit(s); got {to_numpy(y).shape}."
            )
        if values.dtype.kind not in "iufb":
            raise ValueError(f"regression targets must be numeric; got {values.dtype}.")
        _check_finite(values, "regression targets")
        if self.target_mean is None or self.target_scale is None:
            return values.astype(dtype)
        if len(self.target_mean) != n_outputs:
            raise ValueError(
                f"the loss standardizes {len(self.target_mean)} target(s) but the "
                f"model has {n_outputs} output unit(s); build the loss from targets "
                "with one column per output."
            )
        mean, scale = np.asarray(self.target_mean), np.asarray(self.target_scale)
        return ((values.astype(np.float64) - mean) / scale).astype(dtype)

    def config(self) -> dict[str, Any]:
        if self.target_mean is None or self.target_scale is None:
            return {"kind": self.kind}
        return {
            "kind": self.kind,
            "target_mean": list(self.target_mean),
            "target_scale": list(self.target_scale),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        mean, scale = config.get("target_mean"), config.get("target_scale")
        if not all(value is None or isinstance(value, list) for value in (mean, scale)):
            raise ValueError(
                f"the loss's target_mean and target_scale must be lists of numbers; "
                f"got {mean!r} and {scale!r}. The config is damaged; re-save the model."
            )
        return cls(
            None if mean is None else tuple(mean),
            None if scale is None else tuple(scale),
        )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{value!r} is not a number")
    return float(value)
