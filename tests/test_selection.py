"""The selection pipeline: outputs and their columns, the decision rules, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_sdm.panel import Panel
from bayes_sdm.selection import (
    LM_COLUMNS,
    PROB_COLUMNS,
    decide,
    main,
    run_selection,
)
from bayes_sdm.simulate import simulate_y
from bayes_sdm.weights import knn

ROOT = Path(__file__).resolve().parent.parent
MORAN_COLS = ["variable", "year", "I", "expected", "variance", "z", "p"]


def sdm_panel(n=40, t=8, seed=0):
    rng = np.random.default_rng(seed)
    w = knn(rng.uniform(size=(n, 2)), tuple(f"c{i}" for i in range(n)), 5)
    x = rng.normal(size=(t, n, 2))
    y = simulate_y(w, x, "sdm", rho=0.5, beta=np.array([1.0, -1.0]),
                   theta=np.array([1.0, 0.8]), mu=rng.normal(size=n), alpha=rng.normal(size=t),
                   rng=rng)
    return Panel(y, x, w.ids, tuple(range(2001, 2001 + t)), "y", ("x1", "x2")), w


def test_run_selection_writes_the_four_files(tmp_path):
    panel, w = sdm_panel()
    res = run_selection(panel, w, tmp_path / "out", fe="twoway", label="sim")
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["lm_tests.csv", "model_probabilities.csv", "moran.csv", "selection.md"]
    mor = pd.read_csv(tmp_path / "out" / "moran.csv")
    assert list(mor.columns) == MORAN_COLS and len(mor) == 3 * panel.T
    lm = pd.read_csv(tmp_path / "out" / "lm_tests.csv")
    assert list(lm.columns) == LM_COLUMNS
    assert lm.test.iloc[:4].tolist() == ["LM-lag", "LM-error", "robust LM-lag",
                                         "robust LM-error"]
    assert {"Wald SDM vs SAR (theta = 0)", "Wald SDM vs SEM (common factor)",
            "LR unit effects (OLS)", "LR time effects (OLS)"} <= set(lm.test)  # ML tests follow
    pr = pd.read_csv(tmp_path / "out" / "model_probabilities.csv")
    assert list(pr.columns) == PROB_COLUMNS and pr.probability.sum() == pytest.approx(1.0)
    md = (tmp_path / "out" / "selection.md").read_text()
    assert "**The evidence favours the SDM with two-way" in md
    assert res.decision["favoured"] == "sdm" and res.decision["bayes_best"] == "sdm"
    assert "sim" in md.splitlines()[0]


def test_several_fe_for_the_probabilities(tmp_path):
    panel, w = sdm_panel(seed=1)
    res = run_selection(panel, w, None, fe="unit", marginal_fe=["twoway"], ml=False)
    assert set(res.probabilities.fe) == {"unit", "twoway"}
    for _, g in res.probabilities.groupby("fe"):
        assert g.probability.sum() == pytest.approx(1.0)
    assert "ML tests skipped" in res.markdown()


def _lm(p_lag, p_err, p_rlag, p_rerr):
    return pd.DataFrame({"test": ["LM-lag", "LM-error", "robust LM-lag", "robust LM-error"],
                         "statistic": 1.0, "df": 1, "p": [p_lag, p_err, p_rlag, p_rerr]})


def _ml(p_sar, p_sem, p_unit=None, p_time=None):
    rows = [("Wald SDM vs SAR (theta = 0)", p_sar), ("LR SDM vs SAR", p_sar),
            ("Wald SDM vs SEM (common factor)", p_sem), ("LR SDM vs SEM", p_sem)]
    if p_unit is not None:
        rows += [("LR unit effects", p_unit), ("LR time effects", p_time)]
    return pd.DataFrame({"test": [r[0] for r in rows], "statistic": 1.0, "df": 2,
                         "p": [r[1] for r in rows]})


def _probs(best, p=0.6):
    models = ["ols", "slx", "sar", "sdm", "sem", "sdem"]
    pr = [(1 - p) / 5] * 6
    pr[models.index(best)] = p
    return pd.DataFrame({"model": models, "fe": "twoway", "log_marginal": np.log(pr),
                         "probability": pr})


MORAN = pd.DataFrame({"variable": ["y"] * 2, "year": [1, 2], "I": [0.2, 0.3],
                      "expected": -0.1, "variance": 0.01, "z": 3.0, "p": [0.01, 0.2]})


@pytest.mark.parametrize("lm,ml,probs,classical,favoured", [
    (_lm(.001, .001, .001, .001), _ml(.001, .001), _probs("sdm"), "sdm", "sdm"),
    (_lm(.001, .001, .001, .5), _ml(.5, .001), _probs("sar"), "sar", "sar"),
    (_lm(.001, .001, .5, .001), _ml(.001, .5), _probs("sem"), "sem", "sem"),
    # theta = 0 not rejected but the LM tests point to the error: keep the SDM
    (_lm(.001, .001, .5, .001), _ml(.5, .001), _probs("sdm"), "sdm", "sdm"),
    (_lm(.5, .5, .5, .5), _ml(.5, .5), _probs("ols"), "ols", "ols"),
    # disagreement: Bayes decisive wins, otherwise the classical choice is reported
    (_lm(.001, .001, .001, .001), _ml(.001, .001), _probs("sdem", .95), "sdm", "sdem"),
    (_lm(.001, .001, .001, .001), _ml(.001, .001), _probs("sdem", .6), "sdm", "sdm"),
])
def test_decision_rules(lm, ml, probs, classical, favoured):
    d = decide(MORAN, lm, ml, probs, "twoway")
    assert d["classical"] == classical
    assert d["favoured"] == favoured
    assert "significant in 1 of 2 years" in d["moran_lines"][0]


def test_fe_choice_from_lr_tests():
    d = decide(MORAN, _lm(.001, .001, .001, .001), _ml(.001, .001, .001, .4), _probs("sdm"),
               "twoway")
    assert d["fe_choice"] == "unit"
    assert any("--fe unit" in n for n in d["notes"])


def test_cli_default_runs_on_the_synthetic_study_panel(tmp_path, capsys):
    out = tmp_path / "sel"
    assert main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "synthetic_ua" in printed and "The evidence favours" in printed
    mor = pd.read_csv(out / "moran.csv")
    assert list(mor.columns) == MORAN_COLS
    assert set(mor.variable) == {"resi", "mar", "jacobs", "inf", "tra", "ftri", "inv"}
    assert mor.year.nunique() == 16
    assert (out / "selection.md").read_text().startswith("# Model selection: synthetic_ua")


def test_cli_other_dataset_and_options(tmp_path):
    out = tmp_path / "cig"
    assert main(["--dataset", "cigar", "--fe", "unit", "--no-ml", "--raw-units", "--quiet",
                 "--models", "sar", "sdm", "sem", "--variables", "logc", "price",
                 "--out", str(out)]) == 0
    assert set(pd.read_csv(out / "moran.csv").variable) == {"logc", "price"}
    pr = pd.read_csv(out / "model_probabilities.csv")
    assert pr.model.tolist() == ["sar", "sdm", "sem"]
    assert pr.set_index("model").probability["sdm"] > 0.99


@pytest.mark.parametrize("args,msg", [
    (["--data", "no_such_file.csv", "--unit", "u", "--time", "t", "--y", "y", "--x", "x",
      "--weights", "w.csv"], "not found"),
    (["--dataset", "cigar", "--variables", "nope"], "nope"),
    (["--dataset", "cigar", "--alpha", "2"], "alpha"),
    (["--dataset", "nosuch"], "unknown dataset"),
])
def test_cli_bad_input_exits_2(args, msg, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "x"), "--no-ml", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and msg in err
    assert not (tmp_path / "x").exists()


def test_script_wrapper_exit_code(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "select_model.py"), "--dataset",
                        "nosuch", "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and "unknown dataset" in r.stderr
