"""Chebyshev interpolant of exact sparse-LU log-determinants (:class:`ChebyshevLogDet`)."""

from __future__ import annotations

import time

import numpy as np

from ..weights import SpatialWeights
from .base import _check_nonnegative
from .cache import _cache_dir, _hash_w, _save_cache
from .eigen import lambda_max, lambda_min
from .factor import FactorPool, SparseFactor, default_workers
from .interpolated import InterpolatedLogDet, _adaptive_fit, _default_domain


class ChebyshevLogDet(InterpolatedLogDet):
    """Chebyshev interpolant of exact sparse-LU log-determinants (module docstring).

    Parameters
    ----------
    w : the weights (sparse or dense; W must be non-negative)
    degree : fixed even degree; by default adaptive (8, 16, 32, 64, 128) until the estimated
        slope error is below ``tol * N``
    tol : relative slope tolerance (default 1e-6: 1 at N = 10^6, 0.003 at N = 3000; the 0.01-sd
        contract allows about 0.003 sqrt(N) for T = 10)
    lower_margin, upper_margin : the domain is [-(1 - lower_margin) b, (1 - upper_margin) b],
        b = 1/lambda_max (default [-0.99, 0.999] for row-standardised W)
    max_degree : cap of the adaptive degree
    workers : processes for the factorisations (default :func:`default_workers`: 1 below
        N = 200,000, else the CPU count up to 4)
    compute_lambda_min : compute lambda_min with ARPACK for ``admissible`` (reporting only)
    cache : cache the node values on disk (keyed by a hash of W and the options)
    verbose : print progress and cost on stderr
    """

    method = "chebyshev"

    def __init__(self, w: SpatialWeights, degree: int | None = None, tol: float = 1e-6,
                 lower_margin: float = 0.01, upper_margin: float = 1e-3, max_degree: int = 128,
                 workers: int | None = None, compute_lambda_min: bool = False, cache: bool = True,
                 verbose: bool = False):
        t0 = time.perf_counter()
        _check_nonnegative(w)
        b = 1.0 / lambda_max(w)
        super().__init__(w.n, b, _default_domain(b, lower_margin, upper_margin), np.zeros(1))
        self.uses_symmetric_form = w.symmetric_form() is not None
        factor = SparseFactor(w)
        self._factor = factor
        self._workers = default_workers(w.n) if workers is None else int(workers)
        self._pool = FactorPool(factor, self._workers)
        self.n_factorisations = 0
        exact = self._exact
        opts = f"cheb|{degree}|{tol}|{lower_margin}|{upper_margin}|{max_degree}"
        key = None
        cdir = _cache_dir() if cache else None
        if cdir is not None:
            key = cdir / f"cheb-{_hash_w(w, opts)}.npz"
        loaded = False
        if key is not None and key.exists():
            try:
                z = np.load(key)
                self.set_coef(z["coef"])
                self.slope_error_estimate = float(z["est"])
                self.node_values = z["vals"]
                loaded = True
            except (OSError, ValueError, KeyError):
                loaded = False
        self.from_cache = loaded
        if not loaded:
            def g(rho):
                return exact(rho) - np.log1p(-rho / b)

            _adaptive_fit(self, g, degree, tol * w.n, max_degree=max_degree, verbose=verbose)
            if key is not None:
                _save_cache(key, coef=self.coef, est=self.slope_error_estimate,
                            vals=self.node_values)
        self._pool.close()
        if compute_lambda_min:
            lmin = lambda_min(w)
            if lmin is not None and lmin < 0:
                self.admissible = (1.0 / lmin, b)
        self.fill_nnz = factor.fill_nnz
        self.build_seconds = time.perf_counter() - t0

    def _exact(self, rho) -> np.ndarray:
        """Exact log|I - rho W| by LU (a method, so that the object pickles)."""
        rho = np.atleast_1d(np.asarray(rho, dtype=float))
        self.n_factorisations += len(rho)
        return self._pool(rho)

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_pool"] = FactorPool(self._factor, 1)  # no live process pool in a pickle
        return d

    def describe(self) -> dict:
        d = super().describe()
        d.update(n_factorisations=int(self.n_factorisations), fill_nnz=self.fill_nnz,
                 from_cache=bool(self.from_cache))
        return d

