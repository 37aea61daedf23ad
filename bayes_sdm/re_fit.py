"""Bayesian fit of a unit random-effects panel (``fe: random``) -> :class:`FitResult`.

The model is :func:`bayes_sdm.re_model.build_re_model` (unit effects integrated out), sampled
by the one sampler dispatch (:func:`bayes_sdm.sampling.compile_sampler`, NUTS); the effects are
those of fixed effects (LeSage & Pace 2009: :func:`bayes_sdm.effects.family_effects`; the
intercept has none).  The exact grid sampler covers one-parameter FE models only and is refused.
The fit has no :class:`~bayes_sdm.prepared.Prepared` (``prepared`` is None: the FE-based
predictive checks and figures that need one are skipped).
"""

from __future__ import annotations

import time

import xarray as xr

from . import families
from .effects import EFFECTS, family_effects
from .errors import InputError
from .logdet import LogDet, make_logdet
from .random_effects import re_data
from .result import FitResult
from .spec import ModelSpec


def fit_random_effects(panel, w, spec: ModelSpec, *, logdet: LogDet | None = None,
                       progressbar: bool = False, progress=None) -> FitResult:
    """Sample the posterior of the unit random-effects model of ``spec.model`` on (panel, W).

    Raises
    ------
    InputError
        ``spec.fe`` not ``random``, a family without one spatial parameter, the exact sampler,
        W not row-standardised.
    """
    from .api import dependency_versions
    from .prepared import data_hash
    from .progress import as_stages
    from .re_model import build_re_model
    from .sampling import compile_sampler, resolve_sampler

    spec = spec.copy().validate()
    if spec.fe != "random":
        raise InputError(f"fit_random_effects needs fe: random, got {spec.fe!r}")
    if spec.sampler.kind == "exact":
        raise InputError("the exact sampler covers fixed-effects models with one spatial "
                         "parameter; use NUTS for random effects")
    if not w.row_standardized:
        raise InputError("random effects need a row-standardised W")
    family = families.get(spec.model)
    stages = as_stages(progress)
    t0 = time.perf_counter()
    d = re_data(panel, w, family, spec.mundlak)
    ld = logdet if logdet is not None else make_logdet(w, spec.logdet)
    with stages.stage("building the random-effects model"):
        cs = compile_sampler(build_re_model(d, ld, spec.priors), spec.sampler)
    if cs.compiles_separately:
        with stages.stage("compiling"):
            cs.compile()
    ts = time.perf_counter()
    with stages.stage(f"sampling ({spec.sampler.chains} chains x {spec.sampler.draws:,} draws)",
                      own_output=progressbar and stages.on_terminal):
        idata = cs.sample(None, progressbar=progressbar)
    t_sample = time.perf_counter() - ts
    t1 = time.perf_counter()
    with stages.stage("effects (LeSage & Pace 2009)"):
        post = idata["posterior"].to_dataset()
        beta = post["beta"].transpose("chain", "draw", "coef").values
        theta = post["theta"].transpose("chain", "draw", "coef").values \
            if family.durbin else None
        rho = post["rho"].values if family.lag else None
        arr = family_effects(family, rho, beta, theta, ld, True, None)
        post["effects"] = xr.DataArray(
            arr, dims=("chain", "draw", "effect", "coef"),
            coords={"chain": post["chain"], "draw": post["draw"], "effect": list(EFFECTS),
                    "coef": list(panel.x_names)})
        idata["posterior"] = xr.DataTree(post)
    import json

    from . import __version__

    idata.attrs.update({
        "bayes_sdm_version": __version__, "spec": spec.to_yaml(), "spec_hash": spec.hash(),
        "data_hash": data_hash(panel, w), "dependencies": json.dumps(dependency_versions()),
        "model": family.name, "fe": "random", "mundlak": str(spec.mundlak), "N": str(panel.N), "T": str(panel.T),
        "weights": w.name, "logdet_method": getattr(ld, "method", "none"),
        "target_accept": str(spec.sampler.target_accept),
        "nuts_sampler": resolve_sampler(spec.sampler.nuts_sampler),
    })
    t2 = time.perf_counter()
    return FitResult(idata, None, spec, {"sample_s": t_sample, "effects_s": t2 - t1,
                                         "fit_s": t2 - t0})
