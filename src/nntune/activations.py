"""Activations: elementwise (and row-wise softmax) functions with their derivatives.

Each activation caches what its derivative needs (the mask, the output) in ``forward``
and uses only that in ``backward``. The fused losses use :func:`sigmoid` and
:func:`softmax` too.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import ClassVar

from .backend import Array, namespace
from .layers import Cache, Hyperparams, Layer, LayerParams, LayerState


class _Activation(Layer):
    """A parameter-free function: subclasses define ``_forward`` and ``_backward``."""

    elementwise: ClassVar[bool] = True
    """Whether each output depends on its own input alone (not softmax's rows), so
    that it runs on activations in any layout."""

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
        y, cache = self._forward(x)
        return y, cache, state

    def backward(
        self,
        params: LayerParams,
        cache: Cache,
        dy: Array,
        *,
        input_grad: bool = True,
    ) -> tuple[Array, LayerParams]:
        return self._backward(cache, dy), {}

    @abc.abstractmethod
    def _forward(self, x: Array) -> tuple[Array, Cache]: ...

    @abc.abstractmethod
    def _backward(self, cache: Cache, dy: Array) -> Array: ...


@dataclass(frozen=True)
class ReLU(_Activation):
    """``relu(z) = max(z, 0)``; derivative 1 where ``z > 0``, else 0 (also at 0).

    Example:
        >>> import numpy as np
        >>> y, cache, _ = ReLU().forward({}, {}, np.array([[-1.0, 2.0]]), training=True)
        >>> y, ReLU().backward({}, cache, np.ones((1, 2)))[0]
        (array([[0., 2.]]), array([[0., 1.]]))
    """

    kind: ClassVar[str] = "relu"

    def _forward(self, x: Array) -> tuple[Array, Cache]:
        # z times its 0/1 mask: twice as fast as maximum on NumPy (whose maximum
        # checks for NaN element by element) and many times faster than where(). It
        # lets a NaN through for the divergence guard (as an overflowed -inf, which
        # max(z, 0) would hide); adding 0 turns the -0.0 of negative z into 0.0.
        xp = namespace(x)
        mask = xp.astype(x > 0, x.dtype)
        return x * mask + 0, mask

    def _backward(self, cache: Cache, dy: Array) -> Array:
        return dy * cache


@dataclass(frozen=True)
class LeakyReLU(_Activation):
    """``leaky_relu(z) = z if z > 0 else negative_slope * z`` (default slope 0.01)."""

    kind: ClassVar[str] = "leaky_relu"

    negative_slope: float = 0.01

    def __post_init__(self) -> None:
        if not math.isfinite(self.negative_slope) or self.negative_slope < 0:
            raise ValueError(
                f"LeakyReLU negative_slope must be a finite number >= 0; got "
                f"{self.negative_slope!r} (a typical value is 0.01)."
            )

    def _forward(self, x: Array) -> tuple[Array, Cache]:
        xp = namespace(x)
        positive = x > 0
        return xp.where(positive, x, self.negative_slope * x), positive

    def _backward(self, cache: Cache, dy: Array) -> Array:
        xp = namespace(dy)
        return xp.where(cache, dy, self.negative_slope * dy)


@dataclass(frozen=True)
class Tanh(_Activation):
    """``tanh(z)``; derivative ``1 - tanh(z)^2``, from the cached output."""

    kind: ClassVar[str] = "tanh"

    def _forward(self, x: Array) -> tuple[Array, Cache]:
        y = namespace(x).tanh(x)
        return y, y

    def _backward(self, cache: Cache, dy: Array) -> Array:
        y = cache
        return dy * (1 - y * y)


def sigmoid(z: Array) -> Array:
    """Numerically stable ``1 / (1 + exp(-z))`` (no overflow for any finite ``z``).

    Example:
        >>> import numpy as np
        >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
        array([0. , 0.5, 1. ])
    """
    xp = namespace(z)
    e = xp.exp(-xp.abs(z))  # in (0, 1]: never overflows
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z: Array) -> Array:
    """Row-wise ``exp(z) / sum(exp(z))``, shifted by the row maximum for stability.

    Example:
        >>> import numpy as np
        >>> softmax(np.array([[1000.0, 1000.0]]))
        array([[0.5, 0.5]])
    """
    xp = namespace(z)
    e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


@dataclass(frozen=True)
class Sigmoid(_Activation):
    """``sigmoid(z) = 1 / (1 + exp(-z))``; derivative ``s (1 - s)``."""

    kind: ClassVar[str] = "sigmoid"

    def _forward(self, x: Array) -> tuple[Array, Cache]:
        s = sigmoid(x)
        return s, s

    def _backward(self, cache: Cache, dy: Array) -> Array:
        s = cache
        return dy * s * (1 - s)


@dataclass(frozen=True)
class Identity(_Activation):
    """``identity(z) = z`` (a linear output, e.g. for regression)."""

    kind: ClassVar[str] = "identity"

    def _forward(self, x: Array) -> tuple[Array, Cache]:
        return x, None

    def _backward(self, cache: Cache, dy: Array) -> Array:
        return dy


@dataclass(frozen=True)
class Softmax(_Activation):
    """Row-wise softmax ``s``; backward ``dz = s * (dy - sum(dy * s, axis=-1))``.

    For classification prefer the fused :class:`nntune.SoftmaxCrossEntropy` loss on
    logits, which is more stable; this layer exists for softmax outputs used elsewhere.
    """

    kind: ClassVar[str] = "softmax"
    elementwise: ClassVar[bool] = False

    def _forward(self, x: Array) -> tuple[Array, Cache]:
        s = softmax(x)
        return s, s

    def _backward(self, cache: Cache, dy: Array) -> Array:
        xp = namespace(dy)
        s = cache
        return s * (dy - xp.sum(dy * s, axis=-1, keepdims=True))
