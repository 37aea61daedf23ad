"""Posterior predictive replicates and figures of the Bayesian dynamic spatial panel
(:mod:`bayes_sdm.dynamic_bayes`).

The model is defined conditionally on the first observed period y_0 (:mod:`bayes_sdm.dynamic`)::

    y_t = S^{-1} (tau y_{t-1} + eta W y_{t-1} + X_t beta + W X_t theta + mu + alpha_t + eps_t),
    S = I - rho W,  eps_t ~ N(0, sigma^2 I),  t = 1, ..., T' = T - 1,

so a replicated panel keeps the observed y_0 and draws y_1, ..., y_T' of one posterior draw:

``joint`` (default)  recursively, y_rep_t from y_rep_{t-1} (y_rep_0 = y_0): a draw from the
                     model's joint law of the T' periods given the first one, p(y_1..T' | y_0,
                     theta), the density of the likelihood;
``one_step``         each y_rep_t from the *observed* y_{t-1}: the one-step-ahead predictive
                     p(y_t | y_{t-1}, theta), the likelihood's factors one at a time.

Unit effects.  With correlated random effects (``psi`` in the posterior, the default model)
mu_i = psi'h_i + a_i, h_i = (y_i0, (W y_0)_i, xbar_i, (W xbar)_i [, 1 without time effects]),
a_i ~ N(0, sigma_mu^2).  The likelihood integrates a out; for the replicate a is drawn from its
conditional posterior given the draw and the data (Gaussian conjugacy: the time mean of the
innovation, ebar_i = (1/T') sum_t e_it with e_it = [S y_t - tau y_{t-1} - eta W y_{t-1} - X_t beta
- W X_t theta]_i, is psi'h_i + a_i + alpha-bar + N(0, sigma^2/T') noise), so with
d_i = ebar_i - psi'h_i (centred over units when there are time effects, which absorb the mean)
and k = T' sigma_mu^2 / (sigma^2 + T' sigma_mu^2)::

    a_i | theta, y ~ N(k d_i, sigma_mu^2 (1 - k)).

Time effects alpha_t (fe ``time`` / ``twoway``) are set at their least-squares estimates given
the draw and mu, alpha_t = mean_i (e_it - mu_i), as the static replicates do
(:mod:`bayes_sdm.predictive`); the F_N' transform of the likelihood removes them, so the
transformed replicate's law does not depend on them.  With the within (``fixed``) model, which
has no psi, mu_i + alpha_t are the least-squares projection of e onto the effects
(:func:`bayes_sdm.variance_predictive.weighted_effects` with equal weights).

Residual Moran's I (``ppc_moran.png``): the residual of draw s is the FE-transformed columns
[y, Wy, y_{-1}, W y_{-1}, X, WX] (time-demeaned over the T' periods with unit effects, centred
over units with time effects: F_N F_N' is the centring, and Moran's I centres) times
:func:`bayes_sdm.dynamic.residual_coef`, for the observed panel and for the replicate of the
same draw (Gelman, Meng & Stern 1996).

The dynamic SEM / SDEM (:mod:`bayes_sdm.dynamic_error_bayes`) replicate the same way with the
effects and errors inside the error filter, y_t = tau y_{t-1} + eta W y_{t-1} + X_t beta +
W X_t theta + B^{-1}(mu + alpha_t + eps_t), B = I - lambda W, and the innovation
e_t = B (y_t - tau y_{t-1} - eta W y_{t-1} - X_t beta - W X_t theta) (:func:`innovations`).

Cost: one LU factorisation of I - rho W per replicated draw and T' solves with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dynamic import DynamicData
from .errors import InputError

REPLICATE_MODES = ("joint", "one_step")


def _factor(w, rho: float):
    """A solver of (I - rho W) x = b for b of shape (N,) or (N, m)."""
    import scipy.linalg as sla
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n = w.n
    if w.is_sparse:
        lu = spla.splu(sp.csc_array(sp.eye_array(n) - rho * w.matrix))
        return lu.solve
    lu = sla.lu_factor(np.eye(n) - rho * np.asarray(w.matrix, dtype=float))
    return lambda b: sla.lu_solve(lu, b)


def _draws(dd: DynamicData, post) -> dict:
    from .draws import flat

    out = {v: flat(post, v) for v in ("tau", "eta", "sigma2")}
    out["rho"] = flat(post, "rho") if dd.family.lag else flat(post, "lambda")  # the filter's
    out["beta"] = flat(post, "beta", ("coef",))
    out["theta"] = flat(post, "theta", ("coef",)) if dd.family.durbin else \
        np.zeros_like(out["beta"])
    if "psi" in post.data_vars:
        out["psi"] = flat(post, "psi", ("cre_term",))
        out["sigma_mu"] = flat(post, "sigma_mu")
    return out


def cre_covariates(panel, w) -> np.ndarray:
    """h (N, m): the correlated-random-effects covariates in the order of
    :func:`bayes_sdm.dynamic_bayes.cre_terms` without the constant."""
    y = np.asarray(panel.y, dtype=float)
    x = np.asarray(panel.X, dtype=float)[1:]
    return np.column_stack([y[0], w.lag(y[:1])[0], x.mean(axis=0), w.lag(x).mean(axis=0)])


def replicate_effects(dd: DynamicData, panel, p: dict, e: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """The unit and time effects (S, T', N) of the replicates (module docstring), given the
    draws ``p`` and their innovations e (S, T', N)."""
    unit, time = dd.fe in ("unit", "twoway"), dd.fe in ("time", "twoway")
    ns, tp, n = e.shape
    if "psi" not in p:
        from .variance_predictive import weighted_effects

        return weighted_effects(e, dd.fe)
    if not unit:
        raise InputError("correlated random effects need unit effects")
    h = cre_covariates(panel, dd.w)
    if not time:
        h = np.column_stack([h, np.ones(n)])
    if p["psi"].shape[1] != h.shape[1]:
        raise InputError(f"psi has {p['psi'].shape[1]} terms, the model {h.shape[1]}")
    mu_c = p["psi"] @ h.T  # (S, N)
    d = e.mean(axis=1) - mu_c
    if time:
        d = d - d.mean(axis=1, keepdims=True)
    s2, smu2 = p["sigma2"][:, None], p["sigma_mu"][:, None] ** 2
    k = tp * smu2 / (s2 + tp * smu2)
    a = k * d + np.sqrt(smu2 * (1.0 - k)) * rng.standard_normal((ns, n))
    mu = mu_c + a
    eff = np.broadcast_to(mu[:, None, :], e.shape).copy()
    if time:
        eff = eff + (e - mu[:, None, :]).mean(axis=2, keepdims=True)
    return eff


def innovations(dd: DynamicData, y: np.ndarray, fx: np.ndarray, p: dict) -> np.ndarray:
    """Raw innovations e (S, T', N) of panels y ((T, N) observed, or (S, T, N)) at the draws
    ``p`` (fx (S, T', N) = X_t beta + W X_t theta): S y_t - tau y_{t-1} - eta W y_{t-1} - fx
    for the lag families, B (y_t - tau y_{t-1} - eta W y_{t-1} - fx) for the error families
    (:mod:`bayes_sdm.dynamic_error`; ``p["rho"]`` holds their lambda)."""
    w = dd.w
    y = np.broadcast_to(y, fx.shape[:1] + y.shape[-2:])
    ns, tt, n = y.shape
    wy = w.lag(y.reshape(ns * tt, n)).reshape(ns, tt, n)
    r, ta, et = (p[v][:, None, None] for v in ("rho", "tau", "eta"))
    v = y[:, 1:] - ta * y[:, :-1] - et * wy[:, :-1] - fx
    if dd.family.lag:
        return v - r * wy[:, 1:]
    return v - r * w.lag(v.reshape(-1, n)).reshape(v.shape)


def dynamic_replicates(dd: DynamicData, panel, posterior, seed: int | None = None,
                       mode: str = "joint") -> np.ndarray:
    """Replicated periods 1..T-1 (S, T', N), one per draw of ``posterior`` (module docstring).

    Parameters
    ----------
    dd : the prepared dynamic data (:func:`bayes_sdm.dynamic.prepare_dynamic`, or
        :func:`bayes_sdm.dynamic_error.prepare_dynamic_error` for SEM / SDEM)
    panel : the panel it was prepared from (units in W's order)
    posterior : Dataset (or DataTree node) with rho (lambda), tau, eta, beta (theta), sigma2
        (psi, sigma_mu)
    mode : ``joint`` or ``one_step``

    Raises
    ------
    InputError
        an unknown mode; a posterior without the model's variables; a panel of another shape.
    """
    from .sampling import small_blas

    if mode not in REPLICATE_MODES:
        raise InputError(f"unknown replicate mode {mode!r}; choose from {REPLICATE_MODES}")
    post = posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior
    missing = [v for v in ("rho" if dd.family.lag else "lambda", "tau", "eta", "beta",
                           "sigma2", *(["theta"] if dd.family.durbin else []))
               if v not in post.data_vars]
    if missing:
        raise InputError(f"the posterior lacks {missing}, which the dynamic replicates need")
    y = np.asarray(panel.y, dtype=float)
    x = np.asarray(panel.X, dtype=float)[1:]
    if y.shape != (dd.T, dd.N):
        raise InputError(f"the panel has shape {y.shape}; the model was prepared for "
                         f"{(dd.T, dd.N)}")
    w = dd.w
    p = _draws(dd, post)
    rng = np.random.default_rng(seed)
    wy = w.lag(y)
    fx = np.einsum("tnk,sk->stn", x, p["beta"]) + np.einsum("tnk,sk->stn", w.lag(x),
                                                            p["theta"])
    e = innovations(dd, y, fx, p)
    shock = replicate_effects(dd, panel, p, e, rng)
    shock = shock + np.sqrt(p["sigma2"])[:, None, None] * rng.standard_normal(e.shape)
    ns, tp, n = e.shape
    lag = dd.family.lag
    out = np.empty((ns, tp, n))
    with small_blas(n):
        for s in range(ns):
            solve = _factor(w, float(p["rho"][s]))
            if mode == "one_step":
                b = fx[s] + p["tau"][s] * y[:-1] + p["eta"][s] * wy[:-1]
                out[s] = solve((b + shock[s]).T).T if lag else b + solve(shock[s].T).T
                continue
            prev = y[0]
            for t in range(tp):
                b = fx[s, t] + p["tau"][s] * prev + p["eta"][s] * w.lag(prev[None])[0]
                prev = out[s, t] = solve(b + shock[s, t]) if lag else b + solve(shock[s, t])
    return out


def dynamic_posterior_predictive(fit, panel, draws: int | None = 100, seed: int | None = None,
                                 mode: str = "joint"):
    """:func:`dynamic_replicates` of a :class:`~bayes_sdm.dynamic_run.DynamicFit` as a
    DataArray ``y`` (chain, draw, time, unit) over periods 1..T-1, from at most ``draws``
    evenly thinned draws per chain."""
    import xarray as xr

    from .ppc import thin_posterior

    post = fit.idata["posterior"]
    post = thin_posterior(post.to_dataset() if hasattr(post, "to_dataset") else post, draws)
    reps = dynamic_replicates(fit.data, panel, post, seed, mode)
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    return xr.DataArray(reps.reshape(nc, nd, *reps.shape[1:]),
                        dims=("chain", "draw", "time", "unit"), name="y",
                        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                "time": list(panel.times[1:]), "unit": list(panel.units)})


def _fe_transform(dd: DynamicData, e: np.ndarray) -> np.ndarray:
    """The FE transform of (..., T', N) residuals in N-space: time demeaning with unit effects,
    centring over units with time effects (F_N F_N'; Moran's I centres anyway)."""
    if dd.fe in ("unit", "twoway"):
        e = e - e.mean(axis=-2, keepdims=True)
    if dd.fe in ("time", "twoway"):
        e = e - e.mean(axis=-1, keepdims=True)
    return e


def residual_moran(dd: DynamicData, panel, post, y_rep) -> tuple[np.ndarray, np.ndarray]:
    """Moran's I by period (1..T-1) of the transformed residuals of the observed and of the
    replicated panels at the same draws: arrays (S, T') each."""
    from .plots import _moran_i

    yr = np.asarray(y_rep.transpose("chain", "draw", "time", "unit").values)
    c, d, tp, n = yr.shape
    post = post.to_dataset() if hasattr(post, "to_dataset") else post
    p = _draws(dd, post.sel(chain=y_rep.coords["chain"], draw=y_rep.coords["draw"]))
    y = np.asarray(panel.y, dtype=float)
    x = np.asarray(panel.X, dtype=float)[1:]
    fx = np.einsum("tnk,sk->stn", x, p["beta"]) + np.einsum("tnk,sk->stn", dd.w.lag(x),
                                                            p["theta"])
    e_obs = _fe_transform(dd, innovations(dd, y, fx, p))
    full = np.concatenate([np.broadcast_to(y[:1], (c * d, 1, n)), yr.reshape(c * d, tp, n)],
                          axis=1)
    e_rep = _fe_transform(dd, innovations(dd, full, fx, p))
    wm = dd.w.matrix
    return _moran_i(e_obs, wm), _moran_i(e_rep, wm)


def dynamic_parameter_vars(fit) -> list[str]:
    """The parameters of the trace and rank figures (the psi nuisance coefficients left out)."""
    post = fit.idata["posterior"]
    names = [v for v in ("rho", "lambda", "tau", "eta", "beta", "theta", "sigma2", "sigma_mu")
             if v in post.data_vars]
    if fit.data.restricted:
        names.remove("eta")
    return names


def write_dynamic_plots(fit, panel, out_dir: str | Path, ml_result=None, ppc_draws: int = 100,
                        seed: int = 0, progress=None, diagnostics=None) -> list[Path]:
    """The figures of a dynamic fit, as :func:`bayes_sdm.plots.write_plots` for a static one:
    ``trace.png``, ``rank.png``, ``effects_forest.png`` (short and long run, one colour each),
    ``ppc_y.png`` (joint replicates of periods 1..T-1 given y_0), ``ppc_moran.png`` and
    ``rho_ml.png`` (with an ML fit) or ``rho.png``."""
    import xarray as xr

    from .plots import (
        _label,
        plot_effects_forest,
        plot_moran_ppc,
        plot_ppc_y,
        plot_ranks,
        plot_spatial_vs_ml,
        plot_trace,
    )
    from .progress import as_stages

    stages = as_stages(progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    idata = fit.idata
    names = dynamic_parameter_vars(fit)
    label = f"dynamic {_label(fit)} ({fit.data.form})"
    with stages.stage("figures: trace, rank, effects"):
        paths = [plot_trace(idata, out / "trace.png", var_names=names,
                            title=f"Traces per chain - {label}"),
                 plot_ranks(idata, out / "rank.png", var_names=names,
                            title=f"Rank ECDF per chain - {label}", diagnostics=diagnostics)]
        eff = idata["posterior"]["effects"].rename(horizon="region")
        paths.append(plot_effects_forest(
            xr.DataTree.from_dict({"posterior": xr.Dataset({"effects": eff})}),
            out / "effects_forest.png",
            title=f"Short- and long-run effects - {label}"))
    with stages.stage(f"posterior predictive checks ({ppc_draws} draws per chain: y given "
                      "the first period, residual Moran's I)"):
        y_rep = dynamic_posterior_predictive(fit, panel, ppc_draws, seed)
        i_obs, i_rep = residual_moran(fit.data, panel, idata["posterior"], y_rep)
    with stages.stage("figures: predictive checks"):
        paths.append(plot_ppc_y(y_rep, np.asarray(panel.y)[1:], out / "ppc_y.png",
                                fe=fit.data.fe, title="Posterior predictive check of y "
                                f"(periods 2..T given the first) - {label}"))
        paths.append(plot_moran_ppc(i_obs, i_rep, panel.times[1:], out / "ppc_moran.png",
                                    title=f"Residual Moran's I by year, observed vs "
                                          f"replicated - {label}\n(numbers: P(I_rep >= "
                                          "I_obs) per year)"))
    with stages.stage("figures: the spatial parameter"):
        var = "rho" if fit.data.family.lag else "lambda"
        paths.append(plot_spatial_vs_ml(idata, out / ("rho_ml.png" if ml_result is not None
                                                      else "rho.png"), ml_result, var=var))
    return paths
