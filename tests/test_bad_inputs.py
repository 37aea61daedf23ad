"""Bad and awkward inputs, as a new user would try them (issue: reliability).

Every case runs the command in-process and asserts the exit code (2 bad input, 3 numerical
failure), a fragment of the message on stderr, that no traceback was printed, and that the
output folder was left untouched (absent, or holding the previous run's files unchanged).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import ring_plus_random

from bayes_sdm.cli import main
from bayes_sdm.simulate import simulate_y
from bayes_sdm.weights import make_weights

N, T = 12, 5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(3)
    ids = [f"c{i:02d}" for i in range(N)]
    c = ring_plus_random(N, rng, 0.2)
    w = make_weights(c, ids)
    x = rng.normal(size=(T, N, 2))
    y = simulate_y(w, x, "sdm", 0.3, [1.0, -0.5], [0.5, 0.0], 0.5, mu=rng.normal(size=N),
                   alpha=rng.normal(size=T), rng=rng)
    rows = [{"city": ids[i], "year": 2000 + s, "y": y[s, i], "a": x[s, i, 0], "b": x[s, i, 1],
             "lon": float(i % 4), "lat": float(i // 4), "grp": "e" if i < 6 else "w"}
            for s in range(T) for i in range(N)]
    df = pd.DataFrame(rows)
    df.to_csv(d / "panel.csv", index=False)
    pd.DataFrame(c, index=ids, columns=ids).to_csv(d / "w.csv")
    # --- broken variants -----------------------------------------------------------------
    df.assign(dbl=2.0 * df["a"]).to_csv(d / "collinear.csv", index=False)
    df.assign(y=3.0).to_csv(d / "const_y.csv", index=False)
    df.assign(y=df["y"] * 1e160).to_csv(d / "huge_y.csv", index=False)
    df.assign(unitconst=df["city"].str[1:].astype(int).astype(float)).to_csv(
        d / "absorbed.csv", index=False)
    df.iloc[:-1].to_csv(d / "unbalanced.csv", index=False)
    pd.concat([df, df.iloc[:1]]).to_csv(d / "dups.csv", index=False)
    df.assign(a=df["a"].where(df.index != 7, np.nan)).to_csv(d / "nan.csv", index=False)
    df.assign(a=df["a"].astype(object).where(df.index != 9, "n/a")).to_csv(d / "text.csv",
                                                                            index=False)
    (d / "empty.csv").write_text("")
    (d / "garbage.csv").write_text('a,b\n"unterminated,1\n2,3,4,5\n')
    (d / "one_year.csv").write_text(df[df.year == 2000].to_csv(index=False))
    wbad = pd.DataFrame(c, index=ids, columns=ids).astype(object)
    wbad.iloc[2, 3] = "x"
    wbad.to_csv(d / "w_text.csv")
    (d / "w_empty.csv").write_text("")
    (d / "w_garbage.npz").write_bytes(b"not a zip file at all")
    pd.DataFrame(c[:-1, :-1], index=ids[:-1], columns=ids[:-1]).to_csv(d / "w_short.csv")
    isl = c.copy()
    isl[0, :] = isl[:, 0] = 0.0
    pd.DataFrame(isl, index=ids, columns=ids).to_csv(d / "w_island.csv")
    neg = c.copy()
    neg[1, 2] = -1.0
    pd.DataFrame(neg, index=ids, columns=ids).to_csv(d / "w_negative.csv")
    # specs
    (d / "empty.yaml").write_text("")
    (d / "list.yaml").write_text("- model: sdm\n")
    (d / "typo_prior.yaml").write_text("priors:\n  beta: {dist: normal, scael: 0.001}\n")
    (d / "string_bool.yaml").write_text('data:\n  standardize_w: "false"\n')
    (d / "string_x.yaml").write_text("data:\n  x: logp\n")
    (d / "unknown_section_key.yaml").write_text("sampler:\n  draw: 100\n")
    (d / "unknown_hier.yaml").write_text("hierarchy:\n  poolin: partial\n")
    (d / "bad_yaml.yaml").write_text("model: [sdm\n")
    (d / "afile").write_text("I am a file")
    return d


def base(d, data="panel.csv", w="w.csv"):
    return ["--data", str(d / data), "--unit", "city", "--time", "year", "--y", "y",
            "--x", "a", "b", "--weights", str(d / w), "--no-progress", "--quiet",
            "--draws", "50", "--tune", "50", "--chains", "2"]


# (id, argv builder, exit code, message fragment)
CASES = [
    ("unknown column", lambda d: base(d)[:-8] + ["--x", "a", "nope", "--quiet"], 2,
     "unknown column(s) ['nope']"),
    ("x is the time column", lambda d: _swap(base(d), "b", "year"), 2, "is the time column"),
    ("y is the time column", lambda d: _swap(base(d), "y", "year", first=True), 2,
     "is the time column"),
    ("unbalanced", lambda d: base(d, "unbalanced.csv"), 2, "unbalanced panel"),
    ("duplicates", lambda d: base(d, "dups.csv"), 2, "duplicate (unit, time) rows"),
    ("NaN", lambda d: base(d, "nan.csv"), 2, "NaN/inf or non-numeric"),
    ("text in a column", lambda d: base(d, "text.csv"), 2, "non-numeric"),
    ("empty data", lambda d: base(d, "empty.csv"), 2, "is empty"),
    ("malformed data", lambda d: base(d, "garbage.csv"), 2, "garbage.csv"),
    ("missing data file", lambda d: base(d, "nope.csv"), 2, "data file not found"),
    ("unsupported data file", lambda d: base(d, "empty.yaml"), 2, "unsupported data file"),
    ("one period", lambda d: base(d, "one_year.csv"), 2, "at least 2 periods"),
    ("collinear regressors", lambda d: _swap(base(d, "collinear.csv"), "b", "dbl"), 2,
     "collinear"),
    ("collinear regressors, exact sampler",
     lambda d: _swap(base(d, "collinear.csv"), "b", "dbl") + ["--sampler", "exact"], 2,
     "collinear"),
    ("collinear regressors, ML", lambda d: _swap(base(d, "collinear.csv"), "b", "dbl")
     + ["--ml-only"], 2, "collinear"),
    ("regressor absorbed by unit FE", lambda d: _swap(base(d, "absorbed.csv"), "b",
                                                       "unitconst"), 2, "absorbed"),
    ("constant y", lambda d: base(d, "const_y.csv"), 2, "constant after"),
    ("constant y, ML", lambda d: base(d, "const_y.csv") + ["--ml-only"], 2, "constant after"),
    ("y overflows", lambda d: base(d, "huge_y.csv") + ["--ml-only"], 2, "not finite"),
    ("W with text", lambda d: base(d, w="w_text.csv"), 2, "is not a number"),
    ("empty W", lambda d: base(d, w="w_empty.csv"), 2, "is empty"),
    ("garbage npz", lambda d: base(d, w="w_garbage.npz"), 2, "not a scipy sparse"),
    ("W missing a unit", lambda d: base(d, w="w_short.csv"), 2, "units in the data but not in W"),
    ("W with an island", lambda d: base(d, w="w_island.csv"), 2, "islands"),
    ("W with a negative weight", lambda d: base(d, w="w_negative.csv"), 2, "negative"),
    ("missing W file", lambda d: base(d, w="nope.csv"), 2, "weights file not found"),
    ("economic-distance ties", lambda d: _swap(base(d), str(d / "w.csv"),
                                               "economic-distance:lon"), 2, "--ties nearest"),
    ("bad knn spec", lambda d: _swap(base(d), str(d / "w.csv"), "knn:x:lon,lat"), 2,
     "K must be an integer"),
    ("--dataset and --data", lambda d: base(d) + ["--dataset", "cigar"], 2, "exclusive"),
    ("--data without --weights", lambda d: ["--data", str(d / "panel.csv"), "--unit", "city",
                                            "--time", "year", "--y", "y", "--x", "a", "b"], 2,
     "needs --weights"),
    ("--data without columns", lambda d: ["--data", str(d / "panel.csv")], 2,
     "needs --unit --y --x --weights"),
    ("negative seed", lambda d: base(d) + ["--seed", "-1"], 2, "sampler.seed"),
    ("zero draws", lambda d: base(d) + ["--draws", "0"], 2, "sampler.draws"),
    ("absurd draws", lambda d: base(d) + ["--draws", "100000000000"], 2, "would need about"),
    ("exact sampler with default priors", lambda d: base(d) + ["--sampler", "exact", "--priors",
                                                               "default"], 2, "--priors flat"),
    ("empty spec", lambda d: base(d) + ["--spec", str(d / "empty.yaml")], 2,
     "spec file is empty"),
    ("spec is a list", lambda d: base(d) + ["--spec", str(d / "list.yaml")], 2,
     "must be a mapping"),
    ("typo in a prior", lambda d: base(d) + ["--spec", str(d / "typo_prior.yaml")], 2,
     "unknown key(s) ['scael']"),
    ("string for a bool", lambda d: base(d) + ["--spec", str(d / "string_bool.yaml")], 2,
     "standardize_w must be true/false"),
    ("string for a list", lambda d: ["--spec", str(d / "string_x.yaml"), "--quiet"], 2,
     "x must be"),
    ("unknown sampler key", lambda d: base(d) + ["--spec", str(d / "unknown_section_key.yaml")],
     2, "unknown spec field(s) ['draw']"),
    ("unknown hierarchy key", lambda d: base(d) + ["--spec", str(d / "unknown_hier.yaml")], 2,
     "unknown spec field(s) ['poolin']"),
    ("invalid YAML", lambda d: base(d) + ["--spec", str(d / "bad_yaml.yaml")], 2,
     "not valid YAML"),
    ("missing spec", lambda d: base(d) + ["--spec", str(d / "nope.yaml")], 2,
     "spec file not found"),
    ("--out under a regular file", lambda d: base(d) + ["--out", str(d / "afile" / "sub")], 2,
     "is not a folder"),
    ("unknown region", lambda d: base(d) + ["--region-col", "grp", "--region", "north"], 2,
     "region 'north' does not exist"),
    ("regional model without a region column", lambda d: base(d) + ["--pooling", "partial"], 2,
     "--region-col"),
]


def _swap(a, old, new, first=False):
    a = list(a)
    idx = [i for i, v in enumerate(a) if v == old]
    a[idx[0] if first else idx[-1]] = new
    return a


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_cleanly(case, files, tmp_path, capsys):
    name, build, code, fragment = case
    argv = build(files)
    out = tmp_path / "out"
    if "--out" not in argv:
        argv = [*argv, "--out", str(out)]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == code, f"{name}: exit {rc}, stderr: {err}"
    assert fragment in err, f"{name}: {err!r}"
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_failed_run_leaves_previous_run_untouched(files, tmp_path, capsys):
    """A finished run, then a bad one into the same folder: the folder still holds exactly the
    first run's files."""
    out = tmp_path / "run"
    assert main(base(files) + ["--sampler", "exact", "--draws", "1000", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc = main(base(files, "collinear.csv")[:-8] + ["--x", "a", "dbl", "--quiet", "--sampler",
                                                    "exact", "--out", str(out)])
    assert rc == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]


def test_files_respect_the_umask(files, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = tmp_path / "umask"
        assert main(base(files) + ["--sampler", "exact", "--draws", "1000", "--out",
                                   str(out)]) == 0
    finally:
        os.umask(old)
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044, p.name
    assert stat.S_IMODE(out.stat().st_mode) & 0o055 == 0o055


def test_tie_rule_is_settable(files, tmp_path):
    argv = _swap(base(files), str(files / "w.csv"), "economic-distance:lon")
    assert main(argv + ["--ties", "nearest", "--sampler", "exact", "--draws", "1000", "--out",
                        str(tmp_path / "t")]) == 0


def test_one_chain_can_pass(files, tmp_path):
    out = tmp_path / "one"
    rc = main(base(files) + ["--chains", "1", "--draws", "2000", "--tune", "500", "--sampler",
                             "exact", "--out", str(out)])
    diag = json.loads((out / "diagnostics.json").read_text())
    assert rc == 0, diag["failures"]
    assert any("one chain" in w for w in diag["warnings"])


def test_exit_codes_of_failures(tmp_path, capsys):
    """NumericalError -> 3 with its message; an unanticipated exception -> 3 with one line and
    the traceback in error.log in the (empty) output folder; KeyboardInterrupt -> 130."""
    from bayes_sdm.commands import run_command
    from bayes_sdm.errors import NumericalError

    def numerical(argv):
        raise NumericalError("rho=0.9999 is at the upper bound")

    def crash(argv):
        raise ZeroDivisionError("boom")

    def interrupted(argv):
        raise KeyboardInterrupt

    assert run_command(numerical, [], "x") == 3
    assert "upper bound" in capsys.readouterr().err
    out = tmp_path / "o"
    assert run_command(crash, [], "x", lambda argv: out) == 3
    err = capsys.readouterr().err
    assert "ZeroDivisionError: boom" in err and "Traceback" not in err
    assert "Traceback" in (out / "error.log").read_text()
    assert run_command(interrupted, [], "x") == 130
    assert "interrupted" in capsys.readouterr().err


def test_gal_ids_with_spaces_load(tmp_path):
    from bayes_sdm.weights import read_weights

    text = "3\nNew York 2\nNew Jersey Long Island\nNew Jersey 1\nNew York\n" \
           "Long Island 1\nNew York\n"
    (tmp_path / "w.gal").write_text(text)
    w = read_weights(tmp_path / "w.gal", standardize=False)
    assert w.ids == ("New York", "New Jersey", "Long Island")
    assert w.matrix.toarray().tolist() == [[0, 1, 1], [1, 0, 0], [1, 0, 0]]


def test_zero_padded_ids_in_a_w_csv(tmp_path):
    """Zero-padded ids ("01") load (the header and the index are compared as written) and are
    read as the data's unit column is read (pandas reads "01" as 1)."""
    from bayes_sdm.weights import read_weights

    ids = ["01", "02", "03"]
    c = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], float)
    pd.DataFrame(c, index=ids, columns=ids).to_csv(tmp_path / "w.csv")
    pd.DataFrame({"u": ids}).to_csv(tmp_path / "d.csv", index=False)
    assert read_weights(tmp_path / "w.csv").ids == tuple(pd.read_csv(tmp_path / "d.csv")["u"])


def test_load_fit_refuses_truncated_and_incomplete_files(files, tmp_path):
    import shutil

    from bayes_sdm.errors import InputError
    from bayes_sdm.io import save_fit
    from bayes_sdm.result import load_fit

    out = tmp_path / "r"
    assert main(base(files) + ["--sampler", "exact", "--draws", "1000", "--out", str(out)]) == 0
    good = load_fit(out / "posterior.nc")
    data = (out / "posterior.nc").read_bytes()
    (tmp_path / "trunc.nc").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="trunc.nc"):
        load_fit(tmp_path / "trunc.nc")
    # fewer chains than the spec says (what an interrupted PyMC run returns)
    dt = good.idata.copy()
    dt["posterior"] = dt["posterior"].to_dataset().isel(chain=[0])
    save_fit(dt, tmp_path / "short.nc")
    with pytest.raises(InputError, match="1 chain"):
        load_fit(tmp_path / "short.nc")
    # NaN-padded chains (what an interrupted nutpie run returns)
    post = good.idata["posterior"].to_dataset()
    post["rho"] = post["rho"].where(post["chain"] == 0)
    dt = good.idata.copy()
    dt["posterior"] = post
    save_fit(dt, tmp_path / "nan.nc")
    with pytest.raises(InputError, match="non-finite"):
        load_fit(tmp_path / "nan.nc")
    shutil.copy(out / "posterior.nc", tmp_path / "copy.nc")
    assert load_fit(tmp_path / "copy.nc").spec.sampler.chains == 2
