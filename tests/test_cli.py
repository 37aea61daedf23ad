"""The fit_region command end to end on a small simulated panel: files, names, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import ring_plus_random

from bayes_sdm.cli import main
from bayes_sdm.result import load_fit
from bayes_sdm.simulate import simulate_y
from bayes_sdm.weights import make_weights


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(7)
    n, t = 20, 6
    ids = [f"c{i:02d}" for i in range(n)]
    c = ring_plus_random(n, rng, 0.15)
    w = make_weights(c, ids)
    x = rng.normal(size=(t, n, 2))
    y = simulate_y(w, x, "sdm", 0.4, [1.0, -0.5], [0.5, 0.0], 0.5,
                   mu=rng.normal(size=n), alpha=rng.normal(size=t), rng=rng)
    rows = [{"city": ids[i], "year": 2000 + s, "y": y[s, i], "a": x[s, i, 0], "b": x[s, i, 1],
             "grp": "east" if i < 10 else "west"} for s in range(t) for i in range(n)]
    pd.DataFrame(rows).to_csv(d / "panel.csv", index=False)
    pd.DataFrame(c, index=ids, columns=ids).to_csv(d / "w.csv")
    return d


def args(d, *extra):
    return ["--data", str(d / "panel.csv"), "--unit", "city", "--time", "year", "--y", "y",
            "--x", "a", "b", "--weights", str(d / "w.csv"), "--no-progress", "--quiet",
            "--chains", "2", *extra]


def test_cli_writes_outputs(small_files, tmp_path):
    out = tmp_path / "run"
    rc = main(args(small_files, "--draws", "600", "--tune", "600", "--out", str(out)))
    assert rc == 0
    summ = pd.read_csv(out / "summary.csv")
    assert summ.parameter.tolist() == ["rho", "beta[a]", "beta[b]", "theta[a]", "theta[b]",
                                       "sigma2"]
    assert list(summ.columns) == ["parameter", "mean", "sd", "hdi_3%", "hdi_97%", "r_hat",
                                  "ess_bulk", "ess_tail"]
    eff = pd.read_csv(out / "effects.csv")
    assert list(eff.columns) == ["variable", "effect", "mean", "sd", "hdi_3%", "hdi_97%",
                                 "prob_positive"]
    assert len(eff) == 6
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["passed"] is True and diag["divergences"] == 0
    dt = load_fit(out / "posterior.nc", data_hash=diag["data_hash"])
    assert "effects" in dt["posterior"].data_vars and "spec" in dt.attrs
    assert not list(out.glob(".*tmp"))


def test_cli_exit_1_when_diagnostics_fail(small_files, tmp_path):
    rc = main(args(small_files, "--draws", "30", "--tune", "30", "--out", str(tmp_path / "r")))
    assert rc == 1
    assert json.loads((tmp_path / "r" / "diagnostics.json").read_text())["passed"] is False


def test_cli_exit_2_on_bad_input(small_files, tmp_path, capsys):
    a = args(small_files, "--out", str(tmp_path / "r"))
    a[a.index("b")] = "nope"
    assert main(a) == 2
    assert "unknown column(s) ['nope']" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_region_unknown(small_files, tmp_path, capsys):
    rc = main(args(small_files, "--region-col", "grp", "--region", "north", "--out",
                   str(tmp_path / "r")))
    assert rc == 2
    assert "region 'north' does not exist" in capsys.readouterr().err


def test_cli_ml_only_writes_ml_tables(small_files, tmp_path):
    out = tmp_path / "ml"
    assert main(args(small_files, "--ml-only", "--out", str(out))) == 0
    ml = pd.read_csv(out / "ml.csv")
    assert list(ml.columns) == ["parameter", "estimate", "se", "z", "p"]
    assert {"rho", "beta[a]", "theta[b]", "sigma2", "loglik", "aic", "bic"} <= set(ml.parameter)
    eff = pd.read_csv(out / "ml_effects.csv")
    assert "se" in eff.columns and len(eff) == 6
    tests = json.loads((out / "tests.json").read_text())
    assert {"statistic", "df", "p"} <= set(tests["sdm_vs_sar_lr"])
    assert not (out / "posterior.nc").exists()


def test_cli_regional_partial_block(small_files, tmp_path):
    out = tmp_path / "reg"
    rc = main(args(small_files, "--region-col", "grp", "--pooling", "partial", "--regional-w",
                   "block", "--draws", "150", "--tune", "150", "--out", str(out)))
    assert rc in (0, 1)  # short chains may fail the ESS threshold; the files must be there
    eff = pd.read_csv(out / "effects.csv")
    assert eff.columns[0] == "region" and set(eff.region) == {"east", "west"}
    summ = pd.read_csv(out / "summary.csv")
    assert "region" in summ.columns
    con = pd.read_csv(out / "region_contrasts.csv")
    assert list(con.columns) == ["variable", "effect", "contrast", "mean", "sd", "hdi_3%",
                                 "hdi_97%", "prob_positive"]
    assert (out / "diagnostics.json").exists() and (out / "posterior.nc").exists()
    assert not (out / "spillovers.csv").exists()


def test_cli_regional_needs_region_column(small_files, tmp_path, capsys):
    assert main(args(small_files, "--pooling", "partial", "--out", str(tmp_path / "r"))) == 2
    assert "--region-col" in capsys.readouterr().err


def test_cli_plots_write_figures_and_report(small_files, tmp_path):
    out = tmp_path / "plots"
    rc = main(args(small_files, "--plots", "--draws", "200", "--tune", "200", "--out", str(out)))
    assert rc in (0, 1)
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert {"trace.png", "rank.png", "effects_forest.png", "ppc_y.png", "ppc_moran.png",
            "rho_ml.png"} <= figs
    text = (out / "report.md").read_text()
    assert "## Parameters" in text and "figures/effects_forest.png" in text
    page = (out / "report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len(figs)


def test_cli_exact_sampler_needs_flat_priors(small_files, tmp_path, capsys):
    """--sampler exact implies the flat reference prior; other priors are refused."""
    assert main(args(small_files, "--sampler", "exact", "--priors", "default", "--out",
                     str(tmp_path / "a"))) == 2
    assert "--priors flat" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert main(args(small_files, "--sampler", "exact", "--out", str(tmp_path / "c"))) == 0
    out = tmp_path / "b"
    assert main(args(small_files, "--sampler", "exact", "--priors", "flat", "--out",
                     str(out))) == 0
    assert len(pd.read_csv(out / "effects.csv")) == 6


def test_cli_logdet_method_recorded(small_files, tmp_path):
    """--logdet chebyshev runs the interpolated log-determinant end to end (exact sampler) and
    the method is recorded with the fit."""
    import xarray as xr

    out = tmp_path / "cheb"
    assert main(args(small_files, "--sampler", "exact", "--priors", "flat", "--logdet",
                     "chebyshev", "--out", str(out))) == 0
    tree = xr.open_datatree(out / "posterior.nc")
    assert tree.attrs["logdet_method"] == "chebyshev"
    assert "logdet: chebyshev" in tree.attrs["spec"]
    shift = float(tree.attrs["logdet_posterior_shift"])
    assert 0 < shift < 0.01
    assert json.loads((out / "diagnostics.json").read_text())["logdet_posterior_shift"] == shift


def test_cli_stochastic_logdet_shift_fails_diagnostics(small_files, tmp_path, capsys):
    """At N = 20 the Monte Carlo log-determinant can move the posterior of rho by more than
    0.01 sd: the fit is written but the diagnostics fail (exit 1) and say why."""
    out = tmp_path / "stoch"
    rc = main(args(small_files, "--sampler", "exact", "--priors", "flat", "--logdet",
                   "stochastic", "--out", str(out)))
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["logdet_posterior_shift"] > 0.01
    assert rc == 1 and not diag["passed"]
    assert any("log-determinant" in f for f in diag["failures"])


def test_spec_refuses_unknown_logdet():
    from bayes_sdm.errors import InputError
    from bayes_sdm.spec import ModelSpec

    with pytest.raises(InputError, match="unknown log-determinant method 'lu'"):
        ModelSpec(logdet="lu").validate()


def test_run_folder_removes_only_stale_partials_of_its_own_name(tmp_path):
    """A killed run's ``.<out>.<pid>.*.partial`` folder (its process gone) is removed by the
    next run into the same ``--out``; a live process's, another output's and a name without a
    process id are kept."""
    import os

    from bayes_sdm.commands import RunFolder

    dead = 2 ** 22 + 12345  # above the default pid_max (2^22): no process has it
    keep = [f".run.{os.getpid()}.ab.partial", f".runx.{dead}.ab.partial",
            ".run.notapid.ab.partial", f".run.{dead}.ab.old"]
    for name in keep + [f".run.{dead}.cd.partial"]:
        (tmp_path / name).mkdir()
    with RunFolder(tmp_path / "run") as tmp:
        (tmp / "x.txt").write_text("x")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(keep + ["run"])
    assert (tmp_path / "run" / "x.txt").read_text() == "x"
