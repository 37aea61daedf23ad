"""Connecting to a Dask cluster, running batches of named tasks on it, and the worker cache.

``--cluster`` / ``cluster:`` / ``client=`` take

* ``local:K`` -- a :class:`distributed.LocalCluster` of K worker processes, one thread each
  (PyTensor, SuperLU and nutpie's Python callbacks hold the GIL: processes, not threads, give
  parallelism);
* ``tcp://HOST:PORT`` (or ``tls://``, ``ucx://``, ``inproc://``) -- an existing scheduler
  (``dask scheduler`` on a head node, dask-jobqueue, dask-kubernetes; ``docs/scale.md``);
* ``scheduler-file:PATH`` -- the scheduler file that ``dask scheduler --scheduler-file`` or
  dask-mpi write (SLURM).

Fault tolerance is Dask's own: a task whose worker dies is rescheduled on another worker (up to
``distributed.scheduler.allowed-failures`` = :data:`ALLOWED_FAILURES` times), and a task that
raises an unexpected exception is retried ``retries`` times (:func:`run_batch`).  Failures that
retrying cannot cure (:class:`~bayes_sdm.errors.InputError`,
:class:`~bayes_sdm.errors.NumericalError`) are returned as :class:`Failed` records by name, so
one failed fit never loses the others' results.

Every worker keeps a process-local cache (:func:`worker_cached`): a compiled sampler, a
prepared design or a log-determinant is built once per worker and reused by every later task
that asks for the same key.  Nothing here imports Dask until a cluster is used.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import DiagnosticsFailed, InputError, NumericalError
from ..spec import check_cluster

#: times a task may lose its worker before the scheduler gives up on it (Dask's
#: ``distributed.scheduler.allowed-failures``)
ALLOWED_FAILURES = 3
#: default retries of a task that raised an unexpected exception
RETRIES = 2


def dask_config() -> dict:
    """The Dask settings bayes_sdm runs under (set while a client is open).

    Work stealing stays on (the default); ``allowed-failures`` bounds the reschedules of a task
    whose worker died; worker memory management only terminates (no spilling of our small
    results, no pausing), so that a worker's memory limit is a hard bound (see the tests).
    """
    return {
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": 0.95,
        "distributed.worker.daemon": False,
    }


@contextmanager
def connect(cluster, *, memory_limit: str | int | None = None, quiet: bool = False,
            local_directory: str | None = None):
    """A :class:`distributed.Client` for ``cluster`` (module docstring), closed on exit.

    ``cluster`` may also be an open ``Client`` (yielded as is and left open).
    ``memory_limit``: each local worker's limit (``LocalCluster``'s; ignored for a remote
    scheduler).  Prints the dashboard link unless ``quiet``.

    Raises
    ------
    InputError
        a malformed address, Dask not installed, or a scheduler that cannot be reached.
    """
    if _is_client(cluster):
        yield cluster
        return
    kind, where = parse_cluster(cluster)
    dask, distributed = _import_dask()
    with dask.config.set(dask_config()):
        cl = None
        try:
            if kind == "local":
                cl = distributed.LocalCluster(
                    n_workers=where, threads_per_worker=1, processes=True,
                    memory_limit=memory_limit if memory_limit is not None else "auto",
                    dashboard_address=":0", silence_logs=40,
                    local_directory=local_directory, worker_class=distributed.Nanny)
                client = distributed.Client(cl)
            elif kind == "scheduler-file":
                client = distributed.Client(scheduler_file=where, timeout="30s")
            else:
                client = distributed.Client(where, timeout="30s")
        except OSError as err:
            if cl is not None:
                cl.close()
            raise InputError(f"--cluster {cluster}: cannot reach the scheduler ({err})") from err
        if not quiet:
            link = getattr(client, "dashboard_link", None)
            n = len(client.scheduler_info().get("workers", {}))
            print(f"bayes_sdm: Dask cluster {cluster} ({n} workers)"
                  + (f"; dashboard {link}" if link else ""), file=sys.stderr, flush=True)
        try:
            yield client
        finally:
            client.close()
            if cl is not None:
                cl.close()


def parse_cluster(value) -> tuple[str, int | str]:
    """``local:K`` -> ("local", K); ``tcp://h:p`` -> ("address", "tcp://h:p");
    ``scheduler-file:PATH`` -> ("scheduler-file", PATH).

    Raises
    ------
    InputError
        anything else (the message lists the accepted forms).
    """
    value = check_cluster(value)
    if value.startswith("local:"):
        return "local", int(value.split(":", 1)[1])
    if value.startswith("scheduler-file:"):
        path = value.split(":", 1)[1]
        if not os.path.isfile(path):
            raise InputError(f"--cluster {value}: no scheduler file {path}")
        return "scheduler-file", path
    return "address", value


def _is_client(obj) -> bool:
    return type(obj).__name__ == "Client" and hasattr(obj, "submit")


def _import_dask():
    try:
        import dask
        import distributed
    except ImportError as err:
        raise InputError("--cluster needs Dask: pip install 'bayes_sdm[dask]' (dask and "
                         "distributed)") from err
    return dask, distributed


def n_workers(client) -> int:
    """Workers currently connected to ``client``'s scheduler."""
    return max(1, len(client.scheduler_info().get("workers", {})))


# ----------------------------------------------------------------------------- batches
@dataclass(frozen=True)
class Failed:
    """A task of a batch that failed: its name, the exception's type and message, and the
    traceback (for the log)."""

    name: str
    error: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.error}: {self.message}"


@dataclass
class BatchResult:
    """Results of a batch by name, the failures by name, and the wall time."""

    results: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        s = f"{len(self.results)} of {len(self.results) + len(self.failures)} tasks succeeded"
        if self.failures:
            s += "; failed: " + "; ".join(str(f) for f in self.failures.values())
        return s


def _guarded(fn: Callable, name: str, *args, **kwargs):
    """Run ``fn`` on a worker; a failure that a retry cannot cure comes back as
    :class:`Failed` (anything else raises, so that Dask retries it)."""
    try:
        return fn(*args, **kwargs)
    except (InputError, NumericalError, DiagnosticsFailed) as err:
        return Failed(name, type(err).__name__, str(err), traceback.format_exc())


def run_batch(client, fn: Callable, jobs: Mapping[str, tuple], *, retries: int = RETRIES,
              progress: bool = False, kwargs: Mapping | None = None,
              key_prefix: str = "bayes_sdm") -> BatchResult:
    """Run ``fn(*jobs[name], **kwargs)`` for every name as independent Dask tasks.

    Every job is submitted at once (the scheduler balances them across workers); results are
    gathered as they complete.  A job that raised an error a retry cannot cure, or that still
    failed after ``retries`` retries (or after its worker was lost
    :data:`ALLOWED_FAILURES` times), is reported in ``failures`` by name; the others' results
    are kept.  ``progress`` shows Dask's text progress bar.

    Returns
    -------
    BatchResult
    """
    from distributed import as_completed

    t0 = time.perf_counter()
    kwargs = dict(kwargs or {})
    stamp = f"{os.getpid()}-{time.time_ns()}"
    futures = {}
    for name, args in jobs.items():
        key = f"{key_prefix}-{_safe(name)}-{stamp}"
        futures[client.submit(_guarded, fn, name, *args, key=key, retries=retries,
                              pure=False, **kwargs)] = name
    if progress and futures:
        from distributed import progress as dask_progress

        dask_progress(list(futures), notebook=False, multi=False)
        print(file=sys.stderr, flush=True)
    out = BatchResult()
    for fut in as_completed(list(futures)):
        name = futures[fut]
        if fut.status == "error":
            exc = fut.exception()
            tb = "".join(traceback.format_exception(exc)) if exc is not None else ""
            out.failures[name] = Failed(name, type(exc).__name__, str(exc), tb)
            continue
        res = fut.result()
        if isinstance(res, Failed):
            out.failures[name] = res
        else:
            out.results[name] = res
        fut.release()
    out.wall_s = time.perf_counter() - t0
    # keep the caller's order
    out.results = {n: out.results[n] for n in jobs if n in out.results}
    out.failures = {n: out.failures[n] for n in jobs if n in out.failures}
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "_" for c in str(name))[:80]


# ----------------------------------------------------------------------------- worker cache
_CACHE: dict = {}
_BUILDS: dict = {}
_LOCKS: dict = {}
_GUARD = threading.Lock()


def worker_cached(key, factory: Callable[[], object]):
    """``factory()`` once per process (worker) and ``key``; later calls return the same object.

    Used for what is expensive to build and identical across tasks: a compiled sampler (each
    worker compiles its PyTensor functions once), a prepared design, W.  Thread-safe (a lock per
    key)."""
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _CACHE:
            _CACHE[key] = factory()
            _BUILDS[key] = _BUILDS.get(key, 0) + 1
        return _CACHE[key]


def cache_builds() -> dict:
    """How many times each cached object was built in this process (one per key on a worker
    that has not restarted)."""
    return {str(k): v for k, v in _BUILDS.items()}


def clear_worker_cache() -> None:
    """Forget every cached object of this process."""
    with _GUARD:
        _CACHE.clear()
        _BUILDS.clear()
        _LOCKS.clear()
