"""Convention parity with R splm 1.6-5 on Produc (``tests/data/reference/splm_produc.json``).

splm's fixed-effects ML with ``LeeYu=FALSE`` is our ``correction="none"`` with
``lag_convention="WQy"``: W y is formed from the demeaned y, the Durbin regressors W x from the raw
x period by period and then demeaned like any regressor (the ``w_<x>`` columns of the reference
calls), and the spatial-error filter acts on the demeaned data.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from bayes_sdm.api import prepare
from bayes_sdm.design import Layout, transformed_columns
from bayes_sdm.hypothesis import all_tests
from bayes_sdm.ml import fit_ml

REF = json.loads((Path(__file__).parent / "data" / "reference" / "splm_produc.json").read_text())
FE = {"tw": "twoway", "time": "time", "ind": "unit"}


@pytest.fixture(scope="module")
def produc():
    from bayes_sdm.datasets import load_dataset

    ds = load_dataset("produc")
    return ds.panel(region_col=None), ds.weights


def _ours_and_ref(res, key, x_names):
    sp = "lambda" if "lambda" in res.params.index else "rho"
    names = [sp] + [f"beta[{x}]" for x in x_names]
    refs = [REF[f"{key}.{sp}"]] + [REF[f"{key}.coef.{x}"] for x in x_names]
    ses = [REF[f"{key}.{sp}_se"]] + [REF[f"{key}.se.{x}"] for x in x_names]
    if "theta[" + x_names[0] + "]" in res.params.index:
        names += [f"theta[{x}]" for x in x_names]
        refs += [REF[f"{key}.coef.w_{x}"] for x in x_names]
        ses += [REF[f"{key}.se.w_{x}"] for x in x_names]
    return (res.params[names].to_numpy(), np.array(refs), res.se[names].to_numpy(),
            np.array(ses))


@pytest.mark.parametrize("key,model", [("fe_tw_sdm", "sdm"), ("fe_time_sdm", "sdm"),
                                       ("fe_ind_sdm", "sdm"), ("fe_tw_sar", "sar"),
                                       ("fe_tw_sem", "sem"), ("fe_time_sem", "sem")])
def test_splm_fixed_effects_ml(produc, key, model):
    """rho/lambda, beta, theta to 1e-5 and their SEs to 1e-4 (measured: <= 2e-8 and 1e-9);
    sigma2 = SSE/(NT) and splm's log-likelihood (``loglik_full`` for the error models)."""
    panel, w = produc
    fe = FE[key.split("_")[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_ml(prepare(panel, w, model, fe, lag_convention="WQy"), correction="none")
    est, ref, se, ref_se = _ours_and_ref(res, key, panel.x_names)
    np.testing.assert_allclose(est, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(se, ref_se, rtol=0, atol=1e-4)
    assert res.params["sigma2"] == pytest.approx(REF[f"{key}.sigma2"], rel=1e-6)
    assert res.loglik == pytest.approx(REF[f"{key}.loglik_full"], abs=1e-5)


@pytest.mark.parametrize("key,model", [("fe_ind_sdm_leeyu", "sdm"), ("fe_ind_sar_leeyu", "sar")])
def test_splm_leeyu_individual_is_the_transformation_approach(produc, key, model):
    """splm ``LeeYu=TRUE`` with individual effects = Lee & Yu's transformation approach (our
    default ``correction="transform"``; the lag conventions coincide under unit effects)."""
    panel, w = produc
    res = fit_ml(prepare(panel, w, model, "unit"), correction="transform")
    est, ref, se, ref_se = _ours_and_ref(res, key, panel.x_names)
    np.testing.assert_allclose(est, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(se, ref_se, rtol=0, atol=1e-4)
    assert res.params["sigma2"] == pytest.approx(REF[f"{key}.sigma2"], rel=1e-6)


def test_the_issue_case_to_published_precision(produc):
    """The published two-way SDM: rho = 0.3688462 (SE 0.0404)."""
    panel, w = produc
    res = fit_ml(prepare(panel, w, "sdm", "twoway", lag_convention="WQy"), correction="none")
    assert round(res.params["rho"], 7) == 0.3688462
    assert round(res.se["rho"], 4) == 0.0404


def test_durbin_columns_are_demeaned_raw_lags(produc):
    """Under WQy an SDM's WX block is Q(W X_raw), exactly; a SEM's is W(Q X); with unit effects
    only the two coincide."""
    from bayes_sdm.design import demean

    panel, w = produc
    prep = prepare(panel, w, "sdm", "twoway", lag_convention="WQy")
    lay = prep.stats.layout
    assert lay.durbin_raw
    z = transformed_columns(panel, w, "twoway", "WQy", lay)
    np.testing.assert_allclose(z[:, :, lay.slice("WX")], demean(w.lag(panel.X), "twoway"),
                               atol=1e-12)
    pure = transformed_columns(panel, w, "twoway", "WQy", Layout(panel.K))
    np.testing.assert_allclose(pure[:, :, lay.slice("WX")], w.lag(demean(panel.X, "twoway")),
                               atol=1e-12)
    lay_u = Layout(panel.K, durbin_raw=True)
    np.testing.assert_allclose(transformed_columns(panel, w, "unit", "WQy", lay_u),
                               transformed_columns(panel, w, "unit", "WQy", Layout(panel.K)),
                               atol=1e-12)


def test_tests_refit_the_sem_with_its_own_columns(produc):
    """SDM -> SEM under WQy: the SEM sibling is rebuilt (its WX block is W(Q X)), so the
    restricted fit is splm's SEM."""
    panel, w = produc
    prep = prepare(panel, w, "sdm", "twoway", lag_convention="WQy", correction="none")
    sem = prep.with_family("sem")
    assert not sem.stats.layout.durbin_raw and prep.stats.layout.durbin_raw
    assert fit_ml(sem, "none").loglik == pytest.approx(REF["fe_tw_sem.loglik_full"], abs=1e-5)
    tests = all_tests(prep, "none", fe_tests=False)
    assert tests["sdm_vs_sar_lr"]["statistic"] == pytest.approx(
        2 * (REF["fe_tw_sdm.loglik"] - REF["fe_tw_sar.loglik"]), abs=1e-5)
    assert tests["sdm_vs_sem_lr"]["statistic"] == pytest.approx(
        2 * (REF["fe_tw_sdm.loglik"] - REF["fe_tw_sem.loglik_full"]), abs=1e-5)
