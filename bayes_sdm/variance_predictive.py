"""Posterior predictive replicates of the models whose error variances change
(:mod:`bayes_sdm.variances`): period variances sigma_t^2 and unit scales sigma^2 v_i.

A replicated panel is drawn from the family's data-generating process
(:func:`bayes_sdm.simulate.simulate_y`, as :mod:`bayes_sdm.predictive`) with the draw's own
variances::

    eps_it ~ N(0, sigma_t^2)          (``variance="period"``)
    eps_it ~ N(0, sigma^2 v_i)        (``variance="unit"``)

Fixed effects.  The transformed likelihoods of :mod:`bayes_sdm.variances` do not involve the
effects (the generalised within transform and F_N' remove any mu_i and alpha_t), so a posterior
draw carries none and the replicated *transformed* data have the model's distribution whatever
values the effects take.  As in :mod:`bayes_sdm.predictive` they are set, draw by draw, at their
estimates given the draw -- here the generalised least-squares (conditional ML) estimates under
the draw's variances: with the untransformed innovation e_it of the draw (the residual Z c of
:func:`bayes_sdm.likelihood.coef_vector` on the raw columns) and the separable precision weights
w_t u_i (w_t = 1/sigma_t^2, u_i = 1 for period variances; w_t = 1, u_i = 1/v_i for unit scales),
the weighted projection of e onto {mu_i + alpha_t} is

    fitted_it = m_i. + m_.t - m..,
    m_i. = sum_t w_t e_it / sum_t w_t,  m_.t = sum_i u_i e_it / sum_i u_i,
    m.. = sum_it w_t u_i e_it / (sum_t w_t sum_i u_i)                           (two-way)

(the residual e - fitted is orthogonal to every mu_i and alpha_t in the weighted inner product:
sum_t w_t u_i (e_it - fitted_it) = u_i (W m_i. - W m_i. - sum_t w_t m_.t + W m..) = 0, W = sum
w_t, since m.. = sum_t w_t m_.t / W; likewise over i), m_i. alone with unit effects, m_.t
alone with time effects, nothing without effects.  With equal weights it is the plain
projection of :func:`bayes_sdm.predictive.fixed_effects`.  For error models the effects enter
inside the spatial filter, as there.

Cost: one O(N T p) residual and one spatial solve (an LU factorisation of I - rho W) per
replicated draw.
"""

from __future__ import annotations

import numpy as np

from .design import raw_columns
from .errors import InputError


def weighted_effects(e: np.ndarray, fe: str, w_t: np.ndarray | None = None,
                     u_i: np.ndarray | None = None) -> np.ndarray:
    """The weighted least-squares fixed effects (..., T, N) of innovations e (..., T, N) under
    the separable weights w_t u_i (module docstring; ``w_t`` (..., T), ``u_i`` (..., N));
    ``None`` weights are ones."""
    e = np.asarray(e, dtype=float)
    t, n = e.shape[-2:]
    wt = np.ones(t) if w_t is None else np.asarray(w_t, dtype=float)
    ui = np.ones(n) if u_i is None else np.asarray(u_i, dtype=float)
    wt = np.broadcast_to(wt, e.shape[:-2] + (t,))
    ui = np.broadcast_to(ui, e.shape[:-2] + (n,))
    sw, su = wt.sum(-1)[..., None, None], ui.sum(-1)[..., None, None]
    unit, time = fe in ("unit", "twoway"), fe in ("time", "twoway")
    out = np.zeros_like(e)
    if unit:
        out = out + (wt[..., :, None] * e).sum(-2, keepdims=True) / sw
    if time:
        out = out + (e * ui[..., None, :]).sum(-1, keepdims=True) / su
    if unit and time:
        out = out - (wt[..., :, None] * e * ui[..., None, :]).sum((-2, -1),
                                                                   keepdims=True) / (sw * su)
    return out


def draw_variance_y(prep, variance: str, spatial, beta, theta, sigma2, v=None,
                    rng=None) -> np.ndarray:
    """Replicated panels (S, T, N) of a variance model, one per draw (module docstring).

    Parameters
    ----------
    prep : the :class:`~bayes_sdm.prepared.Prepared` model
    variance : ``period`` (``sigma2`` of shape (S, T)) or ``unit`` (``sigma2`` (S,), ``v``
        (S, N))
    spatial, beta, theta : the draws' family parameters, (S,) and (S, K)
    rng : a Generator or seed
    """
    from .likelihood import coef_vectors
    from .simulate import solve_spatial

    rng = np.random.default_rng(rng)
    panel, fam = prep.panel, prep.family
    t, n = panel.T, panel.N
    beta = np.atleast_2d(np.asarray(beta, dtype=float))
    ns = beta.shape[0]
    s2 = np.asarray(sigma2, dtype=float)
    if variance == "period":
        if s2.shape != (ns, t):
            raise InputError(f"period variances: sigma2 must have shape ({ns}, {t}), got "
                             f"{s2.shape}")
        scale = np.sqrt(s2)[:, :, None] * np.ones((1, 1, n))
        wt, ui = 1.0 / s2, None
    elif variance == "unit":
        vv = np.asarray(v, dtype=float)
        if s2.shape != (ns,) or vv.shape != (ns, n):
            raise InputError(f"unit scales: sigma2 must have shape ({ns},) and v ({ns}, {n})")
        scale = np.ones((1, t, 1)) * np.sqrt(s2[:, None] * vv)[:, None, :]
        wt, ui = None, 1.0 / vv
    else:
        raise InputError(f"replicates cover 'period' and 'unit' variances, not {variance!r}")
    if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise InputError("the error variances must be positive and finite")
    sp_ = np.atleast_1d(np.asarray(spatial, dtype=float)) if fam.spatial_params \
        else np.zeros(ns)
    th = np.atleast_2d(np.asarray(theta, dtype=float)) if fam.durbin else None
    cs = coef_vectors(prep.stats.layout, fam, sp_, beta, th)
    e = np.einsum("tnc,sc->stn", raw_columns(panel, prep.w, prep.stats.layout), cs)
    eps = weighted_effects(e, prep.fe, wt, ui) + scale * rng.standard_normal((ns, t, n))
    x = np.asarray(panel.X, dtype=float)
    fx = np.einsum("tnk,sk->stn", x, beta)
    if th is not None:
        fx = fx + np.einsum("tnk,sk->stn", prep.w.lag(x), th)
    from .sampling import small_blas

    out = np.empty((ns, t, n))
    with small_blas(n):
        for i in range(ns):
            rho, lam = fam.spatial_values(sp_[i])
            u = solve_spatial(prep.w, lam, eps[i]) if lam is not None else eps[i]
            out[i] = solve_spatial(prep.w, rho, fx[i] + u) if rho is not None else fx[i] + u
    return out


def variance_posterior_predictive(prep, posterior, variance: str, seed: int | None = None):
    """Posterior predictive replicates of a period- or unit-variance fit: a DataArray ``y``
    (chain, draw, time, unit), one replicated panel per draw of ``posterior`` (thinned by the
    caller, :func:`bayes_sdm.ppc.posterior_predictive`)."""
    import xarray as xr

    from .draws import flat
    post = posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior
    fam = prep.family
    need = ["beta", "sigma2", *fam.spatial_params, *(["theta"] if fam.durbin else []),
            *(["v"] if variance == "unit" else [])]
    missing = [v for v in need if v not in post.data_vars]
    if missing:
        raise InputError(f"the posterior lacks {missing}, which the {variance}-variance "
                         "replicates need")
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    reps = draw_variance_y(
        prep, variance, flat(post, fam.spatial_params[0]) if fam.spatial_params else None,
        flat(post, "beta", ("coef",)), flat(post, "theta", ("coef",)) if fam.durbin else None,
        flat(post, "sigma2", ("time",) if variance == "period" else ()),
        flat(post, "v", ("unit",)) if variance == "unit" else None, seed)
    return xr.DataArray(reps.reshape(nc, nd, prep.panel.T, prep.panel.N),
                        dims=("chain", "draw", "time", "unit"), name="y",
                        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                "time": list(prep.panel.times), "unit": list(prep.panel.units)})
