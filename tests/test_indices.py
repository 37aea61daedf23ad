"""The seed study's indices (bayes_sdm.indices): hand-computed tables, validation, options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_sdm.errors import InputError
from bayes_sdm.indices import (
    PROVINCE_BELT,
    assign_regions,
    build_indices,
    build_panel,
    control_ratios,
    deflate,
    diversity_array,
    employment_to_long,
    exchange_rates,
    industry_shares,
    long_employment,
    panel_years,
    province_name,
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
    with pytest.raises(InputError, match="no 'gdp_growth' row for year 2001"):
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


def _national(vals=(100, 200, 100), year=2010):
    return pd.DataFrame({"year": [year] * 3, "industry": list("xyz"), "employment": list(vals)})


def test_mar_jacobs_hand_computed():
    emp = _employment()
    out = specialisation_diversity(emp, _national())
    assert out.attrs["national_shares"] == "national employment table"
    a = out[out.city == "A"].iloc[0]
    # shares A = (.5, .3, .2), national (.25, .5, .25): mar = max(2, .6, .8) = 2,
    # jacobs = 1 / (.25 + .2 + .05) = 2
    assert a["mar"] == pytest.approx(2.0)
    assert a["jacobs"] == pytest.approx(2.0)
    b = out[out.city == "B"].iloc[0]
    sb = np.array([50, 170, 80]) / 300
    assert b["mar"] == pytest.approx(max(sb / [0.25, 0.5, 0.25]))
    assert b["jacobs"] == pytest.approx(1 / np.abs(sb - [0.25, 0.5, 0.25]).sum())
    # the sample aggregate, chosen explicitly (here equal to the national table)
    agg = specialisation_diversity(emp, benchmark="sample")
    np.testing.assert_allclose(agg[["mar", "jacobs"]], out[["mar", "jacobs"]])
    assert "sample aggregate" in agg.attrs["national_shares"]


def test_benchmark_is_never_implicit():
    emp = _employment()
    with pytest.raises(InputError, match=r"must be explicit.*national_employment.*'sample'"):
        specialisation_diversity(emp)
    with pytest.raises(InputError, match="needs the national employment table"):
        specialisation_diversity(emp, benchmark="national")
    with pytest.raises(InputError, match="both given"):
        specialisation_diversity(emp, _national(), benchmark="sample")
    with pytest.raises(InputError, match="unknown benchmark"):
        specialisation_diversity(emp, benchmark="nation")


def test_benchmark_sample_differs_from_national():
    """A national table unlike the sample gives different indices than the sample aggregate."""
    emp = _employment()
    nat = specialisation_diversity(emp, _national((300, 200, 100)))
    agg = specialisation_diversity(emp, benchmark="sample")
    assert not np.allclose(nat["mar"], agg["mar"])
    a = nat[nat.city == "A"].iloc[0]  # national shares (.5, 1/3, 1/6)
    assert a["mar"] == pytest.approx(max(np.array([.5, .3, .2]) / [.5, 1 / 3, 1 / 6]))


def test_share_arrays():
    s = np.array([[0.5, 0.3, 0.2]])
    n = np.array([0.25, 0.5, 0.25])
    assert specialisation_array(s, n)[0] == pytest.approx(2.0)
    assert diversity_array(s, n)[0] == pytest.approx(2.0)


def test_shares_given():
    shares = pd.DataFrame({"city": ["A"] * 3, "year": [2010] * 3, "industry": list("xyz"),
                           "employment": [0.5, 0.3, 0.2]})
    nat = _national((0.25, 0.5, 0.25))
    out = specialisation_diversity(shares, nat, kind="share")
    assert out["mar"].iloc[0] == pytest.approx(2.0)
    assert out["jacobs"].iloc[0] == pytest.approx(2.0)
    bad = shares.assign(employment=[0.5, 0.3, 0.3])
    with pytest.raises(InputError, match=r"city 'A', year 2010.*sum to 1.1"):
        specialisation_diversity(bad, nat, kind="share")
    with pytest.raises(InputError, match="needs employment counts"):
        specialisation_diversity(shares, kind="share", benchmark="sample")
    with pytest.raises(InputError, match="kind"):
        industry_shares(shares, kind="percent")


def test_zero_employment_cell_is_accepted():
    emp = _employment()
    emp.loc[(emp.city == "B") & (emp.industry == "y"), "employment"] = 0
    out = specialisation_diversity(emp, _national())
    b = out[out.city == "B"].iloc[0]
    sb = np.array([50, 0, 80]) / 130  # a zero share, not an error
    assert b["mar"] == pytest.approx(max(sb / [0.25, 0.5, 0.25]))
    assert b["jacobs"] == pytest.approx(1 / np.abs(sb - [0.25, 0.5, 0.25]).sum())
    # also with the sample benchmark (the industry is not zero in every city)
    assert np.isfinite(specialisation_diversity(emp, benchmark="sample")["mar"]).all()


def test_zero_benchmark_share_is_named():
    emp = _employment()
    with pytest.raises(InputError, match=r"industry 'y' is zero in year 2010"):
        specialisation_diversity(emp, _national((100, 0, 100)))
    emp.loc[emp.industry == "z", "employment"] = 0  # z absent from every city
    with pytest.raises(InputError, match=r"sample-aggregate.*industry 'z' is zero in year 2010"):
        specialisation_diversity(emp, benchmark="sample")


def test_city_without_any_employment_is_named():
    emp = _employment()
    emp.loc[emp.city == "A", "employment"] = 0
    with pytest.raises(InputError, match=r"city 'A', year 2010.*zero employment in every"):
        specialisation_diversity(emp, _national())


def test_negative_employment_names_cell():
    emp = _employment()
    emp.loc[(emp.city == "B") & (emp.industry == "y"), "employment"] = -3
    with pytest.raises(InputError, match=r"negative.*city 'B', year 2010, industry 'y'"):
        specialisation_diversity(emp, _national())


def test_missing_industry_row_names_cell():
    emp = _employment()
    emp = emp[~((emp.city == "A") & (emp.industry == "z"))]
    with pytest.raises(InputError, match=r"missing industry.*city 'A', year 2010, industry 'z'"):
        specialisation_diversity(emp, benchmark="sample")


def test_nan_and_duplicates_and_national_mismatch():
    emp = _employment()
    emp.loc[1, "employment"] = np.nan
    with pytest.raises(InputError, match=r"missing.*city 'A', year 2010, industry 'y'"):
        specialisation_diversity(emp, _national())
    emp = _employment()
    with pytest.raises(InputError, match="duplicate"):
        specialisation_diversity(pd.concat([emp, emp.iloc[:1]]), _national())
    nat = pd.DataFrame({"year": [2010] * 2, "industry": list("xy"), "employment": [1, 2]})
    with pytest.raises(InputError, match="different industries"):
        specialisation_diversity(emp, nat)
    with pytest.raises(InputError, match=r"year\(s\) \[2010\]"):
        specialisation_diversity(emp, _national(year=2011))


def test_jacobs_undefined_for_national_structure():
    emp = _employment()
    with pytest.raises(InputError, match=r"city 'A' year 2010.*infinite"):
        specialisation_diversity(emp, _national((5, 3, 2)))


def test_employment_layouts():
    emp = _employment()
    wide = emp.pivot(index=["city", "year"], columns="industry",
                     values="employment").reset_index()
    wide.columns.name = None
    long = long_employment(wide, ("city", "year"), "t")
    pd.testing.assert_frame_equal(long.reset_index(drop=True), emp, check_dtype=False)
    assert long_employment(emp, ("city", "year"), "t") is emp
    with pytest.raises(InputError, match="neither long"):
        long_employment(wide[["city", "year"]], ("city", "year"), "t")
    again = employment_to_long(wide, ["x", "y", "z"])
    assert again["industry"].tolist()[:3] == ["x", "y", "z"]


# ----------------------------------------------------------------------------- controls
def _series():
    city = pd.DataFrame({
        "city": ["A", "A", "B", "B"], "year": [2010, 2011, 2010, 2011],
        "gdp_growth": [10.0, 11.0, 9.0, 8.0], "gdp": [100.0, 200.0, 50.0, 80.0],
        "telecom": [5.0, 8.0, 1.0, 2.0], "road_area": [1200.0, 1500.0, 300.0, 400.0],
        "built_up_area": [100.0, 120.0, 30.0, 32.0], "fdi_usd": [1.0, 2.0, 0.0, 1.0],
        "science_exp": [3.0, 4.0, 0.5, 0.8], "budget_exp": [60.0, 80.0, 10.0, 16.0],
        "gdp_pc": [5e4, 5.5e4, 2e4, 2.2e4]})
    nat = pd.DataFrame({"year": [2010, 2011], "gdp_growth": [10.0, 9.0],
                        "rmb_per_usd": [6.5, 6.0]})
    return city, nat


def test_control_ratios_hand_computed():
    city, nat = _series()
    out = control_ratios(city, nat)
    a = out.iloc[0]
    assert a["inf"] == pytest.approx(5.0)  # per cent
    # road area in 10,000 m2 over built-up area in km2: 1200e4 m2 / 100e6 m2 = 12 %
    assert a["tra"] == pytest.approx(12.0)
    assert a["ftri"] == pytest.approx(100 * 1 * 6.5 / 100)
    assert a["inv"] == pytest.approx(5.0)
    assert out.iloc[1]["ftri"] == pytest.approx(100 * 2 * 6.0 / 200)
    assert out.iloc[2]["ftri"] == 0.0  # no foreign capital is allowed
    frac = control_ratios(city, nat, percent=False)
    np.testing.assert_allclose(frac[["inf", "tra", "ftri", "inv"]] * 100,
                               out[["inf", "tra", "ftri", "inv"]])
    renamed = control_ratios(city.rename(columns={"telecom": "tel"}), nat,
                             columns={"telecom": "tel"})
    np.testing.assert_allclose(renamed["inf"], out["inf"])


def test_control_units():
    city, nat = _series()
    base = control_ratios(city, nat)
    km2 = city.assign(road_area=city.road_area / 100.0)  # the same road area in km2
    np.testing.assert_allclose(control_ratios(km2, nat, units={"road_area": "km2"})["tra"],
                               base["tra"])
    yuan = city.assign(gdp=city.gdp * 1e4, telecom=city.telecom * 1e4)
    out = control_ratios(yuan, nat, units={"gdp": "yuan", "telecom": "yuan"})
    np.testing.assert_allclose(out[["inf", "ftri"]], base[["inf", "ftri"]])
    with pytest.raises(InputError, match=r"unknown unit 'acre' for column 'road_area'"):
        control_ratios(city, nat, units={"road_area": "acre"})
    with pytest.raises(InputError, match=r"unknown column\(s\) \['area'\]"):
        control_ratios(city, nat, units={"area": "km2"})


def test_unit_mixup_is_caught():
    city, nat = _series()
    # road area given in m2 read as 10,000 m2: the road area exceeds the built-up area
    with pytest.raises(InputError, match=r"tra = .*city 'A', year 2010.*'road_area', 10k_m2"):
        control_ratios(city.assign(road_area=city.road_area * 1e4), nat)
    with pytest.raises(InputError, match=r"inv = .*'science_exp'.*exceeds 'budget_exp'"):
        control_ratios(city.assign(science_exp=city.budget_exp * 2), nat)
    with pytest.raises(InputError, match=r"ftri = .*foreign capital"):
        control_ratios(city.assign(fdi_usd=city.gdp), nat)


def test_exchange_rate_columns():
    city, nat = _series()
    per100 = nat.drop(columns="rmb_per_usd").assign(rmb_per_100usd=[650.0, 600.0])
    np.testing.assert_allclose(control_ratios(city, per100)["ftri"],
                               control_ratios(city, nat)["ftri"])
    with pytest.raises(InputError, match=r"'rmb_per_usd' is 650 in year 2010.*rmb_per_100usd"):
        control_ratios(city, nat.assign(rmb_per_usd=[650.0, 600.0]))
    with pytest.raises(InputError, match="exactly one exchange-rate column"):
        exchange_rates(nat.assign(rmb_per_100usd=1.0))
    with pytest.raises(InputError, match="exactly one exchange-rate column"):
        exchange_rates(nat.drop(columns="rmb_per_usd"))


def test_control_ratios_validation():
    city, nat = _series()
    with pytest.raises(InputError, match=r"'gdp'.*positive.*city 'B', year 2011"):
        control_ratios(city.assign(gdp=[1.0, 1.0, 1.0, 0.0]), nat)
    with pytest.raises(InputError, match=r"'telecom'.*negative.*city 'A', year 2010"):
        control_ratios(city.assign(telecom=[-1.0, 1.0, 1.0, 1.0]), nat)
    with pytest.raises(InputError, match=r"'road_area'.*missing.*city 'A', year 2011"):
        control_ratios(city.assign(road_area=[1.0, np.nan, 1.0, 1.0]), nat)
    with pytest.raises(InputError, match=r"exchange rate for year\(s\) \[2011\]"):
        control_ratios(city, nat.iloc[:1])
    with pytest.raises(InputError, match="lacks column"):
        control_ratios(city.drop(columns="budget_exp"), nat)


def test_deflate():
    city, _ = _series()
    d = pd.DataFrame({"year": [2010, 2011], "deflator": [100.0, 110.0]})
    np.testing.assert_allclose(deflate(city, d), [5e4, 5.5e4 / 1.1, 2e4, 2.2e4 / 1.1])
    prov = pd.DataFrame({"year": [2010, 2011] * 2, "province": ["P", "P", "Q", "Q"],
                         "deflator": [100.0, 105.0, 100.0, 120.0]})
    c2 = city.assign(province=["P", "P", "Q", "Q"])
    np.testing.assert_allclose(deflate(c2, prov), [5e4, 5.5e4 / 1.05, 2e4, 2.2e4 / 1.2])
    with pytest.raises(InputError, match=r"no price index for \(year 2011\)"):
        deflate(city, d.iloc[:1])
    with pytest.raises(InputError, match="must be positive"):
        deflate(city, d.assign(deflator=[100.0, 0.0]))
    with pytest.raises(InputError, match=r"lacks column\(s\) \['province'\]"):
        deflate(city, prov)


# ----------------------------------------------------------------------------- regions
def test_regions():
    assert province_name("河北省") == "Hebei" and province_name("广西壮族自治区") == "Guangxi"
    assert province_name("inner mongolia") == "Inner Mongolia" and province_name("X") is None
    assert sum(v == "east" for v in PROVINCE_BELT.values()) == 11
    assert sum(v == "central" for v in PROVINCE_BELT.values()) == 8
    assert sum(v == "west" for v in PROVINCE_BELT.values()) == 12
    cities = pd.DataFrame({"city": ["A", "B", "C"], "province": ["Liaoning", "四川", "Henan"],
                           "agglomeration": ["g1", "g2", "g2"]})
    assert assign_regions(cities)["region"].tolist() == ["east", "west", "central"]
    assert assign_regions(cities, "nbs4")["region"].tolist() == ["northeast", "west", "central"]
    assert assign_regions(cities, "agglomeration")["region"].tolist() == ["g1", "g2", "g2"]
    with pytest.raises(InputError, match=r"unknown province 'Atlantis' of city 'B'"):
        assign_regions(cities.assign(province=["Hebei", "Atlantis", "Henan"]))
    with pytest.raises(InputError, match="unknown region scheme"):
        assign_regions(cities, "provinces")
    with pytest.raises(InputError, match="duplicate"):
        assign_regions(pd.concat([cities, cities.iloc[:1]]))


# ----------------------------------------------------------------------------- build_indices
def _employment_two_years():
    e = _employment()
    return pd.concat([e, e.assign(year=2011, employment=e.employment + [1, 2, 3, 4, 5, 6])])


def _national_two_years():
    return pd.concat([_national(), _national((101, 203, 105), 2011)])


def test_build_indices_small():
    city, nat = _series()
    emp = _employment_two_years()
    out = build_indices(emp, city, nat, benchmark="sample")
    assert list(out.columns) == ["city", "year", "resi", "mar", "jacobs", "inf", "tra", "ftri",
                                 "inv", "gdp_pc"]
    assert out[["city", "year"]].values.tolist() == [["A", 2011], ["B", 2011]]
    # A: dG_r = 1, dG_n = -1 -> (1 + 1)/1 = 2;  B: dG_r = -1 -> 0
    np.testing.assert_allclose(out["resi"], [2.0, 0.0])
    sd = specialisation_diversity(emp[emp.year == 2011], benchmark="sample")
    np.testing.assert_allclose(out["mar"], sd["mar"])
    ctrl = control_ratios(city, nat)
    np.testing.assert_allclose(out["inf"], ctrl[ctrl.year == 2011]["inf"])
    np.testing.assert_allclose(out["gdp_pc"], [5.5e4, 2.2e4])
    assert out.attrs["years"] == [2011, 2011] and out.attrs["percent"] is True
    assert "gdp_pc" not in build_indices(emp, city.drop(columns="gdp_pc"), nat,
                                         benchmark="sample").columns
    with pytest.raises(InputError, match="must be explicit"):
        build_indices(emp, city, nat)
    nat_out = build_indices(emp, city, nat, national_employment=_national_two_years())
    assert nat_out.attrs["national_shares"] == "national employment table"
    assert not np.allclose(nat_out["mar"], out["mar"])


def test_first_year_rule():
    """The year before the first panel year serves only its growth rate: blank controls,
    employment and exchange rate there are fine; its growth rate is required."""
    city, nat = _series()
    blank = ["gdp", "telecom", "road_area", "built_up_area", "fdi_usd", "science_exp",
             "budget_exp", "gdp_pc"]
    city.loc[city.year == 2010, blank] = np.nan
    nat.loc[nat.year == 2010, "rmb_per_usd"] = np.nan
    emp = _employment_two_years()
    emp_2011 = emp[emp.year == 2011]
    out = build_indices(emp_2011, city, nat, benchmark="sample")
    np.testing.assert_allclose(out["resi"], [2.0, 0.0])
    # a missing growth rate of the first year is named
    no_growth = city[~((city.city == "B") & (city.year == 2010))]
    with pytest.raises(InputError, match=r"city 'B' has no row for year 2010.*growth rate of "
                                         r"2010 is needed for resilience in 2011"):
        build_indices(emp_2011, no_growth, nat, benchmark="sample")
    city.loc[(city.city == "B") & (city.year == 2010), "gdp_growth"] = np.nan
    with pytest.raises(InputError, match=r"missing.*city 'B', year 2010"):
        build_indices(emp_2011, city, nat, benchmark="sample")
    # a blank control in a panel year is named
    city2, nat2 = _series()
    city2.loc[(city2.city == "A") & (city2.year == 2011), "budget_exp"] = np.nan
    with pytest.raises(InputError, match=r"'budget_exp'.*city 'A', year 2011"):
        build_indices(emp, city2, nat2, benchmark="sample")


def test_panel_years():
    city, _ = _series()
    assert panel_years(city) == [2011]
    assert panel_years(city, (2011, 2011)) == [2011]
    with pytest.raises(InputError, match="needs 2009-2011"):
        panel_years(city, (2010, 2011))
    with pytest.raises(InputError, match="precedes"):
        panel_years(city, (2011, 2010))
    with pytest.raises(InputError, match="at least two"):
        panel_years(city[city.year == 2010])


def test_build_indices_missing_employment_year():
    city, nat = _series()
    with pytest.raises(InputError, match=r"no rows for the panel years 2011-2011"):
        build_indices(_employment(), city, nat, benchmark="sample")
    emp = _employment_two_years()
    emp = emp[~((emp.city == "B") & (emp.year == 2011))]
    with pytest.raises(InputError, match=r"no rows for 1 city-year.*city 'B', year 2011"):
        build_indices(emp, city, nat, national_employment=_national_two_years())


def test_build_indices_variant_and_errors():
    city, nat = _series()
    emp = _employment_two_years()
    out = build_indices(emp, city, nat, variant="difference", benchmark="sample")
    np.testing.assert_allclose(out["resi"], [2.0, 0.0])
    assert out.attrs["resilience_variant"] == "difference"
    with pytest.raises(InputError, match="variant"):
        build_indices(emp, city, nat, variant="bogus", benchmark="sample")
    with pytest.raises(InputError, match="does not change in year 2011.*'difference'"):
        build_indices(emp, city, nat.assign(gdp_growth=[10.0, 10.0]), benchmark="sample")
    # the difference variant is defined where the ratio is not
    flat = build_indices(emp, city, nat.assign(gdp_growth=[10.0, 10.0]), benchmark="sample",
                         variant="difference")
    np.testing.assert_allclose(flat["resi"], [1.0, -1.0])


def test_build_indices_deflator_and_labels():
    city, nat = _series()
    emp = _employment_two_years()
    d = pd.DataFrame({"year": [2010, 2011], "deflator": [100.0, 110.0]})
    out = build_indices(emp, city, nat, benchmark="sample", deflator=d)
    np.testing.assert_allclose(out["gdp_pc"], [5.5e4 / 1.1, 2.2e4 / 1.1])
    assert "deflated" in out.attrs["gdp_pc"]
    with pytest.raises(InputError, match=r"deflator table 'defl.csv' has no price index for "
                                         r"\(year 2011\)"):
        build_indices(emp, city, nat, benchmark="sample", deflator=d.iloc[:1],
                      labels={"deflator": "deflator table 'defl.csv'"})
    with pytest.raises(InputError, match="no 'gdp_pc' column"):
        build_indices(emp, city.drop(columns="gdp_pc"), nat, benchmark="sample", deflator=d)
    with pytest.raises(InputError, match=r"^city series 'cs.csv': 'gdp'"):
        build_indices(emp, city.assign(gdp=0.0), nat, benchmark="sample",
                      labels={"city_series": "city series 'cs.csv'"})


def test_build_panel_regions():
    city, nat = _series()
    emp = _employment_two_years()
    cities = pd.DataFrame({"city": ["A", "B"], "province": ["Jiangsu", "Gansu"],
                           "agglomeration": ["Yangtze River Delta", "Lanzhou-Xining"]})
    out = build_panel(emp, city, nat, cities, benchmark="sample")
    assert list(out.columns[:5]) == ["city", "year", "agglomeration", "province", "region"]
    assert out["region"].tolist() == ["east", "west"]
    agg = build_panel(emp, city, nat, cities, region="agglomeration", benchmark="sample")
    assert agg["region"].tolist() == ["Yangtze River Delta", "Lanzhou-Xining"]
    none = build_panel(emp, city, nat, None, region="none", benchmark="sample")
    assert "region" not in none.columns
    with pytest.raises(InputError, match="needs the city table"):
        build_panel(emp, city, nat, None, benchmark="sample")
    with pytest.raises(InputError, match=r"lacks 1 city.*\['B'\]"):
        build_panel(emp, city, nat, cities.iloc[:1], benchmark="sample")
