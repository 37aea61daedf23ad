"""What every command (``fit_region.py``, ``select_model.py``, ``python -m bayes_sdm.sbc``, ...)
shares: the data arguments, the default spec, exit codes, interrupts and output folders.

Exit codes (:mod:`bayes_sdm.errors`): 0 ok; 1 fitted but the diagnostics failed; 2 bad input;
3 a numerical failure or an internal error (one line on stderr, the traceback in a log file);
130 interrupted (SIGINT / SIGTERM).  Never a bare traceback.

Output folders (:class:`RunFolder`): a run writes into a temporary sibling of its ``--out``
folder and swaps it in whole when it has finished, so a folder only ever holds the files of one
finished run; an interrupted or failed run leaves the folder as it was (or absent).  The folder
is checked for writability before any work starts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import traceback
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from .errors import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_NUMERICAL,
    DiagnosticsFailed,
    InputError,
    Interrupted,
    NumericalError,
)
from .spec import DataSpec, ModelSpec

DATA_ARGS = ("unit", "time", "y", "x", "weights")


def default_spec() -> ModelSpec:
    """The seed study's spec, shipped as package data (``bayes_sdm/specs/seed_study.yaml``)."""
    text = resources.files("bayes_sdm").joinpath("specs", "seed_study.yaml")
    with resources.as_file(text) as p:
        return ModelSpec.from_yaml(p)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Data and weights arguments shared by every command."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="bundled dataset name (synthetic_ua, cigar, produc)")
    g.add_argument("--data", help="long table (.csv or .parquet); needs --unit --time --y --x "
                   "--weights (or the same in --spec)")
    g.add_argument("--unit", help="unit id column")
    g.add_argument("--time", help="period column (none: the data are a cross-section, T = 1)")
    g.add_argument("--y", help="dependent variable column")
    g.add_argument("--x", nargs="+", help="regressor columns")
    g.add_argument("--weights", help="W: a .csv/.gal/.gwt/.npz file, economic-distance:COL, "
                   "or knn:K:XCOL,YCOL")
    g.add_argument("--ties", choices=["error", "nearest"],
                   help="economic-distance W: refuse units with equal values (error, default) "
                        "or give them the largest finite weight (nearest)")
    g.add_argument("--no-standardize", action="store_true",
                   help="keep W as given (not allowed with time fixed effects)")
    g.add_argument("--region-col", help="column with each unit's region")
    g.add_argument("--region", help="fit this region alone (W restricted and re-standardised)")


def add_cluster_argument(p: argparse.ArgumentParser) -> None:
    """``--cluster``: run on a Dask cluster (optional extra ``bayes_sdm[dask]``)."""
    p.add_argument("--cluster", metavar="WHERE",
                   help="run on a Dask cluster: local:K (K worker processes here), "
                        "tcp://HOST:PORT (a running scheduler) or scheduler-file:PATH; a "
                        "Parquet --data folder/glob is then read out of core (docs/scale.md)")


@contextmanager
def cluster_session(cluster: str | None, quiet: bool = False):
    """A Dask client for ``--cluster`` / the spec's ``cluster:`` (None: no cluster, and
    nothing imports Dask)."""
    if not cluster:
        yield None
        return
    from .distributed.cluster import connect

    with connect(cluster, quiet=quiet) as client:
        yield client


def load_data(d: DataSpec, client=None, need_regions: bool = False, progress=None):
    """:func:`bayes_sdm.inputs.load_inputs`, or on a cluster a Parquet dataset read out of core
    (:func:`bayes_sdm.distributed.prepare.inputs_on`).

    Raises
    ------
    InputError
        a partitioned Parquet dataset (a folder or glob) without a cluster, and the data checks.
    """
    if client is not None and d.path:
        from .distributed.prepare import inputs_on, reads_out_of_core

        if reads_out_of_core(d):
            return inputs_on(client, d)
    if d.path and client is None:
        from .distributed.parquet import is_parquet_source, is_partitioned

        if is_partitioned(d.path) and is_parquet_source(d.path):
            raise InputError(f"--data {d.path} is a partitioned Parquet dataset: it is read out "
                             "of core on a Dask cluster (--cluster local:K or tcp://HOST:PORT)")
    from .inputs import load_inputs

    return load_inputs(d, need_regions=need_regions, progress=progress)


def apply_data_arguments(spec: ModelSpec, a: argparse.Namespace) -> None:
    """Command-line data options onto the spec's data section.

    Raises
    ------
    InputError
        ``--dataset`` together with ``--data``; a data file without the columns and W it needs.
    """
    if a.data and a.dataset:
        raise InputError("--dataset and --data are exclusive: give a bundled dataset or a "
                         "data file, not both")
    d = spec.data
    if a.data:
        if d.dataset is not None:  # the spec's dataset defaults do not apply to a user file
            spec.data = d = DataSpec(dataset=None, path=a.data, standardize_w=d.standardize_w,
                                     ties=d.ties)
        d.path = a.data
    elif a.dataset:
        if a.dataset != d.dataset or d.path:
            # another dataset than the spec's: its own defaults apply unless given here
            spec.data = d = DataSpec(dataset=a.dataset, standardize_w=d.standardize_w,
                                     ties=d.ties)
    for name in (*DATA_ARGS, "region_col", "region", "ties"):
        v = getattr(a, name, None)
        if v is not None:
            setattr(d, name, v)
    if a.no_standardize:
        d.standardize_w = False
    if d.path:
        # no time column: a cross-section (T = 1)
        missing = [n for n in DATA_ARGS if n != "time" and getattr(d, n) in (None, [])]
        if missing:
            raise InputError(f"--data {d.path} needs " + " ".join(f"--{n}" for n in missing)
                             + " (or the same keys in the spec's data section; --time is "
                             "optional: without it the data are a cross-section)")
    d.validate()


def spec_from_args(a: argparse.Namespace) -> ModelSpec:
    """The ``--spec`` file (or the default seed-study spec) with the data options applied."""
    spec = ModelSpec.from_yaml(a.spec) if getattr(a, "spec", None) else default_spec()
    apply_data_arguments(spec, a)
    return spec


# ----------------------------------------------------------------------------- output folders
class RunFolder:
    """Write a run into a temporary sibling of ``out`` and swap it in whole at the end.

    >>> with RunFolder(Path("runs/x")) as tmp:      # doctest: +SKIP
    ...     write_csv(tmp / "summary.csv", table)

    On success the temporary folder replaces ``out`` (the previous run, if any, is removed
    after the swap); on any exception or interrupt it is deleted and ``out`` is untouched.
    Files are created with the process umask.
    """

    def __init__(self, out: Path):
        self.out = Path(out)
        self.tmp: Path | None = None
        check_writable(self.out)

    def __enter__(self) -> Path:
        parent = self.out.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale(parent)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.{os.getpid()}.",
                                         suffix=".partial", dir=parent))
        os.chmod(self.tmp, 0o777 & ~_umask())
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.{os.getpid()}.old")
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


    def _remove_stale(self, parent: Path) -> None:
        """Temporary folders of runs that were killed (SIGKILL cannot be caught): their process
        is gone, so nothing will finish them."""
        head = f".{self.out.name}."  # the names ``.<out>.<pid>.*.partial`` (os.scandir: no
        # pattern matching or Path per entry of a large parent such as /tmp)
        with os.scandir(parent) as entries:
            stale = [e.path for e in entries
                     if e.name.startswith(head) and e.name.endswith(".partial")
                     and len(e.name) > len(head) + len(".partial")]
        for path in stale:
            try:
                pid = int(os.path.basename(path)[len(head):].split(".", 1)[0])
            except ValueError:
                continue
            if not _alive(pid):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def check_writable(out: Path) -> None:
    """Refuse an output folder that cannot be created or written, before any work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    p = out.parent
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise InputError(f"--out {out}: {p} is not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: {p} is not writable")


# ----------------------------------------------------------------------------- running
@contextmanager
def _sigterm_as_interrupt():
    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_command(run, argv, name: str, log_dir=None) -> int:
    """Run ``run(argv) -> int`` and map every outcome to an exit code (module docstring).

    ``log_dir(argv)`` may return the folder where an internal error's traceback is written
    (the output folder, when it holds no earlier run); otherwise a temporary file is used.
    """
    # a command-line process only: xarray without importing Dask while no Dask array can exist
    # (about 2 s of a 1 s fit); a library user's xarray is left as it is (bayes_sdm.xarray_dask)
    from .numpy_lazy import enable as lazy_numpy
    from .xarray_dask import enable as lazy_dask

    lazy_dask()
    lazy_numpy()  # SciPy's import without running numpy.f2py / numpy.testing (numpy_lazy)
    try:
        with _sigterm_as_interrupt():
            return run(argv)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except NumericalError as err:
        print(f"numerical failure: {err}", file=sys.stderr)
        return EXIT_NUMERICAL
    except DiagnosticsFailed as err:
        print(f"{err}", file=sys.stderr)
        return err.exit_code
    except (KeyboardInterrupt, Interrupted) as err:
        stage = getattr(err, "stage", "the run")
        print(f"{name}: interrupted during {stage}; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print(f"{name}: out of memory (reduce --draws/--chains or the data); nothing was "
              "written", file=sys.stderr)
        return EXIT_NUMERICAL
    except Exception as err:  # noqa: BLE001 - the one place that turns crashes into exit 3
        path = _write_log(name, log_dir(argv) if log_dir else None)
        print(f"{name}: internal error: {type(err).__name__}: {err} (traceback in {path})",
              file=sys.stderr)
        return EXIT_NUMERICAL


def _write_log(name: str, folder) -> Path:
    text = traceback.format_exc()
    if folder is not None:
        folder = Path(folder)
        try:
            if not folder.exists() or not any(folder.iterdir()):
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / "error.log"
                path.write_text(text)
                return path
        except OSError:
            pass
    fd, tmp = tempfile.mkstemp(prefix=f"{name}-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return Path(tmp)
