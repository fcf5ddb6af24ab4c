"""Metrics computed from targets and predictions (NumPy, no scikit-learn needed).

:mod:`.regression`: RMSE, MAE and R² in the target's own units.
"""
