"""Model specification as plain data: dataclasses that round-trip through YAML.

A spec says *what* to fit (model, fixed effects, conventions, priors, sampler settings and the
data/weights to use).  It is recorded, with its hash, in every output.  The YAML files in
``models/`` are specs; every field can be overridden on the command line.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .likelihood import CORRECTIONS, LAG_CONVENTIONS, MODELS
from .panel import FE_TYPES

PRIOR_DISTS = {
    "rho": ("uniform", "beta"),
    "beta": ("normal", "flat"),
    "theta": ("normal", "flat"),
    "sigma": ("halfnormal", "exponential", "jeffreys", "flat_sigma2"),
}


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
    the reference prior used to compare with ML.
    """

    rho: dict = field(default_factory=lambda: {"dist": "uniform"})
    beta: dict = field(default_factory=lambda: {"dist": "normal", "scale": 2.5, "mu": 0.0})
    theta: dict = field(default_factory=lambda: {"dist": "normal", "scale": 2.5, "mu": 0.0})
    sigma: dict = field(default_factory=lambda: {"dist": "halfnormal", "scale": 1.0})

    @classmethod
    def preset(cls, name: str) -> PriorSpec:
        if name == "default":
            return cls()
        if name == "flat":
            return cls(rho={"dist": "uniform"}, beta={"dist": "flat"}, theta={"dist": "flat"},
                       sigma={"dist": "jeffreys"})
        raise InputError(f"unknown prior preset {name!r}; use 'default' or 'flat'")

    def validate(self) -> None:
        for name, allowed in PRIOR_DISTS.items():
            d = getattr(self, name)
            if not isinstance(d, dict) or d.get("dist") not in allowed:
                raise InputError(f"prior for {name!r} must be a mapping with dist in {allowed}, "
                                 f"got {d!r}")
            for key in ("scale", "alpha", "beta"):
                if key in d and not (isinstance(d[key], int | float) and d[key] > 0):
                    raise InputError(f"prior {name}.{key} must be a positive number, got "
                                     f"{d[key]!r}")


@dataclass
class SamplerSpec:
    """NUTS settings.  ``nuts_sampler``: ``auto`` (``nutpie-pyfunc`` when nutpie is installed,
    else ``pymc``), ``nutpie-pyfunc``, ``nutpie``, ``pymc``, ``numpyro``, ``blackjax``
    (:mod:`bayes_sdm.sampling`); ``exact`` is the grid sampler for flat/conjugate priors.
    ``cores``: None lets the sampler choose (one core for ``nutpie-pyfunc``)."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20260101
    target_accept: float = 0.8
    nuts_sampler: str = "auto"
    cores: int | None = None


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


@dataclass
class ModelSpec:
    """Everything that defines a fit."""

    model: str = "sdm"
    fe: str = "twoway"
    correction: str = "transform"
    lag_convention: str = "QWy"
    logdet: str = "auto"
    priors: PriorSpec = field(default_factory=PriorSpec)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    data: DataSpec = field(default_factory=DataSpec)
    hierarchy: dict | None = None

    def validate(self) -> ModelSpec:
        if self.model not in MODELS:
            raise InputError(f"unknown model {self.model!r}; choose from {MODELS}")
        if self.fe not in FE_TYPES:
            raise InputError(f"unknown fixed effects {self.fe!r}; choose from {FE_TYPES}")
        if self.correction not in CORRECTIONS:
            raise InputError(f"unknown correction {self.correction!r}; choose from {CORRECTIONS}")
        if self.lag_convention not in LAG_CONVENTIONS:
            raise InputError(f"unknown lag convention {self.lag_convention!r}")
        from .logdet import METHODS as LOGDET_METHODS
        from .sampling import NUTS_SAMPLERS

        if self.logdet not in LOGDET_METHODS:
            raise InputError(f"unknown log-determinant method {self.logdet!r} in logdet; choose "
                             f"from {LOGDET_METHODS}")
        samplers = (*NUTS_SAMPLERS, "exact")
        if self.sampler.nuts_sampler not in samplers:
            raise InputError(f"unknown sampler {self.sampler.nuts_sampler!r} in "
                             f"sampler.nuts_sampler; choose from {samplers}")
        self.priors.validate()
        s = self.sampler
        for name in ("draws", "tune", "chains"):
            v = getattr(s, name)
            if not isinstance(v, int) or v < (1 if name != "tune" else 0):
                raise InputError(f"sampler.{name} must be a positive integer, got {v!r}")
        if not 0.5 <= s.target_accept < 1:
            raise InputError(f"sampler.target_accept must be in [0.5, 1), got {s.target_accept}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str)
                              .encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown spec field(s) {sorted(unknown)}; known: {sorted(known)}")
        sub = {"priors": PriorSpec, "sampler": SamplerSpec, "data": DataSpec}
        kw = {}
        for k, v in d.items():
            if k in sub:
                if isinstance(v, str) and k == "priors":
                    kw[k] = PriorSpec.preset(v)
                    continue
                base = sub[k]() if k != "priors" else PriorSpec()
                fields = {f.name for f in dataclasses.fields(sub[k])}
                bad = set(v or {}) - fields
                if bad:
                    raise InputError(f"unknown field(s) {sorted(bad)} in spec section {k!r}")
                for kk, vv in (v or {}).items():
                    if k == "priors" and isinstance(vv, dict):
                        merged = dict(getattr(base, kk))
                        if vv.get("dist", merged.get("dist")) != merged.get("dist"):
                            merged = {}
                        merged.update(vv)
                        vv = merged
                    setattr(base, kk, vv)
                kw[k] = base
            else:
                kw[k] = v
        return cls(**kw).validate()

    @classmethod
    def from_yaml(cls, path: str | Path) -> ModelSpec:
        p = Path(path)
        if not p.exists():
            raise InputError(f"spec file not found: {p}")
        try:
            d = yaml.safe_load(p.read_text())
        except yaml.YAMLError as err:
            raise InputError(f"{p}: not valid YAML: {err}") from err
        return cls.from_dict(d or {})
