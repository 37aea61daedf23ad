"""``report.md``: a self-contained Markdown report of a fit (tables, verdict, figures, provenance).

:func:`write_report` takes the tables the package already produces
(:func:`bayes_sdm.reporting.summary_table`, :func:`~bayes_sdm.reporting.effects_table`,
:func:`bayes_sdm.diagnostics.diagnose`, :func:`bayes_sdm.ml.comparison_table`) and the figure
paths of :func:`bayes_sdm.plots.write_plots`, and writes one Markdown file that reads on its own:
what was fitted, whether the sampler can be trusted, the parameters, the effects, the ML
comparison, the figures with captions, and the provenance (package and dependency versions, the
spec, the data hash) taken from the fit's attributes (:func:`bayes_sdm.api.provenance`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

FIGURE_CAPTIONS = {
    "trace": "Trace and marginal posterior per chain. Chains should overlap and look like "
             "stationary noise.",
    "rank": "Rank plots per chain (Vehtari et al. 2021). Well-mixed chains give flat, "
            "overlapping rank ECDFs; the p-value tests equal rank distributions across chains.",
    "effects_forest": "Direct, indirect (spillover) and total effects (LeSage & Pace 2009): "
                      "posterior median, 50% and 94% HDI; red crosses are the ML estimates.",
    "ppc_y": "Posterior predictive check of y: densities of replicated panels (fixed effects at "
             "their estimates given each draw) against the observed panel, raw and with the "
             "fixed-effect means removed.",
    "ppc_moran": "Posterior predictive check of residual spatial autocorrelation: Moran's I of "
                 "the residuals by year, observed (red) against replicated (grey); the numbers "
                 "are P(I_rep >= I_obs). Values near 0 or 1 flag spatial structure the model "
                 "misses in that year.",
    "rho_ml": "Posterior of the spatial parameter with its 94% HDI, against the ML estimate and "
              "its 95% Wald interval.",
    "rank_ecdf_all": "Simulation-based calibration: rank ECDF minus the uniform CDF per "
                     "quantity, with the simultaneous 99% band.",
}


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "**no**"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return ""
        a = abs(float(v))
        if a != 0 and (a < 1e-3 or a >= 1e5):
            return f"{float(v):.{digits - 1}e}"
        return f"{float(v):.{digits}g}"
    return str(v).replace("|", "\\|")


def markdown_table(df: pd.DataFrame, digits: int = 4, columns: Sequence[str] | None = None,
                   rename: Mapping[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table (numbers to ``digits`` significant digits)."""
    if df is None or len(df) == 0:
        return "_(none)_\n"
    d = df[list(columns)] if columns else df
    cols = [str((rename or {}).get(c, c)) for c in d.columns]
    num = [pd.api.types.is_numeric_dtype(d[c]) and not pd.api.types.is_bool_dtype(d[c])
           for c in d.columns]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---:" if n else ":---" for n in num) + "|"]
    for row in d.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v, digits) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _diag_dict(diagnostics) -> dict:
    if diagnostics is None:
        return {}
    if hasattr(diagnostics, "to_dict"):
        return diagnostics.to_dict()
    return dict(diagnostics)


def _attrs(provenance) -> dict:
    if provenance is None:
        return {}
    if hasattr(provenance, "attrs"):
        return dict(provenance.attrs)
    if hasattr(provenance, "idata"):
        return dict(provenance.idata.attrs)
    return dict(provenance)


def _diagnostics_section(d: dict) -> list[str]:
    if not d:
        return []
    t = d.get("thresholds", {})
    out = ["## Convergence diagnostics", ""]
    verdict = "**passed**" if d.get("passed") else "**FAILED**"
    out.append(f"Verdict: {verdict} (thresholds: r_hat <= {t.get('r_hat', 1.01)}, ess_bulk and "
               f"ess_tail >= {t.get('ess_bulk', 400):g}, divergences <= "
               f"{t.get('divergences', 0)}, E-BFMI >= {t.get('ebfmi', 0.3)}; tree-depth "
               "saturation is a warning).")
    out.append("")
    ebfmi = d.get("ebfmi") or []
    rows = [("max r_hat", d.get("max_r_hat")), ("min ess_bulk", d.get("min_ess_bulk")),
            ("min ess_tail", d.get("min_ess_tail")), ("max MCSE (mean)", d.get("max_mcse_mean")),
            ("divergent transitions", d.get("divergences")),
            ("transitions at max tree depth", d.get("treedepth_saturated")),
            ("max tree depth reached", d.get("max_treedepth")),
            ("E-BFMI per chain", ", ".join(f"{e:.2f}" for e in ebfmi) if ebfmi else "n/a"),
            ("draws (chains x draws)", d.get("n_draws"))]
    out.append(markdown_table(pd.DataFrame(rows, columns=["check", "value"])))
    fails, warns = d.get("failures") or [], d.get("warnings") or []
    if fails:
        out += ["Failures:", ""] + [f"- {f}" for f in fails] + [""]
    if warns:
        out += ["Warnings:", ""] + [f"- {w}" for w in warns] + [""]
    params = d.get("parameters")
    if params:
        p = pd.DataFrame(params)
        cols = [c for c in ("parameter", "r_hat", "ess_bulk", "ess_tail", "mcse_mean",
                            "mcse_sd", "passed") if c in p.columns]
        out += ["Per parameter:", "", markdown_table(p, columns=cols)]
    return out


def _figures_section(figures, out_dir: Path) -> list[str]:
    figs = [Path(f) for f in (figures or [])]
    if not figs:
        return []
    out = ["## Figures", ""]
    for f in figs:
        try:
            rel = f.resolve().relative_to(out_dir.resolve())
        except ValueError:
            rel = f
        cap = FIGURE_CAPTIONS.get(f.stem, f.stem.replace("_", " "))
        out += [f"### {f.stem.replace('_', ' ')}", "", f"![{f.stem}]({rel.as_posix()})", "",
                f"*{cap}*", ""]
    return out


def _provenance_section(attrs: dict) -> list[str]:
    if not attrs:
        return []
    out = ["## Provenance", ""]
    rows = [(k, attrs.get(k)) for k in ("bayes_sdm_version", "model", "fe", "N", "T", "weights",
                                        "logdet_method", "data_hash", "spec_hash",
                                        "wall_time_s", "created_at") if attrs.get(k) is not None]
    out.append(markdown_table(pd.DataFrame(rows, columns=["field", "value"])))
    deps = attrs.get("dependencies")
    if deps:
        try:
            dd = json.loads(deps) if isinstance(deps, str) else dict(deps)
            out += ["Dependency versions: " + ", ".join(f"{k} {v}" for k, v in dd.items()), ""]
        except (ValueError, TypeError):
            out += [f"Dependency versions: {deps}", ""]
    if attrs.get("spec"):
        out += ["Spec:", "", "```yaml", str(attrs["spec"]).rstrip(), "```", ""]
    return out


def render_report(summary: pd.DataFrame | None, effects: pd.DataFrame | None, diagnostics=None,
                  comparison: pd.DataFrame | None = None, figures: Sequence = (),
                  provenance=None, out_dir: str | Path = ".", title: str | None = None,
                  notes: Sequence[str] = ()) -> str:
    """The Markdown text of :func:`write_report` (see there)."""
    out_dir = Path(out_dir)
    attrs = _attrs(provenance)
    d = _diag_dict(diagnostics)
    model = str(attrs.get("model", "")).upper()
    fe = attrs.get("fe")
    head = title or ("bayes_sdm report" + (f": {model}" if model else "")
                     + (f" with {fe} fixed effects" if fe else ""))
    lines = [f"# {head}", ""]
    facts = []
    if attrs.get("N") and attrs.get("T"):
        facts.append(f"N = {attrs['N']} units, T = {attrs['T']} periods")
    if attrs.get("weights"):
        facts.append(f"W: {attrs['weights']}")
    if d:
        facts.append("diagnostics " + ("passed" if d.get("passed") else "**FAILED**"))
    facts.append(f"written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    lines += ["; ".join(facts) + ".", ""]
    lines += ["Lee & Yu (2010) transformation approach for the fixed effects; intervals are 94% "
              "highest-density intervals; effects follow LeSage & Pace (2009): direct = "
              "tr(S_k)/N, total = iota'S_k iota/N, indirect = total - direct.", ""]
    for n in notes:
        lines += [str(n), ""]
    if summary is not None:
        lines += ["## Parameters", "", markdown_table(summary)]
    if effects is not None:
        lines += ["## Effects", "", markdown_table(effects)]
    if comparison is not None and len(comparison):
        lines += ["## Maximum likelihood vs posterior", "",
                  "std_diff = (ML estimate - posterior mean) / posterior sd.", "",
                  markdown_table(comparison.drop(columns=[c for c in ("kind",)
                                                          if c in comparison.columns]))]
    lines += _diagnostics_section(d)
    lines += _figures_section(figures, out_dir)
    lines += _provenance_section(attrs)
    return "\n".join(lines).rstrip() + "\n"


def write_report(out_dir: str | Path, summary: pd.DataFrame | None,
                 effects: pd.DataFrame | None, diagnostics=None,
                 comparison: pd.DataFrame | None = None, figures: Sequence = (), *,
                 provenance=None, title: str | None = None, notes: Sequence[str] = (),
                 filename: str = "report.md") -> Path:
    """Write ``out_dir/report.md`` (atomically) and return its path.

    Parameters
    ----------
    out_dir : the output folder (figures are linked relative to it)
    summary : parameter table (``summary.csv`` format)
    effects : effects table (``effects.csv`` format)
    diagnostics : a :class:`~bayes_sdm.diagnostics.Diagnostics` or its ``to_dict()``
    comparison : ML-vs-posterior table (:func:`bayes_sdm.ml.comparison_table`), optional
    figures : PNG paths (:func:`bayes_sdm.plots.write_plots`)
    provenance : the fit's attributes: the idata, a fit result, or a dict (``bayes_sdm_version``,
        ``dependencies``, ``spec``, ``data_hash``, ...)
    title, notes : optional heading and free-text paragraphs
    """
    from .io import write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = render_report(summary, effects, diagnostics, comparison, figures, provenance, out,
                         title, notes)
    return write_text(out / filename, text)
