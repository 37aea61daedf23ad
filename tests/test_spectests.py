"""Panel LM tests: against direct matrix implementations (kron(I_T, W) explicit) and on cigar."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_panel
from scipy import stats

from bayes_sdm.errors import InputError
from bayes_sdm.panel import Panel
from bayes_sdm.spectests import TEST_NAMES, lm_tests, trace_terms


def orthonormal_complement(n: int) -> np.ndarray:
    q = np.eye(n) - np.ones((n, n)) / n
    vals, vecs = np.linalg.eigh(q)
    return vecs[:, vals > 0.5]


def pooled_lm(y, x, wbig, t, tau):
    """The four statistics of Elhorst's LMsarsem_panel.m (2010 revision), stacked by period:
    y (n,), x (n, k), wbig = kron(I_T, W) as a dense (n, n) matrix."""
    n = len(y)
    xpxi = np.linalg.inv(x.T @ x)
    b = xpxi @ x.T @ y
    e = y - x @ b
    s2 = e @ e / n
    m = np.eye(n) - x @ xpxi @ x.T
    wxb = wbig @ x @ b
    ttr = t * tau
    j = (wxb @ m @ wxb + ttr * s2) / s2
    ewe, ewy = e @ wbig @ e, e @ wbig @ y
    return np.array([
        (ewy / s2) ** 2 / j,
        (ewe / s2) ** 2 / ttr,
        (ewy - ewe) ** 2 / (s2**2 * (j - ttr)),
        (ewe - ttr / j * ewy) ** 2 / (s2**2 * ttr * (1 - ttr / j)),
    ])


def direct_elhorst(panel, w, fe):
    """Demean y and X (explicit projection matrices), then W on the demeaned data."""
    n, t = panel.N, panel.T
    wm = np.asarray(w.matrix)
    qt = np.eye(t) - np.ones((t, t)) / t if fe in ("unit", "twoway") else np.eye(t)
    qn = np.eye(n) - np.ones((n, n)) / n if fe in ("time", "twoway") else np.eye(n)
    q = np.kron(qt, qn)  # stacking: period-major (t, then i), as Elhorst
    y = q @ panel.y.reshape(-1)
    x = q @ panel.X.reshape(n * t, -1)
    tau = np.trace(wm.T @ wm + wm @ wm)
    return pooled_lm(y, x, np.kron(np.eye(t), wm), t, tau)


def direct_leeyu(panel, w, fe):
    """The transformed model: y* = (F_T' kron F_N') y, W* = F_N' W F_N, T* periods."""
    n, t = panel.N, panel.T
    wm = np.asarray(w.matrix)
    ft = orthonormal_complement(t) if fe in ("unit", "twoway") else np.eye(t)
    fn = orthonormal_complement(n) if fe in ("time", "twoway") else np.eye(n)
    f = np.kron(ft.T, fn.T)
    y = f @ panel.y.reshape(-1)
    wx_raw = np.stack([wm @ panel.X[s] for s in range(t)])  # lags of the raw X
    x = f @ panel.X.reshape(n * t, -1)
    wstar = fn.T @ wm @ fn
    tstar = ft.shape[1]
    wbig = np.kron(np.eye(tstar), wstar)
    # W* X* equals the transformed lag of the raw X (row-standardised W)
    np.testing.assert_allclose(wbig @ x, f @ wx_raw.reshape(n * t, -1), atol=1e-10)
    tau = np.trace(wstar.T @ wstar + wstar @ wstar)
    return pooled_lm(y, x, wbig, tstar, tau)


@pytest.mark.parametrize("fe", ["twoway", "unit", "time", "none"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_elhorst_convention_equals_direct_matrices(fe, symmetric):
    panel, w = random_panel(n=11, t=5, k=2, seed=21, symmetric=symmetric)
    # add spatial structure so that the statistics are not all tiny
    y = panel.y + 0.8 * np.stack([w.matrix @ panel.y[s] for s in range(panel.T)])
    panel = Panel(y, panel.X, panel.units, panel.times, "y", panel.x_names)
    ours = lm_tests(panel, w, fe, intercept=False)
    ref = direct_elhorst(panel, w, fe)
    assert list(ours.test) == list(TEST_NAMES)
    np.testing.assert_allclose(ours.statistic, ref, rtol=1e-9)
    np.testing.assert_allclose(ours.p, stats.chi2.sf(ref, 1), rtol=1e-8)
    assert (ours.df == 1).all()


@pytest.mark.parametrize("fe", ["twoway", "unit", "time", "none"])
def test_leeyu_convention_equals_explicit_transform(fe):
    panel, w = random_panel(n=10, t=6, k=2, seed=22, symmetric=False)
    ours = lm_tests(panel, w, fe, convention="leeyu", intercept=False)
    np.testing.assert_allclose(ours.statistic, direct_leeyu(panel, w, fe), rtol=1e-9)


@pytest.mark.parametrize("convention", ["elhorst", "leeyu"])
def test_pooled_lm_tests_have_an_intercept(convention):
    """fe none: the LM statistics of the OLS with a constant on the stacked data with
    kron(I_T, W) (Anselin 1988; Elhorst 2014, sec. 3.5), computed directly; they differ from
    the regression through the origin."""
    panel, w = random_panel(n=11, t=4, k=2, seed=23, symmetric=False)
    y = panel.y + 3.0 + 0.6 * np.stack([w.matrix @ panel.y[s] for s in range(panel.T)])
    panel = Panel(y, panel.X + 2.0, panel.units, panel.times, "y", panel.x_names)
    n, t = panel.N, panel.T
    wm = np.asarray(w.matrix)
    x1 = np.c_[np.ones(n * t), panel.X.reshape(n * t, -1)]
    ref = pooled_lm(panel.y.reshape(-1), x1, np.kron(np.eye(t), wm), t,
                    np.trace(wm.T @ wm + wm @ wm))
    ours = lm_tests(panel, w, "none", convention=convention)
    np.testing.assert_allclose(ours.statistic, ref, rtol=1e-9)
    origin = lm_tests(panel, w, "none", intercept=False).statistic.to_numpy()
    assert np.abs(origin - ref).max() > 1e-3 * np.abs(ref).max()


def test_transformed_traces():
    _, w = random_panel(n=9, seed=4, symmetric=False)
    fn = orthonormal_complement(9)
    ws = fn.T @ np.asarray(w.matrix) @ fn
    assert trace_terms(w, transformed=True) == pytest.approx(
        np.trace(ws.T @ ws + ws @ ws), rel=1e-12)


def test_conventions_coincide_in_the_numerators_under_time_effects():
    panel, w = random_panel(n=12, t=5, k=2, seed=3, symmetric=False)
    _, a = lm_tests(panel, w, "twoway", "elhorst", return_parts=True)
    _, b = lm_tests(panel, w, "twoway", "leeyu", return_parts=True)
    assert a.ewe == pytest.approx(b.ewe, rel=1e-10)
    assert a.ewy == pytest.approx(b.ewy, rel=1e-10)
    assert a.wxb2 > b.wxb2  # demean-then-lag keeps the per-period means of W X b


def test_statistics_are_scale_free():
    panel, w = random_panel(n=10, t=4, k=2, seed=5)
    a = lm_tests(panel, w, "unit")
    scaled = Panel(panel.y * 37.0 + 5.0, panel.X * 0.1, panel.units, panel.times, "y",
                   panel.x_names)
    np.testing.assert_allclose(lm_tests(scaled, w, "unit").statistic, a.statistic, rtol=1e-9)


def test_cigar_agrees_with_elhorst_2014_conclusions(cigar):
    """Elhorst (2014, Spatial Econometrics, sec. 3.6.2, Table 3.2): with the classic LM tests
    both nulls are rejected whatever the fixed effects; with the robust tests no spatial error
    is still rejected, no spatial lag is not rejected once time or two-way effects are in."""
    panel, w = cigar
    tabs = {fe: lm_tests(panel, w, fe).set_index("test") for fe in ("unit", "time", "twoway")}
    for tab in tabs.values():
        assert tab.loc["LM-lag", "p"] < 0.01 and tab.loc["LM-error", "p"] < 0.01
        assert tab.loc["robust LM-error", "p"] < 0.01
    for fe in ("time", "twoway"):
        assert tabs[fe].loc["robust LM-lag", "p"] > 0.05
    assert tabs["unit"].loc["robust LM-lag", "p"] < 0.01
    # regression values of this implementation (Elhorst convention)
    np.testing.assert_allclose(tabs["twoway"].statistic, [46.901, 54.655, 1.156, 8.911],
                               atol=1e-3)


def test_bad_inputs():
    panel, w = random_panel(n=8, t=3, k=2, seed=1)
    with pytest.raises(InputError, match="fixed effects"):
        lm_tests(panel, w, "both")
    with pytest.raises(InputError, match="convention"):
        lm_tests(panel, w, "unit", convention="splm")
    x = np.concatenate([panel.X, panel.X[..., :1] * 2], axis=2)
    coll = Panel(panel.y, x, panel.units, panel.times, "y", ("a", "b", "c"))
    with pytest.raises(InputError, match="collinear"):
        lm_tests(coll, w, "unit")


def test_pooled_marginals_have_an_intercept():
    """fe none: the log marginal likelihoods (flat prior on the intercept) do not change when
    a constant is added to y or to a regressor; through the origin they would."""
    from bayes_sdm.marginal import log_marginals

    panel, w = random_panel(n=11, t=4, k=2, seed=24, symmetric=False)
    shifted = Panel(panel.y + 5.0, panel.X + np.array([1.0, -3.0]), panel.units, panel.times,
                    "y", panel.x_names)
    kw = {"models": ("ols", "sar", "sdm", "sem"), "n_grid": 201, "n_panels": 8}
    for standardize in (False, True):
        a = log_marginals(panel, w, "none", standardize=standardize, **kw)
        b = log_marginals(shifted, w, "none", standardize=standardize, **kw)
        np.testing.assert_allclose(a.log_marginal, b.log_marginal, rtol=1e-9)
    c = log_marginals(shifted, w, "twoway", **kw)  # sanity: a different transform differs
    assert np.abs(c.log_marginal.to_numpy() - b.log_marginal.to_numpy()).max() > 1e-3


def test_select_model_fe_none_uses_the_intercept():
    from bayes_sdm.marginal import log_marginals
    from bayes_sdm.selection import select_model

    panel, w = random_panel(n=11, t=4, k=2, seed=25, symmetric=False)
    res = select_model(panel, w, fe="none", ml=False, models=("ols", "sar", "sem"))
    lm = res.lm_tests.set_index("test").statistic
    np.testing.assert_allclose(lm[list(TEST_NAMES)].to_numpy(),
                               lm_tests(panel, w, "none").statistic.to_numpy(), rtol=1e-12)
    ref = log_marginals(panel, w, "none", models=("ols", "sar", "sem"), standardize=True)
    np.testing.assert_allclose(res.probabilities.log_marginal, ref.log_marginal, rtol=1e-12)
    assert any("include an intercept" in n for n in res.decision["notes"])


def test_regional_fe_none_refuses_the_intercept_clearly(capsys):
    """fe none with partial pooling: not silently without an intercept but refused, naming
    the option that fits it without one."""
    from bayes_sdm.cli import main

    assert main(["--fe", "none", "--pooling", "partial", "--model", "sar", "--quiet",
                 "--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err
    assert "not implemented yet: an intercept in a distributed or regional model" in err
    assert "--no-intercept" in err
