"""The ``fit_region`` command as a testable function: ``main(argv) -> exit code``.

Exit codes: 0 ok; 1 fitted but the convergence diagnostics failed; 2 bad input (the message on
stderr says what and where).  Every output file is written atomically.

Outputs in ``--out`` (default ``runs/<dataset>-<model>-<fe>/``):
``posterior.nc``, ``summary.csv``, ``effects.csv``, ``diagnostics.json``; with ``--ml`` /
``--ml-only`` also ``ml.csv``, ``ml_effects.csv``, ``tests.json`` and (with a posterior)
``comparison.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import InputError
from .logdet import METHODS as LOGDET_METHODS
from .sampling import NUTS_SAMPLERS
from .spec import ModelSpec, PriorSpec

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_INPUT = 0, 1, 2
DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "models" / "seed_study.yaml"


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Data and weights arguments shared by every command."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="bundled dataset name (synthetic_ua, cigar, produc)")
    g.add_argument("--data", help="long table (.csv or .parquet)")
    g.add_argument("--unit", help="unit id column")
    g.add_argument("--time", help="period column")
    g.add_argument("--y", help="dependent variable column")
    g.add_argument("--x", nargs="+", help="regressor columns")
    g.add_argument("--weights", help="W: a .csv/.gal/.gwt/.npz file, economic-distance:COL, "
                   "or knn:K:XCOL,YCOL")
    g.add_argument("--no-standardize", action="store_true",
                   help="keep W as given (not allowed with time fixed effects)")
    g.add_argument("--region-col", help="column with each unit's region")
    g.add_argument("--region", help="fit this region alone (W restricted and re-standardised)")


def apply_data_arguments(spec: ModelSpec, a: argparse.Namespace) -> None:
    d = spec.data
    if a.data:
        d.dataset, d.path = None, a.data
    elif a.dataset:
        if a.dataset != d.dataset or d.path:
            # another dataset than the spec's: its own defaults apply unless given here
            d.unit = d.time = d.y = d.x = d.weights = None
        d.dataset, d.path = a.dataset, None
    for name in ("unit", "time", "y", "x", "weights", "region_col", "region"):
        v = getattr(a, name)
        if v is not None:
            setattr(d, name, v)
    if a.no_standardize:
        d.standardize_w = False


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fit_region.py",
        description="Fit a Bayesian spatial Durbin panel (Lee-Yu fixed effects) and write the "
                    "posterior, parameter and effects tables and diagnostics.",
    )
    add_data_arguments(p)
    m = p.add_argument_group("model")
    m.add_argument("--spec", help="YAML spec (models/*.yaml); command-line options override it")
    m.add_argument("--model", choices=["sdm", "sar", "sem", "sdem", "slx"])
    m.add_argument("--fe", choices=["twoway", "unit", "time", "none"])
    m.add_argument("--priors", choices=["default", "flat"])
    m.add_argument("--lag-convention", choices=["QWy", "WQy"],
                   help="QWy: lag then demean (Lee-Yu, default); WQy: demean then lag (splm)")
    m.add_argument("--logdet", choices=list(LOGDET_METHODS),
                   help="log|I - rho W|: auto (eigenvalues up to N = 3000 or a dense W, else "
                        "Chebyshev interpolation of sparse LUs), eigen, chebyshev, stochastic")
    s = p.add_argument_group("sampler")
    s.add_argument("--draws", type=int)
    s.add_argument("--tune", type=int)
    s.add_argument("--chains", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--sampler", choices=[*NUTS_SAMPLERS, "exact"],
                   help="NUTS sampler (auto: nutpie-pyfunc when nutpie is installed), or the exact "
                        "grid sampler (flat priors)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = p.add_argument_group("regions (with --region-col)")
    r.add_argument("--pooling", choices=["partial", "none", "complete"],
                   help="regional pooling of beta, theta (and rho, sigma with a block W)")
    r.add_argument("--regional-w", choices=["block", "full"],
                   help="block: each region's own W; full: one W, spillovers across regions")
    e = p.add_argument_group("maximum likelihood")
    e.add_argument("--ml", action="store_true", help="fit ML as well and compare")
    e.add_argument("--ml-only", action="store_true", help="ML only (no sampling)")
    e.add_argument("--ml-correction", choices=["transform", "none", "bias"], default="transform")
    o = p.add_argument_group("output")
    o.add_argument("--out", help="output folder (default runs/<dataset>-<model>-<fe>/)")
    o.add_argument("--plots", action="store_true",
                   help="write PNG figures and report.md into the output folder")
    o.add_argument("--quiet", action="store_true", help="print less")
    return p


def resolve_spec(a: argparse.Namespace) -> ModelSpec:
    """The spec file (or the default seed-study spec) with command-line overrides."""
    spec = ModelSpec.from_yaml(a.spec) if a.spec else (
        ModelSpec.from_yaml(DEFAULT_SPEC) if DEFAULT_SPEC.exists() else ModelSpec())
    apply_data_arguments(spec, a)
    if a.model:
        spec.model = a.model
    if a.fe:
        spec.fe = a.fe
    if a.priors:
        spec.priors = PriorSpec.preset(a.priors)
    if a.lag_convention:
        spec.lag_convention = a.lag_convention
    if a.logdet:
        spec.logdet = a.logdet
    for name in ("draws", "tune", "chains", "seed"):
        v = getattr(a, name)
        if v is not None:
            setattr(spec.sampler, name, v)
    if a.sampler:
        spec.sampler.nuts_sampler = a.sampler
    if a.pooling or a.regional_w:
        h = dict(spec.hierarchy or {})
        if a.pooling:
            h["pooling"] = a.pooling
        if a.regional_w:
            h["regional_w"] = a.regional_w
        spec.hierarchy = h
    if a.region is not None:
        spec.hierarchy = None  # one region alone: the plain model on that region's data
    if spec.hierarchy is not None:
        bad = set(spec.hierarchy) - {"pooling", "regional_w", "perspective"}
        if bad:
            raise InputError(f"unknown hierarchy option(s) {sorted(bad)}")
    return spec.validate()


def _print(msg: str = "", quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def run(argv: list[str] | None = None) -> int:
    """Parse, fit, write; raises InputError for bad input."""
    from .inputs import load_inputs

    a = build_parser().parse_args(argv)
    spec = resolve_spec(a)
    if a.quiet:
        import logging

        logging.getLogger("pymc").setLevel(logging.WARNING)
    inputs = load_inputs(spec.data, need_regions=spec.hierarchy is not None)
    kind = f"{spec.model}-{spec.fe}"
    if spec.hierarchy is not None:
        kind += f"-{spec.hierarchy.get('pooling', 'partial')}-{spec.hierarchy.get('regional_w', 'block')}"
    out = Path(a.out) if a.out else Path("runs") / f"{inputs.label}-{kind}"
    panel = inputs.panel
    _print(f"bayes_sdm: {spec.model.upper()} with {spec.fe} fixed effects on {inputs.label}: "
           f"N={panel.N} units x T={panel.T} periods, y={panel.y_name}, "
           f"x={', '.join(panel.x_names)}, W={inputs.w.name}", a.quiet)
    if spec.hierarchy is not None:
        return _run_regional(a, spec, inputs, out)
    return _run_pooled(a, spec, inputs, out)


def _run_pooled(a, spec: ModelSpec, inputs, out: Path) -> int:
    import time

    from . import api
    from .io import save_fit, write_csv, write_json
    from .reporting import format_table

    q = a.quiet
    panel = inputs.panel
    t0 = time.perf_counter()
    prep = api.prepare(panel, inputs.w, spec.model, spec.fe, spec.correction,
                       spec.lag_convention, spec.logdet)
    t_prep = time.perf_counter() - t0

    ml_res = None
    if a.ml or a.ml_only:
        from .hypothesis import all_tests
        from .ml import fit_ml

        ml_res = fit_ml(panel, inputs.w, model=spec.model, fe=spec.fe,
                        correction=a.ml_correction, lag_convention=spec.lag_convention,
                        logdet=prep.logdet)
        write_csv(out / "ml.csv", ml_res.table())
        write_csv(out / "ml_effects.csv", ml_res.effects())
        write_json(out / "tests.json", all_tests(
            panel, inputs.w, model=spec.model, fe=spec.fe, correction=a.ml_correction,
            lag_convention=spec.lag_convention, logdet=prep.logdet, full=ml_res))
        _print("\nMaximum likelihood (correction=" + a.ml_correction + ")", q)
        _print(format_table(ml_res.table()), q)
        if a.ml_only:
            _print(f"\nwrote {out}/ml.csv, ml_effects.csv, tests.json", q)
            return EXIT_OK

    if spec.model not in api.BAYES_MODELS:
        raise InputError(f"no Bayesian {spec.model!r} model; use --ml-only")
    t1 = time.perf_counter()
    result = api.fit(prep, spec, progressbar=not (a.no_progress or q))
    t_fit = time.perf_counter() - t1
    idata = result.idata
    idata.attrs["wall_time_s"] = f"{t_fit:.2f}"
    summ = result.summary_table()
    eff = result.effects_table()
    diag = result.diagnostics()
    save_fit(idata, out / "posterior.nc")
    write_csv(out / "summary.csv", summ)
    write_csv(out / "effects.csv", eff)
    dd = diag.to_dict()
    dd.update({"wall_time_s": round(t_fit, 3), "prepare_s": round(t_prep, 3),
               "data_hash": prep.data_hash, "spec_hash": spec.hash()})
    write_json(out / "diagnostics.json", dd)
    comparison = None
    if ml_res is not None:
        from .ml import comparison_table

        comparison = comparison_table(ml_res, idata)
        write_csv(out / "comparison.csv", comparison)
    if a.plots:
        _plots_and_report(result, out, summ, eff, diag, comparison, ml_res, q)

    _print("\nPosterior (mean, sd, 94% HDI)", q)
    _print(format_table(summ), q)
    _print("\nEffects (LeSage & Pace 2009)", q)
    _print(format_table(_with_truth(eff, inputs.truth)), q)
    return _finish(diag, t_fit, result.timings["sample_s"], out, q)


def _plots_and_report(result, out, summ, eff, diag, comparison, ml_res, q) -> None:
    from .plots import write_plots
    from .report import write_report

    if ml_res is None and getattr(result, "prepared", None) is not None:
        from .ml import fit_ml

        p = result.prepared
        try:  # the rho-vs-ML figure wants the ML estimate; it is cheap given the log-det
            ml_res = fit_ml(p.panel, p.w, model=p.model, fe=p.fe, logdet=p.logdet)
        except InputError:
            ml_res = None
    figures = write_plots(result, out / "figures", ml_result=ml_res)
    write_report(out, summ, eff, diag, comparison, figures, provenance=result.idata)
    _print(f"wrote {len(figures)} figures and report.md", q)


def _finish(diag, t_fit: float, t_sample: float, out: Path, q: bool) -> int:
    _print(f"\nfit wall time {t_fit:.1f} s (sampling {t_sample:.1f} s); "
           f"diagnostics {'passed' if diag.passed else 'FAILED'}", q)
    if not diag.passed:
        for f in diag.failures():
            print(f"  diagnostics: {f}", file=sys.stderr)
    _print(f"wrote {out}/", q)
    return EXIT_OK if diag.passed else EXIT_DIAGNOSTICS


def _run_regional(a, spec: ModelSpec, inputs, out: Path) -> int:
    """Regional models (hierarchical partial pooling, separate fits, complete pooling)."""
    import time

    from .hierarchy import fit_regional
    from .io import save_fit, write_csv, write_json
    from .reporting import format_table

    q = a.quiet
    if inputs.regions is None:
        raise InputError("a regional model (--pooling / --regional-w) needs --region-col")
    if a.ml or a.ml_only:
        raise InputError("--ml / --ml-only are for the pooled model; fit one region with "
                         "--region NAME --ml-only, or drop --pooling")
    h = spec.hierarchy
    pooling, regional_w = h.get("pooling", "partial"), h.get("regional_w", "block")
    perspective = h.get("perspective", "origin")
    t0 = time.perf_counter()
    res = fit_regional(inputs.panel, inputs.w, inputs.regions, model=spec.model, fe=spec.fe,
                       pooling=pooling, regional_w=regional_w, priors=spec.priors,
                       sampler=spec.sampler, perspective=perspective,
                       progressbar=not (a.no_progress or q),
                       correction=spec.correction, lag_convention=spec.lag_convention)
    t_fit = time.perf_counter() - t0
    idata = res.idata
    idata.attrs.update({"spec": spec.to_yaml(), "spec_hash": spec.hash(),
                        "wall_time_s": f"{t_fit:.2f}"})
    from .api import dependency_versions

    idata.attrs.setdefault("dependencies", json.dumps(dependency_versions()))
    summ, eff = res.summary_table(), res.effects_table()
    contrasts = res.contrasts_table()
    diag = res.diagnostics()
    save_fit(idata, out / "posterior.nc")
    write_csv(out / "summary.csv", summ)
    write_csv(out / "effects.csv", eff)
    write_csv(out / "region_contrasts.csv", contrasts)
    if regional_w == "full":
        write_csv(out / "spillovers.csv", res.spillovers_table())
    dd = diag.to_dict()
    dd.update({"wall_time_s": round(t_fit, 3), "data_hash": idata.attrs.get("data_hash"),
               "spec_hash": spec.hash(), "pooling": pooling, "regional_w": regional_w})
    write_json(out / "diagnostics.json", dd)
    if a.plots:
        _plots_and_report(res, out, summ, eff, diag, None, None, q)
    _print(f"\nRegional effects ({pooling} pooling, {regional_w} W; 94% HDI)", q)
    _print(format_table(_with_regional_truth(eff, inputs.truth, regional_w, perspective)), q)
    _print("\nContrasts between regions, total effects (all effects in region_contrasts.csv)", q)
    _print(format_table(contrasts[contrasts["effect"] == "total"]), q)
    return _finish(diag, t_fit, res.timings.get("sample_s", t_fit), out, q)


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


def _with_truth(eff, truth):
    """Add the stored true effects of a synthetic dataset beside the estimates."""
    if not truth or "effects" not in truth:
        return eff
    te = truth["effects"]
    pooled = te.get("pooled", te)
    eff = eff.copy()
    vals = []
    for r in eff.itertuples():
        v = pooled.get(r.effect, {}).get(r.variable) if isinstance(pooled, dict) else None
        vals.append(v)
    if any(v is not None for v in vals):
        eff["true"] = vals
    return eff


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
