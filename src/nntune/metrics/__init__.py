"""Metrics computed from targets and predictions (NumPy, no scikit-learn needed).

:mod:`.regression`: RMSE, MAE and R² in the target's own units.
:mod:`.classification`: confusion matrix, per-class precision, recall and F1 with
their macro averages, ROC AUC and the decision threshold of a binary task.
"""
