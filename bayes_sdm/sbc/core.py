"""SBC of the pooled models: configuration, design, quantities, ranks and uniformity tests
(see :mod:`bayes_sdm.sbc`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import families
from ..design import Layout
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
        if not fam.bayesian:
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
    stats = sufficient_stats(ref, w, cfg.fe, correction=cfg.correction,
                             layout=Layout.for_families(cfg.K, families.get(cfg.model)))
    ld = make_logdet(w, "eigen")
    model = build_model(stats, ld, cfg.model, cfg.priors, panel=ref, w=w, mutable_y=True)
    return SBCDesign(cfg, w, x, ref, model, ld, names)


def _spatial(cfg: SBCConfig) -> tuple[str, ...]:
    """The spatial parameters' names (none, one, or rho and lambda for SAC)."""
    return families.get(cfg.model).spatial_params


def draw_prior(design: SBCDesign, n: int, seed: int) -> dict[str, np.ndarray]:
    """n draws of the parameters from the model's priors: rho|lambda, beta, theta, sigma."""
    import pymc as pm

    m = design.model
    names = [v for v in (*_spatial(design.config), "beta", "theta", "sigma") if v in m]
    vals = pm.draw([m[v] for v in names], draws=n, random_seed=seed)
    return {k: np.asarray(v, dtype=float) for k, v in zip(names, vals)}


def quantities(cfg: SBCConfig, logdet, params: dict[str, np.ndarray],
               x_names) -> dict[str, np.ndarray]:
    """The test quantities (flat names as in the tables) for draws of the parameters."""
    coef = coef_quantities(families.get(cfg.model), logdet, params, x_names)
    spatial = {k: coef.pop(k) for k in families.get(cfg.model).spatial_params}
    return {**spatial, "sigma2": np.atleast_1d(params["sigma"]) ** 2, **coef}


def coef_quantities(fam, logdet, params: dict[str, np.ndarray],
                    x_names) -> dict[str, np.ndarray]:
    """The spatial parameter(s), every beta_k, theta_k and every direct / indirect / total
    effect (LeSage & Pace 2009, :func:`bayes_sdm.effects.family_effects`) of draws of a
    family's parameters (``params``: ``rho`` | ``lambda``, ``beta`` (S, K), ``theta``)."""
    beta = np.atleast_2d(params["beta"])
    theta = np.atleast_2d(params["theta"]) if fam.durbin else None
    out = {}
    for sname in fam.spatial_params:
        out[sname] = np.atleast_1d(params[sname])
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
    names = _spatial(cfg)
    sp = tuple(params[s][i] for s in names)
    mu = rng.standard_normal(cfg.N) if cfg.fe in ("unit", "twoway") else None
    alpha = rng.standard_normal(cfg.T) if cfg.fe in ("time", "twoway") else None
    return simulate_y(design.w, design.X, cfg.model, rho=(sp if len(sp) > 1 else sp[0]) if sp else 0.0,
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
        names = [v for v in (*_spatial(cfg), "beta", "theta", "sigma") if v in post]
        out = {v: np.asarray(post[v].values, dtype=float) for v in names}
        div = int(np.asarray(tr["sample_stats"]["diverging"].values).sum())
        return out, div


def sim_ranks(design: SBCDesign, fitter: _Fitter, y: np.ndarray, seed: int,
              truth: dict[str, float]) -> tuple[dict[str, int], int]:
    """One simulation: fit ``y`` with ``seed``, thin the draws to ``n_rank_draws`` and return the
    rank of each true quantity among them (and the divergence count)."""
    cfg = design.config
    post, div = fitter(y, seed=seed)
    thin = {k: _thin(v, cfg.n_rank_draws) for k, v in post.items()}
    q_post = quantities(cfg, design.logdet, thin, design.x_names)
    return {q: int((q_post[q] < v).sum()) for q, v in truth.items()}, div


def rank_loop(sampler, truth: dict[str, np.ndarray], data_for, post_quantities,
              variables: tuple[str, ...], *, seed: int, n_rank_draws: int,
              progress: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The simulations of a run whose model is compiled once with its data in ``pm.Data``.

    For i = 0, 1, ...: set the data ``data_for(i)`` (called in order, so that it may draw the
    i-th panel from one random stream), sample with seed ``seed + 1000 + i``, thin the draws of
    ``variables`` to ``n_rank_draws`` (:func:`_thin`), turn them into the test quantities
    (``post_quantities(draws)``) and record the rank of each truth ``truth[q][i]`` among them.
    ``progress``: a label to print progress under.  Returns (ranks, divergences per
    simulation)."""
    n_sims = len(next(iter(truth.values())))
    ranks = {q: np.empty(n_sims, dtype=int) for q in truth}
    div = np.zeros(n_sims, dtype=int)
    t0 = time.perf_counter()
    for i in range(n_sims):
        data = data_for(i)
        with quiet_sampling():
            tr = sampler.sample(seed + 1000 + i, data=data)
        post = tr["posterior"]
        div[i] = int(np.asarray(tr["sample_stats"]["diverging"].values).sum())
        draws = {v: _thin(np.asarray(post[v].values, dtype=float), n_rank_draws)
                 for v in variables if v in post}
        q_post = post_quantities(draws)
        for q in truth:
            ranks[q][i] = int((q_post[q] < truth[q][i]).sum())
        if progress and ((i + 1) % max(n_sims // 10, 1) == 0 or i + 1 == n_sims):
            print(f"  [{progress}] {i + 1}/{n_sims} simulations, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    return pd.DataFrame(ranks), div


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
