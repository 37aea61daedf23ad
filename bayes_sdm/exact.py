"""Exact (independent) posterior draws of the Gaussian spatial panels under flat priors.

Priors (the ``flat`` preset of :class:`~bayes_sdm.spec.PriorSpec`): p(beta, theta) = 1,
p(sigma^2) propto 1/sigma^2 (Jeffreys), the spatial parameter uniform on the interval of the
log-determinant.  Then (LeSage & Pace 2009, "Introduction to Spatial Econometrics", sec. 5.3;
Zellner 1971, ch. 3):

* with Z_rho the model's transformed regressors ([X, WX] for the SDM; (I - lambda W) [X, WX] for
  error models), p their number, n* the effective sample size and
  S(rho) = min_b SSE(rho, b) the profiled sum of squares, integrating b (Gaussian integral:
  (2 pi sigma^2)^{p/2} |Z_rho'Z_rho|^{-1/2}) and then sigma^2 (inverse-gamma integral:
  Gamma(a) (S/2)^{-a}, a = (n* - p)/2) gives

      log p(rho | y) = J(rho) - a log S(rho) - (1/2) log|Z_rho'Z_rho| + const,

  J the Lee-Yu Jacobian (:func:`bayes_sdm.likelihood.jacobian`); for lag models Z does not depend
  on rho and the last term is a constant.  This is :func:`bayes_sdm.marginal.log_integrand`
  (the integrand of the marginal likelihood), reused here;
* sigma^2 | rho, y ~ InvGamma(a, S(rho)/2);
* (beta, theta) | rho, sigma^2, y ~ N(b(rho), sigma^2 (Z_rho'Z_rho)^{-1}), b(rho) the least
  squares coefficients (:func:`bayes_sdm.likelihood.profile_lag` /
  :func:`~bayes_sdm.likelihood.profile_error`);
* with an intercept (``fe="none"``, :mod:`bayes_sdm.intercept`) it is one more coefficient
  with a flat prior: p counts it, |Z'Z| gains the factor NT (1 - lambda)^2, and alpha | rest ~
  N(zbar'c / (1 - lambda), sigma^2 / (NT (1 - lambda)^2)).

The one-dimensional log p(rho | y) is evaluated on a grid of ``grid`` points over the interval,
then on ``grid`` points over the region where it is within 50 nats of its maximum (twice, so that
a posterior of width 1e-4 is resolved by thousands of points); rho is drawn by inverting the CDF
of the piecewise-linear density through the grid values (exact within each cell), and sigma^2,
beta, theta and the effects follow from their conditionals.  Every draw is independent, so the
effective sample size equals the number of draws.  The cost is O(grid) log-determinant
evaluations plus O(draws K^3), independent of N T after the sufficient statistics.
"""

from __future__ import annotations

import numpy as np

from . import families
from .effects import EFFECTS, family_effects
from .errors import InputError
from .families import Family
from .likelihood import SufficientStats, coef_layout, profile
from .logdet import LogDet

#: log-density window (nats below the maximum) kept by the grid refinement
WINDOW = 50.0


def exact_supported(family: Family) -> bool:
    """The exact sampler covers families with exactly one spatial parameter."""
    return len(family.spatial_params) == 1


def _log_post(stats: SufficientStats, logdet: LogDet, family: Family, rho: np.ndarray,
              chunk: int = 256) -> np.ndarray:
    """log p(rho | y) up to a constant (module docstring), in chunks of rho."""
    from .marginal import log_integrand

    out = np.concatenate([log_integrand(stats, logdet, family, rho[i:i + chunk])
                          for i in range(0, rho.size, chunk)])
    return np.where(np.isfinite(out), out, -np.inf)


def rho_posterior_grid(stats: SufficientStats, logdet: LogDet, model: Family | str = "sdm",
                       grid: int = 2000, refine: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The grid and the normalised log density of the spatial parameter (module docstring).

    Returns (x, logpdf): x increasing over the region holding the posterior mass,
    ``logpdf`` normalised by the trapezoid rule on x.
    """
    model = families.get(model)
    lo, hi = logdet.interval
    h = (hi - lo) / grid
    x = lo + h * (np.arange(grid) + 0.5)
    lp = _log_post(stats, logdet, model, x)
    for _ in range(refine):
        if not np.isfinite(lp).any():
            raise InputError(f"{model.name}: the posterior of the spatial parameter is not finite "
                             "anywhere on the grid")
        i = int(np.argmax(lp))
        keep = np.nonzero(lp >= lp[i] - WINDOW)[0]
        step = x[1] - x[0] if x.size > 1 else h
        a = max(x[keep[0]] - step, lo + 1e-12 * (hi - lo))
        b = min(x[keep[-1]] + step, hi - 1e-12 * (hi - lo))
        x = np.linspace(a, b, grid)
        lp = _log_post(stats, logdet, model, x)
    mx = lp.max()
    dens = np.exp(lp - mx)
    z = np.sum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))
    return x, lp - mx - np.log(z)


def _draw_from_grid(x: np.ndarray, logpdf: np.ndarray, size: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF draws from the piecewise-linear density through (x, exp(logpdf))."""
    f = np.exp(logpdf - logpdf.max())
    dx = np.diff(x)
    mass = 0.5 * (f[1:] + f[:-1]) * dx
    cdf = np.concatenate([[0.0], np.cumsum(mass)])
    u = rng.random(size) * cdf[-1]
    j = np.clip(np.searchsorted(cdf, u, side="right") - 1, 0, len(dx) - 1)
    r = (u - cdf[j]) / dx[j]  # mass to cover inside cell j, per unit length
    f0, f1 = f[j], f[j + 1]
    # solve f0 t + (f1 - f0) t^2 / 2 = r for t in [0, 1] (stable form of the quadratic root)
    disc = np.maximum(f0 * f0 + 2.0 * (f1 - f0) * r, 0.0)
    denom = f0 + np.sqrt(disc)
    t = np.where(denom > 0, 2.0 * r / np.where(denom > 0, denom, 1.0), 0.5)
    return x[j] + np.clip(t, 0.0, 1.0) * dx[j]


def _gram_xx(stats: SufficientStats, family: Family | str, rho: np.ndarray) -> np.ndarray:
    """Z_rho'Z_rho for each rho: (len(rho), p, p)."""
    family = families.get(family)
    if not family.error:
        cols = stats.columns(family)
        g = stats.gram[np.ix_(cols, cols)]
        return np.broadcast_to(g, (rho.size,) + g.shape)
    _, _, m0, m1 = coef_layout(stats.layout, family)
    m = m0[None] + rho[:, None, None] * m1[None]
    return np.einsum("rip,ij,rjq->rpq", m, stats.gram, m)


def sample_exact(stats: SufficientStats, logdet: LogDet, model: Family | str = "sdm",
                 draws: int = 1000,
                 chains: int = 4, seed=None, grid: int = 2000, effects: bool = True,
                 row_standardized: bool = True, total_sums=None):
    """Independent posterior draws under flat priors (module docstring).

    Parameters
    ----------
    stats : sufficient statistics (:func:`bayes_sdm.likelihood.sufficient_stats`)
    logdet : the log-determinant of I - rho W (its ``interval`` is the prior support)
    model : a family with one spatial parameter (SAR, SDM, SEM, SDEM), or its name
    draws, chains : the draws are laid out as chains x draws (all independent)
    seed : seed of the random generator
    grid : grid points of each pass over the spatial parameter
    effects : add ``effects`` (dims effect, coef) as :func:`bayes_sdm.effects.lag_effects`
        (lag models) or :func:`~bayes_sdm.effects.local_effects` (error models)
    row_standardized, total_sums : passed to :func:`~bayes_sdm.effects.lag_effects` (a W that
        is not row-standardised needs ``total_sums``)

    Returns
    -------
    arviz DataTree with a ``posterior`` group holding ``rho`` (``lambda`` for error models),
    ``beta[coef]``, ``theta[coef]`` (Durbin models), ``sigma2``, ``sigma`` and
    ``effects[effect, coef]`` -- the names and dims of the PyMC model of
    :func:`bayes_sdm.pymc_models.build_model`.
    """
    from .arviz_light import import_arviz_base

    az = import_arviz_base()
    model = families.get(model)
    if not exact_supported(model):
        covered = [f.name for f in families.FAMILIES if exact_supported(f)]
        raise InputError(f"the exact sampler covers {covered}, not {model.name!r}")
    if not isinstance(stats, SufficientStats):
        raise InputError(f"stats must be SufficientStats, got {type(stats).__name__}")
    if not isinstance(logdet, LogDet):
        raise InputError(f"logdet must be a LogDet, got {type(logdet).__name__}")
    if logdet.n != stats.N:
        raise InputError(f"the log-determinant is for N={logdet.n} but the data have N={stats.N}")
    for name, v in (("draws", draws), ("chains", chains), ("grid", grid)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise InputError(f"{name} must be a positive integer, got {v!r}")
    if grid < 50:
        raise InputError(f"grid must have at least 50 points, got {grid}")
    from .marginal import n_coef_with_intercept

    k = stats.K
    p = model.n_coef(k)
    a = 0.5 * (stats.terms.n_eff - n_coef_with_intercept(stats, model))
    if a <= 0:
        raise InputError(f"too few observations (n*={stats.terms.n_eff}) for {p} coefficients")
    rng = np.random.default_rng(seed)
    total = int(draws) * int(chains)

    x, logpdf = rho_posterior_grid(stats, logdet, model, grid)
    rho = _draw_from_grid(x, logpdf, total, rng)
    coef, s = profile(stats, model, rho)
    sigma2 = 0.5 * s / rng.gamma(a, 1.0, size=total)
    gxx = _gram_xx(stats, model, rho)
    chol = np.linalg.cholesky(gxx)  # Z'Z = L L'; cov = sigma2 (L L')^{-1} = sigma2 L^-T L^-1
    z = rng.standard_normal((total, p))
    # L' v = z  =>  v ~ N(0, (L L')^{-1})
    v = np.linalg.solve(np.swapaxes(chol, -1, -2), z[..., None])[..., 0]
    b = coef + np.sqrt(sigma2)[:, None] * v
    beta = b[:, :k]
    theta = b[:, k:] if model.durbin else None

    sname = model.spatial
    shape = (int(chains), int(draws))
    post = {sname: rho.reshape(shape), "beta": beta.reshape(shape + (k,)),
            "sigma2": sigma2.reshape(shape), "sigma": np.sqrt(sigma2).reshape(shape)}
    if theta is not None:
        post["theta"] = theta.reshape(shape + (k,))
    if stats.means is not None:
        # alpha | rho, beta, theta, sigma2 ~ N(zbar'c / (1 - lambda), sigma2 / (NT (1 -
        # lambda)^2)) (bayes_sdm.intercept: its part of the SSE)
        from .likelihood import coef_vectors

        c = coef_vectors(stats.layout, model, rho, beta, theta)
        one_m = 1.0 - rho if model.error else np.ones_like(rho)
        alpha = (c @ stats.means) / one_m + np.sqrt(sigma2 / (stats.N * stats.T)) / one_m * \
            rng.standard_normal(total)
        post["intercept"] = alpha.reshape(shape)
    if effects:
        eff = np.concatenate([
            family_effects(model, rho[i:i + 500], beta[i:i + 500],
                           None if theta is None else theta[i:i + 500], logdet,
                           row_standardized, total_sums)
            for i in range(0, total, 500)])
        post["effects"] = eff.reshape(shape + (3, k))
    coords = {"coef": list(stats.x_names), "effect": list(EFFECTS)}
    dims = {"beta": ["coef"], "theta": ["coef"], "effects": ["effect", "coef"]}
    dims = {key: val for key, val in dims.items() if key in post}
    dt = az.from_dict({"posterior": post}, coords=coords, dims=dims)
    dt.attrs.update({"sampler": "exact", "model": model.name, "logdet": logdet.method,
                     "grid_points": int(grid), "prior": "flat"})
    dt["posterior"].attrs.update({"sampler": "exact"})
    return dt
