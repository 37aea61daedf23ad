"""Moran's I: esda, direct numpy and a literal double-sum computation; the residual PPC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import random_panel
from scipy import stats

from bayes_sdm.errors import InputError
from bayes_sdm.likelihood import coef_vector, sse, sufficient_stats, transformed_columns
from bayes_sdm.moran import (
    MORAN_COLUMNS,
    innovations,
    moran_arrays,
    moran_table,
    residual_moran,
    residual_moran_idata,
    to_graph,
    weight_sums,
)
from bayes_sdm.panel import Panel
from bayes_sdm.simulate import simulate_y
from bayes_sdm.weights import knn, make_weights

NUM = ["I", "expected", "variance", "z", "p"]


def literal_moran(x, wm, assumption="normality"):
    """Cliff & Ord (1981) eqs. 1.4, 2.35-2.36 written with explicit loops."""
    n = len(x)
    z = x - x.mean()
    s0 = sum(wm[i, j] for i in range(n) for j in range(n))
    num = sum(wm[i, j] * z[i] * z[j] for i in range(n) for j in range(n))
    i_val = n / s0 * num / (z @ z)
    s1 = 0.5 * sum((wm[i, j] + wm[j, i]) ** 2 for i in range(n) for j in range(n))
    s2 = sum((wm[i, :].sum() + wm[:, i].sum()) ** 2 for i in range(n))
    ei = -1 / (n - 1)
    if assumption == "normality":
        var = (n * n * s1 - n * s2 + 3 * s0**2) / ((n * n - 1) * s0**2) - ei**2
    else:
        b2 = n * (z**4).sum() / ((z**2).sum() ** 2)
        var = (n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s0**2)
               - b2 * ((n * n - n) * s1 - 2 * n * s2 + 6 * s0**2)) / (
            (n - 1) * (n - 2) * (n - 3) * s0**2) - ei**2
    zz = (i_val - ei) / np.sqrt(var)
    return i_val, ei, var, zz, 2 * stats.norm.sf(abs(zz))


@pytest.mark.parametrize("assumption", ["normality", "randomization"])
@pytest.mark.parametrize("standardize", [True, False])
def test_numpy_equals_literal_and_esda(assumption, standardize):
    panel, _ = random_panel(n=13, t=3, k=1, seed=4)
    rng = np.random.default_rng(0)
    c = (rng.random((13, 13)) < 0.3) * rng.uniform(0.5, 2, (13, 13))  # not symmetric
    np.fill_diagonal(c, 0)
    c[np.arange(13), (np.arange(13) + 1) % 13] = 1.0
    w = make_weights(c, panel.units, standardize=standardize)
    esda_tab = moran_table(panel, w, assumption=assumption)
    np_tab = moran_table(panel, w, assumption=assumption, method="numpy")
    assert list(esda_tab.columns) == MORAN_COLUMNS
    np.testing.assert_allclose(esda_tab[NUM].to_numpy(), np_tab[NUM].to_numpy(), rtol=1e-11,
                               atol=1e-13)
    for r in np_tab.itertuples():
        x = panel.y[panel.times.index(r.year)] if r.variable == "y" else \
            panel.X[panel.times.index(r.year), :, 0]
        ref = literal_moran(x, np.asarray(w.matrix), assumption)
        np.testing.assert_allclose([r.I, r.expected, r.variance, r.z, r.p], ref, rtol=1e-10)


def test_cigar_table_matches_esda_and_numpy(cigar):
    panel, w = cigar
    a = moran_table(panel, w)
    b = moran_table(panel, w, method="numpy")
    assert len(a) == 3 * panel.T
    assert np.abs(a[NUM].to_numpy() - b[NUM].to_numpy()).max() < 1e-12
    # cigarette sales are positively autocorrelated across neighbouring states in 1963
    r = a[(a.variable == "logc") & (a.year == panel.times[0])].iloc[0]
    assert r.I == pytest.approx(0.262437, abs=1e-6)
    assert r.expected == pytest.approx(-1 / 45)
    assert r.p < 0.01


def test_one_tailed_p_is_half_the_two_tailed():
    panel, w = random_panel(n=10, t=2, seed=1)
    two = moran_table(panel, w)
    one = moran_table(panel, w, two_tailed=False)
    np.testing.assert_allclose(one.p * 2, two.p, rtol=1e-12)


def test_sparse_w_goes_to_graph_without_densifying():
    rng = np.random.default_rng(3)
    n = 40
    w = knn(rng.uniform(size=(n, 2)), tuple(f"u{i}" for i in range(n)), 4)
    assert w.is_sparse
    g = to_graph(w)
    assert g.n == n and g.n_edges == w.matrix.nnz
    s0, s1, s2 = weight_sums(w)
    d = w.matrix.toarray()
    assert (s0, s1, s2) == pytest.approx(weight_sums(d), rel=1e-12)
    y = rng.normal(size=(3, n))
    panel = Panel(y, rng.normal(size=(3, n, 1)), w.ids, (2001, 2002, 2003), "y", ("x",))
    a = moran_table(panel, w)
    b = moran_table(panel, w, method="numpy")
    np.testing.assert_allclose(a[NUM].to_numpy(), b[NUM].to_numpy(), rtol=1e-11)


def test_frame_input_equals_panel_input():
    panel, w = random_panel(n=9, t=4, k=2, seed=6)
    rows = []
    for ti, t in enumerate(panel.times):
        for ni, u in enumerate(panel.units):
            rows.append({"id": u, "yr": t, "y": panel.y[ti, ni], "x0": panel.X[ti, ni, 0],
                         "x1": panel.X[ti, ni, 1]})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # row order must not matter
    a = moran_table(df, w, ["y", "x0", "x1"], unit="id", time="yr")
    b = moran_table(panel, w)
    pd.testing.assert_frame_equal(a, b)
    c = moran_table(panel, w, ["x1"])
    assert set(c.variable) == {"x1"}


def test_bad_inputs_are_named():
    panel, w = random_panel(n=8, t=3, k=1, seed=2)
    with pytest.raises(InputError, match="unknown variable"):
        moran_table(panel, w, ["nope"])
    y = panel.y.copy()
    y[1] = 5.0
    const = Panel(y, panel.X, panel.units, panel.times, "y", panel.x_names)
    with pytest.raises(InputError, match="constant across units in year 1"):
        moran_table(const, w)
    df = pd.DataFrame({"id": np.repeat(panel.units, 3), "yr": np.tile(panel.times, 8),
                       "v": np.arange(24.0)})
    with pytest.raises(InputError, match="unit= and time="):
        moran_table(df, w, ["v"])
    with pytest.raises(InputError, match="missing or not finite for unit 3"):
        moran_table(df[~((df.id == 3) & (df.yr == 2))], w, ["v"], unit="id", time="yr")
    df2 = df.copy()
    df2.loc[0, "id"] = 99
    with pytest.raises(InputError, match="not in W"):
        moran_table(df2, w, ["v"], unit="id", time="yr")
    with pytest.raises(InputError, match="assumption"):
        moran_table(panel, w, assumption="bootstrap")


def test_innovations_match_gram_sse():
    panel, w = random_panel(n=10, t=4, k=2, seed=9, symmetric=False)
    st = sufficient_stats(panel, w, "twoway")
    z = transformed_columns(panel, w, "twoway")
    rng = np.random.default_rng(1)
    for model in ("sdm", "sar", "sem", "sdem", "slx"):
        rho, b, th = 0.3, rng.normal(size=2), rng.normal(size=2)
        e = innovations(z, model, [rho], b[None], th[None])
        c = coef_vector(st, model, rho, b, th)
        assert (e**2).sum() == pytest.approx(sse(st, c), rel=1e-12)


def _sem_panel(lam, seed, n=60, t=6):
    rng = np.random.default_rng(seed)
    w = knn(rng.uniform(size=(n, 2)), tuple(range(n)), 5)
    x = rng.normal(size=(t, n, 1))
    beta = np.array([1.0])
    y = simulate_y(w, x, "sem", rho=lam, beta=beta, mu=rng.normal(size=n),
                   alpha=rng.normal(size=t), rng=rng)
    return Panel(y, x, w.ids, tuple(range(2000, 2000 + t)), "y", ("x",)), w


def test_residual_ppc_flags_omitted_spatial_error_and_passes_the_true_model():
    panel, w = _sem_panel(0.7, seed=5)
    z = transformed_columns(panel, w, "twoway")
    s = 200
    rng = np.random.default_rng(0)
    beta = 1.0 + 0.02 * rng.normal(size=(s, 1))
    # a non-spatial model (lambda = 0) leaves the spatial error in the residuals
    bad = residual_moran(z, w, "ols", np.zeros(s), beta, fe="twoway", times=panel.times, rng=1)
    assert list(bad.year) == list(panel.times)
    assert ((bad.I_obs - bad.I_rep_mean) / bad.I_rep_sd).mean() > 4
    assert (bad.ppp < 0.01).sum() >= 5
    # the true model at (near) the true parameters: the realised I is one draw from the
    # replicated distribution, so the p-values are spread over (0, 1)
    good = residual_moran(z, w, "sem", 0.7 + 0.02 * rng.normal(size=s), beta, fe="twoway",
                          times=panel.times, rng=2)
    assert 0.2 < good.ppp.mean() < 0.8
    assert (good.ppp_two_sided < 0.01).sum() <= 1


def test_residual_moran_from_posterior_dataset():
    import xarray as xr

    panel, w = _sem_panel(0.5, seed=7, n=30, t=4)
    rng = np.random.default_rng(3)
    post = xr.Dataset({
        "lambda": (("chain", "draw"), 0.5 + 0.05 * rng.normal(size=(2, 50))),
        "beta": (("chain", "draw", "coef"), 1 + 0.05 * rng.normal(size=(2, 50, 1))),
    })
    tab = residual_moran_idata({"posterior": post}, panel, w, "sem", max_draws=40, rng=0)
    assert len(tab) == panel.T and tab.ppp.between(0, 1).all()
    with pytest.raises(InputError, match="no variable 'theta'"):
        residual_moran_idata({"posterior": post}, panel, w, "sdem")


def test_moran_arrays_vectorised_over_leading_axes():
    rng = np.random.default_rng(2)
    _, w = random_panel(n=12, seed=3)
    x = rng.normal(size=(4, 3, 12))
    res = moran_arrays(x, sp.csr_array(w.matrix))
    for i in range(4):
        for j in range(3):
            assert res["I"][i, j] == pytest.approx(literal_moran(x[i, j], w.matrix)[0], rel=1e-12)
