"""Maximum-likelihood estimation of the spatial panel families.

Families (:mod:`bayes_sdm.families`) with at most one spatial parameter: SDM, SAR (``rho``),
SEM, SDEM (``lambda``), SLX and OLS, with fixed effects ``none`` / ``unit`` / ``time`` /
``twoway``; :func:`fit_ml` takes a :class:`~bayes_sdm.prepared.Prepared` model.

The estimator is the concentrated likelihood (Anselin 1988, ch. 6 and 12; LeSage & Pace 2009,
sec. 3.1; Elhorst 2014, sec. 3.3): at each value of the spatial parameter, beta, theta and
sigma^2 have closed forms (:func:`~bayes_sdm.likelihood.profile_lag`,
:func:`~bayes_sdm.likelihood.profile_error`), so only a 1-D bounded search over the admissible
interval of the :class:`~bayes_sdm.logdet.LogDet` remains.  The search is a grid over the interval
followed by a bounded Brent search (``xatol`` 1e-12) and a root-finding refinement of the
analytic score (envelope theorem: dSSE/drho = 2 c'G dc/drho at the profiled coefficients), so
the estimate is the zero of the score to about 1e-12.  The likelihood is evaluated with the same
Gram matrix, Jacobian and Gaussian term as the PyMC models (:mod:`bayes_sdm.likelihood`); there is
no second implementation.

Conventions (``correction``), each reproducing a tool:

``transform`` (default)
    Lee & Yu (2010, J. Econometrics 154:165-185) transformation approach: n* = (N-1)(T-1) and
    J = (T-1)[log|I - rho W| - log(1 - rho)] for two-way FE; the same likelihood as the PyMC model.
``none``
    The uncorrected "direct approach": NT observations and T log|I - rho W| whatever the FE
    (splm's default; SDPDmod ``LYtrans=FALSE``; spreg ``ML_LagFE``; Elhorst's routines with
    ``info.bc=0``).
``bias``
    The Lee-Yu bias correction of the direct estimates as in Elhorst's ``sar_panel_FE`` /
    ``sem_panel_FE`` (``info.bc=1``) and SDPDmod ``LYtrans=TRUE``: unit FE sigma^2 T/(T-1); time FE
    sigma^2 N/(N-1); two-way FE theta_hat + [I(theta_hat)/NT]^{-1} (0, ..., 0, 1/(1-rho),
    1/(2 sigma^2))'/N and then sigma^2 T/(T-1) (Lee & Yu 2010, sec. 4); the standard
    errors are re-evaluated at the corrected values.  ``loglik`` is the direct likelihood at its
    maximum (the correction moves the estimates, not the likelihood that was maximised).

``lag_convention``: ``QWy`` (lag, then demean; Lee & Yu, Elhorst) or ``WQy`` (demean, then lag;
splm, SDPDmod, xsmle).  They coincide under unit FE only.

Standard errors come from the analytic information matrix (``se="expected"``, the default) or
from the analytic observed information, minus the Hessian of the full (not concentrated)
log-likelihood (``se="observed"``; what a numerical Hessian approximates); see
:mod:`bayes_sdm.information`.  The two agree asymptotically; they differ in finite samples by
terms of order 1/sqrt(NT).

``r2`` is 1 - SSE / sum((y - mean(y))^2) over the raw y (Elhorst's and SDPDmod's ``rsqr``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.optimize as so
from scipy.special import ndtr, ndtri  # the normal cdf and its inverse (no scipy.stats import)

from . import families
from .convergence import hdi
from .design import transformed_columns
from .effects import EFFECTS, family_effects, total_sums
from .errors import InputError, NumericalError
from .families import Family
from .information import SE_METHODS, _safe_inverse, coef_derivatives, information_matrix
from .likelihood import (
    SufficientStats,
    check_design,
    gaussian_loglik,
    jacobian,
    profile,
)
from .logdet import LogDet
from .prepared import Prepared
from .weights import SpatialWeights

ML_CORRECTIONS = ("transform", "none", "bias")
HDI_PROB = 0.94


class BoundaryWarning(UserWarning):
    """The spatial parameter's ML estimate is at the edge of its admissible interval."""


# ---------------------------------------------------------------------------------------------
# pure numerics on the sufficient statistics
# ---------------------------------------------------------------------------------------------


def _split(family: Family, k: int, gamma: np.ndarray):
    gamma = np.asarray(gamma, dtype=float)
    beta = gamma[..., :k]
    theta = gamma[..., k:2 * k] if family.durbin else None
    return beta, theta


def concentrated_loglik(stats: SufficientStats, logdet: LogDet | None, family: Family | str,
                        rho):
    """The log-likelihood with beta, theta and sigma^2 = SSE/n* concentrated out (vectorised).

    Returns (loglik, coef, sse) at each rho.  The value is
    :func:`~bayes_sdm.likelihood.gaussian_loglik` at the profiled parameters, i.e. exactly the
    full log-likelihood :func:`~bayes_sdm.likelihood.loglik` there.
    """
    family = families.get(family)
    rho = np.asarray(rho, dtype=float)
    coef, s = profile(stats, family, rho)
    if not family.has_jacobian:
        jac = np.zeros_like(s)
    else:
        jac = jacobian(stats.terms, logdet.value(rho), rho)
    return gaussian_loglik(stats.terms, s, s / stats.terms.n_eff, jac), coef, s


def concentrated_score(stats: SufficientStats, logdet: LogDet, family: Family,
                       rho: float) -> float:
    """d/drho of the concentrated log-likelihood (envelope theorem).

    -(n*/2) SSE'(rho)/SSE(rho) + a dlog|I - rho W|/drho + b/(1 - rho), with SSE'(rho) = 2 c'G c_rho
    at the profiled coefficients.
    """
    _, coef, s = concentrated_loglik(stats, logdet, family, rho)
    c, c_rho, _, _ = coef_derivatives(stats, family, rho, coef)
    ds = 2.0 * c @ stats.gram @ c_rho
    t = stats.terms
    out = -0.5 * t.n_eff * ds / s + t.a * float(logdet.deriv(rho))
    if t.b:
        out += t.b / (1.0 - rho)
    return float(out)


@dataclass
class _Search:
    rho: float
    at_boundary: str | None  # None, "lower" or "upper"
    score: float
    evaluations: int


def maximise_concentrated(stats: SufficientStats, logdet: LogDet, family: Family,
                          bounds: tuple[float, float] | None = None, grid: int = 201,
                          xatol: float = 1e-12) -> _Search:
    """Maximise the concentrated log-likelihood over the admissible interval.

    A grid of ``grid`` points (vectorised, O(grid * N) with the eigenvalue log-determinant) finds
    the best cell, a bounded Brent search (``scipy.optimize.minimize_scalar``, ``xatol``) refines
    it, and ``brentq`` on the analytic score polishes it to the score's zero.
    """
    lo, hi = logdet.interval
    if bounds is not None:
        blo, bhi = float(bounds[0]), float(bounds[1])
        if not (lo <= blo < bhi <= hi):
            raise InputError(f"bounds {bounds} must lie inside the admissible interval "
                             f"({lo:.6g}, {hi:.6g}) of the spatial parameter")
        lo, hi = blo, bhi
    eps = 1e-9 * (hi - lo)
    lo, hi = lo + eps, hi - eps
    xs = np.linspace(lo, hi, grid)
    ll, _, _ = concentrated_loglik(stats, logdet, family, xs)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    i = int(np.argmax(ll))
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, grid - 1)]

    def nll(r):
        return -float(concentrated_loglik(stats, logdet, family, r)[0])

    res = so.minimize_scalar(nll, bounds=(a, b), method="bounded",
                             options={"xatol": xatol, "maxiter": 500})
    x = float(res.x)
    nev = grid + int(res.nfev)
    # polish: the zero of the analytic score in a small bracket around x
    h = max(1e-7, 10 * xatol)
    for _ in range(6):
        la, lb = max(x - h, lo), min(x + h, hi)
        fa, fb = concentrated_score(stats, logdet, family, la), \
            concentrated_score(stats, logdet, family, lb)
        nev += 2
        if fa > 0 > fb:
            x = so.brentq(lambda r: concentrated_score(stats, logdet, family, r), la, lb,
                          xtol=1e-15, rtol=4 * np.finfo(float).eps)
            break
        h *= 10
    score = concentrated_score(stats, logdet, family, x)
    tol = 1e-6 * (hi - lo)
    edge = None
    if x - lo < tol and score < 0:
        edge = "lower"
    elif hi - x < tol and score > 0:
        edge = "upper"
    return _Search(x, edge, score, nev)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


def hdi_interval(x: np.ndarray, prob: float = HDI_PROB) -> tuple[float, float]:
    """Shortest interval holding ``prob`` of the finite draws (:func:`bayes_sdm.convergence.hdi`,
    ArviZ's HDI for a unimodal sample); NaN without finite draws, their range when
    floor(prob n) = 0."""
    x = np.asarray(x, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan)
    if int(np.floor(prob * x.size)) == 0:
        return (float(x.min()), float(x.max()))
    lo, hi = hdi(x, prob)
    return (float(lo), float(hi))


@dataclass
class MLResult:
    """A maximum-likelihood fit.

    Attributes
    ----------
    params, se : pd.Series indexed by parameter name (``rho`` | ``lambda``, ``beta[x]``,
        ``theta[x]``, ``sigma2``)
    cov : pd.DataFrame, the inverse information matrix
    loglik : the maximised log-likelihood (of the ``correction``'s likelihood; for ``bias`` the
        direct likelihood)
    aic, bic : -2 loglik + 2 k and -2 loglik + k log(n_eff), k = number of parameters (sigma2
        included; fixed effects are transformed out, not counted)
    r2 : 1 - SSE / sum((y - mean(y))^2) over the raw y (Elhorst's ``rsqr``, SDPDmod's ``rsqr``)
    n_eff : n* of the likelihood (NT for ``none`` / ``bias``)
    at_boundary : None, or "lower" / "upper" when the spatial estimate is at the interval's edge
    """

    params: pd.Series
    se: pd.Series
    cov: pd.DataFrame
    loglik: float
    aic: float
    bic: float
    r2: float
    n_eff: int
    family: Family
    fe: str
    correction: str
    lag_convention: str
    x_names: tuple[str, ...]
    N: int  # noqa: N815
    T: int  # noqa: N815
    se_method: str = "expected"
    interval: tuple[float, float] | None = None
    at_boundary: str | None = None
    score: float = 0.0
    sse: float = float("nan")
    bias_correction: pd.Series | None = None
    notes: list[str] = field(default_factory=list)
    logdet: LogDet | None = field(default=None, repr=False, compare=False)
    w: SpatialWeights | None = field(default=None, repr=False, compare=False)
    _sums: object = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        from .display import ml_card

        return ml_card(self).text()

    def _repr_html_(self) -> str:
        from .display import ml_card

        return ml_card(self).html()

    @property
    def model(self) -> str:
        """The family's name."""
        return self.family.name

    @property
    def spatial(self) -> str | None:
        """The spatial parameter's name (``rho, lambda`` for SAC), None without one."""
        return ", ".join(self.family.spatial_params) or None

    @property
    def k(self) -> int:
        return len(self.params)

    def table(self) -> pd.DataFrame:
        """The ``ml.csv`` table: parameter, estimate, se, z, p; then rows loglik, aic, bic.

        z and p (two-sided, asymptotic normal) are NaN for sigma2 (a test of sigma2 = 0 is not
        meaningful) and for the summary rows.
        """
        est = self.params.to_numpy(dtype=float)
        se = self.se.to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        p = 2.0 * ndtr(-np.abs(z))
        # variances (sigma2, or sigma2[<period>] with period variances) get no z-test of zero
        isig = np.array([str(n).startswith("sigma2") for n in self.params.index])
        z[isig] = p[isig] = np.nan
        df = pd.DataFrame({"parameter": list(self.params.index), "estimate": est, "se": se,
                           "z": z, "p": p})
        extra = pd.DataFrame({"parameter": ["loglik", "aic", "bic"],
                              "estimate": [self.loglik, self.aic, self.bic],
                              "se": np.nan, "z": np.nan, "p": np.nan})
        return pd.concat([df, extra], ignore_index=True)

    # -- effects ------------------------------------------------------------------------------

    def _effect_fn(self):
        k = len(self.x_names)
        family = self.family
        off = len(family.spatial_params)
        rs = self.w.row_standardized if self.w is not None else True
        if family.lag and not rs and self._sums is None:
            self._sums = total_sums(self.w)

        def f(theta_vec):
            theta_vec = np.asarray(theta_vec, dtype=float)
            rho = theta_vec[..., 0] if family.lag else None  # rho comes first when present
            b, t = _split(family, k, theta_vec[..., off:])
            return family_effects(family, rho, b, t, self.logdet, rs, self._sums)

        return f

    def effects(self, method: str = "delta", draws: int = 1000, seed: int | None = None,
                prob: float = HDI_PROB) -> pd.DataFrame:
        """Direct, indirect and total effects with uncertainty (LeSage & Pace 2009, sec. 2.7).

        Parameters
        ----------
        method : ``delta`` (delta method: the gradient of each effect by central differences,
            exact for SEM/SDEM/SLX where effects are linear; interval = normal
            +/- z_{(1+prob)/2} se) or ``simulation`` (``draws`` draws of (rho, beta, theta) from
            the asymptotic normal N(estimate, cov), rho kept inside the admissible interval;
            se = sd of the simulated effects, interval = their shortest ``prob`` interval,
            prob_positive = share of draws > 0; LeSage & Pace 2009, sec. 2.7.1)
        draws, seed : simulation settings

        Returns
        -------
        pd.DataFrame with columns variable, effect, mean, sd, ci_3%, ci_97%, prob_positive, se,
        z, p_value: ``mean`` is the point estimate at the ML estimates (not the simulation
        mean), ``sd`` equals ``se``, ``ci_*`` bound the ``prob`` confidence interval (normal for
        the delta method, the shortest interval of the simulated effects otherwise; not a
        posterior HDI), ``prob_positive`` is the asymptotic P(effect > 0), and ``z = mean/se``
        with its two-sided normal ``p_value``.
        """
        if method not in ("delta", "simulation"):
            raise InputError(f"unknown effects method {method!r}; use 'delta' or 'simulation'")
        if not (isinstance(draws, int | np.integer) and draws >= 10):
            raise InputError(f"draws must be an integer >= 10, got {draws!r}")
        if not 0 < prob < 1:
            raise InputError(f"prob must be in (0, 1), got {prob!r}")
        names = [n for n in self.params.index if n != "sigma2"]
        est = self.params[names].to_numpy(dtype=float)
        cov = self.cov.loc[names, names].to_numpy(dtype=float)
        f = self._effect_fn()
        point = f(est)  # (3, K)
        k = len(self.x_names)
        if method == "delta":
            m = est.size
            steps = 1e-6 * np.maximum(1.0, np.abs(est))
            pts = np.repeat(est[None, :], 2 * m, axis=0)
            for j in range(m):
                pts[2 * j, j] += steps[j]
                pts[2 * j + 1, j] -= steps[j]
            vals = f(pts)  # (2m, 3, K)
            jac = (vals[0::2] - vals[1::2]) / (2 * steps[:, None, None])  # (m, 3, K)
            jflat = jac.reshape(m, -1)
            var = np.einsum("ia,ij,ja->a", jflat, cov, jflat).reshape(3, k)
            se = np.sqrt(np.clip(var, 0.0, None))
            zq = ndtri(0.5 + prob / 2)
            lo, hi = point - zq * se, point + zq * se
            with np.errstate(divide="ignore", invalid="ignore"):
                pp = np.where(se > 0, ndtr(point / se), (point > 0).astype(float))
        else:
            if not np.all(np.isfinite(cov)):
                raise InputError("the covariance of the estimates is not finite (see the fit's "
                                 "warnings); simulated effects are unavailable")
            rng = np.random.default_rng(seed)
            sims = rng.multivariate_normal(est, cov, size=draws, method="eigh")
            nsp = len(self.family.spatial_params)
            if nsp:
                a, b = self.interval

                def inside(v):
                    return ((v[:, :nsp] > a) & (v[:, :nsp] < b)).all(axis=1)

                ok = inside(sims)
                tries = 0
                while not ok.all() and tries < 20:
                    nbad = int((~ok).sum())
                    sims[~ok] = rng.multivariate_normal(est, cov, size=nbad, method="eigh")
                    ok = inside(sims)
                    tries += 1
                if not ok.all():
                    raise InputError("the asymptotic normal of the spatial parameter puts most "
                                     "of its mass outside the admissible interval; use "
                                     "method='delta'")
            vals = f(sims)  # (draws, 3, K)
            se = vals.std(axis=0, ddof=1)
            lo = np.empty_like(point)
            hi = np.empty_like(point)
            for i in range(3):
                for j in range(k):
                    lo[i, j], hi[i, j] = hdi_interval(vals[:, i, j], prob)
            pp = (vals > 0).mean(axis=0)
        # a confidence interval of the asymptotic (normal or simulated) distribution, not a
        # posterior HDI: labelled ci_, never hdi_
        lab_lo = f"ci_{100 * (1 - prob) / 2:g}%"
        lab_hi = f"ci_{100 * (1 + prob) / 2:g}%"
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, point / se, np.nan)
        pval = 2 * ndtr(-np.abs(z))
        rows = []
        for i, eff in enumerate(EFFECTS):
            for j, x in enumerate(self.x_names):
                rows.append({"variable": x, "effect": eff, "mean": point[i, j], "sd": se[i, j],
                             lab_lo: lo[i, j], lab_hi: hi[i, j], "prob_positive": pp[i, j],
                             "se": se[i, j], "z": z[i, j], "p_value": pval[i, j]})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A short text summary."""
        lines = [f"ML {self.model.upper()} fe={self.fe} correction={self.correction} "
                 f"lag_convention={self.lag_convention} N={self.N} T={self.T} n*={self.n_eff}",
                 self.table().to_string(index=False, float_format=lambda v: f"{v:.6g}")]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------


def _fit_core(stats: SufficientStats, logdet: LogDet | None, family: Family, bounds,
              on_boundary: str):
    """Direct maximisation for one likelihood; returns (theta_vec, loglik, search, sse)."""
    check_design(stats, family)
    if len(family.spatial_params) > 1:
        raise InputError(f"{family.name}: the concentrated search covers one spatial parameter")
    search = None
    if not family.has_jacobian:
        ll, coef, s = concentrated_loglik(stats, None, family, 0.0)
        rho = 0.0
    else:
        search = maximise_concentrated(stats, logdet, family, bounds=bounds)
        rho = search.rho
        ll, coef, s = concentrated_loglik(stats, logdet, family, rho)
        if search.at_boundary:
            msg = (f"{family.spatial}={rho:.8g} is at the {search.at_boundary} bound of its "
                   f"{'search' if bounds else 'admissible'} interval "
                   f"({logdet.interval[0] if not bounds else bounds[0]:.6g}, "
                   f"{logdet.interval[1] if not bounds else bounds[1]:.6g}): the likelihood "
                   f"still increases towards the bound (score {search.score:.3g}); this is "
                   "not an interior maximum, so standard errors and tests are not valid. "
                   "Check W, the model and the fixed effects")
            if on_boundary == "raise":
                raise NumericalError(msg)
            warnings.warn(msg, BoundaryWarning, stacklevel=3)
    sigma2 = float(s) / stats.terms.n_eff
    if not (np.isfinite(ll) and sigma2 > 0):
        raise NumericalError(f"{family.name}: the ML fit is degenerate (sigma2 = {sigma2:.3g}, "
                             f"log-likelihood {ll:.6g}): the regressors explain y exactly or "
                             "the data overflow")
    vec = np.r_[[rho] if family.has_jacobian else [], np.asarray(coef, float), [sigma2]]
    return vec, float(ll), search, float(s)


def fit_ml(
    prep: Prepared,
    correction: str | None = None,
    se: str = "expected",
    bounds: tuple[float, float] | None = None,
    on_boundary: str = "warn",
) -> MLResult:
    """Maximum-likelihood fit of a prepared spatial panel model.

    Parameters
    ----------
    prep : a :class:`~bayes_sdm.prepared.Prepared` (:func:`bayes_sdm.prepare`): the family,
        fixed effects, lag convention, sufficient statistics and log-determinant
    correction : ``transform`` (Lee-Yu) | ``none`` (direct approach) | ``bias`` (Lee-Yu
        bias-corrected direct estimates); see the module docstring.  Default: the prepared
        model's correction.
    se : ``expected`` (analytic information matrix, default) | ``observed`` (analytic Hessian)
    bounds : optional sub-interval of the admissible interval to search (Elhorst's rmin/rmax)
    on_boundary : ``warn`` (default; :class:`BoundaryWarning` and ``at_boundary`` set) or
        ``raise`` (:class:`~bayes_sdm.errors.NumericalError`) when the maximum is at the edge
        of the interval

    Returns
    -------
    MLResult

    Raises
    ------
    InputError
        unknown correction / se method, a singular design (naming the columns).
    NumericalError
        a spatial estimate at the boundary with ``on_boundary="raise"``; sigma2 = 0 or a
        non-finite maximum.
    """
    if not isinstance(prep, Prepared):
        raise InputError(f"fit_ml takes a prepared model (bayes_sdm.prepare(panel, w, ...)), "
                         f"got {type(prep).__name__}")
    correction = prep.correction if correction is None else correction
    if correction not in ML_CORRECTIONS:
        raise InputError(f"unknown correction {correction!r}; choose from {ML_CORRECTIONS}")
    if se not in SE_METHODS:
        raise InputError(f"unknown se method {se!r}; choose from {SE_METHODS}")
    if on_boundary not in ("warn", "raise"):
        raise InputError(f"on_boundary must be 'warn' or 'raise', got {on_boundary!r}")
    family, panel, w, fe = prep.family, prep.panel, prep.w, prep.fe
    if len(family.spatial_params) == 2:
        return _fit_two(prep, correction, se, bounds, on_boundary)
    base_corr = "none" if correction == "bias" else correction
    stats = prep.stats.with_terms(base_corr)
    spatial = family.has_jacobian
    ld = prep.logdet
    z = None
    if family.lag and se == "expected":  # the expected information of a lag model needs Z
        z = transformed_columns(panel, w, fe, prep.lag_convention, stats.layout)
    names = family.param_names(panel.x_names)
    vec, ll, search, s = _fit_core(stats, ld, family, bounds, on_boundary)
    notes = []
    if search is not None and search.at_boundary:
        notes.append(f"{family.spatial} is at the {search.at_boundary} bound of its interval: "
                     "not an interior maximum; standard errors and tests are not valid")
    bias = None
    info_kw = dict(z=z, w=w, kind=se)
    if correction == "bias":
        vec0 = vec.copy()
        nt = panel.N * panel.T
        if fe == "unit":
            vec[-1] *= panel.T / (panel.T - 1)
        elif fe == "time":
            vec[-1] *= panel.N / (panel.N - 1)
        elif fe == "twoway":
            rho0 = vec[0] if spatial else 0.0
            info0 = information_matrix(stats, ld, family, rho0, vec[int(spatial):-1], vec[-1],
                                       **info_kw)
            rhs = np.zeros(vec.size)
            if spatial:
                rhs[0] = 1.0 / (1.0 - rho0)
            rhs[-1] = 1.0 / (2.0 * vec[-1])
            vec = vec + np.linalg.solve(info0 / nt, rhs) / panel.N
            vec[-1] *= panel.T / (panel.T - 1)
        bias = pd.Series(vec - vec0, index=names)
        notes.append("correction='bias': estimates are the Lee-Yu bias-corrected direct "
                     "estimates; loglik is the direct likelihood at its maximum")
        if spatial and not (ld.interval[0] < vec[0] < ld.interval[1]):
            raise InputError(f"the bias-corrected {family.spatial}={vec[0]:.6g} is outside "
                             f"the admissible interval {ld.interval}")
    rho = vec[0] if spatial else 0.0
    gamma = vec[int(spatial):-1]
    info = information_matrix(stats, ld, family, rho, gamma, vec[-1], **info_kw)
    cov = _safe_inverse(info, names)
    if prep.intercept:
        vec, cov, names = _with_intercept(prep, stats, family, vec, cov, names, se)
    sd = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    yc = panel.y - panel.y.mean()
    sst = float((yc * yc).sum())
    s_fit = float(sse_at(stats, family, rho, gamma)) if correction == "bias" else s
    kpar = len(names)
    n_eff = stats.terms.n_eff
    return MLResult(
        params=pd.Series(vec, index=names, name="estimate"),
        se=pd.Series(sd, index=names, name="se"),
        cov=pd.DataFrame(cov, index=names, columns=names),
        loglik=ll, aic=-2 * ll + 2 * kpar, bic=-2 * ll + kpar * math.log(n_eff),
        r2=1.0 - s_fit / sst if sst > 0 else float("nan"), n_eff=n_eff, family=family, fe=fe,
        correction=correction, lag_convention=prep.lag_convention, x_names=panel.x_names,
        N=panel.N, T=panel.T, se_method=se, interval=ld.interval if ld is not None else None,
        at_boundary=search.at_boundary if search else None,
        score=search.score if search else 0.0, sse=s_fit, bias_correction=bias, notes=notes,
        logdet=ld, w=w,
    )


def _fit_two(prep: Prepared, correction: str, se: str, bounds, on_boundary: str) -> MLResult:
    """ML of a family with rho and lambda (SAC; :mod:`bayes_sdm.sac`): the concentrated
    likelihood maximised over the admissible square, analytic expected information."""
    from . import intercept, sac
    from .design import raw_columns

    family, panel, w, fe, ld = prep.family, prep.panel, prep.w, prep.fe, prep.logdet
    if correction == "bias" or se != "expected":
        raise InputError(f"not implemented yet for {family.name}: correction='bias' and "
                         "se='observed' (use correction 'transform' or 'none', se 'expected')")
    stats = prep.stats.with_terms(correction)
    check_design(stats, family)
    search = sac.maximise(stats, ld, family, bounds=bounds)
    names = family.param_names(panel.x_names)
    notes = []
    if search.at_boundary:
        msg = (f"{search.at_boundary.split()[0]} is at the {search.at_boundary.split()[1]} "
               f"bound of its interval ({ld.interval[0]:.6g}, {ld.interval[1]:.6g}): not an "
               "interior maximum; standard errors and tests are not valid")
        if on_boundary == "raise":
            raise NumericalError(msg)
        warnings.warn(msg, BoundaryWarning, stacklevel=3)
        notes.append(msg)
    ll, coef, s = sac.concentrated_loglik(stats, ld, family, search.rho, search.lam)
    s = float(s)
    sigma2 = s / stats.terms.n_eff
    if not (np.isfinite(ll) and sigma2 > 0):
        raise NumericalError(f"{family.name}: the ML fit is degenerate (sigma2 = {sigma2:.3g})")
    gamma = np.asarray(coef, float)
    vec = np.r_[search.rho, search.lam, gamma, sigma2]
    z = transformed_columns(panel, w, fe, prep.lag_convention, stats.layout)
    info = sac.information(stats, family, search.rho, search.lam, gamma, sigma2, z, w)
    cov = _safe_inverse(info, names)
    if prep.intercept:
        u, m = sac.coef_parts(stats, family, search.rho, search.lam)
        c = u + m @ gamma
        alpha = intercept.estimate(stats, c, search.lam)
        cols = stats.columns(family)
        mu = raw_columns(panel, w, stats.layout)[..., cols] @ gamma
        zdc = sac.intercept_zdc_rho(stats, family, search.rho, search.lam, alpha, mu, w)
        dc = np.column_stack([np.zeros(c.size), np.zeros(c.size), m, np.zeros(c.size)])
        g = intercept.gradient(stats, c, dc, alpha, search.lam, 1, 0, zdc)
        cov = intercept.covariance(cov, g, sigma2, panel.N * panel.T, search.lam)
        vec = np.r_[vec[:-1], alpha, vec[-1]]
        names = [*names[:-1], "intercept", names[-1]]
    sd = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    yc = panel.y - panel.y.mean()
    sst = float((yc * yc).sum())
    n_eff, kpar = stats.terms.n_eff, len(names)
    return MLResult(
        params=pd.Series(vec, index=names, name="estimate"),
        se=pd.Series(sd, index=names, name="se"),
        cov=pd.DataFrame(cov, index=names, columns=names), loglik=float(ll),
        aic=-2 * float(ll) + 2 * kpar, bic=-2 * float(ll) + kpar * math.log(n_eff),
        r2=1.0 - s / sst if sst > 0 else float("nan"), n_eff=n_eff, family=family, fe=fe,
        correction=correction, lag_convention=prep.lag_convention, x_names=panel.x_names,
        N=panel.N, T=panel.T, se_method=se, interval=ld.interval,
        at_boundary=search.at_boundary, score=float(np.abs(search.score).max()), sse=s,
        notes=notes, logdet=ld, w=w)


def _with_intercept(prep: Prepared, stats: SufficientStats, family: Family, vec, cov, names,
                    se: str):
    """Insert the intercept's estimate and covariance before sigma2 (:mod:`bayes_sdm.intercept`)."""
    from . import intercept
    from .design import raw_columns
    from .information import spatial_traces

    spatial = family.has_jacobian
    s = vec[0] if spatial else 0.0
    gamma = vec[int(spatial):-1]
    c, c_s, d, _ = coef_derivatives(stats, family, s, gamma)
    lam = s if family.error else None
    alpha = intercept.estimate(stats, c, lam)
    dc = np.column_stack([*([c_s] if spatial else []), d, np.zeros(c.size)])
    zdc_rho = None
    if family.lag and se == "expected":
        cols = stats.columns(family)
        mu = raw_columns(prep.panel, prep.w, stats.layout)[..., cols] @ gamma
        gmu = spatial_traces(prep.w, prep.logdet, s).apply(alpha + mu)
        zdc_rho = -float(gmu.mean())
    g = intercept.gradient(stats, c, dc, alpha, lam, 0 if family.error else None,
                           0 if family.lag else None, zdc_rho, expected=se == "expected")
    full = intercept.covariance(cov, g, vec[-1], prep.panel.N * prep.panel.T, lam)
    return (np.r_[vec[:-1], alpha, vec[-1]], full, [*names[:-1], "intercept", names[-1]])


def sse_at(stats: SufficientStats, family: Family | str, rho: float,
           gamma: np.ndarray) -> float:
    """SSE = c'Gc at given parameters (spatial, beta, theta)."""
    c, _, _, _ = coef_derivatives(stats, family, rho, gamma)
    return float(c @ stats.gram @ c)
