"""User-facing estimation layer: validate, prepare, fit, name things.

The numerics live underneath (:mod:`~bayes_sdm.panel`, :mod:`~bayes_sdm.likelihood`,
:mod:`~bayes_sdm.logdet`, :mod:`~bayes_sdm.effects`, :mod:`~bayes_sdm.pymc_models`); this module
checks the inputs once, precomputes what the sampler needs, runs it, and attaches effects,
provenance and tables to the result.

>>> from bayes_sdm import load_dataset, prepare, fit          # doctest: +SKIP
>>> ds = load_dataset("cigar")                                 # doctest: +SKIP
>>> res = fit(prepare(ds.panel(), ds.weights, model="sdm", fe="twoway"))   # doctest: +SKIP
>>> res.effects_table()                                        # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .effects import EFFECTS, lag_effects, local_effects, total_sums
from .errors import InputError
from .likelihood import LAG_MODELS, SufficientStats, spatial_name, sufficient_stats
from .logdet import LogDet, make_logdet
from .panel import Panel, check_not_absorbed
from .spec import ModelSpec, PriorSpec, SamplerSpec
from .weights import SpatialWeights

BAYES_MODELS = ("sdm", "sar", "sem", "sdem", "slx")


@dataclass
class Prepared:
    """Validated panel + W with the precomputed sufficient statistics and log-determinant."""

    panel: Panel
    w: SpatialWeights
    stats: SufficientStats
    logdet: LogDet | None
    model: str
    fe: str
    correction: str = "transform"
    lag_convention: str = "QWy"

    @property
    def data_hash(self) -> str:
        """Hash of the panel's numbers and ids and of W (recorded with every fit)."""
        import hashlib

        h = hashlib.sha256(self.panel.data_hash().encode())
        m = self.w.matrix
        if self.w.is_sparse:
            for a in (m.indptr, m.indices, m.data):
                h.update(np.ascontiguousarray(a).tobytes())
        else:
            h.update(np.ascontiguousarray(m).tobytes())
        return h.hexdigest()


def prepare(
    panel: Panel,
    w: SpatialWeights,
    model: str = "sdm",
    fe: str = "twoway",
    correction: str = "transform",
    lag_convention: str = "QWy",
    logdet: str | LogDet = "auto",
) -> Prepared:
    """Check the inputs and precompute the sufficient statistics and the log-determinant.

    Raises
    ------
    InputError
        W and panel units differ, a regressor is absorbed by the fixed effects, time effects with
        a non-row-standardised W, an unknown model / FE / convention.
    """
    if model not in BAYES_MODELS + ("ols",):
        raise InputError(f"unknown model {model!r}; choose from {BAYES_MODELS}")
    if tuple(w.ids) != tuple(panel.units):
        if set(w.ids) != set(panel.units):
            a = [u for u in w.ids if u not in set(panel.units)][:10]
            b = [u for u in panel.units if u not in set(w.ids)][:10]
            raise InputError(f"W/unit mismatch: units in W but not in the data: {a}; "
                             f"units in the data but not in W: {b}")
        panel = panel.subset_units(w.ids)
    check_not_absorbed(panel, fe)
    stats = sufficient_stats(panel, w, fe, correction=correction, lag_convention=lag_convention)
    ld = None
    if model not in ("slx", "ols"):
        ld = logdet if isinstance(logdet, LogDet) else make_logdet(w, logdet)
    return Prepared(panel, w, stats, ld, model, fe, correction, lag_convention)


def effects_draws(prep: Prepared, posterior: xr.Dataset) -> xr.DataArray:
    """Direct / indirect / total effects for every draw, dims (chain, draw, effect, coef)."""
    beta = posterior["beta"].transpose("chain", "draw", "coef").values
    theta = (posterior["theta"].transpose("chain", "draw", "coef").values
             if "theta" in posterior else None)
    if prep.model in LAG_MODELS:
        rho = posterior["rho"].values
        sums = None if prep.w.row_standardized else total_sums(prep.w)
        arr = lag_effects(rho, beta, theta, prep.logdet, prep.w.row_standardized, sums)
    else:
        arr = local_effects(beta, theta)
    return xr.DataArray(
        arr,
        dims=("chain", "draw", "effect", "coef"),
        coords={"chain": posterior["chain"], "draw": posterior["draw"],
                "effect": list(EFFECTS), "coef": list(prep.panel.x_names)},
    )


def dependency_versions() -> dict[str, str]:
    """Versions of the packages that determine a fit (recorded in every output)."""
    import importlib.metadata as md

    out = {}
    for name in ("pymc", "pytensor", "arviz", "numpy", "scipy", "pandas", "xarray", "libpysal",
                 "nutpie"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def provenance(prep: Prepared, spec: ModelSpec) -> dict[str, str]:
    """Attributes stored with every fit: spec, hashes, versions."""
    return {
        "bayes_sdm_version": __version__,
        "spec": spec.to_yaml(),
        "spec_hash": spec.hash(),
        "data_hash": prep.data_hash,
        "dependencies": json.dumps(dependency_versions()),
        "model": prep.model,
        "fe": prep.fe,
        "N": str(prep.panel.N),
        "T": str(prep.panel.T),
        "weights": prep.w.name,
        "logdet_method": getattr(prep.logdet, "method", "none"),
    }


@dataclass
class FitResult:
    """A fitted Bayesian spatial panel: the ArviZ DataTree plus what produced it."""

    idata: object
    prepared: Prepared
    spec: ModelSpec
    timings: dict = field(default_factory=dict)

    def summary_table(self) -> pd.DataFrame:
        from .reporting import summary_table

        return summary_table(self.idata, self.prepared.model)

    def effects_table(self) -> pd.DataFrame:
        from .reporting import effects_table

        return effects_table(self.idata)

    def diagnostics(self):
        from .diagnostics import diagnose

        return diagnose(self.idata, model=self.prepared.model)

    def save(self, path) -> None:
        from .io import save_fit

        save_fit(self.idata, path)


def fit(
    prep: Prepared,
    spec: ModelSpec | None = None,
    priors: PriorSpec | None = None,
    sampler: SamplerSpec | None = None,
    progressbar: bool = True,
) -> FitResult:
    """Sample the posterior of a prepared model and attach effects and provenance.

    Parameters
    ----------
    prep : from :func:`prepare`
    spec : the full spec (recorded in the output); built from ``prep`` when None
    priors, sampler : override the spec's sections
    """
    import time

    from .pymc_models import build_model
    from .sampling import sample_nuts

    if spec is None:  # data given directly (not through a DataSpec): record no data source
        from .spec import DataSpec

        spec = ModelSpec(model=prep.model, fe=prep.fe, correction=prep.correction,
                         lag_convention=prep.lag_convention, data=DataSpec(dataset=None))
    priors = priors or spec.priors
    sampler = sampler or spec.sampler
    spec.priors, spec.sampler = priors, sampler
    spec.validate()
    if prep.model not in BAYES_MODELS:
        raise InputError(f"no Bayesian {prep.model!r} model")
    t0 = time.perf_counter()
    if sampler.nuts_sampler == "exact":
        from .exact import sample_exact

        dists = (priors.beta["dist"], priors.theta["dist"], priors.rho["dist"],
                 priors.sigma["dist"])
        if dists != ("flat", "flat", "uniform", "jeffreys"):
            raise InputError("the exact sampler integrates beta, theta and sigma2 out under the "
                             "flat reference prior: use --priors flat (or NUTS)")
        idata = sample_exact(prep.stats, prep.logdet, model=prep.model, draws=sampler.draws,
                             chains=sampler.chains, seed=sampler.seed, effects=False)
    else:
        model = build_model(prep.stats, prep.logdet, prep.model, priors)
        idata = sample_nuts(model, sampler, progressbar=progressbar)
    t1 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    if "effects" not in post:
        post["effects"] = effects_draws(prep, post)
        idata["posterior"] = xr.DataTree(post)
    idata.attrs.update(provenance(prep, spec))
    sname = spatial_name(prep.model)
    if sname and prep.logdet is not None:
        # how far the log-determinant's approximation can move this posterior (diagnostics)
        idata.attrs["logdet_posterior_shift"] = repr(
            prep.logdet.posterior_shift_bound(prep.stats.terms.a, post[sname].values))
    return FitResult(idata, prep, spec, {"sample_s": t1 - t0})
