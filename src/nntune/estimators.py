"""scikit-learn estimators: :class:`NNClassifier` and :class:`NNRegressor`.

They train through nntune's own path (a :class:`~nntune.TrainConfig` and
:func:`~nntune.train_trial`), exactly as ``nntune train`` does, and keep
scikit-learn's contract: ``__init__`` stores the hyperparameters verbatim, learned
attributes end in ``_``, ``fit`` returns ``self``, ``check_estimator`` passes. This is
the only module that imports ``sklearn.base``.

Their parameters come from the one table of settings
(:func:`nntune.experiment.settings.estimator_settings`), with the same names and
defaults as ``nntune train``'s flags, so ``NNClassifier(decay="exponential")`` decays
exactly as ``nntune train --decay exponential``; ``hidden_layer_sizes``,
``validation_fraction``, ``random_state`` and ``verbose`` are the estimators' own.

Choices, against ``MLPClassifier``:

- ``hidden_layer_sizes`` is its name; the others are nntune's (``learning_rate``,
  ``l2``, ``keep_prob``, ``epochs``).
- ``early_stopping=True`` holds out ``validation_fraction`` of the rows as a dev set
  (stratified for classifiers), stops when the dev *cost* stops improving (it
  watches the dev score) and restores the best epoch's weights. ``dev_scores_`` is
  the per-epoch dev accuracy or R² then, and None otherwise.
- ``loss_curve_`` has one value per epoch, as its ``loss_curve_``: the training-set
  cost after the epoch (inference mode, no L2 term). Mini-batch costs are in
  ``history_.iterations``.
- ``partial_fit`` is one epoch continuing the weights, the optimizer state (Adam's
  moments, schedule step) and the epoch count: five calls equal ``fit`` with
  ``epochs=5`` bit for bit. It never holds out a dev set; the input standardizer is
  fitted on the first call's data.
- ``random_state=None`` draws the seed from NumPy's global generator at each fit
  (scikit-learn's meaning); an int is nntune's ``seed`` itself.
- ``save(path)`` and ``load(path)`` keep a fitted estimator as safetensors + JSON
  (:mod:`nntune.estimator_files`); ``joblib`` keeps it whole too.
- Tags: only the regressor's ``multi_output``. Training is seeded (not
  ``non_deterministic``) and reaches the checks' score thresholds (no
  ``poor_score``).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterable, Mapping
from numbers import Integral
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .activations import sigmoid, softmax
from .data.datasets import Dataset
from .data.split import Split, train_dev_test_split
from .estimator_files import SaveLoad
from .experiment.classification import set_threshold
from .experiment.config import TrainConfig
from .experiment.settings import BY_NAME, estimator_settings
from .experiment.trial import (
    PreparedData,
    build_model,
    build_optimizer,
    data_key,
    train_trial,
)
from .model import Sequential
from .sample_weights import row_weights
from .training import Callback, History, Trainer, TrainState
from .training import fit as train

__all__ = ["NNClassifier", "NNRegressor"]

_FLOATS = (np.float64, np.float32)


class _Continue(Callback):
    """Continue an earlier history (partial_fit): rows, iterations and time."""

    order: ClassVar[int] = -100  # before the progress bar reads the epoch

    def __init__(self, history: History | None = None) -> None:
        self.history = history

    def on_train_begin(self, trainer: Trainer) -> None:
        if self.history is not None and self.history.epochs:
            trainer.history = self.history
            trainer.time_offset = float(self.history.epochs[-1]["time"] or 0.0)


class _DevScores(Callback):
    """Record ``score(trainer, logs)`` after every epoch."""

    def __init__(self, score: Callable[[Trainer, dict[str, Any]], float]) -> None:
        self.score, self.scores = score, list[float]()

    def on_train_begin(self, trainer: Trainer) -> None:
        self.scores = []

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        self.scores.append(float(self.score(trainer, logs)))


def _int(value: Any) -> Any:
    # Search spaces hand out NumPy integers; nntune checks for int and explains.
    if isinstance(value, bool) or not isinstance(value, Integral):
        return value
    return int(value)


class _NNEstimator(SaveLoad, BaseEstimator, abc.ABC):  # type: ignore[misc]
    """Shared fitting machinery; the subclasses say how targets are encoded."""

    _task_stratified: ClassVar[bool] = False
    _y_checks: ClassVar[dict[str, bool]] = {}  # validate_data options for y

    hidden_layer_sizes: Any
    early_stopping: bool
    validation_fraction: float
    random_state: Any
    verbose: bool

    @abc.abstractmethod
    def _targets(self, y: Any, classes: Any, first: bool) -> tuple[Any, str]:
        """Encoded targets and the nntune task; sets classes_ / n_outputs_."""

    @abc.abstractmethod
    def _dev_score(self, X_dev: Any, y_dev: Any) -> Callable[..., float]:
        """The per-epoch dev score (accuracy or R^2) of this estimator."""

    def _config(self, seed: int) -> TrainConfig:
        # Every hyperparameter but four is a setting of the table, by the same name.
        settings = {
            k: _int(v)
            for k, v in self.get_params().items()
            if k in BY_NAME and k != "class_weight"  # made row weights in fit
        }
        sizes = self.hidden_layer_sizes
        sizes = sizes if isinstance(sizes, Iterable) else (sizes,)
        layers = tuple(_int(units) for units in sizes)
        return TrainConfig(data="sklearn", layers=layers, seed=seed, **settings)

    def _draw_seed(self) -> int:
        generator = check_random_state(self.random_state)  # also validates an int
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        return int(generator.randint(np.iinfo(np.int32).max))

    def _dataset(self, X: Any, targets: Any, task: str) -> Dataset:
        names = tuple(str(c) for c in getattr(self, "classes_", ()))
        return Dataset("sklearn", X, targets, task, names, "data passed to fit")

    def _store(self, model: Sequential, history: History) -> None:
        self.model_, self.history_ = model, history
        self._train_state: TrainState | None = history.train_state
        self.n_iter_ = history.epochs_run
        self.loss_curve_ = [float(c) for c in history.column("train_cost")]

    def _row_weights(self, codes: Any, sample_weight: Any, partial: bool) -> Any:
        """Each row's weight for the loss (:mod:`nntune.sample_weights`), or None."""
        return row_weights(len(codes), sample_weight=sample_weight)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Train a new network on ``(X, y)`` for ``epochs`` epochs; return ``self``.

        Args:
            X: inputs, ``(n_samples, n_features)``.
            y: labels (classifier) or targets (regressor).
            sample_weight: one weight >= 0 per row: each mini-batch's cost is the
                weighted mean ``sum_i w_i l_i / sum_i w_i`` of its rows' losses
                (PyTorch's weighted cross-entropy; :mod:`nntune.sample_weights`).

        Raises:
            ValueError: for invalid data or hyperparameters (nntune's messages).
            TrainingDivergedError: when the cost becomes NaN or infinite.
        """
        X, y = validate_data(self, X, y, dtype=_FLOATS, **self._y_checks)
        targets, task = self._targets(y, None, first=True)
        weights = self._row_weights(targets, sample_weight, partial=False)
        seed = self._draw_seed()
        config = self._config(seed)
        train_rows, dev_rows = np.arange(len(X)), np.arange(0)
        callbacks: list[Callback] = []
        if self.early_stopping:
            split = train_dev_test_split(
                targets,
                dev=self.validation_fraction,
                test=0,
                stratify=self._task_stratified,
                seed=seed,
            )
            train_rows, dev_rows = split.train, split.dev
            if len(dev_rows) < 2:
                raise ValueError(
                    f"early stopping needs a dev set of at least 2 examples; "
                    f"validation_fraction={self.validation_fraction!r} of {len(X)} "
                    f"gives {len(dev_rows)}. Raise validation_fraction or set "
                    "early_stopping=False."
                )
            callbacks.append(
                scores := _DevScores(self._dev_score(X[dev_rows], y[dev_rows]))
            )
        empty = np.arange(0)
        prepared = PreparedData(
            self._dataset(X, targets, task),
            Split(train_rows, dev_rows, empty, empty),
            data_key(config),
        )
        trial = train_trial(
            config,
            prepared,
            callbacks,
            progress="auto" if self.verbose else "silent",
            sample_weight=weights,
        )
        model, history = trial.model, trial.history
        self._seed = seed
        self._store(model, history)
        self.dev_scores_ = scores.scores if self.early_stopping else None
        self.best_epoch_ = history.best_epoch or self.n_iter_
        return self

    def _partial_fit(self, X: Any, y: Any, classes: Any, sample_weight: Any) -> Self:
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, reset=first, dtype=_FLOATS, **self._y_checks)
        targets, task = self._targets(y, classes, first=first)
        weights = self._row_weights(targets, sample_weight, partial=True)
        if first:
            self._seed = self._draw_seed()
            config = self._config(self._seed)
            config.check_applicable()
            model = build_model(config, self._dataset(X, targets, task), X, targets)
            keeper, state, self.dev_scores_ = _Continue(), None, None
        elif self._train_state is None:
            raise ValueError(
                "this estimator was loaded from a file, which keeps no optimizer "
                "state, so partial_fit cannot continue its training; call fit, or "
                "keep an estimator to train further with joblib.dump."
            )
        else:
            config = self._config(self._seed)
            model, keeper = self.model_, _Continue(self.history_)
            state = self._train_state
        # The optimizer is rebuilt from the current settings (optimizers are pure
        # functions); the training state (weights, optimizer state, counters) and
        # the history carry over.
        history = train(
            model,
            X,
            targets,
            optimizer=build_optimizer(config),
            epochs=(0 if first else self.n_iter_) + 1,
            batch_size=config.batch_size,
            callbacks=[keeper],
            seed=config.seed_for("shuffle"),
            progress="auto" if self.verbose else "silent",
            train_state=state,
            sample_weight=weights,
        )
        rows = np.arange(len(X))  # "auto" chooses on this batch: there is no dev set
        set_threshold(config, model, self._dataset(X, targets, task), rows, rows[:0])
        self._store(model, history)
        self.best_epoch_ = self.n_iter_
        return self

    def _logits(self, X: Any) -> np.ndarray[Any, Any]:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return np.asarray(self.model_.logits(X), dtype=np.float64)


def _estimator_signature(*own: inspect.Parameter) -> inspect.Signature:
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(
            "hidden_layer_sizes",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=BY_NAME["layers"].default,
        ),
        *(
            inspect.Parameter(setting.name, keyword, default=setting.default)
            for setting in estimator_settings()
        ),
        inspect.Parameter("validation_fraction", keyword, default=0.1),
        inspect.Parameter("random_state", keyword, default=None),
        inspect.Parameter("verbose", keyword, default=False),
        *own,
    ]
    return inspect.Signature(parameters)


def _make_init(signature: inspect.Signature) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        # scikit-learn reads the parameters from the signature (made from the
        # table); __init__ only stores them, verbatim.
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__


_NNEstimator.__init__ = _make_init(_estimator_signature())  # type: ignore[method-assign]


class NNClassifier(ClassifierMixin, _NNEstimator):  # type: ignore[misc]
    """A fully connected network classifier, trained by nntune.

    Two classes use one sigmoid output and binary cross-entropy; more use a softmax
    output and softmax cross-entropy. Labels may be of any type (strings, ints);
    ``classes_`` is ``np.unique(y)`` and ``predict_proba``'s columns follow it.

    Args:
        hidden_layer_sizes: units of each hidden layer (the name mirrors
            ``MLPClassifier``; nntune's ``mlp`` and ``TrainConfig`` call it
            ``layers``). An int is one hidden layer.
        activation: relu, leaky_relu, tanh, sigmoid or identity.
        init: weight initializer, e.g. ``"he"``, ``"xavier"``, ``"random:0.01"``.
        optimizer: gd, momentum, rmsprop, adam or adamw.
        learning_rate: step size (None: the optimizer's default).
        beta, beta1, beta2, epsilon, weight_decay, clip_norm: optimizer settings,
            None for the optimizer's default (see ``nntune.optim``).
        decay: learning-rate decay: none, inverse_time, exponential, inverse_sqrt
            or interval, with ``decay_rate`` and ``decay_interval``.
        batch_size: examples per mini-batch.
        epochs: passes over the training data in :meth:`fit`.
        l2: L2 strength lambda.
        keep_prob: dropout keep probability (1: no dropout).
        batch_norm: batch normalization after each hidden layer.
        standardize: standardize inputs with training-set statistics, in the model.
        early_stopping: hold out a dev set and stop when its cost stops improving,
            restoring the best epoch's weights.
        patience: epochs without improvement before early stopping.
        validation_fraction: share (or count) of rows in the dev set.
        dtype: float32 (training default) or float64.
        random_state: int seed, a ``RandomState``, or None (a fresh seed each fit).
        verbose: show epoch progress.
        class_weight: ``"balanced"`` (``n_samples / (n_classes * bincount(y))``
            over the ``y`` given to ``fit``), ``{label: weight}`` (missing labels
            weigh 1), or None: each row's weight in the loss is its class's times
            its ``sample_weight``, as in scikit-learn (``partial_fit`` takes a
            mapping only).
        threshold: two classes only: ``classes_[1]`` is predicted where its
            probability is above it (None: 0.5), or ``"auto"``: the threshold of
            best F1 of ``classes_[1]`` on the dev set (``early_stopping``), else on
            the training rows. It is kept with the model (``save``, ``to_onnx``).

    Attributes:
        model_: the trained :class:`~nntune.Sequential`.
        classes_: the class labels.
        n_features_in_, feature_names_in_: seen in fit (names only for a
            DataFrame with string column names).
        history_: the :class:`~nntune.History` of training.
        loss_curve_: training cost after each epoch.
        dev_scores_: dev accuracy after each epoch (early stopping), else None.
        n_iter_: epochs run; best_epoch_: the epoch whose weights are kept.
        threshold_: the decision threshold on ``P(classes_[1])`` (None for more
            than two classes).

    Example:
        >>> from sklearn.datasets import make_moons
        >>> X, y = make_moons(200, noise=0.1, random_state=0)
        >>> clf = NNClassifier((16, 16), learning_rate=0.01, epochs=50, random_state=0)
        >>> clf = clf.fit(X, y)
        >>> clf.score(X, y) > 0.95, clf.predict_proba(X[:2]).shape
        (True, (2, 2))
    """

    _task_stratified: ClassVar[bool] = True

    def _targets(self, y: Any, classes: Any, first: bool) -> tuple[Any, str]:
        check_classification_targets(y)
        if first:
            found = np.unique(y if classes is None else classes)
            if len(found) < 2:
                raise ValueError(
                    f"a classifier needs at least 2 classes to learn; got 1 class "
                    f"({found.tolist()}). Give examples of every class."
                )
            self.classes_ = found
        elif classes is not None and not np.array_equal(
            np.unique(classes), self.classes_
        ):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from the classes of "
                f"the first partial_fit call, {self.classes_.tolist()}."
            )
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ValueError(
                f"y has labels {unknown.tolist()[:5]} outside the classes "
                f"{self.classes_.tolist()}; pass every class to the first partial_fit "
                "call with classes=."
            )
        task = "binary" if len(self.classes_) == 2 else "multiclass"
        return np.searchsorted(self.classes_, y), task

    def _dev_score(self, X_dev: Any, y_dev: Any) -> Callable[..., float]:
        return lambda trainer, logs: logs["dev_accuracy"]

    def _row_weights(self, codes: Any, sample_weight: Any, partial: bool) -> Any:
        class_weight = self.class_weight
        if partial and isinstance(class_weight, str):
            raise ValueError(
                f"class_weight={class_weight!r} is computed from all of y, which "
                "partial_fit never sees; pass a mapping {label: weight} computed "
                "beforehand (e.g. with sklearn.utils.class_weight."
                "compute_class_weight), or use fit."
            )
        if isinstance(class_weight, Mapping):
            labels = self.classes_.tolist()
            unknown = [key for key in class_weight if key not in labels]
            if unknown:
                raise ValueError(
                    f"class_weight has labels {unknown[:5]} that are not classes; "
                    f"the classes are {labels}. Key the weights by class label."
                )
            class_weight = {labels.index(k): w for k, w in class_weight.items()}
        return row_weights(
            len(codes),
            codes,
            len(self.classes_),
            sample_weight=sample_weight,
            class_weight=class_weight,
        )

    @property
    def threshold_(self) -> float | None:
        """The decision threshold on ``P(classes_[1])`` (None: more classes)."""
        check_is_fitted(self)
        return self.model_.threshold

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> Self:
        """Train one more epoch on ``(X, y)``, continuing weights and optimizer state.

        Args:
            X: inputs.
            y: labels, all among ``classes``.
            classes: every class label; required on the first call.
            sample_weight: one weight >= 0 per row (see :meth:`fit`).

        Raises:
            ValueError: when ``classes`` is missing on the first call, or ``y`` has a
                label outside it.
        """
        if not hasattr(self, "model_") and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit, e.g. "
                "partial_fit(X, y, classes=np.unique(y_all)), since later batches may "
                "hold classes this one lacks."
            )
        return self._partial_fit(X, y, classes, sample_weight)

    def decision_function(self, X: Any) -> np.ndarray[Any, Any]:
        """Logits: ``(n,)`` for 2 classes, else ``(n, k)``.

        With two classes, ``classes_[1]`` is predicted where the logit is above
        ``logit(threshold_)`` (0 for the default threshold 0.5).
        """
        logits = self._logits(X)
        return logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_proba(self, X: Any) -> np.ndarray[Any, Any]:
        """Class probabilities (float64), ``(n, n_classes)``, in ``classes_`` order."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive = sigmoid(scores)
            return np.stack([1 - positive, positive], axis=1)
        return np.asarray(softmax(scores))

    def predict(self, X: Any) -> np.ndarray[Any, Any]:
        """Predicted labels, taken from ``classes_`` (two: by ``threshold_``)."""
        logits = self._logits(X)  # checks that it is fitted
        codes = self.model_.loss.predict(logits)
        return np.asarray(self.classes_[np.asarray(codes)])


NNClassifier.__init__ = _make_init(  # type: ignore[method-assign]
    _estimator_signature(
        inspect.Parameter("class_weight", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("threshold", inspect.Parameter.KEYWORD_ONLY, default=None),
    )
)


class NNRegressor(RegressorMixin, _NNEstimator):  # type: ignore[misc]
    """A fully connected network regressor (mean squared error), trained by nntune.

    ``y`` may have several columns (multi-output); predictions have one column per
    target, raveled to ``(n,)`` when there is one, as in ``MLPRegressor``. The
    network learns standardized targets (each column's mean and standard deviation
    in ``fit``, or the first ``partial_fit`` call, are kept in the model's loss) and
    predicts in the target's own units, so large targets need no
    ``TransformedTargetRegressor``; ``loss_curve_`` is in standardized units (1 is
    what predicting the mean costs). ``score`` is R², as scikit-learn's regressors.
    The arguments are those of :class:`NNClassifier`; ``dev_scores_`` holds the
    dev R² after each epoch, and ``n_outputs_`` the number of targets.

    Example:
        >>> import numpy as np
        >>> X = np.linspace(-1, 1, 200)[:, None]
        >>> reg = NNRegressor((16,), epochs=200, random_state=0).fit(X, X[:, 0] ** 2)
        >>> reg.score(X, X[:, 0] ** 2) > 0.9, reg.predict(X[:3]).shape
        (True, (3,))
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, n_outputs) is learnt
        return tags

    _y_checks: ClassVar[dict[str, bool]] = {"multi_output": True, "y_numeric": True}

    def _targets(self, y: Any, classes: Any, first: bool) -> tuple[Any, str]:
        if first:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return np.asarray(y, dtype=np.float64), "regression"

    def _dev_score(self, X_dev: Any, y_dev: Any) -> Callable[..., float]:
        def score(trainer: Trainer, logs: dict[str, Any]) -> float:
            x, _ = trainer.model.prepare(X_dev)
            logits = trainer.model.apply(
                trainer.params, trainer.state, x, training=False
            )[0]
            values = np.asarray(trainer.model.loss.predict(logits))
            return float(r2_score(y_dev, values.reshape(y_dev.shape)))

        return score

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Train one more epoch on ``(X, y)``, continuing weights and optimizer."""
        return self._partial_fit(X, y, None, sample_weight)

    def predict(self, X: Any) -> np.ndarray[Any, Any]:
        """Predicted values in float64: ``(n,)`` for one target, else ``(n, k)``."""
        logits = self._logits(X)  # checks that it is fitted first
        values = np.asarray(self.model_.loss.predict(logits))
        return values[:, 0] if self.n_outputs_ == 1 else values
