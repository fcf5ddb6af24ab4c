"""Atomic file writes: a reader sees the old files or the new ones, never a mix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _stage(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Replace several files together: all new, or (on an error) all as they were.

    Every file is staged as a temporary file in its folder first; then each is renamed
    into place, keeping a hard link to the file it replaces so that a failure in a
    later rename puts the earlier ones back.
    """
    staged: dict[Path, Path] = {}
    backups: dict[Path, Path | None] = {}
    try:
        for target, data in files.items():
            staged[Path(target)] = _stage(Path(target), data)
        for target, temporary in staged.items():
            backups[target] = None
            if target.exists():
                backup = target.with_name(f".{target.name}.previous")
                backup.unlink(missing_ok=True)
                os.link(target, backup)
                backups[target] = backup
            os.replace(temporary, target)
    except BaseException:
        for target, previous in backups.items():
            if previous is not None:
                os.replace(previous, target)
            elif not staged[target].exists():
                target.unlink(missing_ok=True)  # it was new, and already renamed
        raise
    finally:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
        for previous in backups.values():
            if previous is not None:
                previous.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in its folder and a rename."""
    atomic_write_files({Path(path): data})


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
