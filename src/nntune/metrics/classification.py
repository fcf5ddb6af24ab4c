"""Classification metrics: confusion matrix, precision, recall, F1, ROC AUC, threshold.

For true classes ``y`` and predicted classes ``p`` (integers ``0..k-1``), per class
``c``::

    precision_c = TP_c / (TP_c + FP_c)      recall_c = TP_c / (TP_c + FN_c)
    F1_c = 2 precision_c recall_c / (precision_c + recall_c)
         = 2 TP_c / (2 TP_c + FP_c + FN_c)

with 0 where a denominator is 0 (scikit-learn's ``zero_division=0``). The macro
averages are the plain means over the classes that occur in ``y`` or ``p``, as
scikit-learn's ``average="macro"``: every class counts the same, however rare, so a
model that ignores a minority class has a poor macro recall even at high accuracy.
The confusion matrix has the true classes as rows and the predictions as columns.

For a binary task the scores are ``P(class 1)``: the ROC curve is the true-positive
rate against the false-positive rate as the threshold falls through every score,
and ROC AUC its area (the probability that a random positive scores above a random
negative, ties counting one half): 0.5 is chance, 1 a perfect ranking, whatever the
threshold. :func:`best_threshold` chooses the threshold that maximises the F1 of
class 1 (on a dev set, never the test set).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "best_threshold",
    "classification_metrics",
    "confusion_matrix",
    "format_classification_report",
    "model_metrics",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
]


def _classes(values: Any, name: str) -> np.ndarray[Any, Any]:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iub"):
        raise ValueError(
            f"{name} must be class indices 0..k-1 of shape (m,); got dtype "
            f"{array.dtype} and shape {array.shape}. Encode the labels as integers."
        )
    return array.astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray[Any, Any]:
    """Count the examples by true class (rows) and predicted class (columns).

    Raises:
        ValueError: for arrays of different lengths, or a class outside
            ``0..n_classes-1``.

    Example:
        >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3).tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    true, predicted = _classes(y_true, "y_true"), _classes(y_pred, "y_pred")
    if true.shape != predicted.shape:
        raise ValueError(
            f"y_true and y_pred must have one class per example each; got "
            f"{true.shape[0]} and {predicted.shape[0]}."
        )
    both = np.concatenate([true, predicted])
    if both.size and (both.min() < 0 or both.max() >= n_classes):
        raise ValueError(
            f"classes must be 0..{n_classes - 1}, below n_classes={n_classes}; got "
            f"{int(both.min())}..{int(both.max())}. Pass the number of classes."
        )
    flat = np.bincount(true * n_classes + predicted, minlength=n_classes**2)
    return flat.reshape(n_classes, n_classes)


def precision_recall_f1(
    y_true: Any, y_pred: Any, n_classes: int
) -> dict[str, np.ndarray[Any, Any]]:
    """Per-class ``precision``, ``recall``, ``f1`` and ``support`` (true counts).

    Example:
        >>> found = precision_recall_f1([0, 0, 1, 1], [0, 1, 1, 1], 2)
        >>> found["precision"].tolist(), found["recall"].tolist()  # 1/1, 2/3; 1/2, 2/2
        ([1.0, 0.6666666666666666], [0.5, 1.0])
    """
    counts = confusion_matrix(y_true, y_pred, n_classes)
    right = np.diag(counts).astype(np.float64)
    predicted, support = counts.sum(axis=0), counts.sum(axis=1)
    precision = _ratio(right, predicted)
    recall = _ratio(right, support)
    f1 = _ratio(2 * right, predicted + support)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _ratio(top: Any, bottom: Any) -> np.ndarray[Any, Any]:
    bottom = np.asarray(bottom, dtype=np.float64)
    found: np.ndarray[Any, Any] = np.zeros_like(bottom)
    np.divide(top, bottom, out=found, where=bottom > 0)
    return found


def roc_curve(y_true: Any, scores: Any) -> tuple[np.ndarray[Any, Any], ...]:
    """False- and true-positive rates at every distinct score, and those scores.

    Class 1 is predicted where ``score >= threshold``; the curve starts at
    ``(0, 0)`` with threshold ``inf`` and ends at ``(1, 1)``, as scikit-learn's
    ``roc_curve(drop_intermediate=False)``.

    Raises:
        ValueError: unless ``y_true`` holds both classes 0 and 1 only.

    Example:
        >>> fpr, tpr, _ = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    labels, values = _binary(y_true, scores)
    order = np.argsort(-values, kind="stable")
    values, labels = values[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(values)), values.size - 1]
    true_positives = np.cumsum(labels)[last]
    false_positives = last + 1 - true_positives
    tpr = np.r_[0.0, true_positives / true_positives[-1]]
    fpr = np.r_[0.0, false_positives / false_positives[-1]]
    return fpr, tpr, np.r_[np.inf, values[last]]


def roc_auc(y_true: Any, scores: Any) -> float:
    """The area under the ROC curve (trapezoids; ties count one half).

    Raises:
        ValueError: unless ``y_true`` holds both classes 0 and 1 only.

    Example:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # 3 of 4 pairs in order
        0.75
    """
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _binary(y_true: Any, scores: Any) -> tuple[np.ndarray[Any, Any], ...]:
    labels = _classes(y_true, "y_true")
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if values.shape != labels.shape or not np.all(np.isfinite(values)):
        raise ValueError(
            f"scores must be finite numbers, one per example (P(class 1)); got shape "
            f"{values.shape} for {labels.shape[0]} labels."
        )
    present = set(np.unique(labels).tolist())
    if present != {0, 1}:
        raise ValueError(
            f"a ROC curve needs examples of both classes 0 and 1; y_true holds "
            f"{sorted(present)}. Evaluate it on a set with both classes."
        )
    return labels, values


def best_threshold(y_true: Any, probabilities: Any) -> float:
    """The threshold on ``P(class 1)`` that maximises the F1 of class 1.

    Every cut between two distinct probabilities is tried; the threshold returned
    lies halfway between them in logit space, so that ``P > threshold`` holds for
    exactly the chosen examples, rounding included. Of cuts with the same F1 the
    highest wins (fewest positives). Choose it on a dev set: on the training set
    it is optimistic, on the test set it is a leak.

    Raises:
        ValueError: unless ``y_true`` holds both classes 0 and 1 only.

    Example:
        >>> # F1 of the cuts after 0.6, 0.4, 0.3, 0.2: 0, 0.5, 0.8, 0.67
        >>> round(best_threshold([0, 0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4, 0.6]), 3)
        0.247
    """
    labels, values = _binary(y_true, probabilities)
    logits = _logit(values)
    order = np.argsort(-logits, kind="stable")
    logits, labels = logits[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(logits)), logits.size - 1]
    true_positives = np.cumsum(labels)[last]
    predicted = last + 1
    f1 = 2 * true_positives / (predicted + labels.sum())
    best = int(np.argmax(f1))
    chosen = logits[last[best]]
    below = logits[last[best] + 1] if best + 1 < last.size else chosen - 2.0
    return float(1 / (1 + math.exp(-(chosen + below) / 2)))


def _logit(probabilities: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    return np.asarray(np.log(clipped) - np.log1p(-clipped))


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    n_classes: int,
    *,
    scores: Any = None,
    class_names: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The metrics of one set as metrics.json and ``--json`` hold them (plain JSON).

    Keys: ``precision_macro``, ``recall_macro``, ``f1_macro``, ``per_class`` (one
    ``{"class", "precision", "recall", "f1", "support"}`` per class), and
    ``confusion_matrix``; with ``scores`` (``P(class 1)`` of a binary task) also
    ``roc_auc`` (None when the set lacks a class).

    Example:
        >>> found = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 2,
        ...                                scores=[0.2, 0.9, 0.4, 0.1])
        >>> found["recall_macro"], found["roc_auc"]
        (0.75, 1.0)
    """
    found = precision_recall_f1(y_true, y_pred, n_classes)
    counts = confusion_matrix(y_true, y_pred, n_classes)
    seen = (counts.sum(axis=0) + counts.sum(axis=1)) > 0
    names = list(class_names) if class_names is not None else list(range(n_classes))
    result: dict[str, Any] = {
        f"{key}_macro": float(found[key][seen].mean()) if seen.any() else 0.0
        for key in ("precision", "recall", "f1")
    }
    result["per_class"] = [
        {
            "class": names[c],
            "precision": float(found["precision"][c]),
            "recall": float(found["recall"][c]),
            "f1": float(found["f1"][c]),
            "support": int(found["support"][c]),
        }
        for c in range(n_classes)
    ]
    result["confusion_matrix"] = counts.tolist()
    if scores is not None:
        try:
            result["roc_auc"] = roc_auc(y_true, scores)
        except ValueError:
            result["roc_auc"] = None  # one class only: no ranking to measure
    return result


def model_metrics(
    model: Any, X: Any, y: Any, class_names: Sequence[Any] | None = None
) -> dict[str, Any]:
    """:func:`classification_metrics` of a classifier's predictions on ``(X, y)``.

    ``model`` is a :class:`~nntune.Sequential` (its own decision threshold
    decides a binary task's classes; its ``P(class 1)`` are the ROC's scores) and
    ``y`` the class indices.
    """
    logits = model.logits(X)
    predicted = np.asarray(model.loss.predict(logits))
    n_classes = 2 if model.loss.task == "binary" else int(model.n_outputs)
    scores = None
    if model.loss.task == "binary":
        scores = np.asarray(model.loss.link(logits), dtype=np.float64)[:, 0]
    return classification_metrics(
        y, predicted, n_classes, scores=scores, class_names=class_names
    )


def format_classification_report(metrics: dict[str, Any], *, digits: int = 2) -> str:
    """scikit-learn's ``classification_report``, from :func:`classification_metrics`.

    The same layout and numbers (``weighted avg`` weighs each class by its support);
    ``metrics`` may also hold the set's ``accuracy`` and, for a binary task, its
    ``roc_auc`` and ``threshold``, shown on a last line.

    Example:
        >>> found = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 2,
        ...                                class_names=["cat", "dog"])
        >>> print(format_classification_report({**found, "accuracy": 0.75}))
                      precision    recall  f1-score   support
        <BLANKLINE>
                 cat       0.67      1.00      0.80         2
                 dog       1.00      0.50      0.67         2
        <BLANKLINE>
            accuracy                           0.75         4
           macro avg       0.83      0.75      0.73         4
        weighted avg       0.83      0.75      0.73         4
    """
    rows = metrics["per_class"]
    keys = ("precision", "recall", "f1")
    width = max(len("weighted avg"), *(len(str(row["class"])) for row in rows))
    line = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}"
    head = "{:>{width}s} " + " {:>9}" * 4
    text = [head.format("", "precision", "recall", "f1-score", "support", width=width)]
    text.append("")
    for row in rows:
        values = [row[key] for key in keys]
        text.append(
            line.format(
                str(row["class"]), *values, row["support"], **_fmt(width, digits)
            )
        )
    text.append("")
    total = sum(row["support"] for row in rows)
    if metrics.get("accuracy") is not None:
        accuracy = "{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}"
        text.append(
            accuracy.format(
                "accuracy", "", "", metrics["accuracy"], total, **_fmt(width, digits)
            )
        )
    macro = [metrics[f"{key}_macro"] for key in keys]
    text.append(line.format("macro avg", *macro, total, **_fmt(width, digits)))
    shares = np.array([row["support"] for row in rows], dtype=np.float64)
    shares = shares / (total or 1)
    weighted = [
        sum(r[key] * w for r, w in zip(rows, shares, strict=True)) for key in keys
    ]
    text.append(line.format("weighted avg", *weighted, total, **_fmt(width, digits)))
    extra = []
    if metrics.get("roc_auc") is not None:
        extra.append(f"ROC AUC {metrics['roc_auc']:.{digits + 2}f}")
    if metrics.get("threshold") is not None:
        extra.append(
            f"threshold: class 1 where P(class 1) > {metrics['threshold']:.4g}"
        )
    if extra:
        text += ["", "; ".join(extra)]
    return "\n".join(text)


def _fmt(width: int, digits: int) -> dict[str, int]:
    return {"width": width, "digits": digits}
