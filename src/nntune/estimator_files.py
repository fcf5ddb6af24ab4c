"""Save and load fitted estimators: safetensors + JSON, as every nntune model.

``clf.save("models/clf")`` writes ``models/clf.safetensors`` (the network's weights,
its input standardizer and batch-norm statistics) and ``models/clf.json`` (the
architecture, and in its metadata the task, the class labels, the feature names, the
hyperparameters, the seed and the training history), both atomically, through
:func:`~nntune.save_model`. ``NNClassifier.load("models/clf")`` rebuilds the fitted
estimator: ``predict`` and ``predict_proba`` give what they gave, in the same labels
and dtype (``classes_`` keeps its dtype: strings, ints, floats or bools). Loading reads
data only, never code, and refuses a damaged or mismatched file with a
:class:`~nntune.ModelFileError`.

The file is also an ordinary nntune model: ``nntune predict``, ``nntune export`` and
:func:`~nntune.export.to_onnx` read it (its ``class_names`` metadata are the labels).
The optimizer's state (Adam's moments, the schedule's step) is not saved: a loaded
estimator predicts, scores and refits, but ``partial_fit`` needs the estimator kept
whole, e.g. by ``joblib.dump``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np

from .model import Sequential
from .serialization import ModelFileError, load_model, save_model
from .training import History

_LABEL_KINDS = "biufUO"
"""NumPy dtype kinds of the labels a classifier can save (bool, int, float, str)."""


class SaveLoad:
    """``save`` and ``load`` for :class:`~nntune.NNClassifier` and ``NNRegressor``."""

    def save(self, path: str | Path) -> Path:
        """Write ``path.safetensors`` and ``path.json`` atomically; return the JSON.

        Args:
            path: file stem (a ``.json``/``.safetensors`` suffix is replaced), e.g.
                ``models/clf`` or ``runs/mine/model`` (a folder that ``nntune
                export`` and ``nntune predict`` then read as a run).

        Raises:
            NotFittedError: before ``fit``.
            ValueError: for a hyperparameter that JSON cannot hold.

        Example:
            >>> import tempfile
            >>> from sklearn.datasets import load_iris
            >>> from nntune import NNClassifier
            >>> X, y = load_iris(return_X_y=True)
            >>> names = np.array(["setosa", "versicolor", "virginica"])[y]
            >>> clf = NNClassifier((8,), epochs=5, random_state=0).fit(X, names)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     _ = clf.save(f"{folder}/clf")
            ...     loaded = NNClassifier.load(f"{folder}/clf")
            >>> loaded.predict(X[:2]).tolist() == clf.predict(X[:2]).tolist()
            True
            >>> loaded.classes_
            array(['setosa', 'versicolor', 'virginica'], dtype='<U10')
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        fitted: Any = self
        model: Sequential = fitted.model_
        params = {
            name: _jsonable(name, value)
            for name, value in fitted.get_params(deep=False).items()
        }
        estimator: dict[str, Any] = {
            "class": type(self).__name__,
            "params": params,
            "seed": fitted._seed,
            "best_epoch": fitted.best_epoch_,
            "dev_scores": fitted.dev_scores_,
            "history": fitted.history_.to_dict(),
        }
        metadata: dict[str, Any] = {"task": model.loss.task, "estimator": estimator}
        classes = getattr(fitted, "classes_", None)
        if classes is not None:
            metadata["class_names"] = classes.tolist()
            estimator["classes_dtype"] = classes.dtype.str
        else:
            estimator["n_outputs"] = fitted.n_outputs_
        names = getattr(fitted, "feature_names_in_", None)
        metadata["feature_names"] = None if names is None else names.tolist()
        return save_model(model, path, metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Load an estimator written by :meth:`save`, fitted, ready to predict.

        Raises:
            ModelFileError: if a file is missing or damaged, holds no estimator, or
                holds an estimator of another class.
        """
        model = load_model(path)
        document = model.metadata.get("estimator")
        if not isinstance(document, dict):
            raise ModelFileError(
                f"{path} holds an nntune model but no estimator; load it with "
                "nntune.load_model, or save the estimator with its save method."
            )
        if document.get("class") != cls.__name__:
            raise ModelFileError(
                f"{path} holds a {document.get('class')!r}, not a {cls.__name__}; "
                f"load it with {document.get('class')}.load."
            )
        try:
            return cls._rebuild(model, document)
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(
                f"{path}: the estimator's metadata are damaged ({error}); save the "
                "estimator again."
            ) from None

    @classmethod
    def _rebuild(cls, model: Sequential, document: dict[str, Any]) -> Self:
        from .inference import class_labels

        params = {name: _from_json(value) for name, value in document["params"].items()}
        estimator: Any = cls(**params)
        metadata = model.metadata
        if "classes_dtype" in document:
            dtype = np.dtype(document["classes_dtype"])
            if dtype.kind not in _LABEL_KINDS:
                raise ValueError(f"labels of dtype {dtype} cannot be loaded")
            estimator.classes_ = np.asarray(class_labels(model), dtype=dtype)
        else:
            estimator.n_outputs_ = int(document["n_outputs"])
        estimator.n_features_in_ = model.in_features
        if metadata.get("feature_names") is not None:
            names = [str(name) for name in metadata["feature_names"]]
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
        estimator._store(model, History.from_dict(document["history"]))
        estimator._seed = int(document["seed"])
        estimator.best_epoch_ = int(document["best_epoch"])
        scores = document["dev_scores"]
        estimator.dev_scores_ = None if scores is None else [float(s) for s in scores]
        return estimator  # type: ignore[no-any-return]


def _from_json(value: Any) -> Any:
    """A hyperparameter read back: lists as tuples, a saved mapping as a dict."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return {key: weight for key, weight in value["mapping"]}
    return value


def _jsonable(name: str, value: Any) -> Any:
    """A hyperparameter as JSON: tuples as lists, NumPy scalars as numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, tuple | list):
        return [_jsonable(name, item) for item in value]
    if name == "random_state" and isinstance(value, np.random.RandomState):
        return None  # the fitted seed is saved; a generator's state is not
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, dict):  # class_weight {label: weight}: labels of any type
        return {
            "mapping": [
                [_jsonable(name, k), _jsonable(name, v)] for k, v in value.items()
            ]
        }
    raise ValueError(
        f"hyperparameter {name}={value!r} ({type(value).__name__}) cannot be saved "
        "as JSON; set it to a string or a number, or keep the estimator with "
        "joblib.dump."
    )
