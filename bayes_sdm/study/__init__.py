"""The seed study as its readers reproduce it: five tables from one call (user layer).

:func:`write_study` computes (:mod:`~bayes_sdm.study.compute`) and writes
(:mod:`~bayes_sdm.study.tables`, :mod:`~bayes_sdm.study.format`) the tables of the seed study
(``../shared/seed/``) for any panel: Moran's I by year and variable, the specification tests,
SLM / SEM / SDM with two-way fixed effects side by side, the SDM's effects (ML beside the
posterior) and the effects by region (separate ML and Bayesian fits, each region with its own W,
beside the hierarchical model).  ``scripts/replicate_study.py`` (:mod:`~bayes_sdm.study.command`)
is the command.  Every number comes from the package's estimators; nothing is typed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .format import STAR_NOTE, StudyTable, stars

__all__ = ["StudyTable", "StudyResult", "stars", "write_study"]


@dataclass
class StudyResult:
    """What :func:`write_study` computed and wrote."""

    ml: object
    bayes: object
    tables: list
    paths: list


def write_study(inputs, spec, out: Path, *, draws: int = 500, tune: int = 500, chains: int = 2,
                seed: int = 20260101, assumption: str = "normality", progress=None,
                command: str = "", bayes: bool = True, client=None) -> StudyResult:
    """Compute the study on ``inputs`` (:func:`bayes_sdm.inputs.load_inputs`) with the ML
    conventions and priors of ``spec`` and write ``out/tables/``; ``bayes=False`` skips the
    Bayesian fits (tables 4 and 5 then hold the ML columns only); with a Dask ``client`` the
    Bayesian fits run as parallel tasks.

    Raises
    ------
    InputError
        no region column (the regional table needs one), and the estimators' input checks.
    """
    from ..errors import InputError
    from . import tables as tb
    from .compute import compute_bayes, compute_ml

    if inputs.regions is None:
        raise InputError("the study's regional table needs each unit's region: give "
                         "--region-col (east/central/west in the seed study)")
    panel, w = inputs.panel, inputs.w
    ml = compute_ml(panel, w, inputs.regions, spec.fe, spec.correction, spec.lag_convention,
                    assumption, progress)
    if bayes:
        bayes = compute_bayes(panel, w, inputs.regions, spec.copy(), draws, tune, chains, seed,
                              progress, client=client)
    else:
        from .compute import BayesPart

        bayes = BayesPart(None, None, None, {}, "Bayesian fits skipped (--ml-only)")

    def eff(fit):
        return None if fit is None else fit.effects_table()
    tabs = [
        tb.moran_table(ml.moran, assumption, w.name),
        tb.spec_tests_table(ml.fe_tests, ml.lm, ml.ml_tests, ml.fe_model, spec.fe,
                            spec.correction),
        tb.models_table(ml.fits, ml.r2, panel.x_names, spec.fe, spec.correction),
        tb.effects_table(ml.fits["sdm"], eff(bayes.pooled), bayes.draws_note),
        tb.regions_table(ml.by_region, eff(bayes.separate), eff(bayes.hierarchical),
                         bayes.draws_note),
    ]
    folder = Path(out) / "tables"
    paths = []
    for t in tabs:
        paths += t.write(folder)
    from ..io import write_text

    paths.append(write_text(folder / "README.md", readme(inputs, spec, tabs, bayes, command)))
    return StudyResult(ml, bayes, tabs, paths)


def readme(inputs, spec, tabs, bayes, command: str) -> str:
    """``tables/README.md``: what each table is, the data, and separate vs hierarchical."""
    from .. import __version__

    p = inputs.panel
    diag = ", ".join(f"{k}: {'passed' if d.passed else 'FAILED'}"
                     for k, d in bayes.diagnostics.items()) or "none (no Bayesian fit)"
    lines = [f"# The seed study's tables: {inputs.label}", "",
             f"Written by `{command or 'bayes_sdm.study.write_study'}` (bayes_sdm "
             f"{__version__}). Data: {inputs.label}, N = {p.N} units x T = {p.T} periods, "
             f"y = {p.y_name}, x = {', '.join(p.x_names)}; W: {inputs.w.name}. ML: "
             f"{spec.fe} fixed effects, likelihood convention '{spec.correction}', lag "
             f"convention {spec.lag_convention}. Bayesian fits: {bayes.draws_note}; "
             f"convergence diagnostics {diag}.", ""]
    if inputs.truth:
        lines += ["**The bundled synthetic panel is simulated, not real data**: its true "
                  "effects are stored with the dataset (`load_dataset(...).truth`).", ""]
    lines += ["Each table comes as `.csv` (the numbers at full precision, one row per "
              "quantity, with p-values and stars), `.md` and `.tex` (LaTeX, `booktabs`).", ""]
    lines += [f"- `{t.name}`: {t.title}" for t in tabs]
    lines += ["", STAR_NOTE, "", "## Separate regional fits and the hierarchical model", "",
              "Table 5 shows two ways of estimating regional effects. The *separate fits* are "
              "the seed study's design: the sample is split into the regions and the SDM is "
              "fitted to each part alone, by ML and by Bayes, with W restricted to the "
              "region's units and its rows standardised again, and with the region's own unit "
              "and time effects; spillovers across regional borders are dropped by "
              "construction and each region's estimates use only its own data. The "
              "*hierarchical model* keeps the same regional W blocks and fixed effects but "
              "draws the regions' coefficients (and spatial parameters) from common "
              "distributions whose spread is estimated: a region whose data say little is "
              "pulled towards the others (partial pooling), a region with clear evidence keeps "
              "its own estimate. The separate fits say what each region's data say alone; the "
              "hierarchical model says what each region's effect is given that the regions "
              "resemble each other as much as the data show. Where a region's separate interval "
              "is wide, its hierarchical estimate moves towards the other regions and its "
              "interval narrows; where the data are strong the two agree. That one region's "
              "separate estimate is significant and another's is not is not a test of a "
              "difference between them; the hierarchical model's region contrasts are "
              "(`fit_region.py --pooling partial`, `region_contrasts.csv`).", ""]
    return "\n".join(lines)
