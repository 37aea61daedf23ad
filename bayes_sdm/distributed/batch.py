"""Batch fits as Dask tasks: specification grids, per-region fits, posterior predictive checks.

:func:`fit_specs` fits many :class:`~bayes_sdm.spec.ModelSpec` (models x FE x W x priors, or
one spec per region) as independent tasks.  On each worker the data of a data section is read
once and a prepared model (Gram matrix and log-determinant) is built once per (data, model, FE,
conventions) and reused by every spec that shares them (:func:`worker_cached`); each fit
returns its posterior and tables, and the client writes them with the same writers and file
names as ``fit_region.py`` (``posterior.nc``, ``summary.csv``, ``effects.csv``,
``diagnostics.json``), one folder per name.  A failed fit is reported by name; the others are
written.

:func:`ppc_moran_on` computes the residual Moran's I posterior predictive check
(:func:`bayes_sdm.plots.residual_moran_draws`) in chunks of draws as tasks: each draw's
replicated panel is independent, so the chunks' rows are the single-process rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..spec import ModelSpec
from .cluster import BatchResult, run_batch, worker_cached


def _data_key(spec: ModelSpec) -> str:
    return json.dumps(spec.data.__dict__, sort_keys=True, default=str)


def _prepared(spec: ModelSpec):
    from .. import api
    from ..inputs import load_inputs

    dkey = _data_key(spec)
    inputs = worker_cached(("inputs", dkey), lambda: load_inputs(spec.data.__class__(
        **spec.data.__dict__), need_regions=spec.hierarchy is not None))
    pkey = ("prepared", dkey, spec.model, spec.fe, spec.correction, spec.lag_convention,
            spec.logdet, json.dumps(None if spec.hierarchy is None else spec.hierarchy.__dict__,
                                    sort_keys=True, default=str))
    return inputs, worker_cached(pkey, lambda: api.prepare(
        inputs.panel, inputs.w, spec.model, spec.fe, spec.correction, spec.lag_convention,
        spec.logdet, regions=inputs.regions if spec.hierarchy else None,
        hierarchy=spec.hierarchy))


@dataclass
class SpecFit:
    """What a fit task returns: the posterior (ArviZ DataTree with provenance), the tables and
    the diagnostics."""

    idata: object
    summary: object
    effects: object
    diagnostics: dict
    seconds: float


def fit_spec_task(spec: ModelSpec) -> SpecFit:
    """Prepare (cached per worker) and fit one spec; the sampler's progress bar is off."""
    from .. import api

    t0 = time.perf_counter()
    _, prep = _prepared(spec)
    res = api.fit(prep, spec, progressbar=False)
    diag = res.diagnostics()
    dd = diag.to_dict()
    dd.update({"data_hash": prep.data_hash, "spec_hash": spec.hash(),
               "wall_time_s": round(time.perf_counter() - t0, 3)})
    return SpecFit(res.idata, res.summary_table(), res.effects_table(), dd,
                   time.perf_counter() - t0)


def fit_specs(client, specs: Mapping[str, ModelSpec], out: str | Path | None = None,
              progress: bool = False) -> BatchResult:
    """Fit every spec as a task (module docstring); with ``out``, write each fit's files into
    ``out/<name>/`` (a folder swapped in whole, :class:`~bayes_sdm.commands.RunFolder`).

    Returns
    -------
    BatchResult whose results are :class:`SpecFit` by name and whose failures name the specs
    that failed and why.
    """
    jobs = {name: (s.copy().validate(),) for name, s in specs.items()}
    batch = run_batch(client, fit_spec_task, jobs, progress=progress, key_prefix="fit")
    if out is not None:
        for name, fit in batch.results.items():
            write_spec_fit(fit, Path(out) / name)
    return batch


def write_spec_fit(fit: SpecFit, folder: Path) -> Path:
    """The files ``fit_region.py`` writes for a pooled fit, from a gathered :class:`SpecFit`."""
    from ..commands import RunFolder
    from ..io import save_fit, write_csv, write_json

    with RunFolder(folder) as tmp:
        save_fit(fit.idata, tmp / "posterior.nc")
        write_csv(tmp / "summary.csv", fit.summary)
        write_csv(tmp / "effects.csv", fit.effects)
        write_json(tmp / "diagnostics.json", fit.diagnostics)
    return folder


def region_specs(spec: ModelSpec, regions) -> dict[str, ModelSpec]:
    """One spec per region (``data.region``; the plain model on the region's data, W
    restricted and re-standardised as ``fit_region.py --region`` does)."""
    out = {}
    for r in regions:
        s = spec.copy()
        s.hierarchy = None
        s.data.region = str(r)
        out[str(r)] = s.validate()
    return out


# ----------------------------------------------------------------------------- PPC
def _moran_chunk(prep, posterior, y_rep):
    from ..plots import residual_moran_draws

    return residual_moran_draws(prep, posterior, y_rep)


def ppc_moran_on(client, prep, posterior, y_rep, chunks: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bayes_sdm.plots.residual_moran_draws` with the draws split into ``chunks``
    tasks along ``draw`` (default: two per worker); returns (I_obs, I_rep), each
    (chains x draws, T), in the single-process order."""
    from .cluster import n_workers

    c, d = y_rep.sizes["chain"], y_rep.sizes["draw"]
    chunks = max(1, min(d, chunks or 2 * n_workers(client)))
    bounds = np.linspace(0, d, chunks + 1).round().astype(int)
    pf = client.scatter(prep, hash=False, broadcast=True)
    post_f = client.scatter(posterior, hash=False, broadcast=True)
    futs = [client.submit(_moran_chunk, pf, post_f, y_rep.isel(draw=slice(a, b)), pure=False)
            for a, b in zip(bounds[:-1], bounds[1:])]
    res = client.gather(futs)

    def join(k):
        parts = [r[k].reshape(c, -1, r[k].shape[-1]) for r in res]
        out = np.concatenate(parts, axis=1)
        return out.reshape(c * d, out.shape[-1])

    return join(0), join(1)
