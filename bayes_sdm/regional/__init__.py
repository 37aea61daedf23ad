"""Regional heterogeneity: hierarchical (partially pooled) spatial panel models by region.

Units carry a region label (east / central / west, US Census regions, ...).  Three poolings of
the regional coefficients and two regional weight structures are offered; every likelihood is
the Lee & Yu (2010, J. Econometrics 154:165-185) transformed log-likelihood of
:func:`bayes_sdm.likelihood.loglik` evaluated from sufficient statistics (no second likelihood).

Regional models go through the same user layer as pooled ones: ``bayes_sdm.prepare(panel, w,
..., regions=..., pooling=..., regional_w=...)`` then ``bayes_sdm.fit`` (a
:class:`~bayes_sdm.api.FitResult` with a ``region`` dim).  The package, by concern:

* :mod:`~bayes_sdm.regional.regions` -- region labels, one region's sub-panel and W;
* :mod:`~bayes_sdm.regional.data` -- the likelihood blocks and pooled statistics (numbers);
* :mod:`~bayes_sdm.regional.collapsed` -- the coefficients integrated out analytically;
* :mod:`~bayes_sdm.regional.model` -- the PyMC models (build, never sample);
* :mod:`~bayes_sdm.regional.effects` -- region effects, spillovers, the posterior's extras;
* the tables are in :mod:`bayes_sdm.reporting`.

Weight structure (``regional_w``)
---------------------------------
``block``
    Each region g has its own W_g = ``w.subset(units of g)`` (neighbours outside the region
    dropped, rows re-standardised: exactly what a separate regional fit uses), its own Lee-Yu
    transform (so two-way effects become region-specific unit and time effects), its own
    sufficient statistics and its own eigenvalue log-determinant.  The log-likelihood is the sum
    over regions of ``loglik(stats_g, logdet_g, model, rho_g, beta_g, theta_g, sigma2_g)``, the
    block-diagonal W's log-determinant being the sum of the regions' log-determinants.
``full``
    The full W is kept (spillovers across regions), with one rho and one sigma; beta and theta
    are those of each unit's region (each unit's equation has its region's coefficients):

        y_t = rho W y_t + sum_g D_g X_t beta_g + D_g W X_t theta_g + mu + alpha_t iota + eps_t,

    D_g the diagonal 0/1 selector of region g.  The columns D_g X and D_g WX are formed from
    the raw data before the FE transform (lag first, then demean): the panel is expanded to
    the 2GK regressors ``"<region>:<x>"``, ``"<region>:W<x>"`` (:func:`expand_panel`) and
    :func:`~bayes_sdm.likelihood.sufficient_stats` / :func:`~bayes_sdm.likelihood.loglik` are
    applied to it unchanged (SDM -> SAR on the expanded regressors, :data:`EXPANDED_MODEL`):
    one evaluation is O((GK)^2) from the Gram matrix plus the O(N) eigenvalue
    log-determinant.

Pooling (``pooling``)
---------------------
``partial`` (hierarchical):

* ``beta_g,k ~ N(beta_mean_k, beta_tau_k)``; ``beta_mean_k`` has the pooled model's prior
  (N(0, 2.5 s_k), s_k = sd(y~)/sd(x~_k), :mod:`bayes_sdm.spec`),
  ``beta_tau_k ~ HalfNormal(hyper.beta_tau * s_k)``; theta likewise (scale sd(y~)/sd(Wx~_k));
* block W: ``rho_g = lo + (hi - lo) logistic(eta_g)``, ``eta_g ~ N(m, rho_tau)``, where
  (lo, hi) is the intersection of the regions' admissible intervals (``rho_interval="common"``;
  it always contains (-1, 1) for row-standardised W) or each region's own interval
  (``"region"``).  logistic(m) ~ U(0, 1) (m standard logistic), so the common location has
  the pooled model's uniform prior on rho; ``rho_tau ~ HalfNormal(hyper.rho_tau)`` (logit
  scale); ``rho_mean`` = lo + (hi - lo) logistic(m) is reported;
* block W: ``log sigma_g ~ N(log sigma_mean, sigma_tau)``, ``sigma_mean`` with the pooled
  model's prior on sigma, ``sigma_tau ~ HalfNormal(hyper.sigma_tau)`` (log scale).

How it is sampled (the model above does not depend on it):

* ``marginalize=True`` (default): the regional coefficients *and* their common means are
  integrated out exactly -- given rho, sigma and the group scales they are jointly normal
  with the Gaussian likelihood (:class:`CollapsedHierarchy`) -- and drawn from their exact
  conditional normal after sampling.  NUTS sees only rho, sigma and the scales: no funnel.
  (The explicit non-centred form beta_g = mean + tau z had tens of divergences on the
  synthetic study panel where the regions' data pin some coefficients down tightly and
  leave others loose.)
* rho_g, sigma_g (block W): ``parameterization="auto"`` writes the rho hierarchy non-centred
  and anchored on the regions' average (:func:`_noncentred_on_average`) and the sigma
  hierarchy centred with the location anchored the same way (:func:`_centred_on_average`),
  which removes the location-scale funnel that few regions (G = 3, 4) otherwise create;
  with a fixed tau, or with ``marginalize=False`` for the coefficients, a partial centring
  lam = tau^2 / (tau^2 + se^2) (:func:`_partly_centred`, se from :func:`centring_se`);
  ``"noncentred"`` / ``"centred"`` force one form.

``complete``: one set of parameters -- the foundation's
:func:`bayes_sdm.pymc_models.build_model` on the full W (``full``), or on the pooled statistics
of the regional blocks (``block``: summed Gram matrices, summed n*, the block-diagonal W's
eigenvalues and the summed Jacobian corrections (T-1) log(1 - rho) per region).

``none``: separate fits per region (the seed study).  Block W: the foundation's model fitted to
each region alone (what ``--region NAME`` does), then stacked along ``region`` (the regions'
posteriors are independent, so the stacked draws are draws of the joint posterior).  Full W:
one rho and sigma, independent priors for every beta_g, theta_g.

Effects by region (LeSage & Pace 2009, ch. 2.7; LeSage & Chih 2016, Economics Letters
142:1-5 for heterogeneous coefficients)
--------------------------------------------------------------------------------------
For regressor k, S_k = (I - rho W)^{-1} (B_k + Theta_k W), with B_k = diag(beta_k(i)) and
Theta_k = diag(theta_k(i)) the coefficients of each unit's region: S_k[i, j] is the effect of
x_jk on y_i.  For region a (N_a units):

* direct_a = mean over i in a of S_k[i, i];
* total_a (``perspective="origin"``, default): (1/N_a) sum_{j in a} sum_i S_k[i, j], the total
  effect (on all units) of a unit rise of x in a's units ("spillovers emanating from" a);
  ``perspective="destination"``: the average row sum over a's units,
  (1/N_a) sum_{i in a} sum_j S_k[i, j] ("falling on" a: the effect on a's units of x rising
  everywhere);
* indirect_a = total_a - direct_a.

(the two are the ``by_region_from`` and ``by_region`` truths of the synthetic dataset.)  Under
the block W both perspectives coincide and equal the LeSage-Pace scalar summaries of region
a's own S_k (computed with :func:`bayes_sdm.effects.lag_effects` from each region's
eigenvalues).  ``effects_overall`` is the N-weighted average over regions, which equals the
LeSage-Pace summaries tr(S_k)/N and iota'S_k iota/N of the whole sample.

Spillover matrix (full W), posterior variable ``spillovers`` (from_region, to_region, coef):

    M_k[a -> b] = (1/N_b) sum_{i in b} sum_{j in a} S_k[i, j],

the change in y of the *average unit of region b* when x_k rises by one in *every* unit of
region a (own-unit effects included when a = b).  Hence sum_a M_k[a -> b] is b's destination
total and sum_b (N_b / N_a) M_k[a -> b] is a's origin total.

Everything comes exactly from ONE eigendecomposition of W, W = V diag(lam) V^{-1} (symmetric
form W = D^{-1/2} Q diag(lam) Q' D^{1/2} when W is similar to a symmetric matrix, Ord 1975):
(I - rho W)^{-1} = V diag(1 / (1 - rho lam)) V^{-1}, so region sums of diagonals and
region-block sums are O(N G^3) per draw after an O(N^2 G) precomputation
(:class:`RegionalDecomposition`).  When V is too
ill-conditioned for that (a defective general W), a dense solve per draw is used instead
(exact, O(N^3) per draw).
"""

_EXPORTS = {
    "PERSPECTIVES": "data", "POOLINGS": "data", "REGIONAL_W": "data", "Block": "data",
    "RegionalData": "data", "expand_panel": "data", "prepare_regional": "data",
    "RegionalDecomposition": "effects", "dense_regional_effects": "effects",
    "regional_effects_draws": "effects", "PARTIAL_TARGET_ACCEPT": "model",
    "HyperPriors": "model", "RegionalModel": "model", "build_regional_model": "model",
    "Regions": "regions", "make_regions": "regions", "select_region": "regions",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):  # lazy: importing the regional data does not import PyMC
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: the choices of ``pooling``, ``regional_w`` and the spillover ``perspective`` (here, not in
#: :mod:`~bayes_sdm.regional.data`, so that :mod:`bayes_sdm.spec` imports no numerics)
POOLINGS = ("partial", "none", "complete")
REGIONAL_W = ("block", "full")
PERSPECTIVES = ("origin", "destination")
