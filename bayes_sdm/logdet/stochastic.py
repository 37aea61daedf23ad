"""The seeded stochastic (Hutchinson-Taylor) log-determinant, :class:`StochasticLogDet`."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..weights import SpatialWeights
from .base import _check_nonnegative
from .eigen import lambda_max
from .interpolated import InterpolatedLogDet, _adaptive_fit, _default_domain


class StochasticLogDet(InterpolatedLogDet):
    """Monte Carlo log-determinant: Hutchinson estimates of tr(W^k) in the Taylor series.

    log|I - rho W| = log(1 - rho lambda_max) - sum_{k>=1} rho^k (tr(W^k) - lambda_max^k) / k

    (|rho| < 1/lambda_max).  tr(W), tr(W^2), tr(W^3), tr(W^4) are exact (sums of element-wise
    products of W, W' and the sparse W^2); tr(W^k) for k = 5..``terms`` are estimated by (1/p) sum_j z_j' W^k z_j over ``probes`` Rademacher
    vectors z_j drawn once with ``seed`` (Hutchinson 1990; Barry & Pace 1999).  The series is then
    interpolated exactly as the Chebyshev method.  The truncation after ``terms`` powers bounds the
    domain: the upper end is lowered until the slope's truncation bound
    |r_m| rho^m / (1 - rho/b) <= tol * N, r_m the last trace.

    The estimate is unbiased for each power; its standard error is reported as
    ``se_slope_max`` (the largest standard error of the slope over the domain, from the spread of
    the probes).  The Monte Carlo error of the slope grows like sqrt(N / probes), while the
    contract's allowance 0.01 / (T sd(rho)) grows like sqrt(N / T): the stochastic method meets the
    0.01-sd contract only with many probes, and is the fallback for matrices whose LU fills in too
    much, not the default.

    Parameters
    ----------
    w : weights
    probes : number of Rademacher probe vectors
    terms : number of powers of W in the series
    seed : seed of the probes (fixed: a deterministic function for the sampler)
    tol, lower_margin, upper_margin, max_degree : as :class:`ChebyshevLogDet`
    block : probes per block of matrix products (memory N * block * 8 bytes, twice)
    """

    method = "stochastic"

    def __init__(self, w: SpatialWeights, probes: int = 64, terms: int = 300,
                 seed: int = 20260101, tol: float = 1e-6, lower_margin: float = 0.01,
                 upper_margin: float = 1e-3, max_degree: int = 128, block: int = 16,
                 verbose: bool = False):
        t0 = time.perf_counter()
        _check_nonnegative(w)
        if probes < 2 or terms < 5:
            raise InputError("stochastic log-determinant needs probes >= 2 and terms >= 5")
        lmax = lambda_max(w)
        b = 1.0 / lmax
        n = w.n
        a = sp.csr_array(w.matrix) if w.is_sparse else np.asarray(w.matrix)
        # exact low-order traces: tr(W^k) = sum_ij (W^i)_jl (W^(k-i))_lj
        a2 = a @ a
        exact_tr = [float(a.diagonal().sum()), float(_hadamard_sum(a, a.T)),
                    float(_hadamard_sum(a2, a.T)), float(_hadamard_sum(a2, a2.T))]
        del a2
        rng = np.random.default_rng(seed)
        est = np.empty((terms, probes))
        for j0 in range(0, probes, block):
            m = min(block, probes - j0)
            z = rng.choice(np.array([-1.0, 1.0]), size=(n, m))
            v = z
            for k in range(terms):
                v = a @ v
                est[k, j0:j0 + m] = np.einsum("ij,ij->j", z, v)
        est[:4, :] = np.array(exact_tr)[:, None]
        kk = np.arange(1, terms + 1)
        r = est - (lmax ** kk)[:, None]  # traces without the Perron root
        self.probes, self.terms, self.seed = probes, terms, seed
        self.trace_estimates = est.mean(axis=1)
        # domain limited by the truncation of the series: with q = rho/b and normalised traces
        # r_k / lambda_max^k (non-increasing in k), sum_{k>m} rho^(k-1) |r_k| <=
        # lambda_max |r_m / lambda_max^m| q^m / (1 - q)
        r_last = float(np.abs(r[-5:].mean(axis=1) / lmax ** kk[-5:]).max())
        lo_d, hi_d = _default_domain(b, lower_margin, upper_margin)
        tol_abs = tol * n

        def trunc_bound(rho):
            q = abs(rho) / b
            return lmax * r_last * q ** terms / max(1.0 - q, 1e-300)

        while trunc_bound(hi_d) > tol_abs and hi_d > 0.5 * b:
            hi_d = hi_d - 0.25 * (b - hi_d) if hi_d > 0.9 * b else hi_d - 0.01 * b
        lo_d = max(lo_d, -hi_d)
        self.truncation_bound = float(trunc_bound(hi_d))
        coef_series = -(r / kk[:, None])  # (terms, probes): g_j(rho) = sum_k c_kj rho^k
        mean_c = coef_series.mean(axis=1)
        super().__init__(n, b, (lo_d, hi_d), np.zeros(1))

        def g(rho):
            rho = np.asarray(rho, dtype=float)
            acc = np.zeros_like(rho)
            for ck in mean_c[::-1]:  # Horner: sum_{k=1}^m c_k rho^k
                acc = (acc + ck) * rho
            return acc

        _adaptive_fit(self, g, None, tol_abs, max_degree=max_degree, verbose=verbose)
        # standard error of the slope across probes: d/drho sum_k c_kj rho^k
        rr = self.rho_of_x(np.cos(np.pi * (np.arange(401) + 0.5) / 401))
        dc = coef_series * kk[:, None]  # derivative coefficients of rho^(k-1)
        slopes = np.zeros((len(rr), probes))
        for ck in dc[::-1]:
            slopes = slopes * rr[:, None] + ck
        self.se_slope = slopes.std(axis=1, ddof=1) / np.sqrt(probes)
        self.se_slope_rho = rr
        self.se_slope_max = float(self.se_slope.max())
        self.build_seconds = time.perf_counter() - t0

    def slope_error_bound(self, lo=None, hi=None) -> float:
        """Interpolation error plus two Monte Carlo standard errors of the slope, the largest
        on [lo, hi] (the series' truncation bound is below the interpolation tolerance)."""
        r, se = self.se_slope_rho, self.se_slope
        lo = self.interval[0] if lo is None else max(lo, self.interval[0])
        hi = self.interval[1] if hi is None else min(hi, self.interval[1])
        inside = (r >= lo) & (r <= hi)
        order = np.argsort(r)
        ends = np.interp([lo, hi], r[order], se[order])
        mc = max(float(ends.max()), float(se[inside].max()) if inside.any() else 0.0)
        return float(self.slope_error_estimate + 2.0 * mc)

    def describe(self) -> dict:
        d = super().describe()
        d.update(probes=self.probes, terms=self.terms, seed=self.seed,
                 se_slope_max=self.se_slope_max, truncation_bound=self.truncation_bound)
        return d


def _hadamard_sum(a, b) -> float:
    """sum_ij a_ij b_ij for dense or sparse a, b (= tr(a b') without forming the product)."""
    if sp.issparse(a):
        return float(sp.csr_array(a).multiply(b).sum())
    return float(np.sum(np.asarray(a) * np.asarray(b)))

