"""Simulation-based calibration (Talts et al. 2018) of the Bayesian dynamic spatial panel
(:mod:`bayes_sdm.dynamic_bayes`), and of the within (fixed-effects) variant it must reject.

Design (fixed across simulations): W a rook lattice (:func:`~bayes_sdm.sbc.core.lattice_weights`),
X ~ N(0, 1) (T, N, K), two-way effects, the unrestricted form; the model compiled once with the
Gram matrices as ``pm.Data`` (``build_dynamic_model(..., mutable=True)``) and its prior scales
from a reference panel.  One simulation:

1. theta from the model's prior (:func:`draw_dynamic_prior`): every free variable but rho by
   ``pm.draw`` from the model itself; rho from its prior times the stationary region's area
   (1 - rho)(1 - rho omega_min) -- the ``stationary_region`` Potential, which ``pm.draw``
   ignores -- by rejection; tau, eta from (rho, ``stationary_unit``) as in the model;
2. the initial period y_0 ~ N(0, I), drawn independently of theta (the model conditions on it),
   time effects alpha_t ~ N(0, 1) (removed by F_N'), unit effects mu = psi'h + a with
   h = (y_0, W y_0, xbar, W xbar) and a ~ N(0, sigma_mu^2 I) (Wooldridge 2005);
   y_t = (I - rho W)^{-1}(tau y_{t-1} + eta W y_{t-1} + X_t beta + W X_t theta + mu + alpha_t
   + eps_t), t = 1..T-1 (:func:`simulate_dynamic_panel`);
3. fit, thin to ``n_rank_draws`` and rank the truth of rho, tau, eta, beta, theta, sigma2 (and
   sigma_mu for the correlated-random-effects model).

``mu="fixed"`` fits the same simulations with the within likelihood (fixed effects conditioned
on y_0, :func:`bayes_sdm.dynamic_bayes.dynamic_loglik` without psi): its O(1/T) incidental-
parameter (Nickell) bias makes the ranks of tau non-uniform at small T -- the deliberately wrong
version, which SBC must reject.

``model="sdem"``: the dynamic SDEM of :mod:`bayes_sdm.dynamic_error_bayes` the same way
(lambda by ``pm.draw`` -- its stationary region does not depend on lambda, so the model has no
Potential in the prior --, effects and errors inside the error filter).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import families
from ..dynamic import prepare_dynamic
from ..errors import InputError
from ..panel import Panel
from ..spec import PriorSpec, SamplerSpec
from .core import lattice_weights, rank_loop

QUANTITIES = ("rho", "tau", "eta", "sigma2")


@dataclass
class DynamicSBCConfig:
    n_sims: int = 100
    #: ``sdm`` (:mod:`bayes_sdm.dynamic_bayes`) or ``sdem`` (:mod:`bayes_sdm.dynamic_error_bayes`)
    model: str = "sdm"
    N: int = 16  # noqa: N815
    T: int = 6  # noqa: N815
    K: int = 1  # noqa: N815
    mu: str = "cre"
    draws: int = 300
    tune: int = 300
    chains: int = 1
    n_rank_draws: int = 99
    seed: int = 2008
    bins: int = 10
    alpha: float = 0.01


def sbc_dynamic_priors() -> PriorSpec:
    return PriorSpec(rho={"dist": "uniform"}, beta={"dist": "normal", "scale": 1.0, "mu": 0.0},
                     theta={"dist": "normal", "scale": 1.0, "mu": 0.0},
                     sigma={"dist": "halfnormal", "scale": 1.0})


@dataclass
class DynamicSBCDesign:
    config: DynamicSBCConfig
    w: object
    X: np.ndarray  # noqa: N815
    model: object
    omega_min: float
    interval: tuple
    x_names: tuple


def make_dynamic_design(cfg: DynamicSBCConfig) -> DynamicSBCDesign:
    """W, X and the mutable model (prior scales from a reference panel of N(0, 1) y)."""
    from ..dynamic_bayes import build_dynamic_model

    rng = np.random.default_rng(cfg.seed)
    w = lattice_weights(cfg.N)
    x = rng.standard_normal((cfg.T, cfg.N, cfg.K))
    names = tuple(f"x{k + 1}" for k in range(cfg.K))
    ref = Panel(rng.standard_normal((cfg.T, cfg.N)), x, w.ids, tuple(range(cfg.T)), "y", names)
    fam = families.get(cfg.model)
    if not fam.durbin or fam.lag == fam.error:
        raise InputError(f"the dynamic SBC covers SDM and SDEM, not {cfg.model!r}")
    if fam.error:
        from ..dynamic_error import prepare_dynamic_error
        from ..dynamic_error_bayes import build_dynamic_error_model

        if cfg.mu != "cre":
            raise InputError("the dynamic SDEM SBC covers correlated random effects")
        dd = prepare_dynamic_error(ref, w, "sdem", "twoway", "unrestricted", "eigen")
        model = build_dynamic_error_model(dd, sbc_dynamic_priors(), mutable=True)
    else:
        dd = prepare_dynamic(ref, w, "sdm", "twoway", "unrestricted", "eigen")
        model = build_dynamic_model(dd, sbc_dynamic_priors(), mu=cfg.mu, mutable=True)
    return DynamicSBCDesign(cfg, w, x, model, 1.0 / dd.logdet.interval[0], dd.interval, names)


def draw_dynamic_prior(design: DynamicSBCDesign, n: int, seed: int) -> dict[str, np.ndarray]:
    """n draws from the model's prior (module docstring, step 1)."""
    import pymc as pm

    m = design.model
    rng = np.random.default_rng(seed)
    names = [v for v in ("stationary_unit", "lambda", "beta", "theta", "sigma", "psi",
                         "sigma_mu") if v in m]
    vals = pm.draw([m[v] for v in names], draws=n, random_seed=seed)
    out = {k: np.asarray(v, dtype=float) for k, v in zip(names, vals)}
    lo, hi = design.interval
    om = design.omega_min
    if "lambda" in out:  # SDEM: A = tau I + eta W, the region does not depend on lambda
        b = out.pop("stationary_unit")
        u1, u2 = 2.0 * b[:, 0] - 1.0, 2.0 * b[:, 1] - 1.0
        out["eta"] = (u1 - u2) / (1.0 - om)
        out["tau"] = u1 - out["eta"]
        out["sigma2"] = out["sigma"] ** 2
        return out
    grid = np.linspace(lo, hi, 2001)
    wmax = float(((1 - grid) * (1 - grid * om)).max())
    rho = np.empty(0)
    while rho.size < n:  # uniform rho accepted with probability (1 - rho)(1 - rho om) / max
        r = rng.uniform(lo, hi, 4 * n)
        keep = rng.uniform(0, wmax, r.size) < (1 - r) * (1 - r * om)
        rho = np.r_[rho, r[keep]]
    rho = rho[:n]
    b = out.pop("stationary_unit")
    u1 = (1.0 - rho) * (2.0 * b[:, 0] - 1.0)
    u2 = (1.0 - rho * om) * (2.0 * b[:, 1] - 1.0)
    out["eta"] = (u1 - u2) / (1.0 - om)
    out["tau"] = u1 - out["eta"]
    out["rho"] = rho
    out["sigma2"] = out["sigma"] ** 2
    return out


def simulate_dynamic_panel(design: DynamicSBCDesign, p: dict, i: int,
                           rng: np.random.Generator) -> Panel:
    """A panel from the model at the i-th prior draw (module docstring, step 2)."""
    from ..simulate import solve_spatial

    cfg, w, x = design.config, design.w, design.X
    y = np.empty((cfg.T, cfg.N))
    y[0] = rng.standard_normal(cfg.N)
    wy0 = w.lag(y[:1])[0]
    h = np.column_stack([y[0], wy0, x[1:].mean(axis=0), w.lag(x[1:]).mean(axis=0)])
    mu = h @ p["psi"][i] + p["sigma_mu"][i] * rng.standard_normal(cfg.N)
    beta, theta = p["beta"][i], p["theta"][i]
    for t in range(1, cfg.T):
        mean = (p["tau"][i] * y[t - 1] + p["eta"][i] * w.lag(y[t - 1:t])[0] + x[t] @ beta
                + w.lag(x[t:t + 1])[0] @ theta)
        shock = mu + rng.standard_normal() + np.sqrt(p["sigma2"][i]) * rng.standard_normal(cfg.N)
        if "lambda" in p:  # SDEM: effects and errors inside the error filter
            y[t] = mean + solve_spatial(w, p["lambda"][i], shock)
        else:
            y[t] = solve_spatial(w, p["rho"][i], mean + shock)
    return Panel(y, x, w.ids, tuple(range(cfg.T)), "y", design.x_names)


def _quantities(cfg: DynamicSBCConfig, p: dict, x_names) -> dict[str, np.ndarray]:
    names = ("lambda", *QUANTITIES[1:]) if families.get(cfg.model).error else QUANTITIES
    out = {q: np.atleast_1d(p[q]) for q in names}
    for k, x in enumerate(x_names):
        out[f"beta[{x}]"] = np.atleast_2d(p["beta"])[:, k]
        out[f"theta[{x}]"] = np.atleast_2d(p["theta"])[:, k]
    if cfg.mu == "cre":
        out["sigma_mu"] = np.atleast_1d(p["sigma_mu"])
    return out


def run_dynamic_sbc(cfg: DynamicSBCConfig | None = None, progress: bool = False):
    """Run the dynamic SBC; returns (ranks DataFrame, uniformity table, info dict).

    The panels are always simulated from the correlated-random-effects model's prior and
    data-generating process; ``cfg.mu="fixed"`` fits them with the within model (the wrong
    version; both models share the priors of the common parameters)."""
    from ..sampling import compile_sampler
    from .uniformity import uniformity_table

    cfg = cfg or DynamicSBCConfig()
    if cfg.mu not in ("cre", "fixed"):
        raise InputError(f"unknown unit-effects model {cfg.mu!r}")
    t0 = time.perf_counter()
    design = make_dynamic_design(cfg)
    sim_design = design if cfg.mu == "cre" else make_dynamic_design(
        DynamicSBCConfig(**{**cfg.__dict__, "mu": "cre"}))
    sampler = compile_sampler(design.model, SamplerSpec(
        draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, seed=cfg.seed, cores=1,
        target_accept=0.9, nuts_sampler="nutpie"))
    prior = draw_dynamic_prior(sim_design, cfg.n_sims, cfg.seed + 1)
    truth = _quantities(cfg, prior, design.x_names)
    rng = np.random.default_rng(cfg.seed + 2)

    def data_for(i):
        panel = simulate_dynamic_panel(sim_design, prior, i, rng)
        if families.get(cfg.model).error:
            from ..dynamic_error import prepare_dynamic_error

            dd = prepare_dynamic_error(panel, design.w, "sdem", "twoway", "unrestricted",
                                       "eigen")
        else:
            dd = prepare_dynamic(panel, design.w, "sdm", "twoway", "unrestricted", "eigen")
        return {"gram": dd.gram} | ({"gram_b": dd.gram_b} if cfg.mu == "cre" else {})

    ranks, div = rank_loop(
        sampler, truth, data_for, lambda d: _quantities(cfg, d, design.x_names),
        ("rho", "lambda", "tau", "eta", "beta", "theta", "sigma2", "sigma_mu"),
        seed=cfg.seed, n_rank_draws=cfg.n_rank_draws,
        progress=f"dynamic {cfg.model} {cfg.mu}" if progress else None)
    table = uniformity_table(ranks, cfg.n_rank_draws, cfg.bins, cfg.alpha, cfg.seed)
    info = {"wall_s": time.perf_counter() - t0, "divergences": int(div.sum()),
            "passed": bool(table["passed"].all())}
    return ranks, table, info
