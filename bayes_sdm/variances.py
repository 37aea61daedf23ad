"""Error variances that change by period: sigma_t^2 under the Lee-Yu fixed-effects transform.

Model: the static spatial panel of any one-parameter family (:mod:`bayes_sdm.families`) with
eps_t ~ N(0, sigma_t^2 I_N).  Time effects are removed inside each period by F_N' (the period's
errors stay homoskedastic, sigma_t^2 I_{N-1}).  Unit effects cannot be removed by the ordinary
time demeaning without mixing the periods' variances, so they are eliminated by any full-rank set
of T - 1 contrasts K (K'1 = 0) of each unit's T errors, whose likelihood does not depend on K:
with D = diag(sigma_t^2) and w_t = 1/sigma_t^2,

    K (K'DK)^{-1} K' = P_T = D^{-1} - D^{-1} 1 1' D^{-1} / (1'D^{-1} 1),
    log|K'DK| = sum_t log sigma_t^2 + log sum_t w_t - log T          (K orthonormal)

(the generalised within transform; it is Lee & Yu's 2010 F_T when all sigma_t are equal).  The
log-likelihood of the transformed panel (n = N - 1 rows a period with time effects, else N) is

    l = -n(T-1)/2 log 2 pi - n/2 [sum_t log sigma_t^2 + log sum_t w_t - log T]
        + (T-1) [log|I - rho W| - [time FE] log(1 - rho)] - Q/2,
    Q = sum_t w_t c'G_tt c - (sum_{s,t} w_s w_t c'G_st c) / sum_t w_t

with unit effects, and l = sum_t [-n/2 log(2 pi sigma_t^2) - w_t c'G_tt c / 2] + T J(rho)
without.  G_st = Z_s'Z_t are the per-period (cross-period) Gram matrices of the columns of
:mod:`bayes_sdm.design` after the cross-section transform, c the coefficient vector of
:func:`bayes_sdm.likelihood.coef_vector`.  They are computed once (T^2 p^2 numbers, p the number
of columns); one evaluation costs O(T^2 p^2) plus the log-determinant, so the gradient stays
cheap.  With equal sigma_t the formula is the homoskedastic Lee-Yu likelihood
(:mod:`bayes_sdm.likelihood`), which the tests check.

Estimators: :func:`fit_period_ml` (beta, theta profiled by generalised least squares, then
rho and log sigma_t^2 by L-BFGS-B; standard errors from the numerical Hessian of the full
log-likelihood) and :func:`build_period_model` (PyMC; sigma_t with the spec's sigma prior, each
period its own).  Both need ``correction="transform"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.optimize as so

from .design import transformed_columns
from .errors import InputError, NumericalError
from .likelihood import coef_layout, coef_vector, prior_scale_refs
from .ml import MLResult
from .prepared import Prepared
from .spec import VARIANCES


@dataclass(frozen=True)
class PeriodStats:
    """Cross-period Gram matrices G_st (T, T, p, p) of the cross-section-transformed columns."""

    cross: np.ndarray
    n: int
    T: int  # noqa: N815
    unit_fe: bool
    time_fe: bool
    times: tuple

    def jacobian(self, ld, rho, xp=np):
        a = self.T - 1 if self.unit_fe else self.T
        out = a * ld
        if self.time_fe:
            out = out - a * xp.log1p(-rho)
        return out


def check_variance_model(prep: Prepared, variance: str = "period") -> None:
    """Refuse what the period- and unit-variance models do not cover (names the problem)."""
    if variance not in VARIANCES:
        raise InputError(f"unknown variance model {variance!r}; choose from {VARIANCES}")
    if variance == "homoskedastic":
        return
    if prep.regional is not None:
        raise InputError(f"not implemented yet: {variance} variances in a regional model")
    if prep.correction != "transform":
        raise InputError(f"{variance} variances need correction 'transform' (the Lee-Yu "
                         "likelihood)")
    if len(prep.family.spatial_params) > 1:
        raise InputError(f"{variance} variances cover families with at most one spatial "
                         f"parameter, not {prep.model}")
    if prep.intercept:
        raise InputError(f"not implemented yet: {variance} variances with an intercept (fe "
                         "'none'); use fixed effects or no intercept (--no-intercept)")


def period_stats(prep: Prepared) -> PeriodStats:
    """The per-period Gram matrices of a prepared model (one O(T^2 N p^2) pass)."""
    check_variance_model(prep, "period")
    time_fe = prep.fe in ("time", "twoway")
    z = transformed_columns(prep.panel, prep.w, "time" if time_fe else "none",
                            prep.lag_convention, prep.stats.layout)
    cross = np.einsum("snp,tnq->stpq", z, z)
    n = prep.panel.N - 1 if time_fe else prep.panel.N
    return PeriodStats(cross, n, prep.panel.T, prep.fe in ("unit", "twoway"), time_fe,
                       tuple(prep.panel.times))


def _quad(ps: PeriodStats, c, xp):
    if xp is np:
        return np.einsum("p,stpq,q->st", c, ps.cross, c)
    import pytensor.tensor as pt

    g = pt.as_tensor(ps.cross)
    return pt.tensordot(pt.tensordot(g, c, axes=[[3], [0]]), c, axes=[[2], [0]])


def period_loglik(ps: PeriodStats, prep: Prepared, spatial, beta, theta, sigma2_t, xp=np):
    """The log-likelihood with period variances (module docstring), numpy or PyTensor."""
    family = prep.family
    c = coef_vector(prep.stats.layout, family, spatial, beta, theta, xp=xp)
    m = _quad(ps, c, xp)
    w = 1.0 / sigma2_t
    diag = xp.diagonal(m) if xp is not np else np.diagonal(m)
    n, tt = ps.n, ps.T
    if ps.unit_fe:
        sw = w.sum()
        q = (w * diag).sum() - xp.dot(w, xp.dot(m, w)) / sw
        ll = (-0.5 * n * (tt - 1) * math.log(2 * math.pi)
              - 0.5 * n * (xp.log(sigma2_t).sum() + xp.log(sw) - math.log(tt)) - 0.5 * q)
    else:
        q = (w * diag).sum()
        ll = -0.5 * n * xp.log(2 * math.pi * sigma2_t).sum() - 0.5 * q
    if family.has_jacobian:
        ld = prep.logdet.value(spatial) if xp is np else prep.logdet.symbolic(spatial)
        ll = ll + ps.jacobian(ld, spatial, xp)
    return ll


def _weighted_gram(ps: PeriodStats, w: np.ndarray) -> np.ndarray:
    a = np.einsum("t,ttpq->pq", w, ps.cross)
    if ps.unit_fe:
        a = a - np.einsum("s,t,stpq->pq", w, w, ps.cross) / w.sum()
    return a


def _profile(ps: PeriodStats, prep: Prepared, s: float, w: np.ndarray):
    """GLS coefficients at spatial parameter s and weights w."""
    u0, u1, m0, m1 = coef_layout(prep.stats.layout, prep.family)
    a = _weighted_gram(ps, w)
    base, mb = u0 + s * u1, m0 + s * m1
    b = -np.linalg.solve(mb.T @ a @ mb, mb.T @ a @ base)
    return b


@dataclass
class PeriodMLResult(MLResult):
    """ML with period variances: rows ``sigma2[<period>]`` instead of ``sigma2`` (its
    :meth:`~bayes_sdm.ml.MLResult.table` gives them no z-test, like ``sigma2``)."""


def _split_params(prep: Prepared, vec: np.ndarray):
    k = prep.panel.K
    fam = prep.family
    off = int(fam.has_jacobian)
    s = vec[0] if off else 0.0
    pcoef = fam.n_coef(k)
    coef = vec[off:off + pcoef]
    beta, theta = coef[:k], (coef[k:] if fam.durbin else None)
    return s, beta, theta, vec[off + pcoef:]


def fit_period_ml(prep: Prepared, ps: PeriodStats | None = None) -> PeriodMLResult:
    """Maximum likelihood with period variances (module docstring).

    Raises
    ------
    InputError
        see :func:`check_variance_model`.
    NumericalError
        the optimiser fails or ends at the edge of the spatial parameter's interval.
    """
    check_variance_model(prep, "period")
    ps = ps or period_stats(prep)
    n = ps.n

    def dll_dw(c, w):
        """dl/dw_t at coefficient vector c (module docstring)."""
        m = _quad(ps, c, np)
        d = np.diagonal(m)
        if ps.unit_fe:
            sw = w.sum()
            mw = m @ w
            return 0.5 * n * (1.0 / w - 1.0 / sw) - 0.5 * (d - 2 * mw / sw + (w @ mw) / sw**2)
        return 0.5 * n / w - 0.5 * d

    return fit_scale_ml(
        prep, loglik=lambda s, beta, theta, s2: period_loglik(ps, prep, s, beta, theta, s2),
        profile=lambda s, w: _profile(ps, prep, s, w), dll_dw=dll_dw, time_fe=ps.time_fe,
        scale_names=[f"sigma2[{t}]" for t in ps.times],
        n_eff=ps.n * (ps.T - 1 if ps.unit_fe else ps.T), label="period-variance", maxiter=5000,
        notes=["period variances sigma2[t]; standard errors from the numerical Hessian of the "
               "full log-likelihood"])


def fit_scale_ml(prep: Prepared, *, loglik, profile, dll_dw, time_fe: bool,
                 scale_names: list[str], n_eff: int, label: str, notes: list[str],
                 maxiter: int = 10000) -> PeriodMLResult:
    """ML of a model whose error variances sigma2[j] differ by period or by unit.

    The coefficients are profiled out by weighted least squares (``profile(s, w)``, w = 1 /
    sigma2); the spatial parameter (logit of its interval) and log sigma2[j] are maximised by
    L-BFGS-B with the gradient analytic in log sigma2[j] (envelope theorem: ``dll_dw(c, w)``
    is dl/dw_j at the coefficient vector c) and a central difference in the spatial
    coordinate, from the homoskedastic ML estimate.  Standard errors from the numerical
    Hessian of the full log-likelihood ``loglik(s, beta, theta, sigma2)``.
    """
    from .ml import fit_ml

    fam = prep.family
    spatial = fam.has_jacobian
    lo, hi = prep.logdet.interval if spatial else (0.0, 0.0)
    if spatial and time_fe:
        hi = min(hi, 1.0)

    def unpack(x):
        s = lo + (hi - lo) / (1.0 + math.exp(-x[0])) if spatial else 0.0
        return s, np.exp(x[int(spatial):])

    def negll(x):
        s, s2 = unpack(x)
        b = profile(s, 1.0 / s2)
        beta, theta = _split_params(prep, np.r_[[s] if spatial else [], b])[1:3]
        return -float(loglik(s, beta, theta, s2)), s, s2, beta, theta

    def fun_grad(x):
        f, s, s2, beta, theta = negll(x)
        w = 1.0 / s2
        c = coef_vector(prep.stats.layout, fam, s, beta, theta)
        g = np.empty_like(x)
        g[int(spatial):] = w * dll_dw(c, w)  # d(-l)/d log sigma2_j = w_j dl/dw_j
        if spatial:
            e = np.zeros_like(x)
            e[0] = 1e-6
            g[0] = (negll(x + e)[0] - negll(x - e)[0]) / 2e-6
        return f, g

    h = fit_ml(prep)  # the start: the homoskedastic ML
    s0 = float(h.params.iloc[0]) if spatial else 0.0
    x0 = np.r_[[math.log((s0 - lo) / (hi - s0))] if spatial else [],
               np.full(len(scale_names), math.log(float(h.params["sigma2"])))]
    res = so.minimize(fun_grad, x0, jac=True, method="L-BFGS-B",
                      options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-9})
    if not np.isfinite(res.fun):
        raise NumericalError(f"{label} ML failed: {res.message}")
    s, s2 = unpack(res.x)
    if spatial and min(s - lo, hi - s) < 1e-6 * (hi - lo):
        raise NumericalError(f"{label} ML: {fam.spatial}={s:.6g} is at the edge of its "
                             "interval")
    b = profile(s, 1.0 / s2)
    vec = np.r_[[s] if spatial else [], b, s2]
    names = [*fam.spatial_params, *fam.coef_names(prep.panel.x_names), *scale_names]

    def full(v):
        sp, beta, theta, s2v = _split_params(prep, v)
        return float(loglik(sp, beta, theta, s2v))

    ll = full(vec)
    try:
        cov = np.linalg.inv(-_num_hessian(full, vec))
    except np.linalg.LinAlgError as err:
        raise NumericalError(f"{label} ML: singular Hessian") from err
    sd = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    kpar = len(names)
    return PeriodMLResult(
        params=pd.Series(vec, index=names, name="estimate"),
        se=pd.Series(sd, index=names, name="se"),
        cov=pd.DataFrame(cov, index=names, columns=names), loglik=ll, aic=-2 * ll + 2 * kpar,
        bic=-2 * ll + kpar * math.log(n_eff), r2=float("nan"), n_eff=n_eff, family=fam,
        fe=prep.fe, correction=prep.correction, lag_convention=prep.lag_convention,
        x_names=prep.panel.x_names, N=prep.panel.N, T=prep.panel.T, se_method="observed",
        interval=prep.logdet.interval if spatial else None, notes=notes, logdet=prep.logdet,
        w=prep.w)


def _num_hessian(f, x: np.ndarray) -> np.ndarray:
    """Central-difference Hessian (steps 1e-4 relative)."""
    m = x.size
    h = 1e-4 * np.maximum(np.abs(x), 1e-2)
    out = np.empty((m, m))
    f0 = f(x)
    for i in range(m):
        ei = np.zeros(m)
        ei[i] = h[i]
        out[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(m)
            ej[j] = h[j]
            out[i, j] = out[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                     + f(x - ei - ej)) / (4 * h[i] * h[j])
    return out


def build_period_model(prep: Prepared, priors=None, ps: PeriodStats | None = None,
                       mutable: bool = False):
    """The PyMC model with period variances: the family's priors (:mod:`bayes_sdm.pymc_models`)
    and ``sigma[time]`` with the spec's sigma prior for every period; deterministic
    ``sigma2[time]``; the likelihood is the ``pm.Potential`` ``loglik``.  ``mutable``: the
    Gram matrices as ``pm.Data`` ``cross`` (a compiled sampler refits another panel of the same
    shape, :mod:`bayes_sdm.sbc.variance`)."""
    import pymc as pm
    import pytensor.tensor as pt

    from .pymc_models import coef_prior, spatial_priors
    from .spec import PriorSpec

    check_variance_model(prep, "period")
    ps = ps or period_stats(prep)
    priors = priors or PriorSpec()
    priors.validate()
    st = prep.stats
    ysd, bref, tref = prior_scale_refs(st)
    coords = {"coef": list(st.x_names), "time": [str(t) for t in ps.times]}
    with pm.Model(coords=coords) as m:
        spatial = spatial_priors(prep.family, priors, prep.logdet)
        beta = coef_prior("beta", priors.beta, bref)
        theta = None
        if prep.family.durbin:
            theta = coef_prior("theta", priors.theta, tref)
        d = priors.sigma
        if d["dist"] == "halfnormal":
            sigma = pm.HalfNormal("sigma", sigma=d.get("scale", 1.0) * ysd, dims="time")
        elif d["dist"] == "exponential":
            sigma = pm.Exponential("sigma", scale=d.get("scale", 1.0) * ysd, dims="time")
        elif d["dist"] == "jeffreys":
            log_s2 = pm.Flat("log_sigma2", dims="time")
            sigma = pm.Deterministic("sigma", pt.exp(0.5 * log_s2), dims="time")
        else:  # flat_sigma2
            s2 = pm.HalfFlat("sigma2_flat", dims="time")
            sigma = pm.Deterministic("sigma", pt.sqrt(s2), dims="time")
        sigma2 = pm.Deterministic("sigma2", sigma**2, dims="time")
        if mutable:
            ps = replace(ps, cross=pm.Data("cross", ps.cross))
        pm.Potential("loglik", period_loglik(ps, prep, spatial, beta, theta, sigma2, xp=pt))
    return m


def period_pointwise_loglik(fit, chunk: int = 500):
    """Exact leave-one-out conditional log densities log p(y_it | y_-it, theta) of a fit with
    period variances, dims (chain, draw, time, unit).

    :mod:`bayes_sdm.elpd`'s argument with the precision of the period-variance model: as a
    function of y the log-likelihood is const - r'(P_T (x) M_N) r / 2 with r = (I (x) B) y - Z
    gamma (M_N = I without time effects; P_T = diag(w) without unit effects), so
    g = (I (x) B')(P_T (x) M_N) r and q_it = P_T[t, t] (b_i'b_i - [time FE] (iota'b_i)^2 / N),
    P_T[t, t] = w_t - w_t^2 / sum(w) with unit effects (Buerkner, Gabry & Vehtari 2021).
    With equal variances this is :func:`bayes_sdm.elpd.pointwise_loglik`.
    """
    import xarray as xr

    from .draws import flat
    from .likelihood import coef_vectors

    prep = fit.prepared
    if prep is None or prep.regional is not None:
        raise InputError("the exact LOO conditionals need a pooled fit made in this process")
    check_variance_model(prep, "period")
    post = fit.idata["posterior"].to_dataset()
    fam = prep.family
    time_fe = prep.fe in ("time", "twoway")
    unit_fe = prep.fe in ("unit", "twoway")
    z = transformed_columns(prep.panel, prep.w, "time" if time_fe else "none",
                            prep.lag_convention, prep.stats.layout)
    beta = flat(post, "beta", ("coef",))
    s = beta.shape[0]
    sp_ = flat(post, fam.spatial) if fam.spatial else np.zeros(s)
    theta = flat(post, "theta", ("coef",)) if fam.durbin else None
    s2 = flat(post, "sigma2", ("time",))  # (S, T)
    wm = prep.w.matrix
    wm = wm.toarray() if prep.w.is_sparse else np.asarray(wm, dtype=float)
    n = wm.shape[0]
    colsum, colsq, diag = wm.sum(axis=0), (wm * wm).sum(axis=0), np.diag(wm)
    cs = coef_vectors(prep.stats.layout, fam, sp_, beta, theta)
    tt = prep.panel.T
    out = np.empty((s, tt, n))
    for lo in range(0, s, chunk):
        sl = slice(lo, lo + chunk)
        e = np.einsum("tnc,sc->stn", z, cs[sl])  # cross-section transformed residuals
        w = 1.0 / s2[sl]  # (S, T)
        pr = w[:, :, None] * e
        ptt = w.copy()
        if unit_fe:
            sw = w.sum(axis=1)
            pr = pr - w[:, :, None] * (pr.sum(axis=1) / sw[:, None])[:, None, :]
            ptt = w - w * w / sw[:, None]
        r = sp_[sl][:, None]
        bb = 1.0 - 2.0 * r * diag[None, :] + r * r * colsq[None, :]
        if time_fe:
            bb = bb - (1.0 - r * colsum[None, :]) ** 2 / n
        q = ptt[:, :, None] * bb[:, None, :]
        g = pr - sp_[sl][:, None, None] * (pr @ wm)
        out[sl] = -0.5 * np.log(2.0 * np.pi) + 0.5 * np.log(q) - 0.5 * g * g / q
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    return xr.DataArray(out.reshape(nc, nd, tt, n), dims=("chain", "draw", "time", "unit"),
                        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                "time": [str(t) for t in prep.panel.times],
                                "unit": [str(u) for u in prep.panel.units]})


def add_period_log_likelihood(fit, var_name: str = "y"):
    """Put :func:`period_pointwise_loglik` in the fit's ``log_likelihood`` group (so that
    :func:`bayes_sdm.elpd.loo` / ``compare`` use it)."""
    import xarray as xr

    fit.idata["log_likelihood"] = xr.DataTree(xr.Dataset({var_name: period_pointwise_loglik(
        fit)}))
    return fit.idata


# ---------------------------------------------------------------------------------------------
# unit variance scales v_i (LeSage's heteroskedastic model)
# ---------------------------------------------------------------------------------------------

#: degrees of freedom r of the v_i prior r / v_i ~ chi^2(r) (LeSage & Pace 2009, sec. 5.4)
UNIT_DF = 4.0


@dataclass(frozen=True)
class UnitStats:
    """Time-demeaned (with unit effects) columns z (T, N, p) and per-unit Gram matrices
    H_i = sum_t z_it z_it' (N, p, p)."""

    z: np.ndarray
    h: np.ndarray
    n_periods: int
    time_fe: bool


def unit_stats(prep: Prepared) -> UnitStats:
    """The statistics of the unit-scale model (one O(T N p^2) pass)."""
    check_variance_model(prep, "unit")
    unit_fe = prep.fe in ("unit", "twoway")
    z = transformed_columns(prep.panel, prep.w, "unit" if unit_fe else "none",
                            prep.lag_convention, prep.stats.layout)
    h = np.einsum("tip,tiq->ipq", z, z)
    return UnitStats(z, h, prep.panel.T - 1 if unit_fe else prep.panel.T,
                     prep.fe in ("time", "twoway"))


def unit_loglik(us: UnitStats, prep: Prepared, spatial, beta, theta, sigma2, v, xp=np):
    """Log-likelihood with unit variance scales: eps_it ~ N(0, sigma^2 v_i) (numpy / PyTensor).

    Unit effects: the time demeaning (within a unit the variance is constant, so the Lee-Yu
    F_T contrasts stay independent; T' = T - 1 of them).  Time effects: the N - 1 contrasts of
    each period give P_N = V^{-1} - V^{-1} 1 1' V^{-1} / sum(1/v) and log|K'VK| = sum log v_i +
    log sum(1/v_i) - log N (as for periods, :func:`period_loglik`):

        l = T' [J(rho) - (N-1)/2 log(2 pi sigma^2) - (sum log v + log sum w - log N)/2]
            - [sum_i w_i c'H_i c - sum_t (w'Z_t c)^2 / sum w] / (2 sigma^2)

    (without time effects: N instead of N - 1, no log sum w term, no second sum).  Cost per
    evaluation O(T N p) -- linear in N (plus the N parameters v_i), against O(p^2) for one
    sigma^2 -- since the weights enter the time-effect projection through every unit.
    """
    fam = prep.family
    c = coef_vector(prep.stats.layout, fam, spatial, beta, theta, xp=xp)
    w = 1.0 / v
    n = prep.panel.N
    tp = us.n_periods
    if xp is np:
        quad = np.einsum("p,ipq,q->i", c, us.h, c)
        zc = us.z @ c  # (T, N)
        q = (w * quad).sum()
        if us.time_fe:
            q = q - ((zc @ w) ** 2).sum() / w.sum()
    else:
        import pytensor.tensor as pt

        hc = pt.tensordot(pt.as_tensor(us.h), c, axes=[[2], [0]])  # (N, p)
        quad = (hc * c[None, :]).sum(axis=1)
        zc = pt.tensordot(pt.as_tensor(us.z), c, axes=[[2], [0]])  # (T, N)
        q = (w * quad).sum()
        if us.time_fe:
            q = q - (pt.dot(zc, w) ** 2).sum() / w.sum()
    if us.time_fe:
        ll = tp * (-0.5 * (n - 1) * xp.log(2 * math.pi * sigma2)
                   - 0.5 * (xp.log(v).sum() + xp.log(w.sum()) - math.log(n)))
    else:
        ll = tp * (-0.5 * n * xp.log(2 * math.pi * sigma2) - 0.5 * xp.log(v).sum())
    ll = ll - q / (2 * sigma2)
    if fam.has_jacobian:
        ld = prep.logdet.value(spatial) if xp is np else prep.logdet.symbolic(spatial)
        ll = ll + tp * ld
        if us.time_fe:
            ll = ll - tp * xp.log1p(-spatial)
    return ll


def build_unit_model(prep: Prepared, priors=None, df: float = UNIT_DF,
                     us: UnitStats | None = None, mutable: bool = False):
    """The PyMC model with unit variance scales v_i ~ InvGamma(r/2, r/2) (r / v_i ~ chi^2(r),
    LeSage & Pace 2009, sec. 5.4; Geweke 1993: marginally Student-t errors with r degrees of
    freedom), dims ``unit``; sigma with the spec's sigma prior.  ``mutable``: the statistics
    as ``pm.Data`` ``z`` and ``h`` (as :func:`build_period_model`)."""
    import pymc as pm
    import pytensor.tensor as pt

    from .pymc_models import coef_prior, sigma_prior, spatial_priors
    from .spec import PriorSpec

    check_variance_model(prep, "unit")
    us = us or unit_stats(prep)
    priors = priors or PriorSpec()
    priors.validate()
    st = prep.stats
    ysd, bref, tref = prior_scale_refs(st)
    coords = {"coef": list(st.x_names), "unit": [str(u) for u in prep.panel.units]}
    with pm.Model(coords=coords) as m:
        spatial = spatial_priors(prep.family, priors, prep.logdet)
        beta = coef_prior("beta", priors.beta, bref)
        theta = None
        if prep.family.durbin:
            theta = coef_prior("theta", priors.theta, tref)
        _, sigma2 = sigma_prior(priors.sigma, ysd)
        v = pm.InverseGamma("v", alpha=df / 2, beta=df / 2, dims="unit")
        if mutable:
            us = replace(us, z=pm.Data("z", us.z), h=pm.Data("h", us.h))
        pm.Potential("loglik", unit_loglik(us, prep, spatial, beta, theta, sigma2, v, xp=pt))
    return m
