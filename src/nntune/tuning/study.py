"""A study: a search's folder, its Optuna study, and its trials as plain records.

A study folder holds::

    studies/<name>/study.json     the space, the strategy, the seed, where trials live
    studies/<name>/study.journal  the trials (the embedded store; absent with a URL)
    studies/<name>/report.html    written by ``nntune report STUDY``

The trials live in Optuna's storage (:func:`~nntune.tuning.storage.open_storage`):
each trial's parameters are the settings' own values (beta, not 1 - beta), its
value is the dev error (lower is better), its intermediate values the dev error per
epoch, and its user attributes what nntune adds: the train and dev metrics, the
per-epoch history, the coarse-to-fine round, the error of a failed trial, and who
runs it (host, process, heartbeat) so that a trial whose process was killed is
found and run again.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import atomic_write_text, read_json
from .space import Space
from .storage import JOURNAL, open_storage, redact

__all__ = [
    "RESULT_ATTR",
    "RUN_ATTR",
    "STUDY_FILE",
    "Study",
    "TrialRecord",
    "create_or_continue",
    "open_study",
    "preset_sampler",
]

STUDY_FILE = "study.json"
_FORMAT = "nntune.study"
RUN_ATTR = "nntune_run"
"""The user attribute set when a trial starts: owner, round, the trial it retries."""
RESULT_ATTR = "nntune_result"
"""The user attribute set when a trial ends: metrics, curve, history, error."""
HEARTBEAT_ATTR = "nntune_heartbeat"
"""The user attribute a running trial's search refreshes (seconds since the epoch)."""
STALE_SECONDS = 300.0
"""A running trial of another machine whose heartbeat is older than this is lost."""


@dataclass
class TrialRecord:
    """One trial of a study, as plain data.

    ``state`` is ``complete``, ``pruned``, ``failed``, ``interrupted`` (its process
    died; it is run again as a new trial) or ``running``. ``params`` are the searched
    values, ``settings`` the whole configuration; ``value`` is the dev error.
    """

    number: int
    state: str
    params: dict[str, Any]
    settings: dict[str, Any]
    value: float | None = None
    train: dict[str, Any] = field(default_factory=dict)
    dev: dict[str, Any] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)
    history: dict[str, list[Any]] = field(default_factory=dict)
    round: int = 0
    seconds: float | None = None
    epochs_run: int | None = None
    error: str | None = None
    retry_of: int | None = None

    @property
    def counted(self) -> bool:
        """Whether the trial counts towards the budget (it finished, one way or not)."""
        return self.state in ("complete", "pruned", "failed")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``nntune tune --json`` prints."""
        found: dict[str, Any] = {
            "number": self.number,
            "state": self.state,
            "params": self.params,
            "value": self.value,
            "train": self.train,
            "dev": self.dev,
            "round": self.round,
            "epochs_run": self.epochs_run,
            "seconds": self.seconds,
        }
        if self.error:
            found["error"] = self.error
        if self.retry_of is not None:
            found["retry_of"] = self.retry_of
        return found


class Study:
    """A search's folder and its trials (create with :func:`nntune.tune`).

    Attributes:
        folder: the study folder.
        name: the study's name in its storage.
        space: the search space (fixed and searched settings).
        meta: the strategy, seed, pruner and storage the study was created with.
    """

    def __init__(
        self, folder: Path, meta: dict[str, Any], storage: str | None = None
    ) -> None:
        self.folder = folder
        self.meta = meta
        self.name = str(meta["name"])
        self.space = Space.from_mapping(
            meta["space"]["space"], meta["space"]["base"], str(folder / STUDY_FILE)
        )
        where = storage or meta.get("storage") or str(folder)
        if "***" in where:
            raise ValueError(
                f"the study {folder} lives in {where}, whose password is not stored; "
                "give the URL again with --storage (or storage=)."
            )
        self.storage_url = where
        self._storage = open_storage(where)
        import optuna

        self.sampler = preset_sampler()
        try:
            self.optuna = optuna.load_study(
                study_name=self.name, storage=self._storage, sampler=self.sampler
            )
        except KeyError:
            raise ValueError(
                f"the storage {redact(where)} has no study named {self.name!r}; was "
                f"{folder} moved to another database?"
            ) from None

    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial, in the order they were started."""
        return [self._record(trial) for trial in self.optuna.get_trials(deepcopy=False)]

    @property
    def best(self) -> TrialRecord:
        """The completed trial with the lowest dev error.

        Raises:
            ValueError: when no trial has completed.
        """
        done = [t for t in self.trials if t.state == "complete"]
        if not done:
            raise ValueError(
                f"the study {self.folder} has no completed trial yet; run "
                "`nntune tune` on it first."
            )
        return min(done, key=lambda t: (t.value, t.number))

    def trial(self, number: int) -> TrialRecord:
        """The trial with this number.

        Raises:
            ValueError: for a number the study does not have.
        """
        trials = self.optuna.get_trials(deepcopy=False)
        for trial in trials:
            if trial.number == number:
                return self._record(trial)  # one record, not the whole study's
        raise ValueError(
            f"the study {self.folder} has no trial {number}; it has trials 0 to "
            f"{len(trials) - 1}."
        )

    @property
    def rounds(self) -> list[dict[str, Any]]:
        """Coarse to fine: each round's space and parent (empty for other searches)."""
        rounds = self.optuna.user_attrs.get("rounds", [])
        return list(rounds) if isinstance(rounds, list) else []

    def to_dataframe(self) -> Any:
        """One row per trial: number, state, dev error, each setting, metrics.

        Needs pandas (``pip install 'nntune[data]'``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ValueError(
                "to_dataframe needs pandas; install it: pip install 'nntune[data]'."
            ) from None
        rows = []
        for record in self.trials:
            row: dict[str, Any] = {
                "number": record.number,
                "state": record.state,
                "dev_error": record.value,
                "round": record.round,
                "seconds": record.seconds,
            }
            row.update({f"params_{k}": v for k, v in record.params.items()})
            for part in ("train", "dev"):
                for key in ("cost", "accuracy"):
                    value = getattr(record, part).get(key)
                    if value is not None:
                        row[f"{part}_{key}"] = value
            rows.append(row)
        return pd.DataFrame(rows)

    def _record(self, trial: Any) -> TrialRecord:
        run = trial.user_attrs.get(RUN_ATTR, {})
        result = trial.user_attrs.get(RESULT_ATTR, {})
        state = trial.state.name.lower()
        if state == "fail":
            state = "interrupted" if result.get("interrupted") else "failed"
        elif state == "waiting":
            state = "running"
        params = dict(trial.params)
        return TrialRecord(
            number=trial.number,
            state=state,
            params=params,
            settings=self.space.settings(params),
            value=trial.value if trial.values else None,
            train=dict(result.get("train", {})),
            dev=dict(result.get("dev", {})),
            curve=list(result.get("curve", [])),
            history=dict(result.get("history", {})),
            round=int(run.get("round", 0)),
            seconds=result.get("seconds"),
            epochs_run=result.get("epochs_run"),
            error=result.get("error"),
            retry_of=run.get("retry_of"),
        )

    def recover(self) -> list[TrialRecord]:
        """Mark the running trials whose process is gone as interrupted.

        A trial runs on ``host`` in process ``pid`` and beats every few seconds; it
        is lost when its host is this machine and the process is gone (or is not
        the one that started it), or when its heartbeat is older than
        :data:`STALE_SECONDS`. Returns the trials marked.
        """
        import optuna

        lost = []
        now = time.time()
        for trial in self.optuna.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
        ):
            owner = trial.user_attrs.get(RUN_ATTR, {}).get("owner", {})
            beat = float(trial.user_attrs.get(HEARTBEAT_ATTR, 0.0))
            if owner.get("host") == socket.gethostname():
                gone = not _alive(owner.get("pid"), owner.get("token"))
            else:
                gone = now - beat > STALE_SECONDS
            if gone:
                handle = optuna.trial.Trial(self.optuna, trial._trial_id)
                handle.set_user_attr(
                    RESULT_ATTR,
                    {"interrupted": True, "error": "its process ended mid-trial"},
                )
                self.optuna.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                lost.append(self.trial(trial.number))
        return lost


def owner() -> dict[str, Any]:
    """Who runs a trial: this host, this process and its start token."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "token": _token()}


def _token(pid: int | None = None) -> str:
    """The process's start time (tells a reused pid from the original)."""
    try:
        stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: Any, token: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid() and (not token or _token(pid) == token)


def _study_meta(folder: Path) -> dict[str, Any] | None:
    path = folder / STUDY_FILE
    if not path.exists():
        return None
    meta = read_json(path, "JSON (an nntune study)")
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an nntune study file.")
    return meta


def open_study(folder: str | Path, storage: str | None = None) -> Study:
    """Open an existing study folder (to report on it, or retrain its best trial).

    Raises:
        ValueError: when the folder holds no study.
    """
    path = Path(folder)
    meta = _study_meta(path)
    if meta is None:
        raise ValueError(
            f"{path} is not a study folder (it has no {STUDY_FILE}); `nntune tune "
            "SPACE.toml --out FOLDER` creates one."
        )
    return Study(path, meta, storage)


def create_or_continue(
    folder: Path, space: Space, options: dict[str, Any], storage: str | None
) -> Study:
    """The study in ``folder``: created, or continued when it is the same search.

    Raises:
        ValueError: when the folder holds a study of another space or strategy, or
            a folder that is not a study.
    """
    meta = _study_meta(folder)
    # As JSON holds it (tuples become lists), to compare with the stored study.
    wanted = json.loads(json.dumps({"space": space.to_dict(), **options}))
    if meta is not None:
        differs = [k for k, v in wanted.items() if meta.get(k) != v]
        if differs:
            raise ValueError(
                f"{folder} holds a study with another {', '.join(differs)}; continue "
                "it with the same space file and options (--trials may grow), or "
                "choose a new folder with --out."
            )
        return Study(folder, meta, storage)
    if folder.exists() and any(
        entry.name not in (JOURNAL, JOURNAL + ".lock") for entry in folder.iterdir()
    ):
        raise ValueError(
            f"{folder} is not empty and holds no study; choose a new or empty folder "
            "with --out."
        )
    import optuna

    folder.mkdir(parents=True, exist_ok=True)
    name = folder.resolve().name
    where = storage or str(folder)
    stored = optuna.create_study(
        study_name=name, storage=open_storage(where), load_if_exists=True
    )
    theirs = stored.user_attrs.get("nntune")
    if theirs is not None or stored.trials:
        # A study of this name is already in the storage (another machine's folder
        # of the same name, or another search): join it only if it is this search.
        ours = {k: wanted[k] for k in wanted}
        if not isinstance(theirs, dict) or any(
            theirs.get(k) != v for k, v in ours.items()
        ):
            raise ValueError(
                f"the storage {redact(where)} already has a study named {name!r} "
                "with another space or options; give this study another folder name "
                "(the study's name is the folder's), or the same space and options "
                "to join it."
            )
    meta = {
        "format": _FORMAT,
        "version": 1,
        "name": name,
        "storage": redact(storage) if storage else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **wanted,
    }
    stored.set_user_attr("nntune", {k: v for k, v in meta.items() if k != "storage"})
    atomic_write_text(folder / STUDY_FILE, json.dumps(meta, indent=2) + "\n")
    return Study(folder, meta, storage)


def preset_sampler() -> Any:
    """An Optuna sampler that gives the values it is told (``sampler.values``).

    nntune draws each trial itself (on each setting's own scale, or with a
    model-based sampler over those scales), then asks Optuna for a trial with
    these values, so Optuna stores the settings' own values.
    """
    import optuna

    class Preset(optuna.samplers.BaseSampler):
        values: dict[str, Any] = {}  # noqa: RUF012 - replaced before every ask

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return {}

        def sample_relative(
            self, study: Any, trial: Any, search_space: Any
        ) -> dict[str, Any]:
            return {}

        def sample_independent(
            self, study: Any, trial: Any, param_name: str, distribution: Any
        ) -> Any:
            return self.values[param_name]

    return Preset()
