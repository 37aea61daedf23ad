"""Simulation-based calibration (Talts et al. 2018) of the heteroskedastic Bayesian SDMs of
:mod:`bayes_sdm.variances` under the Lee-Yu two-way fixed-effects transform, and of a wrong
period-variance likelihood that SBC must reject.

Models (``variance``):

* ``period``: eps_t ~ N(0, sigma_t^2 I_N), each sigma_t with the sigma prior
  (:func:`~bayes_sdm.variances.build_period_model`; the generalised within transform);
* ``unit``: eps_it ~ N(0, sigma^2 v_i), r / v_i ~ chi^2(r) with r fixed at
  :data:`~bayes_sdm.variances.UNIT_DF` (LeSage & Pace 2009, sec. 5.4;
  :func:`~bayes_sdm.variances.build_unit_model`; the package gives r no prior, so r has no rank).

Design (fixed across simulations, as :mod:`bayes_sdm.sbc.dynamic`): W the row-standardised rook
lattice of :func:`~bayes_sdm.sbc.core.lattice_weights`, X ~ N(0, 1) (T, N, K), the SDM with
two-way effects; the model built on a reference panel (y ~ N(0, 1), which fixes the priors'
scales, :func:`~bayes_sdm.sbc.core.sbc_priors`: a data-dependent prior would break SBC) with
its statistics as ``pm.Data`` (``mutable=True``) and compiled once
(:func:`bayes_sdm.sampling.compile_sampler`; nutpie).  One simulation:

1. the parameters from the model's own prior (``pm.draw`` of its free variables; the only
   Potential is the likelihood);
2. y_t = (I - rho W)^{-1} (X_t beta + W X_t theta + mu + alpha_t iota + eps_t) with unit and
   time effects mu_i, alpha_t ~ N(0, 1) and eps_it ~ N(0, sigma_t^2) or N(0, sigma^2 v_i)
   (:func:`bayes_sdm.simulate.simulate_y` with these errors) -- the data-generating process
   whose Lee-Yu transform (W y lagged first, then the effects removed) the likelihood is;
3. the statistics of the simulated panel (:func:`~bayes_sdm.variances.period_stats`,
   :func:`~bayes_sdm.variances.unit_stats`) set as the model's data, NUTS, thinning to
   ``n_rank_draws`` and the rank of each true quantity (:func:`bayes_sdm.sbc.core.rank_loop`).

Quantities: rho, every beta_k, theta_k and direct / indirect / total effect
(:func:`~bayes_sdm.sbc.core.coef_quantities`); ``period``: every sigma2[t] and their mean;
``unit``: sigma2, v_i and sigma^2 v_i of the first ``ranked_units`` units and the mean of v.

The wrong version (``wrong=True``, period variances only) fits the period-variance data with the
ordinary within transform, correct only for equal variances: y and the columns demeaned over
time per unit (Lee & Yu's F_T), then period-specific Gaussian errors on the demeaned residuals
with the degrees-of-freedom correction (T - 1)/T,

    l = -n (T-1)/(2T) sum_t log(2 pi sigma_t^2) - sum_t e~_t'e~_t / (2 sigma_t^2)
        + (T-1) [log|I - rho W| - log(1 - rho)],

e~_t = e_t - mean_s e_s (:func:`within_period_loglik`).  With equal sigma_t it is the Lee-Yu
likelihood (and :func:`~bayes_sdm.variances.period_loglik`), which makes it a natural slip;
with unequal ones the demeaning mixes the periods' variances, E e~_t'e~_t / n = sigma_t^2 (T-2)/T
+ mean(sigma^2)/T, so the sigma_t^2 are shrunk toward their mean: the truth of a large variance
sits above its posterior and of a small one below it, and the ranks of sigma2[t] are not
uniform.  The module docstring of :mod:`bayes_sdm.variances` derives the correct transform.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .. import prepared
from ..errors import InputError
from ..panel import Panel
from ..simulate import simulate_y
from ..spec import PriorSpec, SamplerSpec
from .core import coef_quantities, lattice_weights, rank_loop, sbc_priors
from .result import SBCResult

VARIANCE_MODELS = ("period", "unit")


@dataclass
class VarianceSBCConfig:
    """One SBC run of a variance model (module docstring); the fields :class:`SBCResult` and
    its plots read are those of :class:`~bayes_sdm.sbc.core.SBCConfig`."""

    n_sims: int = 100
    variance: str = "period"
    #: fit the period-variance data with the ordinary within transform (the wrong version)
    wrong: bool = False
    N: int = 16  # noqa: N815
    T: int = 5  # noqa: N815
    K: int = 1  # noqa: N815
    draws: int = 300
    tune: int = 300
    chains: int = 1
    n_rank_draws: int = 99
    seed: int = 2010
    bins: int = 10
    alpha: float = 0.01
    #: the units whose v_i (and sigma^2 v_i) are ranked (unit model)
    ranked_units: int = 4
    target_accept: float = 0.9
    #: NUTS through :func:`bayes_sdm.sampling.compile_sampler`: ``nutpie`` or ``pymc``
    sampler: str = "nutpie"
    priors: PriorSpec = field(default_factory=sbc_priors)

    @property
    def label(self) -> str:
        return f"variance-{self.variance}" + ("-within" if self.wrong else "")

    def validate(self) -> VarianceSBCConfig:
        if self.variance not in VARIANCE_MODELS:
            raise InputError(f"SBC: variance must be one of {VARIANCE_MODELS}, got "
                             f"{self.variance!r}")
        if self.wrong and self.variance != "period":
            raise InputError("SBC: the wrong (ordinary within) version is for period variances")
        for name in ("n_sims", "N", "T", "K", "draws", "chains", "n_rank_draws", "bins",
                     "ranked_units"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"SBC: {name} must be a positive integer, got {v!r}")
        if self.N < 4 or self.T < 3:
            raise InputError(f"SBC: need N >= 4 and T >= 3, got N={self.N}, T={self.T}")
        if self.ranked_units > self.N:
            raise InputError(f"SBC: ranked_units={self.ranked_units} exceeds N={self.N}")
        if self.n_rank_draws > self.draws * self.chains:
            raise InputError(f"SBC: n_rank_draws={self.n_rank_draws} exceeds the "
                             f"{self.draws * self.chains} posterior draws")
        if (self.n_rank_draws + 1) % self.bins:
            raise InputError(f"SBC: bins={self.bins} must divide n_rank_draws + 1 = "
                             f"{self.n_rank_draws + 1} (equal-probability bins)")
        if self.sampler not in ("nutpie", "pymc"):
            raise InputError(f"SBC: sampler must be nutpie or pymc, got {self.sampler!r}")
        self.priors.validate()
        return self


@dataclass
class VarianceSBCDesign:
    """W, X, the reference :class:`~bayes_sdm.prepared.Prepared` and the mutable model."""

    config: VarianceSBCConfig
    w: object
    X: np.ndarray  # noqa: N815
    prep: object
    model: object
    x_names: tuple


def within_period_loglik(ps, prep, spatial, beta, theta, sigma2_t, xp=np):
    """The wrong period-variance log-likelihood of the ordinary within transform (module
    docstring), from the same cross-period Gram matrices ``ps``
    (:class:`~bayes_sdm.variances.PeriodStats`, two-way effects): with m_st = c'G_st c the
    time-demeaned residual sums of squares are m_tt - 2 sum_s m_ts / T + sum_su m_su / T^2."""
    from ..likelihood import coef_vector
    from ..variances import _quad

    c = coef_vector(prep.stats.layout, prep.family, spatial, beta, theta, xp=xp)
    m = _quad(ps, c, xp)
    tt, n = ps.T, ps.n
    diag = np.diagonal(m) if xp is np else xp.diagonal(m)
    q = diag - 2.0 * m.sum(axis=1) / tt + m.sum() / tt**2
    ll = (-0.5 * n * (tt - 1) / tt * xp.log(2 * math.pi * sigma2_t).sum()
          - 0.5 * (q / sigma2_t).sum())
    ld = prep.logdet.value(spatial) if xp is np else prep.logdet.symbolic(spatial)
    return ll + ps.jacobian(ld, spatial, xp)


def _within_model(prep, priors: PriorSpec, ps):
    """The wrong model: :func:`~bayes_sdm.variances.build_period_model`'s priors (the SBC's
    HalfNormal sigma_t) with :func:`within_period_loglik`, its Gram matrices as ``pm.Data``."""
    import pymc as pm
    import pytensor.tensor as pt

    from ..likelihood import prior_scale_refs
    from ..pymc_models import coef_prior, spatial_priors

    ysd, bref, tref = prior_scale_refs(prep.stats)
    coords = {"coef": list(prep.stats.x_names), "time": [str(t) for t in ps.times]}
    with pm.Model(coords=coords) as m:
        spatial = spatial_priors(prep.family, priors, prep.logdet)
        beta = coef_prior("beta", priors.beta, bref)
        theta = coef_prior("theta", priors.theta, tref)
        sigma = pm.HalfNormal("sigma", sigma=priors.sigma.get("scale", 1.0) * ysd, dims="time")
        sigma2 = pm.Deterministic("sigma2", sigma**2, dims="time")
        ps = replace(ps, cross=pm.Data("cross", ps.cross))
        pm.Potential("loglik", within_period_loglik(ps, prep, spatial, beta, theta, sigma2,
                                                    xp=pt))
    return m


def make_variance_design(cfg: VarianceSBCConfig) -> VarianceSBCDesign:
    """W (rook lattice), X ~ N(0, 1), the reference panel and the model with its data in
    ``pm.Data``."""
    from ..variances import build_period_model, build_unit_model, period_stats

    cfg.validate()
    if cfg.priors.sigma.get("dist") != "halfnormal":
        raise InputError("SBC: the variance models' SBC needs a proper (halfnormal) sigma prior")
    rng = np.random.default_rng(cfg.seed)
    w = lattice_weights(cfg.N)
    x = rng.standard_normal((cfg.T, cfg.N, cfg.K))
    names = tuple(f"x{k + 1}" for k in range(cfg.K))
    ref = Panel(rng.standard_normal((cfg.T, cfg.N)), x, w.ids, tuple(range(cfg.T)), "y", names)
    prep = prepared.build(ref, w, "sdm", "twoway", logdet="eigen")
    if cfg.wrong:
        model = _within_model(prep, cfg.priors, period_stats(prep))
    elif cfg.variance == "period":
        model = build_period_model(prep, cfg.priors, mutable=True)
    else:
        model = build_unit_model(prep, cfg.priors, mutable=True)
    return VarianceSBCDesign(cfg, w, x, prep, model, names)


def _free_names(cfg: VarianceSBCConfig) -> tuple[str, ...]:
    return ("rho", "beta", "theta", "sigma") + (("v",) if cfg.variance == "unit" else ())


def draw_variance_prior(design: VarianceSBCDesign, n: int, seed: int) -> dict[str, np.ndarray]:
    """n draws of the free parameters from the model's prior: rho, beta (n, K), theta (n, K),
    sigma ((n, T) for period variances, (n,) with v (n, N) for unit scales)."""
    import pymc as pm

    m = design.model
    names = _free_names(design.config)
    vals = pm.draw([m[v] for v in names], draws=n, random_seed=seed)
    # pm.draw drops the draws axis when n == 1
    return {k: np.asarray(v, dtype=float)[None] if n == 1 else np.asarray(v, dtype=float)
            for k, v in zip(names, vals)}


def simulate_variance_panel(design: VarianceSBCDesign, p: dict, i: int,
                            rng: np.random.Generator) -> Panel:
    """A panel from the model at the i-th prior draw (module docstring, step 2)."""
    cfg = design.config
    z = rng.standard_normal((cfg.T, cfg.N))
    if cfg.variance == "period":
        eps = p["sigma"][i][:, None] * z
    else:
        eps = p["sigma"][i] * np.sqrt(p["v"][i])[None, :] * z
    mu, alpha = rng.standard_normal(cfg.N), rng.standard_normal(cfg.T)
    y = simulate_y(design.w, design.X, "sdm", rho=p["rho"][i], beta=p["beta"][i],
                   theta=p["theta"][i], mu=mu, alpha=alpha, eps=eps)
    return Panel(y, design.X, design.w.ids, tuple(range(cfg.T)), "y", design.x_names)


def panel_data(design: VarianceSBCDesign, panel: Panel) -> dict[str, np.ndarray]:
    """The model's ``pm.Data`` for a panel of the design's shape (the reference
    :class:`~bayes_sdm.prepared.Prepared` with the panel swapped: same W, layout, log-det)."""
    from ..variances import period_stats, unit_stats

    prep = replace(design.prep, panel=panel)
    if design.config.variance == "period":
        return {"cross": period_stats(prep).cross}
    us = unit_stats(prep)
    return {"z": us.z, "h": us.h}


def variance_quantities(design: VarianceSBCDesign, p: dict) -> dict[str, np.ndarray]:
    """The test quantities (module docstring) of draws ``p`` of the free parameters."""
    cfg = design.config
    out = coef_quantities(design.prep.family, design.prep.logdet, p, design.x_names)
    if cfg.variance == "period":
        s2 = np.atleast_2d(p["sigma"]) ** 2
        for t in range(cfg.T):
            out[f"sigma2[{t}]"] = s2[:, t]
        out["sigma2_mean"] = s2.mean(axis=1)
        return out
    s2 = np.atleast_1d(p["sigma"]) ** 2
    v = np.atleast_2d(p["v"])
    out["sigma2"] = s2
    for j in range(cfg.ranked_units):
        out[f"v[{design.w.ids[j]}]"] = v[:, j]
    for j in range(cfg.ranked_units):
        out[f"sigma2_v[{design.w.ids[j]}]"] = s2 * v[:, j]
    out["v_mean"] = v.mean(axis=1)
    return out


def run_variance_sbc(cfg: VarianceSBCConfig | None = None, progress: bool = False) -> SBCResult:
    """Run the SBC of a variance model (module docstring): prior draw -> simulate -> fit ->
    ranks, ``cfg.n_sims`` times.  The wrong version (``cfg.wrong``) is fitted to the same
    simulations as the correct period-variance model (same seeds: same prior draws and
    panels)."""
    from ..sampling import compile_sampler

    cfg = (cfg or VarianceSBCConfig()).validate()
    t0 = time.perf_counter()
    design = make_variance_design(cfg)
    sim_design = design if not cfg.wrong else make_variance_design(replace(cfg, wrong=False))
    sampler = compile_sampler(design.model, SamplerSpec(
        draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, seed=cfg.seed, cores=1,
        target_accept=cfg.target_accept, nuts_sampler=cfg.sampler))
    t_compile = time.perf_counter() - t0
    prior = draw_variance_prior(sim_design, cfg.n_sims, cfg.seed + 1)
    truth = variance_quantities(design, prior)
    rng = np.random.default_rng(cfg.seed + 2)

    def data_for(i):
        return panel_data(design, simulate_variance_panel(sim_design, prior, i, rng))

    ranks, div = rank_loop(sampler, truth, data_for, lambda d: variance_quantities(design, d),
                           _free_names(cfg), seed=cfg.seed, n_rank_draws=cfg.n_rank_draws,
                           progress=cfg.label if progress else None)
    import pandas as pd

    return SBCResult(cfg, ranks, pd.DataFrame(truth), div, t_compile,
                     time.perf_counter() - t0)
