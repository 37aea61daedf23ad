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

import os
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
    copy: bool = True,
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
    copy : False lets a dense float64 ``matrix`` be row-standardised in place (it is then
        owned by the result; saves one N x N array)

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
            # each stored weight divided by its row sum (the product diag(1/rowsum) @ m,
            # exactly, without a sparse matrix product)
            w = sp.csr_array((m.data * np.repeat(1.0 / rowsum, np.diff(m.indptr)),
                              m.indices.copy(), m.indptr.copy()), shape=m.shape)
            w.eliminate_zeros()  # as the product does
        elif not copy and m is matrix:
            m /= rowsum[:, None]
            w = m
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
        return _read_csv_weights(path, standardize)
    if suffix == ".gal":
        ids, m = read_gal(path)
        return make_weights(m, _coerce_ids(ids), standardize, name=path.name)
    if suffix == ".gwt":
        import libpysal

        try:
            w = libpysal.io.open(str(path)).read()
        except Exception as err:  # noqa: BLE001 - libpysal's reader raises many types
            raise InputError(f"{path}: not a readable .gwt file ({type(err).__name__}: "
                             f"{err})") from None
        return from_libpysal(w, standardize=standardize, name=path.name)
    if suffix == ".npz":
        try:
            m = sp.load_npz(path)
        except Exception as err:  # noqa: BLE001 - numpy/zipfile raise many types
            raise InputError(f"{path}: not a scipy sparse .npz matrix ({type(err).__name__}: "
                             f"{err})") from None
        cand = [Path(ids_path)] if ids_path else [path.with_suffix(".ids.txt"),
                                                  path.with_name(path.stem + "_ids.txt")]
        for c in cand:
            if c.exists():
                ids = _coerce_ids(pd.read_csv(c, header=None)[0])
                return make_weights(m, ids, standardize, name=path.name)
        raise InputError(f"{path}: a .npz weight matrix needs its unit-id list "
                         f"(one id per line) in {cand[0]}")
    raise InputError(f"unsupported weights file {path}: use .csv, .gal, .gwt or .npz")


def _read_csv_weights(path: Path, standardize: bool) -> SpatialWeights:
    """A dense W from a CSV whose header and first column are the unit ids (read as text, so
    zero-padded ids such as "01" keep their form)."""
    try:
        df = pd.read_csv(path, index_col=0, dtype=str)
    except pd.errors.EmptyDataError:
        raise InputError(f"weights file {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"weights file {path} cannot be read: {err}") from None
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError(f"weights file {path} has no rows or no columns")
    cols = [str(c).strip() for c in df.columns]
    rows = [str(r).strip() for r in df.index]
    if cols != rows:
        diff = next(((i, r, c) for i, (r, c) in enumerate(zip(rows, cols)) if r != c),
                    (min(len(rows), len(cols)), None, None))
        raise InputError(f"{path}: the header and the index must list the same unit ids in the "
                         f"same order ({len(cols)} columns, {len(rows)} rows; first difference "
                         f"at position {diff[0]}: row {diff[1]!r}, column {diff[2]!r})")
    vals = df.apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
    bad = vals.isna() & df.notna()
    if bad.to_numpy().any() or vals.isna().to_numpy().any():
        r, c = np.argwhere((bad | vals.isna()).to_numpy())[0]
        raise InputError(f"{path}: the weight of row {rows[r]!r}, column {cols[c]!r} is not a "
                         f"number ({df.iat[r, c]!r})")
    return make_weights(vals.to_numpy(dtype=float), _coerce_ids(rows), standardize,
                        name=path.name)


def read_gal(path: Path) -> tuple[list, sp.csr_array]:
    """Read a GAL file (binary contiguity): a header line with the unit count, then for each
    unit a line ``<id> <number of neighbours>`` and a line with the neighbours' ids.

    Ids may contain spaces (libpysal writes named units that way): a unit's id is its line
    without the trailing count, and each neighbour line is split into exactly that many known
    ids.

    Raises
    ------
    InputError
        a malformed file, naming the line.
    """
    try:
        lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot be read: {err}") from None
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError(f"{path}: the .gal file is empty")
    head = lines[0].split()
    try:
        n = int(head[1] if len(head) > 1 and head[0] == "0" else head[0])
    except (ValueError, IndexError):
        raise InputError(f"{path}: line 1 must give the number of units, got {lines[0]!r}") \
            from None
    body = lines[1:]
    if len(body) < 2 * n:
        raise InputError(f"{path}: {n} units announced but only {len(body) // 2} unit "
                         "record(s) found")
    ids, counts = [], []
    for i in range(n):
        line = body[2 * i]
        parts = line.rsplit(maxsplit=1)
        try:
            ids.append(parts[0].strip())
            counts.append(int(parts[1]))
        except (ValueError, IndexError):
            raise InputError(f"{path}: line {2 * i + 2} must be '<id> <number of neighbours>', "
                             f"got {line!r}") from None
    known = set(ids)
    pos = {u: k for k, u in enumerate(ids)}
    rows, cols = [], []
    for i in range(n):
        nbrs = _split_ids(body[2 * i + 1], counts[i], known) if counts[i] else []
        if nbrs is None:
            raise InputError(f"{path}: line {2 * i + 3} does not list {counts[i]} known unit "
                             f"ids as the neighbours of {ids[i]!r}: {body[2 * i + 1]!r}")
        rows += [i] * len(nbrs)
        cols += [pos[u] for u in nbrs]
    m = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return ids, m


def _split_ids(line: str, count: int, known: set) -> list | None:
    """Split ``line`` into ``count`` ids from ``known`` (ids may contain spaces)."""
    toks = line.split()
    if len(toks) == count and all(t in known for t in toks):
        return toks
    memo: dict = {}

    def solve(i, left):
        if (i, left) in memo:
            return memo[(i, left)]
        if i == len(toks):
            return [] if left == 0 else None
        if left == 0:
            return None
        for j in range(i + 1, len(toks) + 1):
            cand = " ".join(toks[i:j])
            if cand in known:
                rest = solve(j, left - 1)
                if rest is not None:
                    memo[(i, left)] = [cand, *rest]
                    return memo[(i, left)]
        memo[(i, left)] = None
        return None

    return solve(0, count)


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
    n = len(v)
    check_dense_memory(n, "the economic-distance W")
    # one N x N work array: |x_i - x_j| with an infinite diagonal, then its reciprocal in place
    # (1/inf = 0 on the diagonal); make_weights standardises it in place (copy=False)
    d = np.subtract.outer(v, v)
    np.abs(d, out=d)
    np.fill_diagonal(d, np.inf)
    ties = d == 0
    if ties.any():
        if tie == "error":
            i, j = np.argwhere(np.triu(ties))[0]
            raise InputError(
                f"units {ids[i]!r} and {ids[j]!r} have equal economic-distance values "
                f"({v[i]}); use --ties nearest (YAML data.ties: nearest; Python tie='nearest') "
                "to give tied pairs the largest finite weight"
            )
        if tie != "nearest":
            raise InputError(f"unknown tie rule {tie!r}; use 'error' or 'nearest'")
        d[ties] = d[~ties].min()
    del ties
    np.reciprocal(d, out=d)
    return make_weights(d, ids, standardize, name="economic-distance", symmetric=True,
                        copy=False)


#: bytes of memory per (i, j) pair that a fit with a dense W needs: W, its symmetric similar
#: form and the eigen-solver's copy and workspace (4 dense N x N float64 arrays)
DENSE_BYTES_PER_PAIR = 32


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_dense_memory(n: int, what: str = "a dense W") -> None:
    """Refuse a dense N x N W whose fit would need more than the available memory.

    A fit with a dense W holds about ``DENSE_BYTES_PER_PAIR`` = 32 bytes per pair (W, its
    symmetric form, the eigen-solver's copy and workspace): 32 N^2 bytes, i.e. 2.9 GB at
    N = 10,000 and 20 GB at N = 25,000.  On a machine with 22 GB available the limit is
    N = 26,000; above it the message names the need and the sparse alternatives.
    """
    need = DENSE_BYTES_PER_PAIR * float(n) * n
    avail = available_memory()
    if avail is not None and need > avail:
        n_max = int((avail / DENSE_BYTES_PER_PAIR) ** 0.5)
        raise InputError(
            f"{what} for N={n:,} units is dense: a fit needs about {need / 1e9:.1f} GB "
            f"({DENSE_BYTES_PER_PAIR} bytes per pair of units), more than the "
            f"{avail / 1e9:.1f} GB available (the limit here is N = {n_max:,}); use a sparse "
            "W (knn:K:XCOL,YCOL, a .gal/.gwt/.npz file) for a panel this large")


def knn(coords: np.ndarray, ids: Sequence, k: int, standardize: bool = True) -> SpatialWeights:
    """k-nearest-neighbour weights from coordinates, sparse (Euclidean, scipy cKDTree).

    O(N log N) time and O(N k) memory: the tree is queried in parallel (``workers=-1``), in its
    own leaf order, and the neighbour lists are assembled without a Python loop (10^6 points in
    about 4 s on 2 cores).

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
    cols = knn_neighbours(cKDTree(coords), coords, 0, k)
    return knn_weights(cols, ids, k, standardize)


def knn_neighbours(tree, points: np.ndarray, first: int, k: int) -> np.ndarray:
    """The k nearest other units (n_block, k) of the units ``first, first + 1, ...`` at
    ``points``, from the k-d tree of all coordinates (:func:`knn`; blockwise on a cluster in
    :mod:`bayes_sdm.distributed.weights`).

    All points at once are queried in the tree's leaf order (neighbouring queries touch the
    same nodes: 2x faster at 10^6 points) and put back; each query's answer does not depend on
    the order.  A unit's own point is dropped (normally first; duplicates of a point may come
    first, or push it out of the k + 1 found, then the last is dropped)."""
    n = len(points)
    if first == 0 and n == tree.n:
        order = tree.indices
        _, nb_sorted = tree.query(points[order], k=k + 1, workers=-1)
        nb = np.empty((n, k + 1), dtype=np.int64)
        nb[order] = np.asarray(nb_sorted, dtype=np.int64).reshape(n, k + 1)
        del nb_sorted
    else:
        _, nb = tree.query(points, k=k + 1, workers=-1)
        nb = np.asarray(nb, dtype=np.int64).reshape(n, k + 1)
    is_self = nb == (first + np.arange(n))[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones((n, k + 1), dtype=bool)
    keep[np.arange(n), drop] = False
    return nb[keep].reshape(n, k)


def knn_weights(cols: np.ndarray, ids: Sequence, k: int, standardize: bool = True
                ) -> SpatialWeights:
    """The k-NN W from each unit's neighbours (N, k) (:func:`knn_neighbours`)."""
    cols = np.asarray(cols)
    n = len(cols)
    # k entries a row: the CSR arrays directly (column indices sorted within each row; 32-bit
    # indices where they fit, as scipy's own conversion gives)
    idx = np.int32 if n * k < 2 ** 31 else np.int64
    m = sp.csr_array((np.ones(n * k), np.sort(cols, axis=1).ravel().astype(idx),
                      np.arange(0, n * k + 1, k, dtype=idx)), shape=(n, n))
    return make_weights(m, ids, standardize, name=f"knn:{k}", symmetric=False)


def weights_from_edges(src, dst, weight, standardize: bool = True, name: str = "edges"
                       ) -> SpatialWeights:
    """W from an edge list: w[src_e, dst_e] = weight_e.  The units are the ids that occur in
    either column, sorted; an edge given twice is refused (naming it), and the checks of
    :func:`make_weights` apply (no self-loops, no negative weights, no unit without a
    neighbour).

    Raises
    ------
    InputError
        as :func:`make_weights`, plus duplicate edges and missing ids or weights.
    """
    src = pd.Series(np.asarray(src))
    dst = pd.Series(np.asarray(dst))
    val = pd.to_numeric(pd.Series(np.asarray(weight)), errors="coerce").to_numpy(dtype=float)
    if src.isna().any() or dst.isna().any():
        raise InputError(f"edge list: {int(src.isna().sum() + dst.isna().sum())} missing "
                         "unit ids")
    if not np.all(np.isfinite(val)):
        raise InputError(f"edge list: {int((~np.isfinite(val)).sum())} NaN/inf or non-numeric "
                         "weights")
    uniq = pd.unique(pd.concat([src, dst], ignore_index=True))
    ids = np.sort(uniq)
    index = pd.Index(ids)
    i, j = index.get_indexer(src), index.get_indexer(dst)
    n = len(ids)
    key = i.astype(np.int64) * n + j
    dup = pd.Series(key).duplicated(keep=False).to_numpy()
    if dup.any():
        e = np.nonzero(dup)[0][0]
        raise InputError(f"edge list: the edge ({src.iloc[e]!r}, {dst.iloc[e]!r}) is given "
                         f"{int((key == key[e]).sum())} times")
    m = sp.csr_array((val, (i, j)), shape=(n, n))
    return make_weights(m, _coerce_ids(ids), standardize, name=name)
