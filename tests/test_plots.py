"""Figures (write_plots) and report.md (write_report).

The fit used here is an approximate posterior (draws from the ML estimate's normal
approximation) wrapped as a FitResult, so no sampler is compiled; the predictive checks still
run through pm.sample_posterior_predictive."""

from __future__ import annotations

import numpy as np
import pytest
from test_predictive import simulated_panel

from bayes_sdm.errors import InputError

FIGURES = ["trace.png", "rank.png", "effects_forest.png", "ppc_y.png", "ppc_moran.png",
           "rho_ml.png"]


def approx_fit(model="sdm", chains=2, draws=150, seed=0):
    """(FitResult, MLResult) with draws from N(ML estimate, ML covariance)."""
    import arviz as az
    import xarray as xr

    from bayes_sdm.api import FitResult, effects_draws, prepare, provenance
    from bayes_sdm.ml import fit_ml
    from bayes_sdm.spec import ModelSpec, SamplerSpec

    panel, w, _ = simulated_panel(n=12, t=6, seed=31, model=model)
    prep = prepare(panel, w, model, "twoway")
    ml = fit_ml(prep)
    rng = np.random.default_rng(seed)
    names = list(ml.params.index)
    x = rng.multivariate_normal(ml.params.to_numpy(), ml.cov.loc[names, names].to_numpy(),
                                size=(chains, draws))
    k = panel.K
    post = {"rho": x[..., 0], "beta": x[..., 1:1 + k]}
    if model == "sdm":
        post["theta"] = x[..., 1 + k:1 + 2 * k]
    post["sigma2"] = np.abs(x[..., -1])
    post["sigma"] = np.sqrt(post["sigma2"])
    dims = {"beta": ["coef"], "theta": ["coef"]}
    ss = {"diverging": np.zeros((chains, draws), bool),
          "energy": rng.normal(size=(chains, draws)),
          "tree_depth": np.full((chains, draws), 3),
          "reached_max_treedepth": np.zeros((chains, draws), bool)}
    idata = az.from_dict({"posterior": post, "sample_stats": ss}, dims=dims,
                         coords={"coef": list(panel.x_names)})
    ds = idata["posterior"].to_dataset()
    ds["effects"] = effects_draws(prep, ds)
    idata["posterior"] = xr.DataTree(ds)
    spec = ModelSpec(model=model, fe="twoway", sampler=SamplerSpec(chains=chains, draws=draws))
    idata.attrs.update(provenance(prep, spec))
    return FitResult(idata, prep, spec), ml


@pytest.fixture(scope="module")
def fit_and_ml():
    return approx_fit()


def test_write_plots_writes_every_figure(fit_and_ml, tmp_path):
    import matplotlib.image as mpimg

    from bayes_sdm.plots import write_plots

    res, ml = fit_and_ml
    paths = write_plots(res, tmp_path, ml_result=ml, ppc_draws=40, seed=1)
    assert [p.name for p in paths] == FIGURES
    for p in paths:
        img = mpimg.imread(p)
        assert img.shape[0] > 250 and img.shape[1] > 400, p.name
        assert img[..., :3].std() > 0.02, f"{p.name} looks blank"


def test_write_plots_needs_a_fit():
    from bayes_sdm.plots import write_plots

    with pytest.raises(InputError, match="idata"):
        write_plots(object(), "/tmp/never")


def test_residual_moran_draws_match_moran_module(fit_and_ml):
    """Observed residual Moran's I by year equals bayes_sdm.moran's computation of the same
    statistic at the same draws; the replicated ones have the same distribution as moran's
    Q eps replicates (the residual of a replicated panel is exactly the transformed error)."""
    moran = pytest.importorskip("bayes_sdm.moran")
    from bayes_sdm.likelihood import transformed_columns
    from bayes_sdm.plots import residual_moran_draws
    from bayes_sdm.ppc import posterior_predictive

    res, _ = fit_and_ml
    prep = res.prepared
    y_rep = posterior_predictive(res, draws=100, seed=3)
    post = res.idata["posterior"].to_dataset()
    i_obs, i_rep = residual_moran_draws(prep, post, y_rep)
    assert i_obs.shape == i_rep.shape == (200, prep.panel.T)
    sub = post.sel(chain=y_rep.coords["chain"], draw=y_rep.coords["draw"])
    flat = lambda v: sub[v].values.reshape(200, *sub[v].shape[2:])  # noqa: E731
    z = transformed_columns(prep.panel, prep.w, "twoway")
    ref = moran.residual_moran(z, prep.w, "sdm", flat("rho"), flat("beta"), flat("theta"),
                               fe="twoway", rng=5)
    np.testing.assert_allclose(i_obs.mean(0), ref["I_obs"].to_numpy(), rtol=1e-10, atol=1e-12)
    se = ref["I_rep_sd"].to_numpy() / np.sqrt(200)
    assert np.all(np.abs(i_rep.mean(0) - ref["I_rep_mean"].to_numpy()) < 5 * np.sqrt(2) * se)


def test_regional_forest_has_region_colours(tmp_path):
    import arviz as az
    import matplotlib.image as mpimg

    from bayes_sdm.plots import plot_effects_forest

    rng = np.random.default_rng(2)
    eff = rng.normal(size=(2, 100, 3, 3, 2)) * 0.1 + np.arange(3)[None, None, :, None, None]
    idata = az.from_dict({"posterior": {"effects": eff}},
                         dims={"effects": ["region", "effect", "coef"]},
                         coords={"region": ["east", "central", "west"],
                                 "effect": ["direct", "indirect", "total"],
                                 "coef": ["mar", "jacobs"]})
    p = plot_effects_forest(idata, tmp_path / "f.png")
    img = mpimg.imread(p)
    assert img.shape[0] > 300 and img.shape[1] > 600  # 2 panels of 9 rows
    with pytest.raises(InputError, match="effects"):
        plot_effects_forest(az.from_dict({"posterior": {"rho": eff[..., 0, 0, 0]}}),
                            tmp_path / "g.png")


def test_write_report(fit_and_ml, tmp_path):
    from bayes_sdm.comparison import comparison_table
    from bayes_sdm.plots import write_plots
    from bayes_sdm.report import write_report

    res, ml = fit_and_ml
    figs = write_plots(res, tmp_path, ml_result=ml, ppc_draws=20)
    diag = res.diagnostics()
    p = write_report(tmp_path, res.summary_table(), res.effects_table(), diag,
                     comparison_table(ml, res.idata), figs, provenance=res.idata)
    assert p == tmp_path / "report.md"
    text = p.read_text()
    for section in ("# bayes_sdm report: SDM with twoway fixed effects", "## Parameters",
                    "## Effects", "## Maximum likelihood vs posterior",
                    "## Convergence diagnostics", "## Figures", "## Provenance"):
        assert section in text
    assert "| rho |" in text and "| beta[x0] |" in text and "| x1 | indirect |" in text
    for f in FIGURES:
        assert f"]({f})" in text and (tmp_path / f).exists()
    assert res.prepared.data_hash in text
    assert "pymc " in text and "bayes_sdm_version" in text and "```yaml" in text
    # 150 draws x 2 chains cannot reach ess 400: the report says FAILED and why
    assert not diag.passed
    assert "**FAILED**" in text and "ess_bulk=" in text


def test_report_without_optional_parts(tmp_path):
    import pandas as pd

    from bayes_sdm.report import markdown_table, write_report

    s = pd.DataFrame({"parameter": ["rho"], "mean": [0.25], "sd": [1e-5], "ok": [True]})
    t = markdown_table(s)
    assert t.splitlines()[1] == "|:---|---:|---:|:---|"
    assert "1.000e-05" in t and "| yes |" in t
    p = write_report(tmp_path / "r", s, None, title="T")
    text = p.read_text()
    assert text.startswith("# T") and "## Figures" not in text and "## Effects" not in text
