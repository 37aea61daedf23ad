"""The :class:`LogDet` interface every log-determinant method implements, and small helpers
shared by the methods (cost messages on stderr, the non-negativity check)."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import InputError
from ..weights import SpatialWeights


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
        """The eigenvalues of W when the method holds them (exact traces, tr(G^2), block
        spectra), else None -- so that consumers need no ``isinstance`` test."""
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



def _note(msg: str) -> None:
    """A message about cost, on stderr (visible from the CLI and in notebooks)."""
    print(f"bayes_sdm.logdet: {msg}", file=sys.stderr, flush=True)



def _check_nonnegative(w: SpatialWeights) -> None:
    vals = w.matrix.data if w.is_sparse else np.asarray(w.matrix)
    if np.any(vals < 0):
        raise InputError("the interpolated log-determinants need a non-negative W")

