"""keep_freed_memory: a step's few-hundred-kilobyte temporaries stop faulting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nntune.backend.allocator import keep_freed_memory

CHURN = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from nntune.backend.allocator import keep_freed_memory
    keep_freed_memory()
def churn():  # three (64, 20, 64) float32 arrays a step: 320 KiB each
    for _ in range(200):
        a = np.ones((64, 20, 64), np.float32)
        b = a * 2
        c = b + a
        del a, b, c
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str, **environment: str) -> int:
    found = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **environment},
    )
    return int(found.stdout)


@pytest.mark.skipif(not keep_freed_memory(), reason="malloc is not glibc's")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    # Without it glibc hands the arrays back every step and faults them in again.
    assert page_faults("default") > 10_000
    assert page_faults("keep") < 200


@pytest.mark.skipif(not keep_freed_memory(), reason="malloc is not glibc's")
def test_the_environment_can_leave_malloc_alone():
    assert page_faults("keep", NNTUNE_KEEP_FREED_MEMORY="0") > 10_000


def test_it_is_set_once_per_process(monkeypatch):
    from nntune.backend import allocator

    calls = []
    library = _Library(calls)
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: library)
    monkeypatch.delenv(allocator.ENVIRONMENT, raising=False)
    keep_freed_memory.cache_clear()
    try:
        first, second = keep_freed_memory(), keep_freed_memory()
    finally:
        keep_freed_memory.cache_clear()
    assert first
    assert second
    assert calls == [(-3, allocator.MMAP_THRESHOLD), (-1, allocator.TRIM_THRESHOLD)]


class _Mallopt:
    """A stand-in for the C function: records its calls (argtypes are set on it)."""

    def __init__(self, calls):
        self.calls = calls

    def __call__(self, option, value):
        self.calls.append((option, value))
        return 1


class _Library:
    def __init__(self, calls):
        self.mallopt = _Mallopt(calls)

    def gnu_get_libc_version(self):
        return b"2.36"
