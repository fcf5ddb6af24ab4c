"""Where studies live: Optuna's storage, with an embedded default safe for workers.

The default is Optuna's journal file (``study.journal`` in the study folder): no
server, appends under a lock, and safe with several processes on one machine. Two
things make it safe to kill as well (Optuna's own file lock is a symlink that a
killed process leaves behind, and a write cut short would leave half a line that
every later read refuses):

- appends take ``flock`` on ``study.journal.lock``, which the kernel releases when
  the process holding it dies, however it dies;
- whoever takes the lock first cuts a torn last line (a write cut short by a kill;
  writes happen only under the lock, so its writer is dead).

Measured with 8 processes each running 25 trials against one store
(``benchmarks/study_storage.py``; the numbers are in docs/tuning.md): this journal
and SQLite in WAL mode with a 60-second busy timeout both had 0 "database is locked"
failures, SQLite in its default mode had failures; the journal needs no database
driver and is the default.

Any SQLAlchemy URL (``postgresql://user@host/db``, ``sqlite:///study.db``) uses
Optuna's relational storage, for studies shared by several machines.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["JOURNAL", "open_storage", "redact"]

JOURNAL = "study.journal"
"""The file name of the embedded store in a study folder."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ValueError(
            "tuning stores its studies with Optuna, which is not installed; install "
            "the extra: pip install 'nntune[tune]'."
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class _Flock:
    """``flock`` on ``<journal>.lock``: the kernel releases it when its holder dies."""

    def __init__(self, journal: Path) -> None:
        self._path = journal.with_name(journal.name + ".lock")

    def __enter__(self) -> None:
        self._handle = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX)
        except BaseException:
            os.close(self._handle)
            raise

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        os.close(self._handle)


def _cut_torn_tail(journal: Path) -> None:
    try:
        handle = open(journal, "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Find the last complete line; everything after it is a torn write.
        position = size
        keep = 0
        while position > 0:
            start = max(0, position - 65536)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def _journal_storage(path: Path) -> Any:
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend

    class KillSafeJournal(JournalFileBackend):
        """Optuna's journal file, appended under ``flock``, torn tails cut first."""

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            lines = [json.dumps(log, separators=(",", ":")) + "\n" for log in logs]
            text = "".join(lines)
            with _Flock(path):
                _cut_torn_tail(path)
                with open(path, "ab") as handle:
                    handle.write(text.encode())
                    handle.flush()
                    os.fsync(handle.fileno())

    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(KillSafeJournal(str(path)))


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_storage(storage: str | Path) -> Any:
    """An Optuna storage for a study folder (the journal) or a database URL.

    Args:
        storage: a study folder (its ``study.journal`` is used), a path ending in
            ``.journal``, or a SQLAlchemy URL such as ``postgresql://host/db`` or
            ``sqlite:///study.db`` (SQLite in WAL mode with a busy timeout).

    Raises:
        ValueError: when Optuna (or the database driver) is missing, or the database
            cannot be reached.
    """
    text = str(storage)
    if "://" not in text:
        path = Path(text)
        return _journal_storage(path if path.suffix == ".journal" else path / JOURNAL)
    optuna = _optuna()
    text = _with_installed_driver(text)
    engine: dict[str, Any] = {"pool_pre_ping": True}
    if text.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}
    try:
        rdb = optuna.storages.RDBStorage(text, engine_kwargs=engine)
    except ImportError as error:
        raise ValueError(
            f"the storage {redact(text)} needs a database driver that is not "
            f"installed ({error}); for PostgreSQL: pip install 'nntune[postgres]'."
        ) from None
    except Exception as error:  # SQLAlchemy's OperationalError and friends
        raise ValueError(
            f"cannot open the study storage {redact(text)}: "
            f"{str(error).splitlines()[0]}. Check the URL, that the server runs and "
            "that the database exists."
        ) from None
    if text.startswith("sqlite"):
        import sqlalchemy

        sqlalchemy.event.listen(rdb.engine, "connect", _sqlite_wal)
        rdb.engine.dispose()  # reconnect with WAL on
    return rdb


def _with_installed_driver(url: str) -> str:
    """``postgresql://`` with the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads a plain ``postgresql://`` as psycopg (version 3); the
    ``postgres`` extra installs psycopg2, so name it when psycopg is missing.
    """
    import importlib.util

    if not url.startswith(("postgresql://", "postgres://")):
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        return url  # RDBStorage then says which driver is missing
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def redact(url: str) -> str:
    """``url`` with its password hidden (for messages and files)."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:  # not a URL SQLAlchemy parses: hide everything after ://
        scheme = url.split("://", 1)[0]
        return f"{scheme}://***"
