"""Keep xarray from importing Dask in a process that has no Dask arrays.

xarray (2025-2026 releases) imports ``dask.array`` the first time it builds a variable from a
NumPy array, only to check ``isinstance(data, dask.array.Array)``
(``xarray.namedarray.pycompat.array_type("dask")``), and ``to_netcdf`` imports ``dask`` and
``dask.distributed`` to ask which scheduler is active, which matters only for Dask-backed
variables.  Together about 2 s of a 1 s fit.  No object is a Dask array while ``dask.array``
has not been imported, so both questions have their answer without the import:

* xarray's record of the Dask array type answers ``()`` until ``dask.array`` is imported and
  the real type after (:class:`_DaskArrayType`);
* ``is_dask_collection`` (behind every ``is_duck_dask_array``), which imports ``dask`` to ask,
  and the scheduler probe of ``to_netcdf`` and of its file lock answer "no Dask" while ``dask`` is not imported,
  and ask Dask otherwise.

Nothing changes once Dask is in use (a ``--cluster`` run, ``bayes_sdm.distributed``): the
answers are then Dask's own.  :func:`install` does nothing when xarray's internals are not the
ones described (another xarray version): the imports then happen as before.

Only a command-line process changes xarray this way (:func:`enable`, called by
:func:`bayes_sdm.commands.run_command`; the modules that use xarray call
:func:`install_if_enabled` when imported); a library user's xarray is left as it is.
"""

from __future__ import annotations

import sys


class _DaskArrayType:
    """Stands in for xarray's ``DuckArrayModule("dask")``: the attributes xarray reads,
    computed when read, from the Dask modules already imported."""

    @property
    def module(self):
        return sys.modules.get("dask")

    @property
    def available(self) -> bool:
        from importlib.util import find_spec

        return self.module is not None or find_spec("dask") is not None

    @property
    def type(self) -> tuple:
        mod = sys.modules.get("dask.array")
        return (mod.Array,) if mod is not None and hasattr(mod, "Array") else ()

    @property
    def version(self):
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as _version

        from packaging.version import Version

        try:
            return Version(_version("dask"))
        except PackageNotFoundError:
            return Version("0.0.0")


def _scheduler_probe(original):
    def get_dask_scheduler(get=None, collection=None):
        if "dask" not in sys.modules:  # no Dask collection can exist
            return None
        return original(get, collection)

    get_dask_scheduler.__wrapped__ = original
    return get_dask_scheduler


def _collection_check(original):
    def is_dask_collection(x) -> bool:
        if "dask" not in sys.modules:  # no Dask collection can exist
            return False
        return original(x)

    is_dask_collection.__wrapped__ = original
    return is_dask_collection


_enabled = False


def enable() -> None:
    """Use :func:`install` in this process (the command line): now if xarray is imported,
    else when a bayes_sdm module that uses xarray is (:func:`install_if_enabled`)."""
    global _enabled
    _enabled = True
    if "xarray" in sys.modules:
        install()


def install_if_enabled() -> None:
    """:func:`install` in a process that asked for it (:func:`enable`); nothing otherwise."""
    if _enabled:
        install()


def install() -> None:
    """Install both answers (module docstring); idempotent."""
    try:
        from xarray.backends import locks, writers
        from xarray.namedarray import pycompat, utils
    except ImportError:  # pragma: no cover - xarray is a dependency
        return
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    if isinstance(cache, dict) and "dask" not in cache and "dask.array" not in sys.modules:
        cache["dask"] = _DaskArrayType()
    for mod, name, wrap in ((utils, "is_dask_collection", _collection_check),
                            (locks, "get_dask_scheduler", _scheduler_probe),
                            (writers, "get_dask_scheduler", _scheduler_probe)):
        f = getattr(mod, name, None)
        if callable(f) and not hasattr(f, "__wrapped__"):
            setattr(mod, name, wrap(f))
