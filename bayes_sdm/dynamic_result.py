"""The result of a dynamic spatial-panel ML fit and the dynamic effects, shared by the lag
(:mod:`bayes_sdm.dynamic`) and error (:mod:`bayes_sdm.dynamic_error`) models.

Short-run effects are the static ones; long-run effects are those of ((1 - tau) I -
(rho + eta) W)^{-1}(beta I + theta W) (Debarsy, Ertur & LeSage 2012; Elhorst 2014).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import families
from .effects import family_effects, total_sums
from .errors import InputError
from .families import Family
from .logdet import LogDet
from .ml import HDI_PROB, MLResult

DYNAMIC_CORRECTIONS = ("bias", "none")
DYNAMIC_SE = ("ydl", "expected")


@dataclass
class DynamicMLResult(MLResult):
    """A dynamic ML fit: :class:`~bayes_sdm.ml.MLResult` with ``rho``, ``tau``, ``eta`` rows
    and short- and long-run effects (``effects(horizon=...)``)."""

    form: str = "unrestricted"
    uncorrected: pd.Series | None = None
    _horizon: str = field(default="short", repr=False, compare=False)

    def _effect_fn(self):
        k = len(self.x_names)
        family = self.family
        restricted = self.form == "restricted"
        rs = self.w.row_standardized if self.w is not None else True
        if not rs and self._sums is None:
            self._sums = total_sums(self.w)
        horizon = self._horizon

        def f(vec):
            vec = np.asarray(vec, dtype=float)
            return dynamic_effects(family, vec[..., 0], vec[..., 1],
                                   -vec[..., 1] * vec[..., 0] if restricted else vec[..., 2],
                                   vec[..., 3 - int(restricted):3 - int(restricted) + k],
                                   vec[..., 3 - int(restricted) + k:3 - int(restricted) + 2 * k]
                                   if family.durbin else None,
                                   self.logdet, horizon, rs, self._sums)

        return f

    def effects(self, method: str = "delta", draws: int = 1000, seed: int | None = None,
                prob: float = HDI_PROB, horizon: str = "both") -> pd.DataFrame:
        """Short- and long-run effects (module docstring) with delta-method (or simulated)
        uncertainty; a ``horizon`` column (``short`` | ``long``) first."""
        if horizon not in ("short", "long", "both"):
            raise InputError(f"horizon must be 'short', 'long' or 'both', got {horizon!r}")
        out = []
        for h in (("short", "long") if horizon == "both" else (horizon,)):
            self._horizon = h
            df = super().effects(method, draws, seed, prob)
            df.insert(0, "horizon", h)
            out.append(df)
        self._horizon = "short"
        return pd.concat(out, ignore_index=True)


def dynamic_effects(family: Family, rho, tau, eta, beta, theta, logdet: LogDet,
                    horizon: str = "short", row_standardized: bool = True, sums=None):
    """Short- or long-run (direct, indirect, total) effects, vectorised over draws.

    Long run: ((1 - tau) I - (rho + eta) W)^{-1}(beta I + theta W) = the static lag effects at
    rho_L = (rho + eta)/(1 - tau) with beta, theta divided by (1 - tau) (Debarsy, Ertur &
    LeSage 2012, eq. 12; Elhorst 2014, eq. 4.9).  NaN where rho_L leaves the admissible
    interval (a non-stationary draw).  Error families (SEM, SDEM; ``rho`` is their lambda and
    is ignored): short run as the static family, long run the lag formula at
    rho_L = eta / (1 - tau).

    Returns
    -------
    ndarray (..., 3, K)
    """
    rho = np.asarray(rho, dtype=float)
    beta = np.asarray(beta, dtype=float)
    theta = None if theta is None else np.asarray(theta, dtype=float)
    if horizon == "short":
        return family_effects(family, rho, beta, theta, logdet, row_standardized, sums)
    tau = np.asarray(tau, dtype=float)
    eta = np.asarray(eta, dtype=float)
    if not family.lag:  # error families (bayes_sdm.dynamic_error): no rho; lag formula at eta
        rho = np.zeros_like(tau)
        family = families.get("sdm" if family.durbin else "sar")
    scale = 1.0 - tau
    rho_l = (rho + eta) / scale
    lo, hi = logdet.interval
    ok = (rho_l > lo) & (rho_l < hi) & (scale > 0)
    safe = np.where(ok, rho_l, 0.0)
    out = family_effects(family, safe, beta / scale[..., None],
                         None if theta is None else theta / scale[..., None], logdet,
                         row_standardized, sums)
    return np.where(ok[..., None, None], out, np.nan)


def check_ml_options(correction: str, se: str) -> None:
    """The correction and standard-error choices of the dynamic ML fits."""
    if correction not in DYNAMIC_CORRECTIONS:
        raise InputError(f"unknown dynamic correction {correction!r}; choose from "
                         f"{DYNAMIC_CORRECTIONS}")
    if se not in DYNAMIC_SE:
        raise InputError(f"unknown dynamic se method {se!r}; choose from {DYNAMIC_SE}")


def ml_result(dd, names, vec, cov, ll: float, c, correction: str, se: str,
              notes: list[str], uncorr: pd.Series) -> DynamicMLResult:
    """The :class:`DynamicMLResult` of a dynamic ML fit of ``dd`` (the lag or error model's
    prepared data, a :class:`bayes_sdm.dynamic.DynamicShape`): estimates ``vec`` and
    covariance ``cov`` in the public order ``names``, residual coefficient vector ``c``
    (SSE = c'Gc, R^2 against the transformed y)."""
    n_eff = dd.n * dd.t
    sd = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    yc = dd.z[:, :, 0]  # y, the first column of both models' data
    sst = float(((yc - yc.mean()) ** 2).sum())
    s_fit = float(c @ dd.gram @ c)
    kpar = len(names)
    return DynamicMLResult(
        params=pd.Series(vec, index=names, name="estimate"),
        se=pd.Series(sd, index=names, name="se"),
        cov=pd.DataFrame(cov, index=names, columns=names),
        loglik=ll, aic=-2 * ll + 2 * kpar, bic=-2 * ll + kpar * math.log(n_eff),
        r2=1.0 - s_fit / sst if sst > 0 else float("nan"), n_eff=n_eff, family=dd.family,
        fe=dd.fe, correction=correction, lag_convention="QWy", x_names=dd.x_names, N=dd.N,
        T=dd.T, se_method=se, interval=dd.logdet.interval, sse=s_fit,
        bias_correction=pd.Series(vec - uncorr.to_numpy(), index=names), notes=notes,
        logdet=dd.logdet, w=dd.w, form=dd.form, uncorrected=uncorr)
