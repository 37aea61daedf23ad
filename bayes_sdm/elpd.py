"""Expected log predictive density (ELPD) of spatial panel fits, for comparing models (e.g. the
pooling choices of :mod:`bayes_sdm.regional`).

Why not the naive pointwise log-likelihood
------------------------------------------
The SAR / SDM / SEM likelihood does not factor over observations: y_t = (I - rho W)^{-1}(...)
couples every unit of a period, so "log p(y_it | theta)" terms do not add up to the likelihood,
and PSIS-LOO on them estimates nothing well defined.

What is used: exact leave-one-out conditional densities (Buerkner, Gabry & Vehtari 2021,
"Efficient leave-one-out cross-validation for Bayesian non-factorized normal and Student-t
models", Computational Statistics 36:1243-1261)
------------------------------------------------------------------------------------------
For a Gaussian model whose density in y has precision matrix Q and linear term, the
conditional density of one observation given all the others is

    log p(y_i | y_-i, theta) = -1/2 log(2 pi) + 1/2 log q_ii - 1/2 g_i^2 / q_ii,   g = Q y - l,

(Buerkner et al. 2021, eqs. 8-10; the conditional mean is y_i - g_i / q_ii).  For the Lee & Yu
(2010) transformed panel the log-likelihood is, as a function of the *original* observations,

    const(theta) - || M_D r ||^2 / (2 sigma^2),   r = (I_T (x) B) y - Z gamma,

B = I - rho W (lag models: rho; error models: B applied to y - X beta - WX theta; SLX: B = I),
M_D = M_T (x) M_N the fixed-effect projector (M_T = I - J/T with unit effects, M_N = I - J/N
with time effects, identity otherwise).  Therefore

    g_it = [B' e_t]_i / sigma^2,  e_t = (M_D r)_t (the Lee-Yu residual in original coordinates:
           the demeaned columns of :func:`~bayes_sdm.likelihood.transformed_columns` times
           the coefficient vector of :func:`~bayes_sdm.likelihood.coef_vector`),
    q_it = m_T (b_i'b_i - [time FE] (iota'b_i)^2 / N) / sigma^2,   b_i = B[:, i],
           b_i'b_i = 1 - 2 rho w_ii + rho^2 sum_m w_mi^2,  iota'b_i = 1 - rho sum_m w_mi,
           m_T = 1 - 1/T with unit effects, else 1.

Validity.  The Lee-Yu likelihood is the exact density of the transformed data y* = F'y
(F'F = I, FF' = M_D), and the fixed-effect directions span(D) in y-space do not depend on
theta (W row-standardised for time effects, as the transform requires).  Given y_-it, y* is an
affine function of the single number y_it, and an orthogonal change of coordinates of y*
splits its density into (the Lee-Yu density of the panel without y_it, whose FE are identified
by the remaining data) x (the conditional above, up to a constant Jacobian).  Hence
p(theta | y_-it) is proportional to p(theta | y) / p(y_it | y_-it, theta): the conditional
densities are both the importance ratios and the ELPD terms of exact LOO with the unit and
time effects re-estimated from the other observations -- what PSIS-LOO needs (Vehtari, Gelman
& Gabry 2017, Statistics and Computing 27:1413-1432).  Equivalently, they are the conditional
densities of the model with flat priors on the fixed effects integrated out.  Under the block
W of :mod:`bayes_sdm.regional` every region is its own Lee-Yu panel, so the conditional of a
unit uses its region's W, FE projector and parameters.

The pointwise values go into the ``log_likelihood`` group (variable ``y``, dims (time, unit))
and ArviZ's PSIS-LOO / ``compare`` do the rest.  Requirements: ``correction="transform"``
and the lag-then-demean convention (``QWy``; under unit or no FE, ``WQy`` is the same).

The prediction task is "one city-year given every other city-year", which is what LOO measures
for a spatial panel; leave-one-period-out would need refits (the period's time effect is not
identified from the other periods).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr

from .design import residuals, transformed_columns
from .draws import flat
from .errors import InputError
from .families import Family
from .likelihood import coef_vectors


def conditional_loglik(resid: np.ndarray, w, rho: np.ndarray, sigma2: np.ndarray, fe: str,
                       T: int) -> np.ndarray:  # noqa: N803
    """log p(y_it | y_-it, theta) for S draws.

    Parameters
    ----------
    resid : (S, T, N) Lee-Yu residuals M_D r in original coordinates
    w : (N, N) W (dense or sparse) of the block
    rho : (S,) spatial parameter of B = I - rho W (0 for SLX / OLS)
    sigma2 : (S,)
    fe : fixed effects of the transform
    T : number of periods

    Returns
    -------
    (S, T, N)
    """
    s, t, n = resid.shape
    rho = np.asarray(rho, dtype=float).reshape(s)
    sigma2 = np.asarray(sigma2, dtype=float).reshape(s)
    if sp.issparse(w):
        colsum = np.asarray(w.sum(axis=0)).ravel()
        colsq = np.asarray(w.multiply(w).sum(axis=0)).ravel()
        diag = w.diagonal()
        ew = np.asarray((w.T @ resid.reshape(s * t, n).T).T).reshape(s, t, n)
    else:
        w = np.asarray(w, dtype=float)
        colsum, colsq, diag = w.sum(axis=0), (w * w).sum(axis=0), np.diag(w)
        ew = resid @ w  # (e' W)_i = (W' e)_i
    r = rho[:, None]
    bb = 1.0 - 2.0 * r * diag[None, :] + r * r * colsq[None, :]
    if fe in ("time", "twoway"):
        bb = bb - (1.0 - r * colsum[None, :]) ** 2 / n
    m_t = (1.0 - 1.0 / T) if fe in ("unit", "twoway") else 1.0
    q = m_t * bb / sigma2[:, None]  # (S, N)
    g = (resid - rho[:, None, None] * ew) / sigma2[:, None, None]
    return -0.5 * np.log(2.0 * np.pi) + 0.5 * np.log(q)[:, None, :] - 0.5 * g * g / q[:, None, :]


@dataclass
class _Block:
    family: Family
    positions: np.ndarray
    z: np.ndarray  # (T, N_b, C) transformed columns
    w: object
    stats: object
    rho: np.ndarray  # (S,)
    beta: np.ndarray  # (S, K_b)
    theta: np.ndarray | None
    sigma2: np.ndarray  # (S,)


def _check(fe: str, correction: str, lag_convention: str) -> None:
    if fe == "intercept":
        raise InputError("not implemented yet: exact LOO of a model with an intercept "
                         "(fe='none'); fit with intercept=False or with fixed effects")
    if correction != "transform":
        raise InputError("exact LOO needs the Lee-Yu transformed likelihood "
                         f"(correction='transform'), not correction={correction!r}")
    if lag_convention != "QWy" and fe not in ("unit", "none"):
        raise InputError(f"exact LOO needs the lag-then-demean convention (QWy) with fe={fe!r}")


def _blocks_regional(fit) -> tuple[list[_Block], object, str]:
    rm = fit.regional_model
    post = fit.idata["posterior"].to_dataset()
    _check(rm.fe, rm.correction, rm.lag_convention)
    family = rm.family
    sname = family.spatial
    s = post.sizes["chain"] * post.sizes["draw"]
    blocks = []

    def pick(name, g=None):
        da = post[name]
        if "region" in da.dims:
            other = tuple(d for d in da.dims if d not in ("chain", "draw", "region"))
            v = flat(post, name, ("region", *other))
            return v[:, g] if g is not None else v
        other = tuple(d for d in da.dims if d not in ("chain", "draw"))
        return flat(post, name, other)

    for g, b in enumerate(rm.blocks):
        z = transformed_columns(b.panel, b.w, rm.fe, b.stats.lag_convention, b.stats.layout)
        gi = g if rm.regional_w == "block" else None
        rho = pick(sname, gi) if sname else np.zeros(s)
        sig2 = pick("sigma2", gi)
        if rm.regional_w == "block" or rm.pooling == "complete":
            beta = pick("beta", gi)
            theta = pick("theta", gi) if family.durbin else None
        else:  # full W: coefficients of the expanded regressors [D_g X, D_g WX]
            beta = pick("beta").reshape(s, -1)
            if family.durbin:
                beta = np.concatenate([beta, pick("theta").reshape(s, -1)], axis=1)
            theta = None
        blocks.append(_Block(b.lik_family, b.positions, z, b.w.matrix, b.stats, rho.reshape(s),
                             beta, theta, sig2.reshape(s)))
    return blocks, rm.panel, rm.fe


def _blocks_single(fit):
    from .draws import parameter_draws

    prep = fit.prepared
    _check(prep.fe, prep.correction, prep.lag_convention)
    post = fit.idata["posterior"].to_dataset()
    d = parameter_draws(post, prep.family)
    z = transformed_columns(prep.panel, prep.w, prep.fe, prep.lag_convention, prep.stats.layout)
    blk = _Block(prep.family, np.arange(prep.panel.N), z, prep.w.matrix, prep.stats,
                 d.spatial.reshape(d.size), d.beta, d.theta, d.sigma2.reshape(d.size))
    return [blk], prep.panel, prep.fe


def _coord(ds: xr.Dataset, dim: str) -> np.ndarray:
    return ds[dim].values if dim in ds.coords else np.arange(ds.sizes[dim])


def pointwise_loglik(fit, chunk: int = 500) -> xr.DataArray:
    """Exact LOO conditional log densities, dims (chain, draw, time, unit).

    ``fit`` is a :class:`~bayes_sdm.result.FitResult` made in this process (the data are
    needed; a fit read with :func:`~bayes_sdm.load_fit` has none).
    """
    if getattr(fit, "regional_model", None) is not None:
        blocks, panel, fe = _blocks_regional(fit)
    elif getattr(fit, "prepared", None) is not None and fit.prepared.regional is None:
        blocks, panel, fe = _blocks_single(fit)
    else:
        raise InputError("the exact LOO conditionals need the fit's data: pass a fit made in "
                         "this process (bayes_sdm.fit), not one read from a file")
    post = fit.idata["posterior"].to_dataset()
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    s = nc * nd
    out = np.empty((s, panel.T, panel.N))
    for b in blocks:
        cs = coef_vectors(b.stats.layout, b.family, b.rho, b.beta, b.theta)
        for lo in range(0, s, chunk):
            sl = slice(lo, lo + chunk)
            e = residuals(b.z, cs[sl])
            out[sl][:, :, b.positions] = conditional_loglik(
                e, b.w, b.rho[sl], b.sigma2[sl], fe, panel.T)
    return xr.DataArray(out.reshape(nc, nd, panel.T, panel.N),
                        dims=("chain", "draw", "time", "unit"),
                        coords={"chain": _coord(post, "chain"), "draw": _coord(post, "draw"),
                                "time": [str(t) for t in panel.times],
                                "unit": [str(u) for u in panel.units]})


def add_log_likelihood(fit, var_name: str = "y"):
    """A DataTree with the fit's posterior and a ``log_likelihood`` group (exact LOO
    conditionals); ``fit.idata`` is updated in place and returned."""
    ll = pointwise_loglik(fit)
    idata = fit.idata
    idata["log_likelihood"] = xr.DataTree(xr.Dataset({var_name: ll}))
    return idata


def loo(fit, var_name: str = "y"):
    """PSIS-LOO (ArviZ) on the exact conditional log densities; returns ArviZ's ELPDData."""
    import arviz_stats as az

    idata = fit.idata if "log_likelihood" in fit.idata.children else add_log_likelihood(
        fit, var_name)
    return az.loo(idata, var_name=var_name, pointwise=True)


def compare(fits: Mapping[str, object], var_name: str = "y") -> pd.DataFrame:
    """ArviZ comparison table of fits of the *same* panel (elpd_loo, p_loo, elpd_diff, dse,
    weight, ...), sorted best first, plus ``n_high_k``: observations with Pareto k > 0.7."""
    import arviz_stats as az

    if len(fits) < 2:
        raise InputError("compare needs at least two fits")
    shapes = set()
    res = {}
    for name, f in fits.items():
        e = loo(f, var_name)
        res[name] = e
        shapes.add(tuple(np.shape(e.elpd_i)))
    if len(shapes) != 1:
        raise InputError(f"the fits are of different data (pointwise shapes {sorted(shapes)})")
    tab = az.compare(res, round_to="none")
    tab = pd.DataFrame(tab)
    tab["n_high_k"] = [int((np.asarray(res[n].pareto_k) > 0.7).sum()) for n in tab.index]
    return tab
