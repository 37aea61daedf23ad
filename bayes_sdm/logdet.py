"""The log-determinant log|I - rho W| behind one small interface.

Every estimator (PyMC models, ML, effects) talks to a :class:`LogDet`:

* ``interval`` -- the admissible interval (1/lambda_min, 1/lambda_max) of rho;
* ``value(rho)``, ``deriv(rho)`` -- numpy, vectorised over rho;
* ``symbolic(rho)`` -- the same value as a PyTensor expression (gradient by autodiff);
* ``traces(rho)`` -- tr((I - rho W)^{-1}) and tr((I - rho W)^{-1} W), for the effects.

:class:`EigenLogDet` computes the eigenvalues of W once (O(N^3), outside the sampler) and then
log|I - rho W| = sum_i log|1 - rho lambda_i| in O(N) per evaluation (Ord 1975, JASA 70:120-126).
A row-standardised W built from a symmetric C is similar to the symmetric D^{-1/2} C D^{-1/2},
so a symmetric eigen-solver is used there; otherwise a general one, where complex conjugate
pairs enter through |1 - rho lambda|^2 = (1 - rho Re lambda)^2 + (rho Im lambda)^2.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .errors import InputError
from .weights import SpatialWeights


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
        tr((I-rho W)^{-1}) = N + rho tr((I-rho W)^{-1} W).
        """
        rho = np.asarray(rho, dtype=float)
        trw = -self.deriv(rho)
        return self.n + rho * trw, trw

    def check_rho(self, rho: float, name: str = "rho") -> None:
        lo, hi = self.interval
        if not (lo < rho < hi):
            raise InputError(f"{name}={rho} is outside the admissible interval ({lo:.6g}, {hi:.6g})")


class EigenLogDet(LogDet):
    """Exact log-determinant from the eigenvalues of W (dense, N up to a few thousand)."""

    method = "eigen"

    def __init__(self, eigenvalues: np.ndarray):
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

    def symbolic(self, rho):
        import pytensor.tensor as pt

        re = pt.constant(self.re)
        a = 1.0 - rho * re
        if not self.complex:
            return pt.sum(pt.log(a))
        b = rho * pt.constant(self.im)
        return 0.5 * pt.sum(pt.log(a * a + b * b))


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


def eigenvalues(w: SpatialWeights, cache: bool = True) -> np.ndarray:
    """Eigenvalues of W: symmetric solver on the similar symmetric form when there is one.

    Results are cached on disk (``$BAYES_SDM_CACHE`` or ``~/.cache/bayes_sdm``; set it to
    ``0`` to disable), keyed by a hash of W, so a second fit on the same W skips the O(N^3) step.
    """
    m = w.matrix.toarray() if w.is_sparse else w.matrix
    key = None
    cdir = _cache_dir() if cache else None
    if cdir is not None:
        h = hashlib.sha256(np.ascontiguousarray(m).tobytes())
        h.update(b"sym" if w.sym_scale is not None else b"gen")
        key = cdir / f"eig-{h.hexdigest()[:32]}.npy"
        if key.exists():
            try:
                return np.load(key)
            except (OSError, ValueError):
                pass
    sym = w.symmetric_form()
    if sym is not None:
        s = sym.toarray() if sp.issparse(sym) else sym
        lam = sla.eigvalsh(s)
    else:
        lam = sla.eigvals(m)
    if key is not None:
        tmp = key.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, lam)
        os.replace(tmp, key)
    return lam


def make_logdet(w: SpatialWeights, method: str = "auto") -> LogDet:
    """Choose the log-determinant method for W.

    ``eigen`` is exact; ``auto`` uses it for dense W and sparse W up to a few thousand units.
    """
    if method in ("auto", "eigen"):
        if method == "auto" and w.is_sparse and w.n > 4000:
            raise InputError(
                f"N={w.n} sparse W: the eigenvalue log-determinant would cost O(N^3); "
                "a sparse method is needed for this size"
            )
        return EigenLogDet(eigenvalues(w))
    raise InputError(f"unknown log-determinant method {method!r}")
