"""``load_fit`` reads back every fit the CLI writes, with the same tables (issue: architecture):
pooled, regional (partial / none / complete pooling x block / full W), and an ML-only folder
says what it holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ring_plus_random

from bayes_sdm.cli import main
from bayes_sdm.errors import InputError
from bayes_sdm.result import FitResult, load_fit
from bayes_sdm.simulate import simulate_y
from bayes_sdm.weights import make_weights


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rt")
    rng = np.random.default_rng(11)
    n, t = 16, 5
    ids = [f"c{i:02d}" for i in range(n)]
    c = ring_plus_random(n, rng, 0.25)
    for i in range(0, n, 2):  # neighbours inside each region for the block W
        c[i, i + 1] = c[i + 1, i] = 1.0
    w = make_weights(c, ids)
    x = rng.normal(size=(t, n, 2))
    y = simulate_y(w, x, "sdm", 0.3, [1.0, -0.5], [0.4, 0.1], 0.5, mu=rng.normal(size=n),
                   alpha=rng.normal(size=t), rng=rng)
    rows = [{"city": ids[i], "year": 2000 + s, "y": y[s, i], "a": x[s, i, 0], "b": x[s, i, 1],
             "grp": "east" if i < 8 else "west"} for s in range(t) for i in range(n)]
    pd.DataFrame(rows).to_csv(d / "panel.csv", index=False)
    pd.DataFrame(c, index=ids, columns=ids).to_csv(d / "w.csv")
    return d


def args(d, *extra):
    return ["--data", str(d / "panel.csv"), "--unit", "city", "--time", "year", "--y", "y",
            "--x", "a", "b", "--weights", str(d / "w.csv"), "--no-progress", "--quiet",
            "--chains", "2", "--draws", "60", "--tune", "60", *extra]


def _same(path, table):
    """The CSV equals the table (an empty label, e.g. a pooled parameter's region, reads back
    from CSV as NaN: compared as an empty string)."""
    df = pd.read_csv(path)
    t = table.reset_index(drop=True).copy()
    for c in t.columns:
        if not pd.api.types.is_numeric_dtype(t[c]):
            t[c] = t[c].astype(str)
            df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    pd.testing.assert_frame_equal(df, t, check_dtype=False, rtol=1e-12)


def _same_tables(out, res: FitResult, regional: bool):
    _same(out / "summary.csv", res.summary_table())
    _same(out / "effects.csv", res.effects_table())
    if regional:
        _same(out / "region_contrasts.csv", res.contrasts_table())
        if (out / "spillovers.csv").exists():
            _same(out / "spillovers.csv", res.spillovers_table())


def test_pooled_fit_round_trips(files, tmp_path):
    out = tmp_path / "pooled"
    assert main(args(files, "--out", str(out))) in (0, 1)
    res = load_fit(out / "posterior.nc")
    assert res.spec.model == "sdm" and res.prepared is None
    assert res.attrs["data_hash"] and not res.is_regional
    _same_tables(out, res, regional=False)
    assert load_fit(out).attrs["spec_hash"] == res.attrs["spec_hash"]  # the folder works too


@pytest.mark.parametrize("pooling", ["partial", "none", "complete"])
@pytest.mark.parametrize("regional_w", ["block", "full"])
def test_regional_fit_round_trips(files, tmp_path, pooling, regional_w):
    out = tmp_path / f"{pooling}-{regional_w}"
    rc = main(args(files, "--region-col", "grp", "--pooling", pooling, "--regional-w",
                   regional_w, "--out", str(out)))
    assert rc in (0, 1)
    res = load_fit(out / "posterior.nc")
    assert res.is_regional and res.spec.hierarchy.pooling == pooling
    assert res.attrs["data_hash"] and res.attrs["regions"]
    _same_tables(out, res, regional=True)
    assert len(res.diagnostics().per_parameter) > 0


def test_ml_only_folder_says_what_it_holds(files, tmp_path):
    out = tmp_path / "ml"
    assert main(args(files, "--ml-only", "--out", str(out))) == 0
    with pytest.raises(InputError, match="maximum-likelihood fit only"):
        load_fit(out)
    with pytest.raises(InputError, match="no such fit file"):
        load_fit(out / "posterior.nc")
