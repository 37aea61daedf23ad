"""The user layer: validate, prepare, fit, name things -- for pooled and regional models alike.

The numerics live underneath (:mod:`~bayes_sdm.design`, :mod:`~bayes_sdm.likelihood`,
:mod:`~bayes_sdm.logdet`, :mod:`~bayes_sdm.effects`, the estimators); this module checks the
inputs once, precomputes what the sampler needs (:func:`prepare`), samples through the one
sampler dispatch (:func:`fit`, :mod:`bayes_sdm.sampling`), and returns a
:class:`~bayes_sdm.result.FitResult` with effects, provenance, tables and diagnostics.  A
regional model is the same call with ``regions`` and a ``hierarchy``.

>>> from bayes_sdm import load_dataset, prepare, fit          # doctest: +SKIP
>>> ds = load_dataset("cigar")                                 # doctest: +SKIP
>>> res = fit(prepare(ds.panel(), ds.weights, model="sdm", fe="twoway"))   # doctest: +SKIP
>>> res.effects_table()                                        # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import time

import xarray as xr

from . import __version__, families
from .effects import EFFECTS, family_effects, total_sums
from .errors import InputError
from .families import Family
from .logdet import LogDet, make_logdet
from .logdet import plan as plan_logdet
from .panel import Panel
from .prepared import Prepared, build, check_transform
from .progress import as_stages
from .result import FitResult
from .spec import DataSpec, HierarchySpec, ModelSpec, PriorSpec, SamplerSpec
from .weights import SpatialWeights
from .xarray_dask import install_if_enabled as _lazy_dask

_lazy_dask()  # in a command-line process: xarray without importing Dask (bayes_sdm.xarray_dask)

__all__ = ["FitResult", "Prepared", "effects_draws", "fit", "prepare", "provenance"]


def prepare(
    panel: Panel,
    w: SpatialWeights,
    model: Family | str = "sdm",
    fe: str = "twoway",
    correction: str = "transform",
    lag_convention: str = "QWy",
    logdet: str | LogDet = "auto",
    *,
    intercept: bool = True,
    regions=None,
    hierarchy: HierarchySpec | dict | None = None,
    client=None,
    progress=None,
) -> Prepared:
    """Check the inputs and precompute the sufficient statistics and the log-determinant.

    Parameters
    ----------
    panel, w : the balanced panel and its weights (units matched by id; the panel is put in
        W's order)
    model : a :class:`~bayes_sdm.families.Family` or its name (``sdm``, ``sar``, ...)
    fe : ``twoway`` | ``unit`` | ``time`` | ``none``
    intercept : with ``fe="none"`` (a pooled panel or a cross-section), estimate one intercept
        (default; as spatialreg: never a W-lag of the constant in a Durbin model, which is
        collinear with it for a row-standardised W); ``False`` fits without one.  Fixed
        effects hold their own intercepts, so it is ignored for the other ``fe``.
    correction, lag_convention : conventions (Lee-Yu by default; see
        :mod:`bayes_sdm.likelihood`)
    logdet : a log-determinant method or object (:func:`bayes_sdm.logdet.make_logdet`)
    regions : per-unit region labels (a column of ``panel.unit_info``, a Series by unit id, a
        mapping or a sequence in unit order) -- for a regional model
    hierarchy : the regional structure (:class:`~bayes_sdm.spec.HierarchySpec` or a dict of
        its fields: pooling, regional_w, ...); with ``regions``, makes the model regional
    client : a Dask ``distributed.Client`` (optional extra ``bayes_sdm[dask]``): the
        log-determinant's factorisations run on its workers, and ``panel`` may be a
        :class:`~bayes_sdm.distributed.stats.ParquetPanel`, read out of core
        (:mod:`bayes_sdm.distributed`; pooled models)
    progress : True prints each stage with its time on stderr (the log-determinant with an
        estimate of its duration); or a :class:`~bayes_sdm.progress.Stages` reporter

    Raises
    ------
    InputError
        W and panel units differ, a regressor absorbed by the fixed effects or collinear with
        others, time effects with a non-row-standardised W, an unknown model / FE / convention,
        regions without a hierarchy (or the reverse), bad regions.
    """
    if fe == "random":
        raise InputError("fe='random' (unit random effects) has no fixed-effects transform to "
                         "prepare: use bayes_sdm.random_effects.fit_re (ML) or "
                         "bayes_sdm.re_fit.fit_random_effects (Bayesian)")
    if not isinstance(intercept, bool):
        raise InputError(f"intercept must be True or False, got {intercept!r}")
    if fe == "none" and intercept:
        fe = "intercept"
        if client is not None or regions is not None:
            raise InputError("not implemented yet: an intercept in a distributed or regional "
                             "model; pass intercept=False (fit_region --no-intercept, YAML "
                             "intercept: false) or use fixed effects")
    if (regions is not None or hierarchy is not None) and \
            len(families.get(model).spatial_params) > 1:
        raise InputError(f"the regional models (the collapsed hierarchy) need one spatial "
                         f"parameter; {families.get(model).name} has rho and lambda: fit it "
                         "pooled")
    if client is not None and regions is None and hierarchy is None:
        from .distributed.prepare import prepare_on

        if not isinstance(w, SpatialWeights):
            raise InputError(f"w must be a bayes_sdm SpatialWeights, got {type(w).__name__}")
        return prepare_on(client, _align(panel, w) if isinstance(panel, Panel) else panel, w,
                          families.get(model), fe, correction, lag_convention, logdet)
    if not isinstance(panel, Panel):
        raise InputError(f"panel must be a bayes_sdm Panel, got {type(panel).__name__}"
                         + (" (a Parquet panel is read on a cluster: pass client=)"
                            if type(panel).__name__ == "ParquetPanel" else ""))
    if not isinstance(w, SpatialWeights):
        raise InputError(f"w must be a bayes_sdm SpatialWeights, got {type(w).__name__}")
    family = families.get(model)
    panel = _align(panel, w)
    check_transform(panel, w, family, fe)
    if (regions is None) != (hierarchy is None):
        raise InputError("a regional model needs both regions= and hierarchy= (the pooling "
                         "and regional W); pass neither for a pooled model")
    stages = as_stages(progress)
    if hierarchy is None:
        ld = logdet
        if family.has_jacobian and not isinstance(logdet, LogDet):
            check_inputs(panel, fe, correction, lag_convention, logdet)  # before the costly part
            what, seconds = plan_logdet(w, logdet)
            with stages.stage(f"log-determinant: {what}", estimate=seconds):
                ld = make_logdet(w, logdet, notify=stages.note)
        with stages.stage("sufficient statistics"):
            return build(panel, w, family, fe, correction, lag_convention, ld)
    from .regional.data import prepare_regional

    h = _hierarchy(hierarchy)
    with stages.stage(f"regional blocks ({h.pooling} pooling, {h.regional_w} W: statistics "
                      "and log-determinants)"):
        rd = prepare_regional(panel, w, regions, family, fe, h.pooling, h.regional_w,
                              correction, lag_convention, h.region_order)
    ld = rd.blocks[0].logdet if h.regional_w == "full" else None
    return Prepared(rd.panel, w, rd.pooled_stats, ld, family, fe, correction, lag_convention,
                    regional=rd, hierarchy=h)


def check_inputs(panel: Panel, fe: str, correction: str, lag_convention: str,
                 logdet: str) -> None:
    """The cheap checks of :func:`~bayes_sdm.prepared.build`, run before a log-determinant
    that may take minutes (so that a typo fails at once)."""
    from .design import check_fe, check_lag_convention
    from .likelihood import CORRECTIONS
    from .logdet import METHODS
    from .panel import check_not_absorbed

    check_fe(fe)
    check_lag_convention(lag_convention)
    if correction not in CORRECTIONS:
        raise InputError(f"unknown correction {correction!r}; choose from {CORRECTIONS}")
    if logdet not in METHODS:
        raise InputError(f"unknown log-determinant method {logdet!r}; choose from {METHODS}")
    check_not_absorbed(panel, fe)


def _hierarchy(h) -> HierarchySpec:
    if isinstance(h, HierarchySpec):
        return h.validate()
    return ModelSpec.from_dict({"hierarchy": dict(h)}, where="hierarchy").hierarchy


def _align(panel: Panel, w: SpatialWeights) -> Panel:
    if tuple(w.ids) == tuple(panel.units):
        return panel
    wids, pids = set(w.ids), set(panel.units)
    if wids != pids:
        a = [u for u in w.ids if u not in pids][:10]
        b = [u for u in panel.units if u not in wids][:10]
        raise InputError(f"W/unit mismatch: units in W but not in the data: {a}; "
                         f"units in the data but not in W: {b}")
    return panel.subset_units(w.ids)


def effects_draws(prep: Prepared, posterior: xr.Dataset) -> xr.DataArray:
    """Direct / indirect / total effects for every draw, dims (chain, draw, effect, coef)."""
    family = prep.family
    beta = posterior["beta"].transpose("chain", "draw", "coef").values
    theta = (posterior["theta"].transpose("chain", "draw", "coef").values
             if "theta" in posterior else None)
    rho = posterior["rho"].values if family.lag else None
    sums = None if not family.lag or prep.w.row_standardized else total_sums(prep.w)
    arr = family_effects(family, rho, beta, theta, prep.logdet, prep.w.row_standardized, sums)
    return xr.DataArray(
        arr,
        dims=("chain", "draw", "effect", "coef"),
        coords={"chain": posterior["chain"], "draw": posterior["draw"],
                "effect": list(EFFECTS), "coef": list(prep.panel.x_names)},
    )


def dependency_versions() -> dict[str, str]:
    """Versions of the packages that determine a fit (recorded in every output)."""
    import importlib.metadata as md

    out = {}
    for name in ("pymc", "pytensor", "arviz", "numpy", "scipy", "pandas", "xarray", "libpysal",
                 "nutpie"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def provenance(prep: Prepared, spec: ModelSpec) -> dict[str, str]:
    """Attributes stored with every fit: spec, hashes, versions, what was fitted."""
    return {
        "bayes_sdm_version": __version__,
        "spec": spec.to_yaml(),
        "spec_hash": spec.hash(),
        "data_hash": prep.data_hash,
        "dependencies": json.dumps(dependency_versions()),
        "model": prep.model,
        "fe": prep.fe_name,
        "intercept": str(prep.intercept),
        "N": str(prep.panel.N),
        "T": str(prep.panel.T),
        "weights": prep.w.name,
        "logdet_method": getattr(prep.logdet, "method", "none"),
    }


def spec_for(prep: Prepared, priors: PriorSpec | None = None,
             sampler: SamplerSpec | None = None) -> ModelSpec:
    """The spec of a prepared model given directly (not through a DataSpec: no data source
    recorded)."""
    h = None
    if prep.regional is not None:
        rd = prep.regional
        h = dataclasses.replace(prep.hierarchy or HierarchySpec(), pooling=rd.pooling,
                                regional_w=rd.regional_w, region_order=list(rd.regions.names))
    return ModelSpec(model=prep.model, fe=prep.fe_name, intercept=prep.fe != "none",
                     correction=prep.correction,
                     lag_convention=prep.lag_convention,
                     logdet=_logdet_name(prep.logdet), priors=priors or PriorSpec(),
                     sampler=sampler or SamplerSpec(), data=DataSpec(dataset=None),
                     hierarchy=h).validate()


def _logdet_name(ld) -> str:
    if ld is None:
        return "auto"
    m = ld.method.split("+")[0]
    return m if m in ("eigen", "chebyshev", "stochastic") else "auto"


def check_spec(prep: Prepared, spec: ModelSpec) -> None:
    """Refuse a spec that disagrees with what was prepared (names the fields)."""
    bad = []
    for name, have in (("model", prep.model), ("fe", prep.fe_name),
                       ("correction", prep.correction), ("lag_convention", prep.lag_convention)):
        if getattr(spec, name) != have:
            bad.append(f"{name}: spec {getattr(spec, name)!r}, prepared {have!r}")
    if prep.fe_name == "none" and spec.intercept != prep.intercept:
        bad.append(f"intercept: spec {spec.intercept!r}, prepared {prep.intercept!r}")
    if spec.logdet != "auto" and prep.logdet is not None and \
            _logdet_name(prep.logdet) != spec.logdet:
        bad.append(f"logdet: spec {spec.logdet!r}, prepared {prep.logdet.method!r}")
    rd = prep.regional
    if (spec.hierarchy is None) != (rd is None):
        bad.append("hierarchy: " + ("the spec is regional but the model was prepared pooled"
                                    if rd is None else
                                    "the model was prepared regional but the spec has no "
                                    "hierarchy"))
    elif rd is not None:
        h = spec.hierarchy
        for name, have in (("pooling", rd.pooling), ("regional_w", rd.regional_w)):
            if getattr(h, name) != have:
                bad.append(f"hierarchy.{name}: spec {getattr(h, name)!r}, prepared {have!r}")
        if h.region_order is not None and list(h.region_order) != list(rd.regions.names):
            bad.append(f"hierarchy.region_order: spec {h.region_order}, prepared "
                       f"{list(rd.regions.names)}")
    if bad:
        raise InputError("the spec disagrees with the prepared model: " + "; ".join(bad)
                         + " (prepare the model from the spec, or fit without a spec)")


def fit(prep: Prepared, spec: ModelSpec | None = None, *, priors: PriorSpec | None = None,
        sampler: SamplerSpec | None = None, progressbar: bool = True,
        progress=None) -> FitResult:
    """Sample the posterior of a prepared model and attach effects and provenance.

    Parameters
    ----------
    prep : from :func:`prepare` (pooled or regional)
    spec : the full spec (recorded in the output); it must agree with ``prep`` (model, FE,
        conventions, hierarchy).  Without a spec, one is made from ``prep``, ``priors`` and
        ``sampler``.
    priors, sampler : only without ``spec``
    progressbar : show the sampler's progress bar
    progress : True prints each stage (model, compilation, sampling, effects) with its time
        on stderr; or a :class:`~bayes_sdm.progress.Stages` reporter

    Raises
    ------
    InputError
        a spec that disagrees with ``prep``, ``spec`` together with ``priors``/``sampler``, a
        family without a Bayesian model, the exact sampler where it does not apply.
    """
    if not isinstance(prep, Prepared):
        raise InputError(f"fit takes a prepared model (bayes_sdm.prepare(...)), got "
                         f"{type(prep).__name__}")
    if spec is None:
        spec = spec_for(prep, priors, sampler)
    else:
        if priors is not None or sampler is not None:
            raise InputError("pass either a spec or priors/sampler, not both (the spec holds "
                             "its priors and sampler)")
        spec = spec.copy()
        check_spec(prep, spec)
    if not prep.family.bayesian:
        raise InputError(f"no Bayesian {prep.model!r} model; use maximum likelihood "
                         "(bayes_sdm.ml.fit_ml, --ml-only)")
    stages = as_stages(progress)
    t0 = time.perf_counter()
    if prep.regional is not None:
        idata, rm, eff_sampler, t_sample = _sample_regional(prep, spec, progressbar, stages)
    else:
        rm, eff_sampler = None, spec.sampler
        idata, t_sample = _sample_pooled(prep, spec, progressbar, stages)
    t1 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    if rm is None and "effects" not in post:
        from .sampling import small_blas

        with stages.stage("effects (LeSage & Pace 2009)"), small_blas(prep.panel.N):
            post["effects"] = effects_draws(prep, post)
            idata["posterior"] = xr.DataTree(post)
    idata.attrs.update(provenance(prep, spec))
    idata.attrs["target_accept"] = str(eff_sampler.target_accept)
    if eff_sampler.kind == "nuts":
        from .sampling import resolve_sampler

        # the implementation that ran (``closed-form`` stamps itself; auto may pick it)
        idata.attrs["nuts_sampler"] = idata.attrs.get("nuts_sampler") or \
            resolve_sampler(eff_sampler.nuts_sampler)
    sname = prep.family.spatial_params[0] if prep.family.spatial_params else None
    if rm is None and sname and prep.logdet is not None:
        # how far the log-determinant's approximation can move this posterior (diagnostics)
        idata.attrs["logdet_posterior_shift"] = repr(
            prep.logdet.posterior_shift_bound(prep.stats.terms.a, post[sname].values))
    t2 = time.perf_counter()
    return FitResult(idata, prep, spec, {"sample_s": t_sample, "effects_s": t2 - t1,
                                         "fit_s": t2 - t0},
                     regional_model=rm)


def _draws_text(s: SamplerSpec, name: str | None = None) -> str:
    if s.kind == "exact":
        return f"exact grid sampler, {s.chains} x {s.draws:,} independent draws"
    from .sampling import resolve_sampler

    return (f"{name or resolve_sampler(s.nuts_sampler)}, {s.chains} chains x {s.draws:,} "
            f"draws after {s.tune:,} tuning")


def _run_sampler(cs, seed, progressbar: bool, stages, what: str):
    """Compile (timed apart where the sampler allows it), then sample: (DataTree, seconds)."""
    from .sampling import ExactSampler

    if cs.compiles_separately:
        with stages.stage(f"compiling{what}"):
            cs.compile()
        label = f"sampling{what}"
    else:
        label = f"sampling{what}" if isinstance(cs, ExactSampler) else \
            f"compiling and sampling{what}"
    t0 = time.perf_counter()
    # a progress bar draws on a terminal: the stage's line is ended first
    with stages.stage(label, own_output=progressbar and stages.on_terminal):
        idata = cs.sample(seed, progressbar=progressbar)
    return idata, time.perf_counter() - t0


def _sample_pooled(prep: Prepared, spec: ModelSpec, progressbar: bool, stages):
    from .sampling import compile_sampler

    s = spec.sampler
    with stages.stage("building the model" if s.kind == "nuts" else "exact sampler set-up"):
        target = prep
        if spec.variance != "homoskedastic":  # sigma_t^2 or v_i (bayes_sdm.variances)
            from .variances import build_period_model, build_unit_model

            build = build_period_model if spec.variance == "period" else build_unit_model
            target = build(prep, spec.priors)
        cs = compile_sampler(target, s, spec.priors)
    return _run_sampler(cs, None, progressbar, stages,
                        f" ({_draws_text(s, getattr(cs, 'name', None))})")


def _sample_regional(prep: Prepared, spec: ModelSpec, progressbar: bool, stages):
    from .regional.effects import finish_posterior, stack_regions
    from .regional.model import PARTIAL_TARGET_ACCEPT, build_regional_model
    from .sampling import regional_samplers, small_blas

    if spec.sampler.kind == "exact":
        raise InputError("the exact sampler covers pooled models; use NUTS for a regional model")
    h = spec.hierarchy
    s = spec.sampler
    with stages.stage("building the regional model"), small_blas(prep.panel.N):
        rm = build_regional_model(prep.regional, spec.priors, graph=False, **h.model_options())
        if rm.pooling == "partial" and s.target_accept < PARTIAL_TARGET_ACCEPT:
            s = dataclasses.replace(s, target_accept=PARTIAL_TARGET_ACCEPT)
        samplers = regional_samplers(rm, s)
    t_sample = 0.0
    if None not in samplers:
        fits = {}
        for g, (name, cs) in enumerate(samplers.items()):
            fits[name], dt = _run_sampler(cs, s.seed + 7919 * g, progressbar, stages,
                                          f" region {name} ({_draws_text(s, cs.name)})")
            t_sample += dt
        idata = stack_regions(fits, rm.regions.names)
    else:
        cs = samplers[None]
        idata, t_sample = _run_sampler(cs, s.seed, progressbar, stages,
                                       f" ({_draws_text(s, cs.name)})")
    with stages.stage("regional effects and spillovers"), small_blas(rm.panel.N):
        idata = finish_posterior(rm, idata, s.seed, h.perspective)
    return idata, rm, s, t_sample
