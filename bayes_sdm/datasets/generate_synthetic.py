"""Generator of the SYNTHETIC ``synthetic_ua`` dataset (seeded, deterministic).

Run ``python -m bayes_sdm.datasets.generate_synthetic [--out DIR]`` to rewrite the data files
(default: this package's ``data/synthetic_ua``).  Generation takes about a second.

What it does, in order (all draws from one ``numpy.random.default_rng(SEED)`` in a fixed order):

1. **Cities.**  176 prefecture-level cities in the 18 urban agglomerations of the seed study,
   each with its province and the east/central/west belt of that province (:data:`PROVINCE_BELT`,
   the NBS three-belt division as used since the 2000 Western Development strategy: east 11,
   central 8, west 12 provinces).  Each agglomeration lists a subset of its official member
   cities (prefecture level only, one agglomeration per city); the list is illustrative, not the
   study's exact sample.
2. **Raw tables, 2002-2018.**  Employment of each city in the 19 sections of GB/T 4754-2002
   (log-share = national share + a city tilt of city-specific dispersion + a dominant-industry
   spike + city-specific trends + noise), the national employment table (sample cities plus the
   rest of the country), nominal GDP, telecom volume, paved road and built-up area, FDI in USD,
   science and budget expenditure, and real GDP per capita, each a city level times a
   city-specific trend times noise.  The national growth series and exchange rates are close to
   the published NBS annual values (used for realism only).
3. **Regressors.**  mar, jacobs, inf, tra, ftri, inv for 2003-2018 from the raw tables with
   :mod:`bayes_sdm.indices` (the national employment table is the benchmark of the shares).
4. **W.**  ``w_ij = 1/|gdp_pc_i - gdp_pc_j|`` of the cities' 2003-2018 mean real GDP per capita,
   row-standardised (:func:`bayes_sdm.datasets.synthetic_weights`).
5. **resi.**  A two-way fixed-effects spatial Durbin model with region-specific coefficients
   (:data:`BETA`, :data:`THETA`, per unit, shape (N, K)), common ``rho`` and ``sigma``::

       resi_t = (I - rho W)^{-1} (X_t beta_g + W X_t theta_g + mu + alpha_t iota + eps_t)

   drawn with :func:`bayes_sdm.simulate.simulate_y`.  ``mu`` and ``alpha`` cancel the unit and
   year means of the systematic part and add N(0, 0.3^2) unit and N(0, 0.3^2) year effects.
6. **City growth.**  The city real GDP growth series is the inversion of the resilience
   formula: G_{r,2002} = G_{n,2002} + N(0.5, 1.0^2) and
   G_{r,t} = G_{r,t-1} + (G_{n,t} - G_{n,t-1}) + resi_{r,t} |G_{n,t} - G_{n,t-1}|,
   so that :func:`bayes_sdm.indices.build_indices` on the raw tables reproduces the panel.
   The stored ``resi`` column *is* ``build_indices``' output; it differs from the simulated
   draw by float rounding only (recorded in the truth file, ~1e-13).
7. **Truth.**  The exact effects (LeSage & Pace 2009, ch. 2.7) of the heterogeneous model from
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
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import indices
from ..simulate import simulate_y

SEED = 20030418
FIRST_RAW_YEAR, FIRST_YEAR, LAST_YEAR = 2002, 2003, 2018
RAW_YEARS = np.arange(FIRST_RAW_YEAR, LAST_YEAR + 1)
YEARS = np.arange(FIRST_YEAR, LAST_YEAR + 1)
X_NAMES = ("mar", "jacobs", "inf", "tra", "ftri", "inv")
REGIONS = ("east", "central", "west")

#: NBS three-belt division (east / central / west) as used since 2000.
PROVINCE_BELT = {
    **dict.fromkeys(["Beijing", "Tianjin", "Hebei", "Liaoning", "Shanghai", "Jiangsu", "Zhejiang",
                     "Fujian", "Shandong", "Guangdong", "Hainan"], "east"),
    **dict.fromkeys(["Shanxi", "Jilin", "Heilongjiang", "Anhui", "Jiangxi", "Henan", "Hubei",
                     "Hunan"], "central"),
    **dict.fromkeys(["Inner Mongolia", "Guangxi", "Chongqing", "Sichuan", "Guizhou", "Yunnan",
                     "Tibet", "Shaanxi", "Gansu", "Qinghai", "Ningxia", "Xinjiang"], "west"),
}


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
# industries that can dominate a city (industrial, logistics, trade, finance, tourism cities)
_SPIKE_INDUSTRIES = ["B", "C", "D", "F", "H", "I", "J", "G"]

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
RHO = 0.35
SIGMA = 0.35
#: Region-specific coefficients on (mar, jacobs, inf, tra, ftri, inv).
BETA = {
    "east": [-0.60, 0.30, 8.0, 4.0, 6.0, 10.0],
    "central": [0.50, 0.20, 8.0, 4.0, 6.0, 10.0],
    "west": [0.30, 0.15, 8.0, 4.0, 6.0, 10.0],
}
THETA = {
    "east": [-0.80, 0.80, 4.0, 0.0, 0.0, 0.0],
    "central": [0.60, 0.40, 4.0, 0.0, 0.0, 0.0],
    "west": [0.00, 0.00, 4.0, 0.0, 0.0, 0.0],
}
MU_SD = 0.2
ALPHA_SD = 0.3


def city_table() -> pd.DataFrame:
    """city, province, agglomeration, region (east|central|west) of the 176 cities."""
    rows = [(city, prov, agg, PROVINCE_BELT[prov])
            for agg, members in AGGLOMERATIONS.items() for city, prov in members]
    df = pd.DataFrame(rows, columns=["city", "province", "agglomeration", "region"])
    if df["city"].duplicated().any():  # pragma: no cover - guarded by the tests
        raise AssertionError(f"duplicate city names {df.loc[df.city.duplicated(), 'city']}")
    return df


def _raw_tables(rng: np.random.Generator, cities: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """All raw tables except the cities' growth series (which comes from the simulated resi)."""
    n, t, j = len(cities), len(RAW_YEARS), len(INDUSTRIES)
    tc = (RAW_YEARS - RAW_YEARS.mean())[None, :]  # centred time, (1, T)
    reg = cities["region"].to_numpy()
    east, west = (reg == "east").astype(float), (reg == "west").astype(float)
    codes = [c for c, *_ in INDUSTRIES]

    # --- employment by industry
    base = np.array([s for *_, s, _ in INDUSTRIES])
    drift = np.array([d for *_, d in INDUSTRIES])
    log_s0 = np.log(base / base.sum())[None, :] + drift[None, :] * (RAW_YEARS - RAW_YEARS[0])[:, None]
    disp = rng.uniform(0.2, 0.5, n)  # how unlike the nation a city is (low = diverse)
    disp_trend = rng.normal(0.0, 0.03, n)
    z = rng.standard_normal((n, j))
    spike_ind = rng.choice([codes.index(c) for c in _SPIKE_INDUSTRIES], n)
    spike = rng.uniform(0.0, 0.7, n)
    spike_trend = rng.normal(0.0, 0.03, n)
    ind_trend = rng.normal(0.0, 0.01, (n, j))
    noise = rng.normal(0.0, 0.06, (n, t, j))
    tilt = (disp[:, None] * np.exp(disp_trend[:, None] * tc))[:, :, None] * z[:, None, :]
    tilt = tilt + ind_trend[:, None, :] * tc[:, :, None] + noise
    tilt[np.arange(n), :, spike_ind] += spike[:, None] + spike_trend[:, None] * tc
    log_s = log_s0[None, :, :] + tilt
    shares = np.exp(log_s)
    shares /= shares.sum(axis=2, keepdims=True)
    log_e = (rng.normal(np.log(3.0e5), 0.6, n) + 0.3 * east)[:, None] + 0.02 * (
        RAW_YEARS - RAW_YEARS[0])[None, :] + rng.normal(0.0, 0.03, (n, t))
    emp = np.maximum(np.round(np.exp(log_e)[:, :, None] * shares), 1.0).astype(np.int64)
    rest_total = 1.1e8 * np.exp(0.02 * (RAW_YEARS - RAW_YEARS[0]))
    rest = np.exp(log_s0) / np.exp(log_s0).sum(axis=1, keepdims=True) * rest_total[:, None]
    nat_emp = np.round(emp.sum(axis=0) + rest).astype(np.int64)  # (T, J)

    # --- city series (levels x city trends x noise)
    def series(level_mu, level_sd, trend_mu, trend_sd, noise_sd, shift=0.0):
        lvl = rng.normal(level_mu, level_sd, n) + shift
        tr = rng.normal(trend_mu, trend_sd, n)
        return np.exp(lvl[:, None] + tr[:, None] * (RAW_YEARS - RAW_YEARS[0])[None, :]
                      + rng.normal(0.0, noise_sd, (n, t)))

    gdp = np.round(series(np.log(8.0e6), 0.7, 0.13, 0.02, 0.02, 0.5 * east - 0.3 * west))
    inf_ratio = series(np.log(0.045), 0.3, 0.0, 0.025, 0.08)
    telecom = np.round(inf_ratio * gdp)
    built = np.round(series(np.log(80.0), 0.6, 0.05, 0.02, 0.02, 0.3 * east), 2)
    tra_ratio = series(np.log(0.12), 0.25, 0.015, 0.02, 0.05)
    road = np.round(tra_ratio * built, 2)
    fx = np.array([RMB_PER_USD[y] for y in RAW_YEARS])
    ftri_ratio = series(np.log(0.02), 0.5, -0.03, 0.03, 0.15, 0.7 * east - 0.5 * west)
    fdi = np.round(ftri_ratio * gdp / fx[None, :])
    budget = np.round(gdp * series(np.log(0.12), 0.25, 0.01, 0.01, 0.03))
    inv_ratio = series(np.log(0.012), 0.4, 0.04, 0.03, 0.1, 0.3 * east - 0.2 * west)
    science = np.round(inv_ratio * budget)
    gdp_pc = np.round(series(np.log(16000.0), 0.35, 0.09, 0.015, 0.02, 0.5 * east - 0.15 * west))

    city_ids = cities["city"].to_numpy()
    cy = pd.DataFrame({"city": np.repeat(city_ids, t), "year": np.tile(RAW_YEARS, n)})
    city_series = cy.assign(
        gdp_growth=np.nan, gdp=gdp.ravel(), telecom=telecom.ravel(), road_area=road.ravel(),
        built_up_area=built.ravel(), fdi_usd=fdi.ravel(), science_exp=science.ravel(),
        budget_exp=budget.ravel(), gdp_pc=gdp_pc.ravel())
    employment_wide = pd.concat(
        [cy, pd.DataFrame(emp.reshape(n * t, j), columns=codes)], axis=1)
    national_employment = pd.DataFrame({
        "year": np.repeat(RAW_YEARS, j), "industry": np.tile(codes, t),
        "employment": nat_emp.ravel()})
    national_series = pd.DataFrame({
        "year": RAW_YEARS, "gdp_growth": [NATIONAL_GROWTH[y] for y in RAW_YEARS],
        "rmb_per_usd": fx})
    industries = pd.DataFrame({"code": codes, "name": [nm for _, nm, *_ in INDUSTRIES]})
    return {"employment": employment_wide, "national_employment": national_employment,
            "city_series": city_series, "national_series": national_series,
            "industries": industries, "cities": cities.copy()}


def _wide(frame: pd.DataFrame, col: str, units) -> np.ndarray:
    """(T, N) array of ``col`` in the given unit order."""
    return frame.pivot(index="year", columns="city", values=col).loc[:, list(units)].to_numpy()


def coefficient_arrays(regions) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit beta and theta, shape (N, K), from :data:`BETA` / :data:`THETA`."""
    regions = list(regions)
    beta = np.array([BETA[r] for r in regions], dtype=float)
    theta = np.array([THETA[r] for r in regions], dtype=float)
    return beta, theta


def _effect_dict(arr: np.ndarray) -> dict:
    """{effect: {coef: value}} from an array (3, K)."""
    return {e: {k: float(arr[i, j]) for j, k in enumerate(X_NAMES)}
            for i, e in enumerate(("direct", "indirect", "total"))}


def true_effects(w: np.ndarray, rho: float, beta: np.ndarray, theta: np.ndarray,
                 regions) -> dict:
    """Exact effects of the heterogeneous SDM from a dense inverse (see the module docstring).

    Parameters
    ----------
    w : dense row-standardised W (N, N)
    beta, theta : per-unit coefficients (N, K)
    regions : region label of each unit (N,)
    """
    from ..effects import dense_effects

    regions = np.asarray(list(regions))
    n, k = beta.shape
    ainv = np.linalg.inv(np.eye(n) - rho * w)
    direct = np.empty((n, k))
    total_to = np.empty((n, k))
    total_from = np.empty((n, k))
    for j in range(k):
        s = ainv * beta[None, :, j] + ainv @ (theta[:, j, None] * w)  # A^-1 (D_b + D_th W)
        direct[:, j] = np.diag(s)
        total_to[:, j] = s.sum(axis=1)
        total_from[:, j] = s.sum(axis=0)

    def pack(d, t):
        return np.stack([d.mean(axis=0), t.mean(axis=0) - d.mean(axis=0), t.mean(axis=0)])

    out = {"pooled": _effect_dict(pack(direct, total_to)), "by_region": {},
           "by_region_from": {}, "by_region_homogeneous": {}}
    for r in REGIONS:
        m = regions == r
        out["by_region"][r] = _effect_dict(pack(direct[m], total_to[m]))
        out["by_region_from"][r] = _effect_dict(pack(direct[m], total_from[m]))
        out["by_region_homogeneous"][r] = _effect_dict(
            dense_effects(rho, np.array(BETA[r]), np.array(THETA[r]), w))
    return out


def generate(seed: int = SEED) -> dict:
    """Generate everything in memory.

    Returns
    -------
    dict with ``panel`` (the dataset's long table), ``raw`` (dict of raw tables as stored:
    employment wide), ``truth`` (JSON-ready dict) and ``weights``.
    """
    from ._loaders import employment_long, synthetic_weights

    rng = np.random.default_rng(seed)
    cities = city_table()
    raw = _raw_tables(rng, cities)
    codes = [c for c, *_ in INDUSTRIES]
    emp_long = employment_long(raw["employment"], codes)

    # regressors from the raw tables (growth not needed yet)
    struct = indices.specialisation_diversity(emp_long, raw["national_employment"])
    ctrl = indices.control_ratios(raw["city_series"], raw["national_series"])
    xs = struct.merge(ctrl, on=["city", "year"])
    xs = xs[xs["year"] >= FIRST_YEAR].merge(raw["city_series"][["city", "year", "gdp_pc"]],
                                            on=["city", "year"])
    w = synthetic_weights(xs)
    units = w.ids
    if list(units) != cities["city"].tolist():  # pragma: no cover
        raise AssertionError("unit order of W differs from the city table")
    X = np.stack([_wide(xs, k, units) for k in X_NAMES], axis=-1)  # noqa: N806  (T, N, K)
    regions = cities["region"].to_numpy()
    beta, theta = coefficient_arrays(regions)

    # two-way effects: cancel the unit / year means of the systematic part, add small effects
    from ..simulate import mean_part

    f = mean_part(w, X, beta, theta)
    fbar = f.mean()
    mu = -(f.mean(axis=0) - fbar) + rng.normal(0.0, MU_SD, len(units))
    alpha = -(f.mean(axis=1) - fbar) - fbar + rng.normal(0.0, ALPHA_SD, len(YEARS))
    y = simulate_y(w, X, "sdm", rho=RHO, beta=beta, theta=theta, sigma=SIGMA, mu=mu,
                   alpha=alpha, rng=rng)  # (T, N)

    # invert the resilience formula into city growth series
    g_nat = np.array([NATIONAL_GROWTH[yr] for yr in RAW_YEARS])
    dn = np.diff(g_nat)  # (T,) for 2003..2018
    g = np.empty((len(RAW_YEARS), len(units)))
    g[0] = g_nat[0] + rng.normal(0.5, 1.0, len(units))
    for t in range(1, len(RAW_YEARS)):
        g[t] = g[t - 1] + dn[t - 1] + y[t - 1] * abs(dn[t - 1])
    cs = raw["city_series"]
    pos = {u: i for i, u in enumerate(units)}
    cs["gdp_growth"] = g[cs["year"].to_numpy() - FIRST_RAW_YEAR,
                         cs["city"].map(pos).to_numpy()]
    for col in ("gdp", "telecom", "fdi_usd", "science_exp", "budget_exp", "gdp_pc"):
        cs[col] = cs[col].astype(np.int64)

    built = indices.build_indices(emp_long, cs, raw["national_series"],
                                  national_employment=raw["national_employment"])
    check = built.merge(xs, on=["city", "year"], suffixes=("", "_x"))
    for k in (*X_NAMES, "gdp_pc"):
        if not np.array_equal(check[k].to_numpy(), check[f"{k}_x"].to_numpy()):
            raise AssertionError(f"build_indices does not reproduce {k}")  # pragma: no cover
    resi_err = float(np.abs(_wide(built, "resi", units) - y).max())

    panel = built.merge(cities, on="city")
    panel = panel[["city", "year", "agglomeration", "province", "region", "resi", *X_NAMES,
                   "gdp_pc"]]
    eff = true_effects(np.asarray(w.matrix), RHO, beta, theta, regions)
    truth = {
        "synthetic": True,
        "description": (
            "Synthetic panel shaped like the seed study (176 cities, 18 urban agglomerations, "
            "2003-2018). resi is drawn from a two-way fixed-effects SDM with region-specific "
            "beta_g, theta_g and common rho on the row-standardised inverse economic-distance "
            "W of mean gdp_pc; the regressors are indices built from simulated raw tables. "
            "See bayes_sdm/datasets/generate_synthetic.py."),
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
                         "alpha_t iota + eps_t), eps_t ~ N(0, sigma^2 I); beta_g, theta_g "
                         "those of each city's region"),
            "rho": RHO, "sigma": SIGMA, "sigma2": SIGMA**2,
            "mu": f"minus the unit means of X beta + WX theta, plus N(0, {MU_SD}^2)",
            "alpha": f"minus the year means of X beta + WX theta, plus N(0, {ALPHA_SD}^2)",
            "coef": list(X_NAMES),
            "beta": {r: dict(zip(X_NAMES, BETA[r])) for r in REGIONS},
            "theta": {r: dict(zip(X_NAMES, THETA[r])) for r in REGIONS},
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
    raw_out = dict(raw)
    raw_out["city_series"] = cs
    return {"panel": panel.reset_index(drop=True), "raw": raw_out, "truth": truth,
            "weights": w}


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
