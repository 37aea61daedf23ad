"""Posterior summaries and convergence statistics of MCMC draws, in NumPy.

Rank-normalised split R-hat (the larger of the bulk and the folded-tail value), bulk and tail
effective sample sizes and the Monte Carlo standard errors of the mean and of the sd, as
defined by Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC", Bayesian
Analysis 16(2):667-718 (eqs. 3-4 for R-hat, sec. 3.2 and appendix A for the ESS with Geyer's
initial monotone sequence, sec. 4.4 for the MCSE), and the highest-density interval of a
sample (the shortest interval holding a share ``prob`` of the draws).

These are the computations of ``arviz_stats.base`` (ArviZ 1.x: ``_rhat_rank``, ``_ess_bulk``,
``_ess_tail``, ``_mcse_mean``, ``_mcse_sd``, ``_hdi_nearest``) step for step, without importing
``arviz_stats``, whose package import pulls ``scipy.stats`` and its LOO machinery (about 2 s);
``tests/test_convergence.py`` checks them against ``arviz_stats`` on real draws.  As in
ArviZ, the tail ESS is taken at the quantiles ``(1 - p, p)`` for the interval probability
``p`` (ArviZ's ``stats.ci_prob`` setting unless given), and a statistic of a parameter with
any NaN draw, too few draws (< 4) or, for R-hat, one chain is NaN.
"""

from __future__ import annotations

import numpy as np

SAMPLE_DIMS = ("chain", "draw")


def _next_fast_len(target: int) -> int:
    """The smallest 5-smooth integer (2^a 3^b 5^c) >= ``target`` (FFTPACK's fast lengths, as
    ``scipy.fftpack.next_fast_len``)."""
    if target <= 6 or not target & (target - 1):
        return target
    best = 2 ** (target - 1).bit_length()
    p5 = 1
    while p5 < target:
        p35 = p5
        while p35 < target:
            quotient = -(-target // p35)
            best = min(best, 2 ** (quotient - 1).bit_length() * p35)
            p35 *= 3
        best = min(best, p35)
        p5 *= 5
    return min(best, p5)


def _invalid(x: np.ndarray, min_chains: int) -> bool:
    """ArviZ's ``not_valid``: any NaN, fewer than 4 draws or fewer than ``min_chains``."""
    return bool(np.isnan(x).any() or x.shape[0] < min_chains or x.shape[1] < 4)


def _split(x: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as separate chains (the middle draw of an odd
    length is dropped)."""
    half = x.shape[1] // 2
    return np.vstack((x[:, :half], x[:, -half:]))


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank normalisation: average ranks r of the pooled draws -> Phi^-1((r - 3/8) /
    (S + 1/4)) (Blom 1958; Vehtari et al. 2021, eq. 14)."""
    from scipy.special import ndtri

    flat = x.ravel()
    order = np.argsort(flat, kind="mergesort")
    s = flat[order]
    first = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(first)
    bounds = np.r_[np.flatnonzero(first), flat.size]
    ranks = np.empty(flat.size)
    ranks[order] = 0.5 * (bounds[group] + bounds[group - 1] + 1)
    return ndtri((ranks - 3 / 8) / (flat.size - 2 * 3 / 8 + 1)).reshape(x.shape)


def _rhat(x: np.ndarray) -> float:
    """Potential scale reduction of (chain, draw) draws (Gelman et al. 2013, BDA3 eq. 11.4)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[1]
    between = n * np.var(np.mean(x, axis=1), axis=None, ddof=1)
    within = np.mean(np.var(x, axis=1, ddof=1))
    return float(np.sqrt((between / within + n - 1) / n))


def rhat(x: np.ndarray) -> float:
    """Rank-normalised split R-hat of (chain, draw) draws: the larger of the bulk and the
    folded (tail) values (Vehtari et al. 2021, sec. 4.1)."""
    x = np.asarray(x)
    if _invalid(x, 2):
        return np.nan
    s = _split(x)
    return max(_rhat(_z_scale(s)), _rhat(_z_scale(abs(s - np.median(s)))))


def _autocov(x: np.ndarray) -> np.ndarray:
    """Autocovariances at every lag of each chain (rows), by FFT."""
    n = x.shape[1]
    m = _next_fast_len(2 * n)
    x = x - x.mean(1, keepdims=True)
    f = np.fft.rfft(x, n=m, axis=1)
    f *= np.conjugate(f)
    cov = np.fft.irfft(f, n=m, axis=1)[:, :n]
    cov /= n
    return cov


def _ess(x: np.ndarray) -> float:
    """Effective sample size of (chain, draw) draws with Geyer's initial positive and initial
    monotone sequences (Vehtari et al. 2021, appendix A; Geyer 1992)."""
    x = np.asarray(x, dtype=float)
    if (np.max(x) - np.min(x)) < np.finfo(float).resolution:
        return x.size
    n_chain, n_draw = x.shape
    acov = _autocov(x)
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(x.mean(axis=1), axis=None, ddof=1)
    rho = np.zeros(n_draw)
    even = 1.0
    rho[0] = even
    odd = 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[1] = odd
    t = 1
    while t < n_draw - 3 and even + odd > 0.0:
        even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if even + odd >= 0:
            rho[t + 1] = even
            rho[t + 2] = odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:  # initial monotone sequence
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
            rho[t + 2] = rho[t + 1]
        t += 2
    size = n_chain * n_draw
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1: max_t + 2])
    tau = max(tau, 1 / np.log10(size))
    return np.nan if np.isnan(rho).any() else size / tau


def ess_bulk(x: np.ndarray) -> float:
    """Bulk ESS: the ESS of the rank-normalised split chains (Vehtari et al. 2021, sec. 3.2)."""
    x = np.asarray(x)
    return np.nan if _invalid(x, 1) else _ess(_z_scale(_split(x)))


def ess_tail(x: np.ndarray, prob: float) -> float:
    """Tail ESS: the smaller ESS of the indicators x <= q at the quantiles q of probabilities
    1 - prob and prob (Vehtari et al. 2021, sec. 3.2, with prob = 0.95 there)."""
    x = np.asarray(x)
    if _invalid(x, 1):
        return np.nan
    return min(_ess(_split(x <= np.quantile(x, p, axis=None)))
               for p in sorted((prob, 1 - prob)))


def mcse_mean(x: np.ndarray) -> float:
    """Monte Carlo standard error of the mean: sd / sqrt(ESS of the split chains)."""
    x = np.asarray(x)
    if _invalid(x, 1):
        return np.nan
    return np.std(x, ddof=1) / np.sqrt(_ess(_split(x)))


def mcse_sd(x: np.ndarray) -> float:
    """Monte Carlo standard error of the sd, from the ESS of the squared centred draws and
    the delta method (Vehtari et al. 2021, sec. 4.4)."""
    x = np.asarray(x)
    if _invalid(x, 1):
        return np.nan
    c = x - x.mean()
    evar = (c**2).mean()
    varvar = ((c**4).mean() - evar**2) / _ess(_split(c**2))
    return np.sqrt(varvar / evar / 4)


def hdi(x: np.ndarray, prob: float) -> np.ndarray:
    """Highest-density interval of a unimodal sample: the shortest interval between two order
    statistics holding floor(prob S) further draws (ArviZ's ``hdi``, method "nearest")."""
    s = np.sort(np.asarray(x).ravel())
    n = s.size
    k = min(int(np.floor(prob * n)), n - 1)
    widths = np.subtract(s[k:], s[: n - k], dtype=np.float64)
    i = int(np.argmin(widths))
    return s[[i, i + k]]


def default_tail_prob() -> float:
    """ArviZ's interval probability (``stats.ci_prob``), where the tail ESS is taken."""
    from .arviz_light import import_arviz_base

    return float(import_arviz_base().rcParams["stats.ci_prob"])


def describe(x: np.ndarray, prob: float, tail_prob: float | None = None) -> dict[str, float]:
    """mean, sd, HDI bounds, ess_bulk, ess_tail, r_hat, mcse_mean, mcse_sd of one scalar
    parameter's (chain, draw) draws (the columns of ArviZ's ``summary``)."""
    x = np.asarray(x)
    tail_prob = default_tail_prob() if tail_prob is None else tail_prob
    lo, hi = hdi(x, prob)
    return {"mean": float(np.mean(x, axis=(-2, -1))),
            "sd": float(np.std(x, axis=(-2, -1), ddof=1)) if x.size > 1 else np.nan,
            "hdi_lb": float(lo), "hdi_ub": float(hi),
            "ess_bulk": float(ess_bulk(x)), "ess_tail": float(ess_tail(x, tail_prob)),
            "r_hat": float(rhat(x)), "mcse_mean": float(mcse_mean(x)),
            "mcse_sd": float(mcse_sd(x))}


def scalar_draws(da):
    """(label, (chain, draw) array) for every scalar element of a posterior DataArray, in the
    order and with the labels of ArviZ's summary: ``name`` or ``name[c1, c2]``."""
    other = [d for d in da.dims if d not in SAMPLE_DIMS]
    v = np.asarray(da.transpose(*other, *SAMPLE_DIMS).values)
    coords = [da.coords[d].values if d in da.coords else np.arange(da.sizes[d]) for d in other]
    for idx in np.ndindex(*v.shape[:-2]):
        lab = ", ".join(str(c[i]) for c, i in zip(coords, idx, strict=True))
        yield (f"{da.name}[{lab}]" if other else str(da.name)), v[idx]
