"""The seed study's indices (bayes_sdm.indices): hand-computed tables and validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_sdm.errors import InputError
from bayes_sdm.indices import (
    build_indices,
    control_ratios,
    diversity_array,
    industry_shares,
    resilience,
    resilience_array,
    specialisation_array,
    specialisation_diversity,
)


# ----------------------------------------------------------------------------- resilience
def _growth():
    city = pd.DataFrame({"city": ["A"] * 3 + ["B"] * 3, "year": [2000, 2001, 2002] * 2,
                         "gdp_growth": [10.0, 12.0, 11.0, 8.0, 8.5, 4.0]})
    nat = pd.DataFrame({"year": [2000, 2001, 2002], "gdp_growth": [9.0, 10.0, 8.0]})
    return city, nat


def test_resilience_hand_computed():
    city, nat = _growth()
    out = resilience(city, nat)
    # A 2001: dG_r = 2, dG_n = 1 -> (2 - 1)/1 = 1;  A 2002: dG_r = -1, dG_n = -2 -> 1/2
    # B 2001: dG_r = 0.5 -> -0.5;  B 2002: dG_r = -4.5 -> (-4.5 + 2)/2 = -1.25
    assert out["city"].tolist() == ["A", "A", "B", "B"]
    assert out["year"].tolist() == [2001, 2002, 2001, 2002]
    np.testing.assert_allclose(out["resi"], [1.0, 0.5, -0.5, -1.25])
    diff = resilience(city, nat, variant="difference")
    np.testing.assert_allclose(diff["resi"], [1.0, 1.0, -0.5, -2.5])


def test_resilience_array_variants():
    np.testing.assert_allclose(resilience_array([3.0, -1.0], [-2.0, 0.5]), [2.5, -3.0])
    np.testing.assert_allclose(resilience_array([3.0], [-2.0], "difference"), [5.0])
    with pytest.raises(InputError, match="variant"):
        resilience_array([1.0], [1.0], "log")


def test_resilience_zero_national_change_names_year():
    city, nat = _growth()
    nat.loc[nat.year == 2002, "gdp_growth"] = 10.0
    with pytest.raises(InputError, match="year 2002"):
        resilience(city, nat)
    # the difference variant is defined there
    out = resilience(city, nat, variant="difference")
    assert np.isfinite(out["resi"]).all()
    # a small change can be refused on purpose
    city, nat = _growth()
    with pytest.raises(InputError, match="year 2001"):
        resilience(city, nat, min_abs_change=1.0)


def test_resilience_validation():
    city, nat = _growth()
    bad = city.copy()
    bad.loc[4, "gdp_growth"] = np.nan
    with pytest.raises(InputError, match=r"city 'B'.*year 2001"):
        resilience(bad, nat)
    with pytest.raises(InputError, match="no row for year 2001"):
        resilience(city[~((city.city == "A") & (city.year == 2001))], nat)
    with pytest.raises(InputError, match=r"year\(s\) \[2000\]"):
        resilience(city, nat[nat.year > 2000])
    with pytest.raises(InputError, match="duplicate"):
        resilience(pd.concat([city, city.iloc[:1]]), nat)
    with pytest.raises(InputError, match="lacks column"):
        resilience(city.drop(columns="gdp_growth"), nat)
    with pytest.raises(InputError, match="integer years"):
        resilience(city.assign(year=city.year + 0.5), nat)


# ----------------------------------------------------------------------------- MAR and Jacobs
def _employment():
    """City A (50, 30, 20) and B (50, 170, 80); sum = national = (100, 200, 100)."""
    rows = []
    for city, vals in (("A", (50, 30, 20)), ("B", (50, 170, 80))):
        for j, v in zip("xyz", vals):
            rows.append((city, 2010, j, v))
    return pd.DataFrame(rows, columns=["city", "year", "industry", "employment"])


def test_mar_jacobs_hand_computed():
    emp = _employment()
    nat = pd.DataFrame({"year": [2010] * 3, "industry": list("xyz"),
                        "employment": [100, 200, 100]})
    out = specialisation_diversity(emp, nat)
    a = out[out.city == "A"].iloc[0]
    # shares A = (.5, .3, .2), national (.25, .5, .25): mar = max(2, .6, .8) = 2,
    # jacobs = 1 / (.25 + .2 + .05) = 2
    assert a["mar"] == pytest.approx(2.0)
    assert a["jacobs"] == pytest.approx(2.0)
    b = out[out.city == "B"].iloc[0]
    sb = np.array([50, 170, 80]) / 300
    assert b["mar"] == pytest.approx(max(sb / [0.25, 0.5, 0.25]))
    assert b["jacobs"] == pytest.approx(1 / np.abs(sb - [0.25, 0.5, 0.25]).sum())
    # the sample aggregate is the default benchmark (here equal to the national table)
    agg = specialisation_diversity(emp)
    np.testing.assert_allclose(agg[["mar", "jacobs"]], out[["mar", "jacobs"]])
    assert "sample aggregate" in agg.attrs["national_shares"]


def test_share_arrays():
    s = np.array([[0.5, 0.3, 0.2]])
    n = np.array([0.25, 0.5, 0.25])
    assert specialisation_array(s, n)[0] == pytest.approx(2.0)
    assert diversity_array(s, n)[0] == pytest.approx(2.0)


def test_shares_given():
    shares = pd.DataFrame({"city": ["A"] * 3, "year": [2010] * 3, "industry": list("xyz"),
                           "employment": [0.5, 0.3, 0.2]})
    nat = pd.DataFrame({"year": [2010] * 3, "industry": list("xyz"),
                        "employment": [0.25, 0.5, 0.25]})
    out = specialisation_diversity(shares, nat, kind="share")
    assert out["mar"].iloc[0] == pytest.approx(2.0)
    assert out["jacobs"].iloc[0] == pytest.approx(2.0)
    bad = shares.assign(employment=[0.5, 0.3, 0.3])
    with pytest.raises(InputError, match=r"city 'A', year 2010.*sum to 1.1"):
        specialisation_diversity(bad, nat, kind="share")
    with pytest.raises(InputError, match="national shares are needed"):
        specialisation_diversity(shares, kind="share")
    with pytest.raises(InputError, match="kind"):
        industry_shares(shares, kind="percent")


@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_employment_names_cell(value):
    emp = _employment()
    emp.loc[(emp.city == "B") & (emp.industry == "y"), "employment"] = value
    with pytest.raises(InputError, match=r"city 'B', year 2010, industry 'y'"):
        specialisation_diversity(emp)


def test_missing_industry_row_names_cell():
    emp = _employment()
    emp = emp[~((emp.city == "A") & (emp.industry == "z"))]
    with pytest.raises(InputError, match=r"missing industry.*city 'A', year 2010, industry 'z'"):
        specialisation_diversity(emp)


def test_nan_and_duplicates_and_national_mismatch():
    emp = _employment()
    emp.loc[1, "employment"] = np.nan
    with pytest.raises(InputError, match=r"NaN.*city 'A', year 2010, industry 'y'"):
        specialisation_diversity(emp)
    emp = _employment()
    with pytest.raises(InputError, match="duplicate"):
        specialisation_diversity(pd.concat([emp, emp.iloc[:1]]))
    nat = pd.DataFrame({"year": [2010] * 2, "industry": list("xy"), "employment": [1, 2]})
    with pytest.raises(InputError, match="different industries"):
        specialisation_diversity(emp, nat)
    nat = pd.DataFrame({"year": [2011] * 3, "industry": list("xyz"), "employment": [1, 2, 1]})
    with pytest.raises(InputError, match=r"year\(s\) \[2010\]"):
        specialisation_diversity(emp, nat)


def test_jacobs_undefined_for_national_structure():
    emp = _employment()
    nat = pd.DataFrame({"year": [2010] * 3, "industry": list("xyz"), "employment": [5, 3, 2]})
    with pytest.raises(InputError, match=r"city 'A' year 2010.*infinite"):
        specialisation_diversity(emp, nat)


# ----------------------------------------------------------------------------- controls
def _series():
    city = pd.DataFrame({
        "city": ["A", "A", "B", "B"], "year": [2010, 2011, 2010, 2011],
        "gdp_growth": [10.0, 11.0, 9.0, 8.0], "gdp": [100.0, 200.0, 50.0, 80.0],
        "telecom": [5.0, 8.0, 1.0, 2.0], "road_area": [12.0, 15.0, 3.0, 4.0],
        "built_up_area": [100.0, 120.0, 30.0, 32.0], "fdi_usd": [10.0, 20.0, 0.0, 1.0],
        "science_exp": [3.0, 4.0, 0.5, 0.8], "budget_exp": [60.0, 80.0, 10.0, 16.0],
        "gdp_pc": [5e4, 5.5e4, 2e4, 2.2e4]})
    nat = pd.DataFrame({"year": [2010, 2011], "gdp_growth": [10.0, 9.0],
                        "rmb_per_usd": [6.5, 6.0]})
    return city, nat


def test_control_ratios_hand_computed():
    city, nat = _series()
    out = control_ratios(city, nat)
    a = out.iloc[0]
    assert a["inf"] == pytest.approx(0.05)
    assert a["tra"] == pytest.approx(0.12)
    assert a["ftri"] == pytest.approx(10 * 6.5 / 100)
    assert a["inv"] == pytest.approx(0.05)
    assert out.iloc[1]["ftri"] == pytest.approx(20 * 6.0 / 200)
    renamed = control_ratios(city.rename(columns={"telecom": "tel"}), nat,
                             columns={"telecom": "tel"})
    np.testing.assert_allclose(renamed["inf"], out["inf"])


def test_control_ratios_validation():
    city, nat = _series()
    with pytest.raises(InputError, match=r"'gdp'.*positive.*city 'B', year 2011"):
        control_ratios(city.assign(gdp=[1.0, 1.0, 1.0, 0.0]), nat)
    with pytest.raises(InputError, match=r"'telecom'.*negative.*city 'A', year 2010"):
        control_ratios(city.assign(telecom=[-1.0, 1.0, 1.0, 1.0]), nat)
    with pytest.raises(InputError, match=r"'road_area'.*NaN.*city 'A', year 2011"):
        control_ratios(city.assign(road_area=[1.0, np.nan, 1.0, 1.0]), nat)
    with pytest.raises(InputError, match=r"exchange rate for year\(s\) \[2011\]"):
        control_ratios(city, nat.iloc[:1])
    with pytest.raises(InputError, match="lacks column"):
        control_ratios(city.drop(columns="budget_exp"), nat)


# ----------------------------------------------------------------------------- build_indices
def _employment_two_years():
    e = _employment()
    return pd.concat([e, e.assign(year=2011, employment=e.employment + [1, 2, 3, 4, 5, 6])])


def test_build_indices_small():
    city, nat = _series()
    emp = _employment_two_years()
    out = build_indices(emp, city, nat)
    assert list(out.columns) == ["city", "year", "resi", "mar", "jacobs", "inf", "tra", "ftri",
                                 "inv", "gdp_pc"]
    assert out[["city", "year"]].values.tolist() == [["A", 2011], ["B", 2011]]
    # A: dG_r = 1, dG_n = -1 -> (1 + 1)/1 = 2;  B: dG_r = -1 -> 0
    np.testing.assert_allclose(out["resi"], [2.0, 0.0])
    sd = specialisation_diversity(emp)
    np.testing.assert_allclose(out["mar"], sd[sd.year == 2011]["mar"])
    ctrl = control_ratios(city, nat)
    np.testing.assert_allclose(out["inf"], ctrl[ctrl.year == 2011]["inf"])
    np.testing.assert_allclose(out["gdp_pc"], [5.5e4, 2.2e4])
    assert "gdp_pc" not in build_indices(emp, city.drop(columns="gdp_pc"), nat).columns


def test_build_indices_missing_employment_year():
    city, nat = _series()
    with pytest.raises(InputError, match=r"no rows for 2 city-year.*city 'A', year 2011"):
        build_indices(_employment(), city, nat)


def test_build_indices_variant_and_errors():
    city, nat = _series()
    emp = _employment_two_years()
    out = build_indices(emp, city, nat, variant="difference")
    np.testing.assert_allclose(out["resi"], [2.0, 0.0])
    with pytest.raises(InputError, match="variant"):
        build_indices(emp, city, nat, variant="bogus")
    with pytest.raises(InputError, match="year 2011"):
        build_indices(emp, city, nat.assign(gdp_growth=[10.0, 10.0]))
