"""The PyData / ArviZ workflow (issue 18): ArviZ takes a fit directly, short reprs, run folders
written by save and read by load_fit, stage progress, figures that agree with the diagnostics,
report.html.

The fits are the approximate posteriors of test_plots (ML normal approximation, no sampler)."""

from __future__ import annotations

import html.parser
import io
import json
import pickle
import re

import numpy as np
import pytest
from test_plots import approx_fit

from bayes_sdm.display import MAX_LINES, MAX_WIDTH
from bayes_sdm.errors import InputError


@pytest.fixture(scope="module")
def fit_ml():
    return approx_fit(chains=4, draws=150)


# ----------------------------------------------------------------------------- ArviZ
def test_arviz_takes_the_fit_directly(fit_ml):
    import arviz as az

    from bayes_sdm.result import arviz_defaults

    res, _ = fit_ml
    s = az.summary(res)
    ours = res.summary_table().set_index("parameter")
    np.testing.assert_allclose(s.loc["rho", "mean"], ours.loc["rho", "mean"], rtol=0.02)
    assert "eti89_lb" in s.columns  # ArviZ's own default outside the context
    with arviz_defaults():
        s94 = az.summary(res, var_names=["rho"], round_to="none")
    assert "hdi94_lb" in s94.columns
    assert s94.loc["rho", "hdi94_lb"] == pytest.approx(ours.loc["rho", "hdi_3%"], rel=1e-12)
    assert "eti89_lb" in az.summary(res, var_names=["rho"]).columns  # restored on exit
    for plot in (az.plot_trace_dist, az.plot_forest, az.plot_rank):
        pc = plot(res, var_names=["rho", "beta"], backend="none")
        assert pc is not None
    assert float(az.ess(res)["rho"]) > 0


def test_fit_is_a_datatree_that_keeps_its_context(fit_ml):
    import xarray as xr

    res, _ = fit_ml
    assert isinstance(res, xr.DataTree) and res.idata is res
    c = res.copy()
    assert c.prepared is res.prepared and c.spec is res.spec
    p = pickle.loads(pickle.dumps(res))
    assert p.spec.model == "sdm" and list(p.children) == list(res.children)
    np.testing.assert_array_equal(p["posterior"]["rho"].values, res["posterior"]["rho"].values)
    with pytest.raises(InputError, match="DataTree"):
        type(res)(object())


def test_loo_and_compare_take_fits(fit_ml):
    import arviz as az

    res, _ = fit_ml
    res2, _ = approx_fit(chains=4, draws=150, seed=3)
    for r in (res, res2):
        assert r.add_log_likelihood() is r
    elpd = az.loo(res)
    assert np.isfinite(elpd.elpd) and np.shape(elpd.elpd_i) == (6, 12)
    tab = az.compare({"a": res, "b": res2})
    assert set(tab.index) == {"a", "b"}


# ----------------------------------------------------------------------------- reprs
def _fits_on_screen(text: str) -> None:
    lines = text.splitlines()
    assert len(lines) <= MAX_LINES, text
    assert max(len(ln) for ln in lines) <= MAX_WIDTH, text


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(text: str) -> list:
    p = _Tags()
    p.feed(text)
    return p.tags


def test_reprs_are_short_and_informative(fit_ml):
    res, ml = fit_ml
    prep = res.prepared
    cases = {
        "panel": (prep.panel, ["12 units x 6 periods", "x0, x1"]),
        "weights": (prep.w, ["12 x 12", "rows sum to one"]),
        "prepared": (prep, ["SDM", "twoway", "N = 12", "log-determinant", "eigen"]),
        "ml": (ml, ["SDM", "log-likelihood", "beta[x0]"]),
        "fit": (res, ["SDM with twoway", "N = 12 units, T = 6", "log-determinant", "eigen",
                      "sampler", "4 chains x 150 draws", "diagnostics", "FAILED",
                      "beta[x0]", "mean", "az.summary(res)", ".save(folder)"]),
    }
    for name, (obj, needles) in cases.items():
        text = repr(obj)
        _fits_on_screen(text)
        for n in needles:
            assert n in text, (name, n, text)
        h = obj._repr_html_()
        assert any(t == "table" for t, _ in _tags(h)), name
        assert "<script" not in h


def test_regional_fit_repr_fits_on_a_screen():
    """A regional fit (62 scalar parameters) shows the head of its summary table only."""
    import arviz as az

    from bayes_sdm.result import FitResult

    rng = np.random.default_rng(0)
    g, k = 3, 6
    post = {"rho": rng.normal(0.3, 0.05, (2, 50)),
            "beta": rng.normal(size=(2, 50, g, k)), "theta": rng.normal(size=(2, 50, g, k)),
            "beta_mean": rng.normal(size=(2, 50, k)), "sigma2": rng.gamma(5, 0.1, (2, 50)),
            "effects": rng.normal(size=(2, 50, g, 3, k))}
    dims = {"beta": ["region", "coef"], "theta": ["region", "coef"], "beta_mean": ["coef"],
            "effects": ["region", "effect", "coef"]}
    coords = {"region": ["east", "central", "west"], "coef": [f"x{i}" for i in range(k)],
              "effect": ["direct", "indirect", "total"]}
    dt = az.from_dict({"posterior": post}, dims=dims, coords=coords)
    dt.attrs.update({"model": "sdm", "fe": "twoway", "N": "176", "T": "16",
                     "regions": json.dumps(coords["region"]),
                     "region_sizes": json.dumps([80, 60, 36]), "pooling": "partial",
                     "regional_w": "full"})
    text = repr(FitResult(dt))
    _fits_on_screen(text)
    assert "partial pooling, full W: east 80, central 60, west 36" in text
    assert "more rows" in text


# ----------------------------------------------------------------------------- run folder
def test_save_writes_a_run_folder_that_load_fit_reads(fit_ml, tmp_path):
    from bayes_sdm.result import load_fit

    res, ml = fit_ml
    out = res.save(tmp_path / "run", ml=ml)
    names = {p.name for p in out.iterdir()}
    assert {"posterior.nc", "summary.csv", "effects.csv", "diagnostics.json",
            "comparison.csv"} <= names
    d = json.loads((out / "diagnostics.json").read_text())
    assert d["data_hash"] == res.prepared.data_hash and "timings_s" in d
    for src in (out, out / "posterior.nc"):
        back = load_fit(src)
        assert back.summary_table().equals(res.summary_table())
    with pytest.raises(InputError, match="save_netcdf"):
        res.save(tmp_path / "fit.nc")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no fit \(posterior.nc\)"):
        load_fit(tmp_path / "empty")
    assert res.save_netcdf(tmp_path / "one.nc").is_file()


# ----------------------------------------------------------------------------- progress
def test_stages_print_one_line_each_with_its_time():
    from bayes_sdm.progress import Stages

    buf = io.StringIO()
    st = Stages(stream=buf)
    with st.stage("reading", estimate=None):
        pass
    with st.stage("log-determinant", estimate=26.0):
        st.note("a cost message")
    with st.stage("outer"):
        with st.stage("inner"):
            pass
    st.finish("done: fit 1.0 s")
    lines = buf.getvalue().splitlines()
    assert re.fullmatch(r"  reading \.\.\. \d+\.\d s", lines[0])
    assert lines[1] == "  log-determinant (about 26 s) ..."
    assert lines[2] == "    a cost message"
    assert re.fullmatch(r"  log-determinant: \d+\.\d s", lines[3])
    assert lines[4] == "  outer ..." and re.fullmatch(r"    inner \.\.\. \d+\.\d s", lines[5])
    assert re.fullmatch(r"done: fit 1\.0 s \(whole process [\d.]+ (s|min)\)", lines[-1])
    assert set(st.times) == {"reading", "log-determinant", "outer", "inner"}
    quiet = io.StringIO()
    q = Stages(quiet=True, stream=quiet)
    with q.stage("x"):
        pass
    q.finish("done")
    assert quiet.getvalue() == "" and "x" in q.times


def test_logdet_plan_estimates_the_eigenvalues(monkeypatch, tmp_path):
    from bayes_sdm.logdet import eigen_seconds, make_logdet, plan
    from bayes_sdm.weights import knn

    monkeypatch.setenv("BAYES_SDM_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    w = knn(rng.random((60, 2)), tuple(range(60)), 4)
    what, sec = plan(w)
    assert what == "eigenvalues of W: N=60, general solver"
    assert sec >= eigen_seconds(60, False)  # times the load per core on a busy machine
    assert eigen_seconds(2000, False) == pytest.approx(25.6)  # the 2,000-unit k-NN W
    make_logdet(w)
    assert plan(w) == ("eigenvalues of W: N=60, cached", 0.0)


def test_prepare_and_fit_report_their_stages(cigar, monkeypatch, tmp_path):
    from bayes_sdm.api import prepare
    from bayes_sdm.progress import Stages

    panel, w = cigar
    monkeypatch.setenv("BAYES_SDM_CACHE", "0")
    buf = io.StringIO()
    prepare(panel, w, "sdm", "twoway", progress=Stages(stream=buf))
    text = buf.getvalue()
    assert "log-determinant: eigenvalues of W: N=46, symmetric solver (about" not in text
    assert "log-determinant: eigenvalues of W: N=46, symmetric solver ..." in text
    assert "sufficient statistics ..." in text
    with pytest.raises(InputError, match="unknown log-determinant"):
        prepare(panel, w, "sdm", "twoway", logdet="eigne", progress=Stages(stream=buf))


def test_cli_prints_stages_and_quiet_silences_them(tmp_path, capsys):
    from test_cli import args

    from bayes_sdm.cli import main

    d = tmp_path / "data"
    d.mkdir()
    _small_files(d)
    base = [a for a in args(d) if a != "--quiet"]
    rc = main([*base, "--sampler", "exact", "--out", str(tmp_path / "run")])
    assert rc == 0
    err = capsys.readouterr().err
    for stage in ("reading", "W: ", "panel", "log-determinant", "sufficient statistics",
                  "sampling (exact grid sampler", "effects", "tables and diagnostics",
                  "writing posterior.nc"):
        assert stage in err, (stage, err)
    last = err.strip().splitlines()[-1]
    assert re.match(r"done: fit [\d.]+ s \(sampling [\d.]+ s\); diagnostics passed "
                    r"\(whole process [\d.]+ (s|min)\)", last), last
    rc = main([*base, "--quiet", "--sampler", "exact", "--out", str(tmp_path / "q")])
    assert rc == 0
    cap = capsys.readouterr()
    assert cap.err == "" and cap.out == ""


def _small_files(d):
    import pandas as pd
    from conftest import ring_plus_random

    from bayes_sdm.simulate import simulate_y
    from bayes_sdm.weights import make_weights

    rng = np.random.default_rng(7)
    n, t = 20, 6
    ids = [f"c{i:02d}" for i in range(n)]
    c = ring_plus_random(n, rng, 0.15)
    x = rng.normal(size=(t, n, 2))
    y = simulate_y(make_weights(c, ids), x, "sdm", 0.4, [1.0, -0.5], [0.5, 0.0], 0.5,
                   mu=rng.normal(size=n), alpha=rng.normal(size=t), rng=rng)
    rows = [{"city": ids[i], "year": 2000 + s, "y": y[s, i], "a": x[s, i, 0], "b": x[s, i, 1]}
            for s in range(t) for i in range(n)]
    pd.DataFrame(rows).to_csv(d / "panel.csv", index=False)
    pd.DataFrame(c, index=ids, columns=ids).to_csv(d / "w.csv")


# ----------------------------------------------------------------------------- figures
def test_rank_plot_verdicts_are_the_diagnostics(fit_ml):
    from bayes_sdm.plot_mcmc import rank_verdicts

    res, _ = fit_ml
    diag = res.diagnostics()
    d = diag.per_parameter.set_index("parameter")
    mine = rank_verdicts(res)  # computed on the plotted parameters alone
    given = rank_verdicts(res, diagnostics=diag)  # the run's diagnostics.json
    assert list(mine["parameter"]) == [p for p in d.index if not p.startswith("effects")]
    assert list(mine["title"]) == list(mine["parameter"])  # pooled: titled by the name
    for v in (mine, given):
        for col in ("r_hat", "ess_bulk", "ess_tail"):
            np.testing.assert_allclose(v[col], d.loc[v["parameter"], col], rtol=1e-12)
        assert (v["passed"].to_numpy() == d.loc[v["parameter"], "passed"].to_numpy()).all()
    assert not given["passed"].all()  # 150 draws per chain: ESS < 400, and the plot says so


def test_regional_forest_has_one_panel_per_variable(tmp_path):
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayes_sdm import plot_mcmc

    rng = np.random.default_rng(2)
    scale = np.array([0.1, 10.0])  # mar and jacobs on very different scales
    eff = rng.normal(size=(2, 100, 3, 3, 2)) * 0.1 * scale + scale
    idata = az.from_dict({"posterior": {"effects": eff}},
                         dims={"effects": ["region", "effect", "coef"]},
                         coords={"region": ["east", "central", "west"],
                                 "effect": ["direct", "indirect", "total"],
                                 "coef": ["mar", "jacobs"]})
    seen = {}
    real_save = plot_mcmc.save_figure

    def keep(fig, path, dpi=100):
        seen["axes"] = [a for a in fig.get_axes() if a.axison]
        seen["labels"] = [a.get_xlabel() + a.get_ylabel() for a in fig.get_axes()]
        return real_save(fig, path, dpi)

    plot_mcmc.save_figure = keep
    try:
        plot_mcmc.plot_effects_forest(idata, tmp_path / "f.png")
    finally:
        plot_mcmc.save_figure = real_save
    axes = seen["axes"]
    assert [a.get_title(loc="left") for a in axes] == ["mar", "jacobs"]
    widths = [np.diff(a.get_xlim())[0] for a in axes]
    assert widths[1] > 20 * widths[0]  # each variable on its own axis
    assert all(lab == "" for lab in seen["labels"])  # no stray axis labels
    plt.close("all")


# ----------------------------------------------------------------------------- report.html
def report_files(fit_ml, out):
    """report.md and report.html of a fit, with two of its figures."""
    from bayes_sdm.comparison import comparison_table
    from bayes_sdm.plot_mcmc import plot_effects_forest, plot_ranks
    from bayes_sdm.report import write_report

    res, ml = fit_ml
    diag = res.diagnostics()
    figs = [plot_ranks(res, out / "figures" / "rank.png", diagnostics=diag),
            plot_effects_forest(res, out / "figures" / "effects_forest.png",
                                ml_effects=ml.effects())]
    md = write_report(out, res.summary_table(), res.effects_table(), diag,
                      comparison_table(ml, res), figs, provenance=res)
    return md, md.with_suffix(".html"), figs


def test_report_html_is_self_contained_and_matches_the_markdown(fit_ml, tmp_path):
    md_path, html_path, figs = report_files(fit_ml, tmp_path)
    md, page = md_path.read_text(), html_path.read_text()
    tags = _tags(page)
    imgs = [a for t, a in tags if t == "img"]
    assert len(imgs) == len(figs) == md.count("![") == 2
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    n_md_tables = len(re.findall(r"^\|(:?-{3}:?\|)+$", md, flags=re.M))
    assert sum(t == "table" for t, _ in tags) == n_md_tables
    heads_md = re.findall(r"^#{1,3} (.+)$", md, flags=re.M)
    heads_html = re.findall(r"<h[123]>(.*?)</h[123]>", page)
    assert [h.replace("&amp;", "&") for h in heads_html] == heads_md
    assert not any(t in ("script", "link", "iframe", "object") for t, _ in tags)
    refs = [v for _, a in tags for k, v in a.items() if k in ("src", "href") and v]
    assert all(r.startswith("data:") for r in refs)
    assert "http://" not in page and "https://" not in page
    assert "<strong>passed</strong>" in page or "<strong>FAILED</strong>" in page


# ----------------------------------------------------------------------------- README
def test_readme_python_snippet_runs(monkeypatch, tmp_path, capsys):
    """The README's Python block, verbatim (a NUTS fit of cigar: a few seconds)."""
    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    assert "az.summary(res)" in code
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - the documented snippet
    res = ns["res"]
    assert res.diagnostics().passed
    assert (tmp_path / "runs" / "cigar-py" / "posterior.nc").exists()
    out = capsys.readouterr()
    assert "bayes_sdm.FitResult: SDM with twoway fixed effects" in out.out
    assert "sampling (closed-form" in out.err or "compiling and sampling" in out.err
