"""nntune.metrics.classification against scikit-learn's metrics (its oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from nntune.metrics.classification import (
    best_threshold,
    classification_metrics,
    confusion_matrix,
    format_classification_report,
    precision_recall_f1,
    roc_auc,
    roc_curve,
)

SEEDS = range(6)


def random_classes(seed, k=4, m=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, m)
    # Mostly right, some classes never predicted (zero division) in some seeds.
    predicted = np.where(rng.random(m) < 0.6, y, rng.integers(0, k - seed % 2, m))
    return y, predicted


@pytest.mark.parametrize("seed", SEEDS)
def test_per_class_and_macro_match_sklearn(seed):
    y, predicted = random_classes(seed)
    found = precision_recall_f1(y, predicted, 4)
    expected = sk.precision_recall_fscore_support(
        y, predicted, labels=range(4), zero_division=0
    )
    for key, values in zip(
        ("precision", "recall", "f1", "support"), expected, strict=True
    ):
        np.testing.assert_allclose(found[key], values, rtol=1e-12, err_msg=key)
    summary = classification_metrics(y, predicted, 4)
    macro = sk.precision_recall_fscore_support(
        y, predicted, average="macro", zero_division=0
    )
    for key, value in zip(("precision", "recall", "f1"), macro[:3], strict=True):
        assert summary[f"{key}_macro"] == pytest.approx(value, rel=1e-12), key
    np.testing.assert_array_equal(
        confusion_matrix(y, predicted, 4),
        sk.confusion_matrix(y, predicted, labels=range(4)),
    )


def test_macro_averages_leave_out_classes_that_never_occur():
    # Class 2 neither occurs nor is predicted: scikit-learn's macro leaves it out.
    found = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 3)
    assert found["recall_macro"] == pytest.approx(0.75)
    assert found["per_class"][2] == {
        "class": 2,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_curve_and_auc_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 80)
    scores = np.round(rng.random(80) * 0.6 + 0.4 * y, 1)  # rounded: many ties
    fpr, tpr, thresholds = roc_curve(y, scores)
    expected = sk.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, expected[0])
    np.testing.assert_allclose(tpr, expected[1])
    np.testing.assert_allclose(thresholds[1:], expected[2][1:])
    assert roc_auc(y, scores) == pytest.approx(sk.roc_auc_score(y, scores), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_best_threshold_reaches_the_best_f1_of_any_cut(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(70) < 0.3).astype(int)
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.001, 0.999)
    threshold = best_threshold(y, scores)
    cuts = np.unique(scores)[:, None]  # every cut, by brute force
    right = ((scores >= cuts) & (y == 1)).sum(axis=1)
    best = np.max(2 * right / ((scores >= cuts).sum(axis=1) + y.sum()))
    assert sk.f1_score(y, scores > threshold) == pytest.approx(best, rel=1e-12)
    assert not np.any(np.isclose(scores, threshold))  # strictly between two scores


def test_best_threshold_can_lie_below_every_score():
    # Every example positive is the best cut: the threshold goes below the lowest.
    threshold = best_threshold([1, 1, 0, 1], [0.9, 0.8, 0.7, 0.6])
    assert 0 < threshold < 0.6


@pytest.mark.parametrize("k", [2, 3])
def test_the_report_is_sklearns_classification_report(k):
    y, predicted = random_classes(1, k=k, m=40)
    names = ["cat", "dog", "a long class name"][:k]
    found = classification_metrics(y, predicted, k, class_names=names)
    found["accuracy"] = float(np.mean(y == predicted))
    expected = sk.classification_report(
        y, predicted, labels=range(k), target_names=names, zero_division=0
    )
    assert format_classification_report(found) == expected.rstrip("\n")


def test_a_binary_report_ends_with_roc_auc_and_threshold():
    found = classification_metrics([0, 1, 1, 0], [0, 1, 1, 0], 2, scores=[0, 1, 1, 0])
    text = format_classification_report({**found, "threshold": 0.3})
    assert text.splitlines()[-1] == (
        "ROC AUC 1.0000; threshold: class 1 where P(class 1) > 0.3"
    )


def test_roc_auc_of_one_class_is_none_in_the_summary_and_an_error_alone():
    assert (
        classification_metrics([1, 1], [1, 0], 2, scores=[0.2, 0.9])["roc_auc"] is None
    )
    with pytest.raises(ValueError, match=r"both classes 0 and 1; y_true holds \[1\]"):
        roc_auc([1, 1], [0.2, 0.9])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: confusion_matrix([0, 1], [0], 2), "one class per example each"),
        (lambda: confusion_matrix([0, 3], [0, 1], 2), r"classes must be 0\.\.1"),
        (lambda: confusion_matrix([0.5], [0], 2), "class indices 0..k-1"),
        (lambda: roc_auc([0, 1], [0.5]), "one per example"),
        (lambda: roc_auc([0, 1], [0.5, np.nan]), "finite numbers"),
        (lambda: best_threshold([0, 2], [0.1, 0.2]), "both classes 0 and 1"),
    ],
)
def test_bad_input_says_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
