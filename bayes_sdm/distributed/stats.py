"""Out-of-core sufficient statistics: a Parquet panel's Gram matrix as a Dask map-reduce.

:func:`parquet_stats` reads the dataset period by period on the workers (one task per period:
read, check, lag, moments; :mod:`~bayes_sdm.distributed.moments`), reduces the unit sums block
by block, and returns the same :class:`~bayes_sdm.likelihood.SufficientStats` as
:func:`bayes_sdm.likelihood.sufficient_stats` on the panel in memory (equal to rounding: 1e-12
relative in the tests) together with a :class:`PanelMeta` -- the panel's ids, periods, names and
data hash (the same SHA-256 as :meth:`bayes_sdm.panel.Panel.data_hash`, streamed period by
period) without its numbers.  No process ever holds the panel: a period task holds one period,
a unit-block task one block of units over all periods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..design import Layout, check_fe, check_lag_convention
from ..errors import InputError
from ..likelihood import SufficientStats, fe_terms
from . import moments as mom
from .cluster import Failed, _guarded, n_workers
from .parquet import ParquetSource, align_period, check_columns, check_constant, read_period


@dataclass(frozen=True)
class ParquetPanel:
    """A panel in a (partitioned) Parquet dataset, to be read out of core on a cluster
    (:func:`bayes_sdm.api.prepare` with ``client=``).

    ``source``: a Parquet file, a folder of Parquet files or a glob; ``unit``, ``time``, ``y``,
    ``x``: the columns (as for :func:`bayes_sdm.panel.panel_from_frame`);
    ``constant_cols``: columns that must not vary over time within a unit (the k-NN
    coordinates), checked on every period against ``constant_ref`` (N x len(cols), W's order).
    """

    source: str
    unit: str
    time: str
    y: str
    x: tuple[str, ...]
    constant_cols: tuple[str, ...] = ()
    constant_ref: np.ndarray | None = field(default=None, compare=False, repr=False)
    periods: tuple | None = None
    units: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def x_names(self) -> tuple[str, ...]:
        return tuple(self.x)

    @property
    def y_name(self) -> str:
        return self.y

    @property
    def N(self) -> int | None:  # noqa: N802
        return None if self.units is None else len(self.units)

    @property
    def T(self) -> int | None:  # noqa: N802
        return None if self.periods is None else len(self.periods)

    @property
    def K(self) -> int:  # noqa: N802
        return len(self.x)


@dataclass(frozen=True)
class PanelMeta:
    """What the estimators need of an out-of-core panel: dimensions, ids, periods, names and
    the data hash; ``y`` and ``X`` are not in memory (asking for them says so)."""

    units: tuple
    times: tuple
    y_name: str
    x_names: tuple[str, ...]
    source: str
    hash_: str = field(repr=False)
    unit_info: pd.DataFrame | None = field(default=None, compare=False)

    @property
    def N(self) -> int:  # noqa: N802
        return len(self.units)

    @property
    def T(self) -> int:  # noqa: N802
        return len(self.times)

    @property
    def K(self) -> int:  # noqa: N802
        return len(self.x_names)

    def _absent(self, what: str):
        raise InputError(f"the panel {self.source} was read out of core (Parquet on a Dask "
                         f"cluster): its {what} is not in memory; this estimator or output "
                         "needs the data itself (ML standard errors from Z, residual plots, "
                         "predictive checks); load the data in memory (no --cluster) for it")

    @property
    def y(self):
        return self._absent("y")

    @property
    def X(self):  # noqa: N802
        return self._absent("X")

    def data_hash(self) -> str:
        return self.hash_


# ----------------------------------------------------------------------------- tasks
def _group_task(src: ParquetSource, panel: ParquetPanel, periods, index: pd.Index, w,
                layout: Layout, fe: str, lag_convention: str) -> mom.GroupMoments:
    cols = [panel.unit, panel.y, *panel.x, *panel.constant_cols]
    sums = np.zeros((len(index), layout.ncol)) if mom.needs_unit_sums(fe) else None
    parts = []
    for period in periods:
        df = read_period(src, cols, panel.time, period)
        y, x = align_period(df, panel.unit, panel.time, panel.y, panel.x, index, period)
        if panel.constant_cols:
            check_constant(df, panel.unit, panel.constant_cols, index, panel.constant_ref,
                           period)
        del df
        parts.append(mom.period_moments(y, x, w, layout, fe, lag_convention, sums))
        del y, x
    return mom.GroupMoments(parts, sums)


def _parts(g):
    return g if isinstance(g, Failed) else g.parts


def _add(a, b):
    if isinstance(a, Failed):
        return a
    if isinstance(b, Failed):
        return b
    return mom.add_sums(a, b)


def _unit_term(g):
    return g if isinstance(g, Failed) else mom.unit_term(g)


def stream_hash(src: ParquetSource, panel: ParquetPanel, periods: Sequence, index: pd.Index
                ) -> str:
    """:meth:`bayes_sdm.panel.Panel.data_hash` of the dataset, reading one period at a time:
    y of every period, then X of every period, then the ids and names."""
    h = hashlib.sha256()
    for part in ("y", "X"):
        for t in periods:
            df = read_period(src, [panel.unit, panel.y, *panel.x], panel.time, t)
            y, x = align_period(df, panel.unit, panel.time, panel.y, panel.x, index, t)
            h.update(np.ascontiguousarray(y if part == "y" else x, dtype=np.float64).tobytes())
    h.update(repr((tuple(index.tolist()), tuple(periods), panel.y, tuple(panel.x))).encode())
    return h.hexdigest()


def _raise_first(parts) -> None:
    for p in parts:
        if isinstance(p, Failed):
            if p.error == "InputError":
                raise InputError(p.message)
            from ..errors import NumericalError

            raise NumericalError(p.message)


# ----------------------------------------------------------------------------- orchestration
def list_periods(client, src: ParquetSource, time: str) -> list:
    """The sorted periods of the dataset (one task per file reads its period column)."""
    from .parquet import file_periods, sorted_periods

    futs = client.map(_guarded, [file_periods] * len(src.files),
                      [f"file {f}" for f in src.files], [src] * len(src.files),
                      range(len(src.files)), [time] * len(src.files), pure=False)
    res = client.gather(futs)
    _raise_first(res)
    periods = sorted_periods([r[0] for r in res])
    if len(periods) < 2:
        raise InputError(f"a panel needs at least 2 periods; column {time!r} has "
                         f"{len(periods)}")
    return periods


def parquet_stats(client, panel: ParquetPanel, w, fe: str = "twoway",
                  correction: str = "transform", lag_convention: str = "QWy",
                  layout: Layout | None = None, periods: Sequence | None = None,
                  with_hash: bool = True) -> tuple[SufficientStats, PanelMeta]:
    """The sufficient statistics of a Parquet panel, computed on ``client``'s workers.

    Parameters
    ----------
    client : a ``distributed.Client``
    panel : the dataset and its columns (:class:`ParquetPanel`)
    w : :class:`~bayes_sdm.weights.SpatialWeights` whose ids are the panel's units (its order
        is the panel's order)
    fe, correction, lag_convention, layout : as :func:`bayes_sdm.likelihood.sufficient_stats`
    periods : the sorted periods, when already known
    with_hash : stream the data hash (one more read of the data, in parallel)

    Returns
    -------
    (SufficientStats, PanelMeta)

    Raises
    ------
    InputError
        the checks of :func:`bayes_sdm.panel.panel_from_frame` and
        :func:`bayes_sdm.panel.check_not_absorbed`, each naming column, unit and period.
    """
    from .parquet import resolve_source

    check_fe(fe)
    check_lag_convention(lag_convention)
    x = list(panel.x)
    if not x:
        raise InputError("at least one regressor (--x) is needed")
    if len(set(x)) != len(x):
        raise InputError(f"duplicate regressor names in {x}")
    if panel.y in x:
        raise InputError(f"the dependent variable {panel.y!r} is also listed as a regressor")
    if fe in ("time", "twoway") and not w.row_standardized:
        raise InputError(f"fixed effects {fe!r} include time effects, which need a "
                         "row-standardised W (the Lee-Yu Jacobian uses W's unit eigenvalue); "
                         "row-standardise W or use fe='unit'")
    src = resolve_source(panel.source)
    check_columns(src, [panel.unit, panel.time, panel.y, *x, *panel.constant_cols])
    layout = layout or Layout(len(x))
    if periods is None:
        periods = panel.periods or list_periods(client, src, panel.time)
    n, t = w.n, len(periods)
    index = pd.Index(list(w.ids))
    n_groups = max(1, min(t, n_workers(client)))
    bounds = np.linspace(0, t, n_groups + 1).round().astype(int)
    # the panel description can carry the units' coordinates (k-NN from columns): scattered
    # once like W, never embedded in every task's graph
    w_f, idx_f, src_f, panel_f = client.scatter([w, index, src, panel], broadcast=True,
                                                hash=False)
    hash_f = None
    if with_hash:
        hash_f = client.submit(_guarded, stream_hash, "data hash", src_f, panel_f,
                               list(periods), idx_f, pure=False, retries=1)
    groups = [client.submit(_guarded, _group_task, f"periods {periods[a]!r}..{periods[b - 1]!r}",
                            src_f, panel_f, list(periods[a:b]), idx_f, w_f, layout, fe,
                            lag_convention, pure=False, retries=1)
              for a, b in zip(bounds[:-1], bounds[1:])]
    small = [client.submit(_parts, g, pure=False) for g in groups]
    term = None
    if mom.needs_unit_sums(fe):
        level = groups
        while len(level) > 1:  # pairwise tree: each add holds two accumulators
            nxt = [client.submit(_add, level[i], level[i + 1], pure=False)
                   for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        term = client.submit(_unit_term, level[0], pure=False)
        del level
    del groups
    gparts = client.gather(small)
    _raise_first(gparts)
    parts = [p for g in gparts for p in g]
    u = None
    if term is not None:
        u = client.gather(term)
        _raise_first([u])
    mo = mom.combine(parts, u, n)
    mom.check_absorbed(mo, layout, tuple(x), fe)
    g = mom.gram(mo, fe, lag_convention)
    sd = mom.column_sd(mo, g, fe, lag_convention)
    digest = ""
    if hash_f is not None:
        digest = client.gather(hash_f)
        _raise_first([digest])
    stats = SufficientStats(
        gram=g, x_names=tuple(x), N=n, T=t, terms=fe_terms(fe, n, t, correction),
        lag_convention=lag_convention, y_sd=float(sd[layout.index("y")]),
        x_sd=sd[layout.slice("X")], wx_sd=sd[layout.slice("WX")], layout=layout)
    meta = PanelMeta(tuple(w.ids), tuple(periods), panel.y, tuple(x), src.label, digest)
    return stats, meta
