"""Spatial weight matrices: reading, building, checking and row-standardising.

A :class:`SpatialWeights` holds W (dense ``ndarray`` or ``scipy.sparse`` CSR), the unit ids
in its row order, and whether W is row-standardised.  When W = D^{-1} C comes from a symmetric
C (binary contiguity, k-NN made symmetric, inverse distance), the *symmetric similar form*
D^{-1/2} C D^{-1/2} is kept so that eigenvalues use a symmetric solver (Ord 1975; LeSage & Pace
2009, sec. 4.1).

Sources: a dense CSV (header and index = unit ids), libpysal ``.gal``/``.gwt`` files,
libpysal ``W``/``Graph`` objects, a scipy ``.npz`` with its id list, k-nearest neighbours from
coordinates (libpysal), and the seed study's inverse economic distance
``w_ij = 1/|xbar_i - xbar_j|``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError


@dataclass(frozen=True)
class SpatialWeights:
    """A checked spatial weight matrix.

    Attributes
    ----------
    matrix : ndarray or scipy.sparse.csr_array, shape (N, N) -- the W used by the models
    ids : tuple of unit ids in row order
    row_standardized : whether every row of ``matrix`` sums to one
    sym_scale : if not None, a vector d with ``matrix = diag(1/d) C`` for a symmetric C; then
        ``diag(d^{1/2}) matrix diag(d^{-1/2})`` is symmetric (used for eigenvalues)
    name : a short description of the source (recorded in outputs)
    """

    matrix: np.ndarray | sp.csr_array
    ids: tuple
    row_standardized: bool
    sym_scale: np.ndarray | None = None
    name: str = "W"

    def __repr__(self) -> str:
        from .display import weights_card

        return weights_card(self).text()

    def _repr_html_(self) -> str:
        from .display import weights_card

        return weights_card(self).html()

    @property
    def n(self) -> int:
        return self.matrix.shape[0]

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.matrix)

    def symmetric_form(self) -> np.ndarray | sp.csr_array | None:
        """The symmetric matrix similar to W, or None when W has no such form."""
        if self.sym_scale is None:
            return None
        s = np.sqrt(self.sym_scale)
        if self.is_sparse:
            m = sp.diags_array(s) @ self.matrix @ sp.diags_array(1.0 / s)
            m = sp.csr_array(m)
            return (m + m.T) * 0.5
        m = (s[:, None] * self.matrix) / s[None, :]
        return 0.5 * (m + m.T)

    def lag(self, a: np.ndarray) -> np.ndarray:
        """Apply W along the unit axis of an array shaped (T, N) or (T, N, K)."""
        a = np.asarray(a, dtype=float)
        if a.ndim == 2:
            return np.asarray((self.matrix @ a.T).T)
        t, n, k = a.shape
        flat = a.transpose(1, 0, 2).reshape(n, t * k)
        out = np.asarray(self.matrix @ flat)
        return out.reshape(n, t, k).transpose(1, 0, 2)

    def subset(self, ids: Sequence, standardize: bool = True) -> SpatialWeights:
        """W restricted to ``ids`` (in that order) and, by default, row-standardised again.

        This is what fitting one region alone means: neighbours outside the region are dropped
        and each remaining row is rescaled to sum to one.  The raw weights are recovered from
        the symmetric base where there is one so that the symmetric form is kept.
        """
        pos = {u: i for i, u in enumerate(self.ids)}
        missing = [u for u in ids if u not in pos]
        if missing:
            raise InputError(f"units not in W: {missing[:10]}")
        idx = np.array([pos[u] for u in ids])
        base = self.raw_base()
        if sp.issparse(base):
            sub = sp.csr_array(base[idx][:, idx])
        else:
            sub = base[np.ix_(idx, idx)]
        symmetric = self.sym_scale is not None
        return make_weights(sub, ids, standardize=standardize, name=f"{self.name}[subset]",
                            symmetric=symmetric)

    def raw_base(self):
        """C with W = diag(1/d) C when a symmetric base exists, else W itself."""
        if self.sym_scale is None:
            return self.matrix
        if self.is_sparse:
            return sp.csr_array(sp.diags_array(self.sym_scale) @ self.matrix)
        return self.sym_scale[:, None] * self.matrix


def _is_symmetric(m, tol: float = 1e-12) -> bool:
    if sp.issparse(m):
        d = m - m.T
        return d.nnz == 0 or abs(d).max() <= tol * max(abs(m).max(), 1.0)
    return bool(np.allclose(m, m.T, rtol=0.0, atol=tol * max(np.abs(m).max(), 1.0)))


def make_weights(
    matrix,
    ids: Sequence,
    standardize: bool = True,
    name: str = "W",
    symmetric: bool | None = None,
    allow_islands: bool = False,
) -> SpatialWeights:
    """Check a raw weight matrix and (by default) row-standardise it.

    Parameters
    ----------
    matrix : dense array or scipy sparse matrix, shape (N, N), non-negative, zero diagonal
    ids : unit ids in row order (unique)
    standardize : row-standardise (the default for every source, binary contiguity included)
    symmetric : whether ``matrix`` is symmetric; detected when None
    allow_islands : keep units with no neighbours (their row stays zero; only meaningful when
        not standardising)

    Raises
    ------
    InputError
        non-square W, id count mismatch, duplicate ids, NaN/inf, negative weights, non-zero
        diagonal, units with no neighbours (islands).
    """
    ids = tuple(ids)
    if sp.issparse(matrix):
        m = sp.csr_array(matrix, dtype=float)
        m.sum_duplicates()
    else:
        m = np.asarray(matrix, dtype=float)
        if m.ndim != 2:
            raise InputError(f"W must be a 2-D matrix, got {m.ndim} dimension(s)")
    if m.shape[0] != m.shape[1]:
        raise InputError(f"W must be square, got shape {m.shape}")
    if len(ids) != m.shape[0]:
        raise InputError(f"W has {m.shape[0]} rows but {len(ids)} unit ids")
    if len(set(ids)) != len(ids):
        dups = pd.Series(ids)[pd.Series(ids).duplicated()].tolist()
        raise InputError(f"duplicate unit ids in W: {dups[:10]}")
    vals = m.data if sp.issparse(m) else m
    if not np.all(np.isfinite(vals)):
        raise InputError("W contains NaN or infinite weights")
    if (vals < 0).any():
        if sp.issparse(m):
            r = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[m.data < 0][:5]
        else:
            r = np.nonzero((m < 0).any(axis=1))[0][:5]
        raise InputError(f"W has negative weights, e.g. in the rows of units {[ids[i] for i in r]}")
    diag = m.diagonal()
    if np.any(diag != 0):
        bad = [ids[i] for i in np.nonzero(diag)[0][:5]]
        raise InputError(f"W has non-zero diagonal entries (a unit is its own neighbour): {bad}")
    rowsum = np.asarray(m.sum(axis=1)).ravel()
    islands = np.nonzero(rowsum == 0)[0]
    if len(islands) and not (allow_islands and not standardize):
        raise InputError(
            f"{len(islands)} unit(s) have no neighbours (islands): "
            f"{[ids[i] for i in islands[:10]]}; drop them or use a W that connects them"
        )
    if symmetric is None:
        symmetric = _is_symmetric(m)
    if standardize:
        if sp.issparse(m):
            w = sp.csr_array(sp.diags_array(1.0 / rowsum) @ m)
        else:
            w = m / rowsum[:, None]
        scale = rowsum if symmetric else None
        return SpatialWeights(w, ids, True, scale, name)
    scale = np.ones(m.shape[0]) if symmetric else None
    rs = np.allclose(rowsum, 1.0, atol=1e-12)
    return SpatialWeights(m, ids, bool(rs), scale, name)


def read_weights(path: str | Path, ids_path: str | Path | None = None,
                 standardize: bool = True) -> SpatialWeights:
    """Read W from a file: dense ``.csv`` (header/index = ids), ``.gal``/``.gwt`` (libpysal),
    or a scipy sparse ``.npz`` with its ids in ``ids_path`` (one id per line) or, by default,
    ``<stem>.ids.txt`` / ``<stem>_ids.txt`` beside it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(path, index_col=0)
        cols = [str(c) for c in df.columns]
        rows = [str(r) for r in df.index]
        if cols != rows:
            raise InputError(f"{path}: the header and the index must list the same unit ids in "
                             "the same order")
        ids = _coerce_ids(df.index)
        return make_weights(df.to_numpy(dtype=float), ids, standardize, name=path.name)
    if suffix in (".gal", ".gwt"):
        import libpysal

        w = libpysal.io.open(str(path)).read()
        return from_libpysal(w, standardize=standardize, name=path.name)
    if suffix == ".npz":
        m = sp.load_npz(path)
        cand = [Path(ids_path)] if ids_path else [path.with_suffix(".ids.txt"),
                                                  path.with_name(path.stem + "_ids.txt")]
        for c in cand:
            if c.exists():
                ids = _coerce_ids(pd.read_csv(c, header=None)[0])
                return make_weights(m, ids, standardize, name=path.name)
        raise InputError(f"{path}: a .npz weight matrix needs its unit-id list "
                         f"(one id per line) in {cand[0]}")
    raise InputError(f"unsupported weights file {path}: use .csv, .gal, .gwt or .npz")


def _coerce_ids(values) -> tuple:
    """Unit ids as Python scalars; integers stay integers."""
    s = pd.Series(list(values))
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all() and np.all(num == np.round(num)):
        return tuple(int(v) for v in num)
    return tuple(str(v) for v in s)


def from_libpysal(w, standardize: bool = True, name: str = "libpysal") -> SpatialWeights:
    """Convert a libpysal ``W`` or ``Graph`` (kept sparse)."""
    if hasattr(w, "sparse") and hasattr(w, "id_order"):  # libpysal.weights.W
        ids = tuple(w.id_order)
        m = sp.csr_array(w.sparse)
    elif hasattr(w, "sparse") and hasattr(w, "unique_ids"):  # libpysal.graph.Graph
        ids = tuple(w.unique_ids)
        m = sp.csr_array(w.sparse)
    else:
        raise InputError(f"not a libpysal W or Graph: {type(w).__name__}")
    return make_weights(m, _coerce_ids(ids), standardize, name=name)


def economic_distance(values: pd.Series | np.ndarray, ids: Sequence | None = None,
                      standardize: bool = True, tie: str = "error") -> SpatialWeights:
    """The seed study's inverse economic-distance W: ``w_ij = 1/|xbar_i - xbar_j|``, i != j.

    ``values`` holds each unit's mean real GDP per capita over the sample (a Series indexed by
    unit id, or an array with ``ids``).  The result is dense (it is dense by nature) and is
    row-standardised by default.

    Ties (xbar_i == xbar_j, an infinite weight) are handled by ``tie``: ``"error"`` (default)
    refuses them and names the units; ``"nearest"`` replaces a tied distance by the smallest
    positive distance in the data, so tied units get the largest finite weight.
    """
    if isinstance(values, pd.Series):
        ids = tuple(values.index)
        v = values.to_numpy(dtype=float)
    else:
        v = np.asarray(values, dtype=float)
        if ids is None:
            raise InputError("economic_distance needs the unit ids")
        ids = tuple(ids)
    if not np.all(np.isfinite(v)):
        bad = [ids[i] for i in np.nonzero(~np.isfinite(v))[0][:5]]
        raise InputError(f"economic-distance variable is NaN/inf for units {bad}")
    d = np.abs(v[:, None] - v[None, :])
    off = ~np.eye(len(v), dtype=bool)
    ties = (d == 0) & off
    if ties.any():
        if tie == "error":
            i, j = np.argwhere(np.triu(ties))[0]
            raise InputError(
                f"units {ids[i]!r} and {ids[j]!r} have equal economic-distance values "
                f"({v[i]}); pass tie='nearest' to give tied pairs the largest finite weight"
            )
        if tie != "nearest":
            raise InputError(f"unknown tie rule {tie!r}; use 'error' or 'nearest'")
        d[ties] = d[off & ~ties].min()
    with np.errstate(divide="ignore"):
        c = np.where(off, 1.0 / np.where(off, d, 1.0), 0.0)
    return make_weights(c, ids, standardize, name="economic-distance", symmetric=True)


def knn(coords: np.ndarray, ids: Sequence, k: int, standardize: bool = True) -> SpatialWeights:
    """k-nearest-neighbour weights from coordinates, sparse (Euclidean, scipy cKDTree).

    Each unit gets its k nearest other units (ties at the k-th distance broken by the tree's
    order, deterministically).  The relation is not symmetric, so W has no symmetric similar
    form and the general eigen-solver (or a sparse log-determinant) is used.  libpysal's
    ``Graph.build_knn(coplanar="jitter")`` is avoided: it perturbs every point (libpysal 4.15).
    """
    from scipy.spatial import cKDTree

    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise InputError("k-NN weights need two coordinate columns")
    if not np.all(np.isfinite(coords)):
        raise InputError("coordinates contain NaN/inf")
    n = len(coords)
    if k < 1 or k >= n:
        raise InputError(f"k must be between 1 and N-1, got {k}")
    _, nb = cKDTree(coords).query(coords, k=k + 1)
    rows = np.repeat(np.arange(n), k)
    cols = np.empty((n, k), dtype=np.int64)
    for i in range(n):  # drop self (normally first; duplicates of a point may come first)
        r = nb[i][nb[i] != i]
        cols[i] = r[:k]
    m = sp.csr_array((np.ones(n * k), (rows, cols.ravel())), shape=(n, n))
    return make_weights(m, ids, standardize, name=f"knn:{k}", symmetric=False)
