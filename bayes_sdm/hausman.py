"""The spatial Hausman test of fixed against random unit effects.

Mutl & Pfaffermayr (2011, "The Hausman test in a Cliff and Ord panel model", Econometrics
Journal 14:48-76) and Lee & Yu (2012, "Spatial panel models", in The Oxford Handbook of Panel
Data) give the Hausman (1978) contrast for spatial panels: under H0 (the unit effects are
uncorrelated with the regressors) both the FE and the RE estimators are consistent and RE is
efficient, so

    H = d' (V_FE - V_RE)^-1 d,   d = beta_FE - beta_RE,   H ~ chi2(k) under H0,

over the k slope coefficients the two models share (not the intercept, which FE does not
identify, nor the spatial parameter).  The convention is splm's ``sphtest`` with
``method="ML"`` (Millo & Piras 2012, J. Stat. Software 47(1), sec. 5), which xsmle's
``hausman`` option mirrors:

* FE: unit fixed effects, the direct approach (``correction="none"``: NT observations,
  T log|I - rho W|), V_FE the coefficients' block of the inverse information matrix;
* RE: :func:`bayes_sdm.random_effects.fit_re`, V_RE the GLS covariance sigma^2 (R*'R*)^-1 of the
  coefficients *given* (rho|lambda, phi) -- the inverse of the coefficients' block of the
  information matrix;
* V_FE - V_RE need not be positive definite in a finite sample; then the quadratic form can be
  negative and, like ``sphtest``, the statistic is its absolute value
  (``v_diff_positive_definite`` says which case occurred).
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc  # the chi-squared survival function (no scipy.stats import)

from . import families
from .errors import InputError
from .families import Family
from .ml import MLResult
from .random_effects import REResult, fit_re


def hausman_test(fe_res: MLResult, re_res: REResult) -> dict:
    """The Hausman statistic of an FE and an RE fit of the same family and data (module
    docstring); a JSON-ready dict with statistic, df, p_value and the conventions."""
    if fe_res.family is not re_res.family:
        raise InputError(f"Hausman test: the FE fit is {fe_res.model}, the RE fit "
                         f"{re_res.model}; fit the same family")
    if fe_res.fe == "random" or not isinstance(re_res, REResult):
        raise InputError("Hausman test: pass a fixed-effects fit and a random-effects fit")
    names = [n for n in re_res.params.index if n.startswith(("beta[", "theta["))
             and n in fe_res.params.index]
    if not names:
        raise InputError("Hausman test: the two fits share no slope coefficient")
    d = fe_res.params[names].to_numpy(float) - re_res.params[names].to_numpy(float)
    v_fe = fe_res.cov.loc[names, names].to_numpy(float)
    v_re = re_res.conditional_cov().loc[names, names].to_numpy(float)
    v = v_fe - v_re
    try:
        q = float(d @ np.linalg.solve(v, d))
    except np.linalg.LinAlgError:
        raise InputError("Hausman test: V_FE - V_RE is singular") from None
    pd_ = bool(np.all(np.linalg.eigvalsh(0.5 * (v + v.T)) > 0))
    stat = abs(q)
    df = len(names)
    return {
        "statistic": stat, "df": df, "p_value": float(chdtrc(df, stat)),
        "h0": "the unit effects are uncorrelated with the regressors (random effects are "
              "consistent and efficient)",
        "model": fe_res.model, "coefficients": names,
        "fe": f"unit fixed effects, correction {fe_res.correction!r}",
        "re": "unit random effects (exact ML), V_RE = GLS covariance given (spatial, phi)",
        "quadratic_form": q, "v_diff_positive_definite": pd_,
        "convention": "splm sphtest(method='ML'): |d'(V_FE - V_RE)^-1 d|",
        "loglik_fe": fe_res.loglik, "loglik_re": re_res.loglik,
    }


def spatial_hausman(prep, re_res: REResult | None = None, fe_res: MLResult | None = None
                    ) -> dict:
    """Fit what is missing (unit FE with ``correction="none"``, RE) for the prepared panel's
    family and return :func:`hausman_test`.  ``prep`` is a
    :class:`~bayes_sdm.prepared.Prepared` (any FE; its panel, W and family are used)."""
    from .ml import fit_ml

    family: Family = families.get(prep.family)
    if len(family.spatial_params) != 1:
        raise InputError(f"the spatial Hausman test covers sar, sdm, sem and sdem, not "
                         f"{family.name}")
    if fe_res is None:
        fe_res = fit_ml(prep.with_fe("unit", "none"), "none")
    if re_res is None:
        re_res = fit_re(prep.panel, prep.w, family, prep.logdet or "auto")
    return hausman_test(fe_res, re_res)


def hausman_entry(prep) -> dict | None:
    """The ``hausman_fe_vs_re`` entry of ``tests.json`` for a fixed-effects fit where it is
    relevant (unit fixed effects, one spatial parameter), ``{"skipped": why}`` where it cannot
    be computed, None where it does not apply."""
    if prep.fe != "unit" or len(prep.family.spatial_params) != 1:
        return None
    try:
        return spatial_hausman(prep)
    except InputError as err:
        return {"skipped": str(err)}
