"""Per-coefficient convergence and effects figures (matplotlib, Agg): ``trace.png``,
``rank.png`` and ``effects_forest.png`` of :func:`bayes_sdm.plots.write_plots`.

Layout.  Every scalar parameter has its own panel, titled with its name (``beta[logp]``), with
the chains in the colours of the figure's legend.  A pooled fit gives one row per parameter
(trace: density and trace side by side).  A regional fit is faceted by region: one row per
coefficient (``beta[mar]``), one column per region, then the hierarchical mean and scale
columns where the model has them; the parameters without a region (``rho`` with the full W,
``sigma2``) share the first row.

Rank plots (Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC", Bayesian
Analysis 16:667-718, sec. 4.1) show, per chain, the ECDF of the draws' fractional ranks
(ranked over all chains) minus the uniform CDF: chains that sample the same distribution stay
near zero together.  Each panel's verdict is the one of ``diagnostics.json``: split rank
r_hat <= 1.01 and bulk and tail ESS >= 400 (:class:`bayes_sdm.diagnostics.Thresholds`),
computed by the same ArviZ functions; a failing panel is titled in red.  (ArviZ's own rank
plot adds a multi-chain uniformity test at 1% per panel on the unthinned, autocorrelated draws,
a different and much stricter criterion -- one panel in six of a well-mixed cigar fit rejects --
which is why its p-values are not shown here.)

The effects forest has one panel per variable, each with its own x axis (so variables of very
different scales stay readable), rows direct / indirect / total (by region, one colour per
region), the posterior median, 50% and 94% highest-density intervals and a zero line; ML point
estimates as crosses when given.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputError

HDI_PROB = 0.94
#: hierarchical columns shown beside the regions, in order
HYPER_SUFFIXES = ("_mean", "_tau")
#: a figure is at most this many inches tall (the rest is summarised in the title)
MAX_HEIGHT_IN = 40.0


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 100) -> Path:
    """Save atomically (a temporary file renamed into place) and close the figure."""
    plt = _mpl()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    plt.close(fig)
    return path


def posterior_dataset(idata):
    post = idata["posterior"]
    return post.to_dataset() if hasattr(post, "to_dataset") else post


def parameter_vars(idata) -> list[str]:
    """The parameters shown in the trace and rank plots (spatial parameter, beta, theta,
    sigma2, and the hierarchical means / scales where present)."""
    post = posterior_dataset(idata)
    cands = ["rho", "lambda", "rho_mean", "rho_tau", "lambda_mean", "lambda_tau", "beta",
             "beta_mean", "beta_tau", "theta", "theta_mean", "theta_tau", "sigma2",
             "sigma_mean", "sigma_tau"]
    return [v for v in cands if v in post.data_vars]


# ----------------------------------------------------------------------------- the grid
def _label(var: str, sel: dict) -> str:
    inner = [str(sel[d]) for d in sel if d != "region"]
    return var + (f"[{', '.join(inner)}]" if inner else "")


def _scalars(post, var: str):
    """(selection dict) for every scalar of ``var``, coefficient-major."""
    extra = [d for d in post[var].dims if d not in ("chain", "draw")]
    if not extra:
        return [{}]
    shape = [post.sizes[d] for d in extra]
    return [{d: post[var].coords[d].values[i] for d, i in zip(extra, idx, strict=True)}
            for idx in np.ndindex(*shape)]


def panel_grid(idata, var_names=None):
    """The panels of the trace and rank plots: a list of rows, each a list of cells
    ``(title, var, selection)`` or None (an empty cell), and the column headings.

    Pooled: one parameter per row.  Regional: rows per coefficient, columns the regions then
    the hierarchical mean and scale (module docstring)."""
    post = posterior_dataset(idata)
    names = list(var_names or parameter_vars(idata))
    regional = any("region" in post[v].dims for v in names)
    if not regional:
        return [[(_label(v, s), v, s)] for v in names for s in _scalars(post, v)], None
    regions = [str(r) for r in post["region"].values]
    hypers = [suf for suf in HYPER_SUFFIXES if any(v.endswith(suf) for v in names)]
    ncol = len(regions) + len(hypers)
    base = [v for v in names if not v.endswith(HYPER_SUFFIXES)]
    glob = [(_label(v, s), v, s) for v in base if "region" not in post[v].dims
            for s in _scalars(post, v)]
    rows = [glob[i:i + ncol] + [None] * max(0, ncol - len(glob[i:i + ncol]))
            for i in range(0, len(glob), ncol)]
    for v in base:
        if "region" not in post[v].dims:
            continue
        other = [s for s in _scalars(post, v) if str(s["region"]) == regions[0]]
        for s0 in other:
            key = {d: s0[d] for d in s0 if d != "region"}
            row = [(f"{_label(v, key)} - {r}", v, {**key, "region": post["region"].values[g]})
                   for g, r in enumerate(regions)]
            for suf in hypers:
                hv = _hyper_name(v, suf)
                row.append((f"{_label(hv, key)}", hv, key) if hv in post.data_vars
                           and hv in names else None)
            rows.append(row)
    return rows, regions + [h.strip("_") for h in hypers]


def _hyper_name(v: str, suf: str) -> str:
    base = "sigma" if v == "sigma2" else v
    return base + suf


def _draws(post, var: str, sel: dict) -> np.ndarray:
    """(chains, draws) of one scalar."""
    da = post[var].sel(sel) if sel else post[var]
    return np.asarray(da.transpose("chain", "draw").values, dtype=float)


def _title(fig, text: str, fontsize: float = 10.5) -> None:
    """The figure's title, left-aligned at the top (0.12 in below the edge)."""
    if fig.get_layout_engine() is not None:  # the layout engine makes room for it
        fig.suptitle(text, fontsize=fontsize, x=0.01, ha="left")
    else:
        fig.suptitle(text, fontsize=fontsize, x=0.01, y=1 - 0.12 / fig.get_figheight(),
                     ha="left", va="top")


def _chain_legend(fig, n_chains: int) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{c}", lw=1.6, label=f"chain {c}")
               for c in range(n_chains)]
    loc = "outside lower center" if fig.get_layout_engine() is not None else "lower center"
    fig.legend(handles=handles, loc=loc, ncol=min(n_chains, 8), fontsize=8, frameon=False)


# ----------------------------------------------------------------------------- trace
def plot_trace(idata, path: str | Path, var_names=None, title: str = "") -> Path:
    """Per-parameter density and trace per chain (pooled) or traces faceted by region
    (module docstring)."""
    from matplotlib.ticker import MaxNLocator
    from scipy.stats import gaussian_kde

    plt = _mpl()
    post = posterior_dataset(idata)
    rows, cols = panel_grid(idata, var_names)
    nchain = post.sizes["chain"]
    if cols is None:  # pooled: density | trace
        n = len(rows)
        fig, axes = plt.subplots(n, 2, figsize=(11, min(1.55 * n + 1.0, MAX_HEIGHT_IN)),
                                 layout="constrained", squeeze=False,
                                 gridspec_kw={"width_ratios": [1, 2.2]})
        for i, row in enumerate(rows):
            lab, v, sel = row[0]
            x = _draws(post, v, sel)
            ad, at = axes[i]
            lo, hi = np.quantile(x, [0.001, 0.999])
            grid = np.linspace(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), 200)
            for c in range(nchain):
                if np.ptp(x[c]) > 0:
                    ad.plot(grid, gaussian_kde(x[c])(grid), color=f"C{c}", lw=1.2)
                at.plot(x[c], color=f"C{c}", lw=0.5, alpha=0.7)
            ad.set_title(lab, fontsize=10, loc="left")
            ad.set_yticks([])
            ad.xaxis.set_major_locator(MaxNLocator(5))
            at.set_xlim(0, x.shape[1] - 1)
            for a in (ad, at):
                a.tick_params(labelsize=8)
        axes[-1, 1].set_xlabel("draw", fontsize=9)
        axes[-1, 0].set_xlabel("value (density per chain)", fontsize=9)
    else:
        fig, axes = _grid_figure(plt, rows, cols, row_in=1.3, top_in=0.75)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                ax = axes[i, j]
                if cell is None:
                    ax.set_axis_off()
                    continue
                lab, v, sel = cell
                x = _draws(post, v, sel)
                for c in range(nchain):
                    ax.plot(x[c], color=f"C{c}", lw=0.4, alpha=0.7)
                ax.set_title(lab, fontsize=9, loc="left")
                ax.set_xlim(0, x.shape[1] - 1)
                ax.tick_params(labelsize=7)
        for ax in axes[-1]:
            if ax.axison:
                ax.set_xlabel("draw", fontsize=8)
    _chain_legend(fig, nchain)
    _title(fig, title or "Traces per chain")
    return save_figure(fig, Path(path))


def _grid_figure(plt, rows, cols, row_in: float = 1.45, top_in: float = 1.05):
    """A grid of small panels with a fixed layout (the constrained layout solver doubles the
    drawing time of a 60-panel figure): room for two-line panel titles, a two-line figure title
    on top and the chain legend below."""
    from matplotlib.ticker import MaxNLocator

    nrow, ncol = len(rows), len(cols)
    h = min(row_in * nrow + top_in + 0.45, MAX_HEIGHT_IN)
    wid = 2.7 * ncol + 0.9
    fig, axes = plt.subplots(nrow, ncol, figsize=(wid, h), squeeze=False)
    fig.subplots_adjust(left=0.55 / wid, right=1 - 0.15 / wid, top=1 - top_in / h,
                        bottom=0.75 / h, hspace=0.75 * 1.45 / row_in, wspace=0.28)
    for ax in axes.ravel():
        ax.yaxis.set_major_locator(MaxNLocator(4))
    return fig, axes


# ----------------------------------------------------------------------------- ranks
def _summary_label(post, var: str, sel: dict) -> str:
    """The parameter's name in ArviZ's summary (and ``diagnostics.json``): ``beta[east, mar]``."""
    dims = [d for d in post[var].dims if d not in ("chain", "draw")]
    return var + (f"[{', '.join(str(sel[d]) for d in dims)}]" if dims else "")


def rank_verdicts(idata, var_names=None, diagnostics=None):
    """r_hat, ess_bulk, ess_tail and the verdict of every panel of the rank plot, taken from
    the diagnostics (:func:`bayes_sdm.diagnostics.diagnose`, the ``diagnostics.json`` of the
    run; computed here when not given): a DataFrame (title, parameter, r_hat, ess_bulk,
    ess_tail, passed)."""
    import pandas as pd

    from .diagnostics import diagnose

    post = posterior_dataset(idata)
    rows, _ = panel_grid(idata, var_names)
    cells = [c for r in rows for c in r if c is not None]
    keys = [_summary_label(post, v, sel) for _, v, sel in cells]
    table = None if diagnostics is None else diagnostics.per_parameter.set_index("parameter")
    if table is None or any(k not in table.index for k in keys):
        names = list(dict.fromkeys(v for _, v, _ in cells))
        table = diagnose(idata, var_names=names).per_parameter.set_index("parameter")
    out = [{"title": lab, "parameter": k, **{c: float(table.loc[k, c])
                                            for c in ("r_hat", "ess_bulk", "ess_tail")},
            "passed": bool(table.loc[k, "passed"])}
           for (lab, _, _), k in zip(cells, keys, strict=True)]
    return pd.DataFrame(out)


def _rank_ecdf(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per chain, ECDF of the fractional ranks (over all chains) minus the uniform CDF."""
    from scipy.stats import rankdata

    c, d = x.shape
    r = rankdata(x.ravel(), method="average").reshape(c, d) / x.size
    return np.stack([np.searchsorted(np.sort(r[i]), grid, side="right") / d - grid
                     for i in range(c)])


def plot_ranks(idata, path: str | Path, var_names=None, title: str = "",
               diagnostics=None) -> Path:
    """Rank-ECDF plots per chain, one panel per parameter (faceted by region), each with the
    verdict of ``diagnostics.json`` (module docstring; ``diagnostics``: the run's
    :class:`~bayes_sdm.diagnostics.Diagnostics`, computed when not given)."""
    plt = _mpl()
    post = posterior_dataset(idata)
    rows, cols = panel_grid(idata, var_names)
    verdicts = rank_verdicts(idata, var_names, diagnostics).set_index("title")
    nchain = post.sizes["chain"]
    if cols is None:  # pooled: wrap the panels four to a row
        cells = [r[0] for r in rows]
        ncol = min(4, len(cells))
        rows = [cells[i:i + ncol] + [None] * (ncol - len(cells[i:i + ncol]))
                for i in range(0, len(cells), ncol)]
        cols = [""] * ncol
    fig, axes = _grid_figure(plt, rows, cols)
    grid = np.linspace(0, 1, 201)
    devs = {c[0]: _rank_ecdf(_draws(post, c[1], c[2]), grid) for r in rows for c in r
            if c is not None}
    top = 1.1 * max(float(np.abs(d).max()) for d in devs.values())
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            ax = axes[i, j]
            if cell is None:
                ax.set_axis_off()
                continue
            lab, v, sel = cell
            dev = devs[lab]
            for c in range(nchain):
                ax.plot(grid, dev[c], color=f"C{c}", lw=1.0)
            ax.axhline(0, color="0.5", lw=0.6)
            r = verdicts.loc[lab]
            ok = bool(r["passed"])
            ax.set_title(f"{lab}\nr_hat {r['r_hat']:.3f}, ESS {r['ess_bulk']:,.0f} / "
                         f"{r['ess_tail']:,.0f}" + ("" if ok else "  FAIL"), fontsize=8,
                         loc="left", color="black" if ok else "C3")
            if not ok:
                for s in ax.spines.values():
                    s.set_color("C3")
            ax.set_xlim(0, 1)
            ax.set_ylim(-top, top)  # one scale for every panel: deviations compare
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        if ax.axison:
            ax.set_xlabel("fractional rank", fontsize=8)
    for ax in axes[:, 0]:
        if ax.axison:
            ax.set_ylabel("ECDF - uniform", fontsize=8)
    _chain_legend(fig, nchain)
    n_fail = int((~verdicts["passed"]).sum())
    _title(fig, (title or "Rank ECDF per chain") + "\nverdicts as in diagnostics.json "
           f"(r_hat <= 1.01, bulk and tail ESS >= 400): {len(verdicts) - n_fail} passed, "
           f"{n_fail} failed")
    return save_figure(fig, Path(path))


# ----------------------------------------------------------------------------- effects
def _hdi_rows(da, prob: float) -> np.ndarray:
    """HDI bounds over (chain, draw), other dims kept: array (..., 2)."""
    import arviz as az

    other = [d for d in da.dims if d not in ("chain", "draw")]
    h = az.hdi(da.to_dataset(name="v"), prob=prob)["v"]
    return np.stack([h.sel(ci_bound="lower").transpose(*other).values,
                     h.sel(ci_bound="upper").transpose(*other).values], axis=-1)


def plot_effects_forest(idata, path: str | Path, title: str = "", var: str = "effects",
                        ml_effects=None) -> Path:
    """One forest panel per variable: direct / indirect / total effects (by region when the
    effects have a ``region`` dim, one colour per region), posterior median, 50% and 94% HDI,
    zero line; ML point estimates (a frame with variable, effect, mean) as crosses."""
    plt = _mpl()
    post = posterior_dataset(idata)
    if var not in post.data_vars:
        raise InputError(f"the posterior has no {var!r} variable")
    da = post[var]
    regional = "region" in da.dims
    order = ["coef", "effect"] + (["region"] if regional else [])
    da = da.transpose("chain", "draw", *order)
    coefs = [str(c) for c in da.coords["coef"].values]
    effects = [str(e) for e in da.coords["effect"].values]
    regions = [str(r) for r in da.coords["region"].values] if regional else [""]
    med = da.median(("chain", "draw")).values
    h94, h50 = _hdi_rows(da, HDI_PROB), _hdi_rows(da, 0.5)
    if not regional:
        med, h94, h50 = med[..., None], h94[..., None, :], h50[..., None, :]
    ml = None
    if ml_effects is not None and not regional:
        ml = ml_effects.set_index(["variable", "effect"])["mean"]
    k = len(coefs)
    ncol = min(3, k)
    nrow = int(np.ceil(k / ncol))
    nreg = len(regions)
    per = len(effects) * nreg
    fig, axes = plt.subplots(nrow, ncol, squeeze=False, layout="constrained",
                             figsize=(3.9 * ncol + 0.8, (0.22 * per + 1.0) * nrow + 0.9))
    for j, coef in enumerate(coefs):
        ax = axes[j // ncol, j % ncol]
        ticks, labels = [], []
        for e, eff in enumerate(effects):
            for g, _reg in enumerate(regions):
                y = -(e * (nreg + 0.8) + g)
                col = f"C{g}" if regional else "C0"
                ax.plot(h94[j, e, g], [y, y], color=col, lw=1.2)
                ax.plot(h50[j, e, g], [y, y], color=col, lw=3.5, solid_capstyle="butt")
                ax.plot(med[j, e, g], y, "o", color=col, ms=4, mfc="white", mew=1.2)
                if ml is not None and (coef, eff) in ml.index:
                    ax.plot(float(ml[(coef, eff)]), y, "x", color="C3", ms=7, mew=1.6,
                            zorder=5)
            ticks.append(-(e * (nreg + 0.8) + (nreg - 1) / 2))
            labels.append(eff)
        ax.axvline(0.0, color="0.5", lw=0.8, ls="--", zorder=0)
        ax.set_yticks(ticks, labels, fontsize=9)
        ax.set_ylim(-(len(effects) * (nreg + 0.8)) + 0.3, 0.7)
        ax.set_title(coef, fontsize=10, loc="left")
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", color="0.92", lw=0.6)
    for j in range(k, nrow * ncol):
        axes[j // ncol, j % ncol].set_axis_off()
    _forest_legend(fig, regions if regional else None, ml is not None)
    fig.suptitle(title or ("Direct, indirect and total effects by region" if regional
                           else "Direct, indirect and total effects"), fontsize=11, x=0.01,
                 ha="left")
    fig.supxlabel("effect on y: posterior median (dot), 50% HDI (thick), 94% HDI (thin)",
                  fontsize=9)
    return save_figure(fig, Path(path))


def _forest_legend(fig, regions, with_ml: bool) -> None:
    from matplotlib.lines import Line2D

    handles = []
    if regions:
        handles += [Line2D([], [], color=f"C{g}", lw=3, label=r) for g, r in enumerate(regions)]
    if with_ml:
        handles.append(Line2D([], [], marker="x", color="C3", ls="", mew=1.6,
                              label="ML estimate"))
    if handles:
        fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8,
                   frameon=False)
