"""ML estimates beside the posterior: the ``comparison.csv`` table.

For every parameter and effect: the ML estimate and its standard error (:mod:`bayes_sdm.ml`)
next to the posterior mean, sd and 94% HDI, with the standardised difference
(ML - posterior mean) / posterior sd.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError
from .ml import HDI_PROB, MLResult, hdi_interval


def _posterior_dataset(idata):
    post = None
    for getter in (lambda d: d["posterior"], lambda d: d.posterior):
        try:
            post = getter(idata)
            break
        except (KeyError, AttributeError, TypeError):
            continue
    if post is None:
        raise InputError("idata has no posterior group")
    if hasattr(post, "to_dataset"):
        post = post.to_dataset()
    return post


def _draws(post, var: str, **sel):
    if var not in post:
        return None
    da = post[var]
    for dim, val in sel.items():
        if dim not in da.dims:
            return None
        if val not in list(da[dim].values):
            return None
        da = da.sel({dim: val})
    return np.asarray(da.values, dtype=float).ravel()


def comparison_table(ml_result: MLResult, idata, effects_method: str = "delta",
                     prob: float = HDI_PROB, draws: int = 2000, seed: int | None = 0
                     ) -> pd.DataFrame:
    """ML estimate +/- SE next to the posterior mean +/- sd and HDI, for every parameter and
    effect, with the standardised difference (ML - posterior mean) / posterior sd.

    Parameters
    ----------
    ml_result : an :class:`MLResult`
    idata : the posterior (ArviZ DataTree or anything with a ``posterior`` group) with variables
        ``rho`` / ``lambda``, ``beta`` (dim ``coef``), ``theta`` (dim ``coef``), ``sigma2`` and
        ``effects`` (dims ``effect``, ``coef``)
    effects_method : how the ML effects' SEs are computed (see :meth:`MLResult.effects`)

    Returns
    -------
    pd.DataFrame with columns kind (parameter | effect), parameter, variable, effect,
    ml_estimate, ml_se, post_mean, post_sd, hdi_3%, hdi_97%, std_diff.  Rows whose parameter is
    missing from the posterior have NaN posterior columns.
    """
    post = _posterior_dataset(idata)
    lab_lo = f"hdi_{100 * (1 - prob) / 2:g}%"
    lab_hi = f"hdi_{100 * (1 + prob) / 2:g}%"
    rows = []

    def add(kind, pname, var, eff, est, se, x):
        if x is None or x.size == 0:
            m = sdv = lo = hi = np.nan
        else:
            m, sdv = float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else np.nan
            lo, hi = hdi_interval(x, prob)
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = (est - m) / sdv if sdv and np.isfinite(sdv) and sdv > 0 else np.nan
        rows.append({"kind": kind, "parameter": pname, "variable": var, "effect": eff,
                     "ml_estimate": est, "ml_se": se, "post_mean": m, "post_sd": sdv,
                     lab_lo: lo, lab_hi: hi, "std_diff": diff})

    for pname in ml_result.params.index:
        est, se = float(ml_result.params[pname]), float(ml_result.se[pname])
        if "[" in pname:
            var = pname[pname.index("[") + 1:-1]
            base = pname[:pname.index("[")]
            x = _draws(post, base, coef=var)
        else:
            var = ""
            x = _draws(post, pname)
        add("parameter", pname, var, "", est, se, x)
    eff = ml_result.effects(method=effects_method, draws=draws, seed=seed, prob=prob)
    for r in eff.itertuples(index=False):
        x = _draws(post, "effects", effect=r.effect, coef=r.variable)
        add("effect", f"{r.effect}[{r.variable}]", r.variable, r.effect, float(r.mean),
            float(r.se), x)
    return pd.DataFrame(rows)
