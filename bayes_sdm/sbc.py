"""Simulation-based calibration (SBC) of the Bayesian spatial panel models.

Talts, Betancourt, Simpson, Vehtari & Gelman (2018), "Validating Bayesian inference algorithms
with simulation-based calibration", arXiv:1804.06788; Modrak, Moon, Kim, Burkner, Huurre,
Faltejskova, Gelman & Vehtari (2023), "Simulation-based calibration checking for Bayesian
computation: the choice of test quantities shapes sensitivity", Bayesian Analysis.

For s = 1..S: draw parameters from the prior, simulate a panel from the model
(:func:`bayes_sdm.simulate.simulate_y`, with unit and time effects mu_i, alpha_t ~ N(0, 1) that the
Lee-Yu transform must remove), fit it, and record the rank of each true quantity among L
(thinned, near-independent) posterior draws.  If the fitted posterior is the exact posterior of
the simulating model, every rank is discrete-uniform on {0, ..., L}.  Quantities: rho, sigma2,
every beta_k, theta_k and every direct / indirect / total effect (functions of the parameters;
Modrak et al. recommend such derived quantities as extra test quantities).

Uniformity tests per quantity (ranks turned into PIT values u = (r + U(0,1)) / (L + 1), exactly
uniform under calibration):

* chi^2 over ``bins`` equal-probability bins of the ranks;
* the ECDF test of Saeilynoja, Burkner & Vehtari (2022), "Graphical test for discrete uniformity
  and its applications in goodness-of-fit evaluation and multiple sample comparison", Statistics
  and Computing 32:32: simultaneous 1 - alpha bands for the ECDF (adjusted pointwise binomial
  level, by simulation) and the p-value of the observed ECDF's smallest pointwise tail probability;
* ``pot_c`` of ``arviz_stats`` (Tesso & Vehtari) where available.

The verdict of a run: calibrated unless some quantity's smallest p-value falls below
alpha / (number of quantities) (Bonferroni).

The fitted model is :func:`bayes_sdm.pymc_models.build_model` with y held in ``pm.Data`` and
compiled once (nutpie's ``with_data``, or PyMC's NUTS with the step reused).  Its priors are the
default families with fixed scales: they are set once from a reference panel (y standard
normal), so that the prior does not depend on the simulated data (a data-dependent prior would
break SBC).  The deliberately broken variant fits the uncorrected "direct approach" likelihood
(``correction="none"``: NT observations and T log|I - rho W|) to data with two-way effects, and
must fail (sigma2 is shrunk by (N-1)(T-1)/(NT)).

Command line (``make sbc ARGS="..."``)::

    python -m bayes_sdm.sbc [--sims 200] [--N 20] [--T 5]
                            [--which all|both|correct|broken|hierarchical]
                            [--sampler nutpie|pymc] [--out runs/sbc]

writes per run ``ranks.csv``, ``uniformity.csv``, ``sbc.json`` and ``rank_ecdf_<q>.png`` (one
rank-ECDF-difference plot per quantity) plus ``rank_ecdf_all.png``; exit code 0 when the
correct models pass and the broken one fails.

Hierarchical regional model
---------------------------
The full-W partially pooled regional SDM of :mod:`bayes_sdm.hierarchy` (one rho and sigma,
beta_g = beta_mean + beta_tau z_g, theta likewise, coefficients integrated out as the module
does) on a rook lattice split into equal regions (default N = 12, 3 regions, K = 1, T = 5).
Its priors are scaled by sd(y~) inside the hierarchy, so each simulation's model is built with
scales divided by that simulation's sd(y~): the effective priors are then fixed
(:data:`HIER_SCALES` over sd(x~) / sd(Wx~)), as SBC requires.  Data follow the hierarchy's
convention that every unit's equation carries its own region's beta and theta (columns D_g X
and D_g WX), which is simulate_y with per-unit coefficients (:func:`simulate_hier_y`).  The model is rebuilt and recompiled per simulation (the hierarchy
holds the data as constants), so this run costs seconds per simulation.  Quantities: rho,
sigma2, beta_mean, beta_tau, theta_mean, theta_tau, every beta_g, theta_g and every regional
direct / indirect / total effect (origin perspective).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sst

from .effects import EFFECTS, lag_effects, local_effects
from .errors import InputError
from .likelihood import DURBIN_MODELS, LAG_MODELS, sufficient_stats
from .logdet import make_logdet
from .panel import Panel
from .simulate import simulate_y
from .spec import PriorSpec
from .weights import SpatialWeights, make_weights


def sbc_priors() -> PriorSpec:
    """Default-style proper priors for SBC: uniform rho, Normal(0, 1 * sd(y~)/sd(x~)) beta and
    theta, HalfNormal(sd(y~)) sigma (scales fixed from the reference panel)."""
    return PriorSpec(rho={"dist": "uniform"},
                     beta={"dist": "normal", "scale": 1.0, "mu": 0.0},
                     theta={"dist": "normal", "scale": 1.0, "mu": 0.0},
                     sigma={"dist": "halfnormal", "scale": 1.0})


@dataclass
class SBCConfig:
    """One SBC run.  ``correction="none"`` is the deliberately broken likelihood."""

    n_sims: int = 200
    N: int = 20  # noqa: N815
    T: int = 5  # noqa: N815
    K: int = 2  # noqa: N815
    model: str = "sdm"
    fe: str = "twoway"
    correction: str = "transform"
    draws: int = 200
    tune: int = 300
    chains: int = 2
    n_rank_draws: int = 99
    seed: int = 2018
    sampler: str = "nutpie"
    target_accept: float = 0.9
    bins: int = 10
    alpha: float = 0.01
    priors: PriorSpec = field(default_factory=sbc_priors)
    hierarchical: bool = False
    regions: int = 3

    @property
    def label(self) -> str:
        broken = "-broken" if self.correction == "none" and self.fe != "none" else ""
        hier = "-hierarchical" if self.hierarchical else ""
        return f"{self.model}-{self.fe}{hier}{broken}"

    def validate(self) -> SBCConfig:
        if self.model not in ("sdm", "sar", "sem", "sdem", "slx"):
            raise InputError(f"SBC: unknown model {self.model!r}")
        for name in ("n_sims", "N", "T", "K", "draws", "chains", "n_rank_draws", "bins"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise InputError(f"SBC: {name} must be a positive integer, got {v!r}")
        if self.N < 4 or self.T < 2:
            raise InputError("SBC: need N >= 4 and T >= 2")
        if self.n_rank_draws > self.draws * self.chains:
            raise InputError(f"SBC: n_rank_draws={self.n_rank_draws} exceeds the "
                             f"{self.draws * self.chains} posterior draws")
        if (self.n_rank_draws + 1) % self.bins:
            raise InputError(f"SBC: bins={self.bins} must divide n_rank_draws + 1 = "
                             f"{self.n_rank_draws + 1} (equal-probability bins)")
        if self.sampler not in ("nutpie", "pymc"):
            raise InputError(f"SBC: sampler must be nutpie or pymc, got {self.sampler!r}")
        if self.hierarchical:
            if self.model not in LAG_MODELS or self.fe == "none":
                raise InputError("SBC: the hierarchical run is for sdm/sar with fixed effects")
            if self.regions < 2 or self.N % self.regions or self.N // self.regions < 2:
                raise InputError(f"SBC: N={self.N} must split into {self.regions} equal "
                                 "regions of 2 units or more")
        self.priors.validate()
        return self


# ----------------------------------------------------------------------------- design
def lattice_weights(n: int) -> SpatialWeights:
    """Rook contiguity on the most square r x c lattice with r * c = n, row-standardised."""
    r = int(np.floor(np.sqrt(n)))
    while n % r:
        r -= 1
    c = n // r
    if r < 2:
        raise InputError(f"SBC: N={n} does not make a lattice with two rows or more")
    m = np.zeros((n, n))
    for i in range(r):
        for j in range(c):
            a = i * c + j
            if j + 1 < c:
                m[a, a + 1] = m[a + 1, a] = 1.0
            if i + 1 < r:
                m[a, a + c] = m[a + c, a] = 1.0
    return make_weights(m, tuple(f"u{i:02d}" for i in range(n)), name=f"rook {r}x{c}")


@dataclass
class SBCDesign:
    """Fixed design of a run: W, X, the compiled model and its log-determinant."""

    config: SBCConfig
    w: SpatialWeights
    X: np.ndarray  # noqa: N815
    reference: Panel
    model: object
    logdet: object
    x_names: tuple


def make_design(cfg: SBCConfig) -> SBCDesign:
    """W (rook lattice), X ~ N(0, 1) fixed across simulations, the PyMC model with y in pm.Data."""
    from .pymc_models import build_model

    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    w = lattice_weights(cfg.N)
    x = rng.standard_normal((cfg.T, cfg.N, cfg.K))
    names = tuple(f"x{k + 1}" for k in range(cfg.K))
    y_ref = rng.standard_normal((cfg.T, cfg.N))
    ref = Panel(y_ref, x, w.ids, tuple(range(cfg.T)), "y", names)
    stats = sufficient_stats(ref, w, cfg.fe, correction=cfg.correction)
    ld = make_logdet(w, "eigen")
    model = build_model(stats, ld, cfg.model, cfg.priors, panel=ref, w=w, mutable_y=True)
    return SBCDesign(cfg, w, x, ref, model, ld, names)


def _spatial(cfg: SBCConfig) -> str | None:
    return "rho" if cfg.model in LAG_MODELS else "lambda" if cfg.model in ("sem", "sdem") else None


def draw_prior(design: SBCDesign, n: int, seed: int) -> dict[str, np.ndarray]:
    """n draws of the parameters from the model's priors: rho|lambda, beta, theta, sigma."""
    import pymc as pm

    m = design.model
    names = [v for v in (_spatial(design.config), "beta", "theta", "sigma") if v and v in m]
    vals = pm.draw([m[v] for v in names], draws=n, random_seed=seed)
    return {k: np.asarray(v, dtype=float) for k, v in zip(names, vals)}


def quantities(cfg: SBCConfig, logdet, params: dict[str, np.ndarray],
               x_names) -> dict[str, np.ndarray]:
    """The test quantities (flat names as in the tables) for draws of the parameters."""
    sname = _spatial(cfg)
    beta = np.atleast_2d(params["beta"])
    theta = np.atleast_2d(params["theta"]) if cfg.model in DURBIN_MODELS else None
    out = {}
    if sname:
        out[sname] = np.atleast_1d(params[sname])
    out["sigma2"] = np.atleast_1d(params["sigma"]) ** 2
    for k, x in enumerate(x_names):
        out[f"beta[{x}]"] = beta[:, k]
    if theta is not None:
        for k, x in enumerate(x_names):
            out[f"theta[{x}]"] = theta[:, k]
    if cfg.model in LAG_MODELS:
        eff = lag_effects(np.atleast_1d(params["rho"]), beta, theta, logdet, True)
    else:
        eff = local_effects(beta, theta)
    for j, e in enumerate(EFFECTS):
        if cfg.model == "sem" and e == "indirect":
            continue  # identically zero
        for k, x in enumerate(x_names):
            out[f"effects[{e}, {x}]"] = eff[:, j, k]
    return out


def simulate_panel(design: SBCDesign, params: dict, i: int, rng: np.random.Generator):
    """y (T, N) from the model at the i-th prior draw, with unit and time effects ~ N(0, 1)."""
    cfg = design.config
    sname = _spatial(cfg)
    mu = rng.standard_normal(cfg.N) if cfg.fe in ("unit", "twoway") else None
    alpha = rng.standard_normal(cfg.T) if cfg.fe in ("time", "twoway") else None
    return simulate_y(design.w, design.X, cfg.model, rho=params[sname][i] if sname else 0.0,
                      beta=params["beta"][i],
                      theta=params["theta"][i] if "theta" in params else None,
                      sigma=params["sigma"][i], mu=mu, alpha=alpha, rng=rng)


# ----------------------------------------------------------------------------- fitting
class _Fitter:
    """Fits the compiled model to a new y (compiled once)."""

    def __init__(self, design: SBCDesign):
        self.design = design
        cfg = design.config
        t0 = time.perf_counter()
        if cfg.sampler == "nutpie":
            import nutpie

            self.compiled = nutpie.compile_pymc_model(design.model)
        else:
            import pymc as pm

            with design.model:
                self.step = pm.NUTS(target_accept=cfg.target_accept)
        self.compile_s = time.perf_counter() - t0

    def __call__(self, y: np.ndarray, seed: int):
        """Posterior draws as {name: array (chains, draws, ...)} and the divergence count."""
        import logging
        import warnings

        logger = logging.getLogger("pymc")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._fit(y, seed)
        finally:
            logger.setLevel(level)

    def _fit(self, y: np.ndarray, seed: int):
        cfg = self.design.config
        if cfg.sampler == "nutpie":
            import nutpie

            cm = self.compiled.with_data(y_obs=y)
            tr = nutpie.sample(cm, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                               seed=seed, progress_bar=False, cores=1,
                               target_accept=cfg.target_accept)
        else:
            import pymc as pm

            with self.design.model:
                pm.set_data({"y_obs": y})
                tr = pm.sample(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, cores=1,
                               step=self.step, random_seed=seed, progressbar=False,
                               compute_convergence_checks=False)
        post = tr["posterior"]
        names = [v for v in (_spatial(cfg), "beta", "theta", "sigma") if v and v in post]
        out = {v: np.asarray(post[v].values, dtype=float) for v in names}
        div = int(np.asarray(tr["sample_stats"]["diverging"].values).sum())
        return out, div


def _thin(arr: np.ndarray, n: int) -> np.ndarray:
    """Flatten (chains, draws, ...) and keep n evenly spaced draws (chains interleaved by block)."""
    flat = arr.reshape(arr.shape[0] * arr.shape[1], *arr.shape[2:])
    idx = np.linspace(0, flat.shape[0] - 1, n).round().astype(int)
    return flat[idx]


# ----------------------------------------------------------------------------- uniformity
def pit_values(ranks: np.ndarray, n_rank_draws: int, seed: int = 0) -> np.ndarray:
    """Randomised PIT values u = (r + U) / (L + 1): exactly U(0, 1) under calibration."""
    rng = np.random.default_rng(seed)
    r = np.asarray(ranks, dtype=float)
    return (r + rng.uniform(size=r.shape)) / (n_rank_draws + 1)


def chi2_uniformity(ranks: np.ndarray, n_rank_draws: int, bins: int) -> tuple[float, float]:
    """Pearson chi^2 over ``bins`` equal-probability bins of ranks in {0..L}: (stat, p)."""
    r = np.asarray(ranks, dtype=int)
    width = (n_rank_draws + 1) // bins
    counts = np.bincount(r // width, minlength=bins)[:bins]
    expected = r.size / bins
    stat = float(((counts - expected) ** 2 / expected).sum())
    return stat, float(sst.chi2.sf(stat, bins - 1))


def _pointwise_gamma(ecdf_counts: np.ndarray, n: int, z: np.ndarray) -> np.ndarray:
    """2 min_i min(P(X <= c_i), P(X >= c_i)), X ~ Binomial(n, z_i), over the last axis."""
    lo = sst.binom.cdf(ecdf_counts, n, z)
    hi = sst.binom.sf(ecdf_counts - 1, n, z)
    return np.minimum(2.0 * np.minimum(lo, hi), 1.0).min(axis=-1)


@dataclass(frozen=True)
class ECDFBand:
    """Simultaneous (1 - alpha) band of the ECDF of n uniform values on a grid z."""

    z: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    gamma: float
    null_gammas: np.ndarray
    n: int


def ecdf_band(n: int, alpha: float = 0.01, n_grid: int = 100, n_sim: int = 2000,
              seed: int = 7) -> ECDFBand:
    """Simultaneous ECDF band by simulation (Saeilynoja et al. 2022, sec. 3.2).

    Simulate ``n_sim`` samples of n U(0,1) values; gamma is the alpha-quantile of their smallest
    pointwise two-sided binomial tail probability; the band is the pointwise binomial
    [gamma/2, 1 - gamma/2] quantiles divided by n.
    """
    rng = np.random.default_rng(seed)
    z = np.arange(1, n_grid) / n_grid
    u = np.sort(rng.uniform(size=(n_sim, n)), axis=1)
    counts = np.stack([np.searchsorted(row, z, side="right") for row in u])
    g = _pointwise_gamma(counts, n, z)
    gamma = float(np.quantile(g, alpha))
    lower = sst.binom.ppf(gamma / 2, n, z) / n
    upper = sst.binom.ppf(1 - gamma / 2, n, z) / n
    return ECDFBand(z, lower, upper, gamma, np.sort(g), n)


def ecdf_test(pit: np.ndarray, band: ECDFBand) -> tuple[float, bool]:
    """(p-value, inside the band) of the ECDF test for PIT values (same n as ``band``)."""
    u = np.sort(np.asarray(pit, dtype=float))
    counts = np.searchsorted(u, band.z, side="right")
    g = float(_pointwise_gamma(counts, band.n, band.z))
    p = float((np.searchsorted(band.null_gammas, g, side="right") + 1)
              / (band.null_gammas.size + 1))
    f = counts / band.n
    inside = bool(np.all((f >= band.lower - 1e-12) & (f <= band.upper + 1e-12)))
    return p, inside


def pot_c_pvalue(pit: np.ndarray) -> float | None:
    """arviz_stats' pot_c uniformity test p-value (None when unavailable)."""
    try:
        from arviz_stats.base import array_stats

        return float(np.asarray(array_stats.uniformity_test(np.asarray(pit)[None, :],
                                                            axis=-1)[0])[0])
    except Exception:  # noqa: BLE001 - optional extra test
        return None


def uniformity_table(ranks: pd.DataFrame, n_rank_draws: int, bins: int = 10,
                     alpha: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Per quantity: chi2, p_chi2, p_ecdf, in_band, p_pot_c, p_min, passed (Bonferroni)."""
    n = len(ranks)
    band = ecdf_band(n, alpha=alpha, n_grid=min(n_rank_draws + 1, 100), seed=seed + 7)
    m = ranks.shape[1]
    rows = []
    for j, q in enumerate(ranks.columns):
        r = ranks[q].to_numpy()
        stat, p_chi2 = chi2_uniformity(r, n_rank_draws, bins)
        pit = pit_values(r, n_rank_draws, seed=seed + j)
        p_ecdf, inside = ecdf_test(pit, band)
        p_pot = pot_c_pvalue(pit)
        ps = [p for p in (p_chi2, p_ecdf, p_pot) if p is not None]
        p_min = min(ps)
        rows.append({"quantity": q, "n_sims": n, "mean_rank": float(r.mean() / n_rank_draws),
                     "chi2": stat, "df": bins - 1, "p_chi2": p_chi2, "p_ecdf": p_ecdf,
                     "in_band": inside, "p_pot_c": p_pot, "p_min": p_min,
                     "passed": bool(p_min >= alpha / (m * len(ps)))})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- runs
@dataclass
class SBCResult:
    """Ranks and uniformity of one run."""

    config: SBCConfig
    ranks: pd.DataFrame
    truth: pd.DataFrame
    divergences: np.ndarray
    compile_s: float
    wall_s: float
    _uniformity: pd.DataFrame | None = None

    def uniformity(self) -> pd.DataFrame:
        if self._uniformity is None:
            c = self.config
            self._uniformity = uniformity_table(self.ranks, c.n_rank_draws, c.bins, c.alpha,
                                                c.seed)
        return self._uniformity

    @property
    def passed(self) -> bool:
        """Calibrated: no quantity's smallest p-value under alpha / (quantities x tests)."""
        return bool(self.uniformity()["passed"].all())

    def to_dict(self) -> dict:
        u = self.uniformity()
        cfg = asdict(self.config)
        return {
            "label": self.config.label, "passed": self.passed, "config": cfg,
            "n_sims": int(len(self.ranks)), "compile_s": round(self.compile_s, 3),
            "wall_s": round(self.wall_s, 3),
            "s_per_sim": round((self.wall_s - self.compile_s) / max(len(self.ranks), 1), 4),
            "sims_with_divergences": int((self.divergences > 0).sum()),
            "divergences": int(self.divergences.sum()),
            "min_p": float(u["p_min"].min()),
            "failed_quantities": u.loc[~u["passed"], "quantity"].tolist(),
            "uniformity": json.loads(u.to_json(orient="records")),
        }

    def write(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """ranks.csv, truth.csv, uniformity.csv, sbc.json and the rank-ECDF plots."""
        from .io import write_csv, write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "ranks.csv", self.ranks)
        write_csv(out / "truth.csv", self.truth)
        write_csv(out / "uniformity.csv", self.uniformity())
        write_json(out / "sbc.json", self.to_dict())
        paths = [out / "ranks.csv", out / "truth.csv", out / "uniformity.csv", out / "sbc.json"]
        if plots:
            paths += plot_rank_ecdf(self, out)
        return paths


def run_sbc(cfg: SBCConfig | None = None, progress: bool = False) -> SBCResult:
    """Run SBC: prior draw -> simulate -> fit -> ranks, ``cfg.n_sims`` times."""
    cfg = (cfg or SBCConfig()).validate()
    if cfg.hierarchical:
        return _run_hierarchical(cfg, progress)
    t0 = time.perf_counter()
    design = make_design(cfg)
    fitter = _Fitter(design)
    t_compile = time.perf_counter() - t0
    prior = draw_prior(design, cfg.n_sims, cfg.seed + 1)
    true_q = quantities(cfg, design.logdet, prior, design.x_names)
    rng = np.random.default_rng(cfg.seed + 2)
    ranks = {q: np.empty(cfg.n_sims, dtype=int) for q in true_q}
    div = np.zeros(cfg.n_sims, dtype=int)
    for i in range(cfg.n_sims):
        y = simulate_panel(design, prior, i, rng)
        post, div[i] = fitter(y, seed=cfg.seed + 1000 + i)
        thin = {k: _thin(v, cfg.n_rank_draws) for k, v in post.items()}
        q_post = quantities(cfg, design.logdet, thin, design.x_names)
        for q in true_q:
            ranks[q][i] = int((q_post[q] < true_q[q][i]).sum())
        if progress and ((i + 1) % max(cfg.n_sims // 10, 1) == 0 or i + 1 == cfg.n_sims):
            el = time.perf_counter() - t0
            print(f"  [{cfg.label}] {i + 1}/{cfg.n_sims} simulations, {el:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    return SBCResult(cfg, pd.DataFrame(ranks), pd.DataFrame(true_q), div, t_compile, wall)


# ----------------------------------------------------------------------------- hierarchical
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
    from .logdet import make_logdet

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
    """y from the full-W regional SDM of :mod:`bayes_sdm.hierarchy`,

        y_t = (I - rho W)^{-1} (X_t beta_(i) + (W X_t) theta_(i) + mu + alpha_t iota + eps_t),

    every unit's equation with its own region's coefficients (the hierarchy's columns D_g X and
    D_g WX; S_k = (I - rho W)^{-1} (B_k + Theta_k W)): :func:`~bayes_sdm.simulate.simulate_y`
    with per-unit beta and theta."""
    return simulate_y(d.w, d.X, d.config.model, rho=rho, beta=beta_units, theta=theta_units,
                      sigma=sigma, mu=mu, alpha=alpha, rng=rng)


def _hier_effects(rm, params: dict, names: tuple, x_names: tuple) -> np.ndarray:
    """Region effects (S, G, 3, K) from draws of rho, beta (S, G, K), theta (S, G, K)."""
    import xarray as xr

    from .hierarchy import regional_effects_draws

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
    """The full-W partially pooled regional model (bayes_sdm.hierarchy) for y, with the prior
    scales divided by sd(y~) so that the effective priors are the fixed ones of
    :func:`draw_hier_prior`."""
    from .hierarchy import HyperPriors, build_regional_model

    cfg = d.config
    panel = Panel(y, d.X, d.w.ids, tuple(range(cfg.T)), "y", d.x_names)
    ysd = max(sufficient_stats(panel, d.w, cfg.fe).y_sd, 1e-12)
    sc = HIER_SCALES
    priors = PriorSpec(rho={"dist": "uniform"},
                       beta={"dist": "normal", "scale": sc["beta"] / ysd, "mu": 0.0},
                       theta={"dist": "normal", "scale": sc["theta"] / ysd, "mu": 0.0},
                       sigma={"dist": "halfnormal", "scale": sc["sigma"] / ysd})
    hyper = HyperPriors(beta_tau=sc["beta_tau"] / ysd, theta_tau=sc["theta_tau"] / ysd)
    return build_regional_model(panel, d.w, d.region_of, cfg.model, cfg.fe, pooling="partial",
                                regional_w="full", priors=priors, hyper=hyper,
                                correction=cfg.correction, region_order=list(d.region_names))


def _fit_hier(d: HierDesign, y: np.ndarray, seed: int):
    """Build (:func:`build_hier_model`) and sample the regional model with PyMC's NUTS (the C VM
    backend, whose compiled ops are cached across simulations; the graph is still rewritten per
    simulation); returns (model, posterior, divergences)."""
    import logging
    import warnings

    import pytensor

    from .hierarchy import fit_regional_model
    from .spec import SamplerSpec

    cfg = d.config
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), pytensor.config.change_flags(mode="CVM"):
            warnings.simplefilter("ignore")
            rm = build_hier_model(d, y)
            rf = fit_regional_model(rm, SamplerSpec(draws=cfg.draws, tune=cfg.tune,
                                                    chains=cfg.chains, seed=seed,
                                                    nuts_sampler=cfg.sampler, cores=1,
                                                    target_accept=cfg.target_accept))
    finally:
        logger.setLevel(level)
    post = rf.idata["posterior"]
    div = int(np.asarray(rf.idata["sample_stats"]["diverging"].values).sum())
    return rm, post, div


def _run_hierarchical(cfg: SBCConfig, progress: bool) -> SBCResult:
    t0 = time.perf_counter()
    d = make_hier_design(cfg)
    prior = draw_hier_prior(d, cfg.n_sims, cfg.seed + 1)
    rng = np.random.default_rng(cfg.seed + 2)
    ranks: dict[str, np.ndarray] = {}
    truth: dict[str, np.ndarray] = {}
    div = np.zeros(cfg.n_sims, dtype=int)
    t_first = None
    for i in range(cfg.n_sims):
        units_beta = prior["beta"][i][d.index]
        units_theta = prior["theta"][i][d.index]
        mu = rng.standard_normal(cfg.N) if cfg.fe in ("unit", "twoway") else None
        alpha = rng.standard_normal(cfg.T) if cfg.fe in ("time", "twoway") else None
        y = simulate_hier_y(d, prior["rho"][i], units_beta, units_theta, prior["sigma"][i],
                            mu, alpha, rng)
        rm, post, div[i] = _fit_hier(d, y, cfg.seed + 1000 + i)
        if t_first is None:
            t_first = time.perf_counter() - t0
        one = {k: v[i:i + 1] for k, v in prior.items()}
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
        for q, v in q_true.items():
            ranks.setdefault(q, np.empty(cfg.n_sims, dtype=int))[i] = int(
                (q_post[q] < v[0]).sum())
            truth.setdefault(q, np.empty(cfg.n_sims))[i] = v[0]
        if progress and ((i + 1) % max(cfg.n_sims // 10, 1) == 0 or i + 1 == cfg.n_sims):
            el = time.perf_counter() - t0
            print(f"  [{cfg.label}] {i + 1}/{cfg.n_sims} simulations, {el:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    return SBCResult(cfg, pd.DataFrame(ranks), pd.DataFrame(truth), div, t_first or 0.0, wall)


# ----------------------------------------------------------------------------- plots
def _band_for(res: SBCResult) -> ECDFBand:
    c = res.config
    return ecdf_band(len(res.ranks), alpha=c.alpha, n_grid=min(c.n_rank_draws + 1, 100),
                     seed=c.seed + 7)


def _draw_ecdf_diff(ax, pit: np.ndarray, band: ECDFBand, title: str, p: float,
                    passed: bool, alpha: float = 0.01) -> None:
    u = np.sort(pit)
    grid = np.concatenate([[0.0], band.z, [1.0]])
    f = np.searchsorted(u, grid, side="right") / band.n
    ax.fill_between(band.z, band.lower - band.z, band.upper - band.z, step="mid",
                    color="0.85", label=f"{100 * (1 - alpha):.0f}% simultaneous band")
    ax.step(grid, f - grid, where="post", color="C0" if passed else "C3", lw=1.4)
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
    ax.set_title(f"{title}\np_min={p:.2g}", fontsize=9)
    ax.tick_params(labelsize=8)


def plot_rank_ecdf(res: SBCResult, out_dir: str | Path) -> list[Path]:
    """One rank-ECDF-difference plot per quantity (ECDF of the PIT minus the uniform CDF, with
    the simultaneous band) and one overview grid; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    u = res.uniformity().set_index("quantity")
    band = _band_for(res)
    c = res.config
    paths = []
    qs = list(res.ranks.columns)
    for j, q in enumerate(qs):
        pit = pit_values(res.ranks[q].to_numpy(), c.n_rank_draws, seed=c.seed + j)
        fig, ax = plt.subplots(figsize=(4.2, 3.2), layout="constrained")
        _draw_ecdf_diff(ax, pit, band, f"{c.label}: {q}", u.loc[q, "p_min"], u.loc[q, "passed"],
                        c.alpha)
        ax.legend(loc="lower center", fontsize=7, frameon=False)
        ax.set_xlabel("fractional rank", fontsize=9)
        ax.set_ylabel("ECDF - uniform CDF", fontsize=9)
        safe = q.replace("[", "_").replace("]", "").replace(", ", "_").replace(" ", "")
        p = out / f"rank_ecdf_{safe}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    ncol = 4
    nrow = int(np.ceil(len(qs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), sharey=True,
                             layout="constrained", squeeze=False)
    for j, q in enumerate(qs):
        pit = pit_values(res.ranks[q].to_numpy(), c.n_rank_draws, seed=c.seed + j)
        _draw_ecdf_diff(axes.flat[j], pit, band, q, u.loc[q, "p_min"], u.loc[q, "passed"],
                        c.alpha)
    for ax in list(axes.flat)[len(qs):]:
        ax.set_visible(False)
    verdict = "calibrated" if res.passed else "NOT calibrated"
    fig.suptitle(f"SBC {c.label}: {len(res.ranks)} simulations, N={c.N}, T={c.T}, "
                 f"L={c.n_rank_draws} - {verdict}", fontsize=11)
    fig.supxlabel("fractional rank", fontsize=9)
    fig.supylabel("ECDF - uniform CDF", fontsize=9)
    p = out / "rank_ecdf_all.png"
    fig.savefig(p, dpi=100)
    plt.close(fig)
    paths.append(p)
    return paths


# ----------------------------------------------------------------------------- command
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bayes_sdm.sbc",
                                description="Simulation-based calibration of the two-way SDM "
                                            "(and of a deliberately broken likelihood).")
    p.add_argument("--sims", type=int, default=200, help="simulations per run (default 200)")
    p.add_argument("--N", type=int, default=20)
    p.add_argument("--T", type=int, default=5)
    p.add_argument("--K", type=int, default=2)
    p.add_argument("--model", default="sdm", choices=["sdm", "sar", "sem", "sdem", "slx"])
    p.add_argument("--fe", default="twoway", choices=["twoway", "unit", "time", "none"])
    p.add_argument("--which", default="all",
                   choices=["all", "both", "correct", "broken", "hierarchical"],
                   help="all: the two-way SDM, the broken (uncorrected) likelihood and the "
                        "hierarchical regional model; both: the first two")
    p.add_argument("--draws", type=int, default=200, help="posterior draws per chain")
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--rank-draws", type=int, default=99, help="thinned draws L for the ranks")
    p.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc"])
    p.add_argument("--seed", type=int, default=2018)
    p.add_argument("--out", default="runs/sbc")
    p.add_argument("--no-plots", action="store_true")
    h = p.add_argument_group("hierarchical run (full-W partially pooled regional SDM; the "
                             "model is rebuilt and recompiled per simulation)")
    h.add_argument("--hier-N", type=int, default=12, help="units (default 12)")
    h.add_argument("--hier-K", type=int, default=1, help="regressors (default 1)")
    h.add_argument("--hier-regions", type=int, default=3, help="regions (default 3)")
    h.add_argument("--hier-draws", type=int, default=100, help="draws per chain (default 100)")
    h.add_argument("--hier-tune", type=int, default=200)
    return p


def _config(a: argparse.Namespace, which: str) -> SBCConfig:
    if which == "hierarchical":
        return SBCConfig(n_sims=a.sims, N=a.hier_N, T=a.T, K=a.hier_K, model=a.model, fe=a.fe,
                         draws=a.hier_draws, tune=a.hier_tune, chains=a.chains,
                         n_rank_draws=a.rank_draws, sampler="pymc", seed=a.seed,
                         hierarchical=True, regions=a.hier_regions)
    return SBCConfig(n_sims=a.sims, N=a.N, T=a.T, K=a.K, model=a.model, fe=a.fe,
                     correction="none" if which == "broken" else "transform",
                     draws=a.draws, tune=a.tune, chains=a.chains,
                     n_rank_draws=a.rank_draws, sampler=a.sampler, seed=a.seed)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when the correct models are calibrated and the broken one is not (a ``broken``
    run alone: 0 when it fails); 1 otherwise; 2 on bad input."""
    import logging

    a = build_parser().parse_args(argv)
    logging.getLogger("pymc").setLevel(logging.ERROR)
    runs = {"all": ["correct", "broken", "hierarchical"], "both": ["correct", "broken"],
            "correct": ["correct"], "broken": ["broken"],
            "hierarchical": ["hierarchical"]}[a.which]
    results = {}
    try:
        for which in runs:
            cfg = _config(a, which)
            if which == "broken" and a.fe == "none":
                raise InputError("the broken model needs fixed effects (--fe twoway)")
            print(f"SBC {cfg.label}: {cfg.n_sims} simulations, N={cfg.N}, T={cfg.T}, K={cfg.K}, "
                  f"{cfg.chains}x{cfg.draws} draws ({cfg.sampler})", flush=True)
            res = run_sbc(cfg, progress=True)
            out = Path(a.out) / cfg.label
            res.write(out, plots=not a.no_plots)
            u = res.uniformity()
            with pd.option_context("display.width", 140, "display.max_columns", 20):
                print(u[["quantity", "mean_rank", "chi2", "p_chi2", "p_ecdf", "p_pot_c",
                         "passed"]].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
            d = res.to_dict()
            print(f"{cfg.label}: {'calibrated' if res.passed else 'NOT calibrated'} "
                  f"(min p = {d['min_p']:.3g}); wall {res.wall_s:.1f} s (compile "
                  f"{res.compile_s:.1f} s, {d['s_per_sim']:.3f} s/simulation); "
                  f"{d['sims_with_divergences']} simulations with divergences; wrote {out}/",
                  flush=True)
            results[which] = res.passed
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ok = (results.get("correct", True) and results.get("hierarchical", True)
          and not results.get("broken", False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
