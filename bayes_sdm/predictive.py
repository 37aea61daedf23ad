"""Prior and posterior predictive simulation for the spatial panel models.

Replicated panels are drawn from the one data-generating process of
:func:`bayes_sdm.simulate.simulate_y`:

    lag models (SAR, SDM)     y_t = (I - rho W)^{-1} (X_t beta + W X_t theta + mu + alpha_t iota + eps_t)
    error models (SEM, SDEM)  y_t = X_t beta + W X_t theta + (I - lam W)^{-1} (mu* + alpha*_t iota + eps_t)
    SLX                       y_t = X_t beta + W X_t theta + mu + alpha_t iota + eps_t

with eps_t ~ N(0, sigma^2 I_N), given one draw of (rho | lambda, beta, theta, sigma).

Fixed effects
-------------
The Lee & Yu (2010) transformed likelihood does not involve the fixed effects, so a posterior
draw carries none.  For replication they are set, draw by draw, at their estimates given the
draw: the least-squares (and conditional maximum-likelihood) estimates of mu_i and alpha_t given
(rho, beta, theta) are the unit and period means of the *untransformed* innovation

    e_it = [(I - rho W) y_t - X_t beta - W X_t theta]_i                  (lag models, SLX: rho = 0)
    e_it = [(I - lam W) (y_t - X_t beta - W X_t theta)]_i                 (error models)

i.e. mu_i + alpha_t = ebar_i. + ebar_.t - ebar_..  (two-way), mu_i = ebar_i. (unit),
alpha_t = ebar_.t (time) and none for ``fe="none"`` (Lee & Yu 2010, sec. 2 and 4; Elhorst 2014,
"Spatial Econometrics", eq. 3.13; Debarsy & Ertur 2010).  For error models the estimated effects
enter inside the spatial filter (mu* = (I - lam W) mu and, for a row-standardised W,
alpha*_t = (1 - lam) alpha_t), which is the same model.  The estimate is the projection
e - Q e of e onto the fixed-effect space (Q the demeaning of :func:`bayes_sdm.panel.demean`),
computed here as ``Z_FE c`` with Z_FE the projection of the raw columns [y, Wy, X, WX, W^2 X]
and c = :func:`bayes_sdm.likelihood.coef_vector` (one formula for the residual).

Consequences worth knowing: for unit and two-way effects the time mean of every unit's
replicated series equals, in expectation, the observed one; the transformed replicated data
have exactly the distribution of the model's transformed likelihood.  For the *prior*
predictive the effects are likewise estimated from the observed y at each prior draw (so prior
replicated panels live on the data's scale); a flat prior (``--priors flat``) cannot be sampled.

PyMC wiring
-----------
:func:`bayes_sdm.pymc_models.build_model` with ``panel=`` and ``w=`` adds the likelihood as an
observed ``pm.CustomDist`` named ``y`` (dims ``("time", "unit")``) whose ``logp`` is
:func:`bayes_sdm.likelihood.loglik` with the Gram matrix computed symbolically from the observed
value (:func:`observed_gram`; constant-folded by PyTensor when y is a constant, so a gradient
still costs O(K^2 + N)) and whose ``random`` is :func:`draw_y`.  ``pm.sample_prior_predictive``
and ``pm.sample_posterior_predictive`` then work on the model; :func:`posterior_predictive` and
:func:`prior_predictive` wrap them.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .likelihood import DURBIN_MODELS, ERROR_MODELS, LAG_MODELS, MODELS, coef_vector
from .panel import FE_TYPES, Panel, PanelDims, demean
from .simulate import simulate_y
from .weights import SpatialWeights


@dataclass(frozen=True)
class PredictiveData(PanelDims):
    """What replication and the observed-y likelihood need besides the parameters.

    Attributes
    ----------
    w : the weights
    X : regressors (T, N, K)
    y : observed y (T, N)
    units, times, x_names : labels
    fe, lag_convention : the fixed effects and lag convention of the fit
    z_fe : projection of the raw columns [y, Wy, X, WX, W^2 X] onto the fixed-effect space
        (T, N, 2 + 3K): ``z_fe @ c`` are the fixed-effect estimates given a draw
    zx : FE-transformed columns [X, WX, W^2 X] (T, N, 3K) (the constant part of the Gram matrix)
    """

    w: SpatialWeights
    X: np.ndarray  # noqa: N815
    y: np.ndarray
    units: tuple
    times: tuple
    x_names: tuple
    fe: str
    lag_convention: str
    z_fe: np.ndarray
    zx: np.ndarray


def raw_columns(panel: Panel, w: SpatialWeights) -> np.ndarray:
    """The untransformed columns [y, Wy, X, WX, W^2 X] (T, N, 2 + 3K) (lags of the raw data)."""
    raw = np.concatenate([panel.y[:, :, None], panel.X], axis=2)
    lag1 = w.lag(raw)
    lag2 = w.lag(lag1[:, :, 1:])
    return np.concatenate([raw[:, :, :1], lag1[:, :, :1], raw[:, :, 1:], lag1[:, :, 1:], lag2],
                          axis=2)


def predictive_data(panel: Panel, w: SpatialWeights, fe: str = "twoway",
                    lag_convention: str = "QWy") -> PredictiveData:
    """Precompute the arrays of :class:`PredictiveData` (one O(NT K) pass).

    Raises
    ------
    InputError
        W and the panel list different units, an unknown FE type or lag convention.
    """
    from .likelihood import transformed_columns

    if fe not in FE_TYPES:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {FE_TYPES}")
    if w.n != panel.N or tuple(w.ids) != tuple(panel.units):
        raise InputError("W and the panel list different units (or in a different order); "
                         "use bayes_sdm.prepare() to align them")
    z = raw_columns(panel, w)
    z_fe = z - demean(z, fe)
    zx = transformed_columns(panel, w, fe, lag_convention)[:, :, 2:]
    return PredictiveData(w=w, X=np.asarray(panel.X, dtype=float),
                          y=np.asarray(panel.y, dtype=float), units=tuple(panel.units),
                          times=tuple(panel.times), x_names=tuple(panel.x_names), fe=fe,
                          lag_convention=lag_convention, z_fe=z_fe, zx=zx)


class _KOnly:
    """coef_vector needs only ``.K`` of the sufficient statistics."""

    def __init__(self, k: int):
        self.K = k


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; choose from {MODELS}")


def fixed_effects(data: PredictiveData, model: str, rho, beta, theta=None) -> np.ndarray:
    """Fixed-effect estimates given one draw: the (T, N) array mu_i + alpha_t (see module doc).

    For error models the array is the filtered effects mu* + alpha*_t iota (they enter inside
    (I - lam W)^{-1}).  ``rho`` is ignored for SLX/OLS.
    """
    _check_model(model)
    beta = np.asarray(beta, dtype=float)
    if beta.shape != (data.K,):
        raise InputError(f"beta must have shape ({data.K},), got {beta.shape}")
    if model in DURBIN_MODELS and theta is not None:
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (data.K,):
            raise InputError(f"theta must have shape ({data.K},), got {theta.shape}")
    else:
        theta = None
    r = 0.0 if model in ("slx", "ols") else float(rho)
    c = coef_vector(_KOnly(data.K), model, r, beta, theta)
    return data.z_fe @ c


def draw_y(data: PredictiveData, model: str, rho, beta, theta, sigma,
           rng: np.random.Generator | int | None = None) -> np.ndarray:
    """One replicated panel y (T, N) given a parameter draw, the fixed effects at their
    estimates given the draw (:func:`fixed_effects`), through :func:`~bayes_sdm.simulate.simulate_y`.
    """
    rng = np.random.default_rng(rng)
    sigma = float(sigma)
    if not sigma > 0:
        raise InputError(f"sigma must be positive, got {sigma}")
    fe_hat = fixed_effects(data, model, rho, beta, theta)
    eps = fe_hat + sigma * rng.standard_normal((data.T, data.N))
    r = 0.0 if model in ("slx", "ols") else float(rho)
    th = np.asarray(theta, dtype=float) if model in DURBIN_MODELS else None
    return simulate_y(data.w, data.X, model, rho=r, beta=np.asarray(beta, float), theta=th,
                      sigma=sigma, eps=eps)


def expected_y(data: PredictiveData, model: str, rho, beta, theta=None) -> np.ndarray:
    """E[y_rep | draw] (T, N): the replicated mean with the fixed effects at their estimates."""
    from .simulate import mean_part, solve_spatial

    fe_hat = fixed_effects(data, model, rho, beta, theta)
    th = np.asarray(theta, dtype=float) if model in DURBIN_MODELS else None
    fx = mean_part(data.w, data.X, np.asarray(beta, float), th)
    if model in LAG_MODELS:
        return solve_spatial(data.w, float(rho), fx + fe_hat)
    if model in ERROR_MODELS:
        return fx + solve_spatial(data.w, float(rho), fe_hat)
    return fx + fe_hat


# ----------------------------------------------------------------------------- symbolic
def _demean_symbolic(a, fe: str):
    """:func:`bayes_sdm.panel.demean` for a PyTensor (T, N, C) tensor (same formula)."""
    out = a
    if fe in ("unit", "twoway"):
        out = out - a.mean(axis=0, keepdims=True)
    if fe in ("time", "twoway"):
        out = out - a.mean(axis=1, keepdims=True)
    if fe == "twoway":
        out = out + a.mean(axis=(0, 1), keepdims=True)
    return out


def _lag_symbolic(w: SpatialWeights, y):
    """W y_t for every row t of a (T, N) tensor."""
    import pytensor.sparse as ps
    import pytensor.tensor as pt

    if w.is_sparse:
        import scipy.sparse as sp

        wt = ps.as_sparse_variable(sp.csr_matrix(w.matrix.T))
        return ps.dot(y, wt)
    return pt.dot(y, pt.constant(np.ascontiguousarray(w.matrix.T)))


def observed_gram(data: PredictiveData, value):
    """The Gram matrix of [y~, (Wy)~, X~, (WX)~, (W^2 X)~] as a PyTensor expression of the
    observed value y (T, N); equals :func:`bayes_sdm.likelihood.sufficient_stats`'s Gram matrix
    at the observed data.  With a constant value PyTensor folds it to a constant at compile time.
    """
    import pytensor.tensor as pt

    y = pt.as_tensor_variable(value)
    wy = _lag_symbolic(data.w, y)
    if data.lag_convention == "QWy":
        cols = _demean_symbolic(pt.stack([y, wy], axis=2), data.fe)
    else:  # WQy: demean, then lag
        qy = _demean_symbolic(y[:, :, None], data.fe)[:, :, 0]
        cols = pt.stack([qy, _lag_symbolic(data.w, qy)], axis=2)
    z = pt.concatenate([cols, pt.constant(data.zx)], axis=2)
    zf = z.reshape((data.T * data.N, 2 + 3 * data.K))
    return pt.dot(zf.T, zf)


# ----------------------------------------------------------------------------- PyMC helpers
def _priors_from_attrs(idata):
    """The priors recorded in a fit's attributes (``spec``), or None."""
    attrs = getattr(idata, "attrs", {}) or {}
    if "spec" not in attrs:
        return None
    import yaml

    from .spec import ModelSpec

    try:
        return ModelSpec.from_dict(yaml.safe_load(attrs["spec"])).priors
    except Exception:  # noqa: BLE001 - fall back to the default priors
        return None


def _resolve(fit_or_pair):
    """(prep, idata, priors) from a FitResult or a (Prepared, idata) pair."""
    if isinstance(fit_or_pair, tuple):
        if len(fit_or_pair) != 2:
            raise InputError("pass a FitResult or a (Prepared, idata) pair")
        prep, idata = fit_or_pair
        return prep, idata, _priors_from_attrs(idata)
    prep = getattr(fit_or_pair, "prepared", None)
    idata = getattr(fit_or_pair, "idata", None)
    if prep is None or idata is None:
        raise InputError("pass a FitResult or a (Prepared, idata) pair")
    spec = getattr(fit_or_pair, "spec", None)
    return prep, idata, (spec.priors if spec is not None else _priors_from_attrs(idata))


def predictive_model(prep, priors=None):
    """The PyMC model of a prepared fit with the observed ``y`` (for predictive sampling)."""
    from .pymc_models import build_model

    return build_model(prep.stats, prep.logdet, prep.model, priors, panel=prep.panel, w=prep.w)


def thin_posterior(posterior, draws: int | None):
    """Keep at most ``draws`` evenly spaced draws per chain of a posterior Dataset."""
    n = posterior.sizes["draw"]
    if draws is None or draws >= n:
        return posterior
    if draws < 1:
        raise InputError(f"draws must be a positive integer, got {draws}")
    idx = np.unique(np.linspace(0, n - 1, draws).round().astype(int))
    return posterior.isel(draw=idx)


@contextlib.contextmanager
def _quiet():
    """Silence the expected notices of predictive sampling (the replication step is a Python
    function, which PyTensor's numba backend runs in object mode; PyMC logs the sampled vars)."""
    import logging

    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*object mode.*")
            yield
    finally:
        logger.setLevel(level)


def posterior_predictive(fit, draws: int | None = 250, seed: int | None = None,
                         progressbar: bool = False):
    """Posterior predictive draws of y through ``pm.sample_posterior_predictive``.

    Parameters
    ----------
    fit : a :class:`~bayes_sdm.api.FitResult`, or a pair ``(prepared, idata)``
    draws : posterior draws per chain to replicate from (evenly thinned); None = all
    seed : random seed

    Returns
    -------
    xarray.DataArray ``y`` with dims (chain, draw, time, unit) (coords: the periods and unit ids).
    """
    import pymc as pm

    prep, idata, priors = _resolve(fit)
    post = idata["posterior"]
    post = post.to_dataset() if hasattr(post, "to_dataset") else post
    post = thin_posterior(post, draws)
    model = predictive_model(prep, priors)
    keep = [v for v in post.data_vars if v in model.named_vars and v != "y"]
    with model, _quiet():
        pp = pm.sample_posterior_predictive(post[keep], var_names=["y"], random_seed=seed,
                                            progressbar=progressbar)
    return pp["posterior_predictive"]["y"].load()


def prior_predictive(prep, priors=None, draws: int = 500, seed: int | None = None):
    """Prior predictive draws of y (and of the parameters) through ``pm.sample_prior_predictive``.

    Returns the ``prior_predictive`` y with dims (chain, draw, time, unit) and the ``prior``
    parameter draws, as ``(y, prior)`` (a DataArray and a Dataset).
    """
    import pymc as pm

    if (priors is not None and any(getattr(priors, n)["dist"] == "flat"
                                   for n in ("beta", "theta"))):
        raise InputError("flat priors cannot be sampled: the prior predictive needs proper "
                         "priors (use --priors default)")
    model = predictive_model(prep, priors)
    with model, _quiet():
        pp = pm.sample_prior_predictive(draws=draws, random_seed=seed)
    return pp["prior_predictive"]["y"].load(), pp["prior"].to_dataset()
