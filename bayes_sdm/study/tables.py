"""The five tables of the seed study, built from the package's results (no number typed in).

Each builder takes results computed by :mod:`bayes_sdm.study.compute` and returns a
:class:`~bayes_sdm.study.format.StudyTable`: ``numbers`` (full precision, the CSV) and
``display`` (formatted, Markdown and LaTeX).

1. :func:`moran_table` -- global Moran's I, year x variable (:func:`bayes_sdm.moran.moran_table`);
2. :func:`spec_tests_table` -- LR tests of unit / time effects on the non-spatial model, LM and
   robust LM, Wald and LR SDM -> SLM / SEM (:mod:`bayes_sdm.spectests`,
   :mod:`bayes_sdm.hypothesis`);
3. :func:`models_table` -- SLM, SEM and SDM side by side (:func:`bayes_sdm.ml.fit_ml`);
4. :func:`effects_table` -- SDM direct / indirect / total effects, ML beside the posterior;
5. :func:`regions_table` -- the same by region: separate ML and Bayesian fits and the
   hierarchical model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..hypothesis import fe_test_key
from ..reporting import HDI_PROB
from .format import STAR_NOTE, StudyTable, num, pval, starred, stars

EFFECTS = ("direct", "indirect", "total")
#: display names of the three models (the seed study's SLM for the spatial lag model)
MODEL_LABEL = {"sar": "SLM", "sem": "SEM", "sdm": "SDM"}
HDI_LO, HDI_HI = "hdi_3%", "hdi_97%"


# ----------------------------------------------------------------------------- 1. Moran
def moran_table(mt: pd.DataFrame, assumption: str, w_name: str) -> StudyTable:
    """Year x variable grid of Moran's I with stars, z beneath (``mt`` from
    :func:`bayes_sdm.moran.moran_table`)."""
    mt = mt.copy()
    mt["stars"] = [stars(p) for p in mt.p]
    variables = list(dict.fromkeys(mt.variable))
    rows = []
    for year, g in mt.groupby("year", sort=True):
        g = g.set_index("variable")
        rows.append([str(year)] + [starred(g.loc[v, "I"], g.loc[v, "p"]) for v in variables])
        rows.append([""] + [f"({num(g.loc[v, 'z'], 2)})" for v in variables])
    display = pd.DataFrame(rows, columns=["year", *variables])
    notes = [f"Global Moran's I of each variable in each year; W: {w_name}. Inference under the "
             f"{assumption} assumption (Cliff & Ord 1981): z = (I - E[I]) / sd(I), "
             "E[I] = -1/(N-1), in parentheses beneath; stars from the two-sided p-value of z "
             "against N(0, 1).", STAR_NOTE]
    return StudyTable("table1_moran", "Table 1. Global Moran's I by year", mt, display, notes)


# ----------------------------------------------------------------------------- 2. tests
def spec_tests_table(fe_tests: dict, lm: pd.DataFrame, ml_tests: dict, fe_model: str,
                     fe: str, correction: str) -> StudyTable:
    """Statistic, df, p of the specification tests (module docstring)."""
    rows = []
    lab = fe_model.upper()
    for which in ("unit", "time"):
        v = fe_tests[fe_test_key(which, fe_model)]
        rows.append({"test": f"LR {which} effects", "model": f"{lab}, two-way vs "
                     f"{'time' if which == 'unit' else 'unit'} FE (direct likelihood)",
                     **_stat(v)})
    for r in lm.itertuples(index=False):
        rows.append({"test": r.test, "model": f"{lab}, {fe} FE residuals",
                     "statistic": r.statistic, "df": int(r.df), "p": r.p})
    for key, name, model in (("sdm_vs_sar_wald", "Wald SDM→SLM (θ = 0)", "SDM"),
                             ("sdm_vs_sar_lr", "LR SDM→SLM (θ = 0)", "SDM vs SLM"),
                             ("sdm_vs_sem_wald", "Wald SDM→SEM (θ = −ρβ)", "SDM"),
                             ("sdm_vs_sem_lr", "LR SDM→SEM (θ = −ρβ)", "SDM vs SEM")):
        rows.append({"test": name, "model": f"{model}, {fe} FE ML ({correction})",
                     **_stat(ml_tests[key])})
    numbers = pd.DataFrame(rows)
    numbers["stars"] = [stars(p) for p in numbers.p]
    display = pd.DataFrame({"test": numbers.test, "computed on": numbers.model,
                            "statistic": [starred(s, p) for s, p in
                                          zip(numbers.statistic, numbers.p, strict=True)],
                            "df": numbers.df.astype(int).astype(str),
                            "p": [pval(p) for p in numbers.p]})
    notes = ["LR tests of the fixed effects on the non-spatial model (as the seed study), with "
             "the direct-approach likelihood (NT observations) so that different fixed effects "
             "are comparable; LM tests on the residuals of the non-spatial model with the "
             "fixed effects (Elhorst 2014); Wald and LR tests of the SDM's restrictions from ML "
             "fits. All statistics chi-squared with df degrees of freedom.", STAR_NOTE]
    return StudyTable("table2_spec_tests", "Table 2. Specification tests", numbers, display,
                      notes)


def _stat(v: dict) -> dict:
    return {"statistic": v["statistic"], "df": int(v["df"]), "p": v["p"]}


# ----------------------------------------------------------------------------- 3. models
def models_table(fits: dict, r2: dict, x_names, fe: str, correction: str) -> StudyTable:
    """SLM, SEM and SDM side by side. ``fits``: model name -> MLResult; ``r2``: model name ->
    :func:`~bayes_sdm.study.fitstats.r2_measures`."""
    models = [m for m in ("sar", "sem", "sdm") if m in fits]
    rows = []
    for m in models:
        res = fits[m]
        t = res.table().set_index("parameter")
        for par in t.index:
            if par in ("loglik", "aic", "bic"):
                continue
            rows.append({"model": MODEL_LABEL[m], "parameter": par, "estimate": t.loc[par,
                         "estimate"], "se": t.loc[par, "se"], "z": t.loc[par, "z"],
                         "p": t.loc[par, "p"]})
        for par, val in (("r2_within", r2[m]["r2_within"]), ("r2_corr", r2[m]["r2_corr"]),
                         ("loglik", res.loglik), ("aic", res.aic), ("N", res.N), ("T", res.T)):
            rows.append({"model": MODEL_LABEL[m], "parameter": par, "estimate": val,
                         "se": np.nan, "z": np.nan, "p": np.nan})
    numbers = pd.DataFrame(rows)
    numbers["stars"] = [stars(p) for p in numbers.p]
    lookup = {(r.model, r.parameter): r for r in numbers.itertuples(index=False)}
    labels = [MODEL_LABEL[m] for m in models]
    grid = []

    def coef_rows(par: str, label: str):
        if not any((lab, par) in lookup for lab in labels):
            return
        grid.append([label] + [starred(lookup[lab, par].estimate, lookup[lab, par].p)
                               if (lab, par) in lookup else "" for lab in labels])
        grid.append([""] + [f"({num(lookup[lab, par].se)})" if (lab, par) in lookup else ""
                            for lab in labels])

    for x in x_names:
        coef_rows(f"beta[{x}]", x)
    for x in x_names:
        coef_rows(f"theta[{x}]", f"W·{x}")
    coef_rows("rho", "ρ")
    coef_rows("lambda", "λ")
    for par, label, digits in (("sigma2", "σ²", 4), ("r2_within", "R² within", 4),
                               ("r2_corr", "corr²(fitted, y)", 4), ("loglik", "LogL", 2),
                               ("aic", "AIC", 2), ("N", "N", 0), ("T", "T", 0)):
        grid.append([label] + [num(lookup[lab, par].estimate, digits) if digits else
                               str(int(lookup[lab, par].estimate)) for lab in labels])
    display = pd.DataFrame(grid, columns=["", *labels])
    notes = [f"ML with {fe} fixed effects (likelihood convention '{correction}'); standard "
             "errors (analytic information matrix) in parentheses; stars from the two-sided "
             "z-test. R² within: squared correlation of the FE-transformed y with the "
             "reduced-form prediction (I - ρW)^-1 (Xβ + WXθ), as Stata's xsmle prints for FE "
             "models; corr²(fitted, y): squared correlation of the transformed y with the "
             "model's fitted values (ρWy included). AIC = -2 LogL + 2k.", STAR_NOTE]
    return StudyTable("table3_models", "Table 3. SLM, SEM and SDM with two-way fixed effects "
                      "(ML)", numbers, display, notes)


# ----------------------------------------------------------------------------- 4. effects
def ml_effect_rows(res) -> pd.DataFrame:
    """variable, effect, estimate, se, z, p (two-sided normal) of an ML fit's effects
    (delta method, :meth:`bayes_sdm.ml.MLResult.effects`)."""
    e = res.effects()
    return pd.DataFrame({"variable": e.variable, "effect": e.effect, "estimate": e["mean"],
                         "se": e.se, "z": e.z, "p": e.p_value})


def effects_table(ml_res, post: pd.DataFrame | None, draws_note: str) -> StudyTable:
    """ML effects with SE, z, p, stars beside the posterior mean, sd, 94% HDI, P(effect > 0)
    (``post``: :meth:`bayes_sdm.result.FitResult.effects_table`; None: ML only)."""
    ml = ml_effect_rows(ml_res)
    if post is None:
        post = pd.DataFrame(columns=["variable", "effect", "mean", "sd", HDI_LO, HDI_HI,
                                     "prob_positive"], dtype=float)
    p = post.rename(columns={"mean": "post_mean", "sd": "post_sd", HDI_LO: "hdi_low",
                             HDI_HI: "hdi_high", "prob_positive": "p_positive"})
    numbers = ml.merge(p[["variable", "effect", "post_mean", "post_sd", "hdi_low", "hdi_high",
                          "p_positive"]], on=["variable", "effect"], how="left")
    numbers["stars"] = [stars(v) for v in numbers.p]
    order = {e: i for i, e in enumerate(EFFECTS)}
    xs = list(dict.fromkeys(ml.variable))
    numbers = numbers.sort_values(["effect", "variable"], key=lambda s: s.map(order) if
                                  s.name == "effect" else s.map({x: i for i, x in
                                                                 enumerate(xs)}))
    numbers = numbers.reset_index(drop=True)
    display = pd.DataFrame({
        "effect": numbers.effect, "variable": numbers.variable,
        "ML": [starred(v, q) for v, q in zip(numbers.estimate, numbers.p, strict=True)],
        "SE": [num(v) for v in numbers.se], "z": [num(v, 2) for v in numbers.z],
        "p": [pval(v) for v in numbers.p],
        "posterior mean": [num(v) for v in numbers.post_mean],
        "sd": [num(v) for v in numbers.post_sd],
        f"{HDI_PROB:.0%} HDI": [f"[{num(a)}, {num(b)}]" for a, b in
                                zip(numbers.hdi_low, numbers.hdi_high, strict=True)],
        "P(>0)": [num(v, 2) for v in numbers.p_positive]})
    if numbers.post_mean.isna().all():
        display = display.iloc[:, :6]
    notes = ["SDM with two-way fixed effects; effects after LeSage & Pace (2009): direct = "
             "mean diagonal of S_k = (I - ρW)^-1 (β_k I + θ_k W), total = mean row sum, "
             "indirect = total - direct (exact, no trace approximation). ML: delta-method SE, "
             "z and two-sided p. Posterior: mean, sd, 94% highest-density interval and "
             f"posterior probability of a positive effect; {draws_note}.", STAR_NOTE]
    return StudyTable("table4_effects", "Table 4. Direct, indirect and total effects of the "
                      "SDM (ML and posterior)", numbers, display, notes)


# ----------------------------------------------------------------------------- 5. regions
def regions_table(ml_by_region: dict, separate: pd.DataFrame | None,
                  hier: pd.DataFrame | None, draws_note: str) -> StudyTable:
    """By region: separate ML fits (estimate, SE, stars), separate Bayesian fits and the
    hierarchical model (posterior mean, 94% HDI). ``separate`` / ``hier``: regional
    effects tables (:meth:`bayes_sdm.result.FitResult.effects_table`)."""
    parts = []
    for region, res in ml_by_region.items():
        r = ml_effect_rows(res)
        r.insert(0, "region", str(region))
        parts.append(r)
    numbers = pd.concat(parts, ignore_index=True)

    def post(df, tag):
        if df is None:
            df = pd.DataFrame(columns=["region", "variable", "effect", "mean", "sd", HDI_LO,
                                       HDI_HI, "prob_positive"])
            df[["mean", "sd", HDI_LO, HDI_HI, "prob_positive"]] = \
                df[["mean", "sd", HDI_LO, HDI_HI, "prob_positive"]].astype(float)
        d = df.copy()
        d["region"] = d["region"].astype(str)
        d = d.rename(columns={"mean": f"{tag}_mean", "sd": f"{tag}_sd", HDI_LO: f"{tag}_hdi_low",
                              HDI_HI: f"{tag}_hdi_high", "prob_positive": f"{tag}_p_positive"})
        keep = ["region", "variable", "effect"] + [c for c in d.columns if c.startswith(tag)]
        return d[keep]

    numbers = numbers.merge(post(separate, "separate"), on=["region", "variable", "effect"],
                            how="left")
    numbers = numbers.merge(post(hier, "hier"), on=["region", "variable", "effect"], how="left")
    numbers["stars"] = [stars(v) for v in numbers.p]
    regions = region_order(ml_by_region)
    bayes = not numbers.separate_mean.isna().all()
    grid = []
    for eff in EFFECTS:
        for x in dict.fromkeys(numbers.variable):
            row = [eff, x]
            for g in regions:
                r = numbers[(numbers.region == str(g)) & (numbers.variable == x)
                            & (numbers.effect == eff)].iloc[0]
                row.append(starred(r.estimate, r.p) + f" ({num(r.se)})")
                if bayes:
                    row += [_post_cell(r.separate_mean, r.separate_hdi_low,
                                       r.separate_hdi_high),
                            _post_cell(r.hier_mean, r.hier_hdi_low, r.hier_hdi_high)]
            grid.append(row)
    cols = ["effect", "variable"]
    for g in regions:
        cols += [f"{g}: ML"] + ([f"{g}: Bayes separate", f"{g}: hierarchical"] if bayes
                                else [])
    display = pd.DataFrame(grid, columns=cols)
    notes = ["Each region fitted separately with its own W (rows re-standardised inside the "
             "region) and its own two-way fixed effects, as the seed study does: ML (estimate, "
             "stars from the delta-method z-test, SE in parentheses) and the Bayesian SDM "
             "without pooling (posterior mean [94% HDI]); 'hierarchical': the partially "
             "pooled model (regions' coefficients drawn from common distributions, same "
             f"block W); {draws_note}. See README.md for the difference.", STAR_NOTE]
    return StudyTable("table5_regions", "Table 5. Effects by region: separate fits and the "
                      "hierarchical model", numbers, display, notes)


def region_order(names) -> list[str]:
    """East, central, west (the seed study's order) when those are the regions, else sorted."""
    names = [str(n) for n in names]
    study = ["east", "central", "west"]
    if sorted(n.lower() for n in names) == sorted(study):
        return sorted(names, key=lambda n: study.index(n.lower()))
    return sorted(names)


def _post_cell(m, lo, hi) -> str:
    if m is None or not np.isfinite(m):
        return ""
    return f"{num(m)} [{num(lo)}, {num(hi)}]"
