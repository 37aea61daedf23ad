"""Uniformity tests of SBC ranks: chi^2 over equal-probability bins, the simultaneous ECDF band
test of Saeilynoja, Burkner & Vehtari (2022) and ArviZ's ``pot_c`` (see :mod:`bayes_sdm.sbc`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sst


def pit_values(ranks: np.ndarray, n_rank_draws: int, seed: int = 0) -> np.ndarray:
    """Randomised PIT values u = (r + U) / (L + 1): exactly U(0, 1) under calibration."""
    rng = np.random.default_rng(seed)
    r = np.asarray(ranks, dtype=float)
    return (r + rng.uniform(size=r.shape)) / (n_rank_draws + 1)


def chi2_uniformity(ranks: np.ndarray, n_rank_draws: int, bins: int) -> tuple[float, float]:
    """Pearson chi^2 over ``bins`` equal-probability bins of ranks in {0..L}: (stat, p)."""
    r = np.asarray(ranks, dtype=int)
    width = (n_rank_draws + 1) // bins
    counts = np.bincount(r // width, minlength=bins)[:bins]
    expected = r.size / bins
    stat = float(((counts - expected) ** 2 / expected).sum())
    return stat, float(sst.chi2.sf(stat, bins - 1))


def _pointwise_gamma(ecdf_counts: np.ndarray, n: int, z: np.ndarray) -> np.ndarray:
    """2 min_i min(P(X <= c_i), P(X >= c_i)), X ~ Binomial(n, z_i), over the last axis."""
    lo = sst.binom.cdf(ecdf_counts, n, z)
    hi = sst.binom.sf(ecdf_counts - 1, n, z)
    return np.minimum(2.0 * np.minimum(lo, hi), 1.0).min(axis=-1)


@dataclass(frozen=True)
class ECDFBand:
    """Simultaneous (1 - alpha) band of the ECDF of n uniform values on a grid z."""

    z: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    gamma: float
    null_gammas: np.ndarray
    n: int


def ecdf_band(n: int, alpha: float = 0.01, n_grid: int = 100, n_sim: int = 2000,
              seed: int = 7) -> ECDFBand:
    """Simultaneous ECDF band by simulation (Saeilynoja et al. 2022, sec. 3.2).

    Simulate ``n_sim`` samples of n U(0,1) values; gamma is the alpha-quantile of their smallest
    pointwise two-sided binomial tail probability; the band is the pointwise binomial
    [gamma/2, 1 - gamma/2] quantiles divided by n.
    """
    rng = np.random.default_rng(seed)
    z = np.arange(1, n_grid) / n_grid
    u = np.sort(rng.uniform(size=(n_sim, n)), axis=1)
    counts = np.stack([np.searchsorted(row, z, side="right") for row in u])
    g = _pointwise_gamma(counts, n, z)
    gamma = float(np.quantile(g, alpha))
    lower = sst.binom.ppf(gamma / 2, n, z) / n
    upper = sst.binom.ppf(1 - gamma / 2, n, z) / n
    return ECDFBand(z, lower, upper, gamma, np.sort(g), n)


def ecdf_test(pit: np.ndarray, band: ECDFBand) -> tuple[float, bool]:
    """(p-value, inside the band) of the ECDF test for PIT values (same n as ``band``)."""
    u = np.sort(np.asarray(pit, dtype=float))
    counts = np.searchsorted(u, band.z, side="right")
    g = float(_pointwise_gamma(counts, band.n, band.z))
    p = float((np.searchsorted(band.null_gammas, g, side="right") + 1)
              / (band.null_gammas.size + 1))
    f = counts / band.n
    inside = bool(np.all((f >= band.lower - 1e-12) & (f <= band.upper + 1e-12)))
    return p, inside


def pot_c_pvalue(pit: np.ndarray) -> float | None:
    """arviz_stats' pot_c uniformity test p-value (None when unavailable)."""
    try:
        from arviz_stats.base import array_stats

        return float(np.asarray(array_stats.uniformity_test(np.asarray(pit)[None, :],
                                                            axis=-1)[0])[0])
    except Exception:  # noqa: BLE001 - optional extra test
        return None


def uniformity_table(ranks: pd.DataFrame, n_rank_draws: int, bins: int = 10,
                     alpha: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Per quantity: chi2, p_chi2, p_ecdf, in_band, p_pot_c, p_min, passed (Bonferroni)."""
    n = len(ranks)
    band = ecdf_band(n, alpha=alpha, n_grid=min(n_rank_draws + 1, 100), seed=seed + 7)
    m = ranks.shape[1]
    rows = []
    for j, q in enumerate(ranks.columns):
        r = ranks[q].to_numpy()
        stat, p_chi2 = chi2_uniformity(r, n_rank_draws, bins)
        pit = pit_values(r, n_rank_draws, seed=seed + j)
        p_ecdf, inside = ecdf_test(pit, band)
        p_pot = pot_c_pvalue(pit)
        ps = [p for p in (p_chi2, p_ecdf, p_pot) if p is not None]
        p_min = min(ps)
        rows.append({"quantity": q, "n_sims": n, "mean_rank": float(r.mean() / n_rank_draws),
                     "chi2": stat, "df": bins - 1, "p_chi2": p_chi2, "p_ecdf": p_ecdf,
                     "in_band": inside, "p_pot_c": p_pot, "p_min": p_min,
                     "passed": bool(p_min >= alpha / (m * len(ps)))})
    return pd.DataFrame(rows)
