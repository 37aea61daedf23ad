"""All together: from yearbook-style tables to the indices and the model panel.

See :mod:`bayes_sdm.indices` for the definitions and references.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..errors import InputError
from .controls import control_ratios, deflate
from .formulas import resilience, specialisation_diversity
from .regions import assign_regions
from .schema import (
    CITY_SERIES_COLUMNS,
    DEFAULT_UNITS,
    INDEX_COLUMNS,
    NATIONAL_SERIES_COLUMNS,
    PANEL_ID_COLUMNS,
    _labels,
    _no_duplicates,
    _no_missing_keys,
    _numeric,
    _py,
    _require,
    _where,
    _with_int_years,
    _year_ints,
)


def panel_years(city_series: pd.DataFrame, years: Sequence[int] | None = None, *,
                year_col: str = "year", what: str = "city series table") -> list[int]:
    """The panel's years: ``years`` = (first, last) when given, else every year of the city
    table after its earliest (the earliest serves only the first growth change: resilience in t
    needs growth in t - 1, Martin et al. 2016).

    Parameters
    ----------
    city_series : the city table (its ``year_col`` is read)
    years : optional (first, last)

    Returns
    -------
    list of the panel years.

    Raises
    ------
    InputError
        fewer than two years, a bad range, years outside the table.
    """
    have = sorted(set(_year_ints(city_series, year_col, what).tolist()))
    if years is None:
        if len(have) < 2:
            raise InputError(f"{what} has years {have}; resilience needs at least two "
                             "consecutive years")
        return list(range(have[0] + 1, have[-1] + 1))
    first, last = (int(years[0]), int(years[-1]))
    if last < first:
        raise InputError(f"bad panel years {first}-{last}: the last year precedes the first")
    if first - 1 < have[0] or last > have[-1]:
        raise InputError(f"{what} covers {have[0]}-{have[-1]}; the panel {first}-{last} needs "
                         f"{first - 1}-{last} (the year before the first for its growth rate)")
    return list(range(first, last + 1))


def build_indices(employment_long: pd.DataFrame, city_series: pd.DataFrame,
                  national_series: pd.DataFrame, *,
                  national_employment: pd.DataFrame | None = None,
                  benchmark: str | None = None, variant: str = "ratio",
                  kind: str = "employment", years: Sequence[int] | None = None,
                  deflator: pd.DataFrame | None = None, units: Mapping[str, str] | None = None,
                  percent: bool = True, city_col: str = "city", year_col: str = "year",
                  industry_col: str = "industry", value_col: str = "employment",
                  columns: Mapping[str, str] | None = None,
                  labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Build the study panel's index columns from raw tables (see the module docstring).

    Parameters
    ----------
    employment_long : (city, year, industry, employment) -- counts, or shares with
        ``kind="share"``; read for the panel's years only
    city_series : one row per city-year: ``gdp_growth`` for the year before the first panel
        year and every panel year; ``gdp``, ``telecom``, ``road_area``, ``built_up_area``,
        ``fdi_usd``, ``science_exp``, ``budget_exp`` (and optionally ``gdp_pc``, plus
        ``province`` with a provincial deflator) for the panel years (other rows may be blank)
    national_series : one row per year with ``gdp_growth`` (the year before the first and the
        panel years) and ``rmb_per_usd`` or ``rmb_per_100usd`` (panel years)
    national_employment : (year, industry, employment) national benchmark of the shares
    benchmark : ``"national"`` or ``"sample"``; required when ``national_employment`` is None
    variant : resilience variant, ``"ratio"`` (the study's) or ``"difference"``
    years : (first, last) panel years; default every year of ``city_series`` after its first
    deflator : (year[, province | city], deflator) price index, base 100: ``gdp_pc`` is then
        nominal and is deflated to real
    units : units of the raw control series (:data:`DEFAULT_UNITS`, :data:`UNIT_FACTORS`)
    percent : control ratios in per cent (default) or fractions
    columns : renames for the canonical series columns (canonical name -> table column)
    labels : names of the tables in error messages (keys of :data:`TABLE_LABELS`)

    Returns
    -------
    DataFrame with ``city``, ``year``, ``resi``, ``mar``, ``jacobs``, ``inf``, ``tra``,
    ``ftri``, ``inv`` (and ``gdp_pc`` when ``city_series`` has it), one row per city and panel
    year, in the cities' order of first appearance and by year; ``attrs`` record the benchmark,
    variant, years, units and deflation.

    Raises
    ------
    InputError
        any validation failure of the parts (see :func:`resilience`, :func:`industry_shares`,
        :func:`specialisation_diversity`, :func:`control_ratios`, :func:`deflate`), a city
        without a row (or employment) in a panel year, a city without growth in the year before
        the first.
    """
    lab = _labels(labels)
    m = {k: k for k in (*CITY_SERIES_COLUMNS, *NATIONAL_SERIES_COLUMNS)}
    m.update(columns or {})
    keys = [city_col, year_col]
    cw, nw = lab["city_series"], lab["national_series"]
    _require(city_series, [*keys, m["gdp_growth"]], cw)
    _require(national_series, [year_col, m["gdp_growth"]], nw)
    _no_missing_keys(city_series, keys, cw)
    cs = _with_int_years(city_series, year_col, cw)
    _no_duplicates(cs, keys, cw)
    yrs = panel_years(cs, years, year_col=year_col, what=cw)
    first = yrs[0]
    cities = list(pd.unique(cs[city_col]))
    # growth: the year before the first and the panel years, every city
    g = cs[cs[year_col].between(first - 1, yrs[-1])]
    full = pd.MultiIndex.from_product([cities, [first - 1, *yrs]], names=keys)
    present = pd.MultiIndex.from_frame(g[keys])
    lacking = full.difference(present, sort=False)
    if len(lacking):
        c, y = lacking[0]
        why = (f"the growth rate of {y} is needed for resilience in {first} (first-year rule)"
               if y == first - 1 else "the panel must be balanced")
        raise InputError(f"{cw}: city {_py(c)!r} has no row for year {int(y)} ({why}; "
                         f"{len(lacking)} city-year(s) lacking)")
    city_g = g[[*keys, m["gdp_growth"]]].rename(columns={m["gdp_growth"]: "_g"})
    nat_g = national_series[[year_col, m["gdp_growth"]]].rename(columns={m["gdp_growth"]: "_g"})
    nat_g = nat_g[pd.to_numeric(nat_g[year_col], errors="coerce").between(first - 1, yrs[-1])
                  | nat_g[year_col].isna()]
    resi = resilience(city_g, nat_g, variant=variant, city_col=city_col, year_col=year_col,
                      growth_col="_g", what=f"{cw} (column {m['gdp_growth']!r})",
                      national_what=f"{nw} (column {m['gdp_growth']!r})")
    # everything else: the panel years only
    cs_p = cs[cs[year_col].between(first, yrs[-1])].reset_index(drop=True)
    nat_p = national_series.copy()
    ny = pd.to_numeric(nat_p[year_col], errors="coerce")
    nat_p = nat_p[ny.between(first, yrs[-1]) | ny.isna()]
    ctrl = control_ratios(cs_p, nat_p, city_col=city_col, year_col=year_col, columns=columns,
                          units=units, percent=percent, what=cw, national_what=nw)
    _require(employment_long, [city_col, year_col, industry_col, value_col], lab["employment"])
    _no_missing_keys(employment_long, [city_col, year_col], lab["employment"])
    emp = _with_int_years(employment_long, year_col, lab["employment"])
    emp = emp[emp[year_col].between(first, yrs[-1])]
    nat_emp = None
    if national_employment is not None:
        _require(national_employment, [year_col, industry_col, value_col],
                 lab["national_employment"])
        _no_missing_keys(national_employment, [year_col], lab["national_employment"])
        nat_emp = _with_int_years(national_employment, year_col, lab["national_employment"])
        nat_emp = nat_emp[nat_emp[year_col].between(first, yrs[-1])]
    if len(emp) == 0:
        raise InputError(f"{lab['employment']} has no rows for the panel years "
                         f"{first}-{yrs[-1]}")
    struct = specialisation_diversity(emp, nat_emp, benchmark=benchmark, kind=kind,
                                      city_col=city_col, year_col=year_col,
                                      industry_col=industry_col, value_col=value_col,
                                      what=lab["employment"],
                                      national_what=lab["national_employment"])
    out = resi.merge(struct, on=keys, how="left", validate="one_to_one")
    lack = out["mar"].isna()
    if lack.any():
        raise InputError(f"{lab['employment']} has no rows for {int(lack.sum())} city-year(s) "
                         f"of the panel, e.g. {_where(out.loc[lack], keys)}")
    out = out.merge(ctrl, on=keys, how="left", validate="one_to_one")
    has_pc = m["gdp_pc"] in cs_p.columns
    if has_pc:
        if deflator is not None:
            pc = deflate(cs_p.rename(columns={m["gdp_pc"]: "gdp_pc"}), deflator,
                         city_col=city_col, year_col=year_col, what=cw,
                         deflator_what=lab["deflator"])
        else:
            pc = _numeric(cs_p, m["gdp_pc"], keys, cw)
        gp = cs_p[keys].assign(gdp_pc=pc)
        if (gp["gdp_pc"] <= 0).any():
            raise InputError(f"{cw}: {m['gdp_pc']!r} must be positive; bad at "
                             f"{_where(gp.loc[gp['gdp_pc'] <= 0], keys)}")
        out = out.merge(gp, on=keys, how="left", validate="one_to_one")
    elif deflator is not None:
        raise InputError(f"a deflator was given but the {cw} has no {m['gdp_pc']!r} column")
    out = out[[*keys, *INDEX_COLUMNS, *(["gdp_pc"] if has_pc else [])]].reset_index(drop=True)
    out.attrs.update({
        "national_shares": struct.attrs.get("national_shares"), "resilience_variant": variant,
        "years": [first, yrs[-1]], "percent": percent,
        "units": {c: (units or {}).get(c, u) for c, u in DEFAULT_UNITS.items()},
        "gdp_pc": ("deflated with the deflator table" if deflator is not None else
                   "as given (real)") if has_pc else None})
    return out


def build_panel(employment_long: pd.DataFrame, city_series: pd.DataFrame,
                national_series: pd.DataFrame, cities: pd.DataFrame | None = None, *,
                region: str = "belt", labels: Mapping[str, str] | None = None,
                **kwargs) -> pd.DataFrame:
    """The model panel: :func:`build_indices` plus the cities' agglomeration, province and
    ``region`` (:func:`assign_regions`), ready for ``scripts/fit_region.py --data``.

    Parameters
    ----------
    employment_long, city_series, national_series : see :func:`build_indices`
    cities : (city, province[, agglomeration]) -- required unless ``region="none"``
    region : ``belt`` (NBS east/central/west by province, default), ``nbs4``,
        ``agglomeration`` or ``none``
    labels : names of the tables in error messages
    **kwargs : passed to :func:`build_indices`

    Returns
    -------
    DataFrame with ``city``, ``year``, the city table's ``agglomeration`` / ``province`` when
    present, ``region`` (unless ``none``), the indices and ``gdp_pc``.

    Raises
    ------
    InputError
        failures of :func:`build_indices` or :func:`assign_regions`, a city of the series
        missing from the city table.
    """
    lab = _labels(labels)
    idx = build_indices(employment_long, city_series, national_series, labels=labels, **kwargs)
    city_col = kwargs.get("city_col", "city")
    if region == "none":
        return idx
    if cities is None:
        raise InputError(f"region scheme {region!r} needs the city table (city, province, "
                         "agglomeration); or choose region 'none'")
    reg = assign_regions(cities, region, city_col=city_col, what=lab["cities"])
    missing = [c for c in pd.unique(idx[city_col]) if c not in set(reg[city_col])]
    if missing:
        raise InputError(f"{lab['cities']} lacks {len(missing)} city(ies) of the "
                         f"{lab['city_series']}, e.g. {missing[:5]}")
    out = idx.merge(reg, on=city_col, how="left", validate="many_to_one")
    ids = [c for c in (city_col, kwargs.get("year_col", "year"), *PANEL_ID_COLUMNS)
           if c in out.columns]
    rest = [c for c in out.columns if c not in ids]
    res = out[ids + rest]
    res.attrs.update(idx.attrs)
    res.attrs["region"] = region
    return res
