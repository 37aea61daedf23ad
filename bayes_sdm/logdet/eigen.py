"""The exact eigenvalue method: the spectrum of W (symmetric solver on the similar symmetric form
where there is one, optional JAX GPU solver), :class:`EigenLogDet`, and the extreme eigenvalues
(Perron root, smallest real eigenvalue) used by every method."""

from __future__ import annotations

import os

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import InputError
from ..weights import SpatialWeights
from .base import LogDet, _note
from .cache import _cache_dir, _hash_w
from .interpolated import InterpolatedLogDet, _adaptive_fit, _default_domain


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
        """The eigenvalues of W (real, or complex when W has complex pairs)."""
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
            # s is a fresh, exactly symmetric array: its transpose is the same matrix in Fortran
            # order, which LAPACK overwrites instead of copying (one N x N array less at peak)
            lam = sla.eigvalsh(s.T, overwrite_a=True, check_finite=False)
        del s
    else:
        if backend == "jax":
            raise InputError("backend='jax' needs a W with a symmetric form (general "
                             "eigenvalues run on the CPU only)")
        if w.is_sparse:  # a fresh Fortran-ordered copy that LAPACK may overwrite
            lam = sla.eigvals(w.matrix.toarray(order="F"), overwrite_a=True, check_finite=False)
        else:
            lam = sla.eigvals(w.matrix)
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

