"""``Sequential``: a stack of layers with a fused loss, L2/L1 regularization and state.

The model object holds the architecture plus, once initialised, three trees with
matching keys: ``params`` (trainable), ``state`` (non-trainable, e.g. batch-norm
running statistics) and, per call, ``grads``. The maths is available as pure functions
of those trees (``apply``, ``backprop``, ``value_and_grad``) for optimizers, training
loops and gradient checking; ``predict``, ``predict_proba`` and ``summary`` are the
friendly shell and validate what users pass in.

The pure functions take an explicit random ``key`` (dropout) and optional
``hyperparams`` (``{"l2": ..., "keep_prob": ...}``: numbers, or arrays with one value
per member) and work on a stack of ``K`` models' trees as well as on one model's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._validation import is_array
from .backend import (
    Array,
    Draws,
    Params,
    Seed,
    State,
    make_rng,
    namespace,
    resolve_dtype,
)
from .backend.random import fold_in
from .data.mapped import MappedArray
from .layers import Cache, Dense, Hyperparams, Layer
from .losses import LOSS_TYPES, Loss
from .model_inputs import prepare_inputs
from .regularizers import L1, L2


class TrainPass(NamedTuple):
    """One training-mode forward and backward pass (:meth:`Sequential.train_pass`).

    Attributes:
        cost: the loss plus the regularization penalty (what is minimised).
        grads: the gradients of ``cost``.
        state: the new non-trainable state (batch-norm statistics).
        loss: the loss alone.
        logits: the network's training-mode output.
    """

    cost: Array
    grads: Params
    state: State
    loss: Array
    logits: Array


class Sequential:
    """A feed-forward network: layers applied in order, then a loss on the logits.

    The cost minimised is ``J = loss(logits, y) + sum over Dense layers of
    lambda_l2/(2m) ||W||^2 + lambda_l1/(2m) ||W||_1`` where a layer's own ``l2``/``l1``
    overrides the model-wide strength.

    Args:
        layers: the layers; the last one produces the logits.
        loss: a :class:`~nntune.losses.Loss` or its kind (``"binary_cross_entropy"``).
        l2: model-wide L2 strength lambda (>= 0).
        l1: model-wide L1 strength lambda (>= 0).

    Example:
        >>> import numpy as np
        >>> from nntune import Dense, ReLU, Sequential
        >>> model = Sequential([Dense(4), ReLU(), Dense(1)]).init(in_features=2, seed=0)
        >>> model.predict(np.zeros((3, 2))).tolist()
        [0, 0, 0]
        >>> model.n_parameters
        17
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        loss: Loss | str = "binary_cross_entropy",
        *,
        l2: float = 0.0,
        l1: float = 0.0,
    ) -> None:
        if not layers:
            raise ValueError("Sequential needs at least one layer, e.g. [Dense(1)].")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layer {index} is a {type(layer).__name__}, not an nntune layer; "
                    "build the stack from nntune.Dense, nntune.ReLU, ..."
                )
        self.layers: tuple[Layer, ...] = tuple(layers)
        self.names: tuple[str, ...] = tuple(
            f"{layer.kind}_{index}" for index, layer in enumerate(self.layers)
        )
        self.loss = _resolve_loss(loss)
        self.l2 = L2(l2).strength
        self.l1 = L1(l1).strength
        self.params: Params = {}
        self.state: State = {}
        self.in_features: int | None = None
        self.n_outputs: int | None = None
        self.dtype: np.dtype[Any] = resolve_dtype(None)
        self.metadata: dict[str, Any] = {}
        """JSON-serializable facts kept with the model by save/load (class names...)."""

    # ------------------------------------------------------------------ building
    def init(
        self,
        in_features: int,
        seed: Seed | np.random.RandomState = 0,
        dtype: Any = None,
    ) -> Sequential:
        """Create parameters and state for ``in_features`` inputs; return ``self``.

        ``seed`` is an int or a Generator; a legacy ``numpy.random.RandomState``
        draws each layer's weights in order as the course's labs do,
        ``randn(units, inputs)`` (:mod:`nntune.initializers`).

        Raises:
            ValueError: if the last layer's width does not fit the loss.
        """
        if isinstance(in_features, bool) or not isinstance(
            in_features, int | np.integer
        ):
            raise TypeError(f"in_features must be an int; got {in_features!r}.")
        if in_features < 1:
            raise ValueError(f"in_features must be >= 1; got {in_features}.")
        rng: Draws = seed if isinstance(seed, np.random.RandomState) else make_rng(seed)
        self.dtype = resolve_dtype(dtype)
        params: Params = {}
        state: State = {}
        width = int(in_features)
        for name, layer in zip(self.names, self.layers, strict=True):
            layer_params, layer_state, width = layer.build(rng, width, self.dtype)
            if layer_params:
                params[name] = layer_params
            if layer_state:
                state[name] = layer_state
        _check_output_width(self.loss, width)
        self.params, self.state = params, state
        self.in_features, self.n_outputs = int(in_features), width
        return self

    def adapt(self, X: Any) -> Sequential:
        """Fit the statistics of input-normalization layers on training inputs ``X``.

        Each layer with an ``adapt`` method (e.g. :class:`~nntune.Standardize`) gets
        its state from the inputs that reach it; call this on the training set only.
        """
        x, _ = self.prepare(X)
        if isinstance(x, MappedArray):
            raise ValueError(
                f"adapt fits its statistics on inputs in memory; got {x!r}, read out "
                "of core. Adapt on a sample of rows that fits in memory, e.g. "
                "model.adapt(X[:100_000]) (indexing returns an array)."
            )
        state = dict(self.state)
        # The inputs go as far as the last layer that adapts, no further.
        last = max(
            (i for i, layer in enumerate(self.layers) if hasattr(layer, "adapt")),
            default=-1,
        )
        pairs = list(zip(self.names, self.layers, strict=True))[: last + 1]
        for index, (name, layer) in enumerate(pairs):
            adapt = getattr(layer, "adapt", None)
            if adapt is not None:
                state[name] = adapt(x)
            if index < last:
                x = layer.forward(
                    self.params.get(name, {}), state.get(name, {}), x, training=False
                )[0]
        self.state = state
        return self

    @property
    def built(self) -> bool:
        """Whether :meth:`init` (or loading) has created the parameters."""
        return self.in_features is not None

    @property
    def threshold(self) -> float | None:
        """A binary classifier's decision threshold (None for other tasks).

        :meth:`predict` says class 1 where ``P(class 1) > threshold`` (default 0.5);
        it is kept in the loss's config, so saved models and their ONNX export
        use it too. Setting it changes no weight.

        Raises:
            ValueError: on setting it for another task, or outside ``(0, 1)``.
        """
        return getattr(self.loss, "threshold", None)

    @threshold.setter
    def threshold(self, value: float) -> None:
        if self.loss.task != "binary":
            raise ValueError(
                f"a decision threshold is for binary classifiers; this model's loss "
                f"is {self.loss.kind}. Multiclass models predict the most probable "
                "class."
            )
        self.loss = dataclasses.replace(self.loss, threshold=value)  # type: ignore[type-var]

    @property
    def n_parameters(self) -> int:
        """Total number of trainable parameters."""
        return sum(math.prod(a.shape) for p in self.params.values() for a in p.values())

    def regularizers(
        self, hyperparams: Hyperparams | None = None
    ) -> dict[str, tuple[L2, L1]]:
        """The effective L2/L1 of each Dense layer (layer value, else the model's).

        ``hyperparams`` may override the model-wide ``l2``/``l1`` (with arrays, one
        value per member of a population); a layer's own strength still wins.
        """
        overrides = hyperparams or {}
        model_l2 = overrides.get("l2", self.l2)
        model_l1 = overrides.get("l1", self.l1)
        found = {}
        for name, layer in zip(self.names, self.layers, strict=True):
            if isinstance(layer, Dense):
                l2 = model_l2 if layer.l2 is None else layer.l2
                l1 = model_l1 if layer.l1 is None else layer.l1
                found[name] = (L2(l2), L1(l1))
        return found

    # ------------------------------------------------------------- pure functions
    def apply(
        self,
        params: Params,
        state: State,
        x: Array,
        *,
        training: bool,
        key: Array | None = None,
        hyperparams: Hyperparams | None = None,
    ) -> tuple[Array, list[Cache], State]:
        """Forward pass: return the logits, the per-layer caches and the new state.

        A stochastic layer (dropout) gets its own key, ``fold_in(key, position)``.
        """
        caches = []
        new_state: State = {}
        for position, (name, layer) in enumerate(
            zip(self.names, self.layers, strict=True)
        ):
            layer_key = None
            if key is not None and layer.stochastic and training:
                layer_key = fold_in(key, position)
            x, cache, layer_state = layer.forward(
                params.get(name, {}),
                state.get(name, {}),
                x,
                training=training,
                key=layer_key,
                hyperparams=hyperparams,
            )
            caches.append(cache)
            if layer_state:
                new_state[name] = layer_state
        return x, caches, new_state

    def infer(self, params: Params, state: State, x: Array) -> Array:
        """Inference-mode forward pass that keeps no caches: the logits only.

        Each layer's input is released as soon as the next layer has its output, so
        evaluating a large set holds one activation at a time (:meth:`apply` keeps
        them all for backprop). Equal to ``apply(..., training=False)[0]``.
        """
        for name, layer in zip(self.names, self.layers, strict=True):
            x = layer.forward(
                params.get(name, {}), state.get(name, {}), x, training=False
            )[0]
        return x

    def backprop(self, params: Params, caches: list[Cache], dlogits: Array) -> Params:
        """Backward pass from ``dJ/dlogits``: the gradient tree (loss term only)."""
        grads: Params = {}
        delta = dlogits
        last = len(self.layers) - 1
        for position in range(last, -1, -1):
            name, layer = self.names[position], self.layers[position]
            delta, layer_grads = layer.backward(
                params.get(name, {}), caches[position], delta, input_grad=position > 0
            )
            if layer_grads:
                grads[name] = layer_grads
        return grads

    def regularization_cost(
        self, params: Params, m: int, hyperparams: Hyperparams | None = None
    ) -> float | Array:
        """The L2 + L1 penalty on the weights for a cost over ``m`` examples."""
        total: float | Array = 0.0
        for name, active in self.active_regularizers(hyperparams):
            for regularizer in active:
                total = total + regularizer.cost(params[name]["W"], m)
        return total

    def active_regularizers(
        self, hyperparams: Hyperparams | None = None
    ) -> list[tuple[str, list[L2 | L1]]]:
        """The Dense layers with a penalty and their active L2/L1, in layer order.

        An array strength (a live or per-member value) always counts as active: no
        Python branch on an array value.
        """
        found = []
        for name, pair in self.regularizers(hyperparams).items():
            active = [r for r in pair if is_array(r.strength) or bool(r.strength)]
            if active:
                found.append((name, active))
        return found

    def value_and_grad(
        self,
        params: Params,
        state: State,
        x: Array,
        targets: Array,
        *,
        key: Array | None = None,
        hyperparams: Hyperparams | None = None,
    ) -> tuple[Array, Params, State]:
        """Training-mode cost (loss + regularization), its gradients and the new state.

        ``targets`` are prepared targets (see :meth:`prepare`); ``key`` draws the
        dropout masks; ``hyperparams`` overrides ``l2``, ``l1`` and ``keep_prob``.
        For a stack of ``K`` models the cost has shape ``(K,)``.
        """
        found = self.train_pass(
            params, state, x, targets, key=key, hyperparams=hyperparams
        )
        return found.cost, found.grads, found.state

    def train_pass(
        self,
        params: Params,
        state: State,
        x: Array,
        targets: Array,
        *,
        key: Array | None = None,
        hyperparams: Hyperparams | None = None,
    ) -> TrainPass:
        """:meth:`value_and_grad` with the loss alone and the logits it came from.

        A training loop reads its running metrics from them (the mean of the
        mini-batches' losses and accuracies) without another forward pass.
        """
        logits, caches, new_state = self.apply(
            params, state, x, training=True, key=key, hyperparams=hyperparams
        )
        loss, dlogits = self.loss.value_and_grad(logits, targets)
        grads = self.backprop(params, caches, dlogits)
        cost, m = loss, x.shape[-2]
        for name, active in self.active_regularizers(hyperparams):
            weights = params[name]["W"]
            for regularizer in active:
                cost = cost + regularizer.cost(weights, m)
                grads[name]["W"] = grads[name]["W"] + regularizer.grad(weights, m)
        return TrainPass(cost, grads, new_state, loss, logits)

    # ---------------------------------------------------------- friendly shell
    def prepare(self, X: Any, y: Any = None) -> tuple[Array, Array | None]:
        """Validate ``X`` (and ``y``) and convert them to the model's dtype.

        Data in a file (a :class:`~nntune.data.MappedArray`, or an ``np.memmap`` such
        as ``np.load(path, mmap_mode="r")``) of more than
        :data:`~nntune.data.mapped.IN_MEMORY_ROWS` rows stays there: ``x`` is a
        :class:`~nntune.data.MappedArray` that reads the rows it is indexed with in
        the model's dtype, checked finite one chunk at a time; class labels become
        :class:`~nntune.data.targets.ClassTargets` (small integers, expanded per
        mini-batch), validated one chunk at a time.

        Raises:
            ValueError: for a wrong shape or feature count, NaN/inf in ``X``, or labels
                outside the classes.
        """
        self._require_built()
        return prepare_inputs(self, X, y)

    def logits(self, X: Any) -> Array:
        """Inference-mode output of the last layer (before the loss's link).

        Data read out of core (see :meth:`prepare`) goes through in chunks.
        """
        x, _ = self.prepare(X)
        if isinstance(x, MappedArray):
            parts = [
                self.infer(self.params, self.state, rows) for _, rows in x.chunks()
            ]
            return namespace(parts[0]).concat(parts)
        return self.infer(self.params, self.state, x)

    def predict(self, X: Any) -> Array:
        """Predict class labels (classification) or values (regression)."""
        return self.loss.predict(self.logits(X))

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, shape ``(n_examples, n_classes)`` (binary: 2 columns).

        Raises:
            ValueError: for a regression model, which has no probabilities.
        """
        if self.loss.task == "regression":
            raise ValueError(
                "predict_proba is for classifiers; this model has a regression loss "
                "(mean_squared_error). Use predict() for its values."
            )
        probabilities = self.loss.link(self.logits(X))
        if self.loss.task == "binary":
            xp = namespace(probabilities)
            return xp.concat([1 - probabilities, probabilities], axis=1)
        return probabilities

    def cost(self, X: Any, y: Any) -> float:
        """Inference-mode cost (loss + regularization) on ``(X, y)``."""
        x, targets = self.prepare(X, y)
        m = x.shape[0]
        if isinstance(x, MappedArray):  # the mean of the chunks' costs
            cost: Any = 0.0
            prepared: Any = targets
            for start, rows in x.chunks():
                logits = self.infer(self.params, self.state, rows)
                part = self.loss.value_and_grad(
                    logits, prepared[start : start + len(rows)]
                )
                cost = cost + float(part[0]) * len(rows) / m
        else:
            logits = self.apply(self.params, self.state, x, training=False)[0]
            cost = self.loss.value_and_grad(logits, targets)[0]
        return float(cost + self.regularization_cost(self.params, m))

    def summary(self) -> str:
        """A table of layers with output shape and parameter count.

        Example:
            >>> from nntune import Dense, ReLU, Sequential
            >>> print(Sequential([Dense(3), ReLU(), Dense(1)]).init(2).summary())
            Layer             Output shape      Params
            ------------------------------------------
            dense_0           (None, 3)              9
            relu_1            (None, 3)              0
            dense_2           (None, 1)              4
            ------------------------------------------
            Total params: 9 + 0 + 4 = 13 (float32)
            Loss: binary_cross_entropy
        """
        self._require_built()
        rows = []
        width = self.in_features
        for name, layer in zip(self.names, self.layers, strict=True):
            count = sum(math.prod(a.shape) for a in self.params.get(name, {}).values())
            width = getattr(layer, "units", width)
            rows.append(f"{name:<17} {f'(None, {width})':<17} {count:>6}")
        counts = " + ".join(r.split()[-1] for r in rows)
        rule = "-" * 42
        regularization = [
            f"{k} lambda={v}" for k, v in (("L2", self.l2), ("L1", self.l1)) if v
        ]
        lines = [f"{'Layer':<17} {'Output shape':<17} {'Params':>6}", rule, *rows, rule]
        lines.append(
            f"Total params: {counts} = {self.n_parameters} ({self.dtype.name})"
        )
        lines.append(
            f"Loss: {self.loss.kind}" + "".join(f", {r}" for r in regularization)
        )
        return "\n".join(lines)

    def config(self) -> dict[str, Any]:
        """The JSON-serializable architecture (no weights)."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "loss": self.loss.config(),
            "l2": self.l2,
            "l1": self.l1,
            "in_features": self.in_features,
            "dtype": self.dtype.name,
        }

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Save as ``path.safetensors`` + ``path.json`` (:func:`nntune.save_model`)."""
        from .serialization import save_model

        return save_model(self, path, metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> Sequential:
        """Load a model saved by :meth:`save` (see :func:`nntune.load_model`)."""
        from .serialization import load_model

        return load_model(path)

    def __repr__(self) -> str:
        layers = ", ".join(repr(layer) for layer in self.layers)
        loss = self.loss.kind
        return f"Sequential([{layers}], loss={loss!r}, l2={self.l2}, l1={self.l1})"

    def _require_built(self) -> None:
        if not self.built:
            raise ValueError(
                "the model has no parameters yet; call model.init(in_features=..., "
                "seed=...) first (or load a saved model)."
            )


def _resolve_loss(loss: Loss | str) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSS_TYPES:
        return LOSS_TYPES[loss]()
    raise ValueError(
        f"unknown loss {loss!r}; expected a Loss instance or one of "
        f"{sorted(LOSS_TYPES)}."
    )


def _check_output_width(loss: Loss, width: int) -> None:
    if loss.task == "binary" and width != 1:
        raise ValueError(
            f"binary_cross_entropy needs 1 output unit (a logit); the last layer has "
            f"{width}. End the stack with Dense(1), or use softmax_cross_entropy."
        )
    if loss.task == "multiclass" and width < 2:
        raise ValueError(
            f"softmax_cross_entropy needs one output unit per class (>= 2); the last "
            f"layer has {width}. End the stack with Dense(n_classes)."
        )
