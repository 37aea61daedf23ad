"""The regional structure of a prepared model: regions, likelihood blocks, pooled statistics.

Numbers only (no PyMC): :func:`prepare_regional` turns a panel, W and per-unit regions into a
:class:`RegionalData` -- one likelihood block per region under the block W (each region's own
W, transform, sufficient statistics and log-determinant) or one block for the whole panel under
the full W (with the regressors expanded to [D_g X, D_g WX] for region-specific coefficients,
:func:`expand_panel`).  :mod:`bayes_sdm.regional.model` builds the PyMC model from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .. import families
from ..design import transformed_columns
from ..errors import InputError
from ..families import Family
from ..likelihood import (
    FETerms,
    SufficientStats,
    check_design,
    jacobian,
    profile_lag,
    sufficient_stats,
)
from ..logdet import LogDet, block_logdet
from ..panel import Panel, check_not_absorbed
from ..prepared import build
from ..weights import SpatialWeights
from . import PERSPECTIVES, POOLINGS, REGIONAL_W  # noqa: F401 - re-exported
from .regions import Regions, align, check_block_neighbours, make_regions


@dataclass
class Block:
    """One likelihood block: a region (block W) or the whole panel (full W).

    ``positions`` are the block's units in the full panel's unit order; ``stats`` are the
    sufficient statistics the likelihood uses and ``lik_family`` the family passed to
    :func:`~bayes_sdm.likelihood.loglik` with them (for the full W with regional coefficients:
    the panel expanded to the regressors [D_g X, D_g WX] and the family without its own WX
    terms, :attr:`~bayes_sdm.families.Family.restricted`).
    """

    name: str
    positions: np.ndarray
    panel: Panel
    w: SpatialWeights
    stats: SufficientStats
    logdet: LogDet | None
    lik_family: Family


@dataclass
class RegionalData:
    """The regional structure of a prepared model (see the module docstring)."""

    panel: Panel
    w: SpatialWeights
    regions: Regions
    blocks: list[Block]
    pooled_stats: SufficientStats
    family: Family
    fe: str
    pooling: str
    regional_w: str
    correction: str
    lag_convention: str
    _decomp: object = field(default=None, repr=False)

    @property
    def spatial_name(self) -> str | None:
        return self.family.spatial

    def attrs(self) -> dict[str, str]:
        return {
            "pooling": self.pooling,
            "regional_w": self.regional_w,
            "regions": json.dumps(list(self.regions.names)),
            "region_sizes": json.dumps([int(s) for s in self.regions.sizes]),
            "region_of_unit": json.dumps({str(u): self.regions.names[g] for u, g in
                                          zip(self.regions.units, self.regions.index,
                                              strict=True)}),
            "model": self.family.name,
            "fe": self.fe,
            "N": str(self.panel.N),
            "T": str(self.panel.T),
        }


def _prep_region(panel, w, family, fe, correction, lag_convention, name):
    try:
        return build(panel, w, family, fe, correction=correction, lag_convention=lag_convention)
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
    lay = s0.layout
    z = np.concatenate([transformed_columns(b.panel, b.w, fe, lag_convention, lay)
                        .reshape(-1, gram.shape[0]) for b in blocks])
    sd = z.std(axis=0)
    return SufficientStats(gram=gram, x_names=s0.x_names, N=sum(b.panel.N for b in blocks),
                           T=s0.T, terms=terms, lag_convention=lag_convention,
                           y_sd=float(sd[lay.index("y")]), x_sd=sd[lay.slice("X")],
                           wx_sd=sd[lay.slice("WX")], layout=lay)


def pooled_block_logdet(blocks: list[Block]) -> LogDet:
    """log|I - rho W_block| of the block-diagonal W: the exact eigenvalue method of the
    concatenated spectrum when every region has its eigenvalues, else the sum of the regions'
    methods (:func:`bayes_sdm.logdet.block_logdet`)."""
    return block_logdet([b.logdet for b in blocks])


def expand_panel(panel: Panel, w: SpatialWeights, regs: Regions,
                 family: Family | str) -> Panel:
    """The panel with regional regressors: D_g X (``"<region>:<x>"``, region-major) and, for
    Durbin families, D_g WX (``"<region>:W<x>"``).

    D_g selects region g's units of the raw data and the lag WX is formed from the raw data,
    so every column is transformed afterwards (lag first, then demean).  With theta_g on
    D_g WX each unit's equation has its own region's coefficients,
    y_i = rho (Wy)_i + x_i beta_g(i) + (Wx)_i theta_g(i) + ..., i.e. S_k = (I - rho W)^{-1}
    (diag(beta_k(i)) + diag(theta_k(i)) W) (the heterogeneous-coefficient SDM of LeSage &
    Chih 2016; :func:`bayes_sdm.simulate.simulate_y` with per-unit coefficients).
    """
    family = families.get(family)
    r = regs.indicator()
    cols = [panel.X]
    names = [tuple(f"{g}:{x}" for g in regs.names for x in panel.x_names)]
    if family.durbin:
        cols.append(w.lag(panel.X))
        names.append(tuple(f"{g}:W{x}" for g in regs.names for x in panel.x_names))
    xe = np.concatenate([np.einsum("tnk,ng->tngk", c, r).reshape(panel.T, panel.N, -1)
                         for c in cols], axis=2)
    return Panel(panel.y, xe, panel.units, panel.times, panel.y_name, sum(names, ()),
                 panel.unit_info)


def check_options(family: Family, pooling: str, regional_w: str) -> None:
    if not family.bayesian or len(family.spatial_params) > 1:
        ok = [f.name for f in families.FAMILIES if f.bayesian and len(f.spatial_params) < 2]
        raise InputError(f"no regional {family.name!r} model; choose from {ok}")
    if pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}; choose from {POOLINGS}")
    if regional_w not in REGIONAL_W:
        raise InputError(f"unknown regional W {regional_w!r}; choose from {REGIONAL_W}")


def prepare_regional(panel: Panel, w: SpatialWeights, regions, family: Family | str = "sdm",
                     fe: str = "twoway", pooling: str = "partial", regional_w: str = "block",
                     correction: str = "transform", lag_convention: str = "QWy",
                     region_order=None) -> RegionalData:
    """Validate the regions and precompute the likelihood blocks (module docstring).

    Parameters
    ----------
    panel, w : the panel and the full weight matrix (units aligned by id)
    regions : per-unit region labels (see :func:`~bayes_sdm.regional.regions.make_regions`)
    family : the model family (SDM, SAR, SEM, SDEM, SLX)
    fe : fixed effects; with a block W they are region-specific
    pooling : ``partial`` | ``none`` | ``complete``
    regional_w : ``block`` (each region's own W) | ``full`` (spillovers across regions kept)
    region_order : reporting order of the regions (default sorted)

    Raises
    ------
    InputError
        bad options; region labels missing / unknown; a region with fewer than 2 units; under
        the block W, a unit without a neighbour inside its region; a regressor absorbed by the
        (regional) fixed effects.
    """
    family = families.get(family)
    check_options(family, pooling, regional_w)
    panel = align(panel, w)
    regs = make_regions(panel, regions, order=region_order)
    blocks: list[Block] = []
    if regional_w == "block":
        check_block_neighbours(w, regs)
        for g, name in enumerate(regs.names):
            ids = regs.members(g)
            p = _prep_region(panel.subset_units(ids), w.subset(ids), family, fe, correction,
                             lag_convention, name)
            blocks.append(Block(name, regs.positions(g), p.panel, p.w, p.stats, p.logdet,
                                family))
        pooled = _pooled_block_stats(blocks, fe, lag_convention)
    else:
        full = build(panel, w, family, fe, correction=correction, lag_convention=lag_convention)
        pooled = full.stats
        if pooling == "complete":
            blocks.append(Block("all", np.arange(panel.N), full.panel, full.w, full.stats,
                                full.logdet, family))
        else:
            if lag_convention != "QWy" and fe not in ("unit", "none"):
                raise InputError("the full-W regional model forms D_g X and D_g WX from the "
                                 "raw data (lag first, then demean): use lag_convention='QWy' "
                                 f"with fe={fe!r}")
            pe = expand_panel(full.panel, full.w, regs, family)
            check_not_absorbed(pe, fe)
            st = sufficient_stats(pe, full.w, fe, correction=correction,
                                  lag_convention="QWy")
            check_design(st, family.restricted)
            blocks.append(Block("all", np.arange(panel.N), pe, full.w, st, full.logdet,
                                family.restricted))
    return RegionalData(panel, w, regs, blocks, pooled, family, fe, pooling, regional_w,
                        correction, lag_convention)


def quick_estimates(stats: SufficientStats, logdet: LogDet | None, family: Family,
                    n_grid: int = 801) -> dict:
    """Profile ML on a grid of rho (Anselin 1988; :func:`~bayes_sdm.likelihood.profile_lag`):
    rho, its curvature standard error, the coefficients and their standard errors at rho, and
    sigma^2.  Used only to choose the partial centring of the hierarchy; error models use
    rho = 0 (OLS of y on X, WX)."""
    reg = family if family.lag else families.by_flags(False, False, family.durbin)
    n_eff = stats.terms.n_eff
    if family.lag and logdet is not None:
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




def scale_refs(stats: SufficientStats):
    ysd = max(stats.y_sd, 1e-12)
    return (ysd, ysd / np.maximum(stats.x_sd, 1e-12), ysd / np.maximum(stats.wx_sd, 1e-12))
