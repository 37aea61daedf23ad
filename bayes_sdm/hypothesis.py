"""Likelihood-ratio and Wald tests for the spatial panel family (ML).

* SDM -> SAR: theta = 0 (K restrictions);
* SDM -> SEM: the common-factor restriction theta = -rho beta (K restrictions; Burridge 1981;
  LeSage & Pace 2009, sec. 6.1; Elhorst 2014, sec. 2.6);
* the joint significance of the unit and of the time fixed effects (Elhorst 2014, sec. 3.4; the
  seed study chose two-way FE this way, on the non-spatial model); the model a test is computed
  on is part of its name (:func:`fe_test_key`).

LR statistics compare maximised log-likelihoods of nested models fitted to the same data with the
same likelihood convention.  The SDM/SAR/SEM tests use the convention of the fit (``transform`` by
default): all three have the same n* and Jacobian form.  The FE tests compare models with
different fixed effects, whose ``transform`` likelihoods have different n* and are therefore not
comparable; they use the direct-approach likelihoods (``correction="none"``: NT observations and
T log|I - rho W| for every FE choice), as Elhorst does.  Degrees of freedom are N - 1 (unit
effects, given time effects) and T - 1 (time effects, given unit effects); Elhorst's demo scripts
print N and T, which changes p-values negligibly for large N, T.

Every function returns plain ``{"statistic", "df", "p"}`` dictionaries (JSON-ready).
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc  # the chi-squared survival function (no scipy.stats import)

from . import families
from .errors import InputError
from .families import Family
from .ml import MLResult, fit_ml
from .prepared import Prepared


def _result(stat: float, df: int, **extra) -> dict:
    stat = float(stat)
    out = {"statistic": stat, "df": int(df), "p": float(chdtrc(df, max(stat, 0.0)))}
    out.update(extra)
    return out


def lr_test(restricted: MLResult, full: MLResult, df: int | None = None) -> dict:
    """LR = 2 (loglik_full - loglik_restricted) ~ chi2(df) under the restricted model.

    ``df`` defaults to the difference in the number of parameters.  Raises InputError when the
    two fits are not comparable (different data size, FE, likelihood convention or lag
    convention).
    """
    for attr in ("N", "T", "fe", "lag_convention", "n_eff"):
        if getattr(restricted, attr) != getattr(full, attr):
            raise InputError(f"LR test: the fits differ in {attr} ({getattr(restricted, attr)!r} "
                             f"vs {getattr(full, attr)!r}); their likelihoods are not comparable")
    c_r = "none" if restricted.correction == "bias" else restricted.correction
    c_f = "none" if full.correction == "bias" else full.correction
    if c_r != c_f:
        raise InputError(f"LR test: likelihood conventions differ ({restricted.correction!r} vs "
                         f"{full.correction!r})")
    if df is None:
        df = full.k - restricted.k
    if df <= 0:
        raise InputError(f"LR test: the full model must have more parameters (df={df})")
    stat = 2.0 * (full.loglik - restricted.loglik)
    return _result(stat, df, restricted=restricted.model, full=full.model)


def _wald(g: np.ndarray, jac: np.ndarray, cov: np.ndarray) -> float:
    v = jac @ cov @ jac.T
    return float(g @ np.linalg.solve(v, g))


def wald_theta_zero(result: MLResult) -> dict:
    """Wald test of theta = 0 (SDM -> SAR, or SDEM -> SEM): theta' V_theta^{-1} theta ~ chi2(K)."""
    names = [n for n in result.params.index if n.startswith("theta[")]
    if not names:
        raise InputError(f"model {result.model!r} has no theta to test")
    th = result.params[names].to_numpy(float)
    v = result.cov.loc[names, names].to_numpy(float)
    return _result(float(th @ np.linalg.solve(v, th)), len(names), h0="theta = 0")


def wald_common_factor(result: MLResult) -> dict:
    """Wald test of the common-factor restriction theta + rho beta = 0 (SDM -> SEM).

    The delta method: g = theta + rho beta, dg/drho = beta, dg/dbeta = rho I, dg/dtheta = I,
    W = g' (J V J')^{-1} g ~ chi2(K) (LeSage & Pace 2009, sec. 6.1; Elhorst 2014, sec. 2.6).
    """
    if result.family is not families.SDM:
        raise InputError(f"the common-factor test needs an SDM fit, not {result.model!r}")
    k = len(result.x_names)
    names = ["rho"] + [f"beta[{x}]" for x in result.x_names] + \
        [f"theta[{x}]" for x in result.x_names]
    est = result.params[names].to_numpy(float)
    rho, beta, theta = est[0], est[1:1 + k], est[1 + k:]
    g = theta + rho * beta
    jac = np.hstack([beta[:, None], rho * np.eye(k), np.eye(k)])
    cov = result.cov.loc[names, names].to_numpy(float)
    return _result(_wald(g, jac, cov), k, h0="theta = -rho beta")


def fe_lr_tests(prep: Prepared) -> dict:
    """LR tests of the joint significance of the unit and of the time fixed effects.

    Fits the prepared family with two-way, time-only and unit-only effects using the
    direct-approach likelihood (``correction="none"``, comparable across FE choices) and returns
    ``{"unit_effects": LR(twoway vs time, df N-1), "time_effects": LR(twoway vs unit, df T-1)}``.
    """
    fits = {fe: fit_ml(prep.with_fe(fe, "none"), "none") for fe in ("twoway", "time", "unit")}
    ll = {fe: r.loglik for fe, r in fits.items()}
    n, t = prep.panel.N, prep.panel.T
    return {
        "unit_effects": _result(2.0 * (ll["twoway"] - ll["time"]), n - 1,
                                h0="no unit effects (given time effects)", correction="none",
                                loglik_full=ll["twoway"], loglik_restricted=ll["time"]),
        "time_effects": _result(2.0 * (ll["twoway"] - ll["unit"]), t - 1,
                                h0="no time effects (given unit effects)", correction="none",
                                loglik_full=ll["twoway"], loglik_restricted=ll["unit"]),
    }


def fe_test_key(which: str, model: Family | str) -> str:
    """The ``tests.json`` key of the LR test of the ``which`` (``unit``/``time``) effects
    computed on ``model``: ``unit_effects_lr_ols``, ``time_effects_lr_sdm``, ... (the model is
    part of the name: the tests on the non-spatial model and on the SDM are different tests)."""
    return f"{which}_effects_lr_{families.get(model).name}"


def all_tests(prep: Prepared, correction: str | None = None, full: MLResult | None = None,
              fe_tests: bool = True, fe_test_models=None) -> dict:
    """Every test, as a JSON-ready dict (``tests.json``).

    SDM -> SAR (LR and Wald of theta = 0) and SDM -> SEM (LR and Wald of theta = -rho beta) are
    computed from an SDM fit with the prepared ``fe`` / ``lag_convention`` and ``correction``
    (default: the prepared one; ``full`` if it is that SDM fit), plus the FE tests
    (:func:`fe_lr_tests`) unless ``fe_tests`` is False or the panel cannot carry time effects.
    The FE tests are computed on each of ``fe_test_models`` (default: the non-spatial OLS
    model, as Elhorst 2014 and the seed study do, then the prepared family) under the keys
    :func:`fe_test_key` (``unit_effects_lr_ols``, ``time_effects_lr_sdm``, ...), each
    recording its ``model``.
    """
    correction = prep.correction if correction is None else correction
    fe = prep.fe
    if full is not None and (full.family is not families.SDM or full.fe != fe
                             or full.correction != correction
                             or full.lag_convention != prep.lag_convention):
        full = None
    base = prep.with_family(families.SDM)
    if full is not None and full.logdet is not None:
        base.logdet = full.logdet
    sdm = full or fit_ml(base, correction)
    sar = fit_ml(base.with_family(families.SAR), correction)
    sem = fit_ml(base.with_family(families.SEM), correction)
    out = {
        "sdm_vs_sar_lr": lr_test(sar, sdm),
        "sdm_vs_sar_wald": wald_theta_zero(sdm),
        "sdm_vs_sem_lr": lr_test(sem, sdm),
        "sdm_vs_sem_wald": wald_common_factor(sdm),
    }
    out["sdm_vs_sar_lr"]["h0"] = "theta = 0 (SAR)"
    out["sdm_vs_sem_lr"]["h0"] = "theta = -rho beta (SEM)"
    for v in out.values():
        v.update(correction=correction, fe=fe)
    if fe_test_models is None:
        fe_test_models = (families.get("ols"), prep.family)
    models = list(dict.fromkeys(families.get(m) for m in fe_test_models))
    skip = None
    if fe_tests and prep.panel.T == 1:
        skip = {"skipped": "a cross-section (T = 1) has no fixed effects to test"}
    elif fe_tests and not prep.w.row_standardized:
        skip = {"skipped": "W is not row-standardised: time effects (needed by the FE tests) "
                "require a row-standardised W"}
    if skip is not None:
        for m in models:
            for which in ("unit", "time"):
                out[fe_test_key(which, m)] = dict(skip, model=m.name)
    elif fe_tests:
        for m in models:
            fet = fe_lr_tests(base.with_family(m))
            for which in ("unit", "time"):
                out[fe_test_key(which, m)] = dict(fet[f"{which}_effects"], model=m.name)
    return out
