"""Batch normalization: normalize ``Z`` over the mini-batch, then scale and shift.

Training (``m`` examples in the mini-batch, per feature)::

    mu      = mean(z)                      sigma^2 = mean((z - mu)^2)   (biased)
    z_norm  = (z - mu) / sqrt(sigma^2 + eps)
    z_tilde = gamma * z_norm + beta

Inference uses running estimates kept as *state*, apart from the parameters
``gamma``/``beta``, and updated by an exponentially weighted average in training::

    running_mean = momentum * running_mean + (1 - momentum) * mu
    running_var  = momentum * running_var  + (1 - momentum) * sigma^2 * m / (m - 1)

Conventions (docs/conventions.md): ``momentum=0.9`` here is PyTorch's ``momentum=0.1``
(PyTorch weighs the *new* batch by its momentum) and Keras' ``momentum=0.9``
convention with a different default (0.99). The running variance uses the unbiased
batch variance, as PyTorch does (Keras uses the biased one; the two differ by a factor
``m/(m-1)``). ``eps=1e-5`` is PyTorch's default (Keras: 1e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .backend import Array, Draws, namespace
from .layers import Cache, Hyperparams, Layer, LayerParams, LayerState, as_row


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalization with learnable ``gamma``/``beta`` and running statistics.

    A :class:`~nntune.Dense` feeding a BatchNorm can drop its bias (``use_bias=False``):
    subtracting the batch mean cancels it and ``beta`` takes its role.

    Args:
        momentum: weight of the old running statistic in the EWA, in [0, 1).
        eps: added to the variance before the square root, > 0.

    Example:
        >>> import numpy as np
        >>> bn = BatchNorm()
        >>> params, state, _ = bn.build(np.random.default_rng(0), 2, "float64")
        >>> z = np.array([[1.0, 2.0], [3.0, 6.0]])
        >>> y, _, new_state = bn.forward(params, state, z, training=True)
        >>> np.round(y, 3)
        array([[-1., -1.],
               [ 1.,  1.]])
        >>> new_state["running_mean"]  # 0.9 * 0 + 0.1 * [2, 4]
        array([0.2, 0.4])
    """

    kind: ClassVar[str] = "batch_norm"

    momentum: float = 0.9
    eps: float = 1e-5

    def __post_init__(self) -> None:
        if not (isinstance(self.momentum, int | float) and 0 <= self.momentum < 1):
            raise ValueError(
                f"BatchNorm momentum is the weight of the old running statistic and "
                f"must be in [0, 1); got {self.momentum!r}. The default 0.9 equals "
                "PyTorch's momentum=0.1."
            )
        if not (isinstance(self.eps, int | float) and math.isfinite(self.eps)):
            raise ValueError(
                f"BatchNorm eps must be a positive number; got {self.eps!r}."
            )
        if self.eps <= 0:
            raise ValueError(f"BatchNorm eps must be > 0; got {self.eps!r} (try 1e-5).")

    def build(
        self, rng: Draws, in_features: int, dtype: Any
    ) -> tuple[LayerParams, LayerState, int]:
        params = {
            "gamma": np.ones(in_features, dtype=dtype),
            "beta": np.zeros(in_features, dtype=dtype),
        }
        state = {
            "running_mean": np.zeros(in_features, dtype=dtype),
            "running_var": np.ones(in_features, dtype=dtype),
        }
        return params, state, in_features

    def forward(
        self,
        params: LayerParams,
        state: LayerState,
        x: Array,
        *,
        training: bool,
        key: Array | None = None,
        hyperparams: Hyperparams | None = None,
    ) -> tuple[Array, Cache, LayerState]:
        xp = namespace(x)
        gamma, beta = as_row(params["gamma"]), as_row(params["beta"])
        if not training:
            inv_std = 1 / xp.sqrt(as_row(state["running_var"]) + self.eps)
            z_norm = (x - as_row(state["running_mean"])) * inv_std
            return gamma * z_norm + beta, (z_norm, inv_std, False), state
        m = x.shape[-2]
        if m < 2:
            raise ValueError(
                f"BatchNorm in training needs at least 2 examples per mini-batch to "
                f"estimate a variance; got {m}. Use a batch size >= 2 (stochastic "
                "gradient descent with batch size 1 does not mix with batch norm)."
            )
        mu = xp.mean(x, axis=-2, keepdims=True)
        centered = x - mu
        var = xp.mean(centered * centered, axis=-2, keepdims=True)
        inv_std = 1 / xp.sqrt(var + self.eps)
        z_norm = centered * inv_std
        mu, var = mu[..., 0, :], var[..., 0, :]
        keep = self.momentum
        new_state = {
            "running_mean": keep * state["running_mean"] + (1 - keep) * mu,
            "running_var": keep * state["running_var"]
            + (1 - keep) * var * (m / (m - 1)),
        }
        return gamma * z_norm + beta, (z_norm, inv_std, True), new_state

    def backward(
        self,
        params: LayerParams,
        cache: Cache,
        dy: Array,
        *,
        input_grad: bool = True,
    ) -> tuple[Array, LayerParams]:
        """Closed-form gradient through the batch statistics.

        ``dz = inv_std / m * (m dz_norm - sum(dz_norm) - z_norm sum(dz_norm z_norm))``
        with ``dz_norm = dy * gamma``. After an inference-mode forward the statistics
        are constants and ``dz = dz_norm * inv_std``.
        """
        xp = namespace(dy)
        z_norm, inv_std, batch_statistics = cache
        grads = {
            "gamma": xp.sum(dy * z_norm, axis=-2),
            "beta": xp.sum(dy, axis=-2),
        }
        dz_norm = dy * as_row(params["gamma"])
        if not batch_statistics:
            return dz_norm * inv_std, grads
        m = dy.shape[-2]
        dx = (inv_std / m) * (
            m * dz_norm
            - xp.sum(dz_norm, axis=-2, keepdims=True)
            - z_norm * xp.sum(dz_norm * z_norm, axis=-2, keepdims=True)
        )
        return dx, grads


@dataclass(frozen=True)
class Standardize(Layer):
    """Input normalization ``x_norm = (x - mean) / std`` with training-set statistics.

    The mean and standard deviation are *state*, set once by :meth:`adapt` on the
    training inputs (never on dev or test data) and saved with the model, so a loaded
    model standardizes new inputs exactly as in training. Features with zero variance
    are only centred (their scale is 1), as in scikit-learn's ``StandardScaler``.

    Example:
        >>> import numpy as np
        >>> layer = Standardize()
        >>> state = layer.adapt(np.array([[1.0, 5.0], [3.0, 5.0]]))
        >>> state["mean"].tolist(), state["scale"].tolist()
        ([2.0, 5.0], [1.0, 1.0])
        >>> layer.forward({}, state, np.array([[3.0, 6.0]]), training=False)[0]
        array([[1., 1.]])
    """

    kind: ClassVar[str] = "standardize"

    def build(
        self, rng: Draws, in_features: int, dtype: Any
    ) -> tuple[LayerParams, LayerState, int]:
        state = {
            "mean": np.zeros(in_features, dtype=dtype),
            "scale": np.ones(in_features, dtype=dtype),
        }
        return {}, state, in_features

    def adapt(self, x: Array) -> LayerState:
        """Return the state (mean, scale) fitted on training inputs ``x``."""
        xp = namespace(x)
        mean = xp.mean(x, axis=-2)
        std = xp.sqrt(xp.mean((x - as_row(mean)) ** 2, axis=-2))
        return {"mean": mean, "scale": xp.where(std > 0, std, xp.ones_like(std))}

    def forward(
        self,
        params: LayerParams,
        state: LayerState,
        x: Array,
        *,
        training: bool,
        key: Array | None = None,
        hyperparams: Hyperparams | None = None,
    ) -> tuple[Array, Cache, LayerState]:
        scale = as_row(state["scale"])
        return (x - as_row(state["mean"])) / scale, scale, state

    def backward(
        self,
        params: LayerParams,
        cache: Cache,
        dy: Array,
        *,
        input_grad: bool = True,
    ) -> tuple[Array, LayerParams]:
        return (dy / cache if input_grad else None), {}
