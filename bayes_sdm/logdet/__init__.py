"""The log-determinant log|I - rho W| behind one small interface.

Every estimator (PyMC models, ML, effects, the exact sampler) talks to a :class:`LogDet`:

* ``interval`` -- the interval of rho the method supports (prior support, search bounds);
* ``value(rho)``, ``deriv(rho)`` -- numpy, vectorised over rho;
* ``symbolic(rho)`` -- the same value as a PyTensor expression (gradient by autodiff);
* ``traces(rho)`` -- tr((I - rho W)^{-1}) and tr((I - rho W)^{-1} W), for the effects.

Methods
-------
:class:`EigenLogDet` (``eigen``, exact)
    The eigenvalues of W once (O(N^3), outside the sampler), then log|I - rho W| =
    sum_i log|1 - rho lambda_i| in O(N) per evaluation (Ord 1975, JASA 70:120-126).  A
    row-standardised W built from a symmetric C is similar to the symmetric D^{-1/2} C D^{-1/2}, so
    a symmetric eigen-solver is used there; otherwise a general one, where complex conjugate pairs
    enter through |1 - rho lambda|^2 = (1 - rho Re lambda)^2 + (rho Im lambda)^2.
:class:`ChebyshevLogDet` (``chebyshev``, exact factorisations + interpolation)
    Sparse LU factorisations of I - rho W (or of the symmetric similar form) at Chebyshev nodes,
    then a Chebyshev interpolant in rho with an analytic derivative (Pace & Barry 1997, Geogr.
    Anal. 29:232-247, interpolated the exact log-determinant on a grid; Chebyshev interpolation
    after Trefethen 2013, "Approximation Theory and Approximation Practice").  No O(N^3) step and
    no dense N x N array.
:class:`StochasticLogDet` (``stochastic``, Monte Carlo)
    Hutchinson trace estimates of tr(W^k) in the Taylor series log|I - rho W| =
    -sum_k rho^k tr(W^k) / k (Barry & Pace 1999, Linear Algebra Appl. 289:41-54; LeSage & Pace
    2009, sec. 4.4; Hutchinson 1990), with the exact low-order traces and the unit eigenvalue
    taken out analytically, then the same Chebyshev interpolant.  A fixed seed makes it a
    deterministic function of rho, so the sampler sees one smooth target.  For matrices whose
    factorisation fills in too much.

Interpolation (both approximate methods)
----------------------------------------
For a non-negative W with Perron root lambda_max (= 1 exactly for a row-standardised W),
b = 1/lambda_max is a singular point of log|I - rho W| and, by Perron-Frobenius, every real
eigenvalue lies in [-lambda_max, lambda_max], so (-b, b) is inside the admissible interval
(1/lambda_min, 1/lambda_max).  The methods interpolate

    g(rho) = log|I - rho W| - log(1 - rho lambda_max)

(smooth up to rho = b when the Perron root is simple) in the variable
u = log(rho + b) - log(b - rho): the map sends the remaining real singular points, all outside
(-b, b), to Im u = +-pi (complex eigenvalues of a non-symmetric W, |lambda| <= lambda_max, put
theirs off the real axis outside the disk |rho| < b), so g is analytic in a strip around the real
u axis and the Chebyshev
interpolant converges geometrically even when W has eigenvalues within 1e-5 of one (large
k-nearest-neighbour graphs).  log(1 - rho lambda_max) is added back analytically.  The
interpolation domain, and hence ``interval``, is ``[-(1 - lower_margin) b, (1 - upper_margin)
b]`` (default ``[-0.99, 0.999]`` for a row-standardised W), a documented restriction of the
admissible interval; ``admissible`` keeps (1/lambda_min, 1/lambda_max), with lambda_min from
ARPACK (``eigsh`` smallest algebraic on the symmetric form, ``eigs`` smallest real part
otherwise) when it converges.

Accuracy is part of the contract: the degree is raised (8, 16, 32, 64, 128; nested Lobatto nodes)
until the estimated slope error is below ``tol * N`` over the domain (default tol = 1e-6),
and :meth:`InterpolatedLogDet.accuracy` measures the largest error of the value and of the slope
d/drho log|I - rho W| against exact factorisations at test points.  The effect of a slope error
delta on the posterior of rho is a shift of about T * delta * sd(rho)^2, i.e. T * delta * sd(rho)
posterior standard deviations (:meth:`InterpolatedLogDet.posterior_shift`).

What each path gives (the accuracy contract)
--------------------------------------------
* ``eigen``: exact to rounding -- values, slopes and the traces behind the effects.  From
  N = 1,000 (``AUTO_SYMBOLIC_CHEBYSHEV_N``) ``auto`` hands the sampler the Chebyshev interpolant
  of the exact values (one O(degree) expression per gradient instead of O(N)); its slope error is
  measured exactly on 4,001 points (about 1e-7 at N = 3,000) and enters the posterior-shift bound.
* ``chebyshev``: exact log-determinants at the nodes (sparse LU), interpolated; the adaptive
  degree stops when the estimated slope error is below 1e-6 N, and the estimate is reported as
  ``slope_error_bound``.  Measured against the eigenvalues (table below): value errors below
  1e-8, slope errors 2e-8 to 2e-6, i.e. posterior shifts T |slope error| sd(rho) below 1e-7 sd
  for T = 10 (contract: 0.01 sd).
* ``stochastic``: Monte Carlo (below); meets the contract only near moderate rho, and is the
  fallback when the LU fills in too much.

Every fit records ``posterior_shift_bound`` and its diagnostics fail above 0.01 sd.

Choice of method: the measured crossover
----------------------------------------
``benchmarks/bench_logdet.py`` (-> ``benchmarks/logdet_crossover.md``): the cold cost of one
construction, one process per cell, one BLAS thread (CPU seconds; 2 shared cores at load 7-9;
multi-threaded OpenBLAS made the dense solvers erratic there, and two idle cores can at best
halve the eigen column), and the process's peak memory (imports alone: 125 MB).  Chebyshev:
degree 64 (65 LUs) in every cell.

==========  ======  ===============  ==================  ==================
W           N       eigen s (MB)     Chebyshev s (MB)    Chebyshev slope err
==========  ======  ===============  ==================  ==================
sym k-NN    500     0.03 (139)       0.12 (136)          3.9e-8
sym k-NN    1,000   0.32 (197)       0.20 (137)          6.2e-8
sym k-NN    1,500   0.81 (228)       0.29 (137)          4.8e-8
sym k-NN    3,000   4.88 (322)       0.50 (139)          5.4e-8
sym k-NN    5,000   19.0 (519)       0.91 (141)          7.5e-8
sym k-NN    10,000  --               2.11 (147)          9.6e-7 (LU f.d.)
lattice     1,000   0.34 (196)       0.18 (136)          2.2e-7
lattice     3,000   4.90 (321)       0.56 (139)          5.7e-7
k-NN        400     0.08 (138)       0.09 (136)          1.2e-7
k-NN        700     0.32 (144)       0.16 (136)          1.2e-7
k-NN        1,000   1.12 (290)       0.19 (137)          3.2e-7
k-NN        3,000   17.4 (597)       0.51 (139)          8.4e-7
k-NN        10,000  --               1.95 (147)          2.2e-6 (LU f.d.)
dense       1,000   0.24 (219)       3.39 (167)          4.6e-8
dense       3,000   4.61 (395)       79.1 (424)          5.4e-8
dense asym  1,000   0.99 (205)       3.35 (167)          4.1e-8
dense asym  3,000   20.6 (396)       78.8 (355)          5.3e-8
==========  ======  ===============  ==================  ==================

(sym k-NN = symmetrised k-NN, k = 6, row-standardised, symmetric similar form; lattice = rook
grid; k-NN = k = 6, not symmetric, general complex eigen-solver; dense = inverse economic
distance; dense asym = the same with rescaled columns.)  Hence ``auto``: a dense W always uses
the eigenvalues (65 dense LUs cost 4-17 times one dense eigen-solve); a sparse W uses them up to
where they cost at most twice the Chebyshev path (exactness is worth that much; above, the gap
grows as N^3 against about N), i.e. N <= 1,000 with a symmetric similar form
(``AUTO_EIGEN_MAX_N_SYM``) and N <= 700 without (``AUTO_EIGEN_MAX_N``); above, the Chebyshev
interpolant of sparse LUs -- at N = 3,000 k-NN 34 times cheaper and 460 MB lighter.

Larger N (k-NN W, k = 6, Chebyshev; earlier ``benchmarks/results.md`` runs): N = 30,000: 11 s;
N = 300,000: 91 s (2 worker processes); N = 10^6: 647 s (serial, about 10 s and 42 million L+U
non-zeros per LU); slope errors at the posterior 1e-7 to 1.1e-6.  The stochastic method
(64 probes, 300 terms) at N = 1,500: slope error 0.25 at rho = 0.5 and about 20 near its upper
end (0.95): it does not meet the 0.01-sd contract there and is kept for W whose LU fills in too
much.
"""

from __future__ import annotations

import os
import time

from ..errors import InputError
from ..weights import SpatialWeights
from .base import LogDet, _check_nonnegative  # noqa: F401
from .base import _note as _default_note
from .block import BlockLogDet, block_logdet
from .cache import _CACHE_ENV, _cache_dir, _hash_w, _save_cache  # noqa: F401
from .chebyshev import ChebyshevLogDet
from .eigen import (  # noqa: F401
    _JAX_GPU_PLUGINS,
    EigenLogDet,
    _jax_gpu_eigvalsh,
    _jax_gpu_installed,
    eigenvalues,
    lambda_max,
    lambda_min,
)
from .factor import FactorPool, SparseFactor, default_workers
from .interpolated import (  # noqa: F401
    InterpolatedLogDet,
    _adaptive_fit,
    _cheb_coef,
    _default_domain,
    _lobatto,
)
from .stochastic import StochasticLogDet, _hadamard_sum  # noqa: F401

METHODS = ("auto", "eigen", "chebyshev", "stochastic")

#: ``auto``: a sparse W without a symmetric similar form (general, complex eigen-solver) uses
#: the eigenvalues up to this N, the Chebyshev interpolant of sparse LUs above (measured
#: crossover, module docstring)
AUTO_EIGEN_MAX_N = 700
#: ``auto``: a sparse W with a symmetric similar form (symmetric eigen-solver) uses the
#: eigenvalues up to this N, the Chebyshev interpolant of sparse LUs above
AUTO_EIGEN_MAX_N_SYM = 1000
#: ``auto``: a dense W above this N triggers a cost message (O(N^3) eigenvalues)
DENSE_COST_WARN_N = 3000
#: ``auto``: the sparse LU of I - rho W may hold at most this many non-zeros in L + U
AUTO_MAX_FILL_NNZ = 400_000_000
#: ``auto``: eigenvalue log-determinants from this N on give the sampler the Chebyshev
#: interpolant of the exact values (O(degree) per gradient instead of O(N); slope error
#: measured exactly, about 1e-7 at N = 3000)
AUTO_SYMBOLIC_CHEBYSHEV_N = 1000


# --------------------------------------------------------------------------------------------
# choice of method
# --------------------------------------------------------------------------------------------


def eigen_seconds(n: int, symmetric: bool) -> float:
    """Expected seconds of the eigenvalues of an N x N W on 2 CPU cores (LAPACK, O(N^3)):
    about 40 s at N = 5000 for the symmetric solver, 400 s for the general one (measured; a
    loaded machine is slower)."""
    return (n / 5000.0) ** 3 * (40.0 if symmetric else 400.0)


def _busy() -> float:
    """How many times slower than alone this machine runs now: the load average per core
    (at least 1; 1 where the load is unknown)."""
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except (AttributeError, OSError):
        return 1.0


def plan(w: SpatialWeights, method: str = "auto") -> tuple[str, float | None]:
    """What :func:`make_logdet` will do for W and how long it should take, before it runs:
    ``(description, seconds)``, seconds None when unknown in advance (the Chebyshev and
    stochastic methods time their first factorisation themselves).  The eigenvalues' estimate
    is :func:`eigen_seconds` times the machine's load per core (measured: 119 s for N = 2,000,
    general solver, at a load of 10 on 2 cores, estimated 128 s)."""
    n = w.n
    if method == "auto":
        method = "eigen" if (not w.is_sparse or n <= _auto_eigen_max_n(w)) else "chebyshev"
    if method == "eigen":
        sym = w.sym_scale is not None  # W has a symmetric similar form
        solver = "symmetric" if sym else "general"
        cdir = _cache_dir()
        if cdir is not None and (cdir / f"eig-{_hash_w(w)}.npy").exists():
            return f"eigenvalues of W: N={n:,}, cached", 0.0
        return f"eigenvalues of W: N={n:,}, {solver} solver", eigen_seconds(n, sym) * _busy()
    if method == "chebyshev":
        return f"Chebyshev interpolation of sparse LUs: N={n:,}", None
    if method == "stochastic":
        return f"stochastic trace estimates: N={n:,}", None
    return method, None


def make_logdet(w: SpatialWeights, method: str = "auto", verbose: bool = False,
                notify=None, **options) -> LogDet:
    """Choose the log-determinant method for W.

    ``auto`` (the crossover measured by ``benchmarks/bench_logdet.py``, module docstring):

    * dense W: ``eigen`` (O(N^3) once, cached on disk; a message about its cost is printed for
      N > 3000, and a GPU is used through JAX when one is present); from
      ``AUTO_SYMBOLIC_CHEBYSHEV_N`` = 1000 units on with ``symbolic="chebyshev"`` (below), so
      that a gradient costs the same at every N.  Interpolating dense LUs costs more at every N;
    * sparse W with a symmetric similar form, N <= ``AUTO_EIGEN_MAX_N_SYM`` = 1000, and sparse W
      without one, N <= ``AUTO_EIGEN_MAX_N`` = 700: ``eigen`` (exact; cheaper than, or at most
      twice, the Chebyshev path there);
    * larger sparse W: ``chebyshev`` (sparse LU at Chebyshev nodes; exact values at the nodes,
      slope error estimated and bounded by 1e-6 N), unless the LU at rho = 0.5 holds more than
      ``AUTO_MAX_FILL_NNZ`` non-zeros, then ``stochastic``.

    ``eigen``, ``chebyshev`` and ``stochastic`` force a method; ``options`` go to its
    constructor (e.g. ``degree``, ``tol``, ``upper_margin``, ``probes``, ``seed``; for ``eigen``
    only ``symbolic="chebyshev"``: exact values, derivatives and traces, but the PyTensor
    expression is the interpolant of the exact values, O(1) per gradient instead of O(N), with its
    exactly measured error, and ``interval`` becomes the interpolation domain).

    ``notify``: a callable taking the cost messages (default: printed on stderr); the user
    layer's stage reporter passes its own (:meth:`bayes_sdm.progress.Stages.note`).
    """
    _note = notify or _default_note
    if method not in METHODS:
        raise InputError(f"unknown log-determinant method {method!r}; choose from {METHODS}")
    if not isinstance(w, SpatialWeights):
        raise InputError(f"make_logdet needs SpatialWeights, got {type(w).__name__}")
    n = w.n
    auto = method == "auto"
    if auto:
        if not w.is_sparse or n <= _auto_eigen_max_n(w):
            method = "eigen"
        else:
            f = SparseFactor(w)
            t0 = time.perf_counter()
            f.logabsdet(0.5)
            dt = time.perf_counter() - t0
            if f.fill_nnz is not None and f.fill_nnz > AUTO_MAX_FILL_NNZ:
                _note(f"N={n}: the sparse LU of I - rho W holds {f.fill_nnz:,} non-zeros "
                      f"(> {AUTO_MAX_FILL_NNZ:,}); using the stochastic log-determinant")
                method = "stochastic"
            else:
                method = "chebyshev"
                if verbose or dt * 33 > 60:
                    _note(f"N={n}: sparse LU takes {dt:.2f} s; the Chebyshev log-determinant "
                          f"needs 33-129 of them (about {33 * dt:.0f}-{129 * dt:.0f} s, once)")
    if method == "eigen":
        symbolic = options.pop("symbolic", "chebyshev" if auto and n >= AUTO_SYMBOLIC_CHEBYSHEV_N
                               else "exact")
        if options:
            raise InputError(f"the eigen log-determinant takes only the option 'symbolic', got "
                             f"{sorted(options)}")
        if not w.is_sparse and n > DENSE_COST_WARN_N or w.is_sparse and n > _auto_eigen_max_n(w):
            sym = w.symmetric_form() is not None
            est = eigen_seconds(n, sym)
            _note(f"N={n} {'dense' if not w.is_sparse else 'sparse'} W: the eigenvalue "
                  f"log-determinant costs O(N^3) time and {8 * n * n / 1e9:.1f} GB for the dense "
                  f"matrix, about {est:.0f} s on 2 CPU cores ({'symmetric' if sym else 'general'} "
                  "solver), once (cached on disk); a GPU is used through JAX when present.  A "
                  "sparse W with method='chebyshev' (the default above this N) avoids this.")
        return EigenLogDet(eigenvalues(w), symbolic=symbolic)
    if method == "chebyshev":
        return ChebyshevLogDet(w, verbose=verbose, **options)
    return StochasticLogDet(w, verbose=verbose, **options)


def _auto_eigen_max_n(w: SpatialWeights) -> int:
    """The largest N for which ``auto`` uses the eigenvalues of a sparse W."""
    return AUTO_EIGEN_MAX_N_SYM if w.sym_scale is not None else AUTO_EIGEN_MAX_N


__all__ = [
    "METHODS", "LogDet", "EigenLogDet", "InterpolatedLogDet", "ChebyshevLogDet",
    "StochasticLogDet", "BlockLogDet", "block_logdet", "SparseFactor", "FactorPool",
    "make_logdet", "eigenvalues", "lambda_max", "lambda_min", "default_workers", "plan",
    "eigen_seconds",
]
