"""Tables from fits (returned as DataFrames; nothing prints here except :func:`format_table`).

Parameter rows are named ``rho`` (``lambda`` for error models), ``sigma2``, ``beta[<x>]``,
``theta[<x>]``; effects rows are (variable, effect) with effect in direct | indirect | total.
Intervals are 94% highest-density intervals (ArviZ's default probability).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PARAMETER_VARS = ("rho", "lambda", "beta", "theta", "sigma2")
HDI_PROB = 0.94


def flat_summary(idata, var_names) -> pd.DataFrame:
    """ArviZ summary (unrounded, 94% HDI) with a ``parameter`` column of flat names."""
    import arviz as az

    s = az.summary(idata, var_names=list(var_names), ci_kind="hdi", ci_prob=HDI_PROB,
                   round_to="none")
    s = pd.DataFrame(s).rename(columns={"hdi94_lb": "hdi_3%", "hdi94_ub": "hdi_97%"})
    s.insert(0, "parameter", [str(i) for i in s.index])
    return s.reset_index(drop=True)


def summary_table(idata, model: str | None = None) -> pd.DataFrame:
    """One row per scalar parameter: parameter, mean, sd, hdi_3%, hdi_97%, r_hat, ess_bulk,
    ess_tail (the ``summary.csv`` format)."""
    post = idata["posterior"]
    names = [v for v in PARAMETER_VARS if v in post.data_vars]
    s = flat_summary(idata, names)
    cols = ["parameter", "mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk", "ess_tail"]
    return s[cols]


def effects_table(idata, var: str = "effects") -> pd.DataFrame:
    """variable, effect, mean, sd, hdi_3%, hdi_97%, prob_positive (the ``effects.csv`` format)."""
    import arviz as az

    da = idata["posterior"][var]
    hdi = az.hdi(idata, var_names=[var], prob=HDI_PROB)[var]
    rows = []
    for coef in da.coords["coef"].values:
        for eff in da.coords["effect"].values:
            x = da.sel(effect=eff, coef=coef).values.ravel()
            h = hdi.sel(effect=eff, coef=coef).values
            rows.append({"variable": str(coef), "effect": str(eff), "mean": float(x.mean()),
                         "sd": float(x.std(ddof=1)), "hdi_3%": float(h[0]),
                         "hdi_97%": float(h[1]), "prob_positive": float((x > 0).mean())})
    return pd.DataFrame(rows)


def format_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A plain-text table for the terminal."""
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        return df.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}"
                            if np.isfinite(v) else "nan")
