"""Generator of the SYNTHETIC ``synthetic_ua`` dataset (seeded, deterministic).

Run ``python -m bayes_sdm.datasets.generate_synthetic [--out DIR]`` to rewrite the data files
(default: this package's ``data/synthetic_ua``).  Generation takes a few seconds.  The bundled
files use :data:`SEED` (the seed of the previous version, not chosen for the outcome); the
design was tuned on other seeds, on which the pooled ML pattern of the seed study is reproduced
in most but not all of the 18 effects, and mar's Moran's I is the most fragile property.  Nothing here
is real data: the city names, provinces, agglomerations, belts, national growth rates and
exchange rates are real (the last two close to the published NBS values, for realism only);
every city statistic is simulated.

What it does, in order (all draws from one ``numpy.random.default_rng(SEED)`` in a fixed order):

1. **Cities.**  176 prefecture-level cities in the 18 urban agglomerations of the seed study,
   each with its province and the east/central/west belt of that province
   (:data:`bayes_sdm.indices.PROVINCE_BELT`, the NBS three-belt division: east 11, central 8,
   west 12 provinces).  Each agglomeration lists a subset of its official member cities
   (prefecture level only, one agglomeration per city); the list is illustrative, not the
   study's exact sample.
2. **Real GDP per capita and W.**  ``gdp_pc`` (yuan, 2002 prices) of 2003-2018: a region-,
   agglomeration- and city-specific level times a city-specific growth trend times noise.  W is
   the seed study's ``w_ij = 1/|xbar_i - xbar_j|`` of the cities' 2003-2018 mean ``gdp_pc``,
   row-standardised (:func:`bayes_sdm.datasets.synthetic_weights`).
3. **Spatially autocorrelated raw tables, 2003-2018.**  Every city characteristic that drives a
   regressor -- the size and trend of its dominant industry's employment spike (MAR), the
   dispersion of its industry mix and its trend (Jacobs), the levels, trends and yearly shocks of
   the four control ratios -- is a spatial autoregressive field on W,
   ``f = (I - lambda W)^{-1} e`` (standardised), so that cities of similar income have similar
   industrial structure and controls (the study finds Moran's I significant for every variable
   in every year).  From them: employment in the 19 sections of GB/T 4754-2002 (a few cells are
   zero, as in yearbooks), the national employment table (the sample cities plus the rest of the
   country), nominal GDP and telecom volume (10,000 yuan), urban road area (10,000 m^2) and
   built-up area (km^2), foreign capital actually used (10,000 USD), science and general budget
   expenditure (10,000 yuan).  2002 rows of the city table hold the growth rate only (the
   first-year rule of :mod:`bayes_sdm.indices`).
4. **Regressors.**  mar, jacobs, inf, tra, ftri, inv (controls in per cent) for 2003-2018 from
   the raw tables with :func:`bayes_sdm.indices.build_indices` (national employment benchmark).
5. **Coefficients.**  Two-way fixed-effects SDM with region-specific ``beta_g``, ``theta_g`` and a
   common ``rho``: each variable has a regional profile (:data:`PROFILES`: MAR positive
   everywhere, strongest in the west and weakest in the east; Jacobs direct in the east and
   centre, spillover in the east only, nil in the west; controls common) whose two scales are
   solved so that the exact pooled direct and indirect effects equal :data:`TARGET_EFFECTS`, the
   seed study's reported pooled SDM effects.
6. **City growth, generated forward.**  ``G_{r,2002} = G_{n,2002} + c_r`` (``c_r`` a spatial
   field, mean :data:`GROWTH_PREMIUM`, sd :data:`GROWTH_PREMIUM_SD` points), then for each year
   the change of the city's real growth relative to the nation::

       dG_t - dG_n,t = |dG_n,t| A^{-1} (X_t beta_g + W X_t theta_g + mu + alpha_t + e0_t)
                       + A^{-1} eta_t,         A = I - rho W

   with ``e0_t ~ N(0, SIGMA0^2)`` and growth shocks ``eta_t ~ N(0, TAU^2)`` percentage points
   that do *not* shrink when the national growth rate barely moves.  The seed study's resilience
   index ``resi = (dG_t - dG_n,t)/|dG_n,t|`` computed from these growth series (step 7) is then
   exactly the SDM::

       resi_t = A^{-1} (X_t beta_g + W X_t theta_g + mu + alpha_t + eps_t),
       eps_t ~ N(0, sigma_t^2 I),   sigma_t^2 = SIGMA0^2 + (TAU / |dG_n,t|)^2

   whose error spread follows ``1/|dG_n,t|``: large in 2004, 2013 and 2017 (national growth
   changed by 0.1 point) and small in 2008 (4.5 points), as the ratio behaves on yearbook data.
   ``mu`` and ``alpha`` cancel the unit and year means of the systematic part and add
   N(0, MU_SD^2) unit and N(0, ALPHA_SD^2) year effects.
7. **Panel.**  The raw tables are written to CSV and read back, and the panel is
   :func:`bayes_sdm.indices.build_panel` of them (``scripts/build_indices.py`` with its
   defaults reproduces it exactly); its ``resi`` differs from the simulated draw by float
   rounding only (recorded in the truth file).
8. **Truth.**  The exact effects (LeSage & Pace 2009, ch. 2.7) of the heterogeneous model from
   a dense inverse (N = 176): S_k = (I - rho W)^{-1} (diag(beta_k) + diag(theta_k) W);
   per unit i, direct_i = S_k[i, i], total_i = sum_j S_k[i, j] (the effect on y_i of a unit
   change of x_k in every city), indirect_i = total_i - direct_i.  "pooled" averages over all
   cities (= tr(S_k)/N and iota'S_k iota/N); "by_region" averages over the cities of a region.
   Also stored: "by_region_from" with column sums (total effect *from* a city's x_k on all
   cities) and "by_region_homogeneous", the LeSage-Pace effects that a model with the region's
   beta_g, theta_g for every city and the full W would have
   (direct = [beta_g tr(A^-1) + theta_g tr(A^-1 W)]/N, total = (beta_g + theta_g)/(1 - rho)).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import indices
from ..indices import PROVINCE_BELT

SEED = 20030418
FIRST_RAW_YEAR, FIRST_YEAR, LAST_YEAR = 2002, 2003, 2018
RAW_YEARS = np.arange(FIRST_RAW_YEAR, LAST_YEAR + 1)
YEARS = np.arange(FIRST_YEAR, LAST_YEAR + 1)
X_NAMES = ("mar", "jacobs", "inf", "tra", "ftri", "inv")
REGIONS = ("east", "central", "west")
EFFECT_NAMES = ("direct", "indirect", "total")


def _c(province: str, *names: str) -> list[tuple[str, str]]:
    return [(n, province) for n in names]


#: The 18 urban agglomerations of the seed study and the cities used here.
AGGLOMERATIONS: dict[str, list[tuple[str, str]]] = {
    "Yangtze River Delta": (
        _c("Shanghai", "Shanghai")
        + _c("Jiangsu", "Nanjing", "Wuxi", "Changzhou", "Suzhou", "Nantong", "Yancheng",
             "Yangzhou", "Zhenjiang", "Taizhou (Jiangsu)")
        + _c("Zhejiang", "Hangzhou", "Ningbo", "Jiaxing", "Huzhou", "Shaoxing", "Jinhua",
             "Zhoushan", "Taizhou (Zhejiang)")
        + _c("Anhui", "Hefei", "Wuhu", "Ma'anshan", "Tongling", "Anqing", "Chuzhou", "Chizhou",
             "Xuancheng")),
    "Pearl River Delta": _c("Guangdong", "Guangzhou", "Shenzhen", "Zhuhai", "Foshan", "Jiangmen",
                            "Zhaoqing", "Huizhou", "Dongguan", "Zhongshan"),
    "Beijing-Tianjin-Hebei": (
        _c("Beijing", "Beijing") + _c("Tianjin", "Tianjin")
        + _c("Hebei", "Shijiazhuang", "Tangshan", "Qinhuangdao", "Handan", "Xingtai", "Baoding",
             "Zhangjiakou", "Chengde", "Cangzhou", "Langfang", "Hengshui")),
    "Chengdu-Chongqing": (
        _c("Chongqing", "Chongqing")
        + _c("Sichuan", "Chengdu", "Zigong", "Luzhou", "Deyang", "Mianyang", "Suining",
             "Neijiang", "Leshan", "Nanchong", "Meishan", "Yibin", "Guang'an", "Ziyang")),
    "Middle Yangtze": (
        _c("Hubei", "Wuhan", "Huangshi", "Ezhou", "Xiaogan", "Xianning", "Xiangyang", "Yichang",
           "Jingzhou", "Jingmen")
        + _c("Hunan", "Changsha", "Zhuzhou", "Xiangtan", "Yueyang", "Yiyang", "Changde",
             "Hengyang")
        + _c("Jiangxi", "Nanchang", "Jiujiang", "Jingdezhen", "Yingtan", "Xinyu", "Yichun",
             "Pingxiang")),
    "West Taiwan Strait": (
        _c("Fujian", "Fuzhou", "Xiamen", "Putian", "Sanming", "Quanzhou", "Zhangzhou", "Nanping",
           "Longyan", "Ningde")
        + _c("Zhejiang", "Wenzhou")),
    "Shandong Peninsula": _c("Shandong", "Jinan", "Qingdao", "Zibo", "Dongying", "Yantai",
                             "Weifang", "Weihai", "Rizhao"),
    "Central Plains": _c("Henan", "Zhengzhou", "Kaifeng", "Luoyang", "Pingdingshan", "Anyang",
                         "Hebi", "Xinxiang", "Jiaozuo", "Puyang", "Xuchang", "Luohe", "Nanyang",
                         "Shangqiu", "Zhoukou"),
    "Central-South Liaoning": _c("Liaoning", "Shenyang", "Dalian", "Anshan", "Fushun", "Dandong",
                                 "Yingkou", "Liaoyang", "Panjin"),
    "Guanzhong Plain": (
        _c("Shaanxi", "Xi'an", "Baoji", "Xianyang", "Tongchuan", "Weinan", "Shangluo")
        + _c("Shanxi", "Yuncheng", "Linfen") + _c("Gansu", "Tianshui")),
    "Beibu Gulf": (
        _c("Guangxi", "Nanning", "Beihai", "Qinzhou", "Fangchenggang", "Yulin (Guangxi)")
        + _c("Guangdong", "Zhanjiang", "Maoming", "Yangjiang") + _c("Hainan", "Haikou")),
    "Harbin-Changchun": (
        _c("Heilongjiang", "Harbin", "Daqing", "Qiqihar", "Mudanjiang")
        + _c("Jilin", "Changchun", "Jilin", "Siping", "Songyuan")),
    "Central Shanxi": _c("Shanxi", "Taiyuan", "Jinzhong", "Xinzhou", "Lvliang", "Yangquan"),
    "Central Guizhou": _c("Guizhou", "Guiyang", "Zunyi", "Anshun", "Bijie"),
    "Hohhot-Baotou-Ordos-Yulin": (_c("Inner Mongolia", "Hohhot", "Baotou", "Ordos")
                                  + _c("Shaanxi", "Yulin (Shaanxi)")),
    "Central Yunnan": _c("Yunnan", "Kunming", "Qujing", "Yuxi"),
    "Lanzhou-Xining": _c("Gansu", "Lanzhou", "Baiyin", "Dingxi") + _c("Qinghai", "Xining",
                                                                        "Haidong"),
    "Ningxia along the Yellow River": _c("Ningxia", "Yinchuan", "Shizuishan", "Wuzhong",
                                         "Zhongwei"),
}

#: The 19 sections of GB/T 4754-2002 (China City Statistical Yearbook employment tables) and
#: the national employment shares of the synthetic base year with their yearly log drift.
INDUSTRIES = [
    ("A", "Agriculture, forestry, animal husbandry and fishery", 0.010, -0.04),
    ("B", "Mining", 0.045, -0.03),
    ("C", "Manufacturing", 0.280, -0.01),
    ("D", "Electricity, gas and water production and supply", 0.025, 0.0),
    ("E", "Construction", 0.100, 0.02),
    ("F", "Transport, storage and post", 0.050, 0.0),
    ("G", "Information transmission, computer services and software", 0.020, 0.04),
    ("H", "Wholesale and retail trade", 0.060, 0.0),
    ("I", "Accommodation and catering", 0.020, 0.01),
    ("J", "Finance", 0.040, 0.02),
    ("K", "Real estate", 0.025, 0.04),
    ("L", "Leasing and business services", 0.030, 0.03),
    ("M", "Scientific research, technical services and geological prospecting", 0.020, 0.01),
    ("N", "Management of water conservancy, environment and public facilities", 0.015, 0.0),
    ("O", "Resident services and other services", 0.005, 0.0),
    ("P", "Education", 0.110, -0.005),
    ("Q", "Health, social security and social welfare", 0.050, 0.01),
    ("R", "Culture, sports and entertainment", 0.010, 0.0),
    ("S", "Public management and social organisation", 0.110, -0.005),
]
# industries whose location quotient can dominate a city (mining, utility, logistics, IT, trade,
# tourism, finance, real-estate cities; manufacturing's national share is too large for a high LQ)
_SPIKE_INDUSTRIES = ["B", "D", "G", "I", "K", "M"]

#: National real GDP growth (per cent), close to the published NBS annual rates.
NATIONAL_GROWTH = {2002: 9.1, 2003: 10.0, 2004: 10.1, 2005: 11.4, 2006: 12.7, 2007: 14.2,
                   2008: 9.7, 2009: 9.4, 2010: 10.6, 2011: 9.6, 2012: 7.9, 2013: 7.8, 2014: 7.4,
                   2015: 7.0, 2016: 6.8, 2017: 6.9, 2018: 6.7}
#: Annual average exchange rate (RMB per USD), close to the published values.
RMB_PER_USD = {2002: 8.2770, 2003: 8.2770, 2004: 8.2768, 2005: 8.1917, 2006: 7.9718,
               2007: 7.6040, 2008: 6.9451, 2009: 6.8310, 2010: 6.7695, 2011: 6.4588,
               2012: 6.3125, 2013: 6.1932, 2014: 6.1428, 2015: 6.2284, 2016: 6.6423,
               2017: 6.7518, 2018: 6.6174}

# ---------------------------------------------------------------- the data-generating process
#: The seed study's pooled two-way FE SDM effects (direct, indirect) of its results section;
#: total = direct + indirect.  As printed, Jacobs total 0.756 and Inf total 0.997 are not the
#: sums of their direct and indirect effects (0.702, 0.999); the direct and indirect effects are
#: taken as printed.  Ftri's spillover is "not significant" in the paper; 0.02 here.
TARGET_EFFECTS = {
    "mar": (0.107, 0.342),
    "jacobs": (0.217, 0.485),
    "inf": (0.359, 0.640),
    "tra": (0.253, 0.167),
    "ftri": (0.104, 0.020),
    "inv": (0.372, 0.462),
}
#: Regional profiles (east, central, west) of beta ("b") and theta ("t"); the pooled targets
#: fix two scales per variable.  ``"t_null"`` lists regions whose theta is tied to their beta
#: so that their (homogeneous-model) spillover is zero.
PROFILES = {
    "mar": {"b": (0.8, 1.0, 1.4), "t": (0.75, 1.15, 1.35), "t_null": ()},
    "jacobs": {"b": (1.0, 0.6, 0.0), "t": (1.0, 0.0, 0.0), "t_null": ("central",)},
    "inf": {"b": (1.0, 1.0, 1.0), "t": (1.0, 1.0, 1.0), "t_null": ()},
    "tra": {"b": (1.0, 1.0, 1.0), "t": (1.0, 1.0, 1.0), "t_null": ()},
    "ftri": {"b": (1.0, 1.0, 1.0), "t": (1.0, 1.0, 1.0), "t_null": ()},
    "inv": {"b": (1.0, 1.0, 1.0), "t": (1.0, 1.0, 1.0), "t_null": ()},
}
RHO = 0.45
#: sd of the resilience error that scales with the national swing (resilience units)
SIGMA0 = 0.04
#: sd of the cities' growth-change shocks (percentage points of real GDP growth)
TAU = 0.08
MU_SD = 0.05
ALPHA_SD = 0.3
#: cities' growth premium over the nation in 2002 (points): mean and sd
GROWTH_PREMIUM, GROWTH_PREMIUM_SD = 2.0, 1.2

#: log real GDP per capita: region shifts, agglomeration and city sd
GDP_PC_SHIFT = {"east": 0.65, "central": 0.05, "west": -0.4}
GDP_PC_AGG_SD, GDP_PC_CITY_SD = 0.05, 0.14
#: Regressor design: lambda of the level, trend and shock fields, spatial share of the shocks
LAMBDA_LEVEL, LAMBDA_TREND, LAMBDA_SHOCK, SHOCK_SPATIAL = 0.9, 0.75, 0.6, 0.7
#: autocorrelation of the yearly shocks (stationary AR(1))
SHOCK_AR = 0.6
#: Per driver: median, level sd (log scale), trend sd (per year) and shock sd of the within-city
#: part (index scale), and the regional multiplier (east, central, west) of the within part.
#: "mar" drives the location quotient of the dominant industry minus one, "jacobs" the
#: dispersion (log-share sd) of the other industries around the national structure; the
#: controls are in per cent.
XDESIGN = {
    "mar": (1.3, 0.45, 0.025, 1.0, (1.2, 1.2, 1.2)),
    "jacobs": (0.5, 0.25, 0.002, 0.012, (1.0, 1.2, 1.0)),
    "inf": (3.5, 0.3, 0.03, 0.5, (1.0, 1.0, 1.0)),
    "tra": (13.0, 0.25, 0.05, 0.32, (1.0, 1.0, 1.0)),
    "ftri": (2.0, 0.4, 0.01, 0.13, (1.0, 1.0, 1.0)),
    "inv": (1.2, 0.35, 0.01, 0.3, (1.0, 1.0, 1.0)),
}


def city_table() -> pd.DataFrame:
    """city, province, agglomeration, region (east|central|west) of the 176 cities."""
    rows = [(city, prov, agg, PROVINCE_BELT[prov])
            for agg, members in AGGLOMERATIONS.items() for city, prov in members]
    df = pd.DataFrame(rows, columns=["city", "province", "agglomeration", "region"])
    if df["city"].duplicated().any():  # pragma: no cover - guarded by the tests
        raise AssertionError(f"duplicate city names {df.loc[df.city.duplicated(), 'city']}")
    return df


def national_growth_changes() -> pd.Series:
    """G_n,t - G_n,t-1 for 2003-2018 (percentage points)."""
    g = pd.Series(NATIONAL_GROWTH).sort_index()
    return g.diff().loc[FIRST_YEAR:LAST_YEAR]


def error_sd_by_year() -> pd.Series:
    """sigma_t of the resilience SDM's error: sqrt(SIGMA0^2 + (TAU/|dG_n,t|)^2)."""
    dn = national_growth_changes().abs()
    return np.sqrt(SIGMA0**2 + (TAU / dn) ** 2)


class _Fields:
    """Standardised spatial autoregressive fields (I - lambda W)^{-1} e on a fixed W."""

    def __init__(self, w: np.ndarray, rng: np.random.Generator):
        self.w = w
        self.rng = rng
        self._lu = {}

    def __call__(self, lam: float, size: int = 1) -> np.ndarray:
        import scipy.linalg as sla

        n = self.w.shape[0]
        if lam not in self._lu:
            self._lu[lam] = sla.lu_factor(np.eye(n) - lam * self.w)
        e = self.rng.standard_normal((n, size))
        f = sla.lu_solve(self._lu[lam], e)
        f = (f - f.mean(axis=0)) / f.std(axis=0)
        return f[:, 0] if size == 1 else f.T  # (N,) or (size, N)


def _gdp_pc(rng: np.random.Generator, cities: pd.DataFrame) -> np.ndarray:
    """Real GDP per capita (yuan, 2002 prices), shape (N, T) for the panel years."""
    n, t = len(cities), len(YEARS)
    reg = cities["region"].to_numpy()
    aggs = list(AGGLOMERATIONS)
    agg_eff = dict(zip(aggs, rng.normal(0.0, GDP_PC_AGG_SD, len(aggs))))
    shift = np.array([GDP_PC_SHIFT[r] for r in reg])
    level = (np.log(16000.0) + shift + cities["agglomeration"].map(agg_eff).to_numpy()
             + rng.normal(0.0, GDP_PC_CITY_SD, n))
    trend = rng.normal(0.09, 0.015, n)
    tt = (YEARS - FIRST_YEAR)[None, :]
    pc = np.round(np.exp(level[:, None] + trend[:, None] * tt + rng.normal(0.0, 0.02, (n, t))))
    # the inverse economic distance refuses ties of the city means: move a tied city by 1 yuan
    while True:
        _, group, counts = np.unique(pc.sum(axis=1), return_inverse=True, return_counts=True)
        if (counts == 1).all():
            return pc
        first: dict[int, int] = {}
        move = [i for i in range(n) if first.setdefault(int(group[i]), i) != i]
        pc[move, -1] += 1.0


def _raw_tables(rng: np.random.Generator, cities: pd.DataFrame, gdp_pc: np.ndarray,
                w: np.ndarray) -> dict[str, pd.DataFrame]:
    """The raw tables (the cities' growth column still empty), panel years 2003-2018."""
    n, t, j = len(cities), len(YEARS), len(INDUSTRIES)
    tc = (YEARS - YEARS.mean())[None, :]  # centred time, (1, T)
    reg = cities["region"].to_numpy()
    east, west = (reg == "east").astype(float), (reg == "west").astype(float)
    codes = [c for c, *_ in INDUSTRIES]
    field = _Fields(w, rng)

    def spatial_parts(name):
        """A standardised level field (N,) and the within-city part (N, T) of a driver: a
        spatial trend plus spatially correlated stationary AR(1) shocks, on the index scale."""
        _, _, trend_sd, shock_sd, mult = XDESIGN[name]
        within = np.array([dict(zip(REGIONS, mult))[r] for r in reg])[:, None]
        lvl = field(LAMBDA_LEVEL)
        tr = trend_sd * field(LAMBDA_TREND)
        innov = (SHOCK_SPATIAL * field(LAMBDA_SHOCK, t).T
                 + np.sqrt(1 - SHOCK_SPATIAL**2) * rng.standard_normal((n, t)))
        sh = np.empty((n, t))  # stationary AR(1) shocks with unit variance
        sh[:, 0] = innov[:, 0]
        for s in range(1, t):
            sh[:, s] = SHOCK_AR * sh[:, s - 1] + np.sqrt(1 - SHOCK_AR**2) * innov[:, s]
        return lvl, within * (tr[:, None] * tc + shock_sd * sh)

    def index_path(name, common=0.0, shift=0.0, floor=0.0):
        """median * exp(level_sd * level + common + shift) + within, floored."""
        median, level_sd = XDESIGN[name][:2]
        lvl, within = spatial_parts(name)
        val = median * np.exp(level_sd * lvl[:, None] + common + shift) + within
        return np.maximum(val, floor)

    # --- employment by industry: the dominant industry's location quotient is the MAR driver,
    #     the dispersion of the other industries around the national structure the Jacobs one
    base = np.array([s for *_, s, _ in INDUSTRIES])
    drift = np.array([d for *_, d in INDUSTRIES])
    log_s0 = (np.log(base / base.sum())[None, :]
              + drift[None, :] * (YEARS - FIRST_YEAR)[:, None])  # (T, J)
    s0 = np.exp(log_s0) / np.exp(log_s0).sum(axis=1, keepdims=True)
    z = np.clip(rng.standard_normal((n, j)), -2.5, 2.5)
    spike_ind = rng.choice([codes.index(c) for c in _SPIKE_INDUSTRIES], n)
    lq = 1.0 + index_path("mar", floor=0.1)  # (N, T) LQ of the dominant industry
    disp = index_path("jacobs", floor=0.05)
    noise = rng.normal(0.0, 0.04, (n, t, j))
    other = np.exp(log_s0[None, :, :] + disp[:, :, None] * z[:, None, :] + noise)
    rows = np.arange(n)
    other[rows, :, spike_ind] = 0.0
    s_dom = s0[:, spike_ind].T * lq  # (N, T)
    shares = other / other.sum(axis=2, keepdims=True) * (1.0 - s_dom)[:, :, None]
    shares[rows, :, spike_ind] = s_dom
    log_e = (rng.normal(np.log(3.0e5), 0.6, n) + 0.3 * east)[:, None] + 0.02 * (
        YEARS - FIRST_YEAR)[None, :] + rng.normal(0.0, 0.03, (n, t))
    emp = np.round(np.exp(log_e)[:, :, None] * shares).astype(np.int64)
    small = rng.random((n, t, j)) < 0.002  # a few zero cells, as in yearbooks
    emp[small & (shares < 0.01)] = 0
    rest_total = 1.1e8 * np.exp(0.02 * (YEARS - FIRST_YEAR))
    rest = s0 * rest_total[:, None]
    nat_emp = np.round(emp.sum(axis=0) + rest).astype(np.int64)  # (T, J)

    # --- control ratios (per cent) and the raw series behind them
    tt = (YEARS - FIRST_YEAR)[None, :]
    inf_pct = index_path("inf", common=-0.02 * tt, floor=0.3)
    tra_pct = index_path("tra", common=0.015 * tt, floor=2.0)
    ftri_pct = index_path("ftri", common=-0.03 * tt,
                          shift=(0.5 * east - 0.4 * west)[:, None], floor=0.02)
    inv_pct = index_path("inv", common=0.05 * tt,
                         shift=(0.3 * east - 0.2 * west)[:, None], floor=0.1)
    inf_ratio, tra_ratio, ftri_ratio, inv_ratio = (v / 100.0 for v in (inf_pct, tra_pct,
                                                                         ftri_pct, inv_pct))
    pop = rng.normal(np.log(400.0), 0.5, n)[:, None] + 0.005 * tt  # 10,000 persons
    gdp = np.round(gdp_pc * np.exp(pop) * np.exp(0.03 * tt))  # nominal, 10,000 yuan
    telecom = np.round(inf_ratio * gdp)
    built = np.round(np.exp(rng.normal(np.log(80.0), 0.6, n)[:, None] + 0.3 * east[:, None]
                            + 0.05 * tt + rng.normal(0.0, 0.02, (n, t))), 2)  # km2
    road = np.round(tra_ratio * built * 100.0, 1)  # 10,000 m2
    fx = np.array([RMB_PER_USD[y] for y in YEARS])
    fdi = np.round(ftri_ratio * gdp / fx[None, :])  # 10,000 USD
    budget = np.round(gdp * np.exp(np.log(0.12) + 0.01 * tt + rng.normal(0.0, 0.2, n)[:, None]
                                   + rng.normal(0.0, 0.03, (n, t))))
    science = np.round(inv_ratio * budget)

    city_ids = cities["city"].to_numpy()
    cy = pd.DataFrame({"city": np.repeat(city_ids, t), "year": np.tile(YEARS, n)})

    def with_first_year(a):  # (N, T) -> (N, T + 1) with a blank first (2002) column, flat
        return np.concatenate([np.full((n, 1), np.nan), a], axis=1).ravel()

    city_series = pd.DataFrame({
        "city": np.repeat(city_ids, t + 1), "year": np.tile(RAW_YEARS, n),
        "gdp_growth": np.nan, "gdp": with_first_year(gdp), "telecom": with_first_year(telecom),
        "road_area": with_first_year(road), "built_up_area": with_first_year(built),
        "fdi_usd": with_first_year(fdi), "science_exp": with_first_year(science),
        "budget_exp": with_first_year(budget), "gdp_pc": with_first_year(gdp_pc)})
    employment_wide = pd.concat(
        [cy, pd.DataFrame(emp.reshape(n * t, j), columns=codes)], axis=1)
    national_employment = pd.DataFrame({
        "year": np.repeat(YEARS, j), "industry": np.tile(codes, t),
        "employment": nat_emp.ravel()})
    national_series = pd.DataFrame({
        "year": RAW_YEARS, "gdp_growth": [NATIONAL_GROWTH[y] for y in RAW_YEARS],
        "rmb_per_usd": [RMB_PER_USD[y] for y in RAW_YEARS]})
    industries = pd.DataFrame({"code": codes, "name": [nm for _, nm, *_ in INDUSTRIES]})
    return {"employment": employment_wide, "national_employment": national_employment,
            "city_series": city_series, "national_series": national_series,
            "industries": industries, "cities": cities.copy()}


def _wide(frame: pd.DataFrame, col: str, units) -> np.ndarray:
    """(T, N) array of ``col`` in the given unit order."""
    return frame.pivot(index="year", columns="city", values=col).loc[:, list(units)].to_numpy()


def coefficient_arrays(regions, beta: dict | None = None, theta: dict | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit beta and theta, shape (N, K), from {region: [K values]} dicts."""
    regions = list(regions)
    b = np.array([beta[r] for r in regions], dtype=float)
    t = np.array([theta[r] for r in regions], dtype=float)
    return b, t


def _unit_effects(ainv: np.ndarray, w: np.ndarray, b: np.ndarray, t: np.ndarray):
    """direct_i, row-sum total_i, column-sum total_i of A^-1 (diag(b) + diag(t) W)."""
    s = ainv * b[None, :] + ainv @ (t[:, None] * w)
    return np.diag(s).copy(), s.sum(axis=1), s.sum(axis=0)


def solve_coefficients(w: np.ndarray, rho: float, regions) -> tuple[dict, dict]:
    """Regional beta_g, theta_g whose exact pooled effects equal :data:`TARGET_EFFECTS`.

    For each variable, beta_g = s_b * b_g and theta_g = s_t * t_g + s_b * null_g, with the
    profiles of :data:`PROFILES`; ``null_g = -kappa b_g`` for the regions listed in ``t_null``,
    where ``kappa`` makes the homogeneous-model indirect effect of that region zero
    ((beta + theta)/(1 - rho) = beta a + theta c with a = tr(A^-1)/N, c = tr(A^-1 W)/N).  The
    pooled direct effect tr(S)/N and total effect iota'S iota/N are linear in (s_b, s_t) and are
    solved exactly.
    """
    regions = np.asarray(list(regions))
    n = len(regions)
    ainv = np.linalg.inv(np.eye(n) - rho * w)
    a = np.trace(ainv) / n
    c = np.trace(ainv @ w) / n
    m = 1.0 / (1.0 - rho)
    kappa = (m - a) / (m - c)  # theta = -kappa beta  =>  zero homogeneous indirect effect
    beta, theta = {r: [] for r in REGIONS}, {r: [] for r in REGIONS}
    for k in X_NAMES:
        prof = PROFILES[k]
        pb = dict(zip(REGIONS, prof["b"]))
        pt = dict(zip(REGIONS, prof["t"]))
        null = {r: (-kappa * pb[r] if r in prof["t_null"] else 0.0) for r in REGIONS}

        # unit coefficients of s_b = 1 (beta and its tied theta) and of s_t = 1 (theta)
        b1 = np.array([pb[r] for r in regions])
        t1_ = np.array([null[r] for r in regions])
        t2_ = np.array([pt[r] for r in regions])
        d1, tot1, _ = _unit_effects(ainv, w, b1, t1_)
        d2, tot2, _ = _unit_effects(ainv, w, np.zeros(n), t2_)
        d1, t1, d2, t2 = d1.mean(), tot1.mean(), d2.mean(), tot2.mean()
        direct, indirect = TARGET_EFFECTS[k]
        sb, st = np.linalg.solve([[d1, d2], [t1, t2]], [direct, direct + indirect])
        for r in REGIONS:
            beta[r].append(float(sb * pb[r]))
            theta[r].append(float(st * pt[r] + sb * null[r]))
    return beta, theta


def _effect_dict(arr: np.ndarray) -> dict:
    """{effect: {coef: value}} from an array (3, K)."""
    return {e: {k: float(arr[i, j]) for j, k in enumerate(X_NAMES)}
            for i, e in enumerate(EFFECT_NAMES)}


def true_effects(w: np.ndarray, rho: float, beta: np.ndarray, theta: np.ndarray,
                 regions, beta_by_region: dict, theta_by_region: dict) -> dict:
    """Exact effects of the heterogeneous SDM from a dense inverse (see the module docstring).

    Parameters
    ----------
    w : dense row-standardised W (N, N)
    beta, theta : per-unit coefficients (N, K)
    regions : region label of each unit (N,)
    beta_by_region, theta_by_region : {region: [K values]} for the homogeneous regional effects
    """
    from ..effects import dense_effects

    regions = np.asarray(list(regions))
    n, k = beta.shape
    ainv = np.linalg.inv(np.eye(n) - rho * w)
    direct = np.empty((n, k))
    total_to = np.empty((n, k))
    total_from = np.empty((n, k))
    for j in range(k):
        direct[:, j], total_to[:, j], total_from[:, j] = _unit_effects(ainv, w, beta[:, j],
                                                                        theta[:, j])

    def pack(d, t):
        return np.stack([d.mean(axis=0), t.mean(axis=0) - d.mean(axis=0), t.mean(axis=0)])

    out = {"pooled": _effect_dict(pack(direct, total_to)), "by_region": {},
           "by_region_from": {}, "by_region_homogeneous": {}}
    for r in REGIONS:
        m = regions == r
        out["by_region"][r] = _effect_dict(pack(direct[m], total_to[m]))
        out["by_region_from"][r] = _effect_dict(pack(direct[m], total_from[m]))
        out["by_region_homogeneous"][r] = _effect_dict(
            dense_effects(rho, np.array(beta_by_region[r]), np.array(theta_by_region[r]), w))
    return out


def _csv_round_trip(df: pd.DataFrame) -> pd.DataFrame:
    """The table as it reads back from the CSV this module writes."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    buf.seek(0)
    return pd.read_csv(buf, **indices.csv_read_options())


def build_from_raw(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The panel from the stored raw tables: what ``scripts/build_indices.py`` does by default
    (national employment benchmark, ratio resilience, NBS belts, controls in per cent)."""
    emp = indices.long_employment(raw["employment"], ("city", "year"), "employment table")
    return indices.build_panel(emp, raw["city_series"], raw["national_series"], raw["cities"],
                               national_employment=raw["national_employment"], region="belt")


def generate(seed: int = SEED) -> dict:
    """Generate everything in memory.

    Returns
    -------
    dict with ``panel`` (the dataset's long table), ``raw`` (dict of raw tables as stored:
    employment wide), ``truth`` (JSON-ready dict) and ``weights``.
    """
    from ..simulate import mean_part, solve_spatial
    from ._loaders import synthetic_weights

    rng = np.random.default_rng(seed)
    cities = city_table()
    units = tuple(cities["city"])
    gdp_pc = _gdp_pc(rng, cities)
    w = synthetic_weights(pd.DataFrame({"city": np.repeat(units, len(YEARS)),
                                        "gdp_pc": gdp_pc.ravel()}))
    if w.ids != units:  # pragma: no cover
        raise AssertionError("unit order of W differs from the city table")
    wd = np.asarray(w.matrix)
    raw = _raw_tables(rng, cities, gdp_pc, wd)

    # regressors from the raw tables (a placeholder growth column; growth does not enter X)
    cs0 = raw["city_series"].assign(gdp_growth=0.0)
    xs = build_from_raw({**raw, "city_series": cs0})
    X = np.stack([_wide(xs, k, units) for k in X_NAMES], axis=-1)  # noqa: N806  (T, N, K)
    regions = cities["region"].to_numpy()
    beta_g, theta_g = solve_coefficients(wd, RHO, regions)
    beta, theta = coefficient_arrays(regions, beta_g, theta_g)

    # two-way effects: cancel the unit / year means of the systematic part, add small effects
    f = mean_part(w, X, beta, theta)
    fbar = f.mean()
    mu = -(f.mean(axis=0) - fbar) + rng.normal(0.0, MU_SD, len(units))
    alpha = -(f.mean(axis=1) - fbar) - fbar + rng.normal(0.0, ALPHA_SD, len(YEARS))

    # city growth, forward: G_2002 = G_n,2002 + c; dG_t = dG_n,t + |dG_n,t| A^-1(...) + A^-1 eta
    dn = national_growth_changes().to_numpy()
    premium = GROWTH_PREMIUM + GROWTH_PREMIUM_SD * _Fields(wd, rng)(LAMBDA_LEVEL)
    e0 = rng.normal(0.0, SIGMA0, (len(YEARS), len(units)))
    eta = rng.normal(0.0, TAU, (len(YEARS), len(units)))
    systematic = solve_spatial(w, RHO, f + mu[None, :] + alpha[:, None] + e0)
    shocks = solve_spatial(w, RHO, eta)
    g = np.empty((len(RAW_YEARS), len(units)))
    g[0] = NATIONAL_GROWTH[FIRST_RAW_YEAR] + premium
    for t in range(len(YEARS)):
        g[t + 1] = g[t] + dn[t] + np.abs(dn[t]) * systematic[t] + shocks[t]
    resi_draw = systematic + shocks / np.abs(dn)[:, None]  # the SDM draw the growth implies
    cs = raw["city_series"].copy()
    pos = {u: i for i, u in enumerate(units)}
    cs["gdp_growth"] = g[cs["year"].to_numpy() - FIRST_RAW_YEAR, cs["city"].map(pos).to_numpy()]
    for col in ("gdp", "telecom", "fdi_usd", "science_exp", "budget_exp", "gdp_pc"):
        cs[col] = cs[col].astype("Int64")
    raw["city_series"] = cs

    stored = {k: _csv_round_trip(v) for k, v in raw.items()}
    panel = build_from_raw(stored)
    check = panel.merge(xs, on=["city", "year"], suffixes=("", "_x"))
    for k in (*X_NAMES, "gdp_pc"):
        if not np.array_equal(check[k].to_numpy(), check[f"{k}_x"].to_numpy()):
            raise AssertionError(f"build_indices does not reproduce {k}")  # pragma: no cover
    resi_err = float(np.abs(_wide(panel, "resi", units) - resi_draw).max())

    eff = true_effects(wd, RHO, beta, theta, regions, beta_g, theta_g)
    sig_t = error_sd_by_year()
    truth = {
        "synthetic": True,
        "description": (
            "SYNTHETIC panel shaped like the seed study (176 cities, 18 urban agglomerations, "
            "2003-2018); not real data. resi is the resilience index of city growth series "
            "generated forward from a two-way fixed-effects SDM with region-specific beta_g, "
            "theta_g and common rho on the row-standardised inverse economic-distance W of mean "
            "gdp_pc, with growth shocks of constant size, so that resi's error sd is "
            "proportional to 1/|dG_n,t|; the regressors are indices built from simulated, "
            "spatially autocorrelated raw tables. See "
            "bayes_sdm/datasets/generate_synthetic.py."),
        "generator": "bayes_sdm.datasets.generate_synthetic",
        "seed": seed,
        "N": len(units), "T": len(YEARS), "years": [int(YEARS[0]), int(YEARS[-1])],
        "n_units_by_region": {r: int((regions == r).sum()) for r in REGIONS},
        "default_model": {"model": "sdm", "fe": "twoway", "y": "resi", "x": list(X_NAMES),
                          "unit": "city", "time": "year", "region_col": "region",
                          "weights": "economic-distance:gdp_pc (mean over 2003-2018, "
                                     "row-standardised)"},
        "dgp": {
            "model": "sdm", "fe": "twoway",
            "equation": ("resi_t = (I - rho W)^-1 (X_t beta_g + W X_t theta_g + mu + "
                         "alpha_t iota + eps_t), eps_t ~ N(0, sigma_t^2 I), sigma_t^2 = "
                         "sigma0^2 + (tau/|G_n,t - G_n,t-1|)^2; beta_g, theta_g those of each "
                         "city's region"),
            "growth": ("G_r,2002 = G_n,2002 + c_r (c_r a spatial field, mean "
                       f"{GROWTH_PREMIUM}, sd {GROWTH_PREMIUM_SD}); G_r,t = G_r,t-1 + dG_n,t + "
                       "|dG_n,t| (I - rho W)^-1 (X_t beta_g + W X_t theta_g + mu + alpha_t + "
                       "e0_t) + (I - rho W)^-1 eta_t, e0 ~ N(0, sigma0^2), eta ~ N(0, tau^2) "
                       "percentage points"),
            "rho": RHO, "sigma0": SIGMA0, "tau": TAU,
            "sigma_by_year": {str(int(y)): float(s) for y, s in sig_t.items()},
            "sigma2": float((sig_t**2).mean()),
            "national_growth_change": {str(int(y)): float(v)
                                       for y, v in national_growth_changes().items()},
            "mu": f"minus the unit means of X beta + WX theta, plus N(0, {MU_SD}^2)",
            "alpha": f"minus the year means of X beta + WX theta, plus N(0, {ALPHA_SD}^2)",
            "coef": list(X_NAMES),
            "beta": {r: dict(zip(X_NAMES, beta_g[r])) for r in REGIONS},
            "theta": {r: dict(zip(X_NAMES, theta_g[r])) for r in REGIONS},
            "target_pooled_effects": {k: {"direct": d, "indirect": i, "total": d + i}
                                      for k, (d, i) in TARGET_EFFECTS.items()},
            "profiles": {k: {"beta": dict(zip(REGIONS, p["b"])),
                             "theta": dict(zip(REGIONS, p["t"])),
                             "zero_spillover": list(p["t_null"])}
                         for k, p in PROFILES.items()},
            "max_abs_resi_minus_draw": resi_err,
        },
        "effects": {
            "definition": (
                "Exact (dense inverse, N=176) LeSage-Pace effects of the heterogeneous DGP. "
                "S_k = (I - rho W)^-1 (diag(beta_k) + diag(theta_k) W). Per city i: direct_i = "
                "S_k[i,i]; total_i = sum_j S_k[i,j] (by_region, pooled) or sum_j S_k[j,i] "
                "(by_region_from); indirect = total - direct. pooled = mean over all cities "
                "(tr(S_k)/N, iota' S_k iota/N); by_region = mean over the region's cities. "
                "by_region_homogeneous = effects of a model giving every city the region's "
                "beta_g, theta_g (full W): direct = [beta_g tr(A^-1) + theta_g tr(A^-1 W)]/N, "
                "total = (beta_g + theta_g)/(1 - rho)."),
            **eff,
        },
    }
    return {"panel": panel, "raw": raw, "truth": truth, "weights": w}


def write(out_dir: str | Path | None = None, seed: int = SEED) -> Path:
    """Generate and write the panel CSV, the truth JSON and the raw tables; return the folder."""
    from ._loaders import RAW_FILES, SYNTHETIC_PANEL, SYNTHETIC_TRUTH

    out = Path(out_dir) if out_dir else Path(__file__).parent / "data" / "synthetic_ua"
    (out / "raw").mkdir(parents=True, exist_ok=True)
    res = generate(seed)
    res["panel"].to_csv(out / SYNTHETIC_PANEL, index=False, lineterminator="\n")
    (out / SYNTHETIC_TRUTH).write_text(json.dumps(res["truth"], indent=1) + "\n",
                                       encoding="utf-8")
    for key, fname in RAW_FILES.items():
        res["raw"][key].to_csv(out / "raw" / fname, index=False, lineterminator="\n")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bayes_sdm.datasets.generate_synthetic",
                                description="Regenerate the synthetic_ua dataset files.")
    p.add_argument("--out", default=None, help="output folder (default: the package data)")
    p.add_argument("--seed", type=int, default=SEED)
    a = p.parse_args(argv)
    out = write(a.out, a.seed)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
