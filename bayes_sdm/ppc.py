"""Prior and posterior predictive sampling through PyMC (the replication numerics are in
:mod:`bayes_sdm.predictive`; the observed-y model in :func:`bayes_sdm.pymc_models.build_model`).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from .errors import InputError


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


def _variance(fit_or_pair) -> str:
    """The fit's error-variance model (``homoskedastic`` unless its spec says otherwise)."""
    spec = None if isinstance(fit_or_pair, tuple) else getattr(fit_or_pair, "spec", None)
    if spec is None:
        idata = fit_or_pair[1] if isinstance(fit_or_pair, tuple) else \
            getattr(fit_or_pair, "idata", None)
        attrs = getattr(idata, "attrs", {}) or {}
        if "spec" in attrs:
            import yaml

            return (yaml.safe_load(attrs["spec"]) or {}).get("variance", "homoskedastic")
        return "homoskedastic"
    return getattr(spec, "variance", "homoskedastic")


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

    return build_model(prep.stats, prep.logdet, prep.family, priors, panel=prep.panel,
                       w=prep.w)


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
    fit : a :class:`~bayes_sdm.result.FitResult`, or a pair ``(prepared, idata)``
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
    if (variance := _variance(fit)) != "homoskedastic":  # sigma_t^2 or v_i: their own draws
        from .variance_predictive import variance_posterior_predictive

        return variance_posterior_predictive(prep, post, variance, seed)
    model = predictive_model(prep, priors)
    if "log_sigma2" in model.named_vars and "log_sigma2" not in post and "sigma2" in post:
        # the flat-prior (exact sampler) posterior stores sigma2; the model's free variable is
        # its log (Jeffreys prior), which PyMC would otherwise try to draw from a flat density
        post = post.assign(log_sigma2=np.log(post["sigma2"]))
    missing = [v.name for v in model.free_RVs if v.name not in post.data_vars]
    if missing:
        raise InputError(f"the posterior lacks {missing}, which the predictive model needs")
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
