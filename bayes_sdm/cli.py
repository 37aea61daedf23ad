"""The ``fit_region`` command as a testable function: ``main(argv) -> exit code``.

Exit codes (:mod:`bayes_sdm.commands`): 0 ok; 1 fitted but the convergence diagnostics failed;
2 bad input (the message on stderr says what and where); 3 numerical or internal failure;
130 interrupted.  A run writes into a temporary folder that replaces ``--out`` only when the
run has finished, so an output folder never mixes files of two runs.

Outputs in ``--out`` (default ``runs/<dataset>-<model>-<fe>[-<pooling>-<W>]/``):
``posterior.nc``, ``summary.csv``, ``effects.csv``, ``diagnostics.json``; with ``--ml`` /
``--ml-only`` also ``ml.csv``, ``ml_effects.csv``, ``tests.json`` and (with a posterior)
``comparison.csv`` -- with a regional model (``--pooling``) ML fits each region separately
with its own W re-standardised, into ``ml/<region>/``; regional: ``region_contrasts.csv`` and, for the full W, ``spillovers.csv``;
with ``--plots``: ``figures/*.png`` and ``report.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import families
from .commands import (
    RunFolder,
    add_cluster_argument,
    add_data_arguments,
    cluster_session,
    load_data,
    run_command,
    spec_from_args,
)
from .design import LAG_CONVENTIONS
from .errors import EXIT_DIAGNOSTICS, EXIT_OK, InputError
from .spec import (
    DYNAMIC_FORMS,
    FE_CHOICES,
    LOGDET_METHODS,
    NUTS_SAMPLERS,
    POOLINGS,
    RANDOM,
    REGIONAL_W,
    VARIANCES,
    HierarchySpec,
    ModelSpec,
    PriorSpec,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fit_region.py",
        description="Fit a Bayesian spatial Durbin panel (Lee-Yu fixed effects) and write the "
                    "posterior, parameter and effects tables and diagnostics.",
    )
    add_data_arguments(p)
    m = p.add_argument_group("model")
    m.add_argument("--spec", help="YAML spec (models/*.yaml); command-line options override it")
    m.add_argument("--model", choices=list(families.NAMES),
                   help="model family (" + ", ".join(f"{f.name}: {f.label}"
                                                     for f in families.FAMILIES) + ")")
    m.add_argument("--fe", choices=list(FE_CHOICES),
                   help="fixed effects (Lee-Yu transform) or 'random': unit random effects "
                        "with an intercept (sar, sdm, sem, sdem; Elhorst 2014, sec. 3.4)")
    m.add_argument("--no-intercept", action="store_true",
                   help="with --fe none (a pooled panel or a cross-section): no intercept "
                        "(default: one intercept, never a W-lag of it)")
    m.add_argument("--priors", choices=["default", "flat"])
    m.add_argument("--lag-convention", choices=list(LAG_CONVENTIONS),
                   help="QWy: lag then demean (Lee-Yu, default); WQy: demean then lag (splm)")
    m.add_argument("--dynamic", action="store_true",
                   help="dynamic panel: y(t-1) and W y(t-1) as regressors (Yu, de Jong & Lee "
                        "2008 ML; Bayesian with correlated random effects); short- and long-run "
                        "effects")
    m.add_argument("--dynamic-form", choices=list(DYNAMIC_FORMS),
                   help="unrestricted (default) or restricted: eta = -tau rho")
    m.add_argument("--variance", choices=list(VARIANCES),
                   help="error variance: one sigma^2 (default), one per period (sigma_t^2 "
                        "under the Lee-Yu transform) or unit scales sigma^2 v_i (inverse-chi^2(4)"
                        "/4 prior; Bayesian only)")
    m.add_argument("--logdet", choices=list(LOGDET_METHODS),
                   help="log|I - rho W|: auto (eigenvalues for a dense W and a sparse W up to "
                        "N = 700-1,000, else Chebyshev interpolation of sparse LUs; the measured "
                        "crossover in bayes_sdm.logdet), eigen, chebyshev, stochastic")
    s = p.add_argument_group("sampler")
    s.add_argument("--draws", type=int)
    s.add_argument("--tune", type=int)
    s.add_argument("--chains", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--sampler", choices=[*NUTS_SAMPLERS, "exact"],
                   help="NUTS implementation (auto: closed-form for the pooled SAR/SDM/SEM/SDEM/SLX "
                        "models it covers, else nutpie-pyfunc when nutpie is installed), or "
                        "exact: independent draws from the exact posterior under the flat "
                        "reference prior (implies --priors flat)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = p.add_argument_group("regions (with --region-col)")
    r.add_argument("--pooling", choices=list(POOLINGS),
                   help="regional pooling of beta, theta (and rho, sigma with a block W)")
    r.add_argument("--regional-w", choices=list(REGIONAL_W),
                   help="block: each region's own W; full: one W, spillovers across regions")
    e = p.add_argument_group("maximum likelihood")
    e.add_argument("--ml", action="store_true", help="fit ML as well and compare")
    e.add_argument("--ml-only", action="store_true", help="ML only (no sampling)")
    e.add_argument("--ml-correction", choices=["transform", "none", "bias"], default="transform")
    e.add_argument("--ml-robust", action="store_true",
                   help="heteroskedasticity-robust (sandwich) standard errors for the static ML")
    o = p.add_argument_group("output")
    o.add_argument("--out", help="output folder (default runs/<dataset>-<model>-<fe>/)")
    o.add_argument("--plots", action="store_true",
                   help="write PNG figures and report.md into the output folder")
    o.add_argument("--quiet", action="store_true",
                   help="print nothing but errors (no tables, no stage progress on stderr)")
    add_cluster_argument(o)
    return p


def resolve_spec(a: argparse.Namespace) -> ModelSpec:
    """The spec file (or the default seed-study spec) with command-line overrides."""
    spec = spec_from_args(a)
    for name in ("model", "fe", "lag_convention", "logdet", "variance"):
        v = getattr(a, name)
        if v is not None:
            setattr(spec, name, v)
    if a.no_intercept:
        spec.intercept = False
    if a.dynamic:
        spec.dynamic = True
    if a.dynamic_form:
        spec.dynamic_form = a.dynamic_form
    if a.priors:
        spec.priors = PriorSpec.preset(a.priors)
    for name in ("draws", "tune", "chains", "seed"):
        v = getattr(a, name)
        if v is not None:
            setattr(spec.sampler, name, v)
    if a.sampler == "exact":
        spec.sampler.kind = "exact"
        if a.priors is None:  # the exact sampler is defined for the flat reference prior
            spec.priors = PriorSpec.preset("flat")
    elif a.sampler:
        spec.sampler.kind, spec.sampler.nuts_sampler = "nuts", a.sampler
    if a.pooling or a.regional_w:
        h = spec.hierarchy or HierarchySpec()
        if a.pooling:
            h.pooling = a.pooling
        if a.regional_w:
            h.regional_w = a.regional_w
        spec.hierarchy = h
    if a.region is not None:
        spec.hierarchy = None  # one region alone: the plain model on that region's data
    return spec.validate()


def _print(msg: str = "", quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def _kind(spec: ModelSpec, a: argparse.Namespace) -> str:
    """The default folder name's model part, ending in a short hash of everything that
    changes the results (the spec and the ML options), so runs that differ never share a
    folder."""
    import hashlib

    kind = f"{spec.model}-{spec.fe}"
    if spec.hierarchy is not None:
        kind += f"-{spec.hierarchy.pooling}-{spec.hierarchy.regional_w}"
    extra = f"{spec.hash()}|ml={a.ml}|ml_only={a.ml_only}|corr={a.ml_correction}"
    return f"{kind}-{hashlib.sha256(extra.encode()).hexdigest()[:8]}"


def run(argv: list[str] | None = None) -> int:
    """Parse, fit, write; raises the errors of :mod:`bayes_sdm.errors`."""
    from .progress import Stages

    a = build_parser().parse_args(argv)
    spec = resolve_spec(a)
    if a.quiet:
        import logging

        logging.getLogger("pymc").setLevel(logging.WARNING)
    stages = Stages(quiet=a.quiet)
    regional = spec.hierarchy is not None
    if a.out:
        RunFolder(Path(a.out))  # check before any work that --out can be written
    with cluster_session(a.cluster or spec.cluster, a.quiet) as client:
        return _run_on(a, spec, regional, client, stages)


def _run_on(a, spec: ModelSpec, regional: bool, client, stages) -> int:
    inputs = load_data(spec.data, client, need_regions=regional, progress=stages)
    if regional and inputs.regions is None:
        raise InputError("a regional model (--pooling / --regional-w) needs --region-col")
    if inputs.panel.T == 1 and a.fe is None and spec.fe in ("unit", "twoway"):
        spec.fe = "none"  # a cross-section: no fixed effects, one intercept
    out = Path(a.out) if a.out else Path("runs") / f"{inputs.label}-{_kind(spec, a)}"
    if not a.out:
        RunFolder(out)
    panel = inputs.panel
    if spec.fe == RANDOM:
        fe_text = "unit random effects"
    elif spec.fe == "none":
        fe_text = "an intercept" if spec.intercept else "no intercept"
    else:
        fe_text = f"{spec.fe} fixed effects"
    _print(f"bayes_sdm: {spec.model.upper()} with {fe_text} on {inputs.label}: "
           f"N={panel.N} units x T={panel.T} periods, y={panel.y_name}, "
           f"x={', '.join(panel.x_names)}, W={inputs.w.name}", a.quiet)
    with RunFolder(out) as tmp:
        code, result, diag, written = _fit_and_write(a, spec, inputs, tmp, stages, client)
    if written:
        _print(f"\n{written}", a.quiet)
    _print(f"wrote {out}/", a.quiet)
    if result is not None:
        return _finish(result, diag, stages)
    stages.finish("done: maximum likelihood only")
    return code


def _fit_and_write(a, spec: ModelSpec, inputs, out: Path, stages, client=None):
    """Fit and write the run folder (:mod:`bayes_sdm.runfolder`); returns (exit code, the
    fit or None, its diagnostics, what was written besides the tables)."""
    from . import api
    from .reporting import format_table
    from .runfolder import write_ml, write_run

    q = a.quiet
    if spec.fe == RANDOM:
        return _fit_random(a, spec, inputs, out, stages)
    if spec.dynamic:
        from .dynamic_run import fit_and_write_dynamic

        return fit_and_write_dynamic(a, spec, inputs, out, stages)
    t0 = time.perf_counter()
    prep = api.prepare(inputs.panel, inputs.w, spec.model, spec.fe, spec.correction,
                       spec.lag_convention, spec.logdet, intercept=spec.intercept,
                       regions=inputs.regions if spec.hierarchy else None,
                       hierarchy=spec.hierarchy, client=client, progress=stages)
    t_prep = time.perf_counter() - t0

    ml_res = None
    if (a.ml or a.ml_only) and spec.hierarchy is not None:
        done = _ml_by_region(a, spec, inputs, out, stages)
        if a.ml_only:
            return EXIT_OK, None, None, done
    elif a.ml or a.ml_only:
        from .hypothesis import all_tests
        from .ml import fit_ml

        with stages.stage(f"maximum likelihood and tests (correction {a.ml_correction})"):
            if spec.variance == "unit":
                from .variance_unit_ml import fit_unit_ml

                ml_res, tests = fit_unit_ml(prep), None
            elif spec.variance == "period":
                from .variances import fit_period_ml

                ml_res, tests = fit_period_ml(prep), None
            else:
                ml_res = fit_ml(prep, a.ml_correction, on_boundary="raise")
                tests = all_tests(prep, a.ml_correction, full=ml_res)
                from .hausman import hausman_entry

                if (h := hausman_entry(prep)) is not None:
                    tests["hausman_fe_vs_re"] = h
                if a.ml_robust:
                    from .robust import sandwich

                    ml_res = sandwich(prep, ml_res)
            write_ml(out, ml_res, tests)
        _print("\nMaximum likelihood (correction=" + a.ml_correction + ")", q)
        _print(format_table(ml_res.table()), q)
        if a.ml_only:
            return EXIT_OK, None, None, "wrote ml.csv, ml_effects.csv, tests.json"

    if not prep.family.bayesian:
        raise InputError(f"no Bayesian {spec.model!r} model; use --ml-only")
    result = api.fit(prep, spec, progressbar=not (a.no_progress or q), progress=stages)
    tables = write_run(result, out, ml=ml_res, plots=a.plots, progress=stages,
                       extra={"prepare_s": round(t_prep, 3)})
    summ, eff, contrasts = tables.summary, tables.effects, tables.contrasts
    if spec.hierarchy is not None:
        h = spec.hierarchy
        _print(f"\nRegional effects ({h.pooling} pooling, {h.regional_w} W; 94% HDI)", q)
        _print(format_table(_with_regional_truth(eff, inputs.truth, h.regional_w,
                                                 h.perspective)), q)
        _print("\nContrasts between regions, total effects (all effects in "
               "region_contrasts.csv)", q)
        _print(format_table(contrasts[contrasts["effect"] == "total"]), q)
    else:
        _print_posterior(summ, _with_truth(eff, inputs.truth, spec.data.region), q)
    return EXIT_OK, result, tables.diagnostics, _figures_written(tables)


def _print_posterior(summary, effects, quiet: bool) -> None:
    """The pooled posterior and effects tables on stdout."""
    from .reporting import format_table

    _print("\nPosterior (mean, sd, 94% HDI)", quiet)
    _print(format_table(summary), quiet)
    _print("\nEffects (LeSage & Pace 2009)", quiet)
    _print(format_table(effects), quiet)


def _figures_written(tables) -> str:
    """What the run wrote besides the tables (figures and reports), for the last line."""
    if not tables.figures:
        return ""
    return (f"wrote {len(tables.figures)} figures (figures/), "
            + " and ".join(p.name for p in tables.reports))


def _ml_by_region(a, spec: ModelSpec, inputs, out: Path, stages) -> str:
    """``--ml`` with a regional model: ML of each region separately, each with its own W
    re-standardised (:func:`bayes_sdm.regional.ml.ml_by_region`, the seed study's design),
    written to ``ml/<region>/`` (ml.csv, ml_effects.csv, tests.json)."""
    from .hypothesis import all_tests
    from .prepared import build
    from .regional.ml import ml_by_region
    from .regional.regions import select_region
    from .reporting import format_table
    from .runfolder import write_ml

    with stages.stage(f"maximum likelihood by region (separate fits, correction "
                      f"{a.ml_correction})"):
        fits = ml_by_region(inputs.panel, inputs.w, inputs.regions, spec.model, spec.fe,
                            a.ml_correction, spec.lag_convention, on_boundary="raise")
        for name, res in fits.items():
            p, wg = select_region(inputs.panel, inputs.w, inputs.regions, name)
            prep = build(p, wg, spec.model, spec.fe, a.ml_correction, spec.lag_convention,
                         res.logdet if res.logdet is not None else "auto")
            write_ml(out / "ml" / _safe(name), res, all_tests(prep, a.ml_correction, full=res))
    for name, res in fits.items():
        _print(f"\nMaximum likelihood, region {name} alone (correction={a.ml_correction})",
               a.quiet)
        _print(format_table(res.table()), a.quiet)
    return f"wrote ml/<region>/ for {len(fits)} regions (separate ML fits)"


def _safe(name: str) -> str:
    """A region label as a folder name."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "region"


def _fit_random(a, spec: ModelSpec, inputs, out: Path, stages):
    """Unit random effects (``--fe random``): the Bayesian fit (:mod:`bayes_sdm.re_fit`) and,
    with ``--ml`` / ``--ml-only``, ML with the Hausman test against unit FE in tests.json."""
    from .reporting import format_table
    from .runfolder import write_ml, write_run

    q = a.quiet
    res = None
    if a.ml or a.ml_only:
        from . import api
        from .hausman import spatial_hausman
        from .random_effects import fit_re

        with stages.stage("maximum likelihood, random effects, Hausman test"):
            res = fit_re(inputs.panel, inputs.w, spec.model, spec.logdet)
            prep = api.prepare(inputs.panel, inputs.w, spec.model, "unit", "none",
                               spec.lag_convention, res.logdet)
            tests = {"hausman_fe_vs_re": spatial_hausman(prep, re_res=res)}
            write_ml(out, res, tests)
        _print("\nMaximum likelihood, unit random effects", q)
        _print(format_table(res.table()), q)
        h = tests["hausman_fe_vs_re"]
        _print(f"\nHausman test FE vs RE: chi2({h['df']}) = {h['statistic']:.4g}, "
               f"p = {h['p_value']:.4g}", q)
        if a.ml_only:
            return EXIT_OK, None, None, "wrote ml.csv, ml_effects.csv, tests.json"
    from .re_fit import fit_random_effects

    result = fit_random_effects(inputs.panel, inputs.w, spec,
                                logdet=res.logdet if res is not None else None,
                                progressbar=not (a.no_progress or q), progress=stages)
    tables = write_run(result, out, ml=res, plots=a.plots, progress=stages)
    _print_posterior(tables.summary, tables.effects, q)
    return EXIT_OK, result, tables.diagnostics, _figures_written(tables)


def _finish(result, diag, stages) -> int:
    """The last lines: times and the diagnostics' verdict; the exit code."""
    t = result.timings
    ok = diag.passed
    stages.finish(f"done: fit {t.get('fit_s', 0.0):.1f} s (sampling "
                  f"{t.get('sample_s', 0.0):.1f} s); diagnostics "
                  f"{'passed' if ok else 'FAILED'}")
    if not ok:
        for f in diag.failures():
            print(f"  diagnostics: {f}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_DIAGNOSTICS


def _with_regional_truth(eff, truth, regional_w: str, perspective: str):
    """Beside regional estimates, the stored true regional effects of a synthetic dataset.

    With the full W the region averages are of the heterogeneous model's unit-level effects
    (``by_region_from`` for the origin perspective, ``by_region`` for the destination one);
    with a block W the regional fits estimate each region's own model, whose natural truth is
    the homogeneous-coefficient effects (``by_region_homogeneous``), shown as a guide.
    """
    if not truth or "effects" not in truth:
        return eff
    te = truth["effects"]
    key = ("by_region_from" if perspective == "origin" else "by_region") \
        if regional_w == "full" else "by_region_homogeneous"
    table = te.get(key)
    if not isinstance(table, dict):
        return eff
    eff = eff.copy()
    eff["true"] = [table.get(str(r.region), {}).get(r.effect, {}).get(r.variable)
                   for r in eff.itertuples()]
    return eff


def _with_truth(eff, truth, region: str | None = None):
    """Add the stored true effects of a synthetic dataset beside the estimates: the pooled
    truth, or for one region fitted alone (``--region``) that region's own-model truth
    (``by_region_homogeneous``); no column when the dataset stores none."""
    if not truth or "effects" not in truth:
        return eff
    te = truth["effects"]
    if region is not None:
        pooled = te.get("by_region_homogeneous", {}).get(str(region))
        if pooled is None:
            return eff
    else:
        pooled = te.get("pooled", te)
    eff = eff.copy()
    vals = []
    for r in eff.itertuples():
        v = pooled.get(r.effect, {}).get(r.variable) if isinstance(pooled, dict) else None
        vals.append(v)
    if any(v is not None for v in vals):
        eff["true"] = vals
    return eff


def _log_dir(argv):
    """Where an internal error's traceback goes: the --out folder when it holds no run."""
    try:
        a = build_parser().parse_args(argv)
    except SystemExit:
        return None
    return Path(a.out) if a.out else None


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv, "fit_region", _log_dir)
