"""The seed study's model-selection pipeline, classical and Bayesian, as functions and a CLI.

Order of the study (Elhorst 2010, "Applied spatial econometrics: raising the bar", Spatial
Econ. Anal. 5:9-28; Elhorst 2014, *Spatial Econometrics*, sec. 3.5; LeSage 2014):

1. global Moran's I of every variable in every year (:func:`bayes_sdm.moran.moran_table`);
2. LM-lag / LM-error and their robust versions on the fixed-effect-transformed non-spatial model
   (:func:`bayes_sdm.spectests.lm_tests`);
3. if the non-spatial model is rejected, the SDM is estimated by ML and tested for reduction to
   the SAR (H0: theta = 0) and to the SEM (H0: theta + rho beta = 0) by LR and Wald tests
   (:mod:`bayes_sdm.ml`, :mod:`bayes_sdm.hypothesis`);
4. the fixed effects by LR tests of the unit and of the time effects
   (:func:`bayes_sdm.hypothesis.fe_lr_tests`);
5. posterior model probabilities of OLS, SLX, SAR, SDM, SEM, SDEM from log marginal
   likelihoods (:func:`bayes_sdm.marginal.log_marginals`).

Classical decision (Elhorst 2010, p. 14): both SDM restrictions rejected -> SDM; theta = 0 not
rejected and the robust LM tests point to the lag -> SAR; theta + rho beta = 0 not rejected and
the robust LM tests point to the error -> SEM; otherwise SDM (it nests both).  No spatial
dependence in the LM tests and no rejection -> the non-spatial model.  Overall statement: the
Bayesian top model when it agrees with the classical choice; when they disagree, the Bayesian
top model if its posterior probability is at least ``decisive`` (0.9), else the classical one,
with both reported.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import families
from .errors import InputError
from .marginal import ALL_MODELS, MARGINAL_MODELS, log_marginals
from .moran import moran_table
from .panel import FE_TYPES, Panel, check_not_absorbed
from .spectests import lm_tests
from .weights import SpatialWeights

LM_COLUMNS = ["test", "statistic", "df", "p"]
PROB_COLUMNS = ["model", "fe", "log_marginal", "probability"]
FE_WORDS = {"twoway": "two-way (unit and time) fixed effects", "unit": "unit fixed effects",
            "time": "time fixed effects", "none": "no fixed effects"}


@dataclass
class SelectionResult:
    """Everything the pipeline computed, with the decision and a Markdown report."""

    moran: pd.DataFrame
    lm_tests: pd.DataFrame
    probabilities: pd.DataFrame
    fe: str
    alpha: float
    decision: dict
    meta: dict = field(default_factory=dict)

    def markdown(self) -> str:
        """The short ``selection.md``: which model the evidence favours and why."""
        d, m, a = self.decision, self.meta, self.alpha
        lines = [f"# Model selection{': ' + m['label'] if m.get('label') else ''}", ""]
        lines.append(
            f"Data: N = {m.get('N')} units x T = {m.get('T')} periods; y = {m.get('y')}; "
            f"x = {', '.join(m.get('x', []))}; W = {m.get('w')}. Fixed effects analysed: "
            f"{FE_WORDS[self.fe]} (Lee-Yu transformation). Significance level {a:g}.")
        lines += ["", f"**The evidence favours the {d['favoured'].upper()} with "
                  f"{FE_WORDS[d['favoured_fe']]}.** {d['why']}", ""]
        lines += ["## 1. Spatial autocorrelation (global Moran's I, normal approximation)", ""]
        lines += d["moran_lines"] + [""]
        lines += [f"## 2. LM tests ({FE_WORDS[self.fe]}; "
                  f"{m.get('lm_convention', 'elhorst')} convention)", ""]
        lines += _md_table(self.lm_tests[self.lm_tests.test.isin(
            ["LM-lag", "LM-error", "robust LM-lag", "robust LM-error"])]) + ["", d["lm_text"], ""]
        lines += ["## 3. SDM against SAR and SEM (ML)", ""]
        rest = self.lm_tests[~self.lm_tests.test.isin(
            ["LM-lag", "LM-error", "robust LM-lag", "robust LM-error"])]
        if len(rest):
            lines += _md_table(rest) + [""]
        lines += [d["sdm_text"], "", "## 4. Fixed effects", "", d["fe_text"], ""]
        lines += ["## 5. Bayesian comparison (posterior model probabilities, equal prior odds)", ""]
        pr = self.probabilities[self.probabilities.fe == self.fe]
        lines += _md_table(pr[PROB_COLUMNS]) + ["", d["bayes_text"], ""]
        lines += ["## Notes", ""] + [f"- {n}" for n in d["notes"]] + [""]
        return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3e}"
        return f"{v:.4f}"
    return str(v)


def _md_table(df: pd.DataFrame) -> list[str]:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        out.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return out


# ----------------------------------------------------------------------------- ML tests
ML_TEST_NAMES = {
    "sdm_vs_sar_lr": "LR SDM vs SAR (theta = 0)",
    "sdm_vs_sar_wald": "Wald SDM vs SAR (theta = 0)",
    "sdm_vs_sem_lr": "LR SDM vs SEM (theta = -rho beta)",
    "sdm_vs_sem_wald": "Wald SDM vs SEM (common factor)",
}


def ml_test_name(key: str, value: dict | None = None) -> str:
    """The label of a ``tests.json`` key; the FE tests name the model they are computed on
    (``LR unit effects (OLS)`` vs ``LR unit effects (SDM)``: different tests)."""
    if key in ML_TEST_NAMES:
        return ML_TEST_NAMES[key]
    for which in ("unit", "time"):
        prefix = f"{which}_effects_lr_"
        if key.startswith(prefix):
            model = (value or {}).get("model", key[len(prefix):])
            return f"LR {which} effects ({str(model).upper()})"
    return key


def ml_tests(panel: Panel, w: SpatialWeights, fe: str, correction: str = "transform",
             lag_convention: str = "QWy", fe_test_model: str = "ols"
             ) -> tuple[pd.DataFrame, list[str]]:
    """LR / Wald tests of SDM -> SAR / SEM (ML fits with ``fe``, ``correction``,
    ``lag_convention``) and LR tests of the unit and time effects, from
    :func:`bayes_sdm.hypothesis.all_tests`.

    The FE tests use ``fe_test_model`` (default the non-spatial model, as in Elhorst 2014,
    Table 3.2, whose cigar values 2315.7 and 473.1 they reproduce) with the direct-approach
    likelihood.  Returns the table (test, statistic, df, p) and notes on skipped tests.
    """
    from .hypothesis import all_tests
    from .prepared import build

    notes: list[str] = []
    # fe none: with an intercept, as fit_region (bayes_sdm.intercept)
    raw = all_tests(build(panel, w, fe_test_model, "intercept" if fe == "none" else fe,
                          correction, lag_convention), correction,
                    fe_test_models=(fe_test_model,))
    rows = []
    for key, v in raw.items():
        name = ml_test_name(key, v)
        if "statistic" not in v:
            notes.append(f"{name}: not computed ({v.get('skipped', 'no statistic')}).")
            continue
        rows.append({"test": name, "statistic": v["statistic"], "df": v["df"], "p": v["p"]})
    if families.get(fe_test_model) is not families.SDM:
        notes.append(f"LR tests of the fixed effects on the {fe_test_model.upper()} model with "
                     "the direct-approach likelihood (NT observations), as Elhorst (2014).")
    h_rows, h_notes = hausman_rows(panel, w, lag_convention)
    return pd.DataFrame(rows + h_rows, columns=LM_COLUMNS), notes + h_notes


def hausman_rows(panel: Panel, w: SpatialWeights, lag_convention: str = "QWy"
                 ) -> tuple[list[dict], list[str]]:
    """The spatial Hausman tests of unit fixed against unit random effects for the SAR and the
    SEM (:mod:`bayes_sdm.hausman`, splm's ``sphtest`` convention) and beside each its Bayesian
    counterpart (:func:`bayes_sdm.cre.re_vs_cre`: random against correlated random effects by
    leave-one-unit-out ELPD, and the posterior of the Mundlak coefficients), as table rows, and
    notes comparing the fits (or saying why they were not computed)."""
    from .cre import re_vs_cre
    from .hausman import spatial_hausman
    from .prepared import build

    rows, notes = [], []
    for fam in (families.SAR, families.SEM):
        name = f"Hausman FE vs RE ({fam.name.upper()})"
        try:
            prep = build(panel, w, fam, "unit", "none", lag_convention)
            h = spatial_hausman(prep)
        except InputError as err:
            notes.append(f"{name}: not computed ({err}).")
            continue
        rows.append({"test": name, "statistic": h["statistic"], "df": h["df"],
                     "p": h["p_value"]})
        notes.append(
            f"{name}: unit FE (direct approach) log-likelihood {h['loglik_fe']:.2f} vs unit "
            f"random effects {h['loglik_re']:.2f} (the two likelihoods are of different "
            "models and are not compared directly); a small p rejects random effects "
            "(unit effects correlated with the regressors), so fixed effects are preferred."
            + ("" if h["v_diff_positive_definite"] else
               " V_FE - V_RE is not positive definite here; the statistic is |d'(V_FE - "
               "V_RE)^-1 d| as splm's sphtest."))
        bname = f"Bayes {fam.name.upper()}"
        try:
            b = re_vs_cre(panel, w, fam, prep.logdet or "auto")
        except InputError as err:
            notes.append(f"{bname} RE vs CRE: not computed ({err}).")
            continue
        mund = b["mundlak"]
        rows.append({"test": f"{bname}: ELPD CRE - RE", "statistic": b["elpd_diff"],
                     "df": np.nan, "p": np.nan})
        rows.append({"test": f"{bname}: Mundlak coefficients = 0 (posterior tail prob.)",
                     "statistic": mund["distance_zero"], "df": len(mund["coefficients"]),
                     "p": mund["tail_probability_zero"]})
        outside = [n for n, c in mund["coefficients"].items() if not c["hdi_covers_zero"]]
        notes.append(
            f"{bname} (the Bayesian counterpart of the Hausman test): {b['verdict']}. "
            f"Leave-one-unit-out ELPD: RE {b['elpd_re']:.1f}, CRE {b['elpd_cre']:.1f}; "
            f"Mundlak coefficients whose {mund['hdi_prob']:.0%} HDI excludes 0: "
            f"{', '.join(outside) if outside else 'none'}."
            + (f" Pareto k up to {b['pareto_k_max']:.2f} (> 0.7): the PSIS estimate is "
               "unreliable for some units; read the ELPD difference with care."
               if b["pareto_k_max"] > 0.7 else ""))
    if rows:
        notes.append(
            "FE/RE in Bayesian terms: the FE likelihood is of the Lee-Yu transformed data and "
            "the RE likelihood of all NT observations, so their ELPDs or marginal likelihoods "
            "are not comparable; instead RE is compared with correlated random effects (the "
            "unit effect's mean depends on the unit means of X: Mundlak 1978, whose beta is "
            "the within estimator), both with the unit effects integrated out on the same "
            "data, by PSIS-LOO on exact leave-one-unit-out conditionals (flat priors, exact "
            "grid posterior); the 'statistic' of the Mundlak row is the posterior Mahalanobis "
            "distance of 0 and its 'p' the posterior probability of a larger distance.")
    return rows, notes


def _find(tab: pd.DataFrame, *needles: str) -> pd.Series | None:
    """First row whose test name contains all needles (case-insensitive)."""
    names = tab.test.astype(str).str.lower()
    mask = np.ones(len(tab), dtype=bool)
    for n in needles:
        mask &= names.str.contains(n.lower(), regex=False).to_numpy()
    hits = tab[mask]
    return None if hits.empty else hits.iloc[0]


def _first(*rows):
    for r in rows:
        if r is not None:
            return r
    return None


# ----------------------------------------------------------------------------- decision
def decide(moran: pd.DataFrame, lm: pd.DataFrame, ml_tab: pd.DataFrame,
           probs: pd.DataFrame, fe: str, alpha: float = 0.05, decisive: float = 0.9) -> dict:
    """The decision in the study's order (module docstring); returns texts and choices."""
    notes: list[str] = []
    # Moran
    moran_lines = []
    for v, g in moran.groupby("variable", sort=False):
        sig = int((g.p < alpha).sum())
        moran_lines.append(f"- {v}: I from {g.I.min():.3f} to {g.I.max():.3f}; significant in "
                           f"{sig} of {len(g)} years.")
    # LM
    t = lm.set_index("test")
    lag, err = t.loc["LM-lag", "p"] < alpha, t.loc["LM-error", "p"] < alpha
    rlag, rerr = t.loc["robust LM-lag", "p"] < alpha, t.loc["robust LM-error", "p"] < alpha
    if rlag and not rerr:
        lm_points = "sar"
    elif rerr and not rlag:
        lm_points = "sem"
    elif rlag and rerr:
        lm_points = "both"
    else:
        lm_points = "both" if (lag or err) else "none"
    spatial = lag or err
    words = {True: "rejected", False: "not rejected"}
    lm_text = (f"No spatial lag: {words[bool(lag)]} (robust: {words[bool(rlag)]}); no spatial "
               f"error: {words[bool(err)]} (robust: {words[bool(rerr)]}). ")
    lm_text += {"sar": "The robust tests point to the spatial lag (SAR).",
                "sem": "The robust tests point to the spatial error (SEM).",
                "both": "Both spatial processes are indicated, which points to the SDM.",
                "none": "The non-spatial model is not rejected."}[lm_points]
    # SDM vs SAR / SEM
    sar_row = _first(_find(ml_tab, "wald", "sar"), _find(ml_tab, "wald", "theta"))
    sem_row = _first(_find(ml_tab, "wald", "sem"), _find(ml_tab, "wald", "common"))
    lr_sar, lr_sem = _find(ml_tab, "lr", "sar"), _find(ml_tab, "lr", "sem")

    def rejected(*rows):
        ps = [r.p for r in rows if r is not None]
        return None if not ps else all(p < alpha for p in ps)

    rej_sar = rejected(sar_row, lr_sar)
    rej_sem = rejected(sem_row, lr_sem)
    if rej_sar is None or rej_sem is None:
        classical = {"sar": "sar", "sem": "sem"}.get(lm_points, "sdm") if spatial else "ols"
        why_classical = "the LM tests point to it (the ML tests of the SDM were not available)"
        sdm_text = "The ML tests of the SDM were not available; the classical choice follows " \
                   f"the LM tests ({classical.upper()})."
    else:
        if rej_sar and rej_sem:
            classical = "sdm"
            why = "both theta = 0 (SAR) and theta + rho beta = 0 (SEM) are rejected"
        elif not rej_sar and lm_points == "sar":
            classical = "sar"
            why = "theta = 0 is not rejected and the robust LM tests point to the lag"
        elif not rej_sem and lm_points == "sem":
            classical = "sem"
            why = "theta + rho beta = 0 is not rejected and the robust LM tests point to the error"
        elif not spatial and not rej_sar and not rej_sem:
            classical = "ols"
            why = "no spatial dependence is detected and the SDM restrictions are not rejected"
        else:
            classical = "sdm"
            why = ("the restriction that is not rejected does not match the LM tests, so the SDM, "
                   "which nests both, is kept")
        why_classical = why
        sdm_text = f"Classical choice: {classical.upper()}, because {why}."
    # FE
    fe_rows = [r for r in (_find(ml_tab, "unit"), _find(ml_tab, "time")) if r is not None]
    fe_choice = fe
    if len(fe_rows) == 2:
        unit_sig, time_sig = fe_rows[0].p < alpha, fe_rows[1].p < alpha
        fe_choice = {(True, True): "twoway", (True, False): "unit", (False, True): "time",
                     (False, False): "none"}[(bool(unit_sig), bool(time_sig))]
        fe_text = (f"LR tests: unit effects {words[bool(unit_sig)]} as jointly insignificant "
                   f"(p = {_fmt(fe_rows[0].p)}), time effects {words[bool(time_sig)]} "
                   f"(p = {_fmt(fe_rows[1].p)}): {FE_WORDS[fe_choice]}.")
        if fe_choice != fe:
            notes.append(f"The LR tests suggest {FE_WORDS[fe_choice]}, but the analysis "
                         f"above used {FE_WORDS[fe]}; rerun with --fe {fe_choice} to "
                         "follow them.")
    else:
        fe_text = f"No LR tests of the fixed effects were available; {FE_WORDS[fe]} as " \
                  "specified."
    # Bayes
    pr = probs[probs.fe == fe].sort_values("probability", ascending=False)
    best, pbest = pr.iloc[0].model, float(pr.iloc[0].probability)
    second = pr.iloc[1] if len(pr) > 1 else None
    bayes_text = f"Highest posterior probability: {best.upper()} ({pbest:.3f})"
    if second is not None:
        bayes_text += f", then {second.model.upper()} ({float(second.probability):.3f})"
    bayes_text += "."
    if classical == best:
        favoured = best
        why = (f"The classical tests and the posterior probabilities agree: the classical "
               f"sequence selects the {best.upper()} because {why_classical}, and its posterior "
               f"probability is {pbest:.3f}.")
    elif pbest >= decisive:
        favoured = best
        why = (f"The posterior probability of the {best.upper()} is {pbest:.3f} (decisive), "
               f"whereas the classical sequence selects the {classical.upper()}.")
    else:
        favoured = classical
        why = (f"The classical sequence selects the {classical.upper()}; the posterior "
               f"probabilities are not decisive ({best.upper()} {pbest:.3f}).")
    return {"favoured": favoured, "favoured_fe": fe, "why": why, "classical": classical,
            "bayes_best": best, "bayes_probability": pbest, "lm_points": lm_points,
            "fe_choice": fe_choice, "moran_lines": moran_lines, "lm_text": lm_text,
            "sdm_text": sdm_text, "fe_text": fe_text, "bayes_text": bayes_text, "notes": notes}


# ----------------------------------------------------------------------------- pipeline
def select_model(panel: Panel, w: SpatialWeights, fe: str = "twoway",
                 variables: Sequence[str] | None = None, models: Sequence[str] = ALL_MODELS,
                 marginal_fe: Sequence[str] | None = None, correction: str = "transform",
                 lag_convention: str = "QWy", lm_convention: str = "elhorst",
                 standardize: bool = True, alpha: float = 0.05, ml: bool = True,
                 moran_data: pd.DataFrame | None = None, unit: str | None = None,
                 time: str | None = None, label: str | None = None,
                 client=None) -> SelectionResult:
    """Run the selection pipeline (module docstring) without writing anything.

    Parameters
    ----------
    panel, w : data and weights
    fe : the fixed effects of the LM and ML tests and of the decision
    variables : variables for Moran's I (default y and the regressors; with ``moran_data`` (a
        long table with ``unit`` and ``time`` columns) any of its columns)
    models : models compared by their marginal likelihoods
    marginal_fe : FE types for the marginal likelihoods (default ``fe`` only)
    correction, lag_convention : likelihood conventions of the ML tests and marginals
    lm_convention : ``elhorst`` | ``leeyu`` (see :mod:`bayes_sdm.spectests`)
    standardize : unit-free marginal likelihoods (see :mod:`bayes_sdm.marginal`)
    alpha : significance level
    ml : run the ML tests (the slowest step)
    client : a Dask ``distributed.Client``: Moran's I, the LM tests, the ML tests and the
        marginal likelihoods of each FE type run as parallel tasks on its workers
    """
    if fe not in FE_TYPES:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {FE_TYPES}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    check_not_absorbed(panel, fe)
    run = _Now() if client is None else _Tasks(client, panel, w)
    if moran_data is not None:
        mor = run(moran_table, moran_data, w, variables, unit=unit, time=time)
    else:
        mor = run(moran_table, panel, w, variables)
    lm = run(lm_tests, panel, w, fe, convention=lm_convention)
    notes: list[str] = []
    if fe == "none":
        notes.append("fe none: the LM tests, ML tests and marginal likelihoods here include an "
                     "intercept, as fit_region does by default (the W-lag of the constant is "
                     "not added).")
    ml_f = run(ml_tests, panel, w, fe, correction, lag_convention) if ml else None
    mfe = [fe] if marginal_fe is None else list(marginal_fe)
    if fe not in mfe:
        mfe = [fe, *mfe]
    prob_parts = [run(log_marginals, panel, w, [f], models=models, correction=correction,
                      lag_convention=lag_convention, standardize=standardize) for f in mfe]
    mor, lm = run.result(mor), run.result(lm)
    if ml:
        ml_tab, ml_notes = run.result(ml_f)
        notes += ml_notes
    else:
        ml_tab = pd.DataFrame(columns=LM_COLUMNS)
        notes.append("ML tests skipped (--no-ml).")
    probs = pd.concat([run.result(p) for p in prob_parts], ignore_index=True)
    all_tests = pd.concat([lm, ml_tab], ignore_index=True)[LM_COLUMNS] if len(ml_tab) else lm
    dec = decide(mor, lm, ml_tab, probs, fe, alpha)
    dec["notes"] = notes + dec["notes"] + [
        "Marginal likelihoods: flat prior on the coefficients, p(sigma^2) ~ 1/sigma^2, uniform "
        "prior on rho / lambda over the admissible interval (LeSage 2014); beta and sigma^2 "
        "integrated analytically, rho / lambda by quadrature.",
        ("Data standardised (y and each regressor to unit sd) before computing the marginal "
         "likelihoods, so the probabilities do not depend on the units of measurement."
         if standardize else
         "Marginal likelihoods in the data's units (as LeSage / SDPDmod): with flat priors, "
         "rescaling a variable changes the probabilities of models with different numbers "
         "of coefficients."),
        "Probabilities compare models under one fixed-effects transform; they are not "
        "comparable across fixed-effects types.",
    ]
    meta = {"N": panel.N, "T": panel.T, "y": panel.y_name, "x": list(panel.x_names),
            "w": getattr(w, "name", "W"), "label": label, "lm_convention": lm_convention,
            "correction": correction, "lag_convention": lag_convention,
            "standardize": standardize}
    return SelectionResult(mor, all_tests.reset_index(drop=True), probs[PROB_COLUMNS],
                           fe, alpha, dec, meta)


class _Now:
    """Compute at once (no cluster)."""

    def __call__(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    @staticmethod
    def result(v):
        return v


class _Tasks:
    """Submit to a Dask client, the panel and W sent to the workers once."""

    def __init__(self, client, panel, w):
        self.client = client
        self.shared = {id(panel): client.scatter(panel, broadcast=True, hash=False),
                       id(w): client.scatter(w, broadcast=True, hash=False)}

    def __call__(self, fn, *args, **kwargs):
        args = [self.shared.get(id(a), a) for a in args]
        return self.client.submit(fn, *args, pure=False, **kwargs)

    @staticmethod
    def result(f):
        return f.result()


def write_selection(result: SelectionResult, out_dir: str | Path) -> list[Path]:
    """Write moran.csv, lm_tests.csv, model_probabilities.csv and selection.md atomically."""
    from .io import write_csv, write_text

    out = Path(out_dir)
    return [
        write_csv(out / "moran.csv", result.moran),
        write_csv(out / "lm_tests.csv", result.lm_tests[LM_COLUMNS]),
        write_csv(out / "model_probabilities.csv", result.probabilities[PROB_COLUMNS]),
        write_text(out / "selection.md", result.markdown()),
    ]


def run_selection(panel: Panel, w: SpatialWeights, out_dir: str | Path | None = None,
                  **kwargs) -> SelectionResult:
    """:func:`select_model`, then (when ``out_dir`` is given) :func:`write_selection`."""
    res = select_model(panel, w, **kwargs)
    if out_dir is not None:
        write_selection(res, out_dir)
    return res


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    from .commands import add_data_arguments

    p = argparse.ArgumentParser(
        prog="select_model.py",
        description="Model selection for a spatial panel: Moran's I by variable and year, LM "
                    "tests, LR/Wald tests of the SDM, LR tests of the fixed effects and "
                    "posterior model probabilities; writes moran.csv, lm_tests.csv, "
                    "model_probabilities.csv and selection.md.")
    add_data_arguments(p)
    s = p.add_argument_group("selection")
    s.add_argument("--spec", help="YAML spec (models/*.yaml) for the data section")
    s.add_argument("--fe", choices=list(FE_TYPES), help="fixed effects (default: the spec's)")
    s.add_argument("--models", nargs="+", choices=list(MARGINAL_MODELS),
                   default=list(ALL_MODELS),
                   help="models compared by marginal likelihood (default: all but sac; add "
                        "sac, the lag + error model, as an alternative)")
    s.add_argument("--marginal-fe", nargs="+", choices=list(FE_TYPES),
                   help="also report model probabilities under these fixed effects")
    s.add_argument("--variables", nargs="+", help="variables for Moran's I (default y and x)")
    s.add_argument("--lag-convention", choices=["QWy", "WQy"])
    s.add_argument("--lm-convention", choices=["elhorst", "leeyu"], default="elhorst")
    s.add_argument("--raw-units", action="store_true",
                   help="marginal likelihoods in the data's units (as SDPDmod) instead of "
                        "standardised variables")
    s.add_argument("--alpha", type=float, default=0.05, help="significance level")
    s.add_argument("--no-ml", action="store_true", help="skip the ML (LR/Wald) tests")
    s.add_argument("--variance", choices=["period"],
                   help="also fit the spec's model with one sigma^2 and with period variances "
                        "(NUTS) and compare their ELPD (variance_elpd.csv)")
    o = p.add_argument_group("output")
    o.add_argument("--out", help="output folder (default runs/<dataset>-selection-<fe>/)")
    o.add_argument("--quiet", action="store_true", help="print less")
    from .commands import add_cluster_argument

    add_cluster_argument(o)
    return p


def run(argv: list[str] | None = None) -> int:
    from .commands import RunFolder, spec_from_args
    from .inputs import load_inputs

    a = build_parser().parse_args(argv)
    spec = spec_from_args(a)
    if a.fe:
        spec.fe = a.fe
    if a.lag_convention:
        spec.lag_convention = a.lag_convention
    spec.validate()
    inputs = load_inputs(spec.data)
    panel = inputs.panel
    frame_vars = bool(a.variables) and any(v not in (panel.y_name, *panel.x_names)
                                           for v in a.variables)
    unit, time = spec.data.unit, spec.data.time
    if frame_vars and (unit is None or time is None) and not spec.data.path:
        from .datasets import load_dataset

        ds = load_dataset(spec.data.dataset or "synthetic_ua")
        unit, time = unit or ds.unit, time or ds.time
    out = Path(a.out) if a.out else Path("runs") / f"{inputs.label}-selection-{spec.fe}"
    folder = RunFolder(out)
    from .commands import cluster_session

    with cluster_session(a.cluster or spec.cluster, a.quiet) as client:
        res = _select(a, spec, inputs, panel, frame_vars, unit, time, client)
    var_tab = None
    if a.variance:
        from .variance_selection import compare_variances

        var_tab, sentence = compare_variances(panel, inputs.w, spec)
        res.decision["notes"] = [*res.decision.get("notes", []), "Error variances (ELPD, "
                                 "PSIS-LOO on exact LOO conditionals): " + sentence]
    with folder as tmp:
        write_selection(res, tmp)
        if var_tab is not None:
            from .io import write_csv

            write_csv(tmp / "variance_elpd.csv", var_tab)
    _report(a, res, inputs, panel, spec, out)
    if var_tab is not None and not a.quiet:
        print("\nError variances: homoskedastic vs period (ELPD)")
        print(var_tab.to_string(index=False))
        print(sentence)
    return 0


def _select(a, spec, inputs, panel, frame_vars, unit, time, client):
    return select_model(
        panel, inputs.w, fe=spec.fe, variables=a.variables, models=a.models,
        marginal_fe=a.marginal_fe, correction=spec.correction,
        lag_convention=spec.lag_convention, lm_convention=a.lm_convention,
        standardize=not a.raw_units, alpha=a.alpha, ml=not a.no_ml,
        moran_data=inputs.frame if frame_vars else None,
        unit=unit if frame_vars else None, time=time if frame_vars else None,
        label=inputs.label, client=client)


def _report(a, res, inputs, panel, spec, out) -> None:
    from .reporting import format_table

    if not a.quiet:
        print(f"bayes_sdm model selection on {inputs.label}: N={panel.N}, T={panel.T}, "
              f"y={panel.y_name}, x={', '.join(panel.x_names)}, W={inputs.w.name}, "
              f"fe={spec.fe}")
        print("\nMoran's I (first and last year of each variable)")
        mt = res.moran.groupby("variable", sort=False).nth([0, -1])
        print(format_table(mt))
        print("\nTests")
        print(format_table(res.lm_tests))
        print("\nPosterior model probabilities")
        print(format_table(res.probabilities))
        d = res.decision
        print(f"\nThe evidence favours the {d['favoured'].upper()} with "
              f"{FE_WORDS[d['favoured_fe']]}. {d['why']}")
        print(f"wrote {out}/moran.csv, lm_tests.csv, model_probabilities.csv, selection.md")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: exit codes of :mod:`bayes_sdm.commands` (0 ok, 2 bad input, 3 failure, 130
    interrupted)."""
    from .commands import run_command

    return run_command(run, argv, "select_model")
