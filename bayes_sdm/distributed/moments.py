"""The Gram matrix of the FE-transformed design from per-period moments (a map-reduce).

Z = [y, Wy, X, WX, W^2 X] (:class:`~bayes_sdm.design.Layout`) is formed period by period: the
spatial lags act within a period, so period t's raw columns z_t (N x ncol) need only that
period's data and W.  The two-way demeaning is then recovered from sums (the analysis-of-variance
identity Z'QZ = Z'Z - unit-mean terms - period-mean terms + grand-mean term; Baltagi 2021,
"Econometric Analysis of Panel Data", 6th ed., sec. 3.3 and 2.3), organised around
period-centred moments so that no large terms cancel (the pairwise combination of centred
moments of Chan, Golub & LeVeque 1983, "Algorithms for computing the sample variance", Am.
Stat. 37:242-247).  With m_t the column means of z_t over units and v_t = z_t - 1 m_t':

    V = sum_t v_t'v_t,   S_i = sum_t v_it (unit sums),   U = sum_i S_i S_i',   mbar = mean_t m_t

    time:    Z'QZ = V                                   (Q = I_T (x) (I_N - J_N/N))
    twoway:  Z'QZ = V - U/T                             (Q = (I_T - J_T/T) (x) (I_N - J_N/N))
    unit:    Z'QZ = V - U/T + N sum_t (m_t - mbar)(m_t - mbar)'
    none:    Z'Z  = V + N sum_t m_t m_t'

(the cross terms vanish because every v_t sums to zero over units).  ``WQy`` (demean, then lag)
with time or two-way effects lags the period-centred data instead, and the same V - U/T (or V)
follows; with unit effects or none the two conventions coincide (W commutes with the unit
demeaning), as :mod:`bayes_sdm.design` says.

The map (one task per group of consecutive periods, one group per worker) returns V_t, m_t, the
raw period means of [y, X] and max|x| of each period, and the group's unit sums (N x ncol); the
unit sums are added pairwise across groups and U formed from the total; the client adds the
small pieces.  A task holds one period's columns and one N x ncol accumulator, never the panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..design import Layout, _assemble
from ..errors import InputError


def precentred(fe: str, lag_convention: str) -> bool:
    """Whether the lags are taken of the period-centred data (``WQy`` with time effects)."""
    return lag_convention == "WQy" and fe in ("time", "twoway")


def needs_unit_sums(fe: str) -> bool:
    return fe in ("unit", "twoway")


@dataclass
class PeriodMoments:
    """What one period contributes (see module docstring)."""

    V: np.ndarray  # noqa: N815 - (ncol, ncol)
    m: np.ndarray  # (ncol,) column means of z_t (of v_t when precentred)
    mraw: np.ndarray  # (1 + K,) means of [y, X] over units
    xmax: np.ndarray  # (K,) max |x_k|


def period_moments(y: np.ndarray, x: np.ndarray, w, layout: Layout, fe: str,
                   lag_convention: str, unit_sums: np.ndarray | None = None) -> PeriodMoments:
    """The moments of one period's y (N,) and X (N, K) (module docstring); v_t is added into
    ``unit_sums`` (N x ncol) when given."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    raw = np.concatenate([y[:, None], x], axis=1)
    mraw = raw.mean(axis=0)
    if precentred(fe, lag_convention):
        raw -= mraw
        v = _assemble(raw[None, :, :1], raw[None, :, 1:], w, layout)[0]
        m = v.mean(axis=0)  # the lags of centred data need not be centred (not subtracted)
    else:
        v = _assemble(y[None, :, None], x[None], w, layout)[0]
        m = v.mean(axis=0)
        v -= m
    del raw
    if unit_sums is not None:
        unit_sums += v
    return PeriodMoments(v.T @ v, m, mraw, np.abs(x).max(axis=0))


@dataclass
class GroupMoments:
    """The periods of one task (in order) and their unit sums (N x ncol, or None)."""

    parts: list
    unit_sums: np.ndarray | None


def add_sums(a: GroupMoments, b: GroupMoments) -> GroupMoments:
    """Two groups' unit sums added (the periods' small moments are kept by the client)."""
    return GroupMoments([], a.unit_sums + b.unit_sums)


def unit_term(g: GroupMoments) -> np.ndarray:
    """U = sum_i S_i S_i' from the unit sums of all periods."""
    s = g.unit_sums
    return s.T @ s


@dataclass
class Moments:
    """The combined moments of all periods."""

    V: np.ndarray  # noqa: N815
    M: np.ndarray  # noqa: N815 - (T, ncol)
    Mraw: np.ndarray  # noqa: N815 - (T, 1 + K)
    U: np.ndarray | None  # noqa: N815
    xmax: np.ndarray
    N: int  # noqa: N815
    T: int  # noqa: N815


def combine(parts: list[PeriodMoments], u: np.ndarray | None, n: int) -> Moments:
    """Add the periods' moments (in period order); ``u`` is the unit term U."""
    v = parts[0].V.copy()
    for p in parts[1:]:
        v += p.V
    return Moments(v, np.stack([p.m for p in parts]), np.stack([p.mraw for p in parts]), u,
                   np.max(np.stack([p.xmax for p in parts]), axis=0), n, len(parts))


def gram(mo: Moments, fe: str, lag_convention: str) -> np.ndarray:
    """Z'QZ of the fixed effects ``fe`` (module docstring)."""
    t, n = mo.T, mo.N
    if fe == "time":
        g = mo.V.copy()
    elif fe == "twoway":
        g = mo.V - mo.U / t
    elif fe == "unit":
        d = mo.M - mo.M.mean(axis=0)
        g = mo.V - mo.U / t + n * (d.T @ d)
    elif fe == "none":
        g = mo.V + n * (mo.M.T @ mo.M)
    else:
        raise InputError(f"unknown fixed effects {fe!r}")
    return 0.5 * (g + g.T)


def column_sd(mo: Moments, g: np.ndarray, fe: str, lag_convention: str = "QWy") -> np.ndarray:
    """Standard deviations of the transformed columns over the N T rows.  With unit effects
    the transformed columns have mean zero, so sd^2 = G_jj / NT; without fixed effects
    sd^2 = V_jj / NT + var_t(m_tj); with time effects V is the Gram matrix and its columns'
    mean is mean_t m_tj (zero, except for the lags of period-centred data under WQy)."""
    nt = mo.N * mo.T
    if fe == "none":
        var = np.diag(mo.V) / nt + mo.M.var(axis=0)
    elif fe == "time" and precentred(fe, lag_convention):
        var = np.diag(g) / nt - mo.M.mean(axis=0) ** 2
    else:
        var = np.diag(g) / nt
    return np.sqrt(np.clip(var, 0.0, None))


#: relative size of a regressor's within variation below which the fixed effects absorb it
RTOL = 1e-10
#: allowance for rounding in the sums that cancel (U/T against V), relative to V
CANCEL = 1e-12


def check_absorbed(mo: Moments, layout: Layout, x_names, fe: str) -> None:
    """:func:`bayes_sdm.panel.check_not_absorbed` from the moments: a regressor whose
    root-mean-square deviation (about its mean, its units' means, its periods' means or both)
    is below ``RTOL`` times max(max|x|, 1) is absorbed; where that sum of squares is a
    difference of sums (V - U/T), rounding of ``CANCEL`` times V is allowed for.

    Raises
    ------
    InputError
        naming the regressor and why, as the in-memory check does.
    """
    nt = mo.N * mo.T
    xs = layout.slice("X")
    vx = np.diag(mo.V)[xs]
    dm = mo.Mraw[:, 1:] - mo.Mraw[:, 1:].mean(axis=0)
    between_t = mo.N * (dm * dm).sum(axis=0)
    ux = np.diag(mo.U)[xs] if mo.U is not None else None
    for k, name in enumerate(x_names):
        tiny = (RTOL * max(float(mo.xmax[k]), 1.0)) ** 2 * nt
        allow = tiny + CANCEL * vx[k]
        if vx[k] + between_t[k] <= tiny:
            raise InputError(f"regressor {name!r} is constant; it is absorbed by the intercept / "
                             "fixed effects")
        if fe in ("unit", "twoway") and vx[k] - ux[k] / mo.T + between_t[k] <= allow:
            raise InputError(f"regressor {name!r} is time-invariant within every unit; it is "
                             f"absorbed by the unit fixed effects (fe={fe!r})")
        if fe in ("time", "twoway") and vx[k] <= tiny:
            raise InputError(f"regressor {name!r} does not vary across units in any period; it is "
                             f"absorbed by the time fixed effects (fe={fe!r})")
        if fe == "twoway" and vx[k] - ux[k] / mo.T <= allow:
            raise InputError(f"regressor {name!r} is absorbed by the {fe} fixed effects "
                             "(it is a sum of unit and time components)")
