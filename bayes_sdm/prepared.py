"""A prepared model: the data, W, the sufficient statistics and the log-determinant of one
family and fixed-effects choice.

Every estimator starts from a :class:`Prepared`: the PyMC models and the exact sampler
(:mod:`bayes_sdm.sampling`), maximum likelihood (:mod:`bayes_sdm.ml`), the tests
(:mod:`bayes_sdm.hypothesis`) and the regional models (:mod:`bayes_sdm.regional`).  The user
layer's :func:`bayes_sdm.api.prepare` validates the inputs and calls :func:`build`; estimators
that need a sibling model (another family or FE type on the same data) derive it here, so that
the Gram matrix and the log-determinant are computed once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from . import families
from .design import Layout, check_fe, check_lag_convention, durbin_raw_for
from .errors import InputError
from .families import Family
from .likelihood import (
    CORRECTIONS,
    SufficientStats,
    check_design,
    check_finite_and_varying,
    sufficient_stats,
)
from .logdet import LogDet, make_logdet
from .panel import Panel, check_not_absorbed
from .weights import SpatialWeights


@dataclass
class Prepared:
    """Validated panel + W with the precomputed sufficient statistics and log-determinant.

    ``regional`` holds the regional structure (:class:`bayes_sdm.regional.data.RegionalData`)
    when the model is regional, else None; ``hierarchy`` the
    :class:`~bayes_sdm.spec.HierarchySpec` it was prepared with (the model options a fit
    without a spec uses).
    """

    panel: Panel
    w: SpatialWeights
    stats: SufficientStats
    logdet: LogDet | None
    family: Family
    fe: str
    correction: str = "transform"
    lag_convention: str = "QWy"
    regional: object = None
    hierarchy: object = None
    _hash: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        from .display import prepared_card

        return prepared_card(self).text()

    def _repr_html_(self) -> str:
        from .display import prepared_card

        return prepared_card(self).html()

    @property
    def model(self) -> str:
        """The family's name."""
        return self.family.name

    @property
    def intercept(self) -> bool:
        """Whether the model estimates one intercept (``fe="none"`` with an intercept; the
        transform is then ``intercept``, :func:`bayes_sdm.design.demean`)."""
        return self.fe == "intercept"

    @property
    def fe_name(self) -> str:
        """The fixed effects as the user names them (``none`` for a model with an intercept)."""
        return "none" if self.intercept else self.fe

    @property
    def data_hash(self) -> str:
        """Hash of the panel's numbers and ids and of W (recorded with every fit)."""
        if self._hash is None:
            self._hash = data_hash(self.panel, self.w)
        return self._hash

    def with_family(self, family: Family | str) -> Prepared:
        """The same data, statistics and log-determinant for another family (the statistics
        must hold the blocks it needs)."""
        family = families.get(family)
        self.stats.layout.check(family)
        ld = self.logdet
        if family.has_jacobian and ld is None:
            ld = make_logdet(self.w)
        raw = durbin_raw_for(family, self.lag_convention)
        if (raw != self.stats.layout.durbin_raw and self.fe in ("time", "twoway")
                and self.regional is None):
            # WQy: the WX block of an SDM/SLX is Q(W X_raw), of the others W(Q X)
            # (design module docstring): another Gram matrix, the same log-determinant
            return build(self.panel, self.w, family, self.fe, self.correction,
                         self.lag_convention, ld if ld is not None else "auto",
                         layout=replace(self.stats.layout, durbin_raw=raw))
        return replace(self, family=family, logdet=ld, regional=None, hierarchy=None)

    def with_fe(self, fe: str, correction: str | None = None) -> Prepared:
        """The same family on the same data with other fixed effects (a new transform)."""
        return build(self.panel, self.w, self.family, fe,
                     self.correction if correction is None else correction,
                     self.lag_convention, self.logdet if self.logdet is not None else "auto",
                     layout=self.stats.layout)


def data_hash(panel: Panel, w: SpatialWeights) -> str:
    """SHA-256 of the panel's numbers, names and ids and of W."""
    h = hashlib.sha256(panel.data_hash().encode())
    m = w.matrix
    if w.is_sparse:
        for a in (m.indptr, m.indices, m.data):
            h.update(np.ascontiguousarray(a).tobytes())
    else:
        h.update(np.ascontiguousarray(m).tobytes())
    return h.hexdigest()


def check_transform(panel: Panel, w: SpatialWeights, family: Family, fe: str) -> None:
    """Refuse fixed effects a cross-section cannot have and an intercept the error filter
    does not keep constant.

    Raises
    ------
    InputError
        unit (or two-way) effects with T = 1; an intercept in a family with a spatial error
        and a W that is not row-standardised ((I - lambda W) iota is then not a constant, so
        the intercept is not concentrated out by removing the grand mean).
    """
    if panel.T == 1 and fe in ("unit", "twoway"):
        raise InputError(f"a cross-section (T = 1) has no unit fixed effects (fe={fe!r} would "
                         "absorb every observation); use fe='none' (with its intercept)")
    if fe == "intercept" and family.error and not w.row_standardized:
        raise InputError(f"an intercept in the {family.name} model needs a row-standardised W "
                         "(the error filter (I - lambda W) must keep the constant constant); "
                         "row-standardise W or drop the intercept")


def build(panel: Panel, w: SpatialWeights, family: Family | str, fe: str,
          correction: str = "transform", lag_convention: str = "QWy",
          logdet: str | LogDet = "auto", layout: Layout | None = None) -> Prepared:
    """The sufficient statistics and log-determinant of a panel whose units are in W's order.

    Raises
    ------
    InputError
        unknown FE / correction / convention, units out of W's order, a regressor absorbed by
        the fixed effects or collinear with others (the one rank check of every estimator), a y
        the fixed effects leave constant, statistics that overflow, time effects with a W that
        is not row-standardised.
    """
    family = families.get(family)
    check_fe(fe)
    check_lag_convention(lag_convention)
    if correction not in CORRECTIONS:
        raise InputError(f"unknown correction {correction!r}; choose from {CORRECTIONS}")
    check_transform(panel, w, family, fe)
    check_not_absorbed(panel, fe)
    layout = layout or Layout.for_families(panel.K, family,
                                           durbin_raw=durbin_raw_for(family, lag_convention))
    stats = sufficient_stats(panel, w, fe, correction=correction, lag_convention=lag_convention,
                             layout=layout)
    check_finite_and_varying(stats, panel)
    check_design(stats, family)
    ld = None
    if family.has_jacobian:
        ld = logdet if isinstance(logdet, LogDet) else make_logdet(w, logdet)
    return Prepared(panel, w, stats, ld, family, fe, correction, lag_convention)
