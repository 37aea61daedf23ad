"""Input layouts, units and the validation shared by the index builders.

See :mod:`bayes_sdm.indices` for the definitions and references.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError

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
