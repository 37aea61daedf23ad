"""The run folder: the one writer of a fit's files, used by ``fit_region.py`` and
:meth:`bayes_sdm.result.FitResult.save`.

Layout (every file optional except the first four of a Bayesian fit):

=========================  ===================================================================
``posterior.nc``           the DataTree with its provenance (:func:`bayes_sdm.io.save_fit`)
``summary.csv``            parameters (:func:`bayes_sdm.reporting.summary_table`)
``effects.csv``            direct / indirect / total effects
``diagnostics.json``       :meth:`bayes_sdm.diagnostics.Diagnostics.to_dict` plus the hashes,
                           the fit's wall time and the time of every stage (``timings_s``)
``region_contrasts.csv``   regional fits: differences of region effects
``spillovers.csv``         regional fits with the full W: region-to-region spillovers
``ml.csv``, ``ml_effects.csv``, ``tests.json``   with an ML fit (:func:`write_ml`)
``comparison.csv``         ML vs posterior (with an ML fit)
``figures/*.png``          with plots (:func:`bayes_sdm.plots.write_plots`)
``report.md``,             with plots: one document in two renderings
``report.html``            (:mod:`bayes_sdm.report`; the HTML embeds the figures)
=========================  ===================================================================

:func:`write_run` writes into a folder (the CLI's temporary folder); :func:`save_run` writes a
folder that replaces ``path`` whole when done (:class:`bayes_sdm.commands.RunFolder`).
:func:`bayes_sdm.load_fit` reads the folder back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import InputError
from .io import save_fit, write_csv, write_json
from .progress import as_stages


@dataclass
class RunTables:
    """What :func:`write_run` computed and wrote (the CLI prints from it)."""

    summary: pd.DataFrame
    effects: pd.DataFrame
    diagnostics: object
    contrasts: pd.DataFrame | None = None
    spillovers: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    figures: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)


def write_ml(out: Path, ml_res, tests: dict | None = None) -> list[Path]:
    """``ml.csv``, ``ml_effects.csv`` and (given) ``tests.json`` of an ML fit."""
    out = Path(out)
    paths = [write_csv(out / "ml.csv", ml_res.table()),
             write_csv(out / "ml_effects.csv", ml_res.effects())]
    if tests is not None:
        paths.append(write_json(out / "tests.json", tests))
    return paths


def write_run(fit, out: Path, *, ml=None, plots: bool = False, progress=None,
              extra: dict | None = None) -> RunTables:
    """Write a Bayesian fit's files into the folder ``out`` (module docstring).

    Parameters
    ----------
    fit : a :class:`~bayes_sdm.result.FitResult`
    out : the folder (created)
    ml : an :class:`~bayes_sdm.ml.MLResult` of the same model (``comparison.csv``; its own
        files are :func:`write_ml`'s); with ``plots`` and no ``ml``, a pooled fit made in this
        process gets one for the rho-vs-ML figure
    plots : write ``figures/``, ``report.md`` and ``report.html``
    progress : a :class:`~bayes_sdm.progress.Stages` reporter (or True / None)
    extra : more keys for ``diagnostics.json`` (the CLI's ``prepare_s``)
    """
    stages = as_stages(progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    regional = fit.is_regional
    with stages.stage("tables and diagnostics"):
        diag = fit.diagnostics()
        summ = fit.summary_table(diag)  # the parameters' rows of the diagnostics' summary
        eff = fit.effects_table()
        contrasts = fit.contrasts_table() if regional else None
        spill = fit.spillovers_table() if regional and "spillovers" in fit["posterior"] \
            else None
        comparison = None
        if ml is not None:
            from .comparison import comparison_table

            comparison = comparison_table(ml, fit)
    tables = RunTables(summ, eff, diag, contrasts, spill, comparison)
    with stages.stage("writing posterior.nc and tables"):
        if "wall_time_s" not in fit.attrs and "fit_s" in fit.timings:
            fit.attrs["wall_time_s"] = f"{fit.timings['fit_s']:.2f}"
        save_fit(fit, out / "posterior.nc")
        write_csv(out / "summary.csv", summ)
        write_csv(out / "effects.csv", eff)
        if contrasts is not None:
            write_csv(out / "region_contrasts.csv", contrasts)
        if spill is not None:
            write_csv(out / "spillovers.csv", spill)
        if comparison is not None:
            write_csv(out / "comparison.csv", comparison)
        write_json(out / "diagnostics.json", _diagnostics_record(fit, diag, stages, extra))
    if plots:
        _figures_and_reports(fit, out, tables, ml, stages)
    return tables


def _diagnostics_record(fit, diag, stages, extra) -> dict:
    dd = diag.to_dict()
    a = fit.attrs
    if "fit_s" in fit.timings:
        dd["wall_time_s"] = round(fit.timings["fit_s"], 3)
    dd.update({"data_hash": a.get("data_hash"), "spec_hash": a.get("spec_hash")})
    for k in ("pooling", "regional_w"):
        if k in a:
            dd[k] = a[k]
    dd.update(extra or {})
    times = {**{k: v for k, v in fit.timings.items()}, **stages.times}
    dd["timings_s"] = {k: round(float(v), 3) for k, v in times.items()}
    return dd


def _figures_and_reports(fit, out: Path, tables: RunTables, ml, stages) -> None:
    from .plots import write_plots
    from .report import write_report

    p = fit.prepared
    if ml is None and p is not None and p.regional is None and p.family.has_jacobian:
        from .ml import fit_ml

        try:  # the rho-vs-ML figure wants the ML estimate; it is cheap given the log-det
            with stages.stage("maximum likelihood (for the rho figure)"):
                ml = fit_ml(p)
        except InputError:
            ml = None
    tables.figures = write_plots(fit, out / "figures", ml_result=ml, progress=stages,
                                 diagnostics=tables.diagnostics)
    with stages.stage("report.md and report.html"):
        md = write_report(out, tables.summary, tables.effects, tables.diagnostics,
                          tables.comparison, tables.figures, provenance=fit,
                          contrasts=tables.contrasts)
        tables.reports = [md, md.with_suffix(".html")]


def save_run(fit, path, *, plots: bool = False, ml=None, progress=None) -> Path:
    """Write the run folder of ``fit`` at ``path``, replacing it whole when done; returns
    ``path`` (:meth:`bayes_sdm.result.FitResult.save`)."""
    from .commands import RunFolder

    path = Path(path)
    with RunFolder(path) as tmp:
        write_run(fit, tmp, ml=ml, plots=plots, progress=progress)
    return path
