"""Heartbeats of running trials: how another search tells lost trials from slow ones."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from .study import HEARTBEAT_ATTR

__all__ = ["BEAT_SECONDS", "Heartbeat"]

BEAT_SECONDS = 30.0
"""How often a search refreshes its running trials' heartbeat."""


class Heartbeat:
    """Refresh the running trials' heartbeat from a thread, even while one trains.

    Another search sharing the study takes a trial whose heartbeat is older than
    :data:`~nntune.tuning.study.STALE_SECONDS` for lost.
    """

    def __init__(self, interval: float | None = None) -> None:
        import threading

        self.interval = BEAT_SECONDS if interval is None else interval
        self._trials: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def add(self, trial: Any) -> None:
        with self._lock:
            self._trials[trial.number] = trial

    def remove(self, trial: Any) -> None:
        with self._lock:
            self._trials.pop(trial.number, None)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                trials = list(self._trials.values())
            for trial in trials:
                with contextlib.suppress(Exception):  # ended meanwhile: fine
                    trial.set_user_attr(HEARTBEAT_ATTR, time.time())
