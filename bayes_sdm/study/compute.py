"""Everything the study's tables need, computed by the package (no number typed in).

:func:`compute_ml` -- Moran's I, the specification tests, SLM / SEM / SDM by ML with R², the
SDM's ML effects and the separate ML fits by region; :func:`compute_bayes` -- the pooled
Bayesian SDM and the regional Bayesian models (separate fits and the hierarchy), each with its
convergence diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputError


@dataclass
class MLPart:
    moran: pd.DataFrame
    moran_assumption: str
    lm: pd.DataFrame
    fe_tests: dict
    ml_tests: dict
    fits: dict
    r2: dict
    by_region: dict | None
    fe_model: str = "ols"


@dataclass
class BayesPart:
    pooled: object
    separate: object | None
    hierarchical: object | None
    diagnostics: dict = field(default_factory=dict)
    draws_note: str = ""


def compute_ml(panel, w, regions, fe: str = "twoway", correction: str = "transform",
               lag_convention: str = "QWy", assumption: str = "normality",
               progress=None) -> MLPart:
    """The ML part of the study (module docstring). ``regions``: per-unit labels or None."""
    from ..api import prepare
    from ..hypothesis import all_tests
    from ..ml import fit_ml
    from ..moran import moran_table
    from ..regional.ml import ml_by_region
    from ..spectests import lm_tests
    from .fitstats import r2_measures

    stage = _stage(progress)
    with stage("Moran's I by variable and year"):
        mt = moran_table(panel, w, assumption=assumption)
    with stage("LM tests and LR tests of the fixed effects (non-spatial model)"):
        lm = lm_tests(panel, w, fe)
        ols = prepare(panel, w, "ols", fe, correction, lag_convention)
        fe_tests = all_tests(ols, correction, fe_test_models=("ols",))
    fits, r2 = {}, {}
    with stage("SLM, SEM and SDM by maximum likelihood, Wald and LR tests"):
        sdm_prep = prepare(panel, w, "sdm", fe, correction, lag_convention)
        for m in ("sdm", "sar", "sem"):
            prep = sdm_prep if m == "sdm" else sdm_prep.with_family(m)
            fits[m] = fit_ml(prep, correction, on_boundary="raise")
            r2[m] = r2_measures(prep, fits[m])
        ml_tests = all_tests(sdm_prep, correction, full=fits["sdm"], fe_tests=False)
    by_region = None
    if regions is not None:
        with stage("ML by region (separate fits, each region's own W)"):
            by_region = ml_by_region(panel, w, regions, "sdm", fe, correction,
                                     lag_convention, on_boundary="raise")
    return MLPart(mt, assumption, lm, fe_tests, ml_tests, fits, r2, by_region)


def _bayes_fit(panel, w, regions, spec, pooling: str | None):
    """One Bayesian SDM of the study: pooled (``pooling`` None) or regional with a block W
    (``none``: the regions fitted separately; ``partial``: the hierarchy).  A function of its
    arguments only, so it runs the same in this process and as a Dask task."""
    from .. import api
    from ..spec import HierarchySpec

    s = spec.copy()
    s.hierarchy = None if pooling is None else HierarchySpec(pooling=pooling, regional_w="block")
    s.validate()
    prep = api.prepare(panel, w, s.model, s.fe, s.correction, s.lag_convention, s.logdet,
                       regions=None if pooling is None else regions, hierarchy=s.hierarchy)
    return api.fit(prep, s, progressbar=False)


#: the study's Bayesian fits: key, pooling, stage label
BAYES_FITS = (("pooled", None, "Bayesian SDM (pooled)"),
              ("separate", "none", "Bayesian SDM by region (separate fits)"),
              ("hierarchical", "partial", "Bayesian SDM by region (hierarchical)"))


def compute_bayes(panel, w, regions, spec, draws: int, tune: int, chains: int, seed: int,
                  progress=None, client=None) -> BayesPart:
    """The pooled Bayesian SDM and, given ``regions``, the separate regional fits (no pooling,
    block W) and the hierarchical model (partial pooling, block W).  With a Dask ``client``
    the fits run as parallel tasks on its workers (same seeds, same draws)."""
    stage = _stage(progress)
    sampler = spec.sampler
    sampler.draws, sampler.tune, sampler.chains, sampler.seed = draws, tune, chains, seed
    spec.hierarchy = None
    spec.validate()
    todo = [(k, p, label) for k, p, label in BAYES_FITS if p is None or regions is not None]
    fits = {k: None for k, _, _ in BAYES_FITS}
    if client is None:
        for key, pooling, label in todo:
            with stage(label):
                fits[key] = _bayes_fit(panel, w, regions, spec, pooling)
    else:
        with stage(f"Bayesian SDM: {len(todo)} fits as Dask tasks"):
            futs = {key: client.submit(_bayes_fit, panel, w, regions, spec, pooling,
                                       pure=False, key=f"study-bayes-{key}-{seed}")
                    for key, pooling, _ in todo}
            fits.update(client.gather(futs))
    diags = {k: f.diagnostics() for k, f in fits.items() if f is not None}
    note = f"{chains} chains x {draws} draws after {tune} tuning steps (NUTS)"
    return BayesPart(fits["pooled"], fits["separate"], fits["hierarchical"], diags, note)


def _stage(progress):
    from contextlib import nullcontext

    if progress is None:
        return lambda name: nullcontext()
    if not hasattr(progress, "stage"):
        raise InputError("progress must be a bayes_sdm.progress.Stages reporter or None")
    return progress.stage
