"""The C allocator under NumPy: keep freed memory for the next step to reuse.

NumPy gets each array's memory from ``malloc``. glibc's ``malloc`` gives memory
back to the system when more than a threshold is free at the top of its heap, and
serves large blocks with ``mmap`` (each page faulted in on first touch, then
unmapped when freed). Both thresholds start at 128 KiB and rise on their own only
once a large block has been freed. A training step that makes and frees arrays of a
few hundred kilobytes (a population of 64 small nets: ``(64, 20, 64)`` float32
activations) keeps crossing them: every step its memory is returned and faulted in
again, about 170 page faults a step and a third of its time spent in the kernel.

:func:`keep_freed_memory` sets the thresholds where glibc's own adjustment would
take them after a large array has been freed (a block served by ``mmap`` from 32
MiB, freed memory kept up to 64 MiB), once per process. A NumPy population calls
it. The setting is the process's from then on: glibc's adaptive thresholds are off,
and up to 64 MiB of freed memory per arena stays with the process. It does nothing
where ``malloc`` is not glibc's, or when the environment sets
``NNTUNE_KEEP_FREED_MEMORY=0`` (then glibc's defaults are left alone).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

__all__ = ["ENVIRONMENT", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

ENVIRONMENT = "NNTUNE_KEEP_FREED_MEMORY"
"""Set to 0 to leave glibc's ``malloc`` settings alone."""

MMAP_THRESHOLD = 32 << 20
"""Blocks from this size are served by ``mmap`` (glibc's adaptive maximum)."""

TRIM_THRESHOLD = 64 << 20
"""Free memory at the top of the heap kept for reuse (twice the mmap threshold, as
glibc's adjustment sets it)."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's ``malloc`` thresholds once (see the module); whether it was set.

    Example:
        >>> keep_freed_memory() in (True, False)  # False where malloc is not glibc's
        True
    """
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get(ENVIRONMENT, "1").strip() in ("0", "false", "no", "off"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: its C library's
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl has no such call)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(done and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
