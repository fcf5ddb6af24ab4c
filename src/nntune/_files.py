"""Atomic file writes: a reader sees the old files or the new ones, never a mix.

A write stages each file as a temporary file in its folder (``.NAME.XXXXXXXX``), then
renames it into place. A group of files (a checkpoint's weights and document, a
model's weights and config) is committed by a journal: written before the renames,
deleted after them. A process killed part-way leaves those names behind, and
:func:`recover` (run when a run folder is opened) rolls an uncommitted group back and
cleans up a committed one, so a group is always found matching: all old or all new.

Files get the permissions ``open()`` would give them (``0o666`` less the umask), not
the private ``0o600`` of a temporary file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_STEP_HOOK: Callable[[str], None] | None = None
"""Called with the name of each step of a write; tests use it to kill a process."""

TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<tag>[a-z0-9_]{8}|previous|journal)$")
"""The names an interrupted write leaves: a staged file, an old version, a journal."""


def _step(name: str) -> None:
    if _STEP_HOOK is not None:
        _STEP_HOOK(name)


def _mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _stage(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _mode())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _step("staged")
    return Path(temporary)


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Replace several files of one folder together: all new, or all as they were.

    One file is staged and renamed into place (a rename is atomic). A group is
    staged first; then a journal (``.FIRST.journal``) records which targets existed,
    each target is renamed into place keeping a hard link to the file it replaces,
    and deleting the journal commits the group. An error rolls the renames back;
    a kill is rolled back (journal present) or completed (journal gone) by
    :func:`recover`.

    Raises:
        ValueError: for a group whose files are not in one folder.
    """
    targets = {Path(target): data for target, data in files.items()}
    if len(targets) == 1:
        ((target, data),) = targets.items()
        temporary = _stage(target, data)
        try:
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        _step("replaced")
        return
    folders = {target.parent for target in targets}
    if len(folders) != 1:
        names = sorted(map(str, targets))
        raise ValueError(f"files written together must share a folder; got {names}.")
    staged: dict[Path, Path] = {}
    backups: dict[Path, Path | None] = {}
    first = next(iter(targets))
    journal = first.with_name(f".{first.name}.journal")
    journal_file: Path | None = None
    try:
        for target, data in targets.items():
            staged[target] = _stage(target, data)
        record = {
            "existed": [t.name for t in targets if t.exists()],
            "new": [t.name for t in targets if not t.exists()],
        }
        journal_file = _stage(journal, json.dumps(record).encode())
        os.replace(journal_file, journal)
        _step("journaled")
        for target, temporary in staged.items():
            backups[target] = None
            if target.exists():
                backup = target.with_name(f".{target.name}.previous")
                backup.unlink(missing_ok=True)
                os.link(target, backup)
                backups[target] = backup
                _step("linked")
            os.replace(temporary, target)
            _step("replaced")
        journal.unlink()  # the commit: from here on the new group stands
        _step("committed")
    except BaseException:
        for target, previous in backups.items():
            if previous is not None:
                # A rename onto another link of the same file does nothing (POSIX):
                # the backup is then removed by hand.
                os.replace(previous, target)
                previous.unlink(missing_ok=True)
            elif not staged[target].exists():
                target.unlink(missing_ok=True)  # it was new, and already renamed
        journal.unlink(missing_ok=True)
        raise
    finally:
        leftovers = [*staged.values(), *([journal_file] if journal_file else [])]
        for temporary in leftovers:
            temporary.unlink(missing_ok=True)
    for previous in backups.values():
        if previous is not None:
            previous.unlink(missing_ok=True)
            _step("cleaned")


def recover(folder: str | os.PathLike[str]) -> list[str]:
    """Finish what a killed write left in ``folder``; return what was done.

    A journal left behind means a group write was cut off before its commit: every
    target is put back as it was (its ``.NAME.previous`` restored, a file that did
    not exist before removed). Without a journal the group was committed, and old
    versions left behind are deleted. Staged temporary files are always deleted.
    """
    done: list[str] = []
    path = Path(folder)
    if not path.is_dir():
        return done
    entries = [e for e in sorted(path.iterdir()) if e.is_file() and not e.is_symlink()]
    journals = [
        e for e in entries if (m := TEMPORARY.match(e.name)) and m["tag"] == "journal"
    ]
    restore: set[str] = set()
    for journal in journals:
        try:
            record = json.loads(journal.read_text("utf-8"))
            existed, new = list(record["existed"]), list(record["new"])
        except (OSError, ValueError, KeyError, TypeError):
            existed, new = [], []
        restore.update(str(name) for name in existed)
        for name in new:
            target = path / Path(str(name)).name
            if target.is_file():
                target.unlink()
                done.append(f"removed {target.name}, written by an interrupted write")
        journal.unlink(missing_ok=True)
    for entry in entries:
        match = TEMPORARY.match(entry.name)
        if match is None or match["tag"] == "journal" or not entry.exists():
            continue
        target = entry.with_name(match["name"])
        if match["tag"] == "previous" and match["name"] in restore:
            os.replace(entry, target)
            entry.unlink(missing_ok=True)  # still there if it was the same file
            done.append(f"restored {target.name} from before an interrupted write")
        else:
            entry.unlink(missing_ok=True)
            done.append(f"removed {entry.name}, left by an interrupted write")
    return done


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in its folder and a rename."""
    atomic_write_files({Path(path): data})


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
"""The largest JSON or TOML file of a run folder read (a config, metrics, history)."""


class UnsafeFileError(ValueError):
    """A file is not a regular file of its folder, or is too large to read."""


def read_regular(
    path: str | os.PathLike[str], limit: int | None = MAX_DOCUMENT_BYTES
) -> bytes:
    """Read ``path`` only if it is a regular file, inside its folder, within ``limit``.

    Run folders are untrusted: a device (``/dev/zero``) would be read forever, a FIFO
    would block, and a symbolic link could point anywhere. The size is checked
    before a byte is read.

    Raises:
        FileNotFoundError: when the file does not exist.
        UnsafeFileError: for a device, FIFO, folder, a link out of the folder, or a
            file larger than ``limit`` bytes.
    """
    source = Path(path)
    folder = source.parent.resolve()
    resolved = source.resolve()
    if resolved.parent != folder and folder not in resolved.parents:
        raise UnsafeFileError(
            f"{source} links outside its folder (to {resolved}); run folders are read "
            "only through their own files. Copy the file in instead of linking it."
        )
    status = os.stat(resolved)
    if not stat.S_ISREG(status.st_mode):
        raise UnsafeFileError(
            f"{source} is not a regular file (a device, FIFO or folder); nntune reads "
            "only regular files from a run folder."
        )
    if limit is not None and status.st_size > limit:
        raise UnsafeFileError(
            f"{source} is {status.st_size} bytes, more than the {limit} a run file may "
            "have; it is not a file nntune wrote."
        )
    with open(resolved, "rb") as file:
        return file.read(status.st_size)  # never more than was checked


def read_json(path: str | os.PathLike[str], what: str = "JSON") -> Any:
    """Parse a run folder's JSON file safely (:func:`read_regular`, bounded nesting).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: (UnsafeFileError or a plain ValueError) for an unsafe file,
            text that is not UTF-8 JSON, nesting too deep or numbers too long.
    """
    data = read_regular(path)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        detail = "nested too deeply" if isinstance(error, RecursionError) else error
        raise ValueError(f"{path} is not valid {what}: {detail}") from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a run folder's TOML file safely (:func:`read_regular`).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for an unsafe file or text that is not UTF-8 TOML.
    """
    import tomllib

    data = read_regular(path)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
