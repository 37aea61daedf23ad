"""``report.md`` and ``report.html``: a fit's report (tables, verdict, figures, provenance).

:func:`write_report` takes the tables the package already produces
(:func:`bayes_sdm.reporting.summary_table`, :func:`~bayes_sdm.reporting.effects_table`,
:func:`bayes_sdm.diagnostics.diagnose`, :func:`bayes_sdm.ml.comparison_table`) and the figure
paths of :func:`bayes_sdm.plots.write_plots`, and builds one document
(:mod:`bayes_sdm.document`) that reads on its own: what was fitted, whether the sampler can be
trusted, the parameters, the effects, the ML comparison, the figures with captions, and the
provenance (package and dependency versions, the spec, the data hash) taken from the fit's
attributes (:func:`bayes_sdm.api.provenance`).  It is written twice from the same document:
``report.md`` (figures linked) and ``report.html`` (one self-contained page, figures embedded,
for sharing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from . import document as doc

FIGURE_CAPTIONS = {
    "trace": "Traces (and, for pooled fits, marginal densities) per chain, one panel per "
             "parameter, faceted by region for regional fits. Chains should overlap and look "
             "like stationary noise.",
    "rank": "Rank ECDFs per chain minus the uniform CDF (Vehtari et al. 2021), one panel per "
            "parameter: well-mixed chains stay near zero together. Each panel gives r_hat and "
            "the bulk / tail ESS with the verdict of diagnostics.json (r_hat <= 1.01, ESS >= "
            "400).",
    "effects_forest": "Direct, indirect (spillover) and total effects (LeSage & Pace 2009), "
                      "one panel per variable on its own scale: posterior median, 50% and 94% "
                      "HDI (one colour per region for regional fits); red crosses are the ML "
                      "estimates where an ML fit was made.",
    "ppc_y": "Posterior predictive check of y: densities of replicated panels (fixed effects at "
             "their estimates given each draw) against the observed panel, raw and with the "
             "fixed-effect means removed.",
    "ppc_moran": "Posterior predictive check of residual spatial autocorrelation: Moran's I of "
                 "the residuals by year, observed (red) against replicated (grey); the numbers "
                 "are P(I_rep >= I_obs). Values near 0 or 1 flag spatial structure the model "
                 "misses in that year.",
    "rho_ml": "Posterior of the spatial parameter with its 94% HDI, against the ML estimate and "
              "its 95% Wald interval.",
    "rho": "Posterior of the spatial parameter (by region where it has one) with its mean and "
           "94% HDI.",
    "rank_ecdf_all": "Simulation-based calibration: rank ECDF minus the uniform CDF per "
                     "quantity, with the simultaneous 99% band.",
}


def markdown_table(df: pd.DataFrame, digits: int = 4, columns: Sequence[str] | None = None,
                   rename: Mapping[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table (numbers to ``digits`` significant digits)."""
    return doc.markdown_table(doc.Table(df, digits, columns, dict(rename or {})))


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


def _diagnostics_section(d: dict) -> list:
    if not d:
        return []
    t = d.get("thresholds", {})
    verdict = "**passed**" if d.get("passed") else "**FAILED**"
    out = [doc.Heading("Convergence diagnostics"),
           doc.Paragraph(f"Verdict: {verdict} (thresholds: r_hat <= {t.get('r_hat', 1.01)}, "
                         f"ess_bulk and ess_tail >= {t.get('ess_bulk', 400):g}, divergences <= "
                         f"{t.get('divergences', 0)}, E-BFMI >= {t.get('ebfmi', 0.3)}; "
                         "tree-depth saturation is a warning).")]
    ebfmi = d.get("ebfmi") or []
    rows = [("max r_hat", d.get("max_r_hat")), ("min ess_bulk", d.get("min_ess_bulk")),
            ("min ess_tail", d.get("min_ess_tail")), ("max MCSE (mean)", d.get("max_mcse_mean")),
            ("divergent transitions", d.get("divergences")),
            ("transitions at max tree depth", d.get("treedepth_saturated")),
            ("max tree depth reached", d.get("max_treedepth")),
            ("E-BFMI per chain", ", ".join(f"{e:.2f}" for e in ebfmi) if ebfmi else "n/a"),
            ("draws (chains x draws)", d.get("n_draws"))]
    out.append(doc.Table(pd.DataFrame(rows, columns=["check", "value"])))
    fails, warns = d.get("failures") or [], d.get("warnings") or []
    if fails:
        out += [doc.Paragraph("Failures:"), doc.Bullets(list(fails))]
    if warns:
        out += [doc.Paragraph("Warnings:"), doc.Bullets(list(warns))]
    params = d.get("parameters")
    if params:
        p = pd.DataFrame(params)
        cols = [c for c in ("parameter", "r_hat", "ess_bulk", "ess_tail", "mcse_mean",
                            "mcse_sd", "passed") if c in p.columns]
        out += [doc.Paragraph("Per parameter:"), doc.Table(p, columns=cols)]
    return out


def _figures_section(figures) -> list:
    figs = [Path(f) for f in (figures or [])]
    if not figs:
        return []
    out = [doc.Heading("Figures")]
    for f in figs:
        cap = FIGURE_CAPTIONS.get(f.stem, f.stem.replace("_", " "))
        out.append(doc.Figure(f, f.stem.replace("_", " "), cap))
    return out


def _provenance_section(attrs: dict) -> list:
    if not attrs:
        return []
    rows = [(k, attrs.get(k)) for k in ("bayes_sdm_version", "model", "fe", "N", "T", "weights",
                                        "logdet_method", "data_hash", "spec_hash",
                                        "wall_time_s", "created_at") if attrs.get(k) is not None]
    out = [doc.Heading("Provenance"), doc.Table(pd.DataFrame(rows, columns=["field", "value"]))]
    deps = attrs.get("dependencies")
    if deps:
        try:
            dd = json.loads(deps) if isinstance(deps, str) else dict(deps)
            out.append(doc.Paragraph("Dependency versions: "
                                     + ", ".join(f"{k} {v}" for k, v in dd.items())))
        except (ValueError, TypeError):
            out.append(doc.Paragraph(f"Dependency versions: {deps}"))
    if attrs.get("spec"):
        out += [doc.Paragraph("Spec:"), doc.Code(str(attrs["spec"]), "yaml")]
    return out


def build_report(summary: pd.DataFrame | None, effects: pd.DataFrame | None, diagnostics=None,
                 comparison: pd.DataFrame | None = None, figures: Sequence = (),
                 provenance=None, title: str | None = None, notes: Sequence[str] = (),
                 contrasts: pd.DataFrame | None = None) -> doc.Document:
    """The report as a :class:`~bayes_sdm.document.Document` (both renderings come from it;
    arguments as :func:`write_report`)."""
    attrs = _attrs(provenance)
    d = _diag_dict(diagnostics)
    model = str(attrs.get("model", "")).upper()
    fe = attrs.get("fe")
    random = fe == "random"
    fe_text = "unit random effects" if random else f"{fe} fixed effects"
    head = title or ("bayes_sdm report" + (f": {model}" if model else "")
                     + (f" with {fe_text}" if fe else ""))
    facts = []
    if attrs.get("N") and attrs.get("T"):
        facts.append(f"N = {attrs['N']} units, T = {attrs['T']} periods")
    if attrs.get("weights"):
        facts.append(f"W: {attrs['weights']}")
    if attrs.get("pooling"):
        facts.append(f"regions: {attrs['pooling']} pooling, {attrs.get('regional_w')} W")
    if d:
        facts.append("diagnostics " + ("passed" if d.get("passed") else "**FAILED**"))
    facts.append(f"written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    r = doc.Document(head)
    r.add(doc.Paragraph("; ".join(facts) + "."),
          doc.Paragraph(("Unit random effects N(0, sigma_mu^2) integrated out, with an "
                         "intercept; phi^2 = sigma^2 / (T sigma_mu^2 + sigma^2) (Elhorst 2014, "
                         "sec. 3.4); " if random else
                         "Lee & Yu (2010) transformation approach for the fixed effects; ")
                        + "intervals are 94% highest-density intervals; effects follow LeSage & "
                        "Pace (2009): direct = tr(S_k)/N, total = iota'S_k iota/N, indirect = "
                        "total - direct."))
    r.add(*[doc.Paragraph(str(n)) for n in notes])
    if summary is not None:
        r.add(doc.Heading("Parameters"), doc.Table(summary))
    if effects is not None:
        r.add(doc.Heading("Effects"), doc.Table(effects))
    if contrasts is not None and len(contrasts):
        r.add(doc.Heading("Contrasts between regions"),
              doc.Paragraph("Posterior of the difference of two regions' effects; "
                            "prob_positive = P(difference > 0)."), doc.Table(contrasts))
    if comparison is not None and len(comparison):
        r.add(doc.Heading("Maximum likelihood vs posterior"),
              doc.Paragraph("std_diff = (ML estimate - posterior mean) / posterior sd."),
              doc.Table(comparison.drop(columns=[c for c in ("kind",)
                                                 if c in comparison.columns])))
    r.add(*_diagnostics_section(d))
    r.add(*_figures_section(figures))
    r.add(*_provenance_section(attrs))
    return r


def render_report(summary: pd.DataFrame | None, effects: pd.DataFrame | None, diagnostics=None,
                  comparison: pd.DataFrame | None = None, figures: Sequence = (),
                  provenance=None, out_dir: str | Path = ".", title: str | None = None,
                  notes: Sequence[str] = ()) -> str:
    """The Markdown text of :func:`write_report` (see there)."""
    return doc.to_markdown(build_report(summary, effects, diagnostics, comparison, figures,
                                        provenance, title, notes), Path(out_dir))


def write_report(out_dir: str | Path, summary: pd.DataFrame | None,
                 effects: pd.DataFrame | None, diagnostics=None,
                 comparison: pd.DataFrame | None = None, figures: Sequence = (), *,
                 provenance=None, title: str | None = None, notes: Sequence[str] = (),
                 filename: str = "report.md", contrasts: pd.DataFrame | None = None,
                 html: bool = True) -> Path:
    """Write ``out_dir/report.md`` and ``out_dir/report.html`` (atomically), two renderings of
    one document (:func:`build_report`); return the Markdown file's path.

    Parameters
    ----------
    out_dir : the output folder (figures are linked relative to it in the Markdown; the HTML
        embeds them)
    summary : parameter table (``summary.csv`` format)
    effects : effects table (``effects.csv`` format)
    diagnostics : a :class:`~bayes_sdm.diagnostics.Diagnostics` or its ``to_dict()``
    comparison : ML-vs-posterior table (:func:`bayes_sdm.ml.comparison_table`), optional
    figures : PNG paths (:func:`bayes_sdm.plots.write_plots`)
    provenance : the fit's attributes: the idata, a fit result, or a dict (``bayes_sdm_version``,
        ``dependencies``, ``spec``, ``data_hash``, ...)
    title, notes : optional heading and free-text paragraphs
    filename : the Markdown file's name (the HTML file has the same stem)
    contrasts : region contrasts (regional fits), optional
    html : write the HTML rendering too
    """
    from .io import write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = build_report(summary, effects, diagnostics, comparison, figures, provenance, title,
                     notes, contrasts)
    path = write_text(out / filename, doc.to_markdown(d, out))
    if html:
        write_text(out / Path(filename).with_suffix(".html").name, doc.to_html(d))
    return path
