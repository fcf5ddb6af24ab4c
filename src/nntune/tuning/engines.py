"""Where trials run: in this process, in local worker processes, or on Ray.

Every engine takes :class:`~nntune.tuning.worker.TrialSpec` and gives back a
:class:`concurrent.futures.Future` of a :class:`~nntune.tuning.worker.TrialOutcome`;
the search (:mod:`nntune.tuning.search`) alone reads and writes the study.

- :class:`InlineEngine`: one trial at a time in this process (``workers=1``).
- :class:`LocalEngine` ("caviar" on one machine): ``workers`` processes forked after
  the data were prepared, so they share them; each pins its BLAS threads to
  ``cores // workers`` so the workers do not oversubscribe the CPU, and dies with
  the search (a killed search leaves no orphan training on). A trial whose worker
  dies (killed, out of memory) is run again in new workers, with the trials that
  were running beside it (a dead worker breaks the whole process pool).
- :class:`RayEngine`: trials as Ray tasks on a cluster (``address="auto"`` or
  ``HOST:PORT``; none starts a local one). Ray reuses warm worker processes; the
  prepared data go into Ray's object store once; a task whose worker dies is
  retried by Ray (``max_retries``). Ray is imported only here.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_module
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..experiment.trial import PreparedData
from .worker import TrialOutcome, TrialSpec, run_population, run_trial

__all__ = ["ENGINES", "InlineEngine", "LocalEngine", "RayEngine", "available_cores"]

ENGINES = ("local", "ray")

EpochReport = Callable[[int, int, int], None]


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class InlineEngine:
    """Run each trial in this process, one at a time."""

    workers = 1

    def __init__(self, data: PreparedData, on_epoch: EpochReport | None = None):
        self._data, self._on_epoch = data, on_epoch

    def submit(self, spec: TrialSpec) -> Future[TrialOutcome]:
        future: Future[TrialOutcome] = Future()
        future.set_result(run_trial(spec, self._data, self._on_epoch))
        return future

    def poll(self) -> None:
        """Nothing to poll: progress is reported as it happens."""

    def close(self) -> None:
        """Nothing to close."""


class PopulationEngine:
    """Run trials in this process, up to ``size`` at once as one population.

    The search starts ``size`` trials; they train together at the next poll
    (:func:`~nntune.tuning.worker.run_population`): those that share an
    architecture as one batched pass, the others one by one.
    """

    def __init__(
        self, data: PreparedData, size: int, on_epoch: EpochReport | None = None
    ):
        self._data, self._on_epoch, self.workers = data, on_epoch, size
        self._queued: list[tuple[TrialSpec, Future[TrialOutcome]]] = []

    def submit(self, spec: TrialSpec) -> Future[TrialOutcome]:
        future: Future[TrialOutcome] = Future()
        self._queued.append((spec, future))
        return future

    def poll(self) -> None:
        """Train the trials started since the last poll."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        outcomes = run_population([s for s, _ in queued], self._data, self._on_epoch)
        for (_, future), outcome in zip(queued, outcomes, strict=True):
            future.set_result(outcome)

    def close(self) -> None:
        """Nothing to close (a trial still queued is interrupted by the search)."""
        self._queued = []


_WORKER_DATA: PreparedData | None = None
_WORKER_QUEUE: Any = None


def _init_worker(threads: int, data: PreparedData, progress: Any) -> None:
    global _WORKER_DATA, _WORKER_QUEUE
    _die_with_parent()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    _WORKER_DATA, _WORKER_QUEUE = data, progress


def _die_with_parent() -> None:
    """Linux: end this worker when the search process ends (even by SIGKILL)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    # Ctrl-C goes to the whole process group: the search handles it, not workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _report_epoch(number: int, epoch: int, epochs: int) -> None:
    if _WORKER_QUEUE is not None:
        with contextlib.suppress(Exception):
            _WORKER_QUEUE.put_nowait((number, epoch, epochs))


_BEFORE_TRIAL: Callable[[TrialSpec], None] | None = None
"""A test seam: called in the worker before each trial (e.g. to kill the worker)."""


def _run_in_worker(spec: TrialSpec) -> TrialOutcome:
    if _BEFORE_TRIAL is not None:
        _BEFORE_TRIAL(spec)
    return run_trial(spec, _WORKER_DATA, _report_epoch)


@contextlib.contextmanager
def _forking() -> Iterator[None]:
    """Fork workers without JAX's warning about forking its threads.

    JAX (loaded by an earlier ``backend="jax"`` run in this process) warns at every
    fork that a child using JAX could deadlock. The workers train on NumPy: a
    search whose trials use JAX is refused local workers (:func:`tune`).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning
        )
        yield


class LocalEngine:
    """Trials in ``workers`` local processes sharing the prepared data.

    Args:
        data: the prepared data (forked into every worker, not copied).
        workers: how many processes (>= 1).
        on_epoch: called in this process with ``(number, epoch, epochs)``.
    """

    def __init__(
        self, data: PreparedData, workers: int, on_epoch: EpochReport | None = None
    ) -> None:
        import multiprocessing

        if workers < 1:
            raise ValueError(f"workers must be >= 1; got {workers}.")
        self.workers = workers
        threads = max(1, available_cores() // workers)
        context = multiprocessing.get_context("fork")
        self._progress = context.SimpleQueue() if on_epoch is not None else None
        self._on_epoch = on_epoch
        self._options: dict[str, Any] = {
            "max_workers": workers,
            "mp_context": context,
            "initializer": _init_worker,
            "initargs": (threads, data, self._progress),
        }
        self._pool = ProcessPoolExecutor(**self._options)

    def submit(self, spec: TrialSpec) -> Future[TrialOutcome]:
        with _forking():
            try:
                return self._pool.submit(_run_in_worker, spec)
            except BrokenProcessPool:  # a worker died (killed, out of memory)
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = ProcessPoolExecutor(**self._options)
                return self._pool.submit(_run_in_worker, spec)

    def poll(self) -> None:
        """Pass the workers' epoch reports on to ``on_epoch``."""
        if self._progress is None or self._on_epoch is None:
            return
        with contextlib.suppress(queue_module.Empty, OSError, EOFError):
            while not self._progress.empty():
                self._on_epoch(*self._progress.get())

    def close(self) -> None:
        """Stop the workers (trials still running are abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class RayEngine:
    """Trials as Ray tasks on a Ray cluster.

    Args:
        data: the prepared data, put into Ray's object store once.
        address: ``"auto"`` (the cluster this machine belongs to), ``HOST:PORT``, or
            None to start a local Ray for this search.
        workers: trials running at once (default: the cluster's CPUs).
        retries: how often Ray reruns a trial whose worker died.
    """

    def __init__(
        self,
        data: PreparedData,
        address: str | None = None,
        workers: int | None = None,
        retries: int = 2,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError(
                "--engine ray needs Ray, which is not installed; install the extra: "
                "pip install 'nntune[ray]'."
            ) from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            try:
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except ConnectionError as error:
                raise ValueError(
                    f"cannot reach the Ray cluster at {address!r}: {error}. Start it "
                    "with `ray start --head`, or leave --address out for a local Ray."
                ) from None
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        cpus = int(resources.get("CPU", 1))
        self.workers = workers or max(1, cpus)
        self._data = ray.put(data)
        self._task = ray.remote(num_cpus=1, max_retries=retries)(_ray_trial)

    def submit(self, spec: TrialSpec) -> Future[TrialOutcome]:
        future: Future[TrialOutcome] = self._task.remote(spec, self._data).future()
        return future

    def poll(self) -> None:
        """Nothing to poll: Ray trials report when they finish."""

    def close(self) -> None:
        """Disconnect from Ray (and stop it when this search started it)."""
        if self._started:
            self._ray.shutdown()


def _ray_trial(spec: TrialSpec, data: PreparedData) -> TrialOutcome:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return run_trial(spec, data)
