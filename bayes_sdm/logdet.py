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

Measured (k-nearest-neighbour W, k = 6, random points; 2 shared CPU cores; benchmarks/):

* N = 3,000: degree 64 (65 LUs), max slope error 8.7e-7 over [-0.99, 0.999] against the
  eigenvalues (the slope is O(N)); degree 32: 0.23, degree 48: 2.6e-4.
* N = 30,000: 11 s; N = 300,000: 91 s (2 worker processes); N = 10^6: 647 s (serial,
  about 10 s and 42 million L+U non-zeros per LU).  Slope errors at the posterior 1e-7 to 1.1e-6,
  i.e. posterior shifts (T-1) |delta| sd(rho) below 1e-8 sd.
* The stochastic method (64 probes, 300 terms) at N = 1,500: slope error 0.25 at rho = 0.5 and
  about 20 near its upper end (0.95): it does not meet the 0.01-sd contract there and is kept
  for W whose LU fills in too much.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import InputError
from .weights import SpatialWeights

METHODS = ("auto", "eigen", "chebyshev", "stochastic")

#: ``auto``: dense W and sparse W up to this N use the eigenvalues
AUTO_EIGEN_MAX_N = 3000
#: ``auto``: a dense W above this N triggers a cost message (O(N^3) eigenvalues)
DENSE_COST_WARN_N = 3000
#: ``auto``: the sparse LU of I - rho W may hold at most this many non-zeros in L + U
AUTO_MAX_FILL_NNZ = 400_000_000
#: ``auto``: eigenvalue log-determinants from this N on give the sampler the Chebyshev
#: interpolant of the exact values (O(degree) per gradient instead of O(N); slope error
#: measured exactly, about 1e-7 at N = 3000)
AUTO_SYMBOLIC_CHEBYSHEV_N = 1000


class LogDet:
    """Interface of a log-determinant method (see module docstring)."""

    n: int
    interval: tuple[float, float]
    method: str = "abstract"

    def value(self, rho):
        raise NotImplementedError

    def deriv(self, rho):
        raise NotImplementedError

    def symbolic(self, rho):
        raise NotImplementedError

    def traces(self, rho):
        """Return (tr((I - rho W)^{-1}), tr((I - rho W)^{-1} W)), vectorised over rho.

        Default, valid for every method: tr((I-rho W)^{-1} W) = -d/drho log|I - rho W| and
        tr((I-rho W)^{-1}) = N + rho tr((I-rho W)^{-1} W) (from (I - rho W)^{-1} =
        I + rho (I - rho W)^{-1} W; LeSage & Pace 2009, sec. 4.5).
        """
        rho = np.asarray(rho, dtype=float)
        trw = -self.deriv(rho)
        return self.n + rho * trw, trw

    @property
    def eigenvalues(self) -> np.ndarray | None:
        """The eigenvalues of W when the method has them (exact traces), else None."""
        return None

    def describe(self) -> dict:
        """A small record of the method (for outputs and benchmarks)."""
        return {"method": self.method, "n": int(self.n), "interval": tuple(map(float, self.interval))}

    def slope_error_bound(self, lo: float | None = None, hi: float | None = None) -> float:
        """An upper estimate of |error of d/drho log|I - rho W|| on [lo, hi] (default: the
        interval) in the expression the samplers use; 0 for an exact method."""
        return 0.0

    def posterior_shift_bound(self, a: float, rho_draws) -> float:
        """a * slope error * sd(rho): how far, in posterior standard deviations, the method's
        slope error can move the posterior of rho (a = the Jacobian's multiplier, T - 1 for
        two-way effects; :meth:`InterpolatedLogDet.posterior_shift`).  The slope error is taken
        over the posterior mean +- 4 sd.  The contract asks for <= 0.01."""
        r = np.asarray(rho_draws, dtype=float).ravel()
        m, sd = float(r.mean()), float(r.std())
        return float(abs(a) * self.slope_error_bound(m - 4 * sd, m + 4 * sd) * sd)


class EigenLogDet(LogDet):
    """Exact log-determinant from the eigenvalues of W (dense, N up to a few thousand)."""

    method = "eigen"

    def __init__(self, eigenvalues: np.ndarray, symbolic: str = "exact"):
        if symbolic not in ("exact", "chebyshev"):
            raise InputError(f"symbolic must be 'exact' or 'chebyshev', got {symbolic!r}")
        lam = np.asarray(eigenvalues)
        if np.iscomplexobj(lam) and np.all(np.abs(lam.imag) <= 1e-10 * max(1.0, np.abs(lam).max())):
            lam = lam.real
        self.n = lam.shape[0]
        self.complex = np.iscomplexobj(lam)
        self.re = np.ascontiguousarray(lam.real, dtype=float)
        self.im = np.ascontiguousarray(lam.imag, dtype=float) if self.complex else None
        # admissible interval: the real eigenvalues nearest to the origin on each side bound rho
        real = self.re if not self.complex else self.re[np.abs(self.im) <= 1e-10]
        lmax, lmin = real.max(), real.min()
        if lmax <= 0 or lmin >= 0:
            raise InputError("W must have positive and negative real eigenvalues")
        self.interval = (float(1.0 / lmin), float(1.0 / lmax))
        self.admissible = self.interval
        self.symbolic_method = symbolic
        self._interp = None
        if symbolic == "chebyshev":
            self._interp = self.interpolant()
            self.interval = self._interp.interval

    @property
    def eigenvalues(self) -> np.ndarray:
        return self.re if not self.complex else self.re + 1j * self.im

    def _parts(self, rho):
        rho = np.asarray(rho, dtype=float)[..., None]
        a = 1.0 - rho * self.re
        return rho, a

    def value(self, rho):
        rho, a = self._parts(rho)
        if not self.complex:
            return np.log(a).sum(axis=-1)
        b = rho * self.im
        return 0.5 * np.log(a * a + b * b).sum(axis=-1)

    def deriv(self, rho):
        rho, a = self._parts(rho)
        if not self.complex:
            return (-self.re / a).sum(axis=-1)
        b = rho * self.im
        return ((-a * self.re + b * self.im) / (a * a + b * b)).sum(axis=-1)

    def traces(self, rho):
        """Exact traces: sum 1/(1 - rho lambda) and sum lambda/(1 - rho lambda) (real parts)."""
        rho = np.asarray(rho, dtype=float)[..., None]
        lam = self.eigenvalues
        d = 1.0 - rho * lam
        tr_inv = np.real((1.0 / d).sum(axis=-1))
        tr_inv_w = np.real((lam / d).sum(axis=-1))
        return tr_inv, tr_inv_w

    def interpolant(self, tol: float = 1e-6, lower_margin: float = 0.01,
                    upper_margin: float = 1e-3, max_degree: int = 128) -> InterpolatedLogDet:
        """The Chebyshev interpolant (module docstring) of this exact log-determinant.

        Its node values are exact (from the eigenvalues, no factorisation), and its slope error
        is measured exactly on 4001 points of the domain (``slope_error_exact``).  Used by
        ``symbolic="chebyshev"``: a sampler's gradient then costs O(degree) instead of O(N).
        """
        lmax = float(self.re.max() if not self.complex else
                     self.re[np.abs(self.im) <= 1e-10].max())
        b = 1.0 / lmax
        obj = InterpolatedLogDet(self.n, b, _default_domain(b, lower_margin, upper_margin),
                                 np.zeros(1))
        obj.method = "eigen+chebyshev"

        def g(rho):
            return self.value(rho) - np.log1p(-np.asarray(rho) / b)

        _adaptive_fit(obj, g, None, tol * self.n, max_degree=max_degree)
        grid = np.linspace(*obj.interval, 4001)
        obj.slope_error_exact = float(np.max(np.abs(obj.deriv(grid) - self.deriv(grid))))
        obj.value_error_exact = float(np.max(np.abs(obj.value(grid) - self.value(grid))))
        return obj

    def describe(self) -> dict:
        d = super().describe()
        d["symbolic"] = self.symbolic_method
        if self._interp is not None:
            d.update(degree=int(self._interp.degree),
                     symbolic_slope_error=self._interp.slope_error_exact)
        return d

    def slope_error_bound(self, lo=None, hi=None) -> float:
        """0 (exact), or the exactly measured slope error of the interpolant the samplers use
        with ``symbolic="chebyshev"``."""
        return 0.0 if self._interp is None else self._interp.slope_error_bound()

    def symbolic(self, rho):
        """sum_i log|1 - rho lambda_i| as PyTensor (O(N) per evaluation), or, with
        ``symbolic="chebyshev"``, the interpolant of :meth:`interpolant` (O(degree); error
        ``describe()["symbolic_slope_error"]``, measured exactly)."""
        import pytensor.tensor as pt

        if self._interp is not None:
            return self._interp.symbolic(rho)
        re = pt.constant(self.re)
        a = 1.0 - rho * re
        if not self.complex:
            return pt.sum(pt.log(a))
        b = rho * pt.constant(self.im)
        return 0.5 * pt.sum(pt.log(a * a + b * b))

    def accuracy(self, *args, **kwargs) -> dict:
        """The eigenvalue method is exact up to rounding: zero interpolation error."""
        return {"method": self.method, "max_value_error": 0.0, "max_slope_error": 0.0}


# --------------------------------------------------------------------------------------------
# caching
# --------------------------------------------------------------------------------------------

_CACHE_ENV = "BAYES_SDM_CACHE"


def _cache_dir() -> Path | None:
    d = os.environ.get(_CACHE_ENV)
    if d == "0":
        return None
    p = Path(d) if d else Path.home() / ".cache" / "bayes_sdm"
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return p


def _hash_w(w: SpatialWeights, extra: str = "") -> str:
    """SHA-256 of W's numbers (sparse arrays hashed without densifying) and of ``extra``."""
    h = hashlib.sha256()
    m = w.matrix
    if sp.issparse(m):
        m = sp.csr_array(m)
        m.sort_indices()
        for a in (m.indptr, m.indices, m.data):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(repr(m.shape).encode())
    else:
        h.update(np.ascontiguousarray(m).tobytes())
    h.update(b"sym" if w.sym_scale is not None else b"gen")
    h.update(extra.encode())
    return h.hexdigest()[:32]


def _save_cache(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass


def _note(msg: str) -> None:
    """A message about cost, on stderr (visible from the CLI and in notebooks)."""
    print(f"bayes_sdm.logdet: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# eigenvalues
# --------------------------------------------------------------------------------------------


#: packages through which JAX reaches a GPU (JAX's CUDA / ROCm plugins)
_JAX_GPU_PLUGINS = ("jax_plugins", "jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                    "jax_rocm7_plugin")


def _jax_gpu_installed() -> bool:
    """JAX and a GPU plugin are installed (checked without importing JAX, which costs 0.6 s)."""
    import importlib.util

    def found(name):  # top-level names only: find_spec imports nothing for them
        return importlib.util.find_spec(name) is not None

    return found("jax") and any(found(m) for m in _JAX_GPU_PLUGINS)


def _jax_gpu_eigvalsh(s: np.ndarray, require_gpu: bool = True) -> np.ndarray | None:
    """Symmetric eigenvalues through JAX in float64 on a GPU, or None when JAX or a GPU is
    missing (optional; never required).  ``require_gpu=False`` runs on whatever device JAX has
    (tests check the float64 path on the CPU)."""
    if require_gpu and not _jax_gpu_installed():
        return None
    try:
        import jax
    except ImportError:
        return None
    try:
        if require_gpu and not any(d.platform == "gpu" for d in jax.devices()):
            return None
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        lam = jnp.linalg.eigvalsh(jnp.asarray(s, dtype=jnp.float64))
        return np.asarray(jax.device_get(lam), dtype=float)
    except Exception as err:  # noqa: BLE001 - any JAX/CUDA failure falls back to the CPU
        _note(f"JAX GPU eigenvalues failed ({type(err).__name__}: {err}); using the CPU")
        return None


def eigenvalues(w: SpatialWeights, cache: bool = True, backend: str = "auto") -> np.ndarray:
    """Eigenvalues of W: symmetric solver on the similar symmetric form when there is one.

    Results are cached on disk (``$BAYES_SDM_CACHE`` or ``~/.cache/bayes_sdm``; set it to
    ``0`` to disable), keyed by a hash of W, so a second fit on the same W skips the O(N^3) step.

    ``backend``: ``auto`` uses a GPU through JAX (float64 ``eigvalsh``) when JAX is importable, a
    GPU is present, W has a symmetric form and N > 2000; ``cpu`` always uses LAPACK (scipy);
    ``jax`` requires the GPU path.
    """
    if backend not in ("auto", "cpu", "jax"):
        raise InputError(f"unknown eigenvalue backend {backend!r}; use 'auto', 'cpu' or 'jax'")
    key = None
    cdir = _cache_dir() if cache else None
    if cdir is not None:
        key = cdir / f"eig-{_hash_w(w)}.npy"
        if key.exists():
            try:
                return np.load(key)
            except (OSError, ValueError):
                pass
    sym = w.symmetric_form()
    lam = None
    if sym is not None:
        s = sym.toarray() if sp.issparse(sym) else sym
        if backend == "jax" or (backend == "auto" and w.n > 2000):
            lam = _jax_gpu_eigvalsh(s)
            if lam is None and backend == "jax":
                raise InputError("backend='jax' needs JAX with a GPU device")
        if lam is None:
            lam = sla.eigvalsh(s)
    else:
        if backend == "jax":
            raise InputError("backend='jax' needs a W with a symmetric form (general "
                             "eigenvalues run on the CPU only)")
        m = w.matrix.toarray() if w.is_sparse else w.matrix
        lam = sla.eigvals(m)
    if key is not None:
        tmp = key.with_suffix(f".{os.getpid()}.tmp.npy")
        try:
            np.save(tmp, lam)
            os.replace(tmp, key)
        except OSError:
            pass
    return lam


def lambda_max(w: SpatialWeights) -> float:
    """The Perron root of W: exactly 1 for a row-standardised W, else from ARPACK."""
    if w.row_standardized:
        return 1.0
    sym = w.symmetric_form()
    if w.n <= 500:
        m = sym if sym is not None else w.matrix
        m = m.toarray() if sp.issparse(m) else m
        lam = sla.eigvalsh(m) if sym is not None else sla.eigvals(m)
        return float(np.max(lam.real))
    if sym is not None:
        v = spla.eigsh(sp.csr_array(sym), k=1, which="LA", return_eigenvectors=False, tol=1e-12)
    else:
        v = spla.eigs(sp.csr_array(w.matrix), k=1, which="LR", return_eigenvectors=False,
                      tol=1e-12)
    return float(np.max(v.real))


def lambda_min(w: SpatialWeights, maxiter: int | None = None) -> float | None:
    """The smallest real eigenvalue of W (it bounds rho from below: rho > 1/lambda_min).

    Symmetric form: ARPACK ``eigsh(which="SA")`` (exact to 1e-10).  General W: ``eigs`` with the
    20 eigenvalues of smallest real part, keeping the real ones; returns None when ARPACK does not
    converge or finds no real one (then -lambda_max bounds it: Perron-Frobenius).
    """
    n = w.n
    sym = w.symmetric_form()
    if n <= 500:
        m = sym if sym is not None else w.matrix
        m = m.toarray() if sp.issparse(m) else m
        lam = sla.eigvalsh(m) if sym is not None else sla.eigvals(m)
        lam = np.asarray(lam)
        real = lam.real[np.abs(lam.imag) <= 1e-10] if np.iscomplexobj(lam) else lam
        return float(real.min())
    maxiter = maxiter or max(1000, 20 * n)
    try:
        if sym is not None:
            v = spla.eigsh(sp.csr_array(sym), k=1, which="SA", return_eigenvectors=False,
                           tol=1e-10, maxiter=maxiter)
            return float(v.min())
        k = min(20, n - 2)
        v = spla.eigs(sp.csr_array(w.matrix), k=k, which="SR", return_eigenvectors=False,
                      tol=1e-8, maxiter=maxiter)
    except (spla.ArpackNoConvergence, spla.ArpackError):
        return None
    real = v.real[np.abs(v.imag) <= 1e-8 * max(1.0, float(np.abs(v).max()))]
    return float(real.min()) if real.size else None


# --------------------------------------------------------------------------------------------
# exact factorisations
# --------------------------------------------------------------------------------------------


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


def exact_logdets(w: SpatialWeights, rho, workers: int = 1, factor: SparseFactor | None = None
                  ) -> np.ndarray:
    """Exact log|I - rho W| at each rho by LU, optionally in ``workers`` processes."""
    f = factor or SparseFactor(w)
    pool = FactorPool(f, workers)
    try:
        return pool(rho)
    finally:
        pool.close()


def default_workers(n: int) -> int:
    """Processes for the factorisations: 1 below N = 200,000 (spawning costs about a second
    and the LUs take well under one), else the CPU count up to 4."""
    if n < 200_000:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


# --------------------------------------------------------------------------------------------
# Chebyshev interpolation in the mapped variable
# --------------------------------------------------------------------------------------------


def _lobatto(n: int) -> np.ndarray:
    """Chebyshev-Lobatto points cos(pi j / n), j = 0..n (x_0 = 1)."""
    return np.cos(np.pi * np.arange(n + 1) / n)


def _cheb_coef(values: np.ndarray) -> np.ndarray:
    """Chebyshev coefficients of the degree-n interpolant through values at ``_lobatto(n)``
    (discrete cosine transform of type I; Trefethen 2013, ch. 3)."""
    f = np.asarray(values, dtype=float)
    n = len(f) - 1
    j = np.arange(n + 1)
    w = np.ones(n + 1)
    w[0] = w[-1] = 0.5
    c = (2.0 / n) * (np.cos(np.pi * np.outer(j, j) / n) @ (w * f))
    c[0] *= 0.5
    c[-1] *= 0.5
    return c


class InterpolatedLogDet(LogDet):
    """log|I - rho W| = g(u(rho)) + log(1 - rho/b), g a Chebyshev polynomial in
    x = (2u - u_hi - u_lo) / (u_hi - u_lo), u = log(rho + b) - log(b - rho) (module docstring).
    numpy evaluation by Clenshaw's recurrence (``numpy.polynomial.chebyshev.chebval``).

    Attributes
    ----------
    n, interval : as :class:`LogDet`; ``interval`` is the interpolation domain
    admissible : (1/lambda_min, 1/lambda_max) when lambda_min is known, else (-b, b)
    degree : degree of the interpolant
    slope_error_estimate : max |slope difference| between the accepted interpolant and the one of
        half the degree over the domain (an upper estimate of the accepted one's slope error)
    build_seconds : wall time of the construction
    """

    method = "interpolated"

    def __init__(self, n: int, b: float, domain: tuple[float, float], coef: np.ndarray):
        self.n = int(n)
        self.b = float(b)
        self.lam_max = 1.0 / self.b
        lo, hi = float(domain[0]), float(domain[1])
        if not (-self.b < lo < hi < self.b):
            raise InputError(f"interpolation domain ({lo}, {hi}) must lie inside (-{b}, {b})")
        self.interval = (lo, hi)
        self.admissible = (-self.b, self.b)
        self._ulo = self._u(lo)
        self._uhi = self._u(hi)
        self.set_coef(coef)
        self.slope_error_estimate = float("nan")
        self.build_seconds = float("nan")
        self.accuracy_report: dict | None = None

    def set_coef(self, coef) -> None:
        self.coef = np.asarray(coef, dtype=float)
        self.degree = len(self.coef) - 1
        self._dcoef = np.polynomial.chebyshev.chebder(self.coef) if self.degree > 0 else \
            np.zeros(1)

    # the map rho -> u -> x
    def _u(self, rho):
        return np.log(rho + self.b) - np.log(self.b - rho)

    def _x(self, rho):
        return (2.0 * self._u(rho) - (self._uhi + self._ulo)) / (self._uhi - self._ulo)

    def rho_of_x(self, x):
        u = 0.5 * ((self._uhi - self._ulo) * np.asarray(x) + self._uhi + self._ulo)
        e = np.exp(-np.abs(u))
        # rho = b (e^u - 1) / (e^u + 1) = b tanh(u/2), written stably
        return self.b * np.sign(u) * (1.0 - e) / (1.0 + e)

    def _inside(self, rho):
        lo, hi = self.interval
        tol = 1e-12 * (hi - lo)
        return (rho >= lo - tol) & (rho <= hi + tol)

    def value(self, rho):
        rho = np.asarray(rho, dtype=float)
        ok = self._inside(rho)
        r = np.where(ok, rho, 0.0)
        g = np.polynomial.chebyshev.chebval(self._x(r), self.coef)
        out = g + np.log1p(-r / self.b)
        return np.where(ok, out, np.nan)

    def deriv(self, rho):
        rho = np.asarray(rho, dtype=float)
        ok = self._inside(rho)
        r = np.where(ok, rho, 0.0)
        dg_dx = np.polynomial.chebyshev.chebval(self._x(r), self._dcoef)
        dx_du = 2.0 / (self._uhi - self._ulo)
        du_dr = 1.0 / (r + self.b) + 1.0 / (self.b - r)
        out = dg_dx * dx_du * du_dr - 1.0 / (self.b - r)
        return np.where(ok, out, np.nan)

    def symbolic(self, rho):
        """The interpolant as a PyTensor expression for a scalar rho.

        T_k(x) = cos(k arccos x) for all k at once (a small graph whose gradient autodiff
        handles; an unrolled Clenshaw recurrence of degree 64 makes a graph that compiles
        slowly).  x is clipped to [-1 + 1e-15, 1 - 1e-15] so that the gradient stays finite at the
        ends of the domain; inside, the clip is the identity.
        """
        import pytensor.tensor as pt

        u = pt.log(rho + self.b) - pt.log(self.b - rho)
        x = (2.0 * u - (self._uhi + self._ulo)) / (self._uhi - self._ulo)
        theta = pt.arccos(pt.clip(x, -1.0 + 1e-15, 1.0 - 1e-15))
        k = pt.constant(np.arange(self.degree + 1, dtype=float))
        g = pt.dot(pt.cos(k * theta), pt.constant(self.coef))
        return g + pt.log1p(-rho / self.b)

    def slopes_on_grid(self, coef=None, m: int = 2001) -> tuple[np.ndarray, np.ndarray]:
        """(rho, slope) on a grid uniform in the mapped variable (dense near both ends)."""
        x = np.cos(np.pi * (np.arange(m) + 0.5) / m)
        rho = self.rho_of_x(x)
        c = self.coef if coef is None else coef
        dc = np.polynomial.chebyshev.chebder(c)
        dx_du = 2.0 / (self._uhi - self._ulo)
        du_dr = 1.0 / (rho + self.b) + 1.0 / (self.b - rho)
        return rho, np.polynomial.chebyshev.chebval(x, dc) * dx_du * du_dr - 1.0 / (self.b - rho)

    def describe(self) -> dict:
        d = super().describe()
        d.update(degree=int(self.degree), admissible=tuple(map(float, self.admissible)),
                 slope_error_estimate=float(self.slope_error_estimate),
                 build_seconds=float(self.build_seconds))
        return d

    # ---- accuracy against exact factorisations
    def default_test_points(self, k: int = 9) -> np.ndarray:
        """k points spread over the domain (equally spaced in the mapped variable, offset from
        the interpolation nodes), plus points near both ends."""
        x = np.cos(np.pi * (np.arange(k) + 0.37) / k)
        return np.sort(self.rho_of_x(x))

    def accuracy(self, w: SpatialWeights | None = None, test_points=None,
                 exact=None, T: int | None = None, sd_rho: float | None = None) -> dict:  # noqa: N803
        """Largest error of the value and of the slope against exact LU log-determinants.

        The exact slope at each test point is a fourth-order central difference of exact
        log-determinants, (f(r-2h) - 8 f(r-h) + 8 f(r+h) - f(r+2h)) / (12 h), with h a small
        fraction of the distance to the nearest singular point (truncation O(h^4)).

        Parameters
        ----------
        w : the weights (needed unless this object keeps its factoriser)
        test_points : rho values (default :meth:`default_test_points`)
        exact : a callable rho-array -> exact log|I - rho W| (default: LU of W)
        T, sd_rho : when given, the report includes T * max|slope error| * sd_rho (the shift
            of the posterior of rho in posterior standard deviations; contract: <= 0.01)

        Returns
        -------
        dict with ``rho``, ``value_error``, ``slope_error``, ``slope_exact``, ``max_value_error``,
        ``max_slope_error``, ``max_rel_slope_error`` (and ``posterior_shift`` when T, sd_rho given)
        """
        if exact is None:
            exact = getattr(self, "_exact", None)
            if exact is None:
                if w is None:
                    raise InputError("accuracy() needs W (or an exact log-determinant callable)")
                exact = SparseFactor(w)
        rho = self.default_test_points() if test_points is None else \
            np.atleast_1d(np.asarray(test_points, dtype=float))
        lo, hi = self.interval
        if np.any((rho < lo) | (rho > hi)):
            raise InputError(f"test points must lie in the interpolation domain ({lo}, {hi})")
        dist = np.minimum(rho + self.b, self.b - rho)
        h = np.minimum(2e-5 * self.b, 0.005 * dist)
        pts = np.concatenate([rho, rho - 2 * h, rho - h, rho + h, rho + 2 * h])
        vals = exact(pts)
        m = len(rho)
        f0, fm2, fm1, fp1, fp2 = (vals[i * m:(i + 1) * m] for i in range(5))
        slope_ex = (fm2 - 8 * fm1 + 8 * fp1 - fp2) / (12 * h)
        verr = self.value(rho) - f0
        serr = self.deriv(rho) - slope_ex
        out = {
            "rho": rho, "value_exact": f0, "slope_exact": slope_ex,
            "value_error": verr, "slope_error": serr,
            "max_value_error": float(np.max(np.abs(verr))),
            "max_slope_error": float(np.max(np.abs(serr))),
            "max_rel_slope_error": float(np.max(np.abs(serr) / np.maximum(np.abs(slope_ex), 1.0))),
        }
        if T is not None and sd_rho is not None:
            out["posterior_shift"] = self.posterior_shift(T, sd_rho, out["max_slope_error"])
        self.accuracy_report = out
        return out

    def slope_error_bound(self, lo=None, hi=None) -> float:
        """The adaptive fit's over-estimate of the slope error over the whole domain (or the
        exact error where one was measured against eigenvalues)."""
        return float(getattr(self, "slope_error_exact", self.slope_error_estimate))

    @staticmethod
    def posterior_shift(T: int, sd_rho: float, slope_error: float) -> float:  # noqa: N803
        """T * |slope error| * sd(rho): the shift of the posterior of rho, in posterior sds,
        caused by a slope error (a log-posterior tilted by (T-1 or T) * delta * rho moves its
        mean by about T delta sd^2).  The contract asks for <= 0.01."""
        return float(T * abs(slope_error) * sd_rho)


def _default_domain(b: float, lower_margin: float, upper_margin: float) -> tuple[float, float]:
    if not (0 < lower_margin < 1 and 0 < upper_margin < 1):
        raise InputError("lower_margin and upper_margin must be in (0, 1)")
    return (-(1.0 - lower_margin) * b, (1.0 - upper_margin) * b)


def _adaptive_fit(obj: InterpolatedLogDet, g, degree: int | None, tol_abs: float,
                  min_degree: int = 8, max_degree: int = 128, verbose: bool = False) -> None:
    """Fit g on nested Lobatto grids (degree 8, 16, 32, ...) until the estimated slope error is at
    most ``tol_abs`` on the domain; set ``obj`` coefficients and ``slope_error_estimate``.

    With d_n the largest slope difference between the interpolants of degree n/2 and n (about the
    error of the degree-n/2 one), the error of the degree-n interpolant is estimated by
    min(d_n, d_n^2 / d_{n/2}) (geometric convergence; measured to over-estimate the true error by
    10-1000 times on k-nearest-neighbour W).  ``g`` maps an array of rho to values of
    log|I - rho W| - log(1 - rho/b)."""
    if degree is not None:
        if degree < 2 or degree % 2:
            raise InputError(f"degree must be an even integer >= 2, got {degree}")
        vals = g(obj.rho_of_x(_lobatto(degree)))
        c = _cheb_coef(vals)
        c_half = _cheb_coef(vals[::2])
        obj.set_coef(c)
        _, s1 = obj.slopes_on_grid(c)
        _, s0 = obj.slopes_on_grid(c_half)
        obj.slope_error_estimate = float(np.max(np.abs(s1 - s0)))
        obj.node_values = vals
        return
    n = min_degree
    vals = g(obj.rho_of_x(_lobatto(n)))
    c = _cheb_coef(vals)
    d_prev = np.inf
    while True:
        n2 = 2 * n
        x2 = _lobatto(n2)
        new = g(obj.rho_of_x(x2[1::2]))
        vals2 = np.empty(n2 + 1)
        vals2[::2] = vals
        vals2[1::2] = new
        c2 = _cheb_coef(vals2)
        _, s_old = obj.slopes_on_grid(c)
        _, s_new = obj.slopes_on_grid(c2)
        d = float(np.max(np.abs(s_new - s_old)))
        est = min(d, d * d / d_prev) if np.isfinite(d_prev) and d_prev > 0 else d
        if verbose:
            _note(f"degree {n} -> {n2}: slope change {d:.3g}, estimated error {est:.3g} "
                  f"(tolerance {tol_abs:.3g})")
        vals, c, n, d_prev = vals2, c2, n2, d
        if est <= tol_abs or n >= max_degree:
            break
    obj.set_coef(c)
    obj.slope_error_estimate = est
    obj.node_values = vals
    if est > tol_abs:
        warnings.warn(f"log-determinant interpolant did not reach the slope tolerance "
                      f"{tol_abs:.3g} at degree {n} (estimate {est:.3g}); narrow the domain "
                      "(upper_margin) or raise max_degree", RuntimeWarning, stacklevel=3)


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


def _check_nonnegative(w: SpatialWeights) -> None:
    vals = w.matrix.data if w.is_sparse else np.asarray(w.matrix)
    if np.any(vals < 0):
        raise InputError("the interpolated log-determinants need a non-negative W")


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
        method = "eigen" if (not w.is_sparse or n <= AUTO_EIGEN_MAX_N) else "chebyshev"
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

    ``auto``:

    * dense W: ``eigen`` (O(N^3) once, cached on disk; a message about its cost is printed for
      N > 3000, and a GPU is used through JAX when one is present); from
      ``AUTO_SYMBOLIC_CHEBYSHEV_N`` = 1000 units on with ``symbolic="chebyshev"`` (below), so
      that a gradient costs the same at every N;
    * sparse W with N <= 3000: ``eigen``;
    * sparse W, larger: ``chebyshev`` (sparse LU at Chebyshev nodes), unless the LU at rho = 0.5
      holds more than ``AUTO_MAX_FILL_NNZ`` non-zeros, then ``stochastic``.

    ``eigen``, ``chebyshev`` and ``stochastic`` force a method; ``options`` go to its
    constructor (e.g. ``degree``, ``tol``, ``upper_margin``, ``probes``, ``seed``; for ``eigen``
    only ``symbolic="chebyshev"``: exact values, derivatives and traces, but the PyTensor
    expression is the interpolant of the exact values, O(1) per gradient instead of O(N), with its
    exactly measured error, and ``interval`` becomes the interpolation domain).

    ``notify``: a callable taking the cost messages (default: printed on stderr); the user
    layer's stage reporter passes its own (:meth:`bayes_sdm.progress.Stages.note`).
    """
    note = notify or _note
    if method not in METHODS:
        raise InputError(f"unknown log-determinant method {method!r}; choose from {METHODS}")
    if not isinstance(w, SpatialWeights):
        raise InputError(f"make_logdet needs SpatialWeights, got {type(w).__name__}")
    n = w.n
    auto = method == "auto"
    if auto:
        if not w.is_sparse or n <= AUTO_EIGEN_MAX_N:
            method = "eigen"
        else:
            f = SparseFactor(w)
            t0 = time.perf_counter()
            f.logabsdet(0.5)
            dt = time.perf_counter() - t0
            if f.fill_nnz is not None and f.fill_nnz > AUTO_MAX_FILL_NNZ:
                note(f"N={n}: the sparse LU of I - rho W holds {f.fill_nnz:,} non-zeros "
                      f"(> {AUTO_MAX_FILL_NNZ:,}); using the stochastic log-determinant")
                method = "stochastic"
            else:
                method = "chebyshev"
                if verbose or dt * 33 > 60:
                    note(f"N={n}: sparse LU takes {dt:.2f} s; the Chebyshev log-determinant "
                          f"needs 33-129 of them (about {33 * dt:.0f}-{129 * dt:.0f} s, once)")
    if method == "eigen":
        symbolic = options.pop("symbolic", "chebyshev" if auto and n >= AUTO_SYMBOLIC_CHEBYSHEV_N
                               else "exact")
        if options:
            raise InputError(f"the eigen log-determinant takes only the option 'symbolic', got "
                             f"{sorted(options)}")
        if not w.is_sparse and n > DENSE_COST_WARN_N or w.is_sparse and n > AUTO_EIGEN_MAX_N:
            sym = w.symmetric_form() is not None
            est = eigen_seconds(n, sym)
            note(f"N={n} {'dense' if not w.is_sparse else 'sparse'} W: the eigenvalue "
                  f"log-determinant costs O(N^3) time and {8 * n * n / 1e9:.1f} GB for the dense "
                  f"matrix, about {est:.0f} s on 2 CPU cores ({'symmetric' if sym else 'general'} "
                  "solver), once (cached on disk); a GPU is used through JAX when present.  A "
                  "sparse W with method='chebyshev' avoids this.")
        return EigenLogDet(eigenvalues(w), symbolic=symbolic)
    if method == "chebyshev":
        return ChebyshevLogDet(w, verbose=verbose, **options)
    return StochasticLogDet(w, verbose=verbose, **options)
