"""The PyMC models of the regional hierarchy (partial, no or complete pooling).  Builds
graphs; never samples.

:func:`build_regional_model` turns a :class:`~bayes_sdm.regional.data.RegionalData` and the
priors into a :class:`RegionalModel`; the hierarchy, its parameterisations and the collapsed
(marginalised) form are described in :mod:`bayes_sdm.regional`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..likelihood import loglik
from ..spec import PriorSpec
from .collapsed import CollapsedHierarchy, QuadraticSSE
from .data import RegionalData, pooled_block_logdet, quick_estimates, scale_refs

PARAMETERIZATIONS = ("auto", "noncentred", "centred")
#: target_accept at least this high under partial pooling: the group scales of few regions
#: leave an occasional divergence (0-4 per 4000 draws on the study panels) at 0.9 and none at
#: 0.95, for ~20% more gradient evaluations
PARTIAL_TARGET_ACCEPT = 0.95
TAU_KEYS = ("beta", "theta", "rho", "sigma")


@dataclass
class HyperPriors:
    """Scales of the half-normal priors on the group standard deviations.

    ``beta_tau`` / ``theta_tau`` are in units of sd(y~)/sd(x~_k) (resp. sd(Wx~_k)), the same
    standardisation as the coefficient priors; ``rho_tau`` is on the logit scale of rho's
    interval and ``sigma_tau`` on the log scale of sigma.
    """

    beta_tau: float = 0.5
    theta_tau: float = 0.5
    rho_tau: float = 0.5
    sigma_tau: float = 0.5

    @classmethod
    def from_dict(cls, d: Mapping | None) -> HyperPriors:
        d = dict(d or {})
        known = {f for f in cls.__dataclass_fields__}
        bad = set(d) - known
        if bad:
            raise InputError(f"unknown hierarchy prior(s) {sorted(bad)}; known: {sorted(known)}")
        out = cls(**d)
        out.validate()
        return out

    def validate(self) -> None:
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise InputError(f"hierarchy prior {k} must be a positive number, got {v!r}")


def _tau_dict(tau) -> dict[str, float | None]:
    """``tau``: None (learned), a number (all group scales fixed) or a dict by component."""
    if tau is None:
        return dict.fromkeys(TAU_KEYS)
    if isinstance(tau, Mapping):
        bad = set(tau) - set(TAU_KEYS)
        if bad:
            raise InputError(f"unknown tau component(s) {sorted(bad)}; use {TAU_KEYS}")
        out = {k: tau.get(k) for k in TAU_KEYS}
    else:
        out = dict.fromkeys(TAU_KEYS, tau)
    for k, v in out.items():
        if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise InputError(f"fixed tau for {k} must be a positive number, got {v!r}")
    return {k: (None if v is None else float(v)) for k, v in out.items()}


@dataclass
class RegionalModel:
    """A built (not sampled) regional model: the data, the prior choices and the PyMC model.

    ``model`` is the ``pm.Model`` (None for ``pooling="none"`` with block W, whose per-region
    models are in ``region_models``).  Attributes of the :class:`RegionalData` (``panel``,
    ``regions``, ``blocks``, ``family``, ``pooling``, ...) are available directly.
    """

    data: RegionalData
    priors: PriorSpec
    hyper: HyperPriors
    tau: dict
    parameterization: object
    rho_interval: str
    marginalize: bool = False
    model: object = None
    region_models: dict | None = None
    centring: dict = field(default_factory=dict)
    init: dict = field(default_factory=dict)
    collapsed: object = None

    def __getattr__(self, name):
        if name == "data":  # not yet set (copy / unpickling)
            raise AttributeError(name)
        return getattr(self.data, name)

    def pymc_model(self):
        """The PyMC model (``model``; None with per-region ``region_models``), built on first
        use."""
        if self.model is None and self.region_models is None:
            _build_graphs(self)
        return self.model

    def attrs(self) -> dict[str, str]:
        import json

        out = self.data.attrs()
        out.update({
            "hyper_priors": json.dumps(self.hyper.__dict__),
            "tau_fixed": json.dumps(self.tau),
            "parameterization": json.dumps(self.parameterization),
            "marginalize": str(self.marginalize),
            "centring_se": json.dumps({k: np.round(v, 6).tolist() for k, v in
                                       self.centring.items()}),
            "rho_interval": self.rho_interval,
        })
        return out


def check_model_options(parameterization, rho_interval) -> None:
    if isinstance(parameterization, Mapping):
        bad = {k: v for k, v in parameterization.items() if k not in AUTO_MODES
               or v not in PARAMETERIZATIONS + ("average", "noncentred_average")}
        if bad:
            raise InputError(f"bad parameterization entries {bad}")
    elif parameterization not in PARAMETERIZATIONS:
        raise InputError(f"unknown parameterization {parameterization!r}; choose from "
                         f"{PARAMETERIZATIONS}")
    if rho_interval not in ("common", "region"):
        raise InputError(f"rho_interval must be 'common' or 'region', got {rho_interval!r}")


def build_regional_model(data: RegionalData, priors: PriorSpec | None = None,
                         hyper: HyperPriors | Mapping | None = None, tau=None,
                         parameterization="auto", rho_interval: str = "common",
                         marginalize: bool = True, graph: bool = True) -> RegionalModel:
    """Build the PyMC graph of a regional model (no sampling).

    Parameters
    ----------
    data : from :func:`~bayes_sdm.regional.data.prepare_regional`
    priors : the pooled model's priors (:class:`~bayes_sdm.spec.PriorSpec`); in the partial
        model they are the priors of the common means
    hyper : :class:`HyperPriors` (or a dict of its fields) for the group scales
    tau : None (group scales learned), a positive number (all fixed, standardised units) or a
        dict over ``beta``/``theta``/``rho``/``sigma``
    parameterization : ``auto`` (default: partial centring chosen per parameter from quick
        profile-ML estimates, :func:`centring_se`) | ``noncentred`` | ``centred``; the
        model is the same, only the sampler's geometry changes
    rho_interval : ``common`` (intersection of the regions' admissible intervals) | ``region``
    marginalize : partial pooling only: integrate the regional coefficients out analytically
        (:class:`~bayes_sdm.regional.collapsed.CollapsedHierarchy`; default) and draw them from
        their exact conditional after sampling; ``False`` samples them explicitly (partially
        non-centred)
    graph : build the PyMC graph now (``False``: on the first :meth:`RegionalModel.pymc_model`,
        so that a fit on the closed-form sampler, :mod:`bayes_sdm.regional.closed_form`,
        never imports PyMC)
    """
    check_model_options(parameterization, rho_interval)
    priors = priors or PriorSpec()
    priors.validate()
    hyper = hyper if isinstance(hyper, HyperPriors) else HyperPriors.from_dict(hyper)
    hyper.validate()
    rm = RegionalModel(data, priors, hyper, _tau_dict(tau), parameterization, rho_interval)
    if data.pooling == "partial":
        rm.centring = centring_se(rm)
        rm.marginalize = bool(marginalize)
        if rm.marginalize:
            rm.collapsed = make_collapsed(rm)
            collapsed_hyper_numbers(rm)  # refuses mixed flat / normal priors now
    if graph:
        rm.pymc_model()
    return rm


def complete_pooling_inputs(rm: RegionalModel):
    """The sufficient statistics and log-determinant of the complete-pooling model (one pooled
    model: the block-diagonal W's, or the full W's)."""
    data, blocks = rm.data, rm.blocks
    if data.regional_w == "block":
        return data.pooled_stats, (pooled_block_logdet(blocks) if rm.family.has_jacobian
                                   else None)
    return blocks[0].stats, blocks[0].logdet


def _build_graphs(rm: RegionalModel) -> None:
    """Set ``rm.model`` (or ``rm.region_models``) to the PyMC model(s)."""
    from ..pymc_models import build_model

    data, priors, family, blocks = rm.data, rm.priors, rm.family, rm.blocks
    if data.pooling == "complete":
        rm.model = build_model(*complete_pooling_inputs(rm), family, priors)
    elif data.pooling == "none" and data.regional_w == "block":
        rm.region_models = {b.name: build_model(b.stats, b.logdet, family, priors)
                            for b in blocks}
    else:
        rm.model = (_build_block_partial(rm) if data.regional_w == "block"
                    else _build_full_regional(rm))


def _scale_mean(name: str, prior: dict, ysd: float):
    """A positive scale with the pooled model's sigma prior (see pymc_models.sigma_prior)."""
    import pymc as pm
    import pytensor.tensor as pt

    dist = prior["dist"]
    if dist == "halfnormal":
        return pm.HalfNormal(name, sigma=prior.get("scale", 1.0) * ysd)
    if dist == "exponential":
        return pm.Exponential(name, scale=prior.get("scale", 1.0) * ysd)
    if dist in ("jeffreys", "flat_sigma2"):
        log_s2 = pm.Flat(f"{name}_log_sigma2")
        if dist == "flat_sigma2":
            pm.Potential(f"{name}_flat_jacobian", log_s2)
        return pm.Deterministic(name, pt.exp(0.5 * log_s2))
    raise InputError(f"unknown sigma prior {prior}")


def _partly_centred(name, loc, tau, se, mode, dims):
    """x ~ N(loc, tau) written as x = loc + tau^(1 - lam) (z - lam loc), z ~ N(lam loc, tau^lam).

    lam = 0 is the non-centred x = loc + tau z, lam = 1 the centred form; in between, the
    partially non-centred parameterisation of Papaspiliopoulos, Roberts & Skold (2003, 2007)
    in the form of Gorinova, Moore & Hoffman (2020, ICML).  ``mode="auto"`` uses their
    optimal weight for a normal observation with standard error se,
    lam = tau^2 / (tau^2 + se^2), *as a function of the current tau*: for each tau the map
    z -> x is affine with the density of z implied by x ~ N(loc, tau), so the joint law of
    (tau, x) is unchanged, while the geometry is near non-centred where tau << se (no funnel)
    and near centred where tau >> se (no stiffness)."""
    import pymc as pm
    import pytensor.tensor as pt

    if mode == "noncentred":
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
        return pm.Deterministic(name, loc + tau * z, dims=dims)
    if mode == "centred":
        z = pm.Normal(f"{name}_z", mu=loc, sigma=tau, dims=dims)
        return pm.Deterministic(name, z + 0.0 * loc, dims=dims)
    se2 = pt.constant(np.nan_to_num(np.asarray(se, dtype=float), nan=1e6) ** 2)
    lam = tau**2 / (tau**2 + se2)
    z = pm.Normal(f"{name}_z", mu=lam * loc, sigma=tau**lam, dims=dims)
    return pm.Deterministic(name, loc + tau ** (1.0 - lam) * (z - lam * loc), dims=dims)


def _centred_on_average(name, tau, loc_logp, init, dims="region"):
    """ell_g ~ N(m, tau) in the centred form with the common location written as
    m = mean(ell) + tau u / sqrt(G): given (ell, tau), u is close to N(0, 1) whatever tau,
    which removes the funnel between the location and the scale (with few regions the
    location's conditional sd tau / sqrt(G) otherwise ranges over orders of magnitude).
    The density is p(m) prod N(ell_g | m, tau) |dm/du|, |dm/du| = tau / sqrt(G); ``loc_logp``
    gives log p(m).  Returns (ell, m)."""
    import pymc as pm
    import pytensor.tensor as pt

    init = np.asarray(init, dtype=float)
    g_count = init.size
    ell = pm.Flat(name, dims=dims, initval=init)
    u = pm.Flat(f"{name}_u", initval=np.array(0.0))
    m = pt.mean(ell) + tau * u / np.sqrt(g_count)
    dens = pt.sum(-0.5 * ((ell - m) / tau) ** 2 - pt.log(tau)) + loc_logp(m) + pt.log(tau)
    pm.Potential(f"{name}_hierarchy", dens)
    return ell, m


def _noncentred_on_average(name, tau, loc_logp, init, dims="region"):
    """ell_g = v + tau (z_g - mean(z)), z ~ N(0, 1), with the common location
    m = v - tau mean(z) (unit Jacobian from (m, z) to (v, z)): non-centred, but anchored on
    the regions' average v, which the data fix whatever tau -- no funnel between the location
    and the scale.  ``loc_logp`` gives log p(m).  Returns (ell, m)."""
    import pymc as pm
    import pytensor.tensor as pt

    init = np.asarray(init, dtype=float)
    v = pm.Flat(f"{name}_avg", initval=np.array(init.mean()))
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    zbar = pt.mean(z)
    m = v - tau * zbar
    pm.Potential(f"{name}_location", loc_logp(m))
    return v + tau * (z - zbar), m


#: parameterisation of each hierarchy under ``parameterization="auto"``
AUTO_MODES = {"coef": "auto", "rho": "noncentred_average", "sigma": "average"}


def _mode(mode, part: str, tau_fixed=None) -> str:
    """The parameterisation of one hierarchy.  With a fixed group scale there is no funnel;
    the adaptive partial centring (:func:`_partly_centred`) then handles both tiny scales
    (non-centred) and large ones (centred)."""
    out = mode.get(part, AUTO_MODES[part]) if isinstance(mode, Mapping) else (
        AUTO_MODES[part] if mode == "auto" else mode)
    if tau_fixed is not None and out in ("average", "noncentred_average"):
        return "auto"
    return out


def _hier_coef(name, prior, scale_ref, tau_scale, tau_fixed, se, mode):
    """beta_g,k ~ N(mean_k, tau_k): mean_k with the pooled model's prior, tau_k half-normal."""
    import pymc as pm
    import pytensor.tensor as pt

    from ..pymc_models import coef_prior

    mean = coef_prior(f"{name}_mean", prior, scale_ref)
    if tau_fixed is None:
        tau = pm.HalfNormal(f"{name}_tau", sigma=tau_scale * scale_ref, dims="coef")
    else:
        tau = pt.constant(tau_fixed * scale_ref)
    return _partly_centred(name, mean, tau, se, mode, ("region", "coef"))


def _hier_spatial(name, prior, lo, hi, tau_scale, tau_fixed, se, mode, common, init):
    """rho_g = lo + (hi - lo) logistic(eta_g), eta_g ~ N(m, tau) around a common location m."""
    import pymc as pm
    import pytensor.tensor as pt

    if prior["dist"] not in ("uniform", "beta"):
        raise InputError(f"unknown prior for {name}: {prior}")
    a_, b_ = ((1.0, 1.0) if prior["dist"] == "uniform"
              else (prior.get("alpha", 1.01), prior.get("beta", 1.01)))
    tau = (pm.HalfNormal(f"{name}_tau", sigma=tau_scale) if tau_fixed is None
           else pt.constant(tau_fixed))
    if mode in ("average", "noncentred_average"):
        # logistic(m) ~ Beta(a, b) (uniform: a = b = 1): log p(m) = a log s(m) + b log s(-m)
        fn = _centred_on_average if mode == "average" else _noncentred_on_average
        eta, loc = fn(f"{name}_logit", tau,
                      lambda m: a_ * pt.log(pt.sigmoid(m)) + b_ * pt.log(pt.sigmoid(-m)), init)
    else:
        if prior["dist"] == "uniform":
            loc = pm.Logistic(f"{name}_logit_mean", mu=0.0, s=1.0)  # logistic(loc) ~ U(0, 1)
        else:
            u = pm.Beta(f"{name}_mean_unit", alpha=a_, beta=b_)
            loc = pt.log(u) - pt.log1p(-u)
        eta = _partly_centred(f"{name}_logit", loc, tau, se, mode, "region")
    lo_t, hi_t = pt.as_tensor_variable(lo), pt.as_tensor_variable(hi)
    rho = pm.Deterministic(name, lo_t + (hi_t - lo_t) * pt.sigmoid(eta), dims="region")
    if common:
        pm.Deterministic(f"{name}_mean", lo + (hi - lo) * pt.sigmoid(loc))
    return rho


def _hier_sigma(prior, ysd, tau_scale, tau_fixed, se, mode, init):
    """log sigma_g ~ N(log sigma_mean, sigma_tau), sigma_mean with the pooled model's prior."""
    import pymc as pm
    import pytensor.tensor as pt

    tau = (pm.HalfNormal("sigma_tau", sigma=tau_scale) if tau_fixed is None
           else pt.constant(tau_fixed))
    if mode in ("average", "noncentred_average"):
        dist, sc = prior["dist"], prior.get("scale", 1.0) * ysd

        def loc_logp(m):  # log p(sigma_mean = e^m) + m (the Jacobian of exp)
            if dist == "halfnormal":
                return -0.5 * pt.exp(2.0 * m) / sc**2 + m
            if dist == "exponential":
                return -pt.exp(m) / sc + m
            if dist == "jeffreys":  # p(sigma^2) ~ 1/sigma^2: flat in log sigma
                return 0.0 * m
            if dist == "flat_sigma2":  # p(sigma^2) flat: p(log sigma) ~ sigma^2
                return 2.0 * m
            raise InputError(f"unknown sigma prior {prior}")

        fn = _centred_on_average if mode == "average" else _noncentred_on_average
        logs, m = fn("sigma_log", tau, loc_logp, init)
        pm.Deterministic("sigma_mean", pt.exp(m))
    else:
        smean = _scale_mean("sigma_mean", prior, ysd)
        logs = _partly_centred("sigma_log", pt.log(smean), tau, se, mode, "region")
    sigma = pm.Deterministic("sigma", pt.exp(logs), dims="region")
    return pm.Deterministic("sigma2", sigma**2, dims="region")


def centring_se(rm: RegionalModel) -> dict[str, np.ndarray]:
    """Standard errors of each region's own estimate of the partially pooled parameters, on
    the scale of the hierarchy (``beta``, ``theta`` (G, K); ``rho`` on the logit scale and
    ``sigma`` on the log scale (G,)), from quick profile-ML fits (:func:`quick_estimates`).
    They set the partial centring lam = tau^2 / (tau^2 + se^2) of
    :func:`_partly_centred`; NaN (no estimate) means non-centred.  The model does not depend
    on them, only the sampler's geometry."""
    g_count, k = rm.regions.G, rm.panel.K
    out = {"beta": np.full((g_count, k), np.nan), "theta": np.full((g_count, k), np.nan),
           "rho": np.full(g_count, np.nan), "sigma": np.full(g_count, np.nan)}
    rm.init = {"rho": np.full(g_count, 0.0), "log_sigma": np.full(g_count, np.log(
        max(rm.pooled_stats.y_sd, 1e-12)))}
    try:
        ests = [quick_estimates(b.stats, b.logdet, b.lik_family) for b in rm.blocks]
    except (InputError, np.linalg.LinAlgError, FloatingPointError):
        return out
    durbin = rm.family.durbin
    if rm.regional_w == "block":
        rm.init = {"rho": np.array([e["rho"] for e in ests]),
                   "log_sigma": np.array([0.5 * np.log(e["sigma2"]) for e in ests])}
    if rm.regional_w == "full":
        se = ests[0]["se"]
        out["beta"] = se[:g_count * k].reshape(g_count, k)
        if durbin:
            out["theta"] = se[g_count * k:].reshape(g_count, k)
        return out
    out["beta"] = np.array([e["se"][:k] for e in ests])
    if durbin:
        out["theta"] = np.array([e["se"][k:2 * k] for e in ests])
    out["sigma"] = np.array([np.sqrt(0.5 / e["n_eff"]) for e in ests])
    if rm.family.lag:
        ivs = np.array([b.logdet.interval for b in rm.blocks])
        if rm.rho_interval == "common":
            ivs[:, 0], ivs[:, 1] = ivs[:, 0].max(), ivs[:, 1].min()
        r = np.array([e["rho"] for e in ests])
        u = np.clip((r - ivs[:, 0]) / (ivs[:, 1] - ivs[:, 0]), 1e-3, 1 - 1e-3)
        out["rho"] = (np.array([e["se_rho"] for e in ests])
                      / ((ivs[:, 1] - ivs[:, 0]) * u * (1 - u)))
    return out



def make_collapsed(rm: RegionalModel) -> CollapsedHierarchy:
    """The collapsed hierarchy of a partial-pooling regional model (coefficient layout:
    per region [beta_g, theta_g] under the block W; [beta (G*K, region-major), theta] under
    the full W)."""
    k, g_count = rm.panel.K, rm.regions.G
    durbin = rm.family.durbin
    parts = [QuadraticSSE(b.stats, b.lik_family) for b in rm.blocks]
    if rm.regional_w == "block":
        one = np.arange(k)
        per = np.concatenate([one, k + one]) if durbin else one
        amap = np.tile(per, g_count)
    else:
        amap = np.tile(np.arange(k), g_count)
        if durbin:
            amap = np.concatenate([amap, k + amap])
    return CollapsedHierarchy(parts, amap, 2 * k if durbin else k)


def _mean_prior(prior: dict, scale_ref: np.ndarray):
    """(m0, s0) of a common mean's normal prior, or (None, None) when flat."""
    if prior["dist"] == "flat":
        return None, None
    s0 = prior.get("scale", 2.5) * np.asarray(scale_ref, dtype=float)
    return np.full(s0.shape, float(prior.get("mu", 0.0))), s0


def collapsed_hyper_numbers(rm: RegionalModel):
    """The collapsed model's group scales and the means' prior, as numbers: per common mean
    (beta's K, then theta's K) whether its group scale is learned, its fixed value (original
    units; NaN when learned), the half-normal prior scale of a learned one (``hyper`` times the
    reference scale of :func:`~bayes_sdm.likelihood.prior_scale_refs`), and the means' prior
    (m0, s0), (None, None) when flat.

    Raises
    ------
    InputError
        beta and theta priors of different kinds (one flat, one normal).
    """
    priors, hyper, tau = rm.priors, rm.hyper, rm.tau
    _, sx, swx = scale_refs(rm.pooled_stats)
    learned, fixed, scale, m0s, s0s = [], [], [], [], []
    for name, prior, ref, hs in (("beta", priors.beta, sx, hyper.beta_tau),
                                 ("theta", priors.theta, swx, hyper.theta_tau)):
        if name == "theta" and not rm.family.durbin:
            continue
        ref = np.asarray(ref, dtype=float)
        learned.append(np.full(ref.shape, tau[name] is None))
        fixed.append(np.full(ref.shape, np.nan) if tau[name] is None else tau[name] * ref)
        scale.append(hs * ref)
        m0, s0 = _mean_prior(prior, ref)
        m0s.append(m0)
        s0s.append(s0)
    flat = [s is None for s in s0s]
    if any(flat) and not all(flat):
        raise InputError("marginalize=True needs beta and theta priors both normal or both "
                         "flat; pass marginalize=False otherwise")
    m0 = None if flat[0] else np.concatenate(m0s)
    s0 = None if flat[0] else np.concatenate(s0s)
    return (np.concatenate(learned), np.concatenate(fixed), np.concatenate(scale), m0, s0)


def _collapsed_hyper(rm: RegionalModel):
    """Group scales (sampled or fixed) and the means' prior of the collapsed PyMC model."""
    import pymc as pm
    import pytensor.tensor as pt

    learned, fixed, scale, m0, s0 = collapsed_hyper_numbers(rm)
    k = rm.panel.K
    taus = []
    for g, name in enumerate(("beta", "theta")[:learned.size // k]):
        sl = slice(g * k, (g + 1) * k)
        taus.append(pm.HalfNormal(f"{name}_tau", sigma=scale[sl], dims="coef")
                    if learned[sl].all() else pt.constant(fixed[sl]))
    return pt.concatenate(taus) if len(taus) > 1 else taus[0], m0, s0


def _build_block_partial(rm: RegionalModel):
    import pymc as pm
    import pytensor.tensor as pt

    priors, hyper, tau, family = rm.priors, rm.hyper, rm.tau, rm.family
    se, mode = rm.centring, rm.parameterization
    ysd, sx, swx = scale_refs(rm.pooled_stats)
    coords = {"region": list(rm.regions.names), "coef": list(rm.panel.x_names)}
    sname = rm.spatial_name
    durbin = family.durbin
    g_count = rm.regions.G
    with pm.Model(coords=coords) as m:
        rho = None
        if sname:
            ivs = np.array([b.logdet.interval for b in rm.blocks])
            if rm.rho_interval == "common":
                lo, hi = float(ivs[:, 0].max()), float(ivs[:, 1].min())
            else:
                lo, hi = ivs[:, 0], ivs[:, 1]
            u0 = np.clip((rm.init["rho"] - lo) / (hi - lo), 0.02, 0.98)
            rho = _hier_spatial(sname, priors.rho, lo, hi, hyper.rho_tau, tau["rho"],
                                se["rho"], _mode(mode, "rho", tau["rho"]),
                                rm.rho_interval == "common",
                                np.log(u0) - np.log1p(-u0))
        sigma2 = _hier_sigma(priors.sigma, ysd, hyper.sigma_tau, tau["sigma"], se["sigma"],
                             _mode(mode, "sigma", tau["sigma"]), rm.init["log_sigma"])
        rhos = [rho[g] if rho is not None else pt.constant(0.0) for g in range(g_count)]
        if rm.marginalize:
            tau_mu, m0, s0 = _collapsed_hyper(rm)
            ll = rm.collapsed.marginal_loglik([b.logdet for b in rm.blocks], rhos,
                                              [sigma2[g] for g in range(g_count)], tau_mu,
                                              m0, s0)
            pm.Potential("loglik", ll)
            return m
        beta = _hier_coef("beta", priors.beta, sx, hyper.beta_tau, tau["beta"], se["beta"],
                          _mode(mode, "coef"))
        theta = None
        if durbin:
            theta = _hier_coef("theta", priors.theta, swx, hyper.theta_tau, tau["theta"],
                               se["theta"], _mode(mode, "coef"))
        terms = []
        for g, b in enumerate(rm.blocks):
            th = theta[g] if theta is not None else None
            terms.append(loglik(b.stats, b.logdet, family, rhos[g], beta[g], th, sigma2[g],
                                xp=pt))
        pm.Potential("loglik", pt.sum(pt.stack(terms)))
    return m


def _build_full_regional(rm: RegionalModel):
    """Full W, one rho and sigma, region-specific beta_g / theta_g (partial or no pooling)."""
    import pymc as pm
    import pytensor.tensor as pt

    from ..pymc_models import coef_prior, sigma_prior, spatial_prior

    priors, hyper, tau, family = rm.priors, rm.hyper, rm.tau, rm.family
    se, mode = rm.centring, rm.parameterization
    ysd, sx, swx = scale_refs(rm.pooled_stats)
    coords = {"region": list(rm.regions.names), "coef": list(rm.panel.x_names)}
    b = rm.blocks[0]
    sname = rm.spatial_name
    durbin = family.durbin
    with pm.Model(coords=coords) as m:
        rho = spatial_prior(sname, priors.rho, b.logdet.interval) if sname else pt.constant(0.)
        _, sigma2 = sigma_prior(priors.sigma, ysd)
        if rm.pooling == "partial" and rm.marginalize:
            tau_mu, m0, s0 = _collapsed_hyper(rm)
            pm.Potential("loglik", rm.collapsed.marginal_loglik([b.logdet], [rho], [sigma2],
                                                                tau_mu, m0, s0))
            return m
        if rm.pooling == "partial":
            beta = _hier_coef("beta", priors.beta, sx, hyper.beta_tau, tau["beta"], se["beta"],
                              _mode(mode, "coef"))
        else:
            beta = coef_prior("beta", priors.beta, sx, dims=("region", "coef"))
        theta = None
        if durbin:
            if rm.pooling == "partial":
                theta = _hier_coef("theta", priors.theta, swx, hyper.theta_tau, tau["theta"],
                                   se["theta"], _mode(mode, "coef"))
            else:
                theta = coef_prior("theta", priors.theta, swx, dims=("region", "coef"))
        gam = beta.flatten() if theta is None else pt.concatenate([beta.flatten(),
                                                                    theta.flatten()])
        pm.Potential("loglik", loglik(b.stats, b.logdet, b.lik_family, rho, gam, None, sigma2,
                                      xp=pt))
    return m
