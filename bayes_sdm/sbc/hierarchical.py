"""SBC of the full-W partially pooled regional model (see :mod:`bayes_sdm.sbc`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..effects import EFFECTS
from ..likelihood import sufficient_stats
from ..panel import Panel
from ..simulate import simulate_y
from ..spec import PriorSpec
from ..weights import SpatialWeights
from .core import SBCConfig, _thin, lattice_weights, quiet_sampling, sbc_sampler
from .result import SBCResult

HIER_SCALES = {"beta": 1.0, "theta": 1.0, "beta_tau": 0.5, "theta_tau": 0.5, "sigma": 1.0}


@dataclass
class HierDesign:
    """Fixed design of the hierarchical run: W, X, regions and the fixed prior scales."""

    config: SBCConfig
    w: SpatialWeights
    X: np.ndarray  # noqa: N815
    region_of: dict
    region_names: tuple
    index: np.ndarray
    x_sd: np.ndarray
    wx_sd: np.ndarray
    interval: tuple[float, float]
    x_names: tuple


def make_hier_design(cfg: SBCConfig) -> HierDesign:
    """Rook lattice W, fixed X, regions = consecutive blocks of N / G units (lattice rows)."""
    from ..logdet import make_logdet

    rng = np.random.default_rng(cfg.seed)
    w = lattice_weights(cfg.N)
    x = rng.standard_normal((cfg.T, cfg.N, cfg.K))
    names = tuple(f"x{k + 1}" for k in range(cfg.K))
    size = cfg.N // cfg.regions
    rnames = tuple(f"r{g + 1}" for g in range(cfg.regions))
    index = np.repeat(np.arange(cfg.regions), size)
    ref = Panel(rng.standard_normal((cfg.T, cfg.N)), x, w.ids, tuple(range(cfg.T)), "y", names)
    st = sufficient_stats(ref, w, cfg.fe)
    ld = make_logdet(w, "eigen")
    return HierDesign(cfg, w, x, {u: rnames[g] for u, g in zip(w.ids, index)}, rnames, index,
                      np.maximum(st.x_sd, 1e-12), np.maximum(st.wx_sd, 1e-12), ld.interval,
                      names)


def draw_hier_prior(d: HierDesign, n: int, seed: int) -> dict[str, np.ndarray]:
    """Prior draws of the full-W partially pooled model with fixed scales (see the fit)."""
    rng = np.random.default_rng(seed)
    g, k = d.config.regions, d.config.K
    lo, hi = d.interval
    out = {"rho": rng.uniform(lo, hi, n),
           "sigma": np.abs(rng.normal(0.0, HIER_SCALES["sigma"], n))}
    for name, sd in (("beta", d.x_sd), ("theta", d.wx_sd)):
        mean = rng.normal(0.0, HIER_SCALES[name] / sd, (n, k))
        tau = np.abs(rng.normal(0.0, HIER_SCALES[f"{name}_tau"] / sd, (n, k)))
        out[f"{name}_mean"], out[f"{name}_tau"] = mean, tau
        out[name] = mean[:, None, :] + tau[:, None, :] * rng.standard_normal((n, g, k))
    return out


def simulate_hier_y(d: HierDesign, rho, beta_units, theta_units, sigma, mu, alpha, rng):
    """y from the full-W regional SDM of :mod:`bayes_sdm.regional`,

        y_t = (I - rho W)^{-1} (X_t beta_(i) + (W X_t) theta_(i) + mu + alpha_t iota + eps_t),

    every unit's equation with its own region's coefficients (the hierarchy's columns D_g X and
    D_g WX; S_k = (I - rho W)^{-1} (B_k + Theta_k W)): :func:`~bayes_sdm.simulate.simulate_y`
    with per-unit beta and theta."""
    return simulate_y(d.w, d.X, d.config.model, rho=rho, beta=beta_units, theta=theta_units,
                      sigma=sigma, mu=mu, alpha=alpha, rng=rng)


def _hier_effects(rm, params: dict, names: tuple, x_names: tuple) -> np.ndarray:
    """Region effects (S, G, 3, K) from draws of rho, beta (S, G, K), theta (S, G, K)."""
    import xarray as xr

    from ..regional.effects import regional_effects_draws

    s = params["rho"].shape[0]
    ds = xr.Dataset({
        "rho": (("chain", "draw"), params["rho"].reshape(1, s)),
        "beta": (("chain", "draw", "region", "coef"), params["beta"][None]),
        "theta": (("chain", "draw", "region", "coef"), params["theta"][None]),
    }, coords={"region": list(names), "coef": list(x_names)})
    eff = regional_effects_draws(rm, ds)["effects"]
    return np.asarray(eff.transpose("chain", "draw", "region", "effect", "coef").values[0])


def hier_quantities(params: dict, eff: np.ndarray, names, x_names) -> dict[str, np.ndarray]:
    out = {"rho": params["rho"], "sigma2": params["sigma"] ** 2}
    for base in ("beta", "theta"):
        for k, x in enumerate(x_names):
            out[f"{base}_mean[{x}]"] = params[f"{base}_mean"][:, k]
            out[f"{base}_tau[{x}]"] = params[f"{base}_tau"][:, k]
        for gi, g in enumerate(names):
            for k, x in enumerate(x_names):
                out[f"{base}[{g}, {x}]"] = params[base][:, gi, k]
    for gi, g in enumerate(names):
        for j, e in enumerate(EFFECTS):
            for k, x in enumerate(x_names):
                out[f"effects[{g}, {e}, {x}]"] = eff[:, gi, j, k]
    return out


def build_hier_model(d: HierDesign, y: np.ndarray):
    """The full-W partially pooled regional model (:mod:`bayes_sdm.regional`) for y, with the
    prior scales divided by sd(y~) so that the effective priors are the fixed ones of
    :func:`draw_hier_prior`."""
    from ..regional.data import prepare_regional
    from ..regional.model import HyperPriors, build_regional_model

    cfg = d.config
    panel = Panel(y, d.X, d.w.ids, tuple(range(cfg.T)), "y", d.x_names)
    ysd = max(sufficient_stats(panel, d.w, cfg.fe).y_sd, 1e-12)
    sc = HIER_SCALES
    priors = PriorSpec(rho={"dist": "uniform"},
                       beta={"dist": "normal", "scale": sc["beta"] / ysd, "mu": 0.0},
                       theta={"dist": "normal", "scale": sc["theta"] / ysd, "mu": 0.0},
                       sigma={"dist": "halfnormal", "scale": sc["sigma"] / ysd})
    hyper = HyperPriors(beta_tau=sc["beta_tau"] / ysd, theta_tau=sc["theta_tau"] / ysd)
    data = prepare_regional(panel, d.w, d.region_of, cfg.model, cfg.fe, pooling="partial",
                            regional_w="full", correction=cfg.correction,
                            region_order=list(d.region_names))
    return build_regional_model(data, priors=priors, hyper=hyper)


def _fit_hier(d: HierDesign, y: np.ndarray, seed: int):
    """Build (:func:`build_hier_model`) and sample the regional model through the sampler
    dispatch with PyMC's C VM backend (whose compiled ops are cached across simulations; the
    graph is still rewritten per simulation); returns (model, posterior, divergences)."""
    import pytensor

    from ..regional.effects import finish_posterior
    from ..sampling import sample_nuts

    cfg = d.config
    with quiet_sampling(), pytensor.config.change_flags(mode="CVM"):
        rm = build_hier_model(d, y)
        idata = sample_nuts(rm.model, sbc_sampler(cfg), seed)
        idata = finish_posterior(rm, idata, seed)
    post = idata["posterior"]
    div = int(np.asarray(idata["sample_stats"]["diverging"].values).sum())
    return rm, post, div


def simulate_hier_all(d: HierDesign, prior: dict, n: int, seed: int) -> list[np.ndarray]:
    """The n simulated panels of a run, in order (one random stream)."""
    cfg = d.config
    rng = np.random.default_rng(seed)
    ys = []
    for i in range(n):
        mu = rng.standard_normal(cfg.N) if cfg.fe in ("unit", "twoway") else None
        alpha = rng.standard_normal(cfg.T) if cfg.fe in ("time", "twoway") else None
        ys.append(simulate_hier_y(d, prior["rho"][i], prior["beta"][i][d.index],
                                  prior["theta"][i][d.index], prior["sigma"][i], mu, alpha,
                                  rng))
    return ys


def hier_sim(d: HierDesign, one: dict, y: np.ndarray, seed: int):
    """One simulation of the hierarchical run: fit ``y``; returns ({quantity: rank},
    {quantity: true value}, divergences).  ``one``: the simulation's prior draw (arrays of
    length 1)."""
    cfg = d.config
    rm, post, div = _fit_hier(d, y, seed)
    q_true = hier_quantities(one, _hier_effects(rm, one, d.region_names, d.x_names),
                             d.region_names, d.x_names)
    thin = {}
    for v in ("rho", "sigma", "beta_mean", "beta_tau", "theta_mean", "theta_tau"):
        thin[v] = _thin(np.asarray(post[v].values, dtype=float), cfg.n_rank_draws)
    for v in ("beta", "theta"):
        arr = post[v].transpose("chain", "draw", "region", "coef").values
        thin[v] = _thin(np.asarray(arr, dtype=float), cfg.n_rank_draws)
    q_post = hier_quantities(thin, _hier_effects(rm, thin, d.region_names, d.x_names),
                             d.region_names, d.x_names)
    ranks = {q: int((q_post[q] < v[0]).sum()) for q, v in q_true.items()}
    return ranks, {q: float(v[0]) for q, v in q_true.items()}, div


def run_hierarchical(cfg: SBCConfig, progress: bool) -> SBCResult:
    t0 = time.perf_counter()
    d = make_hier_design(cfg)
    prior = draw_hier_prior(d, cfg.n_sims, cfg.seed + 1)
    ys = simulate_hier_all(d, prior, cfg.n_sims, cfg.seed + 2)
    ranks: dict[str, np.ndarray] = {}
    truth: dict[str, np.ndarray] = {}
    div = np.zeros(cfg.n_sims, dtype=int)
    t_first = None
    for i in range(cfg.n_sims):
        one = {k: v[i:i + 1] for k, v in prior.items()}
        r, tv, div[i] = hier_sim(d, one, ys[i], cfg.seed + 1000 + i)
        if t_first is None:
            t_first = time.perf_counter() - t0
        for q, v in r.items():
            ranks.setdefault(q, np.empty(cfg.n_sims, dtype=int))[i] = v
            truth.setdefault(q, np.empty(cfg.n_sims))[i] = tv[q]
        if progress and ((i + 1) % max(cfg.n_sims // 10, 1) == 0 or i + 1 == cfg.n_sims):
            el = time.perf_counter() - t0
            print(f"  [{cfg.label}] {i + 1}/{cfg.n_sims} simulations, {el:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    return SBCResult(cfg, pd.DataFrame(ranks), pd.DataFrame(truth), div, t_first or 0.0, wall)
