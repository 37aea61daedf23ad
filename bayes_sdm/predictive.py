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
and ``pm.sample_posterior_predictive`` then work on the model;
:func:`bayes_sdm.ppc.posterior_predictive` and :func:`~bayes_sdm.ppc.prior_predictive` wrap them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import families
from .design import (
    Layout,
    check_fe,
    fe_projection,
    join_blocks,
    x_columns,
    y_columns,
)
from .errors import InputError
from .families import Family
from .likelihood import coef_vector
from .panel import Panel, PanelDims
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
    layout : the design blocks (:class:`~bayes_sdm.design.Layout`)
    z_fe : projection of the raw columns of ``layout`` onto the fixed-effect space
        (T, N, ncol): ``z_fe @ c`` are the fixed-effect estimates given a draw
    zx : FE-transformed X blocks (T, N, n_x) (the constant part of the Gram matrix)
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
    layout: Layout


def predictive_data(panel: Panel, w: SpatialWeights, fe: str = "twoway",
                    lag_convention: str = "QWy", layout: Layout | None = None
                    ) -> PredictiveData:
    """Precompute the arrays of :class:`PredictiveData` (one O(NT K) pass).

    Raises
    ------
    InputError
        W and the panel list different units, an unknown FE type or lag convention.
    """
    check_fe(fe)
    if w.n != panel.N or tuple(w.ids) != tuple(panel.units):
        raise InputError("W and the panel list different units (or in a different order); "
                         "use bayes_sdm.prepare() to align them")
    layout = layout or Layout(panel.K)
    return PredictiveData(w=w, X=np.asarray(panel.X, dtype=float),
                          y=np.asarray(panel.y, dtype=float), units=tuple(panel.units),
                          times=tuple(panel.times), x_names=tuple(panel.x_names), fe=fe,
                          lag_convention=lag_convention,
                          z_fe=fe_projection(panel, w, fe, layout),
                          zx=x_columns(panel, w, fe, lag_convention, layout), layout=layout)


def fixed_effects(data: PredictiveData, model: Family | str, rho, beta,
                  theta=None) -> np.ndarray:
    """Fixed-effect estimates given one draw: the (T, N) array mu_i + alpha_t (see module doc).

    For error models the array is the filtered effects mu* + alpha*_t iota (they enter inside
    (I - lam W)^{-1}).  ``rho`` is ignored for SLX/OLS.
    """
    family = families.get(model)
    beta = np.asarray(beta, dtype=float)
    if beta.shape != (data.K,):
        raise InputError(f"beta must have shape ({data.K},), got {beta.shape}")
    if family.durbin and theta is not None:
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (data.K,):
            raise InputError(f"theta must have shape ({data.K},), got {theta.shape}")
    else:
        theta = None
    r = rho if family.spatial_params else 0.0
    c = coef_vector(data.layout, family, r, beta, theta)
    return data.z_fe @ c


def draw_y(data: PredictiveData, model: Family | str, rho, beta, theta, sigma,
           rng: np.random.Generator | int | None = None) -> np.ndarray:
    """One replicated panel y (T, N) given a parameter draw, the fixed effects at their
    estimates given the draw (:func:`fixed_effects`), through
    :func:`~bayes_sdm.simulate.simulate_y`.
    """
    family = families.get(model)
    rng = np.random.default_rng(rng)
    sigma = float(sigma)
    if not sigma > 0:
        raise InputError(f"sigma must be positive, got {sigma}")
    fe_hat = fixed_effects(data, family, rho, beta, theta)
    eps = fe_hat + sigma * rng.standard_normal((data.T, data.N))
    th = np.asarray(theta, dtype=float) if family.durbin else None
    r = rho if family.spatial_params else 0.0
    return simulate_y(data.w, data.X, family, rho=r, beta=np.asarray(beta, float), theta=th,
                      sigma=sigma, eps=eps)


# ----------------------------------------------------------------------------- symbolic
def observed_gram(data: PredictiveData, value):
    """The Gram matrix of the transformed columns as a PyTensor expression of the observed
    value y (T, N); equals :func:`bayes_sdm.likelihood.sufficient_stats`'s Gram matrix at the
    observed data.  With a constant value PyTensor folds it to a constant at compile time.
    """
    import pytensor.tensor as pt

    ycols = y_columns(value, data.w, data.fe, data.lag_convention, data.layout, xp=pt)
    z = join_blocks(data.layout, ycols, pt.constant(data.zx), xp=pt)
    zf = z.reshape((data.T * data.N, data.layout.ncol))
    return pt.dot(zf.T, zf)


def observed_means(data: PredictiveData, value):
    """The means over the NT cells of the raw columns of ``data.layout`` as a PyTensor
    expression of the observed y (the y blocks from ``value``, the X blocks constant): the
    ``means`` of the sufficient statistics of a model with an intercept
    (:mod:`bayes_sdm.intercept`)."""
    import pytensor.tensor as pt

    ycols = y_columns(value, data.w, "none", "QWy", data.layout, xp=pt)
    ym = ycols.mean(axis=(0, 1))
    xm = data.z_fe[0, 0]  # the transform 'intercept' projects onto the grand means
    parts, yi = [], 0
    for b in data.layout.blocks:
        sl = data.layout.slice(b)
        if b in ("y", "Wy", "WWy"):
            parts.append(ym[yi:yi + 1])
            yi += 1
        else:
            parts.append(pt.constant(xm[sl]))
    return pt.concatenate(parts)
