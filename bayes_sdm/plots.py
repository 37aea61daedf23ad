"""Figures of a fit (ArviZ 1.x ``arviz_plots``, matplotlib backend, Agg; PNG files).

:func:`write_plots` writes, for a :class:`~bayes_sdm.result.FitResult` (or a regional fit with a
``region`` dim):

=====================  ==========================================================================
file                   content
=====================  ==========================================================================
``trace.png``          per parameter: densities and traces per chain (regional: traces faceted by
                       region; :mod:`bayes_sdm.plot_mcmc`)
``rank.png``           per parameter: rank ECDFs per chain (Vehtari et al. 2021) with the verdict
                       of ``diagnostics.json`` (same thresholds)
``effects_forest.png`` one panel per variable: median, 50% and 94% HDIs of the direct /
                       indirect / total effects, one colour per region for regional fits
``ppc_y.png``          posterior predictive check of y: densities of replicated panels against
                       the observed one (``plot_ppc_dist``), raw and FE-demeaned
``ppc_moran.png``      posterior predictive check of residual spatial autocorrelation by year:
                       Moran's I of the model's (transformed) residuals at each draw against
                       Moran's I of the residuals of the replicated panel at the same draw,
                       with the posterior predictive p-value per year (Gelman, Meng & Stern 1996)
``rho_ml.png``         posterior of rho (lambda) with the ML estimate and its 95% Wald interval
                       (when an ML fit is given; ``rho.png`` without one, by region where rho
                       has a region)
=====================  ==========================================================================

Moran's I of a cross-section e under W: I = (N / S0) e'We / e'e with e centred (Moran 1950;
Cliff & Ord 1981); :func:`bayes_sdm.moran.moran_i` when available.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError
from .plot_mcmc import (  # noqa: F401 - the figures of write_plots, importable from here
    HDI_PROB,
    _mpl,
    parameter_vars,
    plot_effects_forest,
    plot_ranks,
    plot_trace,
    posterior_dataset,
    save_figure,
)


def _figure(pc):
    return pc.viz["figure"].item()


def _save(fig, path: Path, dpi: int = 100) -> Path:
    return save_figure(fig, path, dpi)


def _posterior(idata):
    return posterior_dataset(idata)


# ----------------------------------------------------------------------------- PPC of y
def plot_ppc_y(y_rep, y_obs: np.ndarray, path: str | Path, fe: str = "twoway",
               num_samples: int = 60, title: str = "") -> Path:
    """Densities of replicated panels against the observed one (``arviz_plots.plot_ppc_dist``),
    raw y and y with the fixed effects' means removed (the part the model explains)."""
    import arviz_plots as azp
    import xarray as xr

    from .design import demean

    _mpl()
    yr = np.asarray(y_rep.transpose("chain", "draw", "time", "unit").values)
    c, d, t, n = yr.shape
    dem = demean(yr.reshape(c * d, t, n).transpose(1, 2, 0), fe).transpose(2, 0, 1)
    dem = dem.reshape(c, d, t * n)
    yo = np.asarray(y_obs, dtype=float)
    pp = xr.Dataset({"y": (("chain", "draw", "obs"), yr.reshape(c, d, t * n)),
                     "y_demeaned": (("chain", "draw", "obs"), dem)})
    ob = xr.Dataset({"y": ("obs", yo.ravel()), "y_demeaned": ("obs", demean(yo, fe).ravel())})
    dt = xr.DataTree.from_dict({"posterior_predictive": pp, "observed_data": ob})
    pc = azp.plot_ppc_dist(dt, backend="matplotlib", num_samples=min(num_samples, c * d),
                           sample_dims=["chain", "draw"], col_wrap=2,
                           figure_kwargs={"figsize": (10, 3.8), "layout": "constrained"})
    fig = _figure(pc)
    for ax, lab in zip(fig.get_axes(), ["y (raw)", f"y with {fe} FE means removed"]):
        ax.set_title(lab, fontsize=10)
    fig.legend(handles=[_line("C0", 0.4, "replicated"), _line("k", 1.0, "observed")],
               loc="upper right", fontsize=8, frameon=False)
    fig.suptitle(title or "Posterior predictive check of y", fontsize=11)
    return _save(fig, Path(path))


def _line(color, alpha, label):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, alpha=alpha, lw=1.5, label=label)


# ----------------------------------------------------------------------------- PPC Moran
def _moran_i(e: np.ndarray, wm) -> np.ndarray:
    """Moran's I over the last axis of e (..., N)."""
    try:
        from .moran import moran_i

        return np.asarray(moran_i(e, wm))
    except ImportError:
        z = e - e.mean(axis=-1, keepdims=True)
        flat = z.reshape(-1, z.shape[-1])
        wz = np.asarray(wm @ flat.T).T.reshape(z.shape)
        s0 = float(wm.sum())
        return (z.shape[-1] / s0) * (z * wz).sum(-1) / (z * z).sum(-1)


def residual_moran_draws(prep, posterior, y_rep) -> tuple[np.ndarray, np.ndarray]:
    """Moran's I by year of the transformed residuals of the observed data and of the
    replicated panels, at the same draws: arrays (S, T) each.

    The residual of draw s is Z c_s with Z the FE-transformed columns
    (:func:`bayes_sdm.design.transformed_columns`) and c_s =
    :func:`bayes_sdm.likelihood.coef_vector`; for the replicated panel y_rep,s the y blocks of Z
    are recomputed from y_rep,s (:func:`bayes_sdm.design.y_columns`).
    """
    from .design import join_blocks, residuals, transformed_columns, y_columns
    from .draws import parameter_draws
    from .likelihood import coef_vectors

    yr = np.asarray(y_rep.transpose("chain", "draw", "time", "unit").values)
    c, d, t, n = yr.shape
    post = posterior.sel(chain=y_rep.coords["chain"], draw=y_rep.coords["draw"])
    post = post.drop_vars(["sigma2"], errors="ignore")  # not used; sigma2[time] with sigma_t^2
    p = parameter_draws(post, prep.family)
    lay = prep.stats.layout
    z = transformed_columns(prep.panel, prep.w, prep.fe, prep.lag_convention, lay)
    cs = coef_vectors(lay, prep.family, p.spatial, p.beta, p.theta)
    e_obs = residuals(z, cs)
    xcols = np.concatenate([z[:, :, lay.slice(b)] for b in lay.x_block_names()], axis=2)
    e_rep = np.empty_like(e_obs)
    yflat = yr.reshape(c * d, t, n)
    for i in range(c * d):
        ycols = y_columns(yflat[i], prep.w, prep.fe, prep.lag_convention, lay)
        e_rep[i] = join_blocks(lay, ycols, xcols) @ cs[i]
    wm = prep.w.matrix
    return _moran_i(e_obs, wm), _moran_i(e_rep, wm)


def plot_moran_ppc(i_obs: np.ndarray, i_rep: np.ndarray, times, path: str | Path,
                   title: str = "") -> Path:
    """Moran's I of the residuals by year: replicated (grey box: 50% and 94% ranges) against
    realised (posterior median, 94% interval), with P(I_rep >= I_obs) per year."""
    plt = _mpl()
    t = i_obs.shape[1]
    x = np.arange(t)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.38 * t + 2.5), 4.4), layout="constrained")
    q = [(1 - HDI_PROB) / 2, 0.25, 0.5, 0.75, 1 - (1 - HDI_PROB) / 2]
    qr = np.quantile(i_rep, q, axis=0)
    qo = np.quantile(i_obs, q, axis=0)
    ax.vlines(x - 0.12, qr[0], qr[4], color="0.6", lw=1.2)
    ax.vlines(x - 0.12, qr[1], qr[3], color="0.6", lw=5, label="replicated residuals (50%, 94%)")
    ax.vlines(x + 0.12, qo[0], qo[4], color="C3", lw=1.2)
    ax.plot(x + 0.12, qo[2], "o", color="C3", ms=4, label="observed residuals (median, 94%)")
    ppp = (i_rep >= i_obs).mean(axis=0)
    ax.axhline(0.0, color="0.4", lw=0.7, ls="--")
    ymax = max(qr[4].max(), qo[4].max())
    for j in range(t):
        ax.text(x[j], ymax + 0.02 * (abs(ymax) + 0.1), f"{ppp[j]:.2f}", ha="center",
                va="bottom", fontsize=7, color="0.3", rotation=90 if t > 20 else 0)
    labels = [str(v) for v in times]
    step = max(1, int(np.ceil(t / 20)))
    ax.set_xticks(x[::step], labels[::step], rotation=45 if t > 10 else 0, fontsize=8)
    ax.set_xlabel("year", fontsize=9)
    ax.set_ylabel("Moran's I of residuals", fontsize=9)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    lo = min(qr[0].min(), qo[0].min())
    ax.set_ylim(lo - 0.05 * (ymax - lo + 0.1), ymax + 0.18 * (ymax - lo + 0.1))
    ax.set_title(title or "Posterior predictive check of residual spatial autocorrelation "
                 "(numbers: P(I_rep >= I_obs) per year)", fontsize=10)
    return _save(fig, Path(path))


# ----------------------------------------------------------------------------- rho vs ML
def plot_spatial_vs_ml(idata, path: str | Path, ml_result=None, var: str | None = None,
                       title: str = "") -> Path:
    """Posterior of rho (lambda) (``arviz_plots.plot_dist``: density, 94% HDI, mean) with the
    ML estimate and its 95% Wald interval."""
    import arviz_plots as azp

    _mpl()
    post = _posterior(idata)
    var = var or next((v for v in ("rho", "lambda") if v in post.data_vars), None)
    if var is None:
        raise InputError("the posterior has no spatial parameter (rho or lambda)")
    extra = [d for d in post[var].dims if d not in ("chain", "draw")]
    n = int(np.prod([post.sizes[d] for d in extra])) if extra else 1
    ncol = min(3, n)
    from .reporting import arviz_defaults

    with arviz_defaults():
        pc = azp.plot_dist(idata, var_names=[var], backend="matplotlib",
                           point_estimate="mean", ci_kind="hdi", ci_prob=HDI_PROB,
                           col_wrap=ncol,
                           figure_kwargs={"figsize": (max(7.5, 3.6 * ncol + 1.5),
                                                      3.2 * int(np.ceil(n / ncol)) + 0.8),
                                          "layout": "constrained"})
    fig = _figure(pc)
    if ml_result is not None and var in ml_result.params.index:
        est, se = float(ml_result.params[var]), float(ml_result.se[var])
        for ax in fig.get_axes():
            ax.axvline(est, color="C3", lw=1.5, label=f"ML {est:.4f}")
            if np.isfinite(se):
                ax.axvspan(est - 1.96 * se, est + 1.96 * se, color="C3", alpha=0.12,
                           label=f"ML 95% Wald (se {se:.4f})")
            ax.legend(loc="upper right", fontsize=8, frameon=False)
        vs = (f"\nagainst the ML estimate ({ml_result.correction} likelihood) and its 95% "
              "Wald interval")
    else:
        vs = ""
    if extra:
        head = f"Posterior of {var} by {', '.join(extra)} (mean, 94% HDI)"
    else:
        head = f"Posterior of {var} (mean {float(post[var].mean()):.4f}, 94% HDI)"
    fig.suptitle(title or head + vs, fontsize=11)
    return _save(fig, Path(path))


# ----------------------------------------------------------------------------- all
def write_plots(fit_result, out_dir: str | Path, ml_result=None, ppc_draws: int = 100,
                seed: int = 0, progress=None, diagnostics=None) -> list[Path]:
    """Write every figure of a fit as PNG into ``out_dir``; returns the paths.

    Parameters
    ----------
    fit_result : :class:`~bayes_sdm.result.FitResult` (all figures) or a regional fit (an object
        with ``.idata``; trace, rank, forest by region and rho figures)
    out_dir : folder (created)
    ml_result : optional :class:`~bayes_sdm.ml.MLResult` for ``rho_ml.png``
    ppc_draws : posterior draws per chain replicated for the predictive checks
    seed : seed of the replication
    progress : a :class:`~bayes_sdm.progress.Stages` reporter (the figures and the predictive
        checks are stages)
    diagnostics : the fit's :class:`~bayes_sdm.diagnostics.Diagnostics` (the rank plot's
        verdicts; computed when not given)
    """
    from .progress import as_stages

    stages = as_stages(progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    idata = getattr(fit_result, "idata", None)
    if idata is None:
        raise InputError("write_plots needs a fit result with .idata")
    post = _posterior(idata)
    label = _label(fit_result)
    with stages.stage("figures: trace, rank, effects"):
        paths = [plot_trace(idata, out / "trace.png", title=f"Traces per chain - {label}"),
                 plot_ranks(idata, out / "rank.png", title=f"Rank ECDF per chain - {label}",
                            diagnostics=diagnostics)]
        if "effects" in post.data_vars:
            ml_eff = None
            if ml_result is not None:
                try:
                    ml_eff = ml_result.effects()
                except Exception:  # noqa: BLE001 - overlay only
                    ml_eff = None
            paths.append(plot_effects_forest(idata, out / "effects_forest.png",
                                             ml_effects=ml_eff,
                                             title=f"Effects (LeSage & Pace 2009) - {label}"))
    prep = getattr(fit_result, "prepared", None)
    if prep is not None and prep.regional is None:
        from .ppc import posterior_predictive

        with stages.stage(f"posterior predictive checks ({ppc_draws} draws per chain: y, "
                          "residual Moran's I)"):
            y_rep = posterior_predictive(fit_result, draws=ppc_draws, seed=seed)
            i_obs, i_rep = residual_moran_draws(prep, post, y_rep)
        with stages.stage("figures: predictive checks"):
            paths.append(plot_ppc_y(y_rep, prep.panel.y, out / "ppc_y.png", fe=prep.fe,
                                    title=f"Posterior predictive check of y - {label}"))
            paths.append(plot_moran_ppc(i_obs, i_rep, prep.panel.times, out / "ppc_moran.png",
                                        title=f"Residual Moran's I by year, observed vs "
                                              f"replicated - {label}\n(numbers: P(I_rep >= "
                                              "I_obs) per year)"))
    if any(v in post.data_vars for v in ("rho", "lambda")):
        name = "rho_ml.png" if ml_result is not None else "rho.png"
        with stages.stage("figures: the spatial parameter"):
            paths.append(plot_spatial_vs_ml(idata, out / name, ml_result))
    return paths


def _label(fit_result) -> str:
    attrs = getattr(fit_result.idata, "attrs", {}) or {}
    model = attrs.get("model") or getattr(getattr(fit_result, "prepared", None), "model", "")
    fe = attrs.get("fe") or getattr(getattr(fit_result, "prepared", None), "fe", "")
    parts = [str(model).upper(), f"{fe} FE" if fe else ""]
    n, t = attrs.get("N"), attrs.get("T")
    if n and t:
        parts.append(f"N={n}, T={t}")
    return ", ".join(p for p in parts if p)
