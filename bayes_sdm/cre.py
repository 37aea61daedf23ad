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
from .random_effects import MUNDLAK, REData, gram_at, re_data

#: grid points per axis and refinement rounds of the (spatial, phi) posterior
GRID = 32
ROUNDS = 3
#: cells more than this far below the maximum of the log posterior are dropped when refining
DROP = 25.0
#: the largest N for the dense N x N algebra of the error families
DENSE_MAX = 2000
HDI_PROB = 0.94


def log_kernel(d: REData, logdet: LogDet, s: float, phi: float) -> float:
    """log p(s, phi | y) up to a constant (module docstring)."""
    g, jac = gram_at(d, s, phi)
    grr = g[1:, 1:]
    sign, ld_g = np.linalg.slogdet(grr)
    if sign <= 0:
        return -np.inf
    coef = np.linalg.solve(grr, g[1:, 0])
    sse = float(g[0, 0] - g[0, 1:] @ coef)
    if not sse > 0:
        return -np.inf
    nt = d.N * d.T
    return float(jac + d.T * float(logdet.value(s)) - 0.5 * ld_g
                 - 0.5 * (nt - d.p) * math.log(sse))


@dataclass
class GridPosterior:
    """log p(s, phi | y) at the centres of a regular grid of cells."""

    s_edges: np.ndarray
    phi_edges: np.ndarray
    logp: np.ndarray  # (len(s_edges) - 1, len(phi_edges) - 1)


def _evaluate(d, logdet, s_edges, phi_edges) -> GridPosterior:
    sc = 0.5 * (s_edges[1:] + s_edges[:-1])
    pc = 0.5 * (phi_edges[1:] + phi_edges[:-1])
    lp = np.array([[log_kernel(d, logdet, s, ph) for ph in pc] for s in sc])
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
        keep = np.argwhere(gp.logp > np.nanmax(gp.logp) - DROP)
        i0, j0 = keep.min(axis=0)
        i1, j1 = keep.max(axis=0)
        i0, j0 = max(i0 - 1, 0), max(j0 - 1, 0)
        i1, j1 = min(i1 + 2, n), min(j1 + 2, n)
        box = [gp.s_edges[i0], gp.s_edges[i1], gp.phi_edges[j0], gp.phi_edges[j1]]
    return gp


def posterior_draws(d: REData, logdet: LogDet, draws: int = 2000, seed: int = 0) -> dict:
    """Exact draws of (s, phi, sigma^2, coefficients) (module docstring)."""
    rng = np.random.default_rng(seed)
    gp = grid_posterior(d, logdet)
    lp = np.where(np.isfinite(gp.logp), gp.logp, -np.inf)
    prob = np.exp(lp - lp.max()).ravel()
    prob /= prob.sum()
    cells = rng.choice(prob.size, size=draws, p=prob)
    i, j = np.unravel_index(cells, gp.logp.shape)
    s = gp.s_edges[i] + rng.uniform(size=draws) * (gp.s_edges[i + 1] - gp.s_edges[i])
    phi = gp.phi_edges[j] + rng.uniform(size=draws) * (gp.phi_edges[j + 1] - gp.phi_edges[j])
    nt = d.N * d.T
    coef = np.empty((draws, d.p))
    sigma2 = np.empty(draws)
    for k in range(draws):
        g, _ = gram_at(d, s[k], phi[k])
        grr = g[1:, 1:]
        chat = np.linalg.solve(grr, g[1:, 0])
        sse = float(g[0, 0] - g[0, 1:] @ chat)
        sigma2[k] = sse / rng.chisquare(nt - d.p)
        lc = np.linalg.cholesky(np.linalg.inv(grr))
        coef[k] = chat + math.sqrt(sigma2[k]) * lc @ rng.standard_normal(d.p)
    return {"s": s, "phi": phi, "sigma2": sigma2, "coef": coef}


def _dense(w) -> np.ndarray:
    m = w.matrix
    return m.toarray() if sp.issparse(m) else np.asarray(m, float)


def loo_conditionals(d: REData, y: np.ndarray, post: dict, by_unit: bool = False
                     ) -> np.ndarray:
    """log p(y_it | y_-it, theta) for every draw, shape (S, T, N); with ``by_unit`` the
    leave-one-unit-out log p(y_i. | y_-i., theta), shape (S, N) (module docstring)."""
    y = np.asarray(y, float)
    t, n = y.shape
    wm = d.w.matrix
    wy = np.asarray(d.w.lag(y))
    s_all, phi_all, s2_all, coef = post["s"], post["phi"], post["sigma2"], post["coef"]
    fit = np.einsum("tnp,sp->stn", d.regs, coef)  # R_t c per draw
    out = np.empty((s_all.size, n) if by_unit else (s_all.size, t, n))
    if not d.family.error:
        wd = sp.csr_matrix(wm) if sp.issparse(wm) else np.asarray(wm, float)
        w_ii = np.asarray(sp.csr_matrix(wm).diagonal()) if sp.issparse(wm) else np.diag(wd)
        col_sq = np.asarray((sp.csr_matrix(wm).multiply(wm)).sum(axis=0)).ravel() \
            if sp.issparse(wm) else (wd * wd).sum(axis=0)
        for k, (s, phi, s2) in enumerate(zip(s_all, phi_all, s2_all, strict=True)):
            u = y - s * wy - fit[k]
            v = u - (1.0 - phi * phi) * u.mean(axis=0)
            g = (v - s * np.asarray((wd.T @ v.T).T)) / s2  # rows A' v_t
            aa = 1.0 - 2.0 * s * w_ii + s * s * col_sq
            if by_unit:  # Q_ii-block = (A'A)_ii / sigma^2 (phi^2 Jbar + E)
                gbar = g.mean(axis=0)
                quad = s2 / aa * (t * gbar * gbar / (phi * phi) + ((g - gbar) ** 2).sum(0))
                out[k] = 0.5 * (-t * math.log(2 * math.pi) + t * np.log(aa / s2)
                                + math.log(phi * phi) - quad)
                continue
            q = (1.0 - (1.0 - phi * phi) / t) * aa / s2
            out[k] = -0.5 * math.log(2 * math.pi) + 0.5 * np.log(q) - 0.5 * g * g / q
        return out
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
        r = y - fit[k]
        rbar = r.mean(axis=0)
        g = ((r - rbar) @ btb + m @ rbar) / s2  # btb symmetric
        bb, mm = np.diag(btb), np.diag(m)
        if by_unit:  # Q_ii-block = (M_ii Jbar + (B'B)_ii E) / sigma^2
            gbar = g.mean(axis=0)
            quad = s2 * (t * gbar * gbar / mm + ((g - gbar) ** 2).sum(0) / bb)
            out[k] = 0.5 * (-t * math.log(2 * math.pi * s2) + np.log(mm)
                            + (t - 1) * np.log(bb) - quad)
            continue
        q = ((1.0 - 1.0 / t) * bb + mm / t) / s2
        out[k] = -0.5 * math.log(2 * math.pi) + 0.5 * np.log(q) - 0.5 * g * g / q
    return out


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
    return {"coefficients": coefs, "hdi_prob": HDI_PROB,
            "tail_probability_zero": float(np.mean(dist >= d0))}


def re_vs_cre(panel, w, family: Family | str, logdet: LogDet | str = "auto",
              draws: int = 2000, seed: int = 0) -> dict:
    """The Bayesian FE/RE comparison (module docstring) of one family on (panel, W): ELPDs of
    RE and CRE, their difference and its standard error, the Mundlak coefficients' posterior
    and a verdict; a JSON-ready dict.

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
    for name, flag in (("re", False), ("cre", True)):
        d = re_data(panel, w, family, mundlak=flag)
        post = posterior_draws(d, ld, draws, seed)
        res[name] = (d, post, _loo(loo_conditionals(d, y, post, by_unit=True)),
                     _loo(loo_conditionals(d, y, post)))
    (_, _, u_re, o_re), (d_cre, post_cre, u_cre, o_cre) = res["re"], res["cre"]
    diff, dse = _difference(u_re, u_cre)
    diff_o, dse_o = _difference(o_re, o_cre)
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
    return {
        "model": family.name, "elpd_re": float(u_re.elpd), "se_re": float(u_re.se),
        "elpd_cre": float(u_cre.elpd), "se_cre": float(u_cre.se), "elpd_diff": diff,
        "diff_se": dse, "prefers": prefers, "verdict": verdict,
        "observation_elpd_re": float(o_re.elpd), "observation_elpd_cre": float(o_cre.elpd),
        "observation_elpd_diff": diff_o, "observation_diff_se": dse_o,
        "mundlak": mund, "pareto_k_max": k_max, "draws": draws,
        "method": "exact posterior on a (spatial, phi) grid with conjugate coefficients and "
                  "sigma^2 (flat priors); PSIS-LOO on the exact leave-one-unit-out (verdict) "
                  "and leave-one-observation-out conditionals of each model (unit effects "
                  "integrated out, the same NT observations); CRE = RE + unit means of X (and "
                  "WX) in the unit effect's mean (Mundlak 1978)",
    }
