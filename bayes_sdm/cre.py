"""The Bayesian counterpart of the spatial Hausman test: random against correlated random
effects, compared on the same data by their expected log predictive density (ELPD).

Why not "FE against RE" directly
--------------------------------
The fixed-effects likelihood of this package is the Lee & Yu (2010) likelihood of the
*transformed* data (n* = N(T - 1) observations for unit effects); the random-effects
likelihood (:mod:`bayes_sdm.random_effects`) is the density of all NT untransformed
observations.  Their log-likelihoods, marginal likelihoods and ELPDs are densities of
different random vectors, so a difference of them means nothing.

What is compared instead
------------------------
The correlated-random-effects model of Mundlak (1978, "On the pooling of time series and cross
section data", Econometrica 46:69-85) and Chamberlain (1982): the unit effect's mean depends on
the unit means of the regressors, mu_i = xbar_i' gamma (+ (W xbar)_i' gamma_W for Durbin
models) + a_i, a_i ~ N(0, sigma_mu^2) (``mundlak=True`` in
:func:`bayes_sdm.random_effects.re_data`).  At given (rho|lambda, phi) its beta (and theta) is
the within (fixed-effects) estimator, exactly (the between part of the likelihood only
identifies beta + gamma), so it is the Bayesian analogue of fixed effects, while it remains a
density of the same NT observations as the RE model, with the unit effects integrated out.
RE is CRE with gamma = 0, so the classical Hausman question "are the unit effects correlated
with the regressors?" becomes

* a comparison of RE and CRE by PSIS-LOO (Vehtari, Gelman & Gabry 2017) on the exact
  leave-one-out conditional densities log p(y_it | y_-it, theta) of each model (Buerkner,
  Gabry & Vehtari 2021; the pointwise terms are the same observations for both models); and
* the posterior of the Mundlak coefficients gamma (a Bayesian Mundlak test): their 94% HDIs
  and the posterior tail probability of gamma = 0 (the share of draws farther from the
  posterior mean, in the posterior covariance metric, than 0).

Marginal likelihoods are not used: with the flat prior on the coefficients under which the
posterior mode is the ML estimate, a Bayes factor between models with different numbers of
coefficients depends on the arbitrary scale of that improper prior (Lindley's paradox); the
ELPD does not.

The posterior (exact, no MCMC)
------------------------------
Flat priors on the intercept, beta, theta and gamma, p(sigma^2) ~ 1/sigma^2, uniform priors on
the spatial parameter over its admissible interval and on phi over (0, 1] (the priors of
:func:`bayes_sdm.re_model.build_re_model` with flat coefficient priors).  The coefficients
(normal) and sigma^2 (scaled inverse chi^2) are conjugate given (s, phi), whose joint posterior

    log p(s, phi | y) = J(s, phi) + T log|I - s W| - 1/2 log|G_RR| - (NT - p)/2 log SSE + c,

(G the GLS Gram matrix of :func:`bayes_sdm.random_effects.gram_at`, J its log-determinant
terms) is evaluated on a grid refined around its mode; (s, phi) are drawn from the grid cells
(uniform within a cell), then sigma^2 and the coefficients exactly.

Exact LOO conditionals.  y ~ N(m, V) with precision Q = V^-1 has log p(y_j | y_-j) =
-1/2 log 2 pi + 1/2 log q_jj - g_j^2 / (2 q_jj), g = Q (y - m) (Buerkner et al. 2021).  With
Jbar = J_T / T, E = I_T - Jbar:

* lag (A = I - rho W): Q = (I (x) A') [phi^2 Jbar + E] (x) I (I (x) A) / sigma^2, so with
  u_t = A y_t - R_t c: g_t = A' (u_t - (1 - phi^2) ubar) / sigma^2 and
  q_ti = (1 - (1 - phi^2)/T) (A'A)_ii / sigma^2;
* error (B = I - lambda W, kappa = 1/phi^2 - 1; Baltagi, Song & Koh 2003): Q = [Jbar (x) M +
  E (x) B'B] / sigma^2 with M = (I + kappa B'B)^-1 B'B, so with r_t = y_t - R_t c:
  g_t = [B'B (r_t - rbar) + M rbar] / sigma^2 and q_ti = [(1 - 1/T)(B'B)_ii + M_ii / T] /
  sigma^2 (one dense N x N solve per draw).

Verdict: CRE is preferred when its ELPD exceeds the RE one by more than twice the standard
error of the difference (as :mod:`bayes_sdm.variance_selection`); otherwise RE (the simpler,
nested model) is adequate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import families
from .errors import InputError
from .families import Family
from .logdet import LogDet, make_logdet
from .random_effects import MUNDLAK, REData, _proj, gram_at, re_data

#: grid points per axis and refinement rounds of the (spatial, phi) posterior
GRID = 32
ROUNDS = 3
#: cells more than this far below the maximum of the log posterior are dropped when refining
DROP = 25.0
#: the largest N for the dense N x N algebra of the error families
DENSE_MAX = 2000
HDI_PROB = 0.94


def grams(d: REData, s: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GLS Gram matrices of :func:`~bayes_sdm.random_effects.gram_at` at K points
    (s_k, phi_k), shape (K, 1 + p, 1 + p), and their log-determinant terms J (K,).  Lag
    families: vectorised (y* = y - s Wy is linear in s, so G = G0 + s G1 + s^2 G2 for the
    within and the between part); error families: one N x N factorisation per point."""
    s = np.atleast_1d(np.asarray(s, float))
    phi = np.atleast_1d(np.asarray(phi, float))
    if d.family.error:
        out = [gram_at(d, a, b) for a, b in zip(s, phi, strict=True)]
        return np.array([g for g, _ in out]), np.array([j for _, j in out])
    p0 = _proj(d, 0.0)
    p1 = _proj(d, 1.0) - p0
    parts = []
    for m in (d.gw, d.gb):
        c0, c1, c2 = p0.T @ m @ p0, p0.T @ m @ p1, p1.T @ m @ p1
        parts.append(c0[None] + s[:, None, None] * (c1 + c1.T)[None]
                     + (s * s)[:, None, None] * c2[None])
    return parts[0] + (phi * phi)[:, None, None] * parts[1], d.N * np.log(phi)


def _profile(g: np.ndarray):
    """(coef_hat, G_RR, SSE, log|G_RR|) of Gram matrices (K, 1 + p, 1 + p)."""
    grr = g[:, 1:, 1:]
    sign, ld_g = np.linalg.slogdet(grr)
    coef = np.linalg.solve(grr, g[:, 1:, :1])[..., 0]
    sse = g[:, 0, 0] - np.einsum("kj,kj->k", g[:, 0, 1:], coef)
    ld_g = np.where(sign > 0, ld_g, np.nan)
    return coef, grr, sse, ld_g


def log_kernel(d: REData, logdet: LogDet, s, phi) -> np.ndarray:
    """log p(s, phi | y) up to a constant (module docstring), vectorised over points."""
    s = np.atleast_1d(np.asarray(s, float))
    g, jac = grams(d, s, phi)
    _, _, sse, ld_g = _profile(g)
    nt = d.N * d.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (jac + d.T * np.asarray(logdet.value(s), float) - 0.5 * ld_g
               - 0.5 * (nt - d.p) * np.log(sse))
    return np.where(np.isfinite(out) & (sse > 0), out, -np.inf)


@dataclass
class GridPosterior:
    """log p(s, phi | y) at the centres of a regular grid of cells."""

    s_edges: np.ndarray
    phi_edges: np.ndarray
    logp: np.ndarray  # (len(s_edges) - 1, len(phi_edges) - 1)


def _evaluate(d, logdet, s_edges, phi_edges) -> GridPosterior:
    sc = 0.5 * (s_edges[1:] + s_edges[:-1])
    pc = 0.5 * (phi_edges[1:] + phi_edges[:-1])
    ss, pp = np.meshgrid(sc, pc, indexing="ij")
    lp = log_kernel(d, logdet, ss.ravel(), pp.ravel()).reshape(ss.shape)
    return GridPosterior(s_edges, phi_edges, lp)


def grid_posterior(d: REData, logdet: LogDet, n: int = GRID, rounds: int = ROUNDS
                   ) -> GridPosterior:
    """The (s, phi) posterior on a grid, refined ``rounds`` times to the box of the cells
    within :data:`DROP` of the maximum (plus one cell on each side)."""
    lo, hi = logdet.interval
    eps = 1e-9 * (hi - lo)
    box = [lo + eps, hi - eps, 1e-6, 1.0]
    gp = None
    for _ in range(rounds):
        gp = _evaluate(d, logdet, np.linspace(box[0], box[1], n + 1),
                       np.linspace(box[2], box[3], n + 1))
        if not np.isfinite(gp.logp).any():
            raise InputError("the random-effects posterior is zero on the whole grid "
                             "(a degenerate design?)")
        keep = np.argwhere(gp.logp > np.max(gp.logp) - DROP)
        i0, j0 = keep.min(axis=0)
        i1, j1 = keep.max(axis=0)
        i0, j0 = max(i0 - 1, 0), max(j0 - 1, 0)
        i1, j1 = min(i1 + 2, n), min(j1 + 2, n)
        box = [gp.s_edges[i0], gp.s_edges[i1], gp.phi_edges[j0], gp.phi_edges[j1]]
    return gp


def posterior_draws(d: REData, logdet: LogDet, draws: int = 1000, seed: int = 0) -> dict:
    """Exact draws of (s, phi, sigma^2, coefficients) (module docstring)."""
    rng = np.random.default_rng(seed)
    gp = grid_posterior(d, logdet)
    prob = np.exp(gp.logp - gp.logp.max()).ravel()
    prob /= prob.sum()
    cells = rng.choice(prob.size, size=draws, p=prob)
    i, j = np.unravel_index(cells, gp.logp.shape)
    s = gp.s_edges[i] + rng.uniform(size=draws) * (gp.s_edges[i + 1] - gp.s_edges[i])
    phi = gp.phi_edges[j] + rng.uniform(size=draws) * (gp.phi_edges[j + 1] - gp.phi_edges[j])
    nt = d.N * d.T
    chat, grr, sse, _ = _profile(grams(d, s, phi)[0])
    sigma2 = sse / rng.chisquare(nt - d.p, size=draws)
    lc = np.linalg.cholesky(np.linalg.inv(grr))
    z = rng.standard_normal((draws, d.p))
    coef = chat + np.sqrt(sigma2)[:, None] * np.einsum("kij,kj->ki", lc, z)
    return {"s": s, "phi": phi, "sigma2": sigma2, "coef": coef}


def _dense(w) -> np.ndarray:
    m = w.matrix
    return m.toarray() if sp.issparse(m) else np.asarray(m, float)


def _terms(g: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(observation, unit) LOO log densities from g = Q (y - m), shape (..., T, N), and the
    unit blocks of the precision, Q_ii-block = a_i Jbar + b_i E, a and b shaped (..., N)
    (Buerkner et al. 2021)."""
    t = g.shape[-2]
    q = (a / t + b * (1.0 - 1.0 / t))[..., None, :]
    obs = -0.5 * math.log(2 * math.pi) + 0.5 * np.log(q) - 0.5 * g * g / q
    gbar = g.mean(axis=-2)
    quad = t * gbar * gbar / a + ((g - gbar[..., None, :]) ** 2).sum(axis=-2) / b
    unit = 0.5 * (-t * math.log(2 * math.pi) + np.log(a) + (t - 1) * np.log(b) - quad)
    return obs, unit


def conditionals(d: REData, y: np.ndarray, post: dict, chunk: int = 200
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(log p(y_it | y_-it, theta), shape (S, T, N); leave-one-unit-out log p(y_i. | y_-i.,
    theta), shape (S, N)) for every draw of ``post`` (module docstring)."""
    y = np.asarray(y, float)
    t, n = y.shape
    s_all, phi_all, s2_all, coef = post["s"], post["phi"], post["sigma2"], post["coef"]
    obs = np.empty((s_all.size, t, n))
    unit = np.empty((s_all.size, n))
    if not d.family.error:
        wc = sp.csr_matrix(d.w.matrix)
        w_ii = wc.diagonal()
        col_sq = np.asarray(wc.multiply(wc).sum(axis=0)).ravel()
        wy = np.asarray(d.w.lag(y))

        def right(a):  # rows a_t' W, i.e. (W' a_t)'
            a = np.asarray(a, float)
            flat = a.reshape(-1, n)
            return np.asarray((wc.T @ flat.T).T).reshape(a.shape)

        regs_w = right(d.regs.transpose(0, 2, 1)).transpose(0, 2, 1)  # (T, N, p)
        y_w, wy_w = right(y), right(wy)
        for lo in range(0, s_all.size, chunk):
            sl = slice(lo, lo + chunk)
            s = s_all[sl][:, None, None]
            c = (1.0 - phi_all[sl] ** 2)[:, None, None]
            s2 = s2_all[sl][:, None, None]
            u = y - s * wy - np.einsum("tnp,sp->stn", d.regs, coef[sl])
            u_w = y_w - s * wy_w - np.einsum("tnp,sp->stn", regs_w, coef[sl])
            v = u - c * u.mean(axis=1, keepdims=True)
            v_w = u_w - c * u_w.mean(axis=1, keepdims=True)
            g = (v - s * v_w) / s2  # rows A' v_t / sigma^2
            s1 = s[:, :, 0]
            aa = (1.0 - 2.0 * s1 * w_ii + s1 * s1 * col_sq) / s2[:, :, 0]  # (A'A)_ii / s^2
            obs[sl], unit[sl] = _terms(g, (phi_all[sl] ** 2)[:, None] * aa, aa)
        return obs, unit
    if n > DENSE_MAX:
        raise InputError(f"the exact LOO conditionals of a random-effects error model need "
                         f"dense N x N algebra; not computed for N = {n} > {DENSE_MAX}")
    wd = _dense(d.w)
    eye = np.eye(n)
    for k, (s, phi, s2) in enumerate(zip(s_all, phi_all, s2_all, strict=True)):
        b = eye - s * wd
        btb = b.T @ b
        kappa = 1.0 / (phi * phi) - 1.0
        m = np.linalg.solve(eye + kappa * btb, btb)
        r = y - d.regs @ coef[k]
        rbar = r.mean(axis=0)
        g = ((r - rbar) @ btb + m @ rbar) / s2  # btb symmetric
        obs[k], unit[k] = _terms(g, np.diag(m) / s2, np.diag(btb) / s2)
    return obs, unit


def loo_conditionals(d: REData, y: np.ndarray, post: dict, by_unit: bool = False
                     ) -> np.ndarray:
    """One of :func:`conditionals`: by observation (S, T, N) or, ``by_unit``, by unit (S, N)."""
    return conditionals(d, y, post)[1 if by_unit else 0]


def _loo(ll: np.ndarray):
    """ArviZ's PSIS-LOO of pointwise log densities shaped (S, ...) (one chain)."""
    import arviz_stats as az
    import xarray as xr

    arr = ll[None]  # one chain of independent draws
    dims = ("chain", "draw", *("time", "unit")[2 - (arr.ndim - 2):])
    tree = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"dummy": (("chain", "draw"), np.zeros(arr.shape[:2]))}),
        "log_likelihood": xr.Dataset({"y": (dims, arr)})})
    return az.loo(tree, var_name="y", pointwise=True)


def _difference(e_re, e_cre) -> tuple[float, float]:
    """(elpd_cre - elpd_re, its standard error) from the pointwise values."""
    di = np.asarray(e_cre.elpd_i).ravel() - np.asarray(e_re.elpd_i).ravel()
    return float(di.sum()), float(math.sqrt(di.size * di.var(ddof=1)))


def _hdi(x: np.ndarray, prob: float = HDI_PROB) -> tuple[float, float]:
    """The narrowest interval holding ``prob`` of the draws."""
    xs = np.sort(x)
    m = int(math.ceil(prob * xs.size))
    widths = xs[m - 1:] - xs[:xs.size - m + 1]
    i = int(np.argmin(widths))
    return float(xs[i]), float(xs[i + m - 1])


def mundlak_summary(names, draws: np.ndarray) -> dict:
    """Posterior means and HDIs of the Mundlak coefficients and the tail probability of 0."""
    mean = draws.mean(axis=0)
    cov = np.atleast_2d(np.cov(draws, rowvar=False))
    dev = draws - mean
    dist = np.einsum("si,si->s", dev, np.linalg.solve(cov, dev.T).T)
    d0 = float(mean @ np.linalg.solve(cov, mean))
    coefs = {}
    for j, nm in enumerate(names):
        lo, hi = _hdi(draws[:, j])
        coefs[nm] = {"mean": float(mean[j]), "sd": float(draws[:, j].std(ddof=1)),
                     "hdi_low": lo, "hdi_high": hi, "hdi_covers_zero": bool(lo <= 0 <= hi)}
    return {"coefficients": coefs, "hdi_prob": HDI_PROB, "distance_zero": d0,
            "tail_probability_zero": float(np.mean(dist >= d0))}


def re_vs_cre(panel, w, family: Family | str, logdet: LogDet | str = "auto",
              draws: int = 1000, seed: int = 0, observations: bool = False) -> dict:
    """The Bayesian FE/RE comparison (module docstring) of one family on (panel, W): ELPDs of
    RE and CRE, their difference and its standard error, the Mundlak coefficients' posterior
    and a verdict; a JSON-ready dict.  ``observations``: also the leave-one-observation-out
    ELPDs (``observation_*`` keys; ArviZ's PSIS over N T points is the slow part).

    Raises
    ------
    InputError
        a family without one spatial parameter, W not row-standardised, T < 2, an error family
        with N > :data:`DENSE_MAX`.
    """
    family = families.get(family)
    if len(family.spatial_params) != 1:
        raise InputError(f"the RE/CRE comparison covers sar, sdm, sem and sdem, not "
                         f"{family.name}")
    if not w.row_standardized:
        raise InputError("the RE/CRE comparison needs a row-standardised W")
    if family.error and panel.N > DENSE_MAX:
        raise InputError(f"the RE/CRE comparison of an error model needs dense N x N algebra; "
                         f"not computed for N = {panel.N} > {DENSE_MAX}")
    ld = logdet if isinstance(logdet, LogDet) else make_logdet(w, logdet)
    y = np.asarray(panel.y, float)
    res = {}
    # many small dense factorisations: a multi-threaded BLAS only adds synchronisation (x100
    # slower per N x N Cholesky on a busy machine, measured at N = 176)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        for name, flag in (("re", False), ("cre", True)):
            d = re_data(panel, w, family, mundlak=flag)
            post = posterior_draws(d, ld, draws, seed)
            obs, unit = conditionals(d, y, post)
            res[name] = (d, post, _loo(unit), _loo(obs) if observations else None)
    (_, _, u_re, o_re), (d_cre, post_cre, u_cre, o_cre) = res["re"], res["cre"]
    diff, dse = _difference(u_re, u_cre)
    idx = [j for j, nm in enumerate(d_cre.reg_names) if nm.startswith(MUNDLAK + "[")]
    mund = mundlak_summary([d_cre.reg_names[j] for j in idx], post_cre["coef"][:, idx])
    prefers = "cre" if diff > 2 * dse else "re"
    if prefers == "cre":
        verdict = (f"correlated random effects are preferred: leave-one-unit-out ELPD higher "
                   f"by {diff:.1f} (se of the difference {dse:.1f}); the unit effects depend "
                   "on the regressors (fixed effects or CRE, not RE)")
    else:
        verdict = (f"correlated random effects do not improve the leave-one-unit-out ELPD "
                   f"beyond its noise (difference {diff:.1f}, se {dse:.1f}); random effects "
                   "are adequate")
    k_max = max(float(np.nanmax(np.asarray(e.pareto_k))) for e in (u_re, u_cre))
    out = {
        "model": family.name, "elpd_re": float(u_re.elpd), "se_re": float(u_re.se),
        "elpd_cre": float(u_cre.elpd), "se_cre": float(u_cre.se), "elpd_diff": diff,
        "diff_se": dse, "prefers": prefers, "verdict": verdict,
        "mundlak": mund, "pareto_k_max": k_max, "draws": draws,
        "method": "exact posterior on a (spatial, phi) grid with conjugate coefficients and "
                  "sigma^2 (flat priors); PSIS-LOO on the exact leave-one-unit-out (verdict) "
                  "and leave-one-observation-out conditionals of each model (unit effects "
                  "integrated out, the same NT observations); CRE = RE + unit means of X (and "
                  "WX) in the unit effect's mean (Mundlak 1978)",
    }
    if observations:
        diff_o, dse_o = _difference(o_re, o_cre)
        out.update({"observation_elpd_re": float(o_re.elpd),
                    "observation_elpd_cre": float(o_cre.elpd),
                    "observation_elpd_diff": diff_o, "observation_diff_se": dse_o})
    return out
