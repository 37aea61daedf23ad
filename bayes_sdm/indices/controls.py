"""Control ratios (Inf, Tra, Ftri, Inv), exchange rates and deflation.

See :mod:`bayes_sdm.indices` for the definitions and references.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from .schema import (
    _UNIT_KIND,
    CITY_SERIES_COLUMNS,
    CONTROL_RATIOS,
    DEFAULT_UNITS,
    NATIONAL_SERIES_COLUMNS,
    RATE_PER_100,
    UNIT_FACTORS,
    _no_duplicates,
    _no_missing_keys,
    _numeric,
    _require,
    _where,
    _with_int_years,
    _year_ints,
)


def _unit_factors(units: Mapping[str, str] | None) -> dict[str, float]:
    """Factor to the default unit of each raw series; unknown names or units -> InputError."""
    units = dict(units or {})
    unknown = [c for c in units if c not in _UNIT_KIND]
    if unknown:
        raise InputError(f"units given for unknown column(s) {unknown}; units apply to "
                         f"{sorted(_UNIT_KIND)}")
    out = {}
    for col, kind in _UNIT_KIND.items():
        u = units.get(col, DEFAULT_UNITS[col])
        table = UNIT_FACTORS[kind]
        if u not in table:
            raise InputError(f"unknown unit {u!r} for column {col!r}; choose from {list(table)}")
        out[col] = table[u]
    return out


def exchange_rates(national: pd.DataFrame, *, year_col: str = "year",
                   rate_col: str = "rmb_per_usd", what: str = "national series table"
                   ) -> pd.Series:
    """RMB per USD by year from ``rate_col`` or, failing that, ``rmb_per_100usd`` / 100.

    Parameters
    ----------
    national : the national series table
    rate_col : the column of RMB per USD
    what : the table's name in error messages

    Returns
    -------
    Series indexed by year (rows with a missing rate are dropped; the caller checks coverage).

    Raises
    ------
    InputError
        neither column or both, non-positive rates, duplicate years, a rate per USD above 50
        (the yearbook's rate per 100 USD given as per USD; the year is named).
    """
    have = [c for c in (rate_col, RATE_PER_100) if c in national.columns]
    if len(have) != 1:
        raise InputError(f"{what} needs exactly one exchange-rate column, {rate_col!r} (RMB per "
                         f"USD) or {RATE_PER_100!r} (RMB per 100 USD, as the yearbook prints "
                         f"it); it has {list(national.columns)}")
    col = have[0]
    years = _year_ints(national, year_col, what)
    vals = pd.to_numeric(national[col], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(vals)
    rate = pd.Series(vals[keep] / (100.0 if col == RATE_PER_100 else 1.0), index=years[keep])
    if rate.index.duplicated().any():
        raise InputError(f"{what}: duplicate years {rate.index[rate.index.duplicated()].tolist()[:5]}")
    if (rate <= 0).any():
        raise InputError(f"{what}: exchange rates must be positive; bad in year(s) "
                         f"{rate.index[rate <= 0].tolist()[:5]}")
    if (rate > 50).any():
        y = int(rate.index[rate > 50][0])
        raise InputError(f"{what}: {col!r} is {float(rate.loc[y]) * (100 if col == RATE_PER_100 else 1):g} in year {y}, "
                         "not a rate in RMB per USD (about 6-8.3 in 2002-2018); if it is per "
                         f"100 USD, name the column {RATE_PER_100!r}")
    return rate


def control_ratios(city: pd.DataFrame, national: pd.DataFrame, *, city_col: str = "city",
                   year_col: str = "year", columns: Mapping[str, str] | None = None,
                   units: Mapping[str, str] | None = None, percent: bool = True,
                   what: str = "city series table", national_what: str = "national series table"
                   ) -> pd.DataFrame:
    """The control ratios inf, tra, ftri, inv of every city-year (seed study, section 4.2.3).

    Parameters
    ----------
    city : one row per city-year with the series of :data:`CONTROL_RATIOS`
    national : one row per year with ``rmb_per_usd`` (or ``rmb_per_100usd``)
    columns : canonical name -> the table's column name, where they differ
    units : raw series -> unit (:data:`UNIT_FACTORS`); default :data:`DEFAULT_UNITS`
    percent : ratios in per cent (default) or as fractions
    what, national_what : the tables' names in error messages

    Returns
    -------
    DataFrame with ``city_col``, ``year_col``, ``inf``, ``tra``, ``ftri``, ``inv``.

    Raises
    ------
    InputError
        missing columns, missing values (naming city, year, column), non-positive
        denominators, negative numerators, years without an exchange rate, unknown units,
        impossible ratios (road area > built-up area, science > budget spending, foreign
        capital > GDP; naming city, year and the units assumed).
    """
    m = {k: k for k in (*CITY_SERIES_COLUMNS, *NATIONAL_SERIES_COLUMNS)}
    m.update(columns or {})
    factors = _unit_factors(units)
    unit_of = {c: (units or {}).get(c, DEFAULT_UNITS[c]) for c in DEFAULT_UNITS}
    needed = list(dict.fromkeys(c for pair in CONTROL_RATIOS.values() for c in pair))
    keys = [city_col, year_col]
    _require(city, [*keys, *[m[c] for c in needed]], what)
    _no_missing_keys(city, keys, what)
    base = city[keys].copy()
    base[year_col] = _year_ints(city, year_col, what)
    _no_duplicates(base, keys, what)
    vals = {}
    for name in needed:
        v = _numeric(city, m[name], keys, what)
        vals[name] = v * factors[name] if factors[name] != 1.0 else v
    for ratio, (num, den) in CONTROL_RATIOS.items():
        bad = vals[den] <= 0
        if bad.any():
            raise InputError(f"{what}: {m[den]!r} (denominator of {ratio}) must be positive; "
                             f"bad at {_where(city.loc[bad], keys)}")
        bad = vals[num] < 0
        if bad.any():
            raise InputError(f"{what}: {m[num]!r} (numerator of {ratio}) must not be negative; "
                             f"bad at {_where(city.loc[bad], keys)}")
    rate_by_year = exchange_rates(national, year_col=year_col, rate_col=m["rmb_per_usd"],
                                  what=national_what)
    miss = sorted(set(base[year_col].tolist()) - set(rate_by_year.index.tolist()))
    if miss:
        raise InputError(f"{national_what} has no exchange rate for year(s) {miss[:10]}")
    fx = rate_by_year.loc[base[year_col]].to_numpy()
    out = base.reset_index(drop=True)
    scale = 100.0 if percent else 1.0
    frac = {"inf": vals["telecom"] / vals["gdp"],
            "tra": vals["road_area"] / (vals["built_up_area"] * 100.0),
            "ftri": vals["fdi_usd"] * fx / vals["gdp"],
            "inv": vals["science_exp"] / vals["budget_exp"]}
    limits = {"tra": f"the road area ({m['road_area']!r}, {unit_of['road_area']}) exceeds the "
                     f"built-up area ({m['built_up_area']!r}, {unit_of['built_up_area']})",
              "inv": f"{m['science_exp']!r} ({unit_of['science_exp']}) exceeds "
                     f"{m['budget_exp']!r} ({unit_of['budget_exp']})",
              "ftri": f"foreign capital {m['fdi_usd']!r} ({unit_of['fdi_usd']}) x RMB per USD "
                      f"exceeds {m['gdp']!r} ({unit_of['gdp']})"}
    for ratio, why in limits.items():
        bad = frac[ratio] > 1.0
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise InputError(f"{what}: {ratio} = {100 * frac[ratio][i]:.4g}% at "
                             f"{_where(city.iloc[[i]], keys)}: {why}; check the units "
                             "(docs/indices.md; units can be set per column)")
    for ratio in CONTROL_RATIOS:
        out[ratio] = frac[ratio] * scale if percent else frac[ratio]
    return out


def deflate(values: pd.DataFrame, deflator: pd.DataFrame, *, col: str = "gdp_pc",
            city_col: str = "city", year_col: str = "year", key: str | None = None,
            what: str = "city series table", deflator_what: str = "deflator table"
            ) -> np.ndarray:
    """Real values = nominal / (price index / 100), by year and optionally by ``key``.

    Parameters
    ----------
    values : table with ``city_col``, ``year_col``, ``col`` (nominal, e.g. GDP per capita) and
        ``key`` when the deflator is regional
    deflator : table with ``year`` (same name as ``year_col``), ``deflator`` (price index,
        base year = 100) and optionally one key column (``province`` or ``city``)
    key : the deflator's key column; inferred (``province`` / ``city`` if present) when None

    Returns
    -------
    ndarray of the real values, row-aligned with ``values``.

    Raises
    ------
    InputError
        missing columns, non-positive or missing index values, a year (and key) without an
        index, duplicate rows.
    """
    _require(deflator, [year_col, "deflator"], deflator_what)
    if key is None:
        key = next((k for k in ("province", "city") if k in deflator.columns), None)
    dkeys = [year_col] + ([key] if key else [])
    _require(values, [city_col, year_col, col, *([key] if key else [])], what)
    d = _with_int_years(deflator[dkeys + ["deflator"]], year_col, deflator_what)
    d["deflator"] = _numeric(d, "deflator", dkeys, deflator_what)
    _no_duplicates(d, dkeys, deflator_what)
    if (d["deflator"] <= 0).any():
        raise InputError(f"{deflator_what}: the price index must be positive; bad at "
                         f"{_where(d.loc[d['deflator'] <= 0], dkeys)}")
    v = values[[city_col, *dkeys]].copy() if key != city_col else values[dkeys].copy()
    v[year_col] = _year_ints(values, year_col, what)
    nominal = _numeric(values, col, [city_col, year_col], what)
    m = v.merge(d, on=dkeys, how="left", validate="many_to_one")
    lack = m["deflator"].isna().to_numpy()
    if lack.any():
        rows = m.loc[lack].drop_duplicates(dkeys)
        raise InputError(f"{deflator_what} has no price index for "
                         f"{_where(rows, dkeys)} ({int(lack.sum())} row(s) of the {what})")
    return nominal / (m["deflator"].to_numpy() / 100.0)
