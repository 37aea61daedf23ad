"""Lagrange multiplier tests for a spatial lag or a spatial error in fixed-effects panels.

The panel versions of the (robust) LM tests of Anselin, Bera, Florax & Yoon (1996) given by
Anselin, Le Gallo & Jayet (2008, "Spatial panel econometrics", in Matyas & Sevestre (eds.),
*The Econometrics of Panel Data*, ch. 19) and Debarsy & Ertur (2010, Reg. Sci. Urban Econ.
40:453-470), computed from pooled OLS on the fixed-effect-transformed data.  With OLS
residuals e, sigma^2 = e'e / n, tau = tr(W'W + W W) and the lag of the fitted values
W X b (all W's acting period by period, i.e. I_T kron W):

    J          = [ (W X b)' M (W X b) + T tau sigma^2 ] / sigma^2,   M = I - X (X'X)^{-1} X'
    LM_lag     = (e' W y / sigma^2)^2 / J
    LM_err     = (e' W e / sigma^2)^2 / (T tau)
    rLM_lag    = (e' W y - e' W e)^2 / sigma^4 / (J - T tau)
    rLM_err    = (e' W e - (T tau / J) e' W y)^2 / sigma^4 / (T tau (1 - T tau / J))

each asymptotically chi^2(1) under its null (Elhorst 2014, *Spatial Econometrics*, sec. 3.5).

Two conventions (``convention=``):

``"elhorst"`` (default) -- J. P. Elhorst's ``LMsarsem_panel.m`` (2010 revision) applied, as in
    his demos, to the demeaned y and X: n = NT, the full T, tau of the N x N matrix W, and W
    applied to the *already demeaned* data (demean-then-lag, ``WQy``).
``"leeyu"`` -- the same tests in the Lee & Yu (2010) transformed model y* = rho W* y* + X* b
    + e*, with F_T (and F_N) the orthonormal demeaning transforms: n = n* ((N-1)(T-1) for two-way
    FE, N(T-1) unit, (N-1)T time), T* = T-1 under unit / two-way effects, and W* = F_N' W F_N
    under time / two-way effects, whose traces are (row-standardised W)
    tr(W*'W*) = tr(W'W) - ||W'1||^2 / N and tr(W*W*) = tr(WW) - 1.  The lags are formed
    before demeaning (``QWy``), which is what W* implies.

Under unit effects only the two conventions differ by n and T.  Under time / two-way effects
e'We and e'Wy are identical under both lag orders (the residuals are centred in every period
and W 1 = 1), but J differs: demean-then-lag keeps in W X b the per-period cross-sectional means
that the time effects absorb, so Elhorst's J is larger by sum_t N mean_i((W X_t b)_i)^2.

Pooled panels and cross-sections (``fe="none"``) have an intercept by default, as the fits
(:mod:`bayes_sdm.intercept`): the OLS of y on [1, X] (Anselin 1988, "Spatial Econometrics",
ch. 8; Elhorst 2014, sec. 3.5), from the Gram matrix of the grand-mean-demeaned columns (the
transform ``intercept``): its residual e is Q(y - X b), orthogonal to iota, so e'W y and e'W e
are unchanged by the demeaning and, W iota = iota (row-standardised W, required), the lag of
the constant lies in the span of [1, X] that M annihilates in J.  Both conventions coincide
then (n = NT, T periods, tau of W).  ``intercept=False`` gives the regression through the
origin of earlier versions.

Everything is computed from the Gram matrix of :func:`bayes_sdm.likelihood.sufficient_stats`
(cost O(K^3) after one pass over the data) plus traces of W.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from .errors import InputError
from .likelihood import SufficientStats, sufficient_stats
from .panel import FE_TYPES, Panel
from .weights import SpatialWeights

CONVENTIONS = ("elhorst", "leeyu")
TEST_NAMES = ("LM-lag", "LM-error", "robust LM-lag", "robust LM-error")


@dataclass(frozen=True)
class LMParts:
    """Ingredients of the LM statistics (for inspection and tests)."""

    ewe: float
    ewy: float
    sigma2: float
    wxb2: float
    t_eff: int
    tau: float
    n_eff: int
    beta: np.ndarray


def trace_terms(w: SpatialWeights, transformed: bool = False) -> float:
    """tau = tr(W'W + W W); with ``transformed`` the trace for W* = F_N' W F_N (time effects).

    O(nnz) for sparse W: tr(W'W) = sum_ij w_ij^2 and tr(WW) = sum_ij w_ij w_ji.
    """
    m = w.matrix
    if sp.issparse(m):
        m = sp.csr_array(m)
        twtw = float(m.multiply(m).sum())
        tww = float(m.multiply(m.T).sum())
        colsum = np.asarray(m.sum(axis=0)).ravel()
    else:
        m = np.asarray(m)
        twtw = float((m * m).sum())
        tww = float((m * m.T).sum())
        colsum = m.sum(axis=0)
    if not transformed:
        return twtw + tww
    if not w.row_standardized:
        raise InputError("the Lee-Yu LM convention with time effects needs a row-standardised W")
    n = m.shape[0]
    return (twtw - float(colsum @ colsum) / n) + (tww - 1.0)


def lm_parts(stats: SufficientStats, tau: float, t_eff: int, n_eff: int) -> LMParts:
    """e'We, e'Wy, sigma^2 and (W X b)'M(W X b) from the Gram matrix of [y, Wy, X, WX, ...].

    Pure numerics: the Gram matrix must hold the (transformed) columns whose W-lags are wanted
    (``WQy`` for the Elhorst convention, ``QWy`` for Lee-Yu).
    """
    g = stats.gram
    ix, iwx = stats.ix, stats.iwx
    gxx = g[ix, ix]
    try:
        b = np.linalg.solve(gxx, g[ix, 0])
    except np.linalg.LinAlgError as err:
        raise InputError("singular design: the (transformed) regressors are collinear") from err
    ee = g[0, 0] - g[0, ix] @ b
    sigma2 = ee / n_eff
    # e = y - X b; We = Wy - WX b
    ewy = g[0, 1] - b @ g[ix, 1]
    ewe = g[0, 1] - g[0, iwx] @ b - b @ g[ix, 1] + b @ g[ix, iwx] @ b
    # v = WX b; v'Mv = v'v - v'X (X'X)^{-1} X'v
    vv = b @ g[iwx, iwx] @ b
    xv = g[ix, iwx] @ b
    wxb2 = vv - xv @ np.linalg.solve(gxx, xv)
    return LMParts(float(ewe), float(ewy), float(sigma2), float(wxb2), int(t_eff), float(tau),
                   int(n_eff), b)


def lm_statistics(parts: LMParts) -> dict[str, float]:
    """The four LM statistics from their ingredients (Elhorst 2014, eqs. 3.12-3.15)."""
    s2 = parts.sigma2
    ttr = parts.t_eff * parts.tau
    j = (parts.wxb2 + ttr * s2) / s2
    return {
        "LM-lag": (parts.ewy / s2) ** 2 / j,
        "LM-error": (parts.ewe / s2) ** 2 / ttr,
        "robust LM-lag": (parts.ewy - parts.ewe) ** 2 / (s2 * s2 * (j - ttr)),
        "robust LM-error": (parts.ewe - (ttr / j) * parts.ewy) ** 2
        / (s2 * s2 * ttr * (1.0 - ttr / j)),
    }


def lm_tests(panel: Panel, w: SpatialWeights, fe: str = "twoway",
             convention: str = "elhorst", return_parts: bool = False,
             intercept: bool = True):
    """LM-lag, LM-error and their robust versions on the fixed-effect-transformed panel.

    Parameters
    ----------
    panel, w : the data and the weights (rows aligned)
    fe : ``twoway`` | ``unit`` | ``time`` | ``none`` (``none``: pooled OLS with an intercept,
        as ``prepare(fe="none")``; see ``intercept``)
    convention : ``"elhorst"`` (default) or ``"leeyu"`` (see the module docstring)
    return_parts : also return the :class:`LMParts`
    intercept : with ``fe="none"``, regress on [1, X] (default; needs a row-standardised W)
        rather than through the origin

    Returns
    -------
    DataFrame with columns test, statistic, df, p (chi^2(1) upper tail), in the order
    LM-lag, LM-error, robust LM-lag, robust LM-error.
    """
    if fe not in FE_TYPES:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {FE_TYPES}")
    if convention not in CONVENTIONS:
        raise InputError(f"unknown LM convention {convention!r}; choose from {CONVENTIONS}")
    n, t = panel.N, panel.T
    if fe == "none" and intercept:
        if not w.row_standardized:
            raise InputError("LM tests with an intercept (fe none) need a row-standardised W "
                             "(W iota = iota); pass intercept=False for the regression "
                             "through the origin")
        st = sufficient_stats(panel, w, "intercept", correction="none", lag_convention="QWy")
        n_eff, t_eff = n * t, t
        tau = trace_terms(w)
    elif convention == "elhorst":
        st = sufficient_stats(panel, w, fe, correction="none", lag_convention="WQy")
        n_eff, t_eff = n * t, t
        tau = trace_terms(w)
    else:
        st = sufficient_stats(panel, w, fe, correction="transform", lag_convention="QWy")
        n_eff = st.terms.n_eff
        t_eff = t - 1 if fe in ("unit", "twoway") else t
        tau = trace_terms(w, transformed=fe in ("time", "twoway"))
    if n_eff <= panel.K:
        raise InputError(f"too few observations ({n_eff}) for {panel.K} regressors")
    parts = lm_parts(st, tau, t_eff, n_eff)
    vals = lm_statistics(parts)
    out = pd.DataFrame({
        "test": list(TEST_NAMES),
        "statistic": [vals[k] for k in TEST_NAMES],
        "df": [1] * 4,
        "p": [float(sps.chi2.sf(vals[k], 1)) for k in TEST_NAMES],
    })
    return (out, parts) if return_parts else out
