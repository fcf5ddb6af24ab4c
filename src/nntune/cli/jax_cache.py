"""JAX's compiled programs, kept on disk between runs of the ``nntune`` command.

A run on ``backend="jax"`` compiles its epoch once (seconds). JAX's persistent
compilation cache lets the next run of the same program (architecture, batch size,
data shape) load it instead, but JAX keeps nothing unless told where. The command
tells it, before anything imports JAX, through JAX's own environment variables
(processes the command starts, such as tuning workers, inherit them): the
directory ``nntune/jax`` in the user's cache directory (``$XDG_CACHE_HOME``, else
``~/.cache``), and a bound of :data:`CACHE_SIZE` bytes (the least recently used
programs go first; JAX needs the ``filelock`` package to bound it). JAX keeps only
programs that took over a second to compile. ``NNTUNE_JAX_CACHE=off`` turns this off;
a ``JAX_COMPILATION_CACHE_DIR`` of your own (even empty) is left as it is. In
Python, set JAX's ``jax_compilation_cache_dir`` yourself.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

__all__ = ["CACHE_SIZE", "describe", "keep_compilations"]

CACHE_SIZE = 512 * 2**20
"""The most bytes of compiled programs the command lets JAX keep (512 MiB)."""

SWITCH = "NNTUNE_JAX_CACHE"
DIRECTORY = "JAX_COMPILATION_CACHE_DIR"
MAX_SIZE = "JAX_COMPILATION_CACHE_MAX_SIZE"
ON = ("", "on", "1", "true", "yes")
OFF = ("off", "0", "false", "no")


def keep_compilations(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Tell JAX to keep compiled programs in nntune's cache directory.

    Args:
        environ: the environment to read and set (the process's by default).

    Returns:
        The directory set, or None when nothing was set: ``NNTUNE_JAX_CACHE`` is
        off, ``JAX_COMPILATION_CACHE_DIR`` is already set (yours is kept), or there
        is no cache directory this user can write (no home directory, a read-only
        one).

    Raises:
        ValueError: for a ``NNTUNE_JAX_CACHE`` that is neither on nor off.

    Example:
        >>> environ = {"XDG_CACHE_HOME": "/tmp"}
        >>> keep_compilations(environ)
        PosixPath('/tmp/nntune/jax')
        >>> environ["JAX_COMPILATION_CACHE_DIR"]
        '/tmp/nntune/jax'
        >>> keep_compilations({"NNTUNE_JAX_CACHE": "off"}) is None
        True
    """
    switch = _switch(environ)
    if switch not in ON + OFF:
        raise ValueError(
            f"{SWITCH} must be on or off; got {environ[SWITCH]!r}. Set it to off "
            f"(or {', '.join(OFF[1:])}) to keep no compiled JAX programs between "
            "runs, or unset it to keep them."
        )
    if switch in OFF or DIRECTORY in environ:
        return None
    directory = _default_directory(environ)
    if directory is None:
        return None
    environ[DIRECTORY] = str(directory)
    if importlib.util.find_spec("filelock") is not None:
        environ.setdefault(MAX_SIZE, str(CACHE_SIZE))
    return directory


def _switch(environ: Mapping[str, str]) -> str:
    """``NNTUNE_JAX_CACHE`` as it is compared: trimmed, lower case ("": unset)."""
    return environ.get(SWITCH, "").strip().lower()


def _default_directory(environ: MutableMapping[str, str]) -> Path | None:
    """``nntune/jax`` in the user's cache directory, if this user can create it."""
    base = Path(environ.get("XDG_CACHE_HOME", ""))
    if not base.is_absolute():  # unset, or relative: ignored, as XDG says
        try:
            base = Path.home() / ".cache"
        except RuntimeError:  # no home directory (an unnamed user in a container)
            return None
    directory = base / "nntune" / "jax"
    # JAX creates it when it first writes: the nearest existing folder must let us.
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return None
    return directory


def describe(chosen: Path | None) -> dict[str, Any] | None:
    """What JAX keeps between runs, as ``nntune info`` reports it.

    Args:
        chosen: what :func:`keep_compilations` returned in this process.

    Returns:
        None without JAX; else ``dir`` (None when JAX keeps nothing), ``set_by``
        (``"nntune"`` or ``"you"``), ``programs`` and ``bytes`` (of the programs),
        and ``reason`` when it keeps nothing.
    """
    if importlib.util.find_spec("jax") is None:
        return None
    import jax

    config: Any = jax.config  # its options are attributes it makes at run time
    where = config.jax_compilation_cache_dir
    enabled = config.jax_enable_compilation_cache
    reason = None
    if not enabled:
        reason = "JAX_ENABLE_COMPILATION_CACHE is off"
    elif config.jax_compilation_cache_max_size == 0:
        reason = f"{MAX_SIZE} is 0"
    elif not where:
        off = _switch(os.environ) in OFF
        reason = f"{SWITCH}=off" if off else "no cache directory JAX may write"
    if reason is not None:
        return {"dir": None, "reason": reason}
    directory = Path(where).absolute()
    programs = total = 0
    try:
        for entry in directory.iterdir() if directory.is_dir() else ():
            if entry.name.endswith("-cache"):
                programs, total = programs + 1, total + entry.stat().st_size
    except OSError:  # unreadable, or an entry evicted while we looked
        pass
    return {
        "dir": str(directory),
        "set_by": "nntune" if chosen is not None else "you",
        "programs": programs,
        "bytes": total,
    }
