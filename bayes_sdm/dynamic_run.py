"""Fitting and writing a dynamic spatial panel (``fit_region.py --dynamic``; ``dynamic: true``
in a spec): maximum likelihood (:mod:`bayes_sdm.dynamic`) and the Bayesian model
(:mod:`bayes_sdm.dynamic_bayes`), their short- and long-run effects and the run folder.

Files (as for a static fit, effects tables with a ``horizon`` column, ``short`` | ``long``):
``posterior.nc`` (posterior with ``effects`` (horizon, effect, coef) and the provenance
attributes), ``summary.csv``, ``effects.csv``, ``diagnostics.json``; with ``--ml`` /
``--ml-only`` ``ml.csv`` and ``ml_effects.csv``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .dynamic import DynamicData, fit_dynamic_ml, prepare_dynamic
from .errors import EXIT_OK, InputError
from .reporting import flat_summary, format_table, horizon_effects_table

#: ``--ml-correction`` -> the dynamic ML correction (``transform``, the static default, means
#: the Yu-de Jong-Lee bias-corrected estimator here)
ML_CORRECTION = {"transform": "bias", "bias": "bias", "none": "none"}


@dataclass
class DynamicFit:
    """A Bayesian dynamic fit: the DataTree, the data and the stage times."""

    idata: object
    data: DynamicData
    timings: dict = field(default_factory=dict)

    def summary_table(self) -> pd.DataFrame:
        post = self.idata["posterior"]
        names = [v for v in ("rho", "lambda", "tau", "eta", "beta", "theta", "sigma2",
                             "sigma_mu", "psi") if v in post.data_vars]
        cols = ["parameter", "mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk",
                "ess_tail"]
        return flat_summary(self.idata, names)[cols]

    def effects_table(self) -> pd.DataFrame:
        """horizon, variable, effect, mean, sd, hdi_3%, hdi_97%, prob_positive."""
        return horizon_effects_table(self.idata["posterior"]["effects"])

    def diagnostics(self):
        from .diagnostics import diagnose

        post = self.idata["posterior"]
        names = [v for v in ("rho", "lambda", "tau", "eta", "beta", "theta", "sigma2",
                             "sigma_mu", "psi", "effects") if v in post.data_vars]
        if self.data.restricted:
            names.remove("eta")  # a function of tau and rho
        return diagnose(self.idata, var_names=names)


def fit_dynamic_bayes(dd: DynamicData, spec, mu: str = "cre", progressbar: bool = False,
                      stages=None, provenance: dict | None = None) -> DynamicFit:
    """Sample the Bayesian dynamic model with the spec's priors and sampler; add the short- and
    long-run effects of every draw."""
    import xarray as xr

    from .dynamic_bayes import build_dynamic_model, effects_draws
    from .progress import as_stages
    from .sampling import sample_nuts

    stages = as_stages(stages)
    if spec.sampler.kind != "nuts":
        raise InputError("the dynamic panel is sampled with NUTS (the exact sampler covers "
                         "static models with one spatial parameter)")
    t0 = time.perf_counter()
    with stages.stage("building the dynamic model"):
        if dd.family.error:  # SEM / SDEM (bayes_sdm.dynamic_error_bayes)
            from .dynamic_error_bayes import build_dynamic_error_model

            if mu != "cre":
                raise InputError("the Bayesian dynamic SEM / SDEM has correlated random "
                                 "effects only")
            model = build_dynamic_error_model(dd, spec.priors)
        else:
            model = build_dynamic_model(dd, spec.priors, mu=mu)
    with stages.stage("compiling and sampling the dynamic model",
                      own_output=progressbar and stages.on_terminal):
        idata = sample_nuts(model, spec.sampler, spec.sampler.seed, progressbar=progressbar)
    t1 = time.perf_counter()
    with stages.stage("short- and long-run effects"):
        post = idata["posterior"].to_dataset()
        post["effects"] = effects_draws(dd, post)
        idata["posterior"] = xr.DataTree(post)
    idata.attrs.update(provenance or {})
    idata.attrs.update({"dynamic_form": dd.form, "unit_effects": mu})
    t2 = time.perf_counter()
    return DynamicFit(idata, dd, {"sample_s": t1 - t0, "effects_s": t2 - t1, "fit_s": t2 - t0})


def _provenance(dd: DynamicData, spec, panel, w) -> dict:
    from . import __version__
    from .api import dependency_versions
    from .prepared import data_hash

    return {"bayes_sdm_version": __version__, "spec": spec.to_yaml(), "spec_hash": spec.hash(),
            "data_hash": data_hash(panel, w),
            "dependencies": json.dumps(dependency_versions()), "model": dd.family.name,
            "fe": dd.fe, "N": str(dd.N), "T": str(dd.T), "weights": w.name,
            "logdet_method": getattr(dd.logdet, "method", "none"), "dynamic": "true"}


def fit_and_write_dynamic(a, spec, inputs, out: Path, stages):
    """The CLI's dynamic branch: (exit code, the fit or None, its diagnostics, a note)."""
    from .io import save_fit, write_csv, write_json
    from .runfolder import write_ml

    q = a.quiet
    panel, w = inputs.panel, inputs.w
    ml_res = None
    from . import families

    error = families.get(spec.model).error and not families.get(spec.model).lag
    t0 = time.perf_counter()
    with stages.stage("dynamic panel: transform and log-determinant"):
        if error:  # SEM / SDEM: the spatial-error likelihood (ML only)
            from .dynamic_error import prepare_dynamic_error

            dd = prepare_dynamic_error(panel, w, spec.model, spec.fe, spec.dynamic_form,
                                       spec.logdet)
        else:
            dd = prepare_dynamic(panel, w, spec.model, spec.fe, spec.dynamic_form,
                                 spec.logdet)
    t_prep = time.perf_counter() - t0
    if a.ml or a.ml_only:
        corr = ML_CORRECTION[a.ml_correction]
        with stages.stage(f"dynamic maximum likelihood (correction {corr})"):
            if error:
                from .dynamic_error import fit_dynamic_error_ml

                ml_res = fit_dynamic_error_ml(dd, corr)
            else:
                ml_res = fit_dynamic_ml(dd, corr)
            write_ml(out, ml_res)
        if not q:
            print(f"\nDynamic maximum likelihood (Yu, de Jong & Lee 2008; correction={corr})")
            print(format_table(ml_res.table()))
            print("\nML short- and long-run effects (delta-method se)")
            print(format_table(ml_res.effects()[["horizon", "variable", "effect", "mean",
                                                 "se"]]))
        if a.ml_only:
            return EXIT_OK, None, None, "wrote ml.csv, ml_effects.csv"
    fit = fit_dynamic_bayes(dd, spec, progressbar=not (a.no_progress or q), stages=stages,
                            provenance=_provenance(dd, spec, panel, w))
    with stages.stage("tables and diagnostics"):
        summ = fit.summary_table()
        eff = fit.effects_table()
        diag = fit.diagnostics()
    with stages.stage("writing posterior.nc and tables"):
        save_fit(fit.idata, out / "posterior.nc")
        write_csv(out / "summary.csv", summ)
        write_csv(out / "effects.csv", eff)
        dd_rec = diag.to_dict()
        dd_rec.update({"data_hash": fit.idata.attrs.get("data_hash"),
                       "spec_hash": fit.idata.attrs.get("spec_hash"),
                       "wall_time_s": round(fit.timings["fit_s"], 3), "prepare_s":
                       round(t_prep, 3), "dynamic_form": dd.form, "unit_effects": "cre"})
        dd_rec["timings_s"] = {k: round(float(v), 3) for k, v in
                               {**fit.timings, **stages.times}.items()}
        write_json(out / "diagnostics.json", dd_rec)
    figures = write_dynamic_report(fit, panel, out, summ, eff, diag, ml_res, stages) \
        if a.plots else []
    if not q:
        print("\nPosterior (mean, sd, 94% HDI; unit effects: correlated random effects)")
        print(format_table(summ))
        print("\nShort- and long-run effects (Debarsy, Ertur & LeSage 2012)")
        print(format_table(eff))
    return EXIT_OK, fit, diag, (f"wrote {len(figures)} figures in figures/, report.md and "
                                "report.html" if figures else "")


def write_dynamic_report(fit: DynamicFit, panel, out: Path, summary, effects, diag,
                         ml_res=None, stages=None) -> list[Path]:
    """``figures/*.png`` (:func:`bayes_sdm.dynamic_predictive.write_dynamic_plots`),
    ``report.md`` and ``report.html`` of a dynamic fit; returns the figure paths."""
    from .dynamic_predictive import write_dynamic_plots
    from .progress import as_stages
    from .report import write_report

    stages = as_stages(stages)
    figures = write_dynamic_plots(fit, panel, out / "figures", ml_result=ml_res,
                                  progress=stages, diagnostics=diag)
    dd = fit.data
    eq = ("y_t = tau y_(t-1) + rho W y_t + eta W y_(t-1) + X_t beta + W X_t theta + mu + "
          "alpha_t + eps_t" if dd.family.lag else
          "y_t = tau y_(t-1) + eta W y_(t-1) + X_t beta + W X_t theta + u_t, u_t = lambda W "
          "u_t + mu + alpha_t + eps_t")
    notes = [f"Dynamic spatial panel ({dd.form} form; Yu, de Jong & Lee 2008): {eq}, "
             "conditional on the first period. Unit effects: correlated random effects "
             "(Wooldridge 2005) on y_0, W y_0 and the time means of X and WX, integrated out. "
             "The effects table has short- and long-run rows (Debarsy, Ertur & LeSage 2012). "
             "Predictive replicates keep the observed first period and draw the later ones "
             "recursively from one posterior draw (the unit effects' random part from its "
             "conditional posterior)."]
    with stages.stage("report.md and report.html"):
        write_report(out, summary, effects, diag, None, figures, provenance=fit.idata,
                     notes=notes)
    return figures
