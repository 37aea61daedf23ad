"""Regional heterogeneity: hierarchical (partially pooled) spatial panel models by region.

Units carry a region label (east / central / west, US Census regions, ...).  Three poolings of
the regional coefficients and two regional weight structures are offered; every likelihood is
the Lee & Yu (2010, J. Econometrics 154:165-185) transformed log-likelihood of
:func:`bayes_sdm.likelihood.loglik` evaluated from sufficient statistics (no second likelihood).

Weight structure (``regional_w``)
---------------------------------
``block``
    Each region g has its own W_g = ``w.subset(units of g)`` (neighbours outside the region
    dropped, rows re-standardised: exactly what a separate regional fit uses), its own Lee-Yu
    transform (so two-way effects become region-specific unit and time effects), its own
    sufficient statistics and its own eigenvalue log-determinant.  The log-likelihood is the sum
    over regions of ``loglik(stats_g, logdet_g, model, rho_g, beta_g, theta_g, sigma2_g)``, the
    block-diagonal W's log-determinant being the sum of the regions' log-determinants.
``full``
    The full W is kept (spillovers across regions), with one rho and one sigma; beta and theta
    are those of each unit's region (each unit's equation has its region's coefficients):

        y_t = rho W y_t + sum_g D_g X_t beta_g + D_g W X_t theta_g + mu + alpha_t iota + eps_t,

    D_g the diagonal 0/1 selector of region g.  The columns D_g X and D_g WX are formed from
    the raw data before the FE transform (lag first, then demean): the panel is expanded to
    the 2GK regressors ``"<region>:<x>"``, ``"<region>:W<x>"`` (:func:`expand_panel`) and
    :func:`~bayes_sdm.likelihood.sufficient_stats` / :func:`~bayes_sdm.likelihood.loglik` are
    applied to it unchanged (SDM -> SAR on the expanded regressors, :data:`EXPANDED_MODEL`):
    one evaluation is O((GK)^2) from the Gram matrix plus the O(N) eigenvalue
    log-determinant.

Pooling (``pooling``)
---------------------
``partial`` (hierarchical):

* ``beta_g,k ~ N(beta_mean_k, beta_tau_k)``; ``beta_mean_k`` has the pooled model's prior
  (N(0, 2.5 s_k), s_k = sd(y~)/sd(x~_k), :mod:`bayes_sdm.spec`),
  ``beta_tau_k ~ HalfNormal(hyper.beta_tau * s_k)``; theta likewise (scale sd(y~)/sd(Wx~_k));
* block W: ``rho_g = lo + (hi - lo) logistic(eta_g)``, ``eta_g ~ N(m, rho_tau)``, where
  (lo, hi) is the intersection of the regions' admissible intervals (``rho_interval="common"``;
  it always contains (-1, 1) for row-standardised W) or each region's own interval
  (``"region"``).  logistic(m) ~ U(0, 1) (m standard logistic), so the common location has
  the pooled model's uniform prior on rho; ``rho_tau ~ HalfNormal(hyper.rho_tau)`` (logit
  scale); ``rho_mean`` = lo + (hi - lo) logistic(m) is reported;
* block W: ``log sigma_g ~ N(log sigma_mean, sigma_tau)``, ``sigma_mean`` with the pooled
  model's prior on sigma, ``sigma_tau ~ HalfNormal(hyper.sigma_tau)`` (log scale).

How it is sampled (the model above does not depend on it):

* ``marginalize=True`` (default): the regional coefficients *and* their common means are
  integrated out exactly -- given rho, sigma and the group scales they are jointly normal
  with the Gaussian likelihood (:class:`CollapsedHierarchy`) -- and drawn from their exact
  conditional normal after sampling.  NUTS sees only rho, sigma and the scales: no funnel.
  (The explicit non-centred form beta_g = mean + tau z had tens of divergences on the
  synthetic study panel where the regions' data pin some coefficients down tightly and
  leave others loose.)
* rho_g, sigma_g (block W): ``parameterization="auto"`` writes the rho hierarchy non-centred
  and anchored on the regions' average (:func:`_noncentred_on_average`) and the sigma
  hierarchy centred with the location anchored the same way (:func:`_centred_on_average`),
  which removes the location-scale funnel that few regions (G = 3, 4) otherwise create;
  with a fixed tau, or with ``marginalize=False`` for the coefficients, a partial centring
  lam = tau^2 / (tau^2 + se^2) (:func:`_partly_centred`, se from :func:`centring_se`);
  ``"noncentred"`` / ``"centred"`` force one form.

``complete``: one set of parameters -- the foundation's
:func:`bayes_sdm.pymc_models.build_model` on the full W (``full``), or on the pooled statistics
of the regional blocks (``block``: summed Gram matrices, summed n*, the block-diagonal W's
eigenvalues and the summed Jacobian corrections (T-1) log(1 - rho) per region).

``none``: separate fits per region (the seed study).  Block W: the foundation's model fitted to
each region alone (what ``--region NAME`` does), then stacked along ``region`` (the regions'
posteriors are independent, so the stacked draws are draws of the joint posterior).  Full W:
one rho and sigma, independent priors for every beta_g, theta_g.

Effects by region (LeSage & Pace 2009, ch. 2.7; LeSage & Chih 2016, Economics Letters
142:1-5 for heterogeneous coefficients)
--------------------------------------------------------------------------------------
For regressor k, S_k = (I - rho W)^{-1} (B_k + Theta_k W), with B_k = diag(beta_k(i)) and
Theta_k = diag(theta_k(i)) the coefficients of each unit's region: S_k[i, j] is the effect of
x_jk on y_i.  For region a (N_a units):

* direct_a = mean over i in a of S_k[i, i];
* total_a (``perspective="origin"``, default): (1/N_a) sum_{j in a} sum_i S_k[i, j], the total
  effect (on all units) of a unit rise of x in a's units ("spillovers emanating from" a);
  ``perspective="destination"``: the average row sum over a's units,
  (1/N_a) sum_{i in a} sum_j S_k[i, j] ("falling on" a: the effect on a's units of x rising
  everywhere);
* indirect_a = total_a - direct_a.

(the two are the ``by_region_from`` and ``by_region`` truths of the synthetic dataset.)  Under
the block W both perspectives coincide and equal the LeSage-Pace scalar summaries of region
a's own S_k (computed with :func:`bayes_sdm.effects.lag_effects` from each region's
eigenvalues).  ``effects_overall`` is the N-weighted average over regions, which equals the
LeSage-Pace summaries tr(S_k)/N and iota'S_k iota/N of the whole sample.

Spillover matrix (full W), posterior variable ``spillovers`` (from_region, to_region, coef):

    M_k[a -> b] = (1/N_b) sum_{i in b} sum_{j in a} S_k[i, j],

the change in y of the *average unit of region b* when x_k rises by one in *every* unit of
region a (own-unit effects included when a = b).  Hence sum_a M_k[a -> b] is b's destination
total and sum_b (N_b / N_a) M_k[a -> b] is a's origin total.

Everything comes exactly from ONE eigendecomposition of W, W = V diag(lam) V^{-1} (symmetric
form W = D^{-1/2} Q diag(lam) Q' D^{1/2} when W is similar to a symmetric matrix, Ord 1975):
(I - rho W)^{-1} = V diag(1 / (1 - rho lam)) V^{-1}, so region sums of diagonals and
region-block sums are O(N G^3) per draw after an O(N^2 G) precomputation
(:class:`RegionalDecomposition`).  When V is too
ill-conditioned for that (a defective general W), a dense solve per draw is used instead
(exact, O(N^3) per draw).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
import xarray as xr

from .effects import EFFECTS, lag_effects, local_effects
from .errors import InputError
from .likelihood import (
    DURBIN_MODELS,
    LAG_MODELS,
    FETerms,
    SufficientStats,
    loglik,
    sufficient_stats,
    transformed_columns,
)
from .logdet import EigenLogDet, LogDet
from .panel import Panel, check_not_absorbed
from .sampling import sample_nuts
from .spec import PriorSpec, SamplerSpec
from .weights import SpatialWeights

POOLINGS = ("partial", "none", "complete")
REGIONAL_W = ("block", "full")
PERSPECTIVES = ("origin", "destination")
REGIONAL_MODELS = ("sdm", "sar", "sem", "sdem", "slx")
HDI_PROB = 0.94
PARAMETERIZATIONS = ("auto", "noncentred", "centred")
#: the smallest NUTS target acceptance used for partial pooling unless one is given explicitly
PARTIAL_TARGET_ACCEPT = 0.95
TAU_KEYS = ("beta", "theta", "rho", "sigma")


# --------------------------------------------------------------------------------------------
# regions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Regions:
    """Region membership of the panel's units.

    Attributes
    ----------
    names : region names (strings) in reporting order
    index : ndarray (N,), the position in ``names`` of each unit's region (panel unit order)
    units : the panel's unit ids
    """

    names: tuple[str, ...]
    index: np.ndarray
    units: tuple

    @property
    def G(self) -> int:  # noqa: N802
        return len(self.names)

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.index, minlength=self.G)

    def positions(self, g: int) -> np.ndarray:
        return np.nonzero(self.index == g)[0]

    def members(self, g: int) -> tuple:
        return tuple(self.units[i] for i in self.positions(g))

    def indicator(self) -> np.ndarray:
        """The N x G 0/1 matrix R with R[i, g] = 1 when unit i is in region g."""
        r = np.zeros((len(self.units), self.G))
        r[np.arange(len(self.units)), self.index] = 1.0
        return r

    def position_of(self, name) -> int:
        name = _label(name)
        if name not in self.names:
            raise InputError(f"region {name!r} does not exist; regions: {list(self.names)}")
        return self.names.index(name)


def _missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _label(v) -> str:
    """Region labels as strings (netCDF coordinates); 3.0 -> '3'."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def make_regions(panel: Panel, regions, order: Sequence | None = None,
                 min_units: int = 2, min_regions: int = 2) -> Regions:
    """Validate per-unit region labels and fix the region order.

    Parameters
    ----------
    panel : the panel (its unit order is used)
    regions : a column name of ``panel.unit_info``; a ``pd.Series`` or mapping from unit id to
        label; or a sequence of N labels in the panel's unit order
    order : region names in reporting order (default: sorted labels); every name must exist and
        every region must be listed
    min_units : the smallest admissible region size

    Raises
    ------
    InputError
        unknown region column, a label missing for some unit (names them), a wrong number of
        labels, a region in ``order`` that does not exist, fewer than 2 regions, a region with
        fewer than ``min_units`` units.
    """
    units = list(panel.units)
    n = len(units)
    if isinstance(regions, str):
        info = panel.unit_info
        if info is None or regions not in info.columns:
            have = [] if info is None else list(info.columns)
            raise InputError(f"region column {regions!r} is not a unit attribute of the panel "
                             f"(attributes: {have}); pass it in unit_cols when building the "
                             "panel")
        labels = list(info[regions].reindex(units))
    elif isinstance(regions, pd.Series):
        if not set(units) & set(regions.index):
            raise InputError("the region Series is indexed by unit id, but none of the panel's "
                             f"units are in its index (e.g. {units[:3]})")
        labels = list(regions.reindex(units))
    elif isinstance(regions, Mapping):
        labels = [regions.get(u) for u in units]
    else:
        labels = list(regions)
        if len(labels) != n:
            raise InputError(f"{len(labels)} region labels for {n} units; give one label per "
                             "unit in the panel's unit order (or a Series indexed by unit id)")
    missing = [u for u, v in zip(units, labels, strict=True) if _missing(v)]
    if missing:
        raise InputError(f"region label missing for {len(missing)} unit(s): {missing[:10]}"
                         + (" ..." if len(missing) > 10 else ""))
    labels = [_label(v) for v in labels]
    present = sorted(set(labels))
    if order is None:
        names = present
    else:
        names = [_label(v) for v in order]
        unknown = [r for r in names if r not in present]
        if unknown:
            raise InputError(f"region(s) {unknown} do not exist; regions in the data: {present}")
        if len(set(names)) != len(names):
            raise InputError(f"duplicate region names in the order {names}")
        left = [r for r in present if r not in names]
        if left:
            raise InputError(f"region order {names} omits region(s) {left}")
    if len(names) < min_regions:
        raise InputError(f"regional models need at least {min_regions} regions; found {names}")
    pos = {r: i for i, r in enumerate(names)}
    index = np.array([pos[v] for v in labels], dtype=int)
    sizes = np.bincount(index, minlength=len(names))
    small = [(names[g], int(s)) for g, s in enumerate(sizes) if s < min_units]
    if small:
        raise InputError("region(s) with fewer than "
                         f"{min_units} units: " + ", ".join(f"{r!r} ({s} unit)" for r, s in small))
    return Regions(tuple(names), index, tuple(units))


def _check_block_neighbours(w: SpatialWeights, regs: Regions, only: int | None = None) -> None:
    """Every unit needs a neighbour inside its own region under the block-diagonal W."""
    base = w.raw_base()
    for g, name in enumerate(regs.names):
        if only is not None and g != only:
            continue
        idx = regs.positions(g)
        sub = base[idx][:, idx] if w.is_sparse else base[np.ix_(idx, idx)]
        rs = np.asarray(sub.sum(axis=1)).ravel()
        lonely = [regs.units[idx[i]] for i in np.nonzero(rs <= 0)[0]]
        if lonely:
            raise InputError(
                f"region {name!r}: {len(lonely)} unit(s) have no neighbours inside the region "
                f"under the block-diagonal W: {lonely[:10]}; use regional_w='full' or a W that "
                "connects them within the region"
            )


def select_region(panel: Panel, w: SpatialWeights, regions, name,
                  standardize: bool = True) -> tuple[Panel, SpatialWeights]:
    """The sub-panel and re-row-standardised W of one region (``--region NAME``).

    Raises InputError when the region does not exist, has fewer than 2 units, or has units
    without a neighbour inside it.
    """
    panel = _align(panel, w)
    regs = make_regions(panel, regions, min_units=1, min_regions=1)
    g = regs.position_of(name)
    if regs.sizes[g] < 2:
        raise InputError(f"region {regs.names[g]!r} has {regs.sizes[g]} unit; a regional fit "
                         "needs at least 2")
    _check_block_neighbours(w, regs, only=g)
    ids = regs.members(g)
    return panel.subset_units(ids), w.subset(ids, standardize=standardize)


def _align(panel: Panel, w: SpatialWeights) -> Panel:
    if tuple(w.ids) == tuple(panel.units):
        return panel
    if set(w.ids) != set(panel.units):
        a = [u for u in w.ids if u not in set(panel.units)][:10]
        b = [u for u in panel.units if u not in set(w.ids)][:10]
        raise InputError(f"W/unit mismatch: units in W but not in the data: {a}; "
                         f"units in the data but not in W: {b}")
    return panel.subset_units(w.ids)


# --------------------------------------------------------------------------------------------
# priors of the hierarchy
# --------------------------------------------------------------------------------------------
@dataclass
class HyperPriors:
    """Scales of the half-normal priors on the group standard deviations.

    ``beta_tau`` / ``theta_tau`` are in units of sd(y~)/sd(x~_k) (resp. sd(Wx~_k)), the same
    standardisation as the coefficient priors; ``rho_tau`` is on the logit scale of rho's
    interval and ``sigma_tau`` on the log scale of sigma.
    """

    beta_tau: float = 0.5
    theta_tau: float = 0.5
    rho_tau: float = 0.5
    sigma_tau: float = 0.5

    @classmethod
    def from_dict(cls, d: Mapping | None) -> HyperPriors:
        d = dict(d or {})
        known = {f for f in cls.__dataclass_fields__}
        bad = set(d) - known
        if bad:
            raise InputError(f"unknown hierarchy prior(s) {sorted(bad)}; known: {sorted(known)}")
        out = cls(**d)
        out.validate()
        return out

    def validate(self) -> None:
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise InputError(f"hierarchy prior {k} must be a positive number, got {v!r}")


def _tau_dict(tau) -> dict[str, float | None]:
    """``tau``: None (learned), a number (all group scales fixed) or a dict by component."""
    if tau is None:
        return dict.fromkeys(TAU_KEYS)
    if isinstance(tau, Mapping):
        bad = set(tau) - set(TAU_KEYS)
        if bad:
            raise InputError(f"unknown tau component(s) {sorted(bad)}; use {TAU_KEYS}")
        out = {k: tau.get(k) for k in TAU_KEYS}
    else:
        out = dict.fromkeys(TAU_KEYS, tau)
    for k, v in out.items():
        if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise InputError(f"fixed tau for {k} must be a positive number, got {v!r}")
    return {k: (None if v is None else float(v)) for k, v in out.items()}


# --------------------------------------------------------------------------------------------
# prepared pieces
# --------------------------------------------------------------------------------------------
@dataclass
class Block:
    """One likelihood block: a region (block W) or the whole panel (full W).

    ``positions`` are the block's units in the full panel's unit order; ``stats`` are the
    sufficient statistics the likelihood uses and ``lik_model`` the model passed to
    :func:`~bayes_sdm.likelihood.loglik` with them (for the full W with regional coefficients:
    the panel expanded to the regressors [D_g X, D_g WX] and the model without its own WX
    terms, see :data:`EXPANDED_MODEL`).
    """

    name: str
    positions: np.ndarray
    panel: Panel
    w: SpatialWeights
    stats: SufficientStats
    logdet: LogDet | None
    lik_model: str = "sdm"


@dataclass
class RegionalModel:
    """A built (not sampled) regional model and the pieces it was built from.

    ``model`` is the ``pm.Model`` (None for ``pooling="none"`` with block W, whose per-region
    models are in ``region_models``).
    """

    model: object
    region_models: dict | None
    panel: Panel
    w: SpatialWeights
    regions: Regions
    blocks: list[Block]
    pooled_stats: SufficientStats
    spec_model: str
    fe: str
    pooling: str
    regional_w: str
    correction: str
    lag_convention: str
    priors: PriorSpec
    hyper: HyperPriors
    tau: dict
    parameterization: str
    rho_interval: str
    centring: dict = field(default_factory=dict)
    init: dict = field(default_factory=dict)
    marginalize: bool = False
    collapsed: object = None
    _decomp: object = field(default=None, repr=False)

    @property
    def spatial_name(self) -> str | None:
        from .pymc_models import spatial_name

        return spatial_name(self.spec_model)

    def decomposition(self) -> RegionalDecomposition:
        """The eigendecomposition of the full W used for region-level effects (cached)."""
        if self._decomp is None:
            self._decomp = RegionalDecomposition(self.w, self.regions)
        return self._decomp

    def attrs(self) -> dict[str, str]:
        return {
            "pooling": self.pooling,
            "regional_w": self.regional_w,
            "regions": json.dumps(list(self.regions.names)),
            "region_sizes": json.dumps([int(s) for s in self.regions.sizes]),
            "region_of_unit": json.dumps({str(u): self.regions.names[g] for u, g in
                                          zip(self.regions.units, self.regions.index,
                                              strict=True)}),
            "hyper_priors": json.dumps(self.hyper.__dict__),
            "tau_fixed": json.dumps(self.tau),
            "parameterization": json.dumps(self.parameterization),
            "marginalize": str(self.marginalize),
            "centring_se": json.dumps({k: np.round(v, 6).tolist() for k, v in
                                       self.centring.items()}),
            "rho_interval": self.rho_interval,
            "model": self.spec_model,
            "fe": self.fe,
            "N": str(self.panel.N),
            "T": str(self.panel.T),
        }


def _prep_region(panel, w, model, fe, correction, lag_convention, name):
    from .api import prepare

    try:
        return prepare(panel, w, model, fe, correction=correction,
                       lag_convention=lag_convention)
    except InputError as err:
        raise InputError(f"region {name!r}: {err}") from err


def _pooled_block_stats(blocks: list[Block], fe: str, lag_convention: str) -> SufficientStats:
    """Sufficient statistics of the block model with common parameters.

    The sum over blocks of c' G_g c equals c' (sum G_g) c; n* and the log(1 - rho) multipliers
    add up; sd's (prior scales) are those of all transformed columns together.
    """
    s0 = blocks[0].stats
    gram = sum(b.stats.gram for b in blocks)
    terms = FETerms(s0.terms.fe, s0.terms.correction, sum(b.stats.terms.n_eff for b in blocks),
                    s0.terms.a, sum(b.stats.terms.b for b in blocks))
    z = np.concatenate([transformed_columns(b.panel, b.w, fe, lag_convention)
                        .reshape(-1, gram.shape[0]) for b in blocks])
    sd = z.std(axis=0)
    k = s0.K
    return SufficientStats(gram=gram, x_names=s0.x_names, N=sum(b.panel.N for b in blocks),
                           T=s0.T, terms=terms, lag_convention=lag_convention,
                           y_sd=float(sd[0]), x_sd=sd[2:2 + k], wx_sd=sd[2 + k:2 + 2 * k])


def pooled_block_logdet(blocks: list[Block]) -> EigenLogDet:
    """log|I - rho W_block| from the regions' eigenvalues (the block-diagonal W's spectrum)."""
    lams = []
    for b in blocks:
        if not isinstance(b.logdet, EigenLogDet):
            raise InputError("the block-diagonal W needs the eigenvalue log-determinant")
        lams.append(b.logdet.eigenvalues)
    return EigenLogDet(np.concatenate(lams))


#: the likelihood of the full-W regional model on the expanded regressors [D_g X, D_g WX]:
#: the Durbin terms are regressors there, so SDM -> SAR, SDEM -> SEM, SLX -> OLS
EXPANDED_MODEL = {"sdm": "sar", "sar": "sar", "sdem": "sem", "sem": "sem", "slx": "ols"}


def expand_panel(panel: Panel, w: SpatialWeights, regs: Regions, model: str) -> Panel:
    """The panel with regional regressors: D_g X (``"<region>:<x>"``, region-major) and, for
    Durbin models, D_g WX (``"<region>:W<x>"``).

    D_g selects region g's units of the raw data and the lag WX is formed from the raw data,
    so every column is transformed afterwards (lag first, then demean).  With theta_g on
    D_g WX each unit's equation has its own region's coefficients,
    y_i = rho (Wy)_i + x_i beta_g(i) + (Wx)_i theta_g(i) + ..., i.e. S_k = (I - rho W)^{-1}
    (diag(beta_k(i)) + diag(theta_k(i)) W) (the heterogeneous-coefficient SDM of LeSage &
    Chih 2016; :func:`bayes_sdm.simulate.simulate_y` with per-unit coefficients).
    """
    r = regs.indicator()
    cols = [panel.X]
    names = [tuple(f"{g}:{x}" for g in regs.names for x in panel.x_names)]
    if model in DURBIN_MODELS:
        cols.append(w.lag(panel.X))
        names.append(tuple(f"{g}:W{x}" for g in regs.names for x in panel.x_names))
    xe = np.concatenate([np.einsum("tnk,ng->tngk", c, r).reshape(panel.T, panel.N, -1)
                         for c in cols], axis=2)
    return Panel(panel.y, xe, panel.units, panel.times, panel.y_name, sum(names, ()),
                 panel.unit_info)


def _check_options(model, fe, pooling, regional_w, parameterization, rho_interval):
    if model not in REGIONAL_MODELS:
        raise InputError(f"unknown regional model {model!r}; choose from {REGIONAL_MODELS}")
    if pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}; choose from {POOLINGS}")
    if regional_w not in REGIONAL_W:
        raise InputError(f"unknown regional W {regional_w!r}; choose from {REGIONAL_W}")
    if isinstance(parameterization, Mapping):
        bad = {k: v for k, v in parameterization.items() if k not in AUTO_MODES
               or v not in PARAMETERIZATIONS + ("average", "noncentred_average")}
        if bad:
            raise InputError(f"bad parameterization entries {bad}")
    elif parameterization not in PARAMETERIZATIONS:
        raise InputError(f"unknown parameterization {parameterization!r}; choose from "
                         f"{PARAMETERIZATIONS}")
    if rho_interval not in ("common", "region"):
        raise InputError(f"rho_interval must be 'common' or 'region', got {rho_interval!r}")


# --------------------------------------------------------------------------------------------
# PyMC pieces
# --------------------------------------------------------------------------------------------
def _scale_mean(name: str, prior: dict, ysd: float):
    """A positive scale with the pooled model's sigma prior (see pymc_models.sigma_prior)."""
    import pymc as pm
    import pytensor.tensor as pt

    dist = prior["dist"]
    if dist == "halfnormal":
        return pm.HalfNormal(name, sigma=prior.get("scale", 1.0) * ysd)
    if dist == "exponential":
        return pm.Exponential(name, scale=prior.get("scale", 1.0) * ysd)
    if dist in ("jeffreys", "flat_sigma2"):
        log_s2 = pm.Flat(f"{name}_log_sigma2")
        if dist == "flat_sigma2":
            pm.Potential(f"{name}_flat_jacobian", log_s2)
        return pm.Deterministic(name, pt.exp(0.5 * log_s2))
    raise InputError(f"unknown sigma prior {prior}")


def _partly_centred(name, loc, tau, se, mode, dims):
    """x ~ N(loc, tau) written as x = loc + tau^(1 - lam) (z - lam loc), z ~ N(lam loc, tau^lam).

    lam = 0 is the non-centred x = loc + tau z, lam = 1 the centred form; in between, the
    partially non-centred parameterisation of Papaspiliopoulos, Roberts & Skold (2003, 2007)
    in the form of Gorinova, Moore & Hoffman (2020, ICML).  ``mode="auto"`` uses their
    optimal weight for a normal observation with standard error se,
    lam = tau^2 / (tau^2 + se^2), *as a function of the current tau*: for each tau the map
    z -> x is affine with the density of z implied by x ~ N(loc, tau), so the joint law of
    (tau, x) is unchanged, while the geometry is near non-centred where tau << se (no funnel)
    and near centred where tau >> se (no stiffness)."""
    import pymc as pm
    import pytensor.tensor as pt

    if mode == "noncentred":
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
        return pm.Deterministic(name, loc + tau * z, dims=dims)
    if mode == "centred":
        z = pm.Normal(f"{name}_z", mu=loc, sigma=tau, dims=dims)
        return pm.Deterministic(name, z + 0.0 * loc, dims=dims)
    se2 = pt.constant(np.nan_to_num(np.asarray(se, dtype=float), nan=1e6) ** 2)
    lam = tau**2 / (tau**2 + se2)
    z = pm.Normal(f"{name}_z", mu=lam * loc, sigma=tau**lam, dims=dims)
    return pm.Deterministic(name, loc + tau ** (1.0 - lam) * (z - lam * loc), dims=dims)


def _centred_on_average(name, tau, loc_logp, init, dims="region"):
    """ell_g ~ N(m, tau) in the centred form with the common location written as
    m = mean(ell) + tau u / sqrt(G): given (ell, tau), u is close to N(0, 1) whatever tau,
    which removes the funnel between the location and the scale (with few regions the
    location's conditional sd tau / sqrt(G) otherwise ranges over orders of magnitude).
    The density is p(m) prod N(ell_g | m, tau) |dm/du|, |dm/du| = tau / sqrt(G); ``loc_logp``
    gives log p(m).  Returns (ell, m)."""
    import pymc as pm
    import pytensor.tensor as pt

    init = np.asarray(init, dtype=float)
    g_count = init.size
    ell = pm.Flat(name, dims=dims, initval=init)
    u = pm.Flat(f"{name}_u", initval=np.array(0.0))
    m = pt.mean(ell) + tau * u / np.sqrt(g_count)
    dens = pt.sum(-0.5 * ((ell - m) / tau) ** 2 - pt.log(tau)) + loc_logp(m) + pt.log(tau)
    pm.Potential(f"{name}_hierarchy", dens)
    return ell, m


def _noncentred_on_average(name, tau, loc_logp, init, dims="region"):
    """ell_g = v + tau (z_g - mean(z)), z ~ N(0, 1), with the common location
    m = v - tau mean(z) (unit Jacobian from (m, z) to (v, z)): non-centred, but anchored on
    the regions' average v, which the data fix whatever tau -- no funnel between the location
    and the scale.  ``loc_logp`` gives log p(m).  Returns (ell, m)."""
    import pymc as pm
    import pytensor.tensor as pt

    init = np.asarray(init, dtype=float)
    v = pm.Flat(f"{name}_avg", initval=np.array(init.mean()))
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    zbar = pt.mean(z)
    m = v - tau * zbar
    pm.Potential(f"{name}_location", loc_logp(m))
    return v + tau * (z - zbar), m


#: parameterisation of each hierarchy under ``parameterization="auto"``
AUTO_MODES = {"coef": "auto", "rho": "noncentred_average", "sigma": "average"}


def _mode(mode, part: str, tau_fixed=None) -> str:
    """The parameterisation of one hierarchy.  With a fixed group scale there is no funnel;
    the adaptive partial centring (:func:`_partly_centred`) then handles both tiny scales
    (non-centred) and large ones (centred)."""
    out = mode.get(part, AUTO_MODES[part]) if isinstance(mode, Mapping) else (
        AUTO_MODES[part] if mode == "auto" else mode)
    if tau_fixed is not None and out in ("average", "noncentred_average"):
        return "auto"
    return out


def _hier_coef(name, prior, scale_ref, tau_scale, tau_fixed, se, mode):
    """beta_g,k ~ N(mean_k, tau_k): mean_k with the pooled model's prior, tau_k half-normal."""
    import pymc as pm
    import pytensor.tensor as pt

    from .pymc_models import coef_prior

    mean = coef_prior(f"{name}_mean", prior, scale_ref)
    if tau_fixed is None:
        tau = pm.HalfNormal(f"{name}_tau", sigma=tau_scale * scale_ref, dims="coef")
    else:
        tau = pt.constant(tau_fixed * scale_ref)
    return _partly_centred(name, mean, tau, se, mode, ("region", "coef"))


def _hier_spatial(name, prior, lo, hi, tau_scale, tau_fixed, se, mode, common, init):
    """rho_g = lo + (hi - lo) logistic(eta_g), eta_g ~ N(m, tau) around a common location m."""
    import pymc as pm
    import pytensor.tensor as pt

    if prior["dist"] not in ("uniform", "beta"):
        raise InputError(f"unknown prior for {name}: {prior}")
    a_, b_ = ((1.0, 1.0) if prior["dist"] == "uniform"
              else (prior.get("alpha", 1.01), prior.get("beta", 1.01)))
    tau = (pm.HalfNormal(f"{name}_tau", sigma=tau_scale) if tau_fixed is None
           else pt.constant(tau_fixed))
    if mode in ("average", "noncentred_average"):
        # logistic(m) ~ Beta(a, b) (uniform: a = b = 1): log p(m) = a log s(m) + b log s(-m)
        fn = _centred_on_average if mode == "average" else _noncentred_on_average
        eta, loc = fn(f"{name}_logit", tau,
                      lambda m: a_ * pt.log(pt.sigmoid(m)) + b_ * pt.log(pt.sigmoid(-m)), init)
    else:
        if prior["dist"] == "uniform":
            loc = pm.Logistic(f"{name}_logit_mean", mu=0.0, s=1.0)  # logistic(loc) ~ U(0, 1)
        else:
            u = pm.Beta(f"{name}_mean_unit", alpha=a_, beta=b_)
            loc = pt.log(u) - pt.log1p(-u)
        eta = _partly_centred(f"{name}_logit", loc, tau, se, mode, "region")
    lo_t, hi_t = pt.as_tensor_variable(lo), pt.as_tensor_variable(hi)
    rho = pm.Deterministic(name, lo_t + (hi_t - lo_t) * pt.sigmoid(eta), dims="region")
    if common:
        pm.Deterministic(f"{name}_mean", lo + (hi - lo) * pt.sigmoid(loc))
    return rho


def _hier_sigma(prior, ysd, tau_scale, tau_fixed, se, mode, init):
    """log sigma_g ~ N(log sigma_mean, sigma_tau), sigma_mean with the pooled model's prior."""
    import pymc as pm
    import pytensor.tensor as pt

    tau = (pm.HalfNormal("sigma_tau", sigma=tau_scale) if tau_fixed is None
           else pt.constant(tau_fixed))
    if mode in ("average", "noncentred_average"):
        dist, sc = prior["dist"], prior.get("scale", 1.0) * ysd

        def loc_logp(m):  # log p(sigma_mean = e^m) + m (the Jacobian of exp)
            if dist == "halfnormal":
                return -0.5 * pt.exp(2.0 * m) / sc**2 + m
            if dist == "exponential":
                return -pt.exp(m) / sc + m
            if dist == "jeffreys":  # p(sigma^2) ~ 1/sigma^2: flat in log sigma
                return 0.0 * m
            if dist == "flat_sigma2":  # p(sigma^2) flat: p(log sigma) ~ sigma^2
                return 2.0 * m
            raise InputError(f"unknown sigma prior {prior}")

        fn = _centred_on_average if mode == "average" else _noncentred_on_average
        logs, m = fn("sigma_log", tau, loc_logp, init)
        pm.Deterministic("sigma_mean", pt.exp(m))
    else:
        smean = _scale_mean("sigma_mean", prior, ysd)
        logs = _partly_centred("sigma_log", pt.log(smean), tau, se, mode, "region")
    sigma = pm.Deterministic("sigma", pt.exp(logs), dims="region")
    return pm.Deterministic("sigma2", sigma**2, dims="region")


def quick_estimates(stats: SufficientStats, logdet: LogDet | None, model: str,
                    n_grid: int = 801) -> dict:
    """Profile ML on a grid of rho (Anselin 1988; :func:`~bayes_sdm.likelihood.profile_lag`):
    rho, its curvature standard error, the coefficients and their standard errors at rho, and
    sigma^2.  Used only to choose the partial centring of the hierarchy; error models use
    rho = 0 (OLS of y on X, WX)."""
    from .likelihood import jacobian, profile_lag

    reg = model if model in LAG_MODELS else ("slx" if model in DURBIN_MODELS else "ols")
    n_eff = stats.terms.n_eff
    if model in LAG_MODELS and logdet is not None:
        lo, hi = logdet.interval
        grid = lo + (hi - lo) * np.linspace(0.001, 0.999, n_grid)
        coef, sse = profile_lag(stats, reg, grid)
        prof = -0.5 * n_eff * np.log(sse) + jacobian(stats.terms, logdet.value(grid), grid)
        i = int(np.clip(np.argmax(prof), 1, n_grid - 2))
        h = grid[1] - grid[0]
        d2 = (prof[i + 1] - 2.0 * prof[i] + prof[i - 1]) / h**2
        rho, se_rho = float(grid[i]), (float(np.sqrt(-1.0 / d2)) if d2 < 0 else hi - lo)
        coef, sse = coef[i], float(sse[i])
    else:
        coef, sse = profile_lag(stats, reg, np.array([0.0]))
        rho, se_rho, coef, sse = 0.0, float("nan"), coef[0], float(sse[0])
    cols = stats.columns(reg)
    s2 = sse / n_eff
    se = np.sqrt(s2 * np.diag(np.linalg.pinv(stats.gram[np.ix_(cols, cols)])))
    return {"rho": rho, "se_rho": se_rho, "coef": coef, "se": se, "sigma2": s2,
            "n_eff": n_eff}


def centring_se(rm: RegionalModel) -> dict[str, np.ndarray]:
    """Standard errors of each region's own estimate of the partially pooled parameters, on
    the scale of the hierarchy (``beta``, ``theta`` (G, K); ``rho`` on the logit scale and
    ``sigma`` on the log scale (G,)), from quick profile-ML fits (:func:`quick_estimates`).
    They set the partial centring lam = tau^2 / (tau^2 + se^2) of
    :func:`_partly_centred`; NaN (no estimate) means non-centred.  The model does not depend
    on them, only the sampler's geometry."""
    g_count, k = rm.regions.G, rm.panel.K
    out = {"beta": np.full((g_count, k), np.nan), "theta": np.full((g_count, k), np.nan),
           "rho": np.full(g_count, np.nan), "sigma": np.full(g_count, np.nan)}
    rm.init = {"rho": np.full(g_count, 0.0), "log_sigma": np.full(g_count, np.log(
        max(rm.pooled_stats.y_sd, 1e-12)))}
    try:
        ests = [quick_estimates(b.stats, b.logdet, b.lik_model) for b in rm.blocks]
    except (InputError, np.linalg.LinAlgError, FloatingPointError):
        return out
    durbin = rm.spec_model in DURBIN_MODELS
    if rm.regional_w == "block":
        rm.init = {"rho": np.array([e["rho"] for e in ests]),
                   "log_sigma": np.array([0.5 * np.log(e["sigma2"]) for e in ests])}
    if rm.regional_w == "full":
        se = ests[0]["se"]
        out["beta"] = se[:g_count * k].reshape(g_count, k)
        if durbin:
            out["theta"] = se[g_count * k:].reshape(g_count, k)
        return out
    out["beta"] = np.array([e["se"][:k] for e in ests])
    if durbin:
        out["theta"] = np.array([e["se"][k:2 * k] for e in ests])
    out["sigma"] = np.array([np.sqrt(0.5 / e["n_eff"]) for e in ests])
    if rm.spatial_name and rm.spec_model in LAG_MODELS:
        ivs = np.array([b.logdet.interval for b in rm.blocks])
        if rm.rho_interval == "common":
            ivs[:, 0], ivs[:, 1] = ivs[:, 0].max(), ivs[:, 1].min()
        r = np.array([e["rho"] for e in ests])
        u = np.clip((r - ivs[:, 0]) / (ivs[:, 1] - ivs[:, 0]), 1e-3, 1 - 1e-3)
        out["rho"] = (np.array([e["se_rho"] for e in ests])
                      / ((ivs[:, 1] - ivs[:, 0]) * u * (1 - u)))
    return out


def _scale_refs(stats: SufficientStats):
    ysd = max(stats.y_sd, 1e-12)
    return (ysd, ysd / np.maximum(stats.x_sd, 1e-12), ysd / np.maximum(stats.wx_sd, 1e-12))


class QuadraticSSE:
    """SSE of one likelihood block as a quadratic in its coefficients.

    For fixed rho the residual coefficient vector of :func:`~bayes_sdm.likelihood.coef_vector`
    is affine in gamma = (beta, theta): c = c0(rho) + M(rho) gamma, every entry of degree <= 1
    in rho for each model of the family (checked here).  Hence

        SSE = c'Gc = a(rho) - 2 b(rho)'gamma + gamma'H(rho) gamma,

    a, b, H quadratic polynomials in rho computed once from the Gram matrix.  Stored in the
    scaled coordinates gamma~ = D gamma, D = sqrt(diag H(0)) (for conditioning only).
    """

    def __init__(self, stats: SufficientStats, model: str):
        from .likelihood import coef_vector

        self.stats, self.model = stats, model
        k = stats.K
        self.durbin = model in DURBIN_MODELS
        d = 2 * k if self.durbin else k
        self.d = d

        def cvec(r, gam):
            return coef_vector(stats, model, r, gam[:k], gam[k:] if self.durbin else None)

        def parts(r):
            c0 = cvec(r, np.zeros(d))
            return c0, np.column_stack([cvec(r, e) - c0 for e in np.eye(d)])

        c00, m0 = parts(0.0)
        c1, m1 = parts(1.0)
        c01, m1 = c1 - c00, m1 - m0
        ct, mt = parts(0.37)
        if not (np.allclose(ct, c00 + 0.37 * c01) and np.allclose(mt, m0 + 0.37 * m1)):
            raise InputError(f"model {model!r}: coefficients are not affine in rho")
        g = stats.gram
        self.a = np.array([c00 @ g @ c00, 2.0 * c00 @ g @ c01, c01 @ g @ c01])
        b = np.stack([-m0.T @ g @ c00, -(m0.T @ g @ c01 + m1.T @ g @ c00), -m1.T @ g @ c01])
        h = np.stack([m0.T @ g @ m0, m0.T @ g @ m1 + m1.T @ g @ m0, m1.T @ g @ m1])
        h = 0.5 * (h + np.transpose(h, (0, 2, 1)))
        dg = np.sqrt(np.clip(np.diag(h[0]), 0.0, None))
        self.scale = np.where(dg > 0, dg, 1.0)
        self.b = b / self.scale
        self.h = h / np.outer(self.scale, self.scale)

    @staticmethod
    def poly(coef, rho):
        return coef[0] + rho * (coef[1] + rho * coef[2])


class CollapsedHierarchy:
    """The regional coefficients *and* their common means integrated out analytically.

    Blocks j (regions under the block W, or the whole panel under the full W) have
    SSE_j = a_j - 2 b_j'gamma_j + gamma_j'H_j gamma_j (:class:`QuadraticSSE`).  The
    coefficients gamma = (gamma_1, ...) (every region's beta and theta) are normal given the
    common means mu (``beta_mean``, ``theta_mean``) and group scales tau:

        gamma = A mu + delta,  delta ~ N(0, diag(tau[amap]^2)),  mu ~ N(m0, diag(s0^2))
        (or flat),

    A the 0/1 matrix sending each coefficient to its mean.  Given (rho_j, sigma_j^2, tau) the
    joint density of (gamma, mu) is normal with precision

        P = [[blockdiag(H_j / sigma_j^2) + T^-1,  -T^-1 A],
             [-A'T^-1,                   A'T^-1 A + S0^-1]],   T = diag(tau[amap]^2),

    (computed in the coordinates (delta, mu), delta = gamma - A mu, see :meth:`_system`), and
    integrating it out gives exactly (the normal-normal marginal, e.g. Gelman et al. 2013,
    BDA3 ch. 5.4 and 14.2)

        log p(y | rho, sigma, tau) = sum_j [-(n*_j/2) log(2 pi sigma_j^2) + J_j(rho_j)
                                              - SSE_j(g^_j) / (2 sigma_j^2)]
            - (1/2) sum((g^ - A mu^)/tau)^2 - (1/2) sum((mu^ - m0)/s0)^2
            - sum log tau[amap] - sum log s0 - (1/2) log|P|,

    (g^, mu^) = P^{-1} h the joint conditional mode (mean), h = (b_j / sigma_j^2, m0 / s0^2):
    the per-block terms are :func:`~bayes_sdm.likelihood.gaussian_loglik` with
    :func:`~bayes_sdm.likelihood.jacobian`.  (gamma, mu) | rest ~ N(P^{-1} h, P^{-1}) is drawn
    after sampling, draw by draw, so the posterior holds the regional coefficients and the
    means as usual.  Only rho, sigma and the group scales are sampled: no funnel between the
    scales and the coefficients or means (the source of divergences of the explicit
    hierarchical model when the regions' data are informative and of slow mixing of the
    means when they are not).
    """

    def __init__(self, parts: list[QuadraticSSE], amap: np.ndarray, n_mu: int):
        self.parts = parts
        self.amap = np.asarray(amap, dtype=int)
        self.n_mu = n_mu
        self.d = sum(p.d for p in parts)
        if self.amap.shape != (self.d,):
            raise ValueError("amap must give the mean of every coefficient")
        self.gscale = np.concatenate([p.scale for p in parts])
        # scale of each mean: rms of the scales of its coefficients
        cnt = np.bincount(self.amap, minlength=n_mu)
        ms = np.bincount(self.amap, weights=self.gscale**2, minlength=n_mu)
        self.mscale = np.sqrt(np.where(cnt > 0, ms / np.maximum(cnt, 1), 1.0))
        self.atil = self.gscale / self.mscale[self.amap]  # A~ = D A D_mu^-1 (one entry per row)
        self.a01 = np.zeros((self.d, n_mu))
        self.a01[np.arange(self.d), self.amap] = 1.0
        self.offsets = np.cumsum([0] + [p.d for p in parts])

    # -- the joint normal of (delta, mu), delta = gamma - A mu ----------------------------------
    def _system(self, xp, hms, bs, sigma2s, tau, m0, s0):
        """Precision P and linear term h of (delta~, mu~) in scaled coordinates, and tau~^2.

        Working with the deviations delta = gamma - A mu (unit Jacobian) instead of gamma
        keeps P well conditioned when a group scale is tiny: the delta block is then dominated
        by the diagonal tau~^-2 and the mu block needs no cancellation of O(tau^-2) terms.
            P = [[K + T^-1, K A], [A'K, A'K A + S0^-1]],  h = [k, A'k + S0^-1 m0],
        K = blockdiag(H_j / sigma_j^2), k = (b_j / sigma_j^2).
        """
        if xp is np:
            kmat = sla_block_diag(*[hm / s2 for hm, s2 in zip(hms, sigma2s, strict=True)])
            diag, concat, const = np.diag, np.concatenate, np.asarray
        else:
            kmat = xp.linalg.block_diag(*[hm / s2 for hm, s2 in zip(hms, sigma2s, strict=True)])
            diag, concat, const = xp.diag, xp.concatenate, xp.constant
        kvec = concat([b / s2 for b, s2 in zip(bs, sigma2s, strict=True)])
        amat = const(self.a01 * self.atil[:, None])  # A~ (d x n_mu)
        tt2 = (const(self.gscale) * tau[self.amap]) ** 2
        ka = xp.dot(kmat, amat)
        bot = xp.dot(amat.T, ka)
        hmu = xp.dot(amat.T, kvec)
        if s0 is not None:
            s0t = self.mscale * np.asarray(s0, float)
            bot = bot + diag(const(1.0 / s0t**2))
            hmu = hmu + const(self.mscale * np.asarray(m0, float) / s0t**2)
        prec = concat([concat([kmat + diag(1.0 / tt2), ka], axis=1),
                       concat([ka.T, bot], axis=1)], axis=0)
        return prec, concat([kvec, hmu]), tt2, amat

    def marginal_loglik(self, logdets, rhos, sigma2s, tau, m0=None, s0=None):
        """The collapsed log-likelihood (PyTensor).  rhos, sigma2s: one per block; tau: (n_mu,);
        m0, s0: prior means and sds of mu (arrays, constants) or s0=None for a flat prior."""
        import pytensor.tensor as pt

        from .likelihood import gaussian_loglik, jacobian

        bs = [QuadraticSSE.poly([pt.constant(v) for v in p.b], r)
              for p, r in zip(self.parts, rhos, strict=True)]
        hms = [QuadraticSSE.poly([pt.constant(v) for v in p.h], r)
               for p, r in zip(self.parts, rhos, strict=True)]
        prec, rhs, tt2, amat = self._system(pt, hms, bs, sigma2s, tau, m0, s0)
        chol = pt.linalg.cholesky(prec)
        x = pt.linalg.solve_triangular(chol.T, pt.linalg.solve_triangular(chol, rhs, lower=True),
                                       lower=False)
        dev, mu = x[:self.d], x[self.d:]
        gam = dev + pt.dot(amat, mu)
        total = 0.0
        for j, p in enumerate(self.parts):
            gj = gam[self.offsets[j]:self.offsets[j + 1]]
            a = QuadraticSSE.poly([pt.constant(v) for v in p.a], rhos[j])
            sse = a - 2.0 * pt.dot(bs[j], gj) + pt.dot(gj, pt.dot(hms[j], gj))
            if p.model in ("slx", "ols") or logdets[j] is None:
                jac = 0.0
            else:
                jac = jacobian(p.stats.terms, logdets[j].symbolic(rhos[j]), rhos[j], xp=pt)
            total = total + gaussian_loglik(p.stats.terms, sse, sigma2s[j], jac, xp=pt)
        total = total - 0.5 * pt.sum(dev**2 / tt2) - 0.5 * pt.sum(pt.log(tt2))
        if s0 is not None:
            s0t = pt.constant(self.mscale * np.asarray(s0, float))
            m0t = pt.constant(self.mscale * np.asarray(m0, float))
            total = total - 0.5 * pt.sum(((mu - m0t) / s0t) ** 2) - pt.sum(pt.log(s0t))
        return total - pt.sum(pt.log(pt.diag(chol)))

    def conditional(self, rhos, sigma2s, tau, m0=None, s0=None):
        """Mean and covariance of (gamma, mu) | y, rho, sigma, tau in the original coordinates
        (one parameter set; for tests and checks)."""
        hms = [QuadraticSSE.poly(p.h, r) for p, r in zip(self.parts, rhos, strict=True)]
        bs = [QuadraticSSE.poly(p.b, r) for p, r in zip(self.parts, rhos, strict=True)]
        prec, rhs, _, amat = self._system(np, hms, bs, np.asarray(sigma2s, float),
                                          np.asarray(tau, float), m0, s0)
        cov = np.linalg.inv(prec)
        j = np.block([[np.eye(self.d), amat], [np.zeros((self.n_mu, self.d)),
                                                np.eye(self.n_mu)]])
        sc = 1.0 / np.concatenate([self.gscale, self.mscale])
        mean = sc * (j @ (cov @ rhs))
        return mean, sc[:, None] * (j @ cov @ j.T) * sc[None, :]

    # -- draws -----------------------------------------------------------------------------
    def draw(self, rhos, sigma2s, tau, m0, s0, rng: np.random.Generator):
        """(gamma, mu) | rest for S draws: rhos, sigma2s (S, n_blocks); tau (S, n_mu).
        Returns gamma (S, d) and mu (S, n_mu) in the original coordinates."""
        rhos = np.asarray(rhos, dtype=float)
        sigma2s = np.asarray(sigma2s, dtype=float)
        tau = np.asarray(tau, dtype=float)
        n = rhos.shape[0]
        gam = np.empty((n, self.d))
        mu = np.empty((n, self.n_mu))
        for i in range(n):
            hms = [QuadraticSSE.poly(p.h, rhos[i, j]) for j, p in enumerate(self.parts)]
            bs = [QuadraticSSE.poly(p.b, rhos[i, j]) for j, p in enumerate(self.parts)]
            prec, rhs, _, amat = self._system(np, hms, bs, sigma2s[i], tau[i], m0, s0)
            chol = np.linalg.cholesky(prec)
            mean = sla_cho_solve((chol, True), rhs)
            x = mean + sla_solve_triangular(chol.T, rng.standard_normal(mean.size), lower=False)
            mu_t = x[self.d:]
            gam[i] = (x[:self.d] + amat @ mu_t) / self.gscale
            mu[i] = mu_t / self.mscale
        return gam, mu


def sla_block_diag(*arrs):
    import scipy.linalg as sla

    return sla.block_diag(*arrs)


def sla_cho_solve(c, b):
    import scipy.linalg as sla

    return sla.cho_solve(c, b)


def sla_solve_triangular(a, b, lower):
    import scipy.linalg as sla

    return sla.solve_triangular(a, b, lower=lower)


def make_collapsed(rm: RegionalModel) -> CollapsedHierarchy:
    """The collapsed hierarchy of a partial-pooling regional model (coefficient layout:
    per region [beta_g, theta_g] under the block W; [beta (G*K, region-major), theta] under
    the full W)."""
    k, g_count = rm.panel.K, rm.regions.G
    durbin = rm.spec_model in DURBIN_MODELS
    parts = [QuadraticSSE(b.stats, b.lik_model) for b in rm.blocks]
    if rm.regional_w == "block":
        one = np.arange(k)
        per = np.concatenate([one, k + one]) if durbin else one
        amap = np.tile(per, g_count)
    else:
        amap = np.tile(np.arange(k), g_count)
        if durbin:
            amap = np.concatenate([amap, k + amap])
    return CollapsedHierarchy(parts, amap, 2 * k if durbin else k)


def _mean_prior(prior: dict, scale_ref: np.ndarray):
    """(m0, s0) of a common mean's normal prior, or (None, None) when flat."""
    if prior["dist"] == "flat":
        return None, None
    s0 = prior.get("scale", 2.5) * np.asarray(scale_ref, dtype=float)
    return np.full(s0.shape, float(prior.get("mu", 0.0))), s0


def _collapsed_hyper(rm: RegionalModel):
    """Group scales (sampled or fixed) and the means' prior of the collapsed model."""
    import pymc as pm
    import pytensor.tensor as pt

    priors, hyper, tau = rm.priors, rm.hyper, rm.tau
    _, sx, swx = _scale_refs(rm.pooled_stats)
    durbin = rm.spec_model in DURBIN_MODELS
    taus, m0s, s0s = [], [], []
    for name, prior, ref, hs in (("beta", priors.beta, sx, hyper.beta_tau),
                                 ("theta", priors.theta, swx, hyper.theta_tau)):
        if name == "theta" and not durbin:
            continue
        if tau[name] is None:
            taus.append(pm.HalfNormal(f"{name}_tau", sigma=hs * ref, dims="coef"))
        else:
            taus.append(pt.constant(tau[name] * ref))
        m0, s0 = _mean_prior(prior, ref)
        m0s.append(m0)
        s0s.append(s0)
    flat = [s is None for s in s0s]
    if any(flat) and not all(flat):
        raise InputError("marginalize=True needs beta and theta priors both normal or both "
                         "flat; pass marginalize=False otherwise")
    m0 = None if flat[0] else np.concatenate(m0s)
    s0 = None if flat[0] else np.concatenate(s0s)
    return pt.concatenate(taus) if len(taus) > 1 else taus[0], m0, s0


def _build_block_partial(rm: RegionalModel):
    import pymc as pm
    import pytensor.tensor as pt

    priors, hyper, tau, model = rm.priors, rm.hyper, rm.tau, rm.spec_model
    se, mode = rm.centring, rm.parameterization
    ysd, sx, swx = _scale_refs(rm.pooled_stats)
    coords = {"region": list(rm.regions.names), "coef": list(rm.panel.x_names)}
    sname = rm.spatial_name
    durbin = model in DURBIN_MODELS
    g_count = rm.regions.G
    with pm.Model(coords=coords) as m:
        rho = None
        if sname:
            ivs = np.array([b.logdet.interval for b in rm.blocks])
            if rm.rho_interval == "common":
                lo, hi = float(ivs[:, 0].max()), float(ivs[:, 1].min())
            else:
                lo, hi = ivs[:, 0], ivs[:, 1]
            u0 = np.clip((rm.init["rho"] - lo) / (hi - lo), 0.02, 0.98)
            rho = _hier_spatial(sname, priors.rho, lo, hi, hyper.rho_tau, tau["rho"],
                                se["rho"], _mode(mode, "rho", tau["rho"]),
                                rm.rho_interval == "common",
                                np.log(u0) - np.log1p(-u0))
        sigma2 = _hier_sigma(priors.sigma, ysd, hyper.sigma_tau, tau["sigma"], se["sigma"],
                             _mode(mode, "sigma", tau["sigma"]), rm.init["log_sigma"])
        rhos = [rho[g] if rho is not None else pt.constant(0.0) for g in range(g_count)]
        if rm.marginalize:
            tau_mu, m0, s0 = _collapsed_hyper(rm)
            ll = rm.collapsed.marginal_loglik([b.logdet for b in rm.blocks], rhos,
                                              [sigma2[g] for g in range(g_count)], tau_mu,
                                              m0, s0)
            pm.Potential("loglik", ll)
            return m
        beta = _hier_coef("beta", priors.beta, sx, hyper.beta_tau, tau["beta"], se["beta"],
                          _mode(mode, "coef"))
        theta = None
        if durbin:
            theta = _hier_coef("theta", priors.theta, swx, hyper.theta_tau, tau["theta"],
                               se["theta"], _mode(mode, "coef"))
        terms = []
        for g, b in enumerate(rm.blocks):
            th = theta[g] if theta is not None else None
            terms.append(loglik(b.stats, b.logdet, model, rhos[g], beta[g], th, sigma2[g],
                                xp=pt))
        pm.Potential("loglik", pt.sum(pt.stack(terms)))
    return m


def _build_full_regional(rm: RegionalModel):
    """Full W, one rho and sigma, region-specific beta_g / theta_g (partial or no pooling)."""
    import pymc as pm
    import pytensor.tensor as pt

    from .pymc_models import coef_prior, sigma_prior, spatial_prior

    priors, hyper, tau, model = rm.priors, rm.hyper, rm.tau, rm.spec_model
    se, mode = rm.centring, rm.parameterization
    ysd, sx, swx = _scale_refs(rm.pooled_stats)
    coords = {"region": list(rm.regions.names), "coef": list(rm.panel.x_names)}
    b = rm.blocks[0]
    sname = rm.spatial_name
    durbin = model in DURBIN_MODELS
    with pm.Model(coords=coords) as m:
        rho = spatial_prior(sname, priors.rho, b.logdet.interval) if sname else pt.constant(0.)
        _, sigma2 = sigma_prior(priors.sigma, ysd)
        if rm.pooling == "partial" and rm.marginalize:
            tau_mu, m0, s0 = _collapsed_hyper(rm)
            pm.Potential("loglik", rm.collapsed.marginal_loglik([b.logdet], [rho], [sigma2],
                                                                tau_mu, m0, s0))
            return m
        if rm.pooling == "partial":
            beta = _hier_coef("beta", priors.beta, sx, hyper.beta_tau, tau["beta"], se["beta"],
                              _mode(mode, "coef"))
        else:
            beta = coef_prior("beta", priors.beta, sx, dims=("region", "coef"))
        theta = None
        if durbin:
            if rm.pooling == "partial":
                theta = _hier_coef("theta", priors.theta, swx, hyper.theta_tau, tau["theta"],
                                   se["theta"], _mode(mode, "coef"))
            else:
                theta = coef_prior("theta", priors.theta, swx, dims=("region", "coef"))
        gam = beta.flatten() if theta is None else pt.concatenate([beta.flatten(),
                                                                    theta.flatten()])
        pm.Potential("loglik", loglik(b.stats, b.logdet, b.lik_model, rho, gam, None, sigma2,
                                      xp=pt))
    return m


def _draw_collapsed(rm: RegionalModel, post: xr.Dataset, seed: int) -> xr.Dataset:
    """Add beta, theta (chain, draw, region, coef) and beta_mean, theta_mean (chain, draw,
    coef) to a collapsed model's posterior, drawn from their exact conditional normal."""
    rng = np.random.default_rng(seed)
    g_count, k = rm.regions.G, rm.panel.K
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    s = nc * nd
    sname = rm.spatial_name
    _, sx, swx = _scale_refs(rm.pooled_stats)
    durbin = rm.spec_model in DURBIN_MODELS
    taus, m0s, s0s = [], [], []
    for name, prior, ref in (("beta", rm.priors.beta, sx), ("theta", rm.priors.theta, swx)):
        if name == "theta" and not durbin:
            continue
        if f"{name}_tau" in post:
            taus.append(post[f"{name}_tau"].transpose("chain", "draw", "coef").values
                        .reshape(s, k))
        else:
            taus.append(np.broadcast_to(rm.tau[name] * ref, (s, k)))
        m0, s0 = _mean_prior(prior, ref)
        m0s.append(m0)
        s0s.append(s0)
    tau = np.concatenate(taus, axis=1)
    m0 = None if s0s[0] is None else np.concatenate(m0s)
    s0 = None if s0s[0] is None else np.concatenate(s0s)
    if rm.regional_w == "block":
        rho = (post[sname].transpose("chain", "draw", "region").values.reshape(s, g_count)
               if sname else np.zeros((s, g_count)))
        sig2 = post["sigma2"].transpose("chain", "draw", "region").values.reshape(s, g_count)
    else:
        rho = (post[sname].values.reshape(s, 1) if sname else np.zeros((s, 1)))
        sig2 = post["sigma2"].values.reshape(s, 1)
    gam, mu = rm.collapsed.draw(rho, sig2, tau, m0, s0, rng)
    if rm.regional_w == "block":
        per = gam.reshape(s, g_count, -1)
        beta = per[:, :, :k]
        theta = per[:, :, k:] if durbin else None
    else:
        beta = gam[:, :g_count * k].reshape(s, g_count, k)
        theta = gam[:, g_count * k:].reshape(s, g_count, k) if durbin else None
    dims = ("chain", "draw", "region", "coef")
    coords = {"chain": post["chain"].values, "draw": post["draw"].values,
              "region": list(rm.regions.names), "coef": list(rm.panel.x_names)}
    mcoords = {c: coords[c] for c in ("chain", "draw", "coef")}
    post = post.copy()
    post["beta"] = xr.DataArray(beta.reshape(nc, nd, g_count, k), dims=dims, coords=coords)
    post["beta_mean"] = xr.DataArray(mu[:, :k].reshape(nc, nd, k),
                                     dims=("chain", "draw", "coef"), coords=mcoords)
    if durbin:
        post["theta"] = xr.DataArray(theta.reshape(nc, nd, g_count, k), dims=dims,
                                     coords=coords)
        post["theta_mean"] = xr.DataArray(mu[:, k:].reshape(nc, nd, k),
                                          dims=("chain", "draw", "coef"), coords=mcoords)
    return post


def build_regional_model(
    panel: Panel,
    w: SpatialWeights,
    regions,
    model: str = "sdm",
    fe: str = "twoway",
    pooling: str = "partial",
    regional_w: str = "block",
    priors: PriorSpec | None = None,
    hyper: HyperPriors | Mapping | None = None,
    tau=None,
    parameterization: str = "auto",
    correction: str = "transform",
    lag_convention: str = "QWy",
    region_order: Sequence | None = None,
    rho_interval: str = "common",
    marginalize: bool = True,
) -> RegionalModel:
    """Validate the inputs, precompute the pieces and build the PyMC graph (no sampling).

    Parameters
    ----------
    panel, w : the panel and the full weight matrix (units aligned by id)
    regions : per-unit region labels (see :func:`make_regions`)
    model : ``sdm`` | ``sar`` | ``sem`` | ``sdem`` | ``slx``
    fe : fixed effects (``twoway`` | ``unit`` | ``time`` | ``none``); with a block W they are
        region-specific
    pooling : ``partial`` | ``none`` | ``complete``
    regional_w : ``block`` (each region's own W) | ``full`` (spillovers across regions kept)
    priors : the pooled model's priors (:class:`~bayes_sdm.spec.PriorSpec`); in the partial
        model they are the priors of the common means
    hyper : :class:`HyperPriors` (or a dict of its fields) for the group scales
    tau : None (group scales learned), a positive number (all fixed, standardised units) or a
        dict over ``beta``/``theta``/``rho``/``sigma``
    parameterization : ``auto`` (default: partial centring chosen per parameter from quick
        profile-ML estimates, :func:`centring_weights`) | ``noncentred`` | ``centred``; the
        model is the same, only the sampler's geometry changes
    region_order : reporting order of the regions (default sorted)
    rho_interval : ``common`` (intersection of the regions' admissible intervals) | ``region``
    marginalize : partial pooling only: integrate the regional coefficients out analytically
        (:class:`CollapsedCoefficients`; default) and draw them from their exact conditional
        after sampling; ``False`` samples them explicitly (partially non-centred)

    Raises
    ------
    InputError
        bad options; region labels missing / unknown; a region with fewer than 2 units; under
        the block W, a unit without a neighbour inside its region; a regressor absorbed by the
        (regional) fixed effects.
    """
    _check_options(model, fe, pooling, regional_w, parameterization, rho_interval)
    priors = priors or PriorSpec()
    priors.validate()
    hyper = hyper if isinstance(hyper, HyperPriors) else HyperPriors.from_dict(hyper)
    hyper.validate()
    taus = _tau_dict(tau)
    panel = _align(panel, w)
    regs = make_regions(panel, regions, order=region_order)
    blocks: list[Block] = []
    if regional_w == "block":
        _check_block_neighbours(w, regs)
        for g, name in enumerate(regs.names):
            ids = regs.members(g)
            p = _prep_region(panel.subset_units(ids), w.subset(ids), model, fe, correction,
                             lag_convention, name)
            blocks.append(Block(name, regs.positions(g), p.panel, p.w, p.stats, p.logdet, model))
        pooled = _pooled_block_stats(blocks, fe, lag_convention)
    else:
        from .api import prepare

        full = prepare(panel, w, model, fe, correction=correction, lag_convention=lag_convention)
        pooled = full.stats
        if pooling == "complete":
            blocks.append(Block("all", np.arange(panel.N), full.panel, full.w, full.stats,
                                full.logdet, model))
        else:
            if lag_convention != "QWy" and fe not in ("unit", "none"):
                raise InputError("the full-W regional model forms D_g X and D_g WX from the "
                                 "raw data (lag first, then demean): use lag_convention='QWy' "
                                 f"with fe={fe!r}")
            pe = expand_panel(full.panel, full.w, regs, model)
            check_not_absorbed(pe, fe)
            st = sufficient_stats(pe, full.w, fe, correction=correction,
                                  lag_convention="QWy")
            blocks.append(Block("all", np.arange(panel.N), pe, full.w, st, full.logdet,
                                EXPANDED_MODEL[model]))
    rm = RegionalModel(None, None, panel, w, regs, blocks, pooled, model, fe, pooling,
                       regional_w, correction, lag_convention, priors, hyper, taus,
                       parameterization, rho_interval)
    from .pymc_models import build_model

    if pooling == "complete":
        if regional_w == "block":
            ld = pooled_block_logdet(blocks) if rm.spatial_name else None
            rm.model = build_model(pooled, ld, model, priors)
        else:
            rm.model = build_model(blocks[0].stats, blocks[0].logdet, model, priors)
    elif pooling == "none" and regional_w == "block":
        rm.region_models = {b.name: build_model(b.stats, b.logdet, model, priors)
                            for b in blocks}
    else:
        if pooling == "partial":
            rm.centring = centring_se(rm)
            rm.marginalize = bool(marginalize)
            if rm.marginalize:
                rm.collapsed = make_collapsed(rm)
        rm.model = (_build_block_partial(rm) if regional_w == "block"
                    else _build_full_regional(rm))
    return rm


# --------------------------------------------------------------------------------------------
# effects
# --------------------------------------------------------------------------------------------
class RegionalDecomposition:
    """One eigendecomposition of W and the region aggregates built from it.

    With S_k = A (B_k + Theta_k W), A = (I - rho W)^{-1}, B_k = diag(beta_k(i)),
    Theta_k = diag(theta_k(i)) = sum_g theta_gk D_g, and W = V diag(lam) U (U = V^{-1}),
    A = V diag(f(rho)) U with f = 1 / (1 - rho lam).  For regions a, b, g (R the N x G
    indicator matrix, r_b its columns):

    * sum_{i in b} A_ii              = (R'P)_b f,          P_im = V_im U_mi;
    * sum_{i in b} (A D_g W)_ii      = (R'P_g)_b f,        P_g[i, m] = V_im (U D_g W)_mi;
    * r_b' A r_a                     = (R'V)_b diag(f) (U R)_a;
    * r_b' A D_g W r_a               = (R'V)_b diag(f) (U D_g W R)_a.

    Everything after the O(N^3) decomposition is O(N G^3) per draw.
    """

    def __init__(self, w: SpatialWeights, regs: Regions, cond_max: float = 1e8):
        m = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix, dtype=float)
        self.n = m.shape[0]
        self.regs = regs
        r = regs.indicator()
        self.r = r
        self.sizes = r.sum(axis=0)
        self.dense = None
        sym = w.symmetric_form()
        if sym is not None:
            sm = sym.toarray() if hasattr(sym, "toarray") else np.asarray(sym)
            lam, q = np.linalg.eigh(sm)
            sq = np.sqrt(w.sym_scale)
            v = q / sq[:, None]  # D^{-1/2} Q
            u = q.T * sq[None, :]  # Q' D^{1/2}
        else:
            lam, v = np.linalg.eig(m)
            cond = np.linalg.cond(v)
            if not np.isfinite(cond) or cond > cond_max:
                warnings.warn(f"W's eigenvectors are ill-conditioned (cond {cond:.2g}); "
                              "region effects use a dense solve per draw", stacklevel=2)
                self.dense = m
                return
            u = np.linalg.inv(v)
            if np.abs((v * lam) @ u - m).max() > 1e-8 * max(1.0, np.abs(m).max()):
                self.dense = m
                return
        self.lam = lam
        self.rp = r.T @ (v * u.T)  # (G, N)
        self.rv = r.T @ v  # (G, N)
        self.ur = u @ r  # (N, G)
        self.rpg = np.empty((regs.G, regs.G, self.n), dtype=v.dtype)  # [g, b, m]
        self.udwr = np.empty((regs.G, self.n, regs.G), dtype=v.dtype)  # [g, m, a]
        for g in range(regs.G):
            udw = (u * r[:, g][None, :]) @ m  # U D_g W
            self.rpg[g] = r.T @ (v * udw.T)
            self.udwr[g] = udw @ r

    def aggregates(self, rho: np.ndarray):
        """For draws rho (S,): dA (S, b), dAW (S, g, b) (sums over region b of the diagonals
        of A and A D_g W) and SA (S, b, a), SAW (S, g, b, a) (block sums r_b' A r_a and
        r_b' A D_g W r_a)."""
        rho = np.asarray(rho, dtype=float).reshape(-1)
        if self.dense is not None:
            return self._dense_aggregates(rho)
        f = 1.0 / (1.0 - rho[:, None] * self.lam[None, :])  # (S, N)
        d_a = np.real(f @ self.rp.T)
        d_aw = np.real(np.einsum("gbm,sm->sgb", self.rpg, f, optimize=True))
        s_a = np.real(np.einsum("bm,sm,ma->sba", self.rv, f, self.ur, optimize=True))
        s_aw = np.real(np.einsum("bm,sm,gma->sgba", self.rv, f, self.udwr, optimize=True))
        return d_a, d_aw, s_a, s_aw

    def _dense_aggregates(self, rho):
        m, r = self.dense, self.r
        n, g_count = m.shape[0], r.shape[1]
        d_a = np.empty((rho.size, g_count))
        d_aw = np.empty((rho.size, g_count, g_count))
        s_a = np.empty((rho.size, g_count, g_count))
        s_aw = np.empty((rho.size, g_count, g_count, g_count))
        for s, rs in enumerate(rho):
            a = np.linalg.inv(np.eye(n) - rs * m)
            d_a[s] = r.T @ np.diag(a)
            s_a[s] = r.T @ a @ r
            for g in range(g_count):
                adw = (a * r[:, g][None, :]) @ m
                d_aw[s, g] = r.T @ np.diag(adw)
                s_aw[s, g] = r.T @ adw @ r
        return d_a, d_aw, s_a, s_aw

    def effects(self, rho, beta, theta=None, perspective: str = "origin"):
        """Region effects and spillover matrices for draws.

        Parameters
        ----------
        rho : (S,) (zeros for SLX / error models: S_k = B_k + Theta_k W)
        beta, theta : (S, G, K) region coefficients (theta None for SAR / SEM)

        Returns
        -------
        effects : (S, G, 3, K) direct, indirect, total by region
        spill : (S, G_from, G_to, K), M[a -> b] = (1/N_b) sum_{i in b} sum_{j in a} S[i, j]
        """
        if perspective not in PERSPECTIVES:
            raise InputError(f"perspective must be one of {PERSPECTIVES}, got {perspective!r}")
        beta = np.asarray(beta, dtype=float)
        theta = np.zeros_like(beta) if theta is None else np.asarray(theta, dtype=float)
        d_a, d_aw, s_a, s_aw = self.aggregates(rho)
        n_b = self.sizes[None, :, None]
        direct = (beta * d_a[..., None] + np.einsum("sgk,sgb->sbk", theta, d_aw)) / n_b
        # block sums of S_k: [s, b, a, k] = beta_ak SA[b, a] + sum_g theta_gk SAW_g[b, a]
        blk = (beta[:, None, :, :] * s_a[..., None]
               + np.einsum("sgk,sgba->sbak", theta, s_aw, optimize=True))
        spill = np.transpose(blk / self.sizes[None, :, None, None], (0, 2, 1, 3))
        if perspective == "origin":
            total = blk.sum(axis=1) / n_b
        else:
            total = blk.sum(axis=2) / n_b
        return np.stack([direct, total - direct, total], axis=2), spill


def dense_regional_effects(rho: float, beta_units: np.ndarray, theta_units: np.ndarray | None,
                           w: np.ndarray, index: np.ndarray, perspective: str = "origin"):
    """Brute-force region effects and spillovers from the dense
    S_k = (I - rho W)^{-1} (diag(beta_k) + diag(theta_k) W) (reference for tests; O(N^3)).

    beta_units, theta_units : (N, K) per-unit coefficients; index : (N,) region of each unit.
    Returns (effects (G, 3, K), spill (G_from, G_to, K)).
    """
    n = w.shape[0]
    g_count = int(index.max()) + 1
    beta_units = np.atleast_2d(beta_units)
    k = beta_units.shape[1]
    theta_units = np.zeros_like(beta_units) if theta_units is None else theta_units
    inv = np.linalg.inv(np.eye(n) - rho * w)
    eff = np.empty((g_count, 3, k))
    spill = np.empty((g_count, g_count, k))
    for kk in range(k):
        s = inv @ (np.diag(beta_units[:, kk]) + np.diag(theta_units[:, kk]) @ w)
        for a in range(g_count):
            ia = index == a
            d = np.diag(s)[ia].mean()
            t = s[:, ia].sum() / ia.sum() if perspective == "origin" else s[ia].sum() / ia.sum()
            eff[a, :, kk] = (d, t - d, t)
            for b in range(g_count):
                ib = index == b
                spill[a, b, kk] = s[np.ix_(ib, ia)].sum() / ib.sum()
    return eff, spill


def _draws(post: xr.Dataset, name: str, dims: tuple[str, ...]) -> np.ndarray | None:
    if name not in post:
        return None
    return post[name].transpose("chain", "draw", *dims).values


def regional_effects_draws(rm: RegionalModel, post: xr.Dataset, perspective: str = "origin"):
    """Region effects (chain, draw, region, effect, coef), overall effects (chain, draw,
    effect, coef) and, for the full W, spillovers (chain, draw, from_region, to_region, coef)."""
    regs, k = rm.regions, rm.panel.K
    sname = rm.spatial_name
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    by_region = "region" in post["beta"].dims
    bdims = ("region", "coef") if by_region else ("coef",)
    beta = _draws(post, "beta", bdims)
    theta = _draws(post, "theta", bdims)
    if not by_region:
        beta = np.broadcast_to(beta[:, :, None, :], (nc, nd, regs.G, k))
        theta = None if theta is None else np.broadcast_to(theta[:, :, None, :],
                                                           (nc, nd, regs.G, k))
    rho = None
    if sname:
        rho = post[sname].values
        if rho.ndim == 2:
            rho = np.broadcast_to(rho[..., None], (nc, nd, regs.G))
        else:
            rho = post[sname].transpose("chain", "draw", "region").values
    spill = None
    if rm.regional_w == "block":
        eff = np.empty((nc, nd, regs.G, 3, k))
        for g, b in enumerate(rm.blocks):
            th = None if theta is None else theta[:, :, g]
            if sname and rm.spec_model in LAG_MODELS:
                eff[:, :, g] = lag_effects(rho[:, :, g], beta[:, :, g], th, b.logdet,
                                           b.w.row_standardized)
            else:
                eff[:, :, g] = local_effects(beta[:, :, g], th)
    else:
        dec = rm.decomposition()
        r = (rho[:, :, 0] if (sname and rm.spec_model in LAG_MODELS)
             else np.zeros((nc, nd))).reshape(-1)
        bb = beta.reshape(nc * nd, regs.G, k)
        tt = None if theta is None else theta.reshape(nc * nd, regs.G, k)
        eff_parts, sp_parts = [], []
        for lo in range(0, r.size, 1000):
            e, s = dec.effects(r[lo:lo + 1000], bb[lo:lo + 1000],
                               None if tt is None else tt[lo:lo + 1000], perspective)
            eff_parts.append(e)
            sp_parts.append(s)
        eff = np.concatenate(eff_parts).reshape(nc, nd, regs.G, 3, k)
        spill = np.concatenate(sp_parts).reshape(nc, nd, regs.G, regs.G, k)
    wts = regs.sizes / regs.sizes.sum()
    overall = np.einsum("cdgek,g->cdek", eff, wts)
    coords = {"chain": post["chain"].values, "draw": post["draw"].values,
              "region": list(regs.names), "effect": list(EFFECTS),
              "coef": list(rm.panel.x_names)}
    out = {
        "effects": xr.DataArray(eff, dims=("chain", "draw", "region", "effect", "coef"),
                                coords=coords),
        "effects_overall": xr.DataArray(overall, dims=("chain", "draw", "effect", "coef"),
                                        coords={c: coords[c] for c in
                                                ("chain", "draw", "effect", "coef")}),
    }
    if spill is not None:
        out["spillovers"] = xr.DataArray(
            spill, dims=("chain", "draw", "from_region", "to_region", "coef"),
            coords={"chain": coords["chain"], "draw": coords["draw"],
                    "from_region": list(regs.names), "to_region": list(regs.names),
                    "coef": list(rm.panel.x_names)})
    return out


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------
def _stack_regions(idatas: dict, names: Sequence[str]):
    """Stack independent per-region fits along a ``region`` dimension."""
    idx = pd.Index(list(names), name="region")
    groups = {}
    for grp in ("posterior", "sample_stats"):
        dss = [idatas[n][grp].to_dataset() for n in names if grp in idatas[n].children]
        if len(dss) != len(names):
            continue
        ds = xr.concat(dss, dim=idx, coords="minimal", compat="override",
                       join="override", combine_attrs="drop_conflicts")
        order = ["chain", "draw", "region"]
        groups[grp] = ds.transpose(*order, ...)
    return xr.DataTree.from_dict({k: xr.DataTree(v) for k, v in groups.items()})


@dataclass
class RegionalFit:
    """A fitted regional model: the ArviZ DataTree plus the model it came from."""

    idata: object
    regional_model: RegionalModel
    sampler: SamplerSpec
    perspective: str = "origin"
    timings: dict = field(default_factory=dict)

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    def effects_table(self, include_overall: bool = False) -> pd.DataFrame:
        return effects_table(self.idata, include_overall=include_overall)

    def summary_table(self) -> pd.DataFrame:
        return summary_table(self.idata)

    def contrasts_table(self, pairs: Sequence[tuple] | None = None) -> pd.DataFrame:
        return contrasts_table(self.idata, pairs)

    def spillovers_table(self) -> pd.DataFrame:
        return spillovers_table(self.idata)

    def diagnostics(self):
        from .diagnostics import diagnose

        post = self.idata["posterior"]
        names = [v for v in summary_vars(post) if v in post.data_vars] + ["effects"]
        return diagnose(self.idata, var_names=names)

    def save(self, path) -> None:
        from .io import save_fit

        save_fit(self.idata, path)


def fit_regional_model(rm: RegionalModel, sampler: SamplerSpec | None = None,
                       perspective: str = "origin", progressbar: bool = False) -> RegionalFit:
    """Sample a built :class:`RegionalModel` and attach effects (and spillovers)."""
    sampler = sampler or SamplerSpec()
    if perspective not in PERSPECTIVES:
        raise InputError(f"perspective must be one of {PERSPECTIVES}, got {perspective!r}")
    t0 = time.perf_counter()
    if rm.region_models is not None:
        fits = {}
        for g, (name, mdl) in enumerate(rm.region_models.items()):
            fits[name] = sample_nuts(mdl, sampler, sampler.seed + 7919 * g, progressbar)
        idata = _stack_regions(fits, rm.regions.names)
    else:
        idata = sample_nuts(rm.model, sampler, sampler.seed, progressbar)
    t1 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    if rm.marginalize:
        post = _draw_collapsed(rm, post, sampler.seed + 1)
    for k, v in regional_effects_draws(rm, post, perspective).items():
        post[k] = v
    idata["posterior"] = xr.DataTree(post)
    idata.attrs.update(rm.attrs())
    idata.attrs["perspective"] = perspective
    idata.attrs["target_accept"] = str(sampler.target_accept)
    t2 = time.perf_counter()
    return RegionalFit(idata, rm, sampler, perspective,
                       {"sample_s": t1 - t0, "effects_s": t2 - t1})


def fit_regional(
    panel: Panel,
    w: SpatialWeights,
    regions,
    *,
    sampler: SamplerSpec | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    nuts_sampler: str | None = None,
    perspective: str = "origin",
    progressbar: bool = False,
    target_accept: float | None = None,
    **model_kw,
) -> RegionalFit:
    """Build and sample a regional model: ``model_kw`` (``model``, ``fe``, ``pooling``,
    ``regional_w``, ``priors``, ``hyper``, ``tau``, ...) go to :func:`build_regional_model`.

    ``sampler`` (a :class:`~bayes_sdm.spec.SamplerSpec`) gives the NUTS settings; ``draws``,
    ``tune``, ``chains``, ``seed``, ``nuts_sampler`` and ``target_accept`` override its
    fields.  With partial pooling and no explicit ``target_accept``, at least
    :data:`PARTIAL_TARGET_ACCEPT` (0.95) is used: the group scales of few regions leave an
    occasional divergence (0-4 per 4000 draws on the study panels) at 0.9 and none at 0.95,
    for ~20% more gradient evaluations.
    """
    t0 = time.perf_counter()
    rm = build_regional_model(panel, w, regions, **model_kw)
    t1 = time.perf_counter()
    s = SamplerSpec(**(sampler.__dict__ if sampler else {}))
    for name, v in (("draws", draws), ("tune", tune), ("chains", chains), ("seed", seed),
                    ("nuts_sampler", nuts_sampler), ("target_accept", target_accept)):
        if v is not None:
            setattr(s, name, v)
    if target_accept is None and rm.pooling == "partial":
        s.target_accept = max(s.target_accept, PARTIAL_TARGET_ACCEPT)
    if not 0.5 <= s.target_accept < 1:
        raise InputError(f"target_accept must be in [0.5, 1), got {s.target_accept}")
    for name in ("draws", "tune", "chains"):
        v = getattr(s, name)
        if not isinstance(v, int) or v < (0 if name == "tune" else 1):
            raise InputError(f"sampler.{name} must be a positive integer, got {v!r}")
    res = fit_regional_model(rm, s, perspective, progressbar)
    res.timings["build_s"] = t1 - t0
    res.timings["total_s"] = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
SUMMARY_COLUMNS = ["parameter", "region", "mean", "sd", "hdi_3%", "hdi_97%", "r_hat",
                   "ess_bulk", "ess_tail"]
EFFECTS_COLUMNS = ["region", "variable", "effect", "mean", "sd", "hdi_3%", "hdi_97%",
                   "prob_positive"]
CONTRAST_COLUMNS = ["variable", "effect", "contrast", "mean", "sd", "hdi_3%", "hdi_97%",
                    "prob_positive"]
SPILLOVER_COLUMNS = ["variable", "from_region", "to_region", "mean", "sd", "hdi_3%", "hdi_97%"]


def summary_vars(post) -> list[str]:
    """Parameters reported by :func:`summary_table`, in order (non-centring internals and
    logit-scale locations are left out; ``rho_tau`` is on the logit scale, ``sigma_tau`` on the
    log scale)."""
    out = []
    for s in ("rho", "lambda"):
        out += [s, f"{s}_mean", f"{s}_tau"]
    out += ["beta", "beta_mean", "beta_tau", "theta", "theta_mean", "theta_tau", "sigma2",
            "sigma_mean", "sigma_tau"]
    return [v for v in out if v in post.data_vars]


def _hdi(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    import arviz as az

    h = az.hdi(da.to_dataset(name="v"), prob=HDI_PROB)["v"]
    return h.sel(ci_bound="lower").values, h.sel(ci_bound="upper").values


def _describe(da: xr.DataArray) -> dict[str, np.ndarray]:
    """mean, sd, HDI and P(> 0) over (chain, draw), other dims kept (in their order)."""
    other = [d for d in da.dims if d not in ("chain", "draw")]
    da = da.transpose("chain", "draw", *other)
    lo, hi = _hdi(da)
    v = da.values
    flat = v.reshape(-1, *v.shape[2:])
    return {"mean": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1), "hdi_3%": lo,
            "hdi_97%": hi, "prob_positive": (flat > 0).mean(axis=0)}


def summary_table(idata) -> pd.DataFrame:
    """parameter, region ('' for pooled / hyper parameters), mean, sd, hdi_3%, hdi_97%, r_hat,
    ess_bulk, ess_tail -- one row per scalar parameter (the regional ``summary.csv``)."""
    import arviz as az

    post = idata["posterior"].to_dataset()
    names = summary_vars(post)
    ds = post[names]
    rhat = az.rhat(ds)
    essb = az.ess(ds)
    esst = az.ess(ds, method="tail")
    rows = []
    for v in names:
        da = ds[v]
        d = _describe(da)
        other = [x for x in da.dims if x not in ("chain", "draw")]
        r = rhat[v].transpose(*other).values
        eb = essb[v].transpose(*other).values
        et = esst[v].transpose(*other).values
        for idx in np.ndindex(*[da.sizes[x] for x in other]):
            lab = {x: str(da.coords[x].values[i]) for x, i in zip(other, idx, strict=True)}
            par = v + (f"[{lab['coef']}]" if "coef" in lab else "")
            rows.append({"parameter": par, "region": lab.get("region", ""),
                         "mean": float(d["mean"][idx]), "sd": float(d["sd"][idx]),
                         "hdi_3%": float(d["hdi_3%"][idx]), "hdi_97%": float(d["hdi_97%"][idx]),
                         "r_hat": float(r[idx]), "ess_bulk": float(eb[idx]),
                         "ess_tail": float(et[idx])})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def effects_table(idata, include_overall: bool = False) -> pd.DataFrame:
    """region, variable, effect, mean, sd, hdi_3%, hdi_97%, prob_positive (94% HDIs).

    With ``include_overall`` the N-weighted whole-sample effects are added with region ''."""
    post = idata["posterior"]
    da = post["effects"].transpose("chain", "draw", "region", "coef", "effect")
    d = _describe(da)
    rows = []
    for i, reg in enumerate(da.coords["region"].values):
        for j, coef in enumerate(da.coords["coef"].values):
            for k, eff in enumerate(da.coords["effect"].values):
                rows.append({"region": str(reg), "variable": str(coef), "effect": str(eff),
                             **{c: float(d[c][i, j, k]) for c in EFFECTS_COLUMNS[3:]}})
    if include_overall and "effects_overall" in post.data_vars:
        da = post["effects_overall"].transpose("chain", "draw", "coef", "effect")
        d = _describe(da)
        for j, coef in enumerate(da.coords["coef"].values):
            for k, eff in enumerate(da.coords["effect"].values):
                rows.append({"region": "", "variable": str(coef), "effect": str(eff),
                             **{c: float(d[c][j, k]) for c in EFFECTS_COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=EFFECTS_COLUMNS)


def region_pairs(names: Sequence[str], pairs: Sequence[tuple] | None = None) -> list[tuple]:
    """All pairs (a, b), a before b in region order, or the given pairs checked."""
    if pairs is None:
        return list(combinations(names, 2))
    out = []
    for p in pairs:
        if isinstance(p, str):
            parts = [s.strip() for s in p.split("-")]
            if len(parts) != 2:
                raise InputError(f"a contrast is 'a - b', got {p!r}")
            p = tuple(parts)
        a, b = (_label(x) for x in p)
        for r in (a, b):
            if r not in names:
                raise InputError(f"region {r!r} does not exist; regions: {list(names)}")
        if a == b:
            raise InputError(f"contrast of region {a!r} with itself")
        out.append((a, b))
    return out


def contrast_draws(idata, pairs: Sequence[tuple] | None = None) -> xr.DataArray:
    """Posterior draws of effects[a] - effects[b], dims (chain, draw, contrast, effect, coef)."""
    eff = idata["posterior"]["effects"]
    names = [str(r) for r in eff.coords["region"].values]
    prs = region_pairs(names, pairs)
    parts = [eff.sel(region=a) - eff.sel(region=b) for a, b in prs]
    out = xr.concat(parts, dim=pd.Index([f"{a} - {b}" for a, b in prs], name="contrast"),
                    coords="minimal", compat="override")
    return out.transpose("chain", "draw", "contrast", "effect", "coef")


def contrasts_table(idata, pairs: Sequence[tuple] | None = None) -> pd.DataFrame:
    """variable, effect, contrast ('a - b'), mean, sd, hdi_3%, hdi_97%, prob_positive."""
    da = contrast_draws(idata, pairs).transpose("chain", "draw", "coef", "effect", "contrast")
    d = _describe(da)
    rows = []
    for j, coef in enumerate(da.coords["coef"].values):
        for k, eff in enumerate(da.coords["effect"].values):
            for i, con in enumerate(da.coords["contrast"].values):
                rows.append({"variable": str(coef), "effect": str(eff), "contrast": str(con),
                             **{c: float(d[c][j, k, i]) for c in CONTRAST_COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=CONTRAST_COLUMNS)


def spillovers_table(idata) -> pd.DataFrame:
    """variable, from_region, to_region, mean, sd, hdi_3%, hdi_97% (full W only; empty for the
    block W, where there are no spillovers across regions)."""
    post = idata["posterior"]
    if "spillovers" not in post.data_vars:
        return pd.DataFrame(columns=SPILLOVER_COLUMNS)
    da = post["spillovers"].transpose("chain", "draw", "coef", "from_region", "to_region")
    d = _describe(da)
    rows = []
    for j, coef in enumerate(da.coords["coef"].values):
        for a, fr in enumerate(da.coords["from_region"].values):
            for b, to in enumerate(da.coords["to_region"].values):
                rows.append({"variable": str(coef), "from_region": str(fr), "to_region": str(to),
                             **{c: float(d[c][j, a, b]) for c in SPILLOVER_COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=SPILLOVER_COLUMNS)
