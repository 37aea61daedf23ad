"""The index formulas: resilience (Martin et al. 2016), MAR specialisation and Jacobs diversity.

See :mod:`bayes_sdm.indices` for the definitions and references.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from .schema import (
    BENCHMARKS,
    RESILIENCE_VARIANTS,
    SHARE_KINDS,
    SHARE_TOL,
    _no_duplicates,
    _no_missing_keys,
    _numeric,
    _py,
    _require,
    _where,
    _with_int_years,
    _year_ints,
)


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
