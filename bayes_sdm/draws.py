"""Parameter draws of a posterior as flat arrays, by family.

The one bridge between a posterior Dataset (dims ``chain``, ``draw``, ...; the names of the
dims contract in ARCHITECTURE.md) and the numerics, which take arrays of draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .families import Family


def flat(post, name: str, dims: tuple[str, ...] = ()) -> np.ndarray:
    """``post[name]`` as an array (chain * draw, *dims)."""
    if name not in post:
        raise InputError(f"the posterior has no variable {name!r}")
    da = post[name].transpose("chain", "draw", *dims)
    v = np.asarray(da.values, dtype=float)
    return v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])


@dataclass(frozen=True)
class ParameterDraws:
    """Draws of a pooled model's parameters: ``spatial`` (S,) or (2, S) for two spatial
    parameters (zeros without one), ``beta``/``theta`` (S, K) (theta None unless Durbin),
    ``sigma2`` (S,) or None."""

    spatial: np.ndarray
    beta: np.ndarray
    theta: np.ndarray | None
    sigma2: np.ndarray | None

    @property
    def size(self) -> int:
        return self.beta.shape[0]

    def thin(self, idx) -> ParameterDraws:
        sp = self.spatial[..., idx]
        return ParameterDraws(sp, self.beta[idx], None if self.theta is None else self.theta[idx],
                              None if self.sigma2 is None else self.sigma2[idx])


def parameter_draws(post, family: Family, max_draws: int | None = None) -> ParameterDraws:
    """The family's parameters from a posterior Dataset (at most ``max_draws``, evenly
    thinned)."""
    beta = flat(post, "beta", ("coef",))
    s = beta.shape[0]
    names = family.spatial_params
    if len(names) == 2:
        spatial = np.stack([flat(post, n) for n in names])
    elif names:
        spatial = flat(post, names[0])
    else:
        spatial = np.zeros(s)
    theta = flat(post, "theta", ("coef",)) if family.durbin else None
    sigma2 = flat(post, "sigma2") if "sigma2" in post else None
    out = ParameterDraws(spatial, beta, theta, sigma2)
    if max_draws is not None and s > max_draws:
        out = out.thin(np.linspace(0, s - 1, max_draws).round().astype(int))
    return out
