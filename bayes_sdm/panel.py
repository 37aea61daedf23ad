"""Balanced panels and fixed-effect transforms.

A long table (one row per unit and period) becomes a :class:`Panel`: ``y`` of shape (T, N) and
``X`` of shape (T, N, K), with units in the order of the weight matrix; it also checks that no
regressor is absorbed by the fixed effects.

The fixed-effect conventions follow Lee & Yu (2010), "Estimation of spatial autoregressive panel
data models with fixed effects", J. Econometrics 154:165-185: the spatial lags ``Wy`` and ``WX``
are formed from the raw data and then demeaned ("lag then demean", ``QWy``).  The demean-then-lag
convention (``WQy``, used by splm, SDPDmod and xsmle) is available for reproducing those tools.
The transforms themselves live in :mod:`bayes_sdm.design`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .design import FE_TYPES, demean
from .errors import InputError

__all__ = ["FE_TYPES", "Panel", "PanelDims", "check_not_absorbed", "demean", "panel_from_frame"]


class PanelDims:
    """T, N, K of anything holding ``y`` (T, N) and ``X`` (T, N, K)."""

    @property
    def T(self) -> int:  # noqa: N802 - econometric notation
        return self.y.shape[0]

    @property
    def N(self) -> int:  # noqa: N802
        return self.y.shape[1]

    @property
    def K(self) -> int:  # noqa: N802
        return self.X.shape[2]


@dataclass(frozen=True)
class Panel(PanelDims):
    """A balanced panel aligned with a weight matrix's unit order.

    Attributes
    ----------
    y : ndarray, shape (T, N)
    X : ndarray, shape (T, N, K)
    units : tuple of unit ids (length N), in weight-matrix order
    times : tuple of period labels (length T), sorted
    y_name : name of the dependent variable
    x_names : names of the K regressors
    unit_info : optional per-unit attributes (index = units), e.g. the region of each unit
    """

    y: np.ndarray
    X: np.ndarray
    units: tuple
    times: tuple
    y_name: str
    x_names: tuple[str, ...]
    unit_info: pd.DataFrame | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        from .display import panel_card

        return panel_card(self).text()

    def _repr_html_(self) -> str:
        from .display import panel_card

        return panel_card(self).html()

    def subset_units(self, units: Sequence) -> Panel:
        """The panel restricted to ``units`` (in the given order)."""
        pos = {u: i for i, u in enumerate(self.units)}
        missing = [u for u in units if u not in pos]
        if missing:
            raise InputError(f"units not in the panel: {missing[:10]}")
        idx = np.array([pos[u] for u in units], dtype=int)
        info = None if self.unit_info is None else self.unit_info.loc[list(units)]
        return Panel(self.y[:, idx], self.X[:, idx, :], tuple(units), self.times, self.y_name,
                     self.x_names, info)

    def select_x(self, names: Sequence[str]) -> Panel:
        """The panel with the regressors ``names`` only, in that order."""
        names = list(names)
        missing = [x for x in names if x not in self.x_names]
        if missing:
            raise InputError(f"regressor(s) {missing} are not in the panel {self.x_names}")
        if not names or len(set(names)) != len(names):
            raise InputError(f"give a non-empty list of distinct regressors, got {names}")
        idx = [self.x_names.index(x) for x in names]
        return Panel(self.y, self.X[:, :, idx], self.units, self.times, self.y_name,
                     tuple(names), self.unit_info)

    def data_hash(self) -> str:
        """A SHA-256 of the numbers, names and ids (recorded with every fit)."""
        import hashlib

        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.y, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
        h.update(repr((self.units, self.times, self.y_name, self.x_names)).encode())
        return h.hexdigest()


def _check_columns(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(
            f"unknown column(s) {missing}; the table has columns {list(df.columns)}"
        )


def panel_from_frame(
    df: pd.DataFrame,
    unit: str,
    time: str | None,
    y: str,
    x: Sequence[str],
    units: Sequence | None = None,
    unit_cols: Sequence[str] = (),
) -> Panel:
    """Convert a long table into a balanced :class:`Panel`.

    Parameters
    ----------
    df : long table, one row per (unit, time)
    unit, time : names of the unit-id and period columns; ``time=None``: a cross-section (one
        row per unit, T = 1, the single period labelled 0)
    y : dependent variable column
    x : regressor columns
    units : the unit order to use (normally the weight matrix's ids).  Every unit in the data
        must appear here and vice versa; otherwise :class:`InputError` names the culprits.
    unit_cols : time-invariant unit attributes to keep (e.g. a region column); they must be
        constant within a unit.

    Raises
    ------
    InputError
        unknown columns, NaN/inf values (with column, unit, period), duplicate (unit, time) rows,
        an unbalanced panel (with the missing cells), fewer than 2 periods, unit mismatch with W.
    """
    x = list(x)
    if time is None:  # a cross-section: one period
        time = "__period__"
        while time in df.columns:
            time += "_"
        df = df.assign(**{time: 0})
        cross_section = True
    else:
        cross_section = False
    if not x:
        raise InputError("at least one regressor (--x) is needed")
    if len(set(x)) != len(x):
        raise InputError(f"duplicate regressor names in {x}")
    if y in x:
        raise InputError(f"the dependent variable {y!r} is also listed as a regressor")
    for role, col in (("unit", unit), ("time", time)):
        if col == y or col in x:
            raise InputError(f"column {col!r} is the {role} column; it cannot also be the "
                             f"{'dependent variable' if col == y else 'regressor'}")
    _check_columns(df, [unit, time, y, *x, *unit_cols])
    if df[unit].isna().any() or df[time].isna().any():
        rows = df.index[df[unit].isna() | df[time].isna()].tolist()[:5]
        raise InputError(f"missing unit or time id in rows {rows}")

    # one pass over each id column: codes of the units and periods (integer ids by direct
    # addressing, in sorted order; other ids by hashing, in order of appearance)
    ucodes, data_units = factorize_ids(df[unit])
    tcodes, tuniq = factorize_ids(df[time])
    data_units, tuniq = np.asarray(data_units), np.asarray(tuniq)
    cell = tcodes.astype(np.int64, copy=False) * len(data_units) + ucodes
    n_cells = len(data_units) * len(tuniq)
    seen = np.zeros(n_cells, dtype=bool)
    seen[cell] = True
    if np.count_nonzero(seen) < len(cell):  # some cell twice: find the rows (rare path)
        dup = np.bincount(cell, minlength=n_cells)[cell] > 1
        d = df.loc[dup, [unit, time]].drop_duplicates().head(5)
        cells = ", ".join(f"({u!r}, {t!r})" for u, t in d.itertuples(index=False))
        if cross_section:
            ids = ", ".join(repr(u) for u in d[unit])
            raise InputError(f"duplicate rows of unit(s) {ids} in a cross-section (no time "
                             "column): one row per unit")
        raise InputError(f"duplicate (unit, time) rows for {int(dup.sum())} rows, e.g. {cells}")

    del seen
    numeric = {}
    for col in [y, *x]:
        s = df[col]
        # a float64 column is read in place (no copy); anything else is coerced
        vals = s.to_numpy() if s.dtype == np.float64 else \
            pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        numeric[col] = vals
        bad = ~np.isfinite(vals)
        if bad.any():
            sub = df.loc[bad, [unit, time]].head(5)
            where = ", ".join(f"unit {u!r} period {t!r}" for u, t in sub.itertuples(index=False))
            raise InputError(
                f"column {col!r} has {int(bad.sum())} NaN/inf or non-numeric value(s): {where}"
            )

    times = np.sort(tuniq)
    if len(times) < 2 and not cross_section:
        raise InputError(f"a panel needs at least 2 periods; column {time!r} has {len(times)} "
                         "(for a cross-section, give no time column)")

    if units is None:
        units = _sorted_ids(data_units)
    units = list(units)
    # Python ints through numpy: pandas infers an object list's type 6x slower (same Index)
    ints = all(type(v) is int for v in units) and np.array(units)
    unit_index = pd.Index(ints) if ints is not False and ints.dtype.kind in "iu" else \
        pd.Index(units)
    data_index = pd.Index(data_units)
    # hashed membership both ways (linear; the order of each list is kept for the message)
    same = unit_index.equals(data_index)  # W's order is the data's (sorted) order: no hashing
    in_w_not_data = [] if same else \
        [units[i] for i in np.flatnonzero(~unit_index.isin(data_index))]
    in_data_not_w = [] if same else \
        [data_units[i] for i in np.flatnonzero(~data_index.isin(unit_index))]
    if in_w_not_data or in_data_not_w:
        if in_data_not_w:  # listed in order of appearance in the data
            app = np.asarray(pd.factorize(df[unit])[1])
            in_data_not_w = [app[i] for i in np.flatnonzero(~pd.Index(app).isin(unit_index))]
        msg = []
        if in_w_not_data:
            msg.append(f"units in W but not in the data: {in_w_not_data[:10]}"
                       + (" ..." if len(in_w_not_data) > 10 else ""))
        if in_data_not_w:
            msg.append(f"units in the data but not in W: {in_data_not_w[:10]}"
                       + (" ..." if len(in_data_not_w) > 10 else ""))
        raise InputError("; ".join(msg))

    n, t = len(units), len(times)
    # each row's cell: (period position, unit position); unique (no duplicates) and inside the
    # grid (every id is known), so the panel is balanced exactly when every cell is filled
    sorted_t = np.array_equal(times, tuniq)
    upos = ucodes if same else unit_index.get_indexer(data_units)[ucodes]
    tpos = tcodes if sorted_t else pd.Index(times).get_indexer(tuniq)[tcodes]
    # (the duplicate check's cells are these cells when the codes are the positions)
    flat = cell if same and sorted_t else tpos.astype(np.int64, copy=False) * n + upos
    del cell
    n_exp = n * t
    if len(df) != n_exp:
        filled = np.zeros(n_exp, dtype=bool)
        filled[flat] = True
        holes = np.flatnonzero(~filled)
        # the first missing cells in (unit, period) order, as MultiIndex.difference lists them
        cells_u = np.asarray(holes % n)
        cells_t = np.asarray(holes // n)
        order = np.lexsort((cells_t, _sort_key(units)[cells_u]))[:5]
        cells = ", ".join(f"(unit {_scalar(units[cells_u[k]])!r}, "
                          f"period {_scalar(times[cells_t[k]])!r})" for k in order)
        raise InputError(
            f"unbalanced panel: {len(df)} rows for {n} units x {t} periods "
            f"= {n_exp}; missing e.g. {cells}"
        )

    # rows in unit-major order (each unit's periods in turn) or period-major order: the wide
    # arrays are a transposed or plain copy of each column; other orders: scattered by cell
    if (upos.reshape(n, t) == np.arange(n)[:, None]).all() and \
            (tpos.reshape(n, t) == np.arange(t)).all():
        layout = "unit-major"
    elif np.array_equal(flat, np.arange(n_exp)):
        layout = "period-major"
    else:
        layout = "scattered"
    del ucodes, tcodes, upos, tpos  # before the wide arrays: a lower high-water mark
    if layout != "scattered":
        del flat

    yy = np.empty((t, n))
    XX = np.empty((t, n, len(x)))
    for k, col in enumerate([y, *x]):
        v = numeric[col]
        dest = yy if k == 0 else XX[:, :, k - 1]
        if layout == "unit-major":
            dest[...] = v.reshape(n, t).T
        elif layout == "period-major":
            dest[...] = v.reshape(t, n)
        elif k == 0:
            yy.reshape(-1)[flat] = v
        else:
            XX.reshape(n_exp, len(x))[flat, k - 1] = v
    info = None
    if unit_cols:
        g = df.groupby(unit)[list(unit_cols)]
        nun = g.nunique(dropna=False)
        for c in unit_cols:
            bad = nun.index[nun[c] > 1].tolist()
            if bad:
                raise InputError(f"column {c!r} varies over time within unit(s) {bad[:5]}")
        info = g.first().loc[units]
    return Panel(yy, XX, tuple(units), tuple(times.tolist()), y, tuple(x), info)


def factorize_ids(values: pd.Series, sort: bool = False):
    """Codes and uniques of an id column: ``pd.factorize(values, sort=sort)``, except that a
    column of integer ids spanning at most about twice as many values as it has rows is coded by
    direct addressing, with its uniques sorted whatever ``sort`` says (one pass and no hash table:
    a hash table of 10^6 ids no longer fits the CPU caches, so hashing costs more per id at 10^6
    ids than at 10^5).  Without ``sort`` the order of the uniques is therefore not promised."""
    arr = values.to_numpy() if isinstance(values.dtype, np.dtype) else None
    if arr is not None and arr.dtype.kind in "iu" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        span = 2 * arr.size + 1024
        if hi - lo <= span and hi < 2 ** 62:
            base = 0 if 0 <= lo and hi <= span else lo  # ids from 0 (or a small offset): as is
            off = arr.astype(np.intp, copy=False)
            if base:
                off = off - base
            present = np.zeros(hi - base + 1, dtype=bool)
            present[off] = True
            rank = np.cumsum(present, dtype=np.intp) - 1
            return rank[off], (np.flatnonzero(present) + base).astype(arr.dtype)
    return pd.factorize(values, sort=sort)


def _sorted_ids(ids) -> list:
    """Unit ids sorted by (type name, value); a numeric array is sorted by numpy (same order,
    same element types as ``sorted``)."""
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iuf":
        return list(ids[np.argsort(ids, kind="stable")])
    return sorted(ids, key=lambda v: (str(type(v)), v))


def _scalar(v):
    """A numpy scalar as the Python scalar (how messages print ids and periods)."""
    return v.item() if isinstance(v, np.generic) else v


def _sort_key(units: list) -> np.ndarray:
    """Rank of each unit in the (type name, value) order (for messages)."""
    order = sorted(range(len(units)), key=lambda i: (str(type(units[i])), units[i]))
    rank = np.empty(len(units), dtype=np.int64)
    rank[order] = np.arange(len(units))
    return rank


def check_not_absorbed(panel: Panel, fe: str, rtol: float = 1e-10) -> None:
    """Fail if a regressor is (numerically) swept out by the fixed effects.

    A time-invariant regressor is absorbed by unit effects, one that is constant across units in
    every period by time effects; under two-way effects a regressor that is the sum of a unit and
    a time component vanishes.  The message names the regressor and why.
    """
    for k, name in enumerate(panel.x_names):
        xk = panel.X[:, :, k]
        scale = max(np.abs(xk).max(), 1.0)
        if np.abs(xk - xk.mean()).max() <= rtol * scale:
            if fe == "none":  # no intercept: a constant column is the user's intercept
                continue
            if fe == "intercept":
                raise InputError(f"regressor {name!r} is constant: the model already estimates "
                                 "an intercept (fe='none' has one by default); drop the column, "
                                 "or drop the built-in intercept (--no-intercept, YAML "
                                 "'intercept: false', prepare(..., intercept=False)) to keep "
                                 "it as a regressor")
            raise InputError(f"regressor {name!r} is constant; it is absorbed by the {fe} fixed "
                             "effects (which include an intercept)")
        if fe in ("unit", "twoway") and np.abs(xk - xk.mean(axis=0)).max() <= rtol * scale:
            raise InputError(f"regressor {name!r} is time-invariant within every unit; it is "
                             f"absorbed by the unit fixed effects (fe={fe!r})")
        if fe in ("time", "twoway") and np.abs(xk - xk.mean(axis=1, keepdims=True)).max() <= (
            rtol * scale
        ):
            raise InputError(f"regressor {name!r} does not vary across units in any period; it is "
                             f"absorbed by the time fixed effects (fe={fe!r})")
        if fe != "none" and np.abs(demean(xk, fe)).max() <= rtol * scale:
            raise InputError(f"regressor {name!r} is absorbed by the {fe} fixed effects "
                             "(it is a sum of unit and time components)")
