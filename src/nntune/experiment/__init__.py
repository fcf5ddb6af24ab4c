"""Experiments: the table of settings, configs, trials on prepared data, run folders.

The engine's workflow layer (shared/ARCHITECTURE.md): :mod:`.settings` declares every
training setting once; :mod:`.config` holds a run's settings (:class:`TrainConfig`);
:mod:`.trial` prepares data once and trains one configuration on it without touching
files or the test set; :mod:`.rundir` writes a run's folder; :mod:`.compare` trains
variants side by side.
"""
