"""Exact log-determinants by sparse (or dense) LU factorisation, serially or in a pool of
forked worker processes."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..weights import SpatialWeights


class SparseFactor:
    """log|det(I - rho A)| by LU factorisation, A = W or its symmetric similar form.

    Sparse A: one fill-reducing ordering (SuperLU ``MMD_AT_PLUS_A``) is computed once at the
    first call; every factorisation then runs on the symmetrically permuted matrix with the
    natural order and diagonal pivots (``diag_pivot_thresh=0``).  Without pivoting the LU exists
    and is stable because I - rho W is row diagonally dominant for |rho| < 1 and a row-standardised
    W, and I - rho S is symmetric positive definite for the symmetric form S and |rho| < b (Golub &
    Van Loan 2013, sec. 3.4.10 and 4.2).  Should a pivot vanish, SuperLU's partial pivoting takes
    over.  log|det| = sum_i log|u_ii| (L has a unit diagonal; permutations change only the sign).
    Dense A: LAPACK ``getrf``.
    """

    def __init__(self, w: SpatialWeights, use_symmetric: bool = True):
        sym = w.symmetric_form() if use_symmetric else None
        a = sym if sym is not None else w.matrix
        self.n = w.n
        self.symmetric = sym is not None
        self.dense = not sp.issparse(a)
        self._a = np.asarray(a, dtype=float) if self.dense else sp.csc_array(a, dtype=float)
        self._perm_done = self.dense
        self.fill_nnz: int | None = None
        self.seconds: list[float] = []

    def _order(self, rho: float) -> None:
        m = sp.csc_array(sp.eye_array(self.n, format="csc") - rho * self._a)
        lu = spla.splu(m, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options={"SymmetricMode": True})
        q = np.argsort(lu.perm_c)
        self._a = sp.csc_array(self._a[q][:, q])
        self._a.sort_indices()
        self._perm_done = True

    def logabsdet(self, rho: float) -> float:
        rho = float(rho)
        t0 = time.perf_counter()
        if self.dense:
            lu, _ = sla.lu_factor(np.eye(self.n) - rho * self._a, check_finite=False)
            out = float(np.sum(np.log(np.abs(np.diag(lu)))))
        else:
            if not self._perm_done:
                self._order(rho)
            m = sp.csc_array(sp.eye_array(self.n, format="csc") - rho * self._a)
            try:
                lu = spla.splu(m, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                               options={"SymmetricMode": True})
                d = lu.U.diagonal()
                if not np.all(np.isfinite(d)) or np.any(d == 0):
                    raise RuntimeError("zero pivot")
            except RuntimeError:
                lu = spla.splu(m, permc_spec="COLAMD")
                d = lu.U.diagonal()
            self.fill_nnz = int(lu.L.nnz + lu.U.nnz)
            out = float(np.sum(np.log(np.abs(d))))
        self.seconds.append(time.perf_counter() - t0)
        return out

    def __call__(self, rho) -> np.ndarray:
        rho = np.atleast_1d(np.asarray(rho, dtype=float))
        return np.array([self.logabsdet(r) for r in rho])


_WORKER_FACTOR: SparseFactor | None = None


def _init_worker(a: sp.csc_array) -> None:
    """Process-pool initializer: keep the (already ordered) matrix of this worker."""
    global _WORKER_FACTOR
    f = SparseFactor.__new__(SparseFactor)
    f.n, f.symmetric, f.dense = a.shape[0], None, False
    f._a, f._perm_done, f.fill_nnz, f.seconds = a, True, None, []
    _WORKER_FACTOR = f


def _worker_logabsdet(rho: float) -> float:
    return _WORKER_FACTOR.logabsdet(rho)


class FactorPool:
    """Exact log-determinants in ``workers`` spawned processes sharing one ordered matrix.

    The fill-reducing ordering is computed once in the parent (its first factorisation) and the
    ordered matrix is handed once to each worker, which then factorises with the natural order.
    SuperLU holds the GIL, so threads would not run in parallel.  Workers are forked (POSIX
    ``fork``: no re-import of the caller's ``__main__``, so scripts without a main guard work);
    where fork is unavailable the factorisations run serially.
    """

    def __init__(self, factor: SparseFactor, workers: int):
        self.factor = factor
        self.workers = int(workers)
        self._ex = None

    def __call__(self, rho) -> np.ndarray:
        rho = np.atleast_1d(np.asarray(rho, dtype=float))
        if self.workers <= 1 or self.factor.dense or len(rho) < 2:
            return self.factor(rho)
        out = np.empty(len(rho))
        start = 0
        if not self.factor._perm_done:  # the ordering, in the parent
            out[0] = self.factor.logabsdet(rho[0])
            start = 1
        if self._ex is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            if "fork" not in mp.get_all_start_methods():
                self.workers = 1  # spawn would re-run an unguarded __main__: stay serial
                out[start:] = self.factor(rho[start:])
                return out
            self._ex = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork"),
                                           initializer=_init_worker,
                                           initargs=(self.factor._a,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
            out[start:] = list(self._ex.map(_worker_logabsdet, rho[start:]))
        return out

    def close(self) -> None:
        if self._ex is not None:
            self._ex.shutdown()
            self._ex = None


def default_workers(n: int) -> int:
    """Processes for the factorisations: 1 below N = 200,000 (spawning costs about a second
    and the LUs take well under one), else the CPU count up to 4."""
    if n < 200_000:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))

