"""The seed study's indices, computed from yearbook-style city tables.

The dependent variable and the regressors of the seed study (economic resilience of the cities
of China's 18 urban agglomerations explained by agglomeration externalities, with controls,
2003-2018) are indices built from city statistics.  This module documents and implements each
formula once, and assembles the model panel (:func:`build_panel`) that
``scripts/fit_region.py --data`` reads.  The input layouts, with the Chinese yearbook items and
their units, are in ``docs/indices.md``; ``scripts/build_indices.py`` is the command.

Notation: ``r`` a city, ``n`` the nation, ``t`` a year, ``j`` an industry (sector).

Economic resilience (Martin, Sunley, Gardiner & Tyler 2016, "How regions react to recessions:
resilience and the role of economic structure", Regional Studies 50(4):561-585; the
"sensitivity index" of Martin 2012, J. Economic Geography 12(1):1-32, applied to real GDP
growth as in the seed study, its equation 2)::

    resi_{r,t} = [(G_{r,t} - G_{r,t-1}) - (G_{n,t} - G_{n,t-1})] / |G_{n,t} - G_{n,t-1}|

where ``G`` is the real GDP growth rate (地区生产总值增长率 / 国内生产总值增长率, comparable
prices, per cent; city and nation in the same unit).  ``variant="difference"`` returns the
numerator only.  Why offer it: the ratio divides by the change of the national growth rate,
which in 2004, 2013 and 2017 was about 0.1 percentage point against 4.5 in 2008, so the same
one-point movement of a city's growth is a resilience of 10 in one year and of 0.2 in
another; in years when national growth barely changes the ratio is dominated by noise (and by
the rounding of published growth rates to 0.1 point), and it is undefined when national growth
does not change at all.  The difference keeps every year on the scale of percentage points.

First-year rule: resilience in year t needs growth in t and t-1, so a panel starting in 2003
needs the 2002 growth rates of every city and of the nation, and nothing else from 2002.  The
panel's years are ``years`` when given, else every year of the city table after its earliest;
employment, the control series and ``gdp_pc`` are read for the panel's years only (rows of
other years may be blank).

MAR (Marshall-Arrow-Romer) specialisation, the largest location quotient over industries
(Duranton & Puga 2000, "Diversity and specialisation in cities", Urban Studies 37(3):533-555;
the seed study's equation 3, after Huo et al. 2016)::

    IS_{rj} = E_{rj} / sum_j E_{rj},   IS_j = E_{nj} / sum_j E_{nj}
    mar_r   = max_j IS_{rj} / IS_j

Jacobs diversity, the inverse of the modified Herfindahl index (Duranton & Puga 2000; the
seed study's equation 4)::

    jacobs_r = 1 / sum_j |IS_{rj} - IS_j|

``E`` is employment by industry (按行业分组的单位从业人员).  The benchmark shares ``IS_j`` are
never chosen silently: pass the national employment table (``national_employment``, the
national employment by industry of the China Statistical Yearbook), or ask for the sum over the
sample's cities with ``benchmark="sample"``.  A zero employment cell of a city is allowed (its
share is zero); a city-year with no employment at all, and an industry with zero benchmark
employment in a year (``IS_rj / IS_j`` undefined), are errors naming the cell.

Controls, ratios of yearbook series (China City Statistical Yearbook items), in per cent by
default (``percent=False`` gives fractions)::

    inf  = telecom business volume / GDP                            (信息化水平)
    tra  = urban road area / built-up area                          (交通发达程度)
    ftri = foreign capital actually used x RMB per USD of the year / GDP   (对外开放)
    inv  = science expenditure / general budget expenditure         (区域创新能力)

Each series has a unit (:data:`DEFAULT_UNITS`, the yearbook's: money in 10,000 yuan, foreign
capital in 10,000 USD, road area in 10,000 m^2, built-up area in km^2) that ``units`` can change
(:data:`UNIT_FACTORS`); the ratios are formed after converting to the default units.  A road
area larger than the built-up area, science spending above the budget or foreign capital above
GDP is refused with the city, year and units named (the usual cause is a unit mix-up, e.g. road
area in km^2 or an exchange rate per 100 USD).

Real GDP per capita (``gdp_pc``), the variable behind the seed study's inverse
economic-distance weights, is passed through when present; with a ``deflator`` table the
column is nominal and is divided by the price index (base 100).

Layout: pure array functions (``*_array``) underneath; the table functions validate their
inputs and raise :class:`~bayes_sdm.errors.InputError` naming the table, city, year, industry,
column or unit at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

RESILIENCE_VARIANTS = ("ratio", "difference")
SHARE_KINDS = ("employment", "share")
BENCHMARKS = ("national", "sample")
REGION_SCHEMES = ("belt", "nbs4", "agglomeration", "none")
SHARE_TOL = 1e-6

#: Columns of the city series table: canonical name -> (yearbook item, default unit).
CITY_SERIES_COLUMNS = {
    "gdp_growth": ("地区生产总值增长率 real GDP growth rate, comparable prices", "%"),
    "gdp": ("地区生产总值 GDP (current prices)", "10k_yuan"),
    "telecom": ("电信业务总量 telecommunication business volume", "10k_yuan"),
    "road_area": ("城市道路面积 urban road area", "10k_m2"),
    "built_up_area": ("建成区面积 built-up area (urban construction area)", "km2"),
    "fdi_usd": ("当年实际使用外资金额 foreign capital actually used", "10k_usd"),
    "science_exp": ("地方财政科学技术支出 local science and technology expenditure", "10k_yuan"),
    "budget_exp": ("地方财政一般预算内支出 local general budget expenditure", "10k_yuan"),
    "gdp_pc": ("人均地区生产总值 GDP per capita (real, or nominal with a deflator)", "yuan"),
}
#: Columns of the national series table: canonical name -> (yearbook item, unit).
NATIONAL_SERIES_COLUMNS = {
    "gdp_growth": ("国内生产总值增长率 national real GDP growth rate", "%"),
    "rmb_per_usd": ("人民币对美元汇率(年平均价) RMB per USD, annual average", "yuan/usd"),
}
#: The yearbook prints the exchange rate per 100 USD; this column name is divided by 100.
RATE_PER_100 = "rmb_per_100usd"
#: Unit of each raw series used in the ratios (the China City Statistical Yearbook's).
DEFAULT_UNITS = {"gdp": "10k_yuan", "telecom": "10k_yuan", "science_exp": "10k_yuan",
                 "budget_exp": "10k_yuan", "fdi_usd": "10k_usd", "road_area": "10k_m2",
                 "built_up_area": "km2"}
#: Accepted units per kind, as the factor to the default unit of that kind.
UNIT_FACTORS = {
    "money": {"10k_yuan": 1.0, "yuan": 1e-4, "100m_yuan": 1e4},
    "usd": {"10k_usd": 1.0, "usd": 1e-4, "100m_usd": 1e4},
    "road": {"10k_m2": 1.0, "m2": 1e-4, "km2": 100.0},
    "area": {"km2": 1.0, "10k_m2": 0.01, "m2": 1e-6},
}
_UNIT_KIND = {"gdp": "money", "telecom": "money", "science_exp": "money", "budget_exp": "money",
              "fdi_usd": "usd", "road_area": "road", "built_up_area": "area"}
#: Ratio -> (numerator, denominator) series.
CONTROL_RATIOS = {"inf": ("telecom", "gdp"), "tra": ("road_area", "built_up_area"),
                  "ftri": ("fdi_usd", "gdp"), "inv": ("science_exp", "budget_exp")}
INDEX_COLUMNS = ("resi", "mar", "jacobs", "inf", "tra", "ftri", "inv")
PANEL_ID_COLUMNS = ("agglomeration", "province", "region")

#: NBS east/central/west belts of the provinces (the three-belt division used since the 2000
#: Western Development strategy: east 11, central 8, west 12 provinces).
PROVINCE_BELT = {
    **dict.fromkeys(["Beijing", "Tianjin", "Hebei", "Liaoning", "Shanghai", "Jiangsu", "Zhejiang",
                     "Fujian", "Shandong", "Guangdong", "Hainan"], "east"),
    **dict.fromkeys(["Shanxi", "Jilin", "Heilongjiang", "Anhui", "Jiangxi", "Henan", "Hubei",
                     "Hunan"], "central"),
    **dict.fromkeys(["Inner Mongolia", "Guangxi", "Chongqing", "Sichuan", "Guizhou", "Yunnan",
                     "Tibet", "Shaanxi", "Gansu", "Qinghai", "Ningxia", "Xinjiang"], "west"),
}
#: The NBS four-region division (since 2011): Liaoning, Jilin, Heilongjiang form the northeast.
PROVINCE_NBS4 = {**PROVINCE_BELT, "Liaoning": "northeast", "Jilin": "northeast",
                 "Heilongjiang": "northeast"}
#: Chinese province names (without 省/市/自治区 suffixes) -> the English names above.
PROVINCE_ZH = {
    "北京": "Beijing", "天津": "Tianjin", "河北": "Hebei", "辽宁": "Liaoning", "上海": "Shanghai",
    "江苏": "Jiangsu", "浙江": "Zhejiang", "福建": "Fujian", "山东": "Shandong",
    "广东": "Guangdong", "海南": "Hainan", "山西": "Shanxi", "吉林": "Jilin",
    "黑龙江": "Heilongjiang", "安徽": "Anhui", "江西": "Jiangxi", "河南": "Henan", "湖北": "Hubei",
    "湖南": "Hunan", "内蒙古": "Inner Mongolia", "广西": "Guangxi", "重庆": "Chongqing",
    "四川": "Sichuan", "贵州": "Guizhou", "云南": "Yunnan", "西藏": "Tibet", "陕西": "Shaanxi",
    "甘肃": "Gansu", "青海": "Qinghai", "宁夏": "Ningxia", "新疆": "Xinjiang",
}
_ZH_SUFFIX = re.compile(r"(壮族自治区|回族自治区|维吾尔自治区|自治区|省|市)$")

#: Default labels of the tables in messages (the command replaces them with file paths).
TABLE_LABELS = {"employment": "employment table", "national_employment":
                "national employment table", "city_series": "city series table",
                "national_series": "national series table", "deflator": "deflator table",
                "cities": "city table"}


# --------------------------------------------------------------------------- pure arrays
def resilience_array(dg_city, dg_nat, variant: str = "ratio") -> np.ndarray:
    """Resilience from growth-rate changes (Martin et al. 2016; the seed study's eq. 2).

    Parameters
    ----------
    dg_city : array, G_{r,t} - G_{r,t-1}
    dg_nat : array broadcastable to ``dg_city``, G_{n,t} - G_{n,t-1}
    variant : ``"ratio"`` (divide by |dg_nat|) or ``"difference"``

    Returns
    -------
    ndarray of the index.
    """
    num = np.asarray(dg_city, dtype=float) - np.asarray(dg_nat, dtype=float)
    if variant == "difference":
        return num
    if variant == "ratio":
        return num / np.abs(np.asarray(dg_nat, dtype=float))
    raise InputError(f"unknown resilience variant {variant!r}; choose from {RESILIENCE_VARIANTS}")


def specialisation_array(shares, national_shares) -> np.ndarray:
    """MAR specialisation max_j IS_rj / IS_j (Duranton & Puga 2000) for shares (..., J).

    Parameters
    ----------
    shares : city industry shares, last axis the industries
    national_shares : benchmark shares broadcastable to ``shares`` (all positive)

    Returns
    -------
    ndarray of the index, the industry axis reduced.
    """
    s = np.asarray(shares, dtype=float)
    return np.max(s / np.asarray(national_shares, dtype=float), axis=-1)


def diversity_array(shares, national_shares) -> np.ndarray:
    """Jacobs diversity 1 / sum_j |IS_rj - IS_j| (Duranton & Puga 2000) for shares (..., J).

    Parameters
    ----------
    shares : city industry shares, last axis the industries
    national_shares : benchmark shares broadcastable to ``shares``

    Returns
    -------
    ndarray of the index, the industry axis reduced.
    """
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
        raise InputError(f"{what}: column {col!r} has {int(bad.sum())} missing, infinite or "
                         f"non-numeric value(s), e.g. at {_where(df.loc[bad], keys)}")
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
        raise InputError(f"{what}: missing identifiers ({'/'.join(keys)}) in row(s) "
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


def _with_int_years(df: pd.DataFrame, year_col: str, what: str) -> pd.DataFrame:
    out = df.copy()
    out[year_col] = _year_ints(df, year_col, what)
    return out


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    out = dict(TABLE_LABELS)
    out.update(labels or {})
    return out


# --------------------------------------------------------------------------- resilience
def resilience(city: pd.DataFrame, national: pd.DataFrame, *, variant: str = "ratio",
               city_col: str = "city", year_col: str = "year", growth_col: str = "gdp_growth",
               min_abs_change: float = 0.0, what: str = "city growth table",
               national_what: str = "national growth table") -> pd.DataFrame:
    """Economic resilience of each city and year (Martin et al. 2016; seed study eq. 2).

    Parameters
    ----------
    city : long table with ``city_col``, ``year_col`` and ``growth_col`` (real GDP growth)
    national : table with ``year_col`` and ``growth_col`` (national real GDP growth)
    variant : ``"ratio"`` (default, the study's index) or ``"difference"`` (numerator only;
        see the module docstring for why)
    min_abs_change : with ``variant="ratio"``, national changes with |G_n,t - G_n,t-1| <= this
        are refused (default 0: only an exact zero is refused)
    what, national_what : the tables' names in error messages

    Returns
    -------
    DataFrame with columns ``city_col``, ``year_col``, ``resi`` for every city-year whose
    previous year is present (each city's first year is dropped).

    Raises
    ------
    InputError
        missing columns, missing growth (naming city and year), duplicate city-years, a gap in
        a city's years, national years missing, or a zero national change (naming the year).
    """
    if variant not in RESILIENCE_VARIANTS:
        raise InputError(f"unknown resilience variant {variant!r}; choose from "
                         f"{RESILIENCE_VARIANTS}")
    _require(city, [city_col, year_col, growth_col], what)
    _require(national, [year_col, growth_col], national_what)
    _no_missing_keys(city, [city_col, year_col], what)
    c = city[[city_col, year_col]].copy()
    c[year_col] = _year_ints(city, year_col, what)
    c["_g"] = _numeric(city, growth_col, [city_col, year_col], what)
    _no_duplicates(c, [city_col, year_col], what)
    n = pd.DataFrame({year_col: _year_ints(national, year_col, national_what)})
    n["_g"] = _numeric(national, growth_col, [year_col], national_what)
    _no_duplicates(n, [year_col], national_what)
    nat = n.set_index(year_col)["_g"]

    order = {u: i for i, u in enumerate(pd.unique(c[city_col]))}
    c = c.assign(_o=c[city_col].map(order)).sort_values(["_o", year_col], kind="stable")
    prev_year = c.groupby("_o")[year_col].shift(1)
    first = prev_year.isna()
    gap = ~first & (prev_year != c[year_col] - 1)
    if gap.any():
        r = c.loc[gap].iloc[0]
        raise InputError(f"{what}: city {_py(r[city_col])!r} has no {growth_col!r} row for year "
                         f"{int(r[year_col]) - 1} (years must be consecutive; resilience at "
                         f"{int(r[year_col])} needs the previous year)")
    dg_city = (c["_g"] - c.groupby("_o")["_g"].shift(1))[~first].to_numpy()
    out = c.loc[~first, [city_col, year_col]].reset_index(drop=True)
    years = out[year_col].to_numpy()
    need = np.unique(np.concatenate([years, years - 1]))
    miss = [int(y) for y in need if y not in nat.index]
    if miss:
        raise InputError(f"{national_what}: no {growth_col!r} value for year(s) {miss} "
                         "(resilience in year t needs the national growth of t and t-1)")
    dnat_by_year = {int(y): float(nat[y] - nat[y - 1]) for y in np.unique(years)}
    if variant == "ratio":
        zero = [y for y, d in dnat_by_year.items() if abs(d) <= min_abs_change]
        if zero:
            y = zero[0]
            raise InputError(
                f"{national_what}: national growth rate does not change in year {y} "
                f"(G_n,{y} - G_n,{y - 1} = {dnat_by_year[y]!r}), so the resilience ratio is "
                f"undefined there; drop year(s) {zero} or use the 'difference' variant"
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

    ``kind="employment"`` takes counts (zero allowed, negative not) and divides by each row's
    total; ``kind="share"`` takes shares (zero allowed) that must sum to one per row (1e-6).

    Parameters
    ----------
    employment : long table (``keys``, ``industry_col``, ``value_col``)
    kind : ``"employment"`` or ``"share"``
    keys, industry_col, value_col : column names
    what : the table's name in error messages

    Returns
    -------
    DataFrame of shares, one row per key, the industries in order of first appearance.

    Raises
    ------
    InputError
        missing or non-numeric values, negative employment, duplicate rows, a key lacking an
        industry that appears elsewhere (naming key and industry), a key with no employment at
        all, shares not summing to one.
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
    label = "employment" if kind == "employment" else "share"
    bad = df["_v"] < 0
    if bad.any():
        raise InputError(f"{what}: {label} must not be negative; {int(bad.sum())} negative "
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
                         f"{'/'.join(keys)} needs all {len(industries)} industries (write 0 for "
                         f"none); missing e.g. {where}")
    vals = wide.to_numpy(dtype=float)
    tot = vals.sum(axis=1)

    def _key(i):
        ix = wide.index[i] if len(keys) > 1 else (wide.index[i],)
        return ", ".join(f"{k} {_py(v)!r}" for k, v in zip(keys, ix))

    if kind == "share":
        off = np.abs(tot - 1.0) > SHARE_TOL
        if off.any():
            i = int(np.nonzero(off)[0][0])
            raise InputError(f"{what}: shares of ({_key(i)}) sum to {float(tot[i])!r}, not 1 "
                             f"({int(off.sum())} row(s) off by more than {SHARE_TOL})")
        return pd.DataFrame(vals, index=wide.index, columns=wide.columns)
    empty = tot <= 0
    if empty.any():
        i = int(np.nonzero(empty)[0][0])
        raise InputError(f"{what}: ({_key(i)}) has zero employment in every industry; its "
                         "industry shares are undefined")
    return pd.DataFrame(vals / tot[:, None], index=wide.index, columns=wide.columns)


def specialisation_diversity(employment: pd.DataFrame, national_employment: pd.DataFrame | None
                             = None, *, benchmark: str | None = None, kind: str = "employment",
                             city_col: str = "city", year_col: str = "year",
                             industry_col: str = "industry", value_col: str = "employment",
                             what: str = "employment table",
                             national_what: str = "national employment table") -> pd.DataFrame:
    """MAR specialisation and Jacobs diversity of every city-year (seed study eqs. 3-4).

    Parameters
    ----------
    employment : long table (city, year, industry, value): employment counts or shares
    national_employment : long table (year, industry, value) of the nation, same ``kind``
    benchmark : ``"national"`` (the default when ``national_employment`` is given) or
        ``"sample"``: the benchmark shares are the sum over the cities of ``employment`` in each
        year (counts only).  One of the two must be explicit: there is no silent default.
    kind : ``"employment"`` (counts) or ``"share"``
    what, national_what : the tables' names in error messages

    Returns
    -------
    DataFrame with ``city_col``, ``year_col``, ``mar``, ``jacobs``; ``attrs["national_shares"]``
    says which benchmark was used.

    Raises
    ------
    InputError
        no benchmark chosen, a benchmark share of zero (naming industry and year), the
        validation failures of :func:`industry_shares`, industries or years that differ between
        the tables, a city with exactly the benchmark structure (Jacobs infinite).
    """
    if benchmark is None:
        if national_employment is None:
            raise InputError(
                "the benchmark of the industry shares (IS_j) must be explicit: pass the national "
                "employment by industry (national_employment) or choose benchmark='sample' "
                "(the sum over the sample's cities)")
        benchmark = "national"
    if benchmark not in BENCHMARKS:
        raise InputError(f"unknown benchmark {benchmark!r}; choose from {BENCHMARKS}")
    if benchmark == "national" and national_employment is None:
        raise InputError("benchmark='national' needs the national employment table")
    if benchmark == "sample" and national_employment is not None:
        raise InputError("benchmark='sample' and a national employment table were both given; "
                         "choose one")
    _require(employment, [city_col, year_col, industry_col, value_col], what)
    _no_missing_keys(employment, [city_col, year_col, industry_col], what)
    employment = _with_int_years(employment, year_col, what)
    shares = industry_shares(employment, kind=kind, keys=(city_col, year_col),
                             industry_col=industry_col, value_col=value_col, what=what)
    industries = list(shares.columns)
    years = shares.index.get_level_values(1)
    if benchmark == "sample":
        if kind == "share":
            raise InputError("benchmark='sample' needs employment counts, not shares (pass the "
                             "national employment table)")
        counts = employment.assign(_v=pd.to_numeric(employment[value_col]))
        nat_counts = counts.groupby([year_col, industry_col], sort=False)["_v"].sum()
        nat_counts = nat_counts.reset_index()
        bench_what = f"sample-aggregate employment (sum over the cities of the {what})"
        nat = industry_shares(nat_counts, kind="employment", keys=(year_col,),
                              industry_col=industry_col, value_col="_v", what=bench_what)
        source = "sample aggregate (sum over the cities of the table)"
    else:
        _require(national_employment, [year_col, industry_col, value_col], national_what)
        _no_missing_keys(national_employment, [year_col, industry_col], national_what)
        national_employment = _with_int_years(national_employment, year_col, national_what)
        bench_what = national_what
        nat = industry_shares(national_employment, kind=kind, keys=(year_col,),
                              industry_col=industry_col, value_col=value_col,
                              what=national_what)
        source = "national employment table"
    extra = [j for j in nat.columns if j not in set(industries)]
    lacking = [j for j in industries if j not in set(nat.columns)]
    if extra or lacking:
        raise InputError(f"{bench_what} and {what} list different industries: the benchmark "
                         f"lacks {lacking[:10]}, the cities lack {extra[:10]}")
    nat = nat[industries]
    miss = sorted({int(y) for y in years} - {int(y) for y in nat.index})
    if miss:
        raise InputError(f"{bench_what} has no rows for year(s) {miss[:10]}")
    nat = nat.loc[sorted({int(y) for y in years})]
    zero = nat.to_numpy() <= 0
    if zero.any():
        t, j = np.argwhere(zero)[0]
        raise InputError(f"{bench_what}: the benchmark share of industry {_py(nat.columns[j])!r} "
                         f"is zero in year {int(nat.index[t])}, so IS_rj / IS_j is undefined "
                         f"({int(zero.sum())} zero cell(s))")
    nat_rows = nat.loc[years].to_numpy(dtype=float)
    s = shares.to_numpy(dtype=float)
    mar = specialisation_array(s, nat_rows)
    dev = np.sum(np.abs(s - nat_rows), axis=1)
    if np.any(dev == 0):
        i = int(np.nonzero(dev == 0)[0][0])
        c, y = shares.index[i]
        raise InputError(f"{what}: city {_py(c)!r} year {_py(y)!r} has exactly the benchmark "
                         "industry structure; Jacobs diversity 1/sum|IS_rj - IS_j| is infinite "
                         "there")
    out = shares.index.to_frame(index=False)
    out["mar"] = mar
    out["jacobs"] = 1.0 / dev
    out.attrs["national_shares"] = source
    return out


# --------------------------------------------------------------------------- controls
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


# --------------------------------------------------------------------------- regions
def province_name(p) -> str | None:
    """The English name of a province given in English (any case) or Chinese (with or without
    省/市/自治区).

    Parameters
    ----------
    p : the name as written in a table

    Returns
    -------
    The key of :data:`PROVINCE_BELT`, or None when unknown.
    """
    if not isinstance(p, str):
        return None
    s = p.strip()
    zh = _ZH_SUFFIX.sub("", s)
    if zh in PROVINCE_ZH:
        return PROVINCE_ZH[zh]
    low = {k.lower(): k for k in PROVINCE_BELT}
    return low.get(s.lower())


def assign_regions(cities: pd.DataFrame, scheme: str = "belt", *, city_col: str = "city",
                   what: str = "city table") -> pd.DataFrame:
    """One row per city with its ``region`` (and province/agglomeration when given).

    Parameters
    ----------
    cities : table with ``city_col`` and ``province`` (schemes ``belt``, ``nbs4``) or
        ``agglomeration`` (scheme ``agglomeration``)
    scheme : ``belt`` -- the NBS east/central/west belt of the province (:data:`PROVINCE_BELT`,
        the seed study's split); ``nbs4`` -- the NBS four regions (east, central, west,
        northeast); ``agglomeration`` -- the city's urban agglomeration
    what : the table's name in error messages

    Returns
    -------
    DataFrame with ``city_col``, then ``agglomeration`` and ``province`` when present, then
    ``region``.

    Raises
    ------
    InputError
        unknown scheme, missing columns or values, duplicate cities, unknown provinces (named).
    """
    if scheme not in REGION_SCHEMES or scheme == "none":
        raise InputError(f"unknown region scheme {scheme!r}; choose from "
                         f"{[s for s in REGION_SCHEMES if s != 'none']}")
    need = "agglomeration" if scheme == "agglomeration" else "province"
    _require(cities, [city_col, need], what)
    _no_missing_keys(cities, [city_col], what)
    _no_duplicates(cities, [city_col], what)
    cols = [city_col] + [c for c in ("agglomeration", "province") if c in cities.columns]
    out = cities[cols].copy().reset_index(drop=True)
    blank = out[need].isna()
    if blank.any():
        raise InputError(f"{what}: column {need!r} is missing for city "
                         f"{_py(out.loc[blank, city_col].iloc[0])!r}")
    if scheme == "agglomeration":
        out["region"] = out["agglomeration"].astype(str)
        return out
    table = PROVINCE_BELT if scheme == "belt" else PROVINCE_NBS4
    names = out["province"].map(province_name)
    unknown = names.isna()
    if unknown.any():
        i = int(np.nonzero(unknown.to_numpy())[0][0])
        raise InputError(f"{what}: unknown province {_py(out['province'].iloc[i])!r} of city "
                         f"{_py(out[city_col].iloc[i])!r}; use the English names of "
                         f"{sorted(PROVINCE_BELT)} or their Chinese names")
    out["region"] = names.map(table).to_numpy()
    return out


# --------------------------------------------------------------------------- all together
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


# --------------------------------------------------------------------------- reading files
def employment_to_long(wide: pd.DataFrame, codes: Sequence[str] | None = None, *,
                       keys: Sequence[str] = ("city", "year"),
                       value_col: str = "employment") -> pd.DataFrame:
    """A wide employment table (one column per industry) as long rows.

    Parameters
    ----------
    wide : ``keys`` and one column per industry
    codes : the industry columns (default: every column other than ``keys``)
    keys, value_col : column names

    Returns
    -------
    DataFrame (keys..., industry, ``value_col``) in row-then-industry order.
    """
    keys = list(keys)
    codes = [c for c in wide.columns if c not in keys] if codes is None else list(codes)
    vals = wide[codes].to_numpy()
    n = len(wide)
    out = {k: np.repeat(wide[k].to_numpy(), len(codes)) for k in keys}
    out["industry"] = np.tile(np.asarray(codes, dtype=object), n)
    out[value_col] = vals.reshape(-1)
    return pd.DataFrame(out)


def csv_read_options() -> dict:
    """``pd.read_csv`` options that read floats back exactly (pandas < 3 needs
    ``float_precision='round_trip'``; pandas 3 parses exactly by default and deprecates it)."""
    major = int(pd.__version__.split(".")[0])
    return {} if major >= 3 else {"float_precision": "round_trip"}


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """A CSV (UTF-8, a BOM allowed) read exactly (floats round-trip).

    Parameters
    ----------
    path : the file
    what : the table's name in error messages

    Returns
    -------
    DataFrame.

    Raises
    ------
    InputError
        a missing, empty or unparsable file (named).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what}: file {str(p)!r} not found")
    try:
        return pd.read_csv(p, encoding="utf-8-sig", **csv_read_options())
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{what}: cannot read {str(p)!r} as UTF-8 CSV ({err})") from None


def long_employment(df: pd.DataFrame, keys: Sequence[str], what: str) -> pd.DataFrame:
    """An employment table in either layout as long (keys..., industry, employment).

    Long layout: columns ``keys``, ``industry``, ``employment``.  Wide layout: ``keys`` and one
    numeric column per industry (blank = missing; write 0 for no employment).

    Parameters
    ----------
    df : the table as read
    keys : identifier columns, e.g. ("city", "year") or ("year",)
    what : the table's name in error messages

    Returns
    -------
    The long table (``df`` itself when already long).

    Raises
    ------
    InputError
        missing key columns, a wide table without industry columns.
    """
    keys = list(keys)
    _require(df, keys, what)
    if {"industry", "employment"} <= set(df.columns):
        return df
    codes = [c for c in df.columns if c not in keys]
    if not codes:
        raise InputError(f"{what}: neither long (columns {keys + ['industry', 'employment']}) "
                         f"nor wide (columns {keys} and one per industry)")
    return employment_to_long(df, codes, keys=keys)
