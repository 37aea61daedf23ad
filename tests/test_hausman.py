"""The spatial Hausman test (FE vs RE) against splm's ``sphtest``, and ``fe: random`` in the
spec and the ``fit_region`` command.

splm (``splm_<panel>.json``, ``hausman_lag`` / ``hausman_error_bsk``): ``sphtest(method="ML")``
contrasts unit FE (within, direct approach) with ``spreml`` random effects over the slope
coefficients.  splm's statistic carries its estimates' precision (~1e-7 relative on the
coefficients; the contrast is a small difference of them), so it is compared at 1e-5
relative; we measure 0.8e-6 to 3e-6.  splm's KKP error variant (``hausman_error_kkp``) is a
different RE error model, not implemented here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bayes_sdm.api import prepare
from bayes_sdm.cli import main
from bayes_sdm.datasets import load_dataset
from bayes_sdm.errors import InputError
from bayes_sdm.hausman import hausman_test, spatial_hausman
from bayes_sdm.ml import fit_ml
from bayes_sdm.random_effects import fit_re
from bayes_sdm.spec import ModelSpec

REF = Path(__file__).parent / "data" / "reference"


@pytest.mark.parametrize("ds", ["cigar", "produc"])
@pytest.mark.parametrize("fam,key", [("sar", "hausman_lag"), ("sem", "hausman_error_bsk")])
def test_hausman_matches_splm(ds, fam, key):
    ref = json.loads((REF / f"splm_{ds}.json").read_text())
    d = load_dataset(ds)
    h = spatial_hausman(prepare(d.panel(), d.weights, fam, "twoway"))
    assert h["df"] == ref[f"{key}.df"]
    assert h["statistic"] == pytest.approx(ref[f"{key}.statistic"], rel=1e-5)
    assert h["p_value"] == pytest.approx(ref[f"{key}.p_value"], rel=1e-4)
    assert h["coefficients"] == [f"beta[{x}]" for x in d.x]


def test_hausman_refuses_mismatched_fits(cigar):
    panel, w = cigar
    re = fit_re(panel, w, "sar")
    fe_sem = fit_ml(prepare(panel, w, "sem", "unit", "none"), "none")
    with pytest.raises(InputError, match="same family"):
        hausman_test(fe_sem, re)
    fe = fit_ml(prepare(panel, w, "sar", "unit", "none"), "none")
    with pytest.raises(InputError, match="fixed-effects fit and a random-effects fit"):
        hausman_test(fe, fe)
    with pytest.raises(InputError, match="sar, sdm, sem and sdem"):
        spatial_hausman(prepare(panel, w, "slx", "unit"))


def test_spec_fe_random():
    s = ModelSpec.from_dict({"model": "sar", "fe": "random"})
    assert s.fe == "random"
    with pytest.raises(InputError, match="sar, sdm, sem and sdem"):
        ModelSpec.from_dict({"model": "slx", "fe": "random"})
    with pytest.raises(InputError, match="unknown fixed effects"):
        ModelSpec.from_dict({"model": "sar", "fe": "randm"})


def test_spec_fe_random_yaml(tmp_path):
    p = tmp_path / "re.yaml"
    p.write_text(ModelSpec.from_dict({"model": "sdm", "fe": "random"}).to_yaml())
    assert ModelSpec.from_yaml(p).fe == "random"


def test_cli_fe_random_ml_only(tmp_path):
    out = tmp_path / "re"
    rc = main(["--dataset", "produc", "--model", "sar", "--fe", "random", "--ml-only",
               "--quiet", "--out", str(out)])
    assert rc == 0
    ml = pd.read_csv(out / "ml.csv").set_index("parameter")
    ref = json.loads((REF / "splm_produc.json").read_text())
    assert ml.loc["rho", "estimate"] == pytest.approx(ref["re_sar.rho"], rel=1e-5)
    assert ml.loc["phi", "estimate"] == pytest.approx(ref["re_sar.spreg_phi"], rel=1e-5)
    assert ml.loc["sigma2_mu", "estimate"] == pytest.approx(ref["re_sar.sigma2_mu"], rel=2e-5)
    assert ml.loc["loglik", "estimate"] == pytest.approx(ref["re_sar.loglik"], rel=1e-9)
    eff = pd.read_csv(out / "ml_effects.csv")
    assert len(eff) == 3 * 4 and set(eff.variable) == {"lpcap", "lpc", "lemp", "unemp"}
    h = json.loads((out / "tests.json").read_text())["hausman_fe_vs_re"]
    assert h["statistic"] == pytest.approx(ref["hausman_lag.statistic"], rel=1e-5)


def test_cli_fe_random_refusals(tmp_path, capsys):
    rc = main(["--dataset", "cigar", "--model", "slx", "--fe", "random", "--ml-only",
               "--quiet", "--out", str(tmp_path / "a")])
    assert rc == 2
    assert "sar, sdm, sem and sdem" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_fe_random_bayes_small(tmp_path):
    """``--fe random --ml`` end to end on a small simulated panel with unit random effects:
    posterior, summary (intercept, phi, sigma2_mu rows), effects, diagnostics, comparison,
    report; a short run, so only the files and names are checked here (about a minute:
    compilation and figures)."""
    import numpy as np
    from conftest import ring_plus_random

    from bayes_sdm.simulate import simulate_y
    from bayes_sdm.weights import make_weights

    rng = np.random.default_rng(3)
    n, t = 15, 6
    ids = [f"u{i:02d}" for i in range(n)]
    c = ring_plus_random(n, rng, 0.2)
    w = make_weights(c, ids)
    x = rng.normal(size=(t, n, 2))
    y = simulate_y(w, x, "sar", 0.3, [1.0, -0.5], None, 0.5, mu=1.0 + rng.normal(size=n),
                   rng=rng)
    rows = [{"id": ids[i], "year": 2000 + s, "y": y[s, i], "a": x[s, i, 0], "b": x[s, i, 1]}
            for s in range(t) for i in range(n)]
    pd.DataFrame(rows).to_csv(tmp_path / "p.csv", index=False)
    pd.DataFrame(c, index=ids, columns=ids).to_csv(tmp_path / "w.csv")
    out = tmp_path / "run"
    rc = main(["--data", str(tmp_path / "p.csv"), "--unit", "id", "--time", "year", "--y", "y",
               "--x", "a", "b", "--weights", str(tmp_path / "w.csv"), "--model", "sar",
               "--fe", "random", "--ml", "--draws", "150", "--tune", "150", "--chains", "1",
               "--sampler", "pymc", "--no-progress", "--quiet", "--plots", "--out", str(out)])
    assert rc in (0, 1)
    summ = pd.read_csv(out / "summary.csv")
    assert summ.parameter.tolist() == ["rho", "intercept", "beta[a]", "beta[b]", "phi",
                                       "sigma2", "sigma2_mu"]
    assert len(pd.read_csv(out / "effects.csv")) == 6
    comp = pd.read_csv(out / "comparison.csv")
    assert comp.loc[comp.parameter == "phi", "post_mean"].notna().all()
    assert "hausman_fe_vs_re" in json.loads((out / "tests.json").read_text())
    assert "unit random effects" in (out / "report.md").read_text()
    assert (out / "posterior.nc").exists() and (out / "diagnostics.json").exists()


def test_selection_reports_hausman(cigar, tmp_path):
    """select_model's ML tests carry the Hausman rows for SAR and SEM (= splm's sphtest) and
    selection.md explains the FE/RE comparison."""
    from bayes_sdm.selection import hausman_rows, run_selection

    panel, w = cigar
    rows, notes = hausman_rows(panel, w)
    ref = json.loads((REF / "splm_cigar.json").read_text())
    got = {r["test"]: r for r in rows}
    assert got["Hausman FE vs RE (SAR)"]["statistic"] == pytest.approx(
        ref["hausman_lag.statistic"], rel=1e-5)
    assert got["Hausman FE vs RE (SEM)"]["statistic"] == pytest.approx(
        ref["hausman_error_bsk.statistic"], rel=1e-5)
    # beside each Hausman test its Bayesian counterpart (bayes_sdm.cre: RE vs CRE by ELPD on
    # the same data; FE and RE ELPDs themselves are not comparable)
    assert any("not comparable" in n for n in notes)
    assert {"Bayes SAR: ELPD CRE - RE", "Bayes SEM: ELPD CRE - RE"} <= set(got)
    res = run_selection(panel, w, tmp_path / "sel", fe="twoway", models=["sar", "sem"],
                        label="cigar")
    lm = pd.read_csv(tmp_path / "sel" / "lm_tests.csv")
    assert {"Hausman FE vs RE (SAR)", "Hausman FE vs RE (SEM)",
            "Bayes SAR: ELPD CRE - RE"} <= set(lm.test)
    md = (tmp_path / "sel" / "selection.md").read_text()
    assert "Hausman FE vs RE (SAR)" in md and "random effects" in md
    assert res.decision["favoured"] in ("sar", "sem", "sdm")


def test_cli_fe_unit_ml_only_has_hausman(tmp_path):
    out = tmp_path / "fe"
    rc = main(["--dataset", "cigar", "--model", "sar", "--fe", "unit", "--ml-only", "--quiet",
               "--out", str(out)])
    assert rc == 0
    tests = json.loads((out / "tests.json").read_text())
    ref = json.loads((REF / "splm_cigar.json").read_text())
    assert tests["hausman_fe_vs_re"]["statistic"] == pytest.approx(
        ref["hausman_lag.statistic"], rel=1e-5)
    assert "sdm_vs_sar_lr" in tests


def test_prepare_points_random_effects_elsewhere(cigar):
    panel, w = cigar
    with pytest.raises(InputError, match="fit_random_effects"):
        prepare(panel, w, "sar", "random")
