"""scripts/build_indices.py: exact rebuild of synthetic_ua, options, and exit 2 on bad input."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from bayes_sdm.datasets import load_dataset, load_raw_tables
from bayes_sdm.datasets._loaders import RAW_FILES

_spec = importlib.util.spec_from_file_location("build_indices_script",
                                               ROOT / "scripts" / "build_indices.py")
bi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bi)

X = ["mar", "jacobs", "inf", "tra", "ftri", "inv"]
CITIES = ["Shanghai", "Nanjing", "Chengdu", "Wuhan", "Lanzhou"]
LAST = 2006


def _read(path):
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def bundled():
    return bi.bundled_raw_dir()


@pytest.fixture()
def small(tmp_path, bundled):
    """The bundled raw tables cut to 5 cities and 2002-2006, in a writable folder."""
    d = tmp_path / "raw"
    d.mkdir()
    for fname in RAW_FILES.values():
        df = _read(bundled / fname)
        if "city" in df.columns:
            df = df[df["city"].isin(CITIES)]
        if "year" in df.columns:
            df = df[df["year"] <= LAST]
        df.to_csv(d / fname, index=False)
    return d


def run(capsys, *args):
    rc = bi.main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def edit(path, fn):
    df = _read(path)
    df = fn(df)
    df.to_csv(path, index=False)


# ----------------------------------------------------------------------------- exact rebuild
def test_defaults_rebuild_the_bundled_panel_exactly(tmp_path, capsys):
    out = tmp_path / "panel.csv"
    rc, printed, err = run(capsys, "--out", out)
    assert rc == 0, err
    bundled_csv = ROOT / "bayes_sdm" / "datasets" / "data" / "synthetic_ua" / "synthetic_ua.csv"
    assert out.read_bytes() == bundled_csv.read_bytes()
    ds = load_dataset("synthetic_ua")
    pd.testing.assert_frame_equal(pd.read_csv(out), ds.frame, check_exact=True)
    assert "national employment table" in printed and "ratio" in printed
    assert "fit_region.py --data" in printed and "economic-distance:gdp_pc" in printed
    # the bundle has zero employment cells and blank 2002 control cells (first-year rule)
    raw = load_raw_tables("synthetic_ua")
    assert (raw["employment"]["employment"] == 0).any()
    cs = raw["city_series"]
    assert cs.loc[cs.year == 2002, "gdp"].isna().all()
    assert cs.loc[cs.year == 2002, "gdp_growth"].notna().all()
    assert raw["employment"]["year"].min() == 2003


def test_command_line_exit_codes(tmp_path):
    script = ROOT / "scripts" / "build_indices.py"
    ok = subprocess.run([sys.executable, str(script), "--raw", str(tmp_path), "--out",
                         str(tmp_path / "p.csv")], capture_output=True, text=True)
    assert ok.returncode == 2
    assert "Traceback" not in ok.stderr and "employment" in ok.stderr


# ----------------------------------------------------------------------------- options
def test_small_panel_and_options(small, tmp_path, capsys):
    base = tmp_path / "base.csv"
    assert run(capsys, "--raw", small, "--out", base)[0] == 0
    p = pd.read_csv(base)
    assert p["city"].nunique() == 5 and sorted(p["year"].unique()) == [2003, 2004, 2005, 2006]
    assert set(p["region"]) == {"east", "central", "west"}
    ds = load_dataset("synthetic_ua").frame
    ref = ds[ds.city.isin(CITIES) & (ds.year <= LAST)]
    m = p.merge(ref, on=["city", "year"], suffixes=("", "_ref"))
    for c in ("resi", "inf", "tra", "ftri", "inv", "gdp_pc"):
        np.testing.assert_array_equal(m[c], m[f"{c}_ref"])  # city-level: the same numbers
    # mar/jacobs use the national table: the same as the full panel's as well
    np.testing.assert_array_equal(m["mar"], m["mar_ref"])

    # years
    y = tmp_path / "y.csv"
    assert run(capsys, "--raw", small, "--years", 2004, 2005, "--out", y)[0] == 0
    assert sorted(pd.read_csv(y)["year"].unique()) == [2004, 2005]

    # fractions
    f = tmp_path / "f.csv"
    assert run(capsys, "--raw", small, "--fractions", "--out", f)[0] == 0
    np.testing.assert_allclose(pd.read_csv(f)[["inf", "tra", "ftri", "inv"]] * 100,
                               p[["inf", "tra", "ftri", "inv"]], rtol=1e-12)

    # regions by agglomeration and NBS four regions
    a = tmp_path / "a.csv"
    assert run(capsys, "--raw", small, "--region", "agglomeration", "--out", a)[0] == 0
    assert "Yangtze River Delta" in set(pd.read_csv(a)["region"])
    n4 = tmp_path / "n4.csv"
    assert run(capsys, "--raw", small, "--region", "none", "--out", n4)[0] == 0
    assert "region" not in pd.read_csv(n4).columns


def test_benchmark_sample_vs_national(small, tmp_path, capsys):
    nat, smp = tmp_path / "nat.csv", tmp_path / "smp.csv"
    assert run(capsys, "--raw", small, "--out", nat)[0] == 0
    rc, printed, _ = run(capsys, "--raw", small, "--benchmark", "sample", "--out", smp)
    assert rc == 0 and "sample aggregate" in printed and "is not used" in printed
    a, b = pd.read_csv(nat), pd.read_csv(smp)
    assert not np.allclose(a["mar"], b["mar"]) and not np.allclose(a["jacobs"], b["jacobs"])
    pd.testing.assert_frame_equal(a.drop(columns=["mar", "jacobs"]),
                                  b.drop(columns=["mar", "jacobs"]))
    # an explicit national file given by path, from another folder
    other = tmp_path / "elsewhere.csv"
    shutil.move(small / "national_employment.csv", other)
    explicit = tmp_path / "explicit.csv"
    assert run(capsys, "--raw", small, "--national-employment", other, "--out", explicit)[0] == 0
    pd.testing.assert_frame_equal(pd.read_csv(explicit), a)
    # without it the benchmark must be chosen
    rc, _, err = run(capsys, "--raw", small, "--out", tmp_path / "x.csv")
    assert rc == 2 and "must be explicit" in err and "--benchmark sample" in err
    rc, _, err = run(capsys, "--raw", small, "--national-employment", other, "--benchmark",
                     "sample", "--out", tmp_path / "x.csv")
    assert rc == 2 and "both given" in err


def test_zero_employment_cell_accepted(small, tmp_path, capsys):
    edit(small / "employment_wide.csv",
         lambda d: d.assign(B=np.where((d.city == "Wuhan") & (d.year == 2004), 0, d["B"])))
    out = tmp_path / "z.csv"
    rc, _, err = run(capsys, "--raw", small, "--out", out)
    assert rc == 0, err
    assert np.isfinite(pd.read_csv(out)[X].to_numpy()).all()


def test_deflator(small, tmp_path, capsys):
    defl = pd.DataFrame({"year": range(2002, LAST + 1),
                         "deflator": [100.0, 100.0, 103.9, 107.9, 111.9]})
    defl.to_csv(tmp_path / "deflator.csv", index=False)
    real = tmp_path / "real.csv"
    assert run(capsys, "--raw", small, "--out", real)[0] == 0
    # the city table now holds nominal GDP per capita
    factor = dict(zip(defl.year, defl.deflator / 100.0))
    edit(small / "city_series.csv",
         lambda d: d.assign(gdp_pc=d.gdp_pc * d.year.map(factor)))
    out = tmp_path / "defl.csv"
    rc, printed, err = run(capsys, "--raw", small, "--deflator", tmp_path / "deflator.csv",
                           "--out", out)
    assert rc == 0, err
    assert "deflated" in printed
    np.testing.assert_allclose(pd.read_csv(out)["gdp_pc"], pd.read_csv(real)["gdp_pc"],
                               rtol=1e-12)
    rc, _, err = run(capsys, "--raw", small, "--deflator", tmp_path / "nope.csv", "--out", out)
    assert rc == 2 and "nope.csv" in err and "not found" in err
    defl.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    rc, _, err = run(capsys, "--raw", small, "--deflator", tmp_path / "short.csv", "--out", out)
    assert rc == 2 and "short.csv" in err and f"(year {LAST})" in err


def test_difference_variant(small, tmp_path, capsys):
    ratio, diff = tmp_path / "r.csv", tmp_path / "d.csv"
    assert run(capsys, "--raw", small, "--out", ratio)[0] == 0
    rc, printed, _ = run(capsys, "--raw", small, "--variant", "difference", "--out", diff)
    assert rc == 0 and "difference" in printed
    nat = pd.read_csv(small / "national_series.csv").set_index("year")["gdp_growth"]
    dn = nat.diff()
    r, d = pd.read_csv(ratio), pd.read_csv(diff)
    np.testing.assert_allclose(d["resi"], r["resi"] * r["year"].map(dn).abs(), rtol=1e-9,
                               atol=1e-12)
    # where national growth does not change, only the difference is defined
    edit(small / "national_series.csv",
         lambda t: t.assign(gdp_growth=np.where(t.year == 2005, 11.4 - 1.3, t.gdp_growth)))
    rc, _, err = run(capsys, "--raw", small, "--out", ratio)
    assert rc == 2 and "year 2005" in err and "difference" in err
    assert run(capsys, "--raw", small, "--variant", "difference", "--out", diff)[0] == 0


# ----------------------------------------------------------------------------- bad input
BAD = [
    # (file, edit, words that the message must contain)
    ("city_series.csv",
     lambda d: d.assign(road_area=np.where((d.city == "Nanjing") & (d.year == 2004), np.nan,
                                           d.road_area)),
     ["city_series.csv", "'road_area'", "city 'Nanjing', year 2004"]),
    ("city_series.csv", lambda d: d[~((d.city == "Chengdu") & (d.year == 2002))],
     ["city_series.csv", "city 'Chengdu'", "year 2002", "first-year rule"]),
    ("city_series.csv",
     lambda d: d.assign(gdp_growth=np.where((d.city == "Wuhan") & (d.year == 2002), np.nan,
                                            d.gdp_growth)),
     ["city_series.csv", "'gdp_growth'", "city 'Wuhan', year 2002"]),
    ("city_series.csv", lambda d: d[~((d.city == "Wuhan") & (d.year == 2005))],
     ["city_series.csv", "city 'Wuhan'", "year 2005"]),
    ("city_series.csv", lambda d: d.assign(science_exp=d.budget_exp * 2),
     ["city_series.csv", "inv =", "'science_exp' (10k_yuan) exceeds 'budget_exp'"]),
    ("city_series.csv", lambda d: d.drop(columns="telecom"),
     ["city_series.csv", "lacks column(s) ['telecom']"]),
    ("national_series.csv",
     lambda d: d.assign(rmb_per_usd=d.rmb_per_usd * 100),
     ["national_series.csv", "'rmb_per_usd' is 827.7 in year 2003", "rmb_per_100usd"]),
    ("national_series.csv", lambda d: d[d.year != 2002],
     ["national_series.csv", "'gdp_growth'", "[2002]"]),
    ("national_series.csv", lambda d: d.assign(rmb_per_usd=np.where(d.year == 2004, np.nan,
                                                                     d.rmb_per_usd)),
     ["national_series.csv", "exchange rate for year(s) [2004]"]),
    ("employment_wide.csv",
     lambda d: d.assign(C=np.where((d.city == "Lanzhou") & (d.year == 2003), -5, d["C"])),
     ["employment_wide.csv", "negative", "city 'Lanzhou', year 2003, industry 'C'"]),
    ("employment_wide.csv",
     lambda d: d.assign(C=np.where((d.city == "Lanzhou") & (d.year == 2003), np.nan, d["C"])),
     ["employment_wide.csv", "city 'Lanzhou', year 2003, industry 'C'"]),
    ("employment_wide.csv", lambda d: d[~((d.city == "Shanghai") & (d.year == 2006))],
     ["employment_wide.csv", "city 'Shanghai', year 2006"]),
    ("national_employment.csv",
     lambda d: d.assign(employment=np.where((d.industry == "K") & (d.year == 2005), 0,
                                            d.employment)),
     ["national_employment.csv", "industry 'K' is zero in year 2005"]),
    ("national_employment.csv", lambda d: d[d.year != 2004],
     ["national_employment.csv", "[2004]"]),
    ("cities.csv", lambda d: d.assign(province=d.province.replace("Sichuan", "Szechwan")),
     ["cities.csv", "unknown province 'Szechwan' of city 'Chengdu'"]),
    ("cities.csv", lambda d: d[d.city != "Lanzhou"],
     ["cities.csv", "Lanzhou"]),
]


@pytest.mark.parametrize("fname,fn,words", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_exits_2_naming_it(small, tmp_path, capsys, fname, fn, words):
    edit(small / fname, fn)
    rc, printed, err = run(capsys, "--raw", small, "--out", tmp_path / "p.csv")
    assert rc == 2, printed
    assert err.startswith("error: ") and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("args,words", [
    (["--unit", "road_area=acre"], ["unknown unit 'acre'", "'road_area'", "10k_m2"]),
    (["--unit", "road_area"], ["--unit", "NAME=VALUE"]),
    (["--unit", "area=km2"], ["unknown column(s) ['area']"]),
    (["--unit", "road_area=km2"], ["tra =", "('road_area', km2) exceeds the built-up area",
                                   "year 2003"]),
    (["--column", "telecom=电信业务总量"], ["lacks column(s) ['电信业务总量']"]),
    (["--years", "2002", "2006"], ["needs 2001-2006"]),
    (["--raw", "/nonexistent/folder"], ["/nonexistent/folder", "not found"]),
    (["--city-series", "/nonexistent/cs.csv"], ["/nonexistent/cs.csv", "not found"]),
])
def test_bad_arguments_exit_2(small, tmp_path, capsys, args, words):
    rc, _, err = run(capsys, "--raw", small, *args, "--out", tmp_path / "p.csv")
    assert rc == 2
    for w in words:
        assert w in err, (w, err)


def test_unreadable_and_renamed_columns(small, tmp_path, capsys):
    (small / "national_series.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n\x00\x01")
    rc, _, err = run(capsys, "--raw", small, "--out", tmp_path / "p.csv")
    assert rc == 2 and "national_series.csv" in err
    # a column under its Chinese yearbook name, mapped with --column
    small2 = tmp_path / "raw2"
    shutil.copytree(small.parent / "raw", small2, dirs_exist_ok=True)
    shutil.copy(bi.bundled_raw_dir() / "national_series.csv", small2 / "national_series.csv")
    edit(small2 / "city_series.csv", lambda d: d.rename(columns={"telecom": "电信业务总量"}))
    rc, _, err = run(capsys, "--raw", small2, "--column", "telecom=电信业务总量", "--out",
                     tmp_path / "p.csv")
    assert rc == 0, err
