"""Chebyshev interpolation of log|I - rho W| in the mapped variable u = log(rho + b) - log(b - rho)
(package docstring): :class:`InterpolatedLogDet` and the adaptive fit shared by the Chebyshev,
stochastic and eigenvalue(+Chebyshev) methods."""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import InputError
from ..weights import SpatialWeights
from .base import LogDet, _note
from .factor import SparseFactor


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

