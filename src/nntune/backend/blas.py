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

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["blas_notes", "blas_report", "cpu_flags"]

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
