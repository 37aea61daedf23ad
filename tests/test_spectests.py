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
    ours = lm_tests(panel, w, fe)
    ref = direct_elhorst(panel, w, fe)
    assert list(ours.test) == list(TEST_NAMES)
    np.testing.assert_allclose(ours.statistic, ref, rtol=1e-9)
    np.testing.assert_allclose(ours.p, stats.chi2.sf(ref, 1), rtol=1e-8)
    assert (ours.df == 1).all()


@pytest.mark.parametrize("fe", ["twoway", "unit", "time", "none"])
def test_leeyu_convention_equals_explicit_transform(fe):
    panel, w = random_panel(n=10, t=6, k=2, seed=22, symmetric=False)
    ours = lm_tests(panel, w, fe, convention="leeyu")
    np.testing.assert_allclose(ours.statistic, direct_leeyu(panel, w, fe), rtol=1e-9)


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
