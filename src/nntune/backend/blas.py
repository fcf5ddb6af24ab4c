"""The BLAS under NumPy: which library, kernels and threads; whether it is held back.

NumPy's matrix products run in a BLAS library (OpenBLAS in the PyPI wheels). OpenBLAS
picks kernels for the CPU it finds, unless ``OPENBLAS_CORETYPE`` names a CPU: on a
CPU with AVX-512, ``OPENBLAS_CORETYPE=Haswell`` holds it to its AVX2 kernels, which
made nntune's float32 training 1.4-1.7x slower on matrix-heavy runs. Too many BLAS
threads for the cores (several processes each using every core) made ``fit`` 8x
slower on a loaded 2-core machine. :func:`blas_report` finds both and says what to do.

Example:
    >>> notes = blas_notes(
    ...     [{"internal_api": "openblas", "architecture": "Haswell", "num_threads": 1}],
    ...     cpu_flags={"avx2", "avx512f"}, cores=4, coretype="Haswell")
    >>> print(notes[0])  # doctest: +ELLIPSIS
    OpenBLAS runs its Haswell kernels on a CPU with AVX-512 (OPENBLAS_CORETYPE=...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SMALL_PRODUCT", "blas_notes", "blas_report", "blas_threads", "cpu_flags"]

_AVX512_KERNELS = ("skylakex", "cooperlake", "sapphirerapids", "zen4", "zen5")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def blas_notes(
    pools: Sequence[Mapping[str, Any]],
    *,
    cpu_flags: Iterable[str],
    cores: int,
    coretype: str | None,
) -> list[str]:
    """What holds the BLAS back, each with what to do (empty: nothing)."""
    flags = set(cpu_flags)
    notes = []
    for pool in pools:
        architecture = str(pool.get("architecture") or "")
        if (
            pool.get("internal_api") == "openblas"
            and "avx512f" in flags
            and architecture
            and architecture.lower() not in _AVX512_KERNELS
        ):
            why = f" (OPENBLAS_CORETYPE={coretype})" if coretype else ""
            notes.append(
                f"OpenBLAS runs its {architecture} kernels on a CPU with AVX-512{why}: "
                "matrix products could run about 1.4-1.7x faster; unset "
                "OPENBLAS_CORETYPE (or set it to SkylakeX) before starting Python."
            )
        threads = int(pool.get("num_threads") or 1)
        if threads > cores:
            notes.append(
                f"{pool.get('internal_api')} uses {threads} threads on {cores} cores: "
                "set OMP_NUM_THREADS (or OPENBLAS_NUM_THREADS) to at most the cores."
            )
    return notes


def blas_report() -> dict[str, Any]:
    """The BLAS libraries loaded by NumPy, the CPU, and :func:`blas_notes`."""
    import numpy  # noqa: F401 - loads the BLAS that threadpoolctl then finds
    from threadpoolctl import threadpool_info

    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    flags = cpu_flags()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    keep = ("internal_api", "version", "num_threads", "architecture", "filepath")
    return {
        "blas": [{key: pool.get(key) for key in keep} for pool in pools],
        "cores": cores,
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "OPENBLAS_CORETYPE": coretype,
        "notes": blas_notes(pools, cpu_flags=flags, cores=cores, coretype=coretype),
    }


SMALL_PRODUCT = 1 << 22
"""Multiply-adds of a training step's largest matrix product below which the
BLAS runs on one thread (:func:`blas_threads`): such a product takes tens of
microseconds, and more threads gain little on it while they lose much when other
processes hold the cores."""

_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)


def blas_threads(largest_product: int) -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread while products of at most ``largest_product`` run.

    A training step of a small network spends microseconds in each matrix product,
    and several BLAS threads then gain nothing; worse, on a machine whose cores are
    busy (other processes, parallel searches) the threads wait on each other, and
    such a ``fit`` was measured 8-11x slower than on one thread. Products of
    :data:`SMALL_PRODUCT` multiply-adds or more keep the BLAS's threads, and so
    does a process whose thread count the user set (``OPENBLAS_NUM_THREADS``,
    ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``BLIS_NUM_THREADS``).

    Example:
        >>> with blas_threads(64 * 20 * 7):  # the course's network: one thread
        ...     pass
    """
    if largest_product >= SMALL_PRODUCT or any(
        os.environ.get(name) for name in _THREAD_VARIABLES
    ):
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it, the BLAS as it is
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(
        limits=1, user_api="blas"
    )
    return limits
