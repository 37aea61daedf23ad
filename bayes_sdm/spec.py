"""Model specification as plain data: dataclasses that round-trip through YAML.

A spec says *what* to fit (model family, fixed effects, conventions, priors, sampler settings,
the regional structure and the data/weights to use).  It is recorded, with its hash, in every
output.  The YAML files in ``models/`` are specs; every field can be overridden on the command
line.  Specs are strict: an unknown key at any level, a value of the wrong type (a string
where a list or a bool is expected) or an empty file is refused with a message naming the key.

Example (``models/seed_study.yaml``)::

    model: sdm
    fe: twoway
    data:
      dataset: synthetic_ua
      y: resi
      x: [mar, jacobs, inf, tra, ftri, inv]
      weights: economic-distance:gdp_pc
    priors:
      beta: {dist: normal, scale: 2.5}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import families
from .design import FE_TYPES, LAG_CONVENTIONS
from .errors import InputError
from .likelihood import CORRECTIONS
from .regional import PERSPECTIVES, POOLINGS, REGIONAL_W

#: the FE choices of a spec: the fixed-effect transforms and unit random effects
#: (:mod:`bayes_sdm.random_effects`)
RANDOM = "random"
FE_CHOICES = (*FE_TYPES, RANDOM)

#: log-determinant methods (:func:`bayes_sdm.logdet.make_logdet`)
LOGDET_METHODS = ("auto", "eigen", "chebyshev", "stochastic")
#: NUTS implementations (:mod:`bayes_sdm.sampling`)
NUTS_SAMPLERS = ("auto", "closed-form", "nutpie-pyfunc", "nutpie", "pymc", "numpyro", "blackjax")
#: sampler kinds: NUTS, or the exact grid sampler for flat priors (:mod:`bayes_sdm.exact`)
SAMPLER_KINDS = ("nuts", "exact")
#: forms of the dynamic panel (:mod:`bayes_sdm.dynamic`): eta free, or eta = -tau rho
DYNAMIC_FORMS = ("unrestricted", "restricted")
#: error-variance models (:mod:`bayes_sdm.variances`): one sigma^2, one per period, or unit
#: scales v_i with an inverse-chi^2(r)/r prior
VARIANCES = ("homoskedastic", "period", "unit")
#: forms of ``cluster`` (``--cluster``; :mod:`bayes_sdm.distributed.cluster`)
CLUSTER_FORMS = ("local:K", "tcp://HOST:PORT", "tls://HOST:PORT", "scheduler-file:PATH")


def check_cluster(value) -> str:
    """A Dask cluster to run on: ``local:K`` (K worker processes on this machine), a scheduler
    address ``tcp://HOST:PORT`` (``tls://``, ``ucx://``, ``inproc://``) or
    ``scheduler-file:PATH``.  Only the form is checked here (nothing imports Dask).

    Raises
    ------
    InputError
        another form, or K < 1.
    """
    import re

    ok = isinstance(value, str) and (
        re.fullmatch(r"local:[1-9][0-9]*", value) is not None
        or re.fullmatch(r"(tcp|tls|ucx|inproc)://\S+", value) is not None
        or re.fullmatch(r"scheduler-file:\S+", value) is not None)
    if not ok:
        raise InputError(f"cluster {value!r}: use one of {', '.join(CLUSTER_FORMS)} "
                         "(K >= 1 worker processes)")
    return value

PRIOR_DISTS = {
    "rho": ("uniform", "beta"),
    "beta": ("normal", "flat"),
    "theta": ("normal", "flat"),
    "sigma": ("halfnormal", "exponential", "jeffreys", "flat_sigma2"),
}
#: the keys each prior distribution takes (besides ``dist``)
PRIOR_KEYS = {
    "uniform": (), "beta": ("alpha", "beta"), "normal": ("scale", "mu"), "flat": (),
    "halfnormal": ("scale",), "exponential": ("scale",), "jeffreys": (), "flat_sigma2": (),
}
PRIOR_DEFAULTS = {
    "rho": {"dist": "uniform"},
    "beta": {"dist": "normal", "scale": 2.5, "mu": 0.0},
    "theta": {"dist": "normal", "scale": 2.5, "mu": 0.0},
    "sigma": {"dist": "halfnormal", "scale": 1.0},
}


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class PriorSpec:
    """Priors.  Defaults are weakly informative and scaled to the data.

    * ``rho``: ``{dist: uniform}`` on the admissible interval (1/lambda_min, 1/lambda_max), or
      ``{dist: beta, alpha, beta}`` rescaled to that interval (LeSage & Pace 2009, 5.3.1).
    * ``beta`` / ``theta``: ``{dist: normal, scale: s, mu: m}`` with standard deviation
      s * sd(y~) / sd(x~_k) (the transformed data; "autoscale" as in rstanarm, Gelman et al.
      2008), or ``{dist: flat}``.
    * ``sigma``: ``{dist: halfnormal, scale: s}`` on sigma with scale s * sd(y~);
      ``{dist: exponential, scale: s}``; ``{dist: jeffreys}`` (p(sigma^2) proportional to
      1/sigma^2); ``{dist: flat_sigma2}`` (p(sigma^2) constant; mode = ML, for checks).

    ``flat`` (the ``--priors flat`` choice) is flat beta, theta, uniform rho and Jeffreys sigma^2,
    the reference prior used to compare with ML (and the one the exact sampler needs).
    """

    rho: dict = field(default_factory=lambda: dict(PRIOR_DEFAULTS["rho"]))
    beta: dict = field(default_factory=lambda: dict(PRIOR_DEFAULTS["beta"]))
    theta: dict = field(default_factory=lambda: dict(PRIOR_DEFAULTS["theta"]))
    sigma: dict = field(default_factory=lambda: dict(PRIOR_DEFAULTS["sigma"]))

    @classmethod
    def preset(cls, name: str) -> PriorSpec:
        if name == "default":
            return cls()
        if name == "flat":
            return cls(rho={"dist": "uniform"}, beta={"dist": "flat"}, theta={"dist": "flat"},
                       sigma={"dist": "jeffreys"})
        raise InputError(f"unknown prior preset {name!r}; use 'default' or 'flat'")

    @property
    def is_flat(self) -> bool:
        """The flat reference prior (the exact sampler's)."""
        return (self.beta["dist"], self.theta["dist"], self.rho["dist"],
                self.sigma["dist"]) == ("flat", "flat", "uniform", "jeffreys")

    def validate(self) -> None:
        for name, allowed in PRIOR_DISTS.items():
            d = getattr(self, name)
            if not isinstance(d, dict) or d.get("dist") not in allowed:
                raise InputError(f"prior for {name!r} must be a mapping with dist in {allowed}, "
                                 f"got {d!r}")
            extra = set(d) - {"dist", *PRIOR_KEYS[d["dist"]]}
            if extra:
                raise InputError(f"unknown key(s) {sorted(extra)} in priors.{name} "
                                 f"(dist {d['dist']!r} takes {list(PRIOR_KEYS[d['dist']])})")
            for key in ("scale", "alpha", "beta"):
                if key in d and not (_number(d[key]) and d[key] > 0):
                    raise InputError(f"prior {name}.{key} must be a positive number, got "
                                     f"{d[key]!r}")
            if "mu" in d and not _number(d["mu"]):
                raise InputError(f"prior {name}.mu must be a number, got {d['mu']!r}")


@dataclass
class SamplerSpec:
    """Sampler settings.

    ``kind``: ``nuts`` (the default) or ``exact`` (independent draws from the exact posterior
    under the flat reference prior, :mod:`bayes_sdm.exact`).  ``nuts_sampler``: the NUTS
    implementation, ``auto`` (``closed-form`` for a pooled model it covers, else
    ``nutpie-pyfunc`` when nutpie is installed, else ``pymc``), ``closed-form``,
    ``nutpie-pyfunc``, ``nutpie``, ``pymc``, ``numpyro``, ``blackjax``
    (:mod:`bayes_sdm.sampling`).  ``cores``: None lets the sampler choose (one core for
    ``nutpie-pyfunc``).  ``target_accept``: NUTS's; partial pooling uses at least 0.95
    (:data:`bayes_sdm.regional.PARTIAL_TARGET_ACCEPT`).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20260101
    target_accept: float = 0.8
    nuts_sampler: str = "auto"
    cores: int | None = None
    kind: str = "nuts"

    def validate(self) -> SamplerSpec:
        if self.kind not in SAMPLER_KINDS:
            raise InputError(f"unknown sampler kind {self.kind!r} in sampler.kind; choose from "
                             f"{SAMPLER_KINDS}")
        if self.nuts_sampler not in NUTS_SAMPLERS:
            hint = " (the exact sampler is sampler.kind: exact)" if self.nuts_sampler == \
                "exact" else ""
            raise InputError(f"unknown NUTS sampler {self.nuts_sampler!r} in "
                             f"sampler.nuts_sampler; choose from {NUTS_SAMPLERS}{hint}")
        for name in ("draws", "tune", "chains"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "tune"
                                                                      else 1):
                raise InputError(f"sampler.{name} must be a positive integer, got {v!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not (
                0 <= self.seed < 2**63):
            raise InputError(f"sampler.seed must be an integer in [0, 2^63), got {self.seed!r}")
        if not (_number(self.target_accept) and 0.5 <= self.target_accept < 1):
            raise InputError(f"sampler.target_accept must be in [0.5, 1), got "
                             f"{self.target_accept!r}")
        if self.cores is not None and not (isinstance(self.cores, int) and self.cores >= 1):
            raise InputError(f"sampler.cores must be a positive integer, got {self.cores!r}")
        return self


@dataclass
class DataSpec:
    """Where the data and W come from (a bundled dataset or a file)."""

    dataset: str | None = "synthetic_ua"
    path: str | None = None
    unit: str | None = None
    time: str | None = None
    y: str | None = None
    x: list[str] | None = None
    weights: str | None = None
    standardize_w: bool = True
    region_col: str | None = None
    region: str | None = None
    ties: str = "error"

    def validate(self) -> DataSpec:
        if self.dataset is not None and self.path is not None:
            raise InputError("data.dataset and data.path are exclusive: give one")
        if self.x is not None and (not self.x or len(set(self.x)) != len(self.x)):
            raise InputError(f"data.x must be a non-empty list of distinct columns, got "
                             f"{self.x!r}")
        if self.ties not in ("error", "nearest"):
            raise InputError(f"data.ties must be 'error' or 'nearest', got {self.ties!r}")
        return self


@dataclass
class HierarchySpec:
    """The regional structure (:mod:`bayes_sdm.regional`): pooling of the regional
    coefficients, the regional W, the effects' perspective and the hierarchy's priors and
    parameterisation."""

    pooling: str = "partial"
    regional_w: str = "block"
    perspective: str = "origin"
    hyper: dict | None = None
    tau: float | dict | None = None
    parameterization: str | dict = "auto"
    rho_interval: str = "common"
    marginalize: bool = True
    region_order: list[str] | None = None

    def validate(self) -> HierarchySpec:
        for name, allowed in (("pooling", POOLINGS), ("regional_w", REGIONAL_W),
                              ("perspective", PERSPECTIVES),
                              ("rho_interval", ("common", "region"))):
            if getattr(self, name) not in allowed:
                raise InputError(f"hierarchy.{name} must be one of {allowed}, got "
                                 f"{getattr(self, name)!r}")
        return self

    def model_options(self) -> dict:
        """Keyword arguments of :func:`bayes_sdm.regional.build_regional_model`."""
        return {"hyper": self.hyper, "tau": self.tau, "parameterization": self.parameterization,
                "rho_interval": self.rho_interval, "marginalize": self.marginalize}


@dataclass
class ModelSpec:
    """Everything that defines a fit."""

    model: str = "sdm"
    fe: str = "twoway"
    #: with ``fe: none``: estimate one intercept (default); fixed effects hold their own
    intercept: bool = True
    correction: str = "transform"
    lag_convention: str = "QWy"
    logdet: str = "auto"
    priors: PriorSpec = field(default_factory=PriorSpec)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    data: DataSpec = field(default_factory=DataSpec)
    hierarchy: HierarchySpec | None = None
    #: a dynamic panel (y_{t-1} and W y_{t-1} as regressors; :mod:`bayes_sdm.dynamic`) and its
    #: form (``unrestricted`` | ``restricted``: eta = -tau rho); left out of the YAML and the
    #: hash when off, so static specs keep their hashes
    dynamic: bool = False
    dynamic_form: str = "unrestricted"
    #: ``homoskedastic`` or ``period`` (sigma_t^2, :mod:`bayes_sdm.variances`); left out of the
    #: YAML and the hash when homoskedastic
    variance: str = "homoskedastic"
    #: with ``fe: random``: correlated random effects (the unit means of X and WX in the unit
    #: effect's mean, Mundlak 1978; :mod:`bayes_sdm.cre`); left out of the YAML when off
    mundlak: bool = False
    #: where to run (a Dask cluster, :func:`check_cluster`); not part of the spec's hash: it
    #: changes where the numbers are computed, not the numbers
    cluster: str | None = None

    @property
    def family(self):
        """The :class:`~bayes_sdm.families.Family` of ``model``."""
        return families.get(self.model)

    def validate(self) -> ModelSpec:
        families.get(self.model)
        if self.fe not in FE_CHOICES:
            raise InputError(f"unknown fixed effects {self.fe!r}; choose from {FE_CHOICES}")
        if self.fe == RANDOM:
            fam = families.get(self.model)
            if len(fam.spatial_params) != 1:
                raise InputError(f"fe: random (unit random effects) is implemented for sar, "
                                 f"sdm, sem and sdem, not model {self.model!r}")
            if self.hierarchy is not None:
                raise InputError("fe: random is not implemented yet for regional models "
                                 "(hierarchy); use fixed effects or drop the hierarchy")
            if self.dynamic or self.variance != "homoskedastic":
                raise InputError("fe: random is not implemented yet with dynamic: or variance: "
                                 "(use fixed effects for those)")
        if self.mundlak and self.fe != RANDOM:
            raise InputError(f"mundlak: true (correlated random effects) applies to fe: random, "
                             f"not fe: {self.fe}")
        if self.intercept is False and self.fe != "none":
            raise InputError(f"intercept: false applies to fe: none (a pooled panel or a "
                             f"cross-section); fe: {self.fe} has no separate intercept to drop")
        if self.correction not in CORRECTIONS:
            raise InputError(f"unknown correction {self.correction!r}; choose from {CORRECTIONS}")
        if self.lag_convention not in LAG_CONVENTIONS:
            raise InputError(f"unknown lag convention {self.lag_convention!r}; choose from "
                             f"{LAG_CONVENTIONS}")
        if self.logdet not in LOGDET_METHODS:
            raise InputError(f"unknown log-determinant method {self.logdet!r} in logdet; choose "
                             f"from {LOGDET_METHODS}")
        self.priors.validate()
        self.sampler.validate()
        self.data.validate()
        if self.hierarchy is not None:
            self.hierarchy.validate()
        if self.dynamic_form not in DYNAMIC_FORMS:
            raise InputError(f"unknown dynamic_form {self.dynamic_form!r}; choose from "
                             f"{DYNAMIC_FORMS}")
        if self.variance not in VARIANCES:
            raise InputError(f"unknown variance {self.variance!r}; choose from {VARIANCES}")
        if self.variance != "homoskedastic" and (self.dynamic or self.hierarchy is not None):
            raise InputError(f"not implemented yet: {self.variance} variances with a dynamic "
                             "or regional model")
        if self.dynamic and self.hierarchy is not None:
            raise InputError("not implemented yet: a regional (hierarchy) dynamic panel")
        if self.cluster is not None:
            check_cluster(self.cluster)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d.get("cluster") is None:
            d.pop("cluster", None)
        if d.get("intercept", True):  # the default: specs (and hashes) written before it stay
            d.pop("intercept", None)
        if not d.get("dynamic") and d.get("dynamic_form") == "unrestricted":
            d.pop("dynamic", None)
            d.pop("dynamic_form", None)
        if d.get("variance") == "homoskedastic":
            d.pop("variance", None)
        if not d.get("mundlak"):
            d.pop("mundlak", None)
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def hash(self) -> str:
        d = self.to_dict()
        d.pop("cluster", None)  # where it runs does not change what is fitted
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()

    def copy(self) -> ModelSpec:
        return ModelSpec.from_dict(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "spec") -> ModelSpec:
        if not isinstance(d, dict):
            raise InputError(f"{where}: the top level must be a mapping of spec fields, got "
                             f"{type(d).__name__}")
        kw = {}
        for k, v in _check_fields(cls, d, where).items():
            if k == "priors":
                kw[k] = _priors(v, where)
            elif k in ("sampler", "data", "hierarchy"):
                sub = {"sampler": SamplerSpec, "data": DataSpec, "hierarchy": HierarchySpec}[k]
                if v is None and k == "hierarchy":
                    kw[k] = None
                    continue
                if not isinstance(v, dict):
                    raise InputError(f"{where}: section {k!r} must be a mapping, got {v!r}")
                kw[k] = sub(**_check_fields(sub, v, f"{where}: {k}"))
            else:
                kw[k] = v
        return cls(**kw).validate()

    @classmethod
    def from_yaml(cls, path: str | Path) -> ModelSpec:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"spec file not found: {p}")
        try:
            d = yaml.safe_load(p.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise InputError(f"{p}: not valid YAML: {err}") from err
        if d is None:
            raise InputError(f"{p}: the spec file is empty")
        return cls.from_dict(d, where=str(p))


def _priors(v, where: str) -> PriorSpec:
    if isinstance(v, str):
        return PriorSpec.preset(v)
    if not isinstance(v, dict):
        raise InputError(f"{where}: priors must be 'default', 'flat' or a mapping, got {v!r}")
    out = PriorSpec()
    for name, vv in _check_fields(PriorSpec, v, f"{where}: priors", check_types=False).items():
        if not isinstance(vv, dict):
            raise InputError(f"{where}: priors.{name} must be a mapping with a dist, got {vv!r}")
        base = dict(getattr(out, name))
        if vv.get("dist", base["dist"]) != base["dist"]:
            base = {}
        base.update(vv)
        setattr(out, name, base)
    return out


def _check_fields(cls, d: dict, where: str, check_types: bool = True) -> dict:
    """Refuse unknown keys and values of the wrong type for the dataclass ``cls``."""
    if not isinstance(d, dict):
        raise InputError(f"{where} must be a mapping, got {d!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    unknown = set(d) - known
    if unknown:
        raise InputError(f"{where}: unknown spec field(s) {sorted(unknown)}; known: "
                         f"{sorted(known)}")
    if check_types:
        for k, v in d.items():
            if k in ("priors", "sampler", "data", "hierarchy") and cls is ModelSpec:
                continue
            if not _type_ok(v, hints[k]):
                raise InputError(f"{where}: {k} must be {_type_name(hints[k])}, got {v!r} "
                                 f"({type(v).__name__})")
    return d


def _type_ok(v, tp) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(v, a) for a in typing.get_args(tp))
    if tp is type(None):
        return v is None
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, int | float) and not isinstance(v, bool)
    if tp is str:
        return isinstance(v, str)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return isinstance(v, list) and all(_type_ok(x, item) for x in v)
    if tp is dict or origin is dict:
        return isinstance(v, dict)
    return True


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping"}.get(tp, str(tp))
