"""SBC of the pooled models: configuration, design, quantities, ranks and uniformity tests
(see :mod:`bayes_sdm.sbc`)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sst

from .. import families
from ..effects import EFFECTS, family_effects
from ..errors import InputError
from ..likelihood import sufficient_stats
from ..logdet import make_logdet
from ..panel import Panel
from ..simulate import simulate_y
from ..spec import PriorSpec, SamplerSpec
from ..weights import SpatialWeights, make_weights


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
        fam = families.get(self.model)
        if not fam.bayesian or len(fam.spatial_params) > 1:
            raise InputError(f"SBC: no SBC run for the {self.model!r} model")
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
            if not fam.lag or fam.error or self.fe == "none":
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
    from ..pymc_models import build_model

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
    return families.get(cfg.model).spatial


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
    fam = families.get(cfg.model)
    sname = fam.spatial
    beta = np.atleast_2d(params["beta"])
    theta = np.atleast_2d(params["theta"]) if fam.durbin else None
    out = {}
    if sname:
        out[sname] = np.atleast_1d(params[sname])
    out["sigma2"] = np.atleast_1d(params["sigma"]) ** 2
    for k, x in enumerate(x_names):
        out[f"beta[{x}]"] = beta[:, k]
    if theta is not None:
        for k, x in enumerate(x_names):
            out[f"theta[{x}]"] = theta[:, k]
    eff = family_effects(fam, np.atleast_1d(params["rho"]) if fam.lag else None, beta, theta,
                         logdet, True)
    for j, e in enumerate(EFFECTS):
        if e == "indirect" and not fam.lag and not fam.durbin:
            continue  # identically zero (SEM)
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


def sbc_sampler(cfg: SBCConfig) -> SamplerSpec:
    """The sampler settings of a run (one core: simulations are the unit of parallelism)."""
    return SamplerSpec(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, seed=cfg.seed,
                       target_accept=cfg.target_accept, nuts_sampler=cfg.sampler, cores=1)


class _Fitter:
    """Fits the model compiled once (:func:`bayes_sdm.sampling.compile_sampler`) to a new y."""

    def __init__(self, design: SBCDesign):
        from ..sampling import compile_sampler

        self.design = design
        t0 = time.perf_counter()
        self.sampler = compile_sampler(design.model, sbc_sampler(design.config))
        self.compile_s = time.perf_counter() - t0

    def __call__(self, y: np.ndarray, seed: int):
        """Posterior draws as {name: array (chains, draws, ...)} and the divergence count."""
        with quiet_sampling():
            tr = self.sampler.sample(seed, data={"y_obs": y})
        cfg = self.design.config
        post = tr["posterior"]
        names = [v for v in (_spatial(cfg), "beta", "theta", "sigma") if v and v in post]
        out = {v: np.asarray(post[v].values, dtype=float) for v in names}
        div = int(np.asarray(tr["sample_stats"]["diverging"].values).sum())
        return out, div


def quiet_sampling():
    """Silence PyMC's progress logging and warnings during many small fits."""
    import contextlib
    import logging
    import warnings

    @contextlib.contextmanager
    def ctx():
        logger = logging.getLogger("pymc")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            logger.setLevel(level)

    return ctx()


def _thin(arr: np.ndarray, n: int) -> np.ndarray:
    """Flatten (chains, draws, ...) and keep n evenly spaced draws (chains interleaved by block)."""
    flat = arr.reshape(arr.shape[0] * arr.shape[1], *arr.shape[2:])
    idx = np.linspace(0, flat.shape[0] - 1, n).round().astype(int)
    return flat[idx]


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
        from ..io import write_csv, write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "ranks.csv", self.ranks)
        write_csv(out / "truth.csv", self.truth)
        write_csv(out / "uniformity.csv", self.uniformity())
        write_json(out / "sbc.json", self.to_dict())
        paths = [out / "ranks.csv", out / "truth.csv", out / "uniformity.csv", out / "sbc.json"]
        if plots:
            from .cli import plot_rank_ecdf

            paths += plot_rank_ecdf(self, out)
        return paths


def run_sbc(cfg: SBCConfig | None = None, progress: bool = False) -> SBCResult:
    """Run SBC: prior draw -> simulate -> fit -> ranks, ``cfg.n_sims`` times."""
    cfg = (cfg or SBCConfig()).validate()
    if cfg.hierarchical:
        from .hierarchical import run_hierarchical

        return run_hierarchical(cfg, progress)
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
