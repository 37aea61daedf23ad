"""W for an out-of-core panel, built blockwise on a cluster.

* a Parquet edge list (columns ``i``, ``j``, ``w``: w[i, j] = w; a file, folder or glob): one task
  per file reads its edges; W is assembled by :func:`bayes_sdm.weights.weights_from_edges`
  (units = the ids in either column, sorted);
* ``knn:K:XCOL,YCOL``: each unit's coordinates from the first period, then the k-nearest-neighbour
  queries in blocks of units as tasks (each worker builds the k-d tree once), assembled by
  :func:`bayes_sdm.weights.knn_weights` -- the same W as :func:`bayes_sdm.weights.knn`; every
  period's coordinates are checked against the first's while the statistics are computed;
* any other ``--weights`` file (``.csv``, ``.gal``, ``.gwt``, ``.npz``) is read as usual.  The
  economic-distance W is dense (N^2 numbers) and is refused for an out-of-core panel.

W itself (sparse, O(N k) numbers) is held in memory by the client and every worker.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import InputError
from ..weights import (
    SpatialWeights,
    knn_neighbours,
    knn_weights,
    read_weights,
    weights_from_edges,
)
from .cluster import _guarded, n_workers, worker_cached
from .parquet import ParquetSource, check_columns, is_parquet_source, read_period, resolve_source
from .stats import ParquetPanel, _raise_first, list_periods

EDGE_COLUMNS = ("i", "j", "w")
#: units per k-NN query task
KNN_BLOCK = 200_000


def _read_edges(src: ParquetSource, i: int, cols) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    one = ParquetSource((src.files[i],), src.base, src.label)
    tab = one.dataset().to_table(columns=list(cols))
    return tuple(tab.column(c).to_numpy(zero_copy_only=False) for c in cols)


def edge_list_weights(client, source: str, standardize: bool = True,
                      columns: tuple[str, str, str] = EDGE_COLUMNS) -> SpatialWeights:
    """W from a Parquet edge list, one task per file (module docstring).

    Raises
    ------
    InputError
        missing columns, missing ids or weights, duplicate edges, and the checks of
        :func:`bayes_sdm.weights.make_weights`.
    """
    src = resolve_source(source)
    check_columns(src, columns)
    futs = client.map(_guarded, [_read_edges] * len(src.files),
                      [f"edges {f}" for f in src.files], [src] * len(src.files),
                      range(len(src.files)), [columns] * len(src.files), pure=False)
    parts = client.gather(futs)
    _raise_first(parts)
    src_ids = np.concatenate([p[0] for p in parts])
    dst_ids = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    try:
        return weights_from_edges(src_ids, dst_ids, vals, standardize, name=f"edges:{src.label}")
    except InputError as err:
        raise InputError(f"--weights {source}: {err}") from err


def _first_period_coords(src: ParquetSource, unit: str, time: str, period, cols):
    df = read_period(src, [unit, *cols], time, period)
    vals = {}
    for c in cols:
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any():
            u = df.loc[v.isna(), unit].unique()[:5].tolist()
            raise InputError(f"column {c!r} has NaN/non-numeric values for unit(s) {u}")
        vals[c] = v.to_numpy(dtype=float)
    dup = df[unit].duplicated(keep=False)
    if dup.any():
        u = pd.unique(df.loc[dup, unit])[:5].tolist()
        raise InputError(f"duplicate (unit, time) rows, e.g. units {u} in period {period!r}")
    out = pd.DataFrame(vals, index=df[unit].to_numpy()).sort_index()
    return tuple(out.index.tolist()), out.to_numpy()


def _knn_block(coords_key: str, coords: np.ndarray, first: int, stop: int, k: int):
    from scipy.spatial import cKDTree

    tree = worker_cached(("knn-tree", coords_key), lambda: cKDTree(coords))
    return knn_neighbours(tree, coords[first:stop], first, k)


def knn_weights_blockwise(client, coords: np.ndarray, ids, k: int, standardize: bool = True
                          ) -> SpatialWeights:
    """k-NN W of ``coords`` (N, 2), the queries in blocks of units as tasks."""
    from dask.base import tokenize

    coords = np.asarray(coords, dtype=float)
    n = len(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise InputError("k-NN weights need two coordinate columns")
    if not np.all(np.isfinite(coords)):
        raise InputError("coordinates contain NaN/inf")
    if k < 1 or k >= n:
        raise InputError(f"k must be between 1 and N-1, got {k}")
    nb = max(n_workers(client), math.ceil(n / KNN_BLOCK))
    bounds = np.linspace(0, n, nb + 1).round().astype(int)
    key = tokenize(coords)
    cf = client.scatter(coords, broadcast=True, hash=False)
    futs = [client.submit(_knn_block, key, cf, int(a), int(b), k, pure=False)
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    cols = np.concatenate(client.gather(futs))
    return knn_weights(cols, ids, k, standardize)


def load_weights(client, arg: str, panel: ParquetPanel, standardize: bool = True,
                 periods=None) -> tuple[SpatialWeights, ParquetPanel]:
    """Resolve ``--weights`` for an out-of-core panel (module docstring); returns W and the
    panel with the coordinate columns to check (k-NN).

    Raises
    ------
    InputError
        a dense economic-distance W, a malformed ``knn:`` argument, and the checks of W.
    """
    if arg is None:
        raise InputError("an out-of-core panel needs --weights (an edge list, knn:K:XCOL,YCOL "
                         "or a W file)")
    if arg.startswith("economic-distance:"):
        raise InputError("--weights economic-distance:COL is a dense N x N W; for a panel read "
                         "out of core give a sparse W (a Parquet edge list i, j, w; "
                         "knn:K:XCOL,YCOL; or a .npz/.gal file)")
    if arg.startswith("knn:"):
        parts = arg.split(":")
        if len(parts) != 3 or "," not in parts[2]:
            raise InputError(f"--weights {arg!r}: use knn:K:XCOL,YCOL")
        try:
            k = int(parts[1])
        except ValueError as err:
            raise InputError(f"--weights {arg!r}: K must be an integer") from err
        xc, yc = parts[2].split(",", 1)
        src = resolve_source(panel.source)
        check_columns(src, [panel.unit, panel.time, xc, yc])
        periods = periods if periods is not None else list_periods(client, src, panel.time)
        fut = client.submit(_guarded, _first_period_coords, "coordinates", src, panel.unit,
                            panel.time, periods[0], (xc, yc), pure=False)
        res = fut.result()
        _raise_first([res])
        ids, coords = res
        w = knn_weights_blockwise(client, coords, ids, k, standardize)
        from dataclasses import replace

        return w, replace(panel, constant_cols=(xc, yc), constant_ref=coords)
    if is_parquet_source(arg):
        return edge_list_weights(client, arg, standardize), panel
    return read_weights(arg, standardize=standardize), panel
