"""Tables from fits (returned as DataFrames; nothing prints here except :func:`format_table`).

Parameter rows are named ``rho`` (``lambda`` for error models), ``sigma2``, ``beta[<x>]``,
``theta[<x>]``; effects rows are (variable, effect) with effect in direct | indirect | total.
Regional fits (a ``region`` dim) add a ``region`` column, region contrasts and, with the full
W, the region-to-region spillovers.  Intervals are 94% highest-density intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from itertools import combinations

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError
from .regional.regions import label

PARAMETER_VARS = ("rho", "lambda", "intercept", "beta", "theta", "phi", "sigma2", "sigma2_mu")
#: the probability of every interval the package reports (tables, figures, reports)
HDI_PROB = 0.94


@contextmanager
def arviz_defaults():
    """ArviZ with the package's intervals (94% highest-density) inside a ``with`` block:
    ``arviz_base.rc_context`` sets ``stats.ci_prob`` and ``stats.ci_kind`` and restores the
    user's settings on exit (nothing is changed globally; ArviZ 1.x's own default is an 89%
    equal-tailed interval)."""
    from .arviz_light import import_arviz_base

    with import_arviz_base().rc_context(rc={"stats.ci_prob": HDI_PROB, "stats.ci_kind": "hdi"}):
        yield


#: the columns of :func:`flat_summary` after ``parameter`` (ArviZ's summary columns)
SUMMARY_STATS = ("mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat",
                 "mcse_mean", "mcse_sd")


def flat_summary(idata, var_names, tail_prob: float | None = None) -> pd.DataFrame:
    """ArviZ's summary (unrounded, 94% HDI), one row per scalar parameter with its flat name
    (``beta[x]``, ``effects[direct, x]``): parameter, mean, sd, hdi_3%, hdi_97%, ess_bulk,
    ess_tail, r_hat, mcse_mean, mcse_sd -- the numbers of ``arviz_stats``' ``hdi``, ``ess``,
    ``rhat`` and ``mcse``, computed by :mod:`bayes_sdm.convergence` without importing
    ``arviz_stats`` (whose ``summary`` of arviz-stats 1.3 also puts the rows of a variable with
    two or more dims, such as ``effects``, under the wrong labels).

    ``tail_prob``: where the tail ESS is taken (default: ArviZ's ``stats.ci_prob``, as
    ``arviz_stats.summary``)."""
    from .convergence import default_tail_prob, describe, scalar_draws

    post = idata["posterior"]
    tail_prob = default_tail_prob() if tail_prob is None else tail_prob
    rows = []
    for v in var_names:
        for name, x in scalar_draws(post[v]):
            d = describe(x, HDI_PROB, tail_prob)
            rows.append({"parameter": name, "mean": d["mean"], "sd": d["sd"],
                         "hdi_3%": d["hdi_lb"], "hdi_97%": d["hdi_ub"],
                         **{k: d[k] for k in SUMMARY_STATS[4:]}})
    return pd.DataFrame(rows, columns=["parameter", *SUMMARY_STATS])


def is_regional(idata) -> bool:
    """Whether a fit is regional (its effects have a ``region`` dim)."""
    post = idata["posterior"]
    return "effects" in post.data_vars and "region" in post["effects"].dims


def summary_table(idata, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per scalar parameter: parameter, mean, sd, hdi_3%, hdi_97%, r_hat, ess_bulk,
    ess_tail (the ``summary.csv`` format); regional fits add a ``region`` column
    (:func:`regional_summary_table`).

    ``summary``: a :func:`flat_summary` of the same fit already computed for these parameters
    and maybe more (``Diagnostics.summary``); its rows are used instead of a second pass."""
    if is_regional(idata):
        return regional_summary_table(idata)
    post = idata["posterior"]
    names = [v for v in PARAMETER_VARS if v in post.data_vars]
    var = None if summary is None else summary["parameter"].str.split("[", n=1).str[0]
    if var is not None and set(names) <= set(var):
        s = summary[var.isin(names).to_numpy()].reset_index(drop=True)
    else:
        s = flat_summary(idata, names)
    cols = ["parameter", "mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk", "ess_tail"]
    return s[cols]


def effects_table(idata, var: str = "effects") -> pd.DataFrame:
    """variable, effect, mean, sd, hdi_3%, hdi_97%, prob_positive (the ``effects.csv`` format);
    regional fits add a ``region`` column (:func:`regional_effects_table`)."""
    from .convergence import hdi

    if var == "effects" and is_regional(idata):
        return regional_effects_table(idata)
    da = idata["posterior"][var]
    if "horizon" in da.dims:
        return horizon_effects_table(da)
    rows = []
    for coef in da.coords["coef"].values:
        for eff in da.coords["effect"].values:
            x = da.sel(effect=eff, coef=coef).values.ravel()
            h = hdi(x, HDI_PROB)
            rows.append({"variable": str(coef), "effect": str(eff), "mean": float(x.mean()),
                         "sd": float(x.std(ddof=1)), "hdi_3%": float(h[0]),
                         "hdi_97%": float(h[1]), "prob_positive": float((x > 0).mean())})
    return pd.DataFrame(rows)


def horizon_effects_table(da) -> pd.DataFrame:
    """horizon, variable, effect, mean, sd, hdi_3%, hdi_97%, prob_positive of a dynamic fit's
    short- and long-run effects (:mod:`bayes_sdm.dynamic`); long-run draws are NaN where a draw
    is not stationary, so the moments skip them."""
    from .ml import hdi_interval

    rows = []
    for h in da.coords["horizon"].values:
        for coef in da.coords["coef"].values:
            for eff in da.coords["effect"].values:
                x = da.sel(horizon=h, coef=coef, effect=eff).values.ravel()
                lo, hi = hdi_interval(x, HDI_PROB)
                rows.append({"horizon": str(h), "variable": str(coef), "effect": str(eff),
                             "mean": float(np.nanmean(x)), "sd": float(np.nanstd(x, ddof=1)),
                             "hdi_3%": lo, "hdi_97%": hi,
                             "prob_positive": float(np.mean(x > 0))})
    return pd.DataFrame(rows)


def format_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A plain-text table for the terminal."""
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        return df.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}"
                            if np.isfinite(v) else "nan")


# ----------------------------------------------------------------------------- regional
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
    out += ["beta", "beta_mean", "beta_tau", "theta", "theta_mean", "theta_tau", "intercept",
            "sigma2",
            "sigma_mean", "sigma_tau"]
    return [v for v in out if v in post.data_vars]


def _hdi(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """94% HDI bounds of a (chain, draw, ...) DataArray, per element of the other dims."""
    from .convergence import hdi

    v = da.values
    lo, hi = np.empty(v.shape[2:]), np.empty(v.shape[2:])
    for idx in np.ndindex(*v.shape[2:]):
        lo[idx], hi[idx] = hdi(v[(slice(None), slice(None), *idx)], HDI_PROB)
    return lo, hi


def _describe(da: xr.DataArray) -> dict[str, np.ndarray]:
    """mean, sd, HDI and P(> 0) over (chain, draw), other dims kept (in their order)."""
    other = [d for d in da.dims if d not in ("chain", "draw")]
    da = da.transpose("chain", "draw", *other)
    lo, hi = _hdi(da)
    v = da.values
    flat = v.reshape(-1, *v.shape[2:])
    return {"mean": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1), "hdi_3%": lo,
            "hdi_97%": hi, "prob_positive": (flat > 0).mean(axis=0)}


def regional_summary_table(idata) -> pd.DataFrame:
    """parameter, region ('' for pooled / hyper parameters), mean, sd, hdi_3%, hdi_97%, r_hat,
    ess_bulk, ess_tail -- one row per scalar parameter (the regional ``summary.csv``)."""
    from .convergence import default_tail_prob, ess_bulk, ess_tail, rhat

    post = idata["posterior"].to_dataset()
    names = summary_vars(post)
    ds = post[names]
    tail_prob = default_tail_prob()
    rows = []
    for v in names:
        da = ds[v]
        d = _describe(da)
        other = [x for x in da.dims if x not in ("chain", "draw")]
        x = da.transpose(*other, "chain", "draw").values
        for idx in np.ndindex(*x.shape[:-2]):
            lab = {o: str(da.coords[o].values[i]) for o, i in zip(other, idx, strict=True)}
            par = v + (f"[{lab['coef']}]" if "coef" in lab else "")
            rows.append({"parameter": par, "region": lab.get("region", ""),
                         "mean": float(d["mean"][idx]), "sd": float(d["sd"][idx]),
                         "hdi_3%": float(d["hdi_3%"][idx]), "hdi_97%": float(d["hdi_97%"][idx]),
                         "r_hat": float(rhat(x[idx])), "ess_bulk": float(ess_bulk(x[idx])),
                         "ess_tail": float(ess_tail(x[idx], tail_prob))})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def regional_effects_table(idata, include_overall: bool = False) -> pd.DataFrame:
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
        a, b = (label(x) for x in p)
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
