"""Preparing a model on a cluster: out-of-core statistics and a distributed log-determinant.

:func:`prepare_on` is what :func:`bayes_sdm.api.prepare` calls with ``client=``:

* a :class:`~bayes_sdm.distributed.stats.ParquetPanel` (a Parquet dataset read out of core)
  gives a :class:`~bayes_sdm.prepared.Prepared` whose panel is a
  :class:`~bayes_sdm.distributed.stats.PanelMeta` (ids, periods, names, data hash; no numbers)
  and whose statistics come from :func:`~bayes_sdm.distributed.stats.parquet_stats`;
* an in-memory :class:`~bayes_sdm.panel.Panel` is prepared as usual
  (:func:`bayes_sdm.prepared.build`) with the log-determinant's factorisations on the cluster.

:func:`inputs_on` resolves a :class:`~bayes_sdm.spec.DataSpec` whose ``path`` is a Parquet
dataset into the commands' :class:`~bayes_sdm.inputs.Inputs` (W built blockwise).
"""

from __future__ import annotations

from pathlib import Path

from .. import families
from ..design import Layout, durbin_raw_for
from ..errors import InputError
from ..prepared import Prepared, build
from ..spec import DataSpec
from .logdet import make_logdet_distributed
from .parquet import is_parquet_source, resolve_source
from .stats import ParquetPanel, list_periods, parquet_stats


def prepare_on(client, panel, w, family, fe: str = "twoway", correction: str = "transform",
               lag_convention: str = "QWy", logdet="auto", layout: Layout | None = None
               ) -> Prepared:
    """A pooled :class:`~bayes_sdm.prepared.Prepared` computed on ``client`` (module
    docstring).

    Raises
    ------
    InputError
        as :func:`bayes_sdm.api.prepare`; the checks of the data run on the workers.
    """
    from ..logdet import LogDet

    family = families.get(family)

    def make_ld():
        if not family.has_jacobian:
            return None
        if isinstance(logdet, LogDet):
            return logdet
        return make_logdet_distributed(w, logdet, client)

    if isinstance(panel, ParquetPanel):
        layout = layout or Layout.for_families(panel.K, family)
        if durbin_raw_for(family, lag_convention) and fe in ("time", "twoway"):
            raise InputError("not implemented yet: the WQy convention's raw-lag Durbin "
                             "regressors (splm) with time effects on a Parquet panel; use "
                             "lag_convention='QWy' or an in-memory panel")
        stats, meta = parquet_stats(client, panel, w, fe, correction, lag_convention, layout)
        return Prepared(meta, w, stats, make_ld(), family, fe, correction, lag_convention,
                        _hash=None)
    return build(panel, w, family, fe, correction, lag_convention, make_ld() or "auto",
                 layout=layout)


def inputs_on(client, d: DataSpec):
    """The :class:`~bayes_sdm.inputs.Inputs` of a Parquet dataset read out of core: the panel
    is a :class:`~bayes_sdm.distributed.stats.ParquetPanel` (periods and units known, numbers
    not read yet), W is built blockwise (:func:`bayes_sdm.distributed.weights.load_weights`).

    Raises
    ------
    InputError
        missing columns or options, regions (a regional model needs the panel in memory),
        and the checks of W.
    """
    from ..inputs import Inputs
    from .weights import load_weights

    missing = [n for n in ("unit", "time", "y", "x", "weights") if not getattr(d, n)]
    if missing:
        raise InputError(f"--data needs --{' --'.join(missing)}")
    if d.region is not None or d.region_col is not None:
        raise InputError("--region / --region-col: a regional fit reads the panel in memory; "
                         "drop --cluster (or fit the regions as a batch, docs/scale.md)")
    src = resolve_source(d.path)
    panel = ParquetPanel(str(d.path), d.unit, d.time, d.y, tuple(d.x))
    periods = tuple(list_periods(client, src, d.time))
    panel = ParquetPanel(panel.source, panel.unit, panel.time, panel.y, panel.x,
                         periods=periods)
    w, panel = load_weights(client, d.weights, panel, d.standardize_w, periods)
    from dataclasses import replace

    panel = replace(panel, units=tuple(w.ids))
    label = src.label if src.label else Path(str(d.path)).stem
    return Inputs(None, panel, w, label, None, None)


def reads_out_of_core(d: DataSpec) -> bool:
    """Whether the data spec names a Parquet dataset (what a cluster reads out of core)."""
    return bool(d.path) and is_parquet_source(d.path)
