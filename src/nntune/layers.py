"""Layers as pure forward/backward pairs: Dense, activations and inverted Dropout.

Every layer is a small frozen dataclass holding its hyperparameters and three pure
functions over parameter trees (ARCHITECTURE.md, decision 1)::

    build(rng, in_features, dtype)                  -> (params, state, out_features)
    forward(params, state, x, training, key, hyper) -> (y, cache, new_state)
    backward(params, cache, dy)                     -> (dx, grads)

Examples are rows: ``x`` has shape ``(m, in_features)``. Randomness (dropout masks)
comes from an explicit key (:mod:`nntune.backend.random`), never from a stateful
generator, so a forward pass is a pure function that ``jax.jit`` can compile.

**The population axis.** Every layer also works on a stack of ``K`` models that share
an architecture: parameters of shape ``(K, ...)``, inputs ``(K, m, in_features)`` (or
one ``(m, in_features)`` batch shared by all members), reductions over examples on
``axis=-2``, transposes with ``matrix_transpose`` and per-feature vectors broadcast as
rows. ``hyperparams`` may override a layer's hyperparameters with arrays, one value
per member (``{"keep_prob": array of shape (K,)}``). ``backward`` receives
``dy = dJ/dy`` and returns ``dx = dJ/dx`` and ``grads`` keyed like ``params``; it uses
only what ``forward`` cached and never recomputes the forward pass. The maths is
written against the array namespace of the inputs, so it runs on any array-API library.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .backend import Array, Draws, namespace, per_member
from .backend.random import LegacyKey, bernoulli
from .initializers import Initializer

LayerParams = dict[str, Array]
LayerState = dict[str, Array]
Cache = Any
Hyperparams = Mapping[str, Any]
"""Per-call overrides of hyperparameters (``keep_prob``, ``l2``): numbers or arrays."""

LAYER_TYPES: dict[str, type[Layer]] = {}
"""Registry of layer kinds by name, used to rebuild a model from its JSON config."""


class Layer(abc.ABC):
    """Base of every layer: a pure ``build``/``forward``/``backward`` triple."""

    kind: ClassVar[str] = ""
    stochastic: ClassVar[bool] = False
    """Whether ``forward`` draws random numbers in training (it then gets a ``key``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that names its own kind is registered: a subclass that inherits
        # "tanh" must not replace Tanh when configs are loaded.
        if "kind" in cls.__dict__ and cls.kind:
            _register(LAYER_TYPES, cls)

    def build(
        self, rng: Draws, in_features: int, dtype: Any
    ) -> tuple[LayerParams, LayerState, int]:
        """Create the parameters and state for ``in_features`` inputs."""
        return {}, {}, in_features

    @abc.abstractmethod
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
        """Compute ``y`` from ``x``; return what ``backward`` needs and new state."""

    @abc.abstractmethod
    def backward(
        self,
        params: LayerParams,
        cache: Cache,
        dy: Array,
        *,
        input_grad: bool = True,
    ) -> tuple[Array, LayerParams]:
        """Return ``dJ/dx`` and ``dJ/dparams`` from ``dJ/dy`` and the cache.

        With ``input_grad=False`` (the first layer of a model) a layer may return
        ``None`` for ``dJ/dx`` and skip computing it.
        """

    def config(self) -> dict[str, Any]:
        """Return the JSON-serializable config that rebuilds this layer."""
        fields: dict[str, Any] = (
            dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}
        )
        return {"kind": self.kind, **fields}


def _register(registry: dict[str, Any], cls: type) -> None:
    kind = cls.kind  # type: ignore[attr-defined]
    known = registry.get(kind)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise TypeError(
            f"{cls.__qualname__} declares kind {kind!r}, which {known.__qualname__} "
            "already uses; give the new class a kind of its own."
        )
    registry[kind] = cls


def layer_from_config(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from :meth:`Layer.config` output.

    Raises:
        ValueError: if the kind is unknown or the config has unexpected keys.

    Example:
        >>> layer_from_config({"kind": "dense", "units": 3})
        Dense(units=3, init='he', use_bias=True, l2=None, l1=None)
    """
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(
            f"a layer config must be an object with a 'kind' key; got {config!r}."
        )
    options = dict(config)
    kind = options.pop("kind")
    if kind not in LAYER_TYPES:
        raise ValueError(
            f"unknown layer kind {kind!r}; expected one of {sorted(LAYER_TYPES)}."
        )
    cls = LAYER_TYPES[kind]
    allowed = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unexpected = sorted(set(options) - allowed)
    if unexpected:
        raise ValueError(
            f"layer {kind!r} has unexpected options {unexpected}; it accepts "
            f"{sorted(allowed)}."
        )
    return cls(**options)


def as_row(vector: Array) -> Array:
    """A per-feature vector ``(..., n)`` as a row ``(..., 1, n)`` that broadcasts.

    For one model this is ``(1, n)``; for a stack of ``K`` models ``(K, 1, n)``, so
    each member's vector meets only that member's examples.
    """
    return vector[..., None, :]


def _check_strength(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number >= 0; got {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{name} (regularization strength lambda) must be a finite number >= 0; "
            f"got {value!r}. Use 0 for no regularization."
        )


@dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer ``Z = X @ W + b``.

    Backward: ``dW = X^T dZ``, ``db = sum_rows(dZ)``, ``dX = dZ W^T``.

    Args:
        units: number of output units.
        init: weight initializer name, optionally ``name:multiplier`` (see
            :mod:`nntune.initializers`); biases start at zero.
        use_bias: set False when a BatchNorm follows (its beta makes ``b`` redundant).
        l2: L2 strength for this layer's weights; None uses the model's.
        l1: L1 strength for this layer's weights; None uses the model's.

    Example:
        >>> import numpy as np
        >>> layer = Dense(2, init="xavier")
        >>> params, state, out = layer.build(np.random.default_rng(0), 3, "float64")
        >>> params["W"].shape, params["b"].shape, out
        ((3, 2), (2,), 2)
    """

    kind: ClassVar[str] = "dense"

    units: int
    init: str = "he"
    use_bias: bool = True
    l2: float | None = None
    l1: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.units, bool) or not isinstance(self.units, int):
            raise TypeError(f"Dense units must be an int; got {self.units!r}.")
        if self.units < 1:
            raise ValueError(f"Dense units must be >= 1; got {self.units}.")
        Initializer.parse(self.init)
        _check_strength("l2", self.l2)
        _check_strength("l1", self.l1)

    def build(
        self, rng: Draws, in_features: int, dtype: Any
    ) -> tuple[LayerParams, LayerState, int]:
        weights = Initializer.parse(self.init)(rng, in_features, self.units, dtype)
        params = {"W": weights}
        if self.use_bias:
            params["b"] = np.zeros(self.units, dtype=weights.dtype)
        return params, {}, self.units

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
        z = x @ params["W"]
        if "b" in params:
            z = z + as_row(params["b"])
        return z, x, state

    def backward(
        self,
        params: LayerParams,
        cache: Cache,
        dy: Array,
        *,
        input_grad: bool = True,
    ) -> tuple[Array, LayerParams]:
        xp = namespace(dy)
        x = cache
        grads = {"W": xp.matrix_transpose(x) @ dy}
        if "b" in params:
            grads["b"] = xp.sum(dy, axis=-2)
        # The input layer's dX is a full-size matrix product nobody uses.
        dx = dy @ xp.matrix_transpose(params["W"]) if input_grad else None
        return dx, grads


@dataclass(frozen=True)
class Dropout(Layer):
    """Inverted dropout: keep a unit with probability ``keep_prob``, scale up the kept.

    In training ``y = x * d / keep_prob`` with ``d ~ Bernoulli(keep_prob)`` drawn from
    the explicit ``key`` (:mod:`nntune.backend.random`; a ``LegacyKey`` draws the
    course's ``rand(units, examples) < keep_prob``); the same mask is reused by
    ``backward``. At inference it is the identity, so no rescaling is needed at test
    time. ``hyperparams={"keep_prob": ...}`` overrides ``keep_prob`` for one call, with
    a number or one value per member of a stacked population.

    Example:
        >>> import numpy as np
        >>> from nntune.backend.random import key
        >>> layer = Dropout(keep_prob=0.5)
        >>> y, mask, _ = layer.forward({}, {}, np.ones((1, 4)), training=True,
        ...                            key=key(1))
        >>> sorted(set(y.ravel().tolist()))  # kept units are scaled by 1/0.5
        [0.0, 2.0]
    """

    kind: ClassVar[str] = "dropout"
    stochastic: ClassVar[bool] = True

    keep_prob: float = 0.5

    def __post_init__(self) -> None:
        value = self.keep_prob
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"keep_prob must be a number in (0, 1]; got {value!r}.")
        if not 0 < value <= 1:
            raise ValueError(
                "keep_prob is the probability of keeping a unit and must be in (0, 1]; "
                f"got {value!r}. Use 1 to disable dropout (keep_prob=0.8 drops 20%)."
            )

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
        keep_prob = (hyperparams or {}).get("keep_prob", self.keep_prob)
        if not training or (isinstance(keep_prob, float | int) and keep_prob == 1):
            return x, None, state
        if key is None:
            raise ValueError(
                "Dropout in training needs a random key: pass "
                "key=nntune.random_key(seed) (fit and the train step do) so that the "
                "mask is reproducible."
            )
        xp = namespace(x)
        # A stack of keys (K, 2) draws one mask per member over its own examples; the
        # course's legacy stream (LegacyKey) draws for one model.
        members = 0 if isinstance(key, LegacyKey) else len(key.shape) - 1
        shape = tuple(x.shape)[members:]
        keep = bernoulli(key, keep_prob, shape)
        scale = xp.astype(keep, x.dtype) / per_member(keep_prob, keep)
        scale = xp.astype(scale, x.dtype)
        return x * scale, scale, state

    def backward(
        self,
        params: LayerParams,
        cache: Cache,
        dy: Array,
        *,
        input_grad: bool = True,
    ) -> tuple[Array, LayerParams]:
        if cache is None:
            return dy, {}
        return dy * cache, {}
