"""Saving and loading fits (netCDF) and writing output files atomically.

A fit is stored as the ArviZ/xarray DataTree in netCDF (h5netcdf engine) with, in its root
attributes, the spec (YAML), the spec hash, the data hash, the package version and the
dependency versions.  :func:`load_fit` refuses a file whose data or spec hash does not match
what the caller expects (pymc-marketing's ``load`` contract).  :func:`bayes_sdm.load_fit`
returns the fit as a :class:`~bayes_sdm.result.FitResult` with the same tables.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import xarray as xr

from .errors import InputError
from .xarray_dask import install_if_enabled as _lazy_dask

_lazy_dask()  # in a command-line process: xarray without importing Dask (bayes_sdm.xarray_dask)


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def atomic_write(path: str | Path, writer) -> Path:
    """Write a file atomically: ``writer(tmp_path)`` then ``os.replace`` into place.  The file
    gets the permissions of a normally created file (0666 minus the umask), not mkstemp's
    0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: Path(p).write_text(text))


def write_csv(path: str | Path, df: pd.DataFrame) -> Path:
    return atomic_write(path, lambda p: df.to_csv(p, index=False))


def write_json(path: str | Path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_fit(idata: xr.DataTree, path: str | Path) -> Path:
    """Write the DataTree to netCDF atomically (h5netcdf)."""
    return atomic_write(path, lambda p: idata.to_netcdf(p, engine="h5netcdf"))


def read_fit(path: str | Path, data_hash: str | None = None,
             spec_hash: str | None = None) -> xr.DataTree:
    """Read a saved fit's DataTree; refuse it when ``data_hash`` / ``spec_hash`` do not match
    (:func:`bayes_sdm.result.load_fit` returns it as a :class:`~bayes_sdm.result.FitResult`).

    Raises
    ------
    InputError
        missing file, not a bayes_sdm fit, or a hash mismatch (names which one).
    """
    path = Path(path)
    if path.is_dir():
        path = _fit_in_folder(path)
    if not path.exists():
        raise InputError(f"no such fit file: {path}")
    try:
        dt = xr.open_datatree(path, engine="h5netcdf").load()
    except Exception as err:  # noqa: BLE001 - h5py/netCDF raise many types for a bad file
        raise InputError(f"{path} cannot be read as a netCDF fit (truncated or not a fit "
                         f"file): {type(err).__name__}: {err}") from None
    attrs = dt.attrs
    if "bayes_sdm_version" not in attrs:
        raise InputError(f"{path} was not written by bayes_sdm (no provenance attributes)")
    if data_hash is not None and attrs.get("data_hash") != data_hash:
        raise InputError(f"{path}: the data hash does not match the data given "
                         f"({attrs.get('data_hash', '')[:12]}... vs {data_hash[:12]}...)")
    if spec_hash is not None and attrs.get("spec_hash") != spec_hash:
        raise InputError(f"{path}: the spec hash does not match the spec given")
    if "posterior" not in dt.children:
        raise InputError(f"{path} holds no posterior group")
    return dt


def _fit_in_folder(folder: Path) -> Path:
    """The ``posterior.nc`` of a run folder; a folder with an ML fit only says what it holds."""
    p = folder / "posterior.nc"
    if p.exists():
        return p
    held = sorted(f.name for f in folder.iterdir() if not f.name.startswith("."))
    if "ml.csv" in held:
        raise InputError(f"{folder} holds a maximum-likelihood fit only ({', '.join(held)}), "
                         "no posterior: read ml.csv, ml_effects.csv and tests.json as tables")
    raise InputError(f"{folder} holds no fit (posterior.nc); it has: {held or 'nothing'}")
