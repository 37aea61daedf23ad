"""Model families as data: one registry of frozen :class:`Family` records.

A family is declared once, by what its likelihood is made of, and everything else is derived
from that declaration: the names of its spatial parameters, its coefficient layout, the design
columns it needs, how its residual is formed from the Gram matrix, how its effects are computed
and which estimators exist for it.  Every module takes a :class:`Family` (the CLI and the spec
validation take their choices from :data:`REGISTRY`); no module dispatches on a name string.

The families of the static Gaussian spatial model

    y = rho W y + X beta + W X theta + u,    u = lambda W u + eps,    eps ~ N(0, sigma^2 I)

(Elhorst 2014, "Spatial Econometrics", ch. 2, the general nesting model; LeSage & Pace 2009,
ch. 2) are switched on and off by three flags:

=======  =====  =======  =======  ===================================================
family   lag    error    durbin   reference
=======  =====  =======  =======  ===================================================
ols      no     no       no       --
slx      no     no       yes      Halleck Vega & Elhorst (2015)
sar      yes    no       no       Anselin (1988), ch. 6 ("SLM" in the seed study)
sdm      yes    no       yes      LeSage & Pace (2009), sec. 2.2
sem      no     yes      no       Anselin (1988), ch. 12
sdem     no     yes      yes      LeSage & Pace (2009), sec. 2.2; Elhorst (2014)
sac      yes    yes      no       Anselin (1988), ch. 6; Kelejian & Prucha (1998)
=======  =====  =======  =======  ===================================================

SAC (two spatial parameters) has its own likelihood piece, :mod:`bayes_sdm.sac`.

The residual of every family is one polynomial in W (:func:`bayes_sdm.likelihood.coef_vector`):

    eps = (I - lambda W) [(I - rho W) y - X beta - W X theta],

so the SSE is a quadratic form in the Gram matrix of [y, Wy, W^2 y, X, WX, W^2 X]; a family
uses the columns its flags switch on (:attr:`Family.blocks`).

How to add a family: see ARCHITECTURE.md ("How to add a model family").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class Family:
    """One model family.

    Attributes
    ----------
    name : short name (CLI ``--model``, YAML ``model:``, output file names)
    label : human-readable name
    lag : a spatial lag of y (parameter ``rho``)
    error : a spatially autoregressive error (parameter ``lambda``)
    durbin : spatially lagged regressors WX (coefficients ``theta``)
    bayesian : a Bayesian (PyMC) model is offered (OLS is ML only)
    """

    name: str
    label: str
    lag: bool
    error: bool
    durbin: bool
    bayesian: bool = True

    # -- parameters -----------------------------------------------------------------------
    @property
    def spatial_params(self) -> tuple[str, ...]:
        """Names of the spatial parameters: ``("rho",)``, ``("lambda",)``, both or none."""
        return (("rho",) if self.lag else ()) + (("lambda",) if self.error else ())

    @property
    def spatial(self) -> str | None:
        """The name of the single spatial parameter (``rho`` | ``lambda``), None without one.

        Raises
        ------
        InputError
            for a family with two spatial parameters (ask :attr:`spatial_params`).
        """
        p = self.spatial_params
        if len(p) > 1:
            raise InputError(f"{self.name} has two spatial parameters {p}")
        return p[0] if p else None

    def spatial_values(self, spatial):
        """(rho, lambda) from the value(s) of the spatial parameter(s), None where absent.

        One-parameter families take a scalar (their ``rho`` or ``lambda``); a family with both
        takes the pair (rho, lambda); families without one ignore ``spatial``.
        """
        if self.lag and self.error:
            rho, lam = spatial
            return rho, lam
        if self.lag:
            return spatial, None
        if self.error:
            return None, spatial
        return None, None

    @property
    def has_jacobian(self) -> bool:
        """Whether the likelihood has a log-determinant term (any spatial parameter)."""
        return bool(self.spatial_params)

    def n_coef(self, k: int) -> int:
        """Number of regression coefficients: K, or 2K (beta and theta) for Durbin families."""
        return 2 * k if self.durbin else k

    def coef_names(self, x_names: Sequence[str]) -> list[str]:
        """``beta[x]`` for every regressor, then ``theta[x]`` for Durbin families."""
        names = [f"beta[{x}]" for x in x_names]
        if self.durbin:
            names += [f"theta[{x}]" for x in x_names]
        return names

    def param_names(self, x_names: Sequence[str]) -> list[str]:
        """All parameters in estimation order: spatial, beta, theta, sigma2."""
        return [*self.spatial_params, *self.coef_names(x_names), "sigma2"]

    # -- design ----------------------------------------------------------------------------
    @property
    def blocks(self) -> tuple[str, ...]:
        """The design blocks (:mod:`bayes_sdm.design`) its residual uses."""
        out = ["y", "Wy", "X"]
        if self.durbin or self.error:
            out.append("WX")
        if self.durbin and self.error:
            out.append("WWX")
        if self.lag and self.error:
            out.append("WWy")
        return tuple(out)

    # -- derived estimators and effects -----------------------------------------------------
    @property
    def effects_kind(self) -> str:
        """``lag``: S_k = (I - rho W)^{-1}(beta_k I + theta_k W) (LeSage & Pace 2009, 2.7);
        ``local``: the effects are the coefficients (direct beta, indirect theta)."""
        return "lag" if self.lag else "local"

    @property
    def restricted(self) -> Family:
        """The family without its Durbin terms (SDM -> SAR, SDEM -> SEM, SLX -> OLS)."""
        return by_flags(self.lag, self.error, False)

    def __str__(self) -> str:
        return self.name


#: every family, in the order the CLI lists them
FAMILIES: tuple[Family, ...] = (
    Family("sdm", "spatial Durbin model", lag=True, error=False, durbin=True),
    Family("sar", "spatial lag (autoregressive) model", lag=True, error=False, durbin=False),
    Family("sem", "spatial error model", lag=False, error=True, durbin=False),
    Family("sdem", "spatial Durbin error model", lag=False, error=True, durbin=True),
    Family("sac", "spatial lag + spatial error (SAC / SARAR) model", lag=True, error=True,
           durbin=False),
    Family("slx", "spatially lagged X model", lag=False, error=False, durbin=True),
    Family("ols", "non-spatial regression", lag=False, error=False, durbin=False,
           bayesian=False),
)

#: name -> family
REGISTRY: dict[str, Family] = {f.name: f for f in FAMILIES}

#: the families the specification tests of the seed study are about (Elhorst 2014, sec. 2.6)
SDM, SAR, SEM = REGISTRY["sdm"], REGISTRY["sar"], REGISTRY["sem"]

#: names, for argument parsers and error messages
NAMES: tuple[str, ...] = tuple(REGISTRY)
BAYES_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES if f.bayesian)


def get(family: Family | str) -> Family:
    """The :class:`Family` for a name (or the family itself).

    Raises
    ------
    InputError
        an unknown name, listing the known ones.
    """
    if isinstance(family, Family):
        return family
    try:
        return REGISTRY[family]
    except (KeyError, TypeError):
        raise InputError(f"unknown model {family!r}; choose from {NAMES}") from None


def by_flags(lag: bool, error: bool, durbin: bool) -> Family:
    """The registered family with these flags."""
    for f in FAMILIES:
        if (f.lag, f.error, f.durbin) == (lag, error, durbin):
            return f
    raise InputError(f"no registered family with lag={lag}, error={error}, durbin={durbin}")
