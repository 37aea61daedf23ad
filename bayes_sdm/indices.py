"""The seed study's indices, computed from raw city tables.

The dependent variable and the regressors of the seed study (economic resilience of Chinese
cities explained by agglomeration externalities, with controls) are indices built from
city-level statistics.  This module documents and implements each formula once.

Notation: ``r`` a city, ``n`` the nation, ``t`` a year, ``j`` an industry (sector).

Economic resilience (Martin, Sunley, Gardiner & Tyler 2016, "How regions react to recessions:
resilience and the role of economic structure", Regional Studies 50(4):561-585; the
"sensitivity index" form of Martin 2012, J. Economic Geography 12(1):1-32, applied to real GDP
growth as in the seed study)::

    resi_{r,t} = [(G_{r,t} - G_{r,t-1}) - (G_{n,t} - G_{n,t-1})] / |G_{n,t} - G_{n,t-1}|

where ``G`` is the real GDP growth rate (city and nation in the same unit, per cent or
fraction; the index is unit-free).  A positive value means the city's growth rate moved up
relative to the national movement, scaled by the size of the national movement.
``variant="difference"`` returns the numerator only (no division), which stays finite when
the national growth rate does not change.  With ``variant="ratio"`` (the default) a zero
national change makes the index undefined: :class:`~bayes_sdm.errors.InputError` names the
year.  The first year of each city is lost (it has no ``t-1``).

MAR (Marshall-Arrow-Romer) specialisation, a relative specialisation (location-quotient)
index (Duranton & Puga 2000, "Diversity and specialisation in cities", Urban Studies
37(3):533-555; as used in the seed study)::

    IS_{rj} = E_{rj} / sum_j E_{rj},   IS_j = E_{nj} / sum_j E_{nj}
    mar_r   = max_j IS_{rj} / IS_j

Jacobs diversity, the inverse of the modified Herfindahl index (relative diversity index;
Duranton & Puga 2000)::

    jacobs_r = 1 / sum_j |IS_{rj} - IS_j|

``E`` is employment by industry.  The national shares ``IS_j`` come from a national employment
table when given; otherwise from the sum over the cities in the table (the sample aggregate),
which is stated in the result's ``attrs``.  Employment must be positive for every city, year
and industry (in yearbook data a zero usually marks a missing value, and a zero national share
would make IS_rj / IS_j undefined); every city-year must list every industry.  When shares are given instead of counts (``kind="share"``), each
city-year's shares must sum to one (tolerance ``1e-6``).

Controls, ratios of yearbook series (China City Statistical Yearbook definitions)::

    inf  = telecommunication business volume / GDP                 (information infrastructure)
    tra  = paved road area / built-up area                          (transport infrastructure)
    ftri = foreign capital actually used (USD) * average RMB/USD rate of the year / GDP
                                                                    (openness, foreign trade)
    inv  = science expenditure / general public budget expenditure  (innovation support)

Numerators and denominators must be in matching units (GDP, telecom volume, spending in the
same currency unit, e.g. 10,000 yuan; FDI in USD of the same scale, e.g. 10,000 USD; both areas
in km^2).  Real GDP per capita (``gdp_pc``), the variable behind the seed study's economic
distance weights, is passed through when present.

Layout: pure array functions (``*_array``) underneath; the table functions validate their
inputs and raise :class:`~bayes_sdm.errors.InputError` naming the city, year, industry or
column at fault.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import InputError

RESILIENCE_VARIANTS = ("ratio", "difference")
SHARE_KINDS = ("employment", "share")
SHARE_TOL = 1e-6

#: Columns of the city series table read by :func:`control_ratios` / :func:`build_indices`.
CITY_SERIES_COLUMNS = {
    "gdp_growth": "real GDP growth rate (same unit as the national series)",
    "gdp": "nominal GDP (currency unit, e.g. 10,000 yuan)",
    "telecom": "telecommunication business volume (same currency unit as gdp)",
    "road_area": "paved road area (same area unit as built_up_area)",
    "built_up_area": "built-up area of the city district",
    "fdi_usd": "foreign capital actually used (USD, e.g. 10,000 USD)",
    "science_exp": "science expenditure (currency unit)",
    "budget_exp": "general public budget expenditure (same currency unit as science_exp)",
}
#: Columns of the national series table.
NATIONAL_SERIES_COLUMNS = {
    "gdp_growth": "national real GDP growth rate",
    "rmb_per_usd": "annual average exchange rate, RMB per USD (same USD scale as fdi_usd)",
}
INDEX_COLUMNS = ("resi", "mar", "jacobs", "inf", "tra", "ftri", "inv")


# --------------------------------------------------------------------------- pure arrays
def resilience_array(dg_city, dg_nat, variant: str = "ratio") -> np.ndarray:
    """Resilience from growth-rate changes (Martin et al. 2016).

    Parameters
    ----------
    dg_city : array, G_{r,t} - G_{r,t-1}
    dg_nat : array broadcastable to ``dg_city``, G_{n,t} - G_{n,t-1}
    variant : ``"ratio"`` (divide by |dg_nat|) or ``"difference"``
    """
    num = np.asarray(dg_city, dtype=float) - np.asarray(dg_nat, dtype=float)
    if variant == "difference":
        return num
    if variant == "ratio":
        return num / np.abs(np.asarray(dg_nat, dtype=float))
    raise InputError(f"unknown resilience variant {variant!r}; choose from {RESILIENCE_VARIANTS}")


def specialisation_array(shares, national_shares) -> np.ndarray:
    """MAR specialisation max_j IS_rj / IS_j for shares of shape (..., J)."""
    s = np.asarray(shares, dtype=float)
    return np.max(s / np.asarray(national_shares, dtype=float), axis=-1)


def diversity_array(shares, national_shares) -> np.ndarray:
    """Jacobs diversity 1 / sum_j |IS_rj - IS_j| for shares of shape (..., J)."""
    s = np.asarray(shares, dtype=float)
    return 1.0 / np.sum(np.abs(s - np.asarray(national_shares, dtype=float)), axis=-1)


# --------------------------------------------------------------------------- validation helpers
def _require(df: pd.DataFrame, cols, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def _numeric(df: pd.DataFrame, col: str, keys: list[str], what: str) -> np.ndarray:
    """The column as floats; NaN, inf or text -> InputError naming the rows' keys."""
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals)
    if bad.any():
        raise InputError(f"{what}: column {col!r} has {int(bad.sum())} NaN/inf or non-numeric "
                         f"value(s), e.g. at {_where(df.loc[bad], keys)}")
    return vals


def _py(v):
    """A numpy scalar as the Python value (for readable messages)."""
    return v.item() if isinstance(v, np.generic) else v


def _where(rows: pd.DataFrame, keys: list[str], limit: int = 5) -> str:
    parts = []
    for rec in rows[keys].head(limit).itertuples(index=False):
        parts.append("(" + ", ".join(f"{k} {_py(v)!r}" for k, v in zip(keys, rec)) + ")")
    return "; ".join(parts)


def _no_missing_keys(df: pd.DataFrame, keys: list[str], what: str) -> None:
    bad = df[keys].isna().any(axis=1)
    if bad.any():
        raise InputError(f"{what}: missing (NaN) identifiers in row(s) "
                         f"{df.index[bad].tolist()[:5]}")


def _no_duplicates(df: pd.DataFrame, keys: list[str], what: str) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        raise InputError(f"{what}: duplicate rows for {_where(df.loc[dup], keys)}")


def _year_ints(df: pd.DataFrame, year_col: str, what: str) -> np.ndarray:
    y = pd.to_numeric(df[year_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(y) | (y != np.round(y))
    if bad.any():
        raise InputError(f"{what}: column {year_col!r} must hold integer years; bad values "
                         f"{pd.unique(df.loc[bad, year_col])[:5].tolist()}")
    return y.astype(int)


# --------------------------------------------------------------------------- resilience
def resilience(city: pd.DataFrame, national: pd.DataFrame, *, variant: str = "ratio",
               city_col: str = "city", year_col: str = "year", growth_col: str = "gdp_growth",
               min_abs_change: float = 0.0) -> pd.DataFrame:
    """Economic resilience index of each city and year (Martin et al. 2016).

    Parameters
    ----------
    city : long table with ``city_col``, ``year_col`` and ``growth_col`` (real GDP growth)
    national : table with ``year_col`` and ``growth_col`` (national real GDP growth)
    variant : ``"ratio"`` (default, the study's index) or ``"difference"`` (numerator only)
    min_abs_change : with ``variant="ratio"``, national changes with |G_n,t - G_n,t-1| <= this
        are refused (default 0: only an exact zero is refused)

    Returns
    -------
    DataFrame with columns ``city_col``, ``year_col``, ``resi`` for every city-year whose
    previous year is present (each city's first year is dropped).

    Raises
    ------
    InputError
        missing columns, NaN growth (naming city and year), duplicate city-years, a gap in a
        city's years, national years missing, or a zero national change (naming the year).
    """
    if variant not in RESILIENCE_VARIANTS:
        raise InputError(f"unknown resilience variant {variant!r}; choose from "
                         f"{RESILIENCE_VARIANTS}")
    _require(city, [city_col, year_col, growth_col], "city growth table")
    _require(national, [year_col, growth_col], "national growth table")
    _no_missing_keys(city, [city_col, year_col], "city growth table")
    c = city[[city_col, year_col]].copy()
    c[year_col] = _year_ints(city, year_col, "city growth table")
    c["_g"] = _numeric(city, growth_col, [city_col, year_col], "city growth table")
    _no_duplicates(c, [city_col, year_col], "city growth table")
    n = pd.DataFrame({year_col: _year_ints(national, year_col, "national growth table"),
                      "_g": _numeric(national, growth_col, [year_col], "national growth table")})
    _no_duplicates(n, [year_col], "national growth table")
    nat = n.set_index(year_col)["_g"]

    order = {u: i for i, u in enumerate(pd.unique(c[city_col]))}
    c = c.assign(_o=c[city_col].map(order)).sort_values(["_o", year_col], kind="stable")
    prev_year = c.groupby("_o")[year_col].shift(1)
    first = prev_year.isna()
    gap = ~first & (prev_year != c[year_col] - 1)
    if gap.any():
        r = c.loc[gap].iloc[0]
        raise InputError(f"city growth table: city {_py(r[city_col])!r} has no row for year "
                         f"{int(r[year_col]) - 1} (years must be consecutive; resilience at "
                         f"{int(r[year_col])} needs the previous year)")
    dg_city = (c["_g"] - c.groupby("_o")["_g"].shift(1))[~first].to_numpy()
    out = c.loc[~first, [city_col, year_col]].reset_index(drop=True)
    years = out[year_col].to_numpy()
    need = np.unique(np.concatenate([years, years - 1]))
    miss = [int(y) for y in need if y not in nat.index]
    if miss:
        raise InputError(f"national growth table has no value for year(s) {miss}")
    dnat_by_year = {int(y): float(nat[y] - nat[y - 1]) for y in np.unique(years)}
    if variant == "ratio":
        zero = [y for y, d in dnat_by_year.items() if abs(d) <= min_abs_change]
        if zero:
            y = zero[0]
            raise InputError(
                f"national growth rate does not change in year {y} "
                f"(G_n,{y} - G_n,{y - 1} = {dnat_by_year[y]!r}), so the resilience ratio is "
                f"undefined there; drop year(s) {zero} or use variant='difference'"
            )
    dg_nat = np.array([dnat_by_year[int(y)] for y in years])
    out["resi"] = resilience_array(dg_city, dg_nat, variant)
    return out


# --------------------------------------------------------------------------- structure indices
def industry_shares(employment: pd.DataFrame, *, kind: str = "employment",
                    keys: tuple[str, ...] = ("city", "year"), industry_col: str = "industry",
                    value_col: str = "employment", what: str = "employment table"
                    ) -> pd.DataFrame:
    """Validated industry shares, wide: index = ``keys`` (e.g. city, year), columns = industries.

    ``kind="employment"`` takes positive counts and divides by each row's total;
    ``kind="share"`` takes shares that must be positive and sum to one per row (within 1e-6).

    Raises
    ------
    InputError
        NaN/non-numeric values, negative or zero employment, duplicate rows, a key lacking an
        industry that appears elsewhere (naming key and industry), shares not summing to one.
    """
    if kind not in SHARE_KINDS:
        raise InputError(f"unknown kind {kind!r}; choose from {SHARE_KINDS}")
    keys = list(keys)
    cols = [*keys, industry_col]
    _require(employment, [*cols, value_col], what)
    if len(employment) == 0:
        raise InputError(f"{what} is empty")
    _no_missing_keys(employment, cols, what)
    df = employment[cols].copy()
    df["_v"] = _numeric(employment, value_col, cols, what)
    _no_duplicates(df, cols, what)
    bad = df["_v"] <= 0
    if bad.any():
        label = "employment" if kind == "employment" else "share"
        raise InputError(f"{what}: {label} must be positive; {int(bad.sum())} negative or zero "
                         f"value(s), e.g. at {_where(df.loc[bad], cols)}")
    key_order = df[keys].drop_duplicates()
    industries = list(pd.unique(df[industry_col]))
    wide = df.set_index(cols)["_v"].unstack(industry_col)
    if len(keys) == 1:
        index = pd.Index(key_order[keys[0]], name=keys[0])
    else:
        index = pd.MultiIndex.from_frame(key_order)
    wide = wide.reindex(index, columns=industries)
    holes = wide.isna()
    if holes.to_numpy().any():
        stacked = holes.stack()
        first = stacked[stacked].index[:5]
        where = "; ".join(
            "(" + ", ".join(f"{k} {_py(v)!r}" for k, v in zip([*keys, industry_col], ix)) + ")"
            for ix in first)
        raise InputError(f"{what}: {int(holes.to_numpy().sum())} missing industry row(s): every "
                         f"{'/'.join(keys)} needs all {len(industries)} industries; missing "
                         f"e.g. {where}")
    vals = wide.to_numpy(dtype=float)
    tot = vals.sum(axis=1)
    if kind == "share":
        off = np.abs(tot - 1.0) > SHARE_TOL
        if off.any():
            i = int(np.nonzero(off)[0][0])
            ix = wide.index[i] if len(keys) > 1 else (wide.index[i],)
            where = ", ".join(f"{k} {_py(v)!r}" for k, v in zip(keys, ix))
            raise InputError(f"{what}: shares of ({where}) sum to {float(tot[i])!r}, not 1 "
                             f"({int(off.sum())} row(s) off by more than {SHARE_TOL})")
        return pd.DataFrame(vals, index=wide.index, columns=wide.columns)
    return pd.DataFrame(vals / tot[:, None], index=wide.index, columns=wide.columns)


def specialisation_diversity(employment: pd.DataFrame, national_employment: pd.DataFrame | None
                             = None, *, kind: str = "employment", city_col: str = "city",
                             year_col: str = "year", industry_col: str = "industry",
                             value_col: str = "employment") -> pd.DataFrame:
    """MAR specialisation and Jacobs diversity of every city-year.

    Parameters
    ----------
    employment : long table (city, year, industry, value): employment counts or shares
    national_employment : long table (year, industry, value) of the nation, same ``kind``; when
        None the national shares are the sum over the cities of ``employment`` in each year
        (only possible for counts)

    Returns
    -------
    DataFrame with ``city_col``, ``year_col``, ``mar``, ``jacobs``; ``attrs["national_shares"]``
    says which benchmark was used.
    """
    _require(employment, [city_col, year_col, industry_col, value_col], "employment table")
    employment = employment.copy()
    _no_missing_keys(employment, [city_col, year_col, industry_col], "employment table")
    employment[year_col] = _year_ints(employment, year_col, "employment table")
    if national_employment is not None:
        _require(national_employment, [year_col, industry_col, value_col],
                 "national employment table")
        national_employment = national_employment.copy()
        _no_missing_keys(national_employment, [year_col, industry_col],
                         "national employment table")
        national_employment[year_col] = _year_ints(national_employment, year_col,
                                                   "national employment table")
    shares = industry_shares(employment, kind=kind, keys=(city_col, year_col),
                             industry_col=industry_col, value_col=value_col)
    industries = list(shares.columns)
    years = shares.index.get_level_values(1)
    if national_employment is None:
        if kind == "share":
            raise InputError("national shares are needed when city shares are given "
                             "(pass national_employment)")
        counts = employment.assign(_v=pd.to_numeric(employment[value_col]))
        nat_counts = counts.groupby([year_col, industry_col])["_v"].sum().reset_index()
        nat = industry_shares(nat_counts, kind="employment", keys=(year_col,),
                              industry_col=industry_col, value_col="_v",
                              what="sample-aggregate employment")
        source = "sample aggregate (sum over the cities of the table)"
    else:
        nat = industry_shares(national_employment, kind=kind, keys=(year_col,),
                              industry_col=industry_col, value_col=value_col,
                              what="national employment table")
        source = "national employment table"
    extra = [j for j in nat.columns if j not in set(industries)]
    lacking = [j for j in industries if j not in set(nat.columns)]
    if extra or lacking:
        raise InputError(f"national and city tables list different industries: national lacks "
                         f"{lacking[:10]}, cities lack {extra[:10]}")
    nat = nat[industries]
    miss = sorted({int(y) for y in years} - {int(y) for y in nat.index})
    if miss:
        raise InputError(f"national employment table has no rows for year(s) {miss[:10]}")
    nat_rows = nat.loc[years].to_numpy(dtype=float)
    s = shares.to_numpy(dtype=float)
    mar = specialisation_array(s, nat_rows)
    dev = np.sum(np.abs(s - nat_rows), axis=1)
    if np.any(dev == 0):
        i = int(np.nonzero(dev == 0)[0][0])
        c, y = shares.index[i]
        raise InputError(f"city {_py(c)!r} year {_py(y)!r} has exactly the national industry structure; "
                         "Jacobs diversity 1/sum|IS_rj - IS_j| is infinite there")
    out = shares.index.to_frame(index=False)
    out["mar"] = mar
    out["jacobs"] = 1.0 / dev
    out.attrs["national_shares"] = source
    return out


# --------------------------------------------------------------------------- controls
def control_ratios(city: pd.DataFrame, national: pd.DataFrame, *, city_col: str = "city",
                   year_col: str = "year", columns: Mapping[str, str] | None = None
                   ) -> pd.DataFrame:
    """The control ratios inf, tra, ftri, inv of every city-year (see the module docstring).

    ``columns`` maps the canonical names of :data:`CITY_SERIES_COLUMNS` /
    :data:`NATIONAL_SERIES_COLUMNS` to the tables' column names when they differ.

    Raises
    ------
    InputError
        missing columns, NaN values (naming city, year, column), non-positive denominators,
        negative numerators, years without an exchange rate.
    """
    m = {k: k for k in (*CITY_SERIES_COLUMNS, *NATIONAL_SERIES_COLUMNS)}
    m.update(columns or {})
    num_den = {"inf": ("telecom", "gdp"), "tra": ("road_area", "built_up_area"),
               "ftri": ("fdi_usd", "gdp"), "inv": ("science_exp", "budget_exp")}
    needed = sorted({m[c] for pair in num_den.values() for c in pair})
    keys = [city_col, year_col]
    _require(city, [*keys, *needed], "city series table")
    _require(national, [year_col, m["rmb_per_usd"]], "national series table")
    _no_missing_keys(city, keys, "city series table")
    base = city[keys].copy()
    base[year_col] = _year_ints(city, year_col, "city series table")
    _no_duplicates(base, keys, "city series table")
    vals = {}
    for name in needed:
        v = _numeric(city, name, keys, "city series table")
        vals[name] = v
    for ratio, (num, den) in num_den.items():
        d = vals[m[den]]
        bad = d <= 0
        if bad.any():
            raise InputError(f"city series table: {m[den]!r} (denominator of {ratio}) must be "
                             f"positive; bad at {_where(city.loc[bad], keys)}")
        bad = vals[m[num]] < 0
        if bad.any():
            raise InputError(f"city series table: {m[num]!r} (numerator of {ratio}) must not be "
                             f"negative; bad at {_where(city.loc[bad], keys)}")
    nat_years = _year_ints(national, year_col, "national series table")
    rate = _numeric(national, m["rmb_per_usd"], [year_col], "national series table")
    if (rate <= 0).any():
        raise InputError("national series table: exchange rates must be positive")
    rate_by_year = pd.Series(rate, index=nat_years)
    if rate_by_year.index.duplicated().any():
        raise InputError("national series table: duplicate years "
                         f"{rate_by_year.index[rate_by_year.index.duplicated()].tolist()[:5]}")
    miss = sorted(set(base[year_col].tolist()) - set(nat_years.tolist()))
    if miss:
        raise InputError(f"national series table has no exchange rate for year(s) {miss[:10]}")
    fx = rate_by_year.loc[base[year_col]].to_numpy()
    out = base.reset_index(drop=True)
    out["inf"] = vals[m["telecom"]] / vals[m["gdp"]]
    out["tra"] = vals[m["road_area"]] / vals[m["built_up_area"]]
    out["ftri"] = vals[m["fdi_usd"]] * fx / vals[m["gdp"]]
    out["inv"] = vals[m["science_exp"]] / vals[m["budget_exp"]]
    return out


# --------------------------------------------------------------------------- all together
def build_indices(employment_long: pd.DataFrame, city_series: pd.DataFrame,
                  national_series: pd.DataFrame, *,
                  national_employment: pd.DataFrame | None = None, variant: str = "ratio",
                  kind: str = "employment", city_col: str = "city", year_col: str = "year",
                  industry_col: str = "industry", value_col: str = "employment",
                  columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Build the study panel's index columns from raw tables.

    Parameters
    ----------
    employment_long : (city, year, industry, employment) -- counts, or shares with
        ``kind="share"``
    city_series : one row per city-year with the columns of :data:`CITY_SERIES_COLUMNS`
        (``gdp_growth``, ``gdp``, ``telecom``, ``road_area``, ``built_up_area``, ``fdi_usd``,
        ``science_exp``, ``budget_exp``) and optionally ``gdp_pc``
    national_series : one row per year with ``gdp_growth`` and ``rmb_per_usd``
    national_employment : (year, industry, employment) national benchmark for the industry
        shares; the sample aggregate when None
    variant : resilience variant, ``"ratio"`` or ``"difference"``
    columns : renames for the canonical series columns (canonical name -> table column)

    Returns
    -------
    DataFrame with ``city``, ``year``, ``resi``, ``mar``, ``jacobs``, ``inf``, ``tra``,
    ``ftri``, ``inv`` (and ``gdp_pc`` when ``city_series`` has it), one row per city-year of
    ``city_series`` that has a previous year (resilience needs ``t-1``), in the cities' order of
    first appearance and by year.

    Raises
    ------
    InputError
        any validation failure of the parts (see :func:`resilience`, :func:`industry_shares`,
        :func:`control_ratios`), or a city-year without employment rows.
    """
    m = {k: k for k in (*CITY_SERIES_COLUMNS, *NATIONAL_SERIES_COLUMNS)}
    m.update(columns or {})
    keys = [city_col, year_col]
    _require(city_series, [*keys, m["gdp_growth"]], "city series table")
    _require(national_series, [year_col, m["gdp_growth"]], "national series table")
    city_g = city_series[[*keys, m["gdp_growth"]]].rename(columns={m["gdp_growth"]: "_g"})
    nat_g = national_series[[year_col, m["gdp_growth"]]].rename(columns={m["gdp_growth"]: "_g"})
    resi = resilience(city_g, nat_g, variant=variant, city_col=city_col, year_col=year_col,
                      growth_col="_g")
    ctrl = control_ratios(city_series, national_series, city_col=city_col, year_col=year_col,
                          columns=columns)
    struct = specialisation_diversity(employment_long, national_employment, kind=kind,
                                      city_col=city_col, year_col=year_col,
                                      industry_col=industry_col, value_col=value_col)
    struct[year_col] = struct[year_col].astype(int)
    out = resi.merge(struct, on=keys, how="left", validate="one_to_one")
    lacking = out["mar"].isna()
    if lacking.any():
        raise InputError(f"employment table has no rows for {int(lacking.sum())} city-year(s) "
                         f"of the city series, e.g. {_where(out.loc[lacking], keys)}")
    out = out.merge(ctrl, on=keys, how="left", validate="one_to_one")
    if "gdp_pc" in city_series.columns:
        gp = city_series[keys].copy()
        gp[year_col] = _year_ints(city_series, year_col, "city series table")
        gp["gdp_pc"] = _numeric(city_series, "gdp_pc", keys, "city series table")
        if (gp["gdp_pc"] <= 0).any():
            raise InputError("city series table: gdp_pc must be positive; bad at "
                             f"{_where(gp.loc[gp['gdp_pc'] <= 0], keys)}")
        out = out.merge(gp, on=keys, how="left", validate="one_to_one")
    out.attrs["national_shares"] = struct.attrs.get("national_shares")
    out.attrs["resilience_variant"] = variant
    return out[[*keys, *INDEX_COLUMNS, *(["gdp_pc"] if "gdp_pc" in out.columns else [])]]
