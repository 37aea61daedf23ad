"""Distributed log-determinants: the Chebyshev nodes' sparse LUs and the stochastic probes as
independent Dask tasks.

:class:`DaskChebyshevLogDet` is :class:`bayes_sdm.logdet.ChebyshevLogDet` (Pace & Barry 1997;
Chebyshev interpolation in a mapped variable, Trefethen 2013) with its exact evaluator
replaced: the fill-reducing ordering is computed once by the client at the first node (as the
single-process pool does in its parent), the ordered matrix is sent once to every worker, and
each further node's factorisation log|det(I - rho A)| = sum_i log|u_ii| is a task.  The adaptive
degree schedule (8, 16, 32, 64, 128; nested Lobatto nodes), the node values and hence the
coefficients are the single-process ones, bit for bit: the same matrix is factorised with the
same options at the same nodes (the tests check equality).  Each round of the adaptive fit is
one batch of tasks (9, 8, 16, 32, 64 nodes), so up to 64 workers are used in the last round.

:func:`probe_traces` computes the Hutchinson trace estimates of the stochastic method (Barry &
Pace 1999; Hutchinson 1990) -- z' W^k z for k = 1..terms and each Rademacher probe z -- one task
per block of probes, reproducing the single-process random stream (each task regenerates the
earlier blocks' probes and discards them), so that the estimates equal
:class:`bayes_sdm.logdet.StochasticLogDet`'s.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..logdet import ChebyshevLogDet, SparseFactor
from ..weights import SpatialWeights
from .cluster import RETRIES, worker_cached


def _ordered_factor(a) -> SparseFactor:
    """A :class:`~bayes_sdm.logdet.SparseFactor` of an already ordered sparse matrix (what
    the single-process pool's workers hold)."""
    f = SparseFactor.__new__(SparseFactor)
    f.n, f.symmetric, f.dense = a.shape[0], None, False
    f._a, f._perm_done, f.fill_nnz, f.seconds = a, True, None, []
    return f


def node_logdet(key: str, a, rho: float) -> tuple[float, float, int]:
    """log|det(I - rho A)| of the ordered matrix ``a`` on a worker (the factor is kept per
    worker under ``key``); returns (value, seconds, fill non-zeros)."""
    f = worker_cached(("ordered-factor", key), lambda: _ordered_factor(a))
    v = f.logabsdet(float(rho))
    return v, f.seconds[-1], int(f.fill_nnz or 0)


class DaskChebyshevLogDet(ChebyshevLogDet):
    """:class:`~bayes_sdm.logdet.ChebyshevLogDet` whose node factorisations run as Dask tasks
    on ``client`` (module docstring).  Options as the parent's (``degree``, ``tol``,
    ``upper_margin``, ``cache``, ...; ``workers`` is the cluster's).

    After construction the object is the parent's (the client is dropped: it pickles and
    evaluates without the cluster).  ``node_seconds`` lists each factorisation's time on its
    worker.
    """

    def __init__(self, w: SpatialWeights, client, retries: int = RETRIES, **options):
        options.pop("workers", None)
        self._client = client
        self._remote = None
        self._key = None
        self._retries = int(retries)
        self.node_seconds: list[float] = []
        try:
            super().__init__(w, workers=1, **options)
        finally:
            self._client = None
            self._remote = None

    def _exact(self, rho) -> np.ndarray:
        rho = np.atleast_1d(np.asarray(rho, dtype=float))
        self.n_factorisations += len(rho)
        f = self._factor
        if self._client is None or f.dense:
            return f(rho)
        out = np.empty(len(rho))
        start = 0
        if not f._perm_done:  # the ordering, once, here (as FactorPool's parent does)
            out[0] = f.logabsdet(rho[0])
            self.node_seconds.append(f.seconds[-1])
            start = 1
        if start < len(rho):
            c = self._client
            if self._remote is None:
                from dask.base import tokenize

                self._key = tokenize(f._a.indptr, f._a.indices, f._a.data)
                self._remote = c.scatter(f._a, broadcast=True, hash=False)
            futs = [c.submit(node_logdet, self._key, self._remote, float(r), pure=False,
                             retries=self._retries) for r in rho[start:]]
            res = c.gather(futs)
            out[start:] = [r[0] for r in res]
            self.node_seconds += [r[1] for r in res]
            f.fill_nnz = f.fill_nnz or (res[-1][2] or None)
        return out

    def __getstate__(self):
        d = super().__getstate__()
        d["_client"] = None
        d["_remote"] = None
        return d


# ----------------------------------------------------------------------------- stochastic
def probe_block(a, seed: int, j0: int, m: int, block: int, terms: int) -> np.ndarray:
    """z' A^k z (k = 1..terms) for probes j0 .. j0 + m - 1 (terms x m), with the probes the
    single-process loop draws: Rademacher blocks of ``block`` columns from
    ``default_rng(seed)``, the earlier blocks regenerated and discarded."""
    rng = np.random.default_rng(seed)
    n = a.shape[0]
    signs = np.array([-1.0, 1.0])
    for s in range(0, j0, block):
        rng.choice(signs, size=(n, min(block, j0 - s)))
    z = rng.choice(signs, size=(n, m))
    v = z
    out = np.empty((terms, m))
    for k in range(terms):
        v = a @ v
        out[k] = np.einsum("ij,ij->j", z, v)
    return out


def probe_traces(client, w: SpatialWeights, probes: int = 64, terms: int = 300,
                 seed: int = 20260101, block: int = 16) -> np.ndarray:
    """The (terms x probes) Hutchinson estimates of tr(W^k) of the stochastic log-determinant,
    one task per block of probes (module docstring)."""
    a = sp.csr_array(w.matrix) if w.is_sparse else np.asarray(w.matrix)
    af = client.scatter(a, broadcast=True, hash=False)
    starts = list(range(0, probes, block))
    futs = [client.submit(probe_block, af, seed, j0, min(block, probes - j0), block, terms,
                          pure=False, retries=RETRIES) for j0 in starts]
    return np.concatenate(client.gather(futs), axis=1)


def make_logdet_distributed(w: SpatialWeights, method: str, client, verbose: bool = False,
                            **options):
    """:func:`bayes_sdm.logdet.make_logdet` with the Chebyshev factorisations on ``client``.

    ``auto`` resolves as :func:`~bayes_sdm.logdet.make_logdet` does; the eigenvalue method (small
    or dense W) runs here, the stochastic method's probes need the hook described in
    ``docs/scale.md`` and run in this process until it exists.
    """
    from ..logdet import make_logdet

    if method in ("auto", "chebyshev") and w.is_sparse:
        if method == "auto":
            method = _auto_method(w)
        if method == "chebyshev":
            return DaskChebyshevLogDet(w, client, verbose=verbose, **options)
    return make_logdet(w, method, verbose=verbose, **options)


def _auto_method(w: SpatialWeights) -> str:
    """The method ``make_logdet(w, 'auto')`` picks for a sparse W: its N threshold (read from
    :mod:`bayes_sdm.logdet`), then the fill of one LU (the hook in ``docs/scale.md`` lets
    ``make_logdet`` take the Chebyshev class instead, removing this copy of the rule)."""
    from .. import logdet as ld

    n = w.n
    small = getattr(ld, "AUTO_EIGEN_MAX_N", 3000)
    if hasattr(ld, "_auto_eigen_max_n"):
        small = ld._auto_eigen_max_n(w)
    if n <= small:
        return "eigen"
    f = SparseFactor(w)
    f.logabsdet(0.5)
    if f.fill_nnz is not None and f.fill_nnz > ld.AUTO_MAX_FILL_NNZ:
        return "stochastic"
    return "chebyshev"
