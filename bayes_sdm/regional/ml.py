"""Maximum likelihood by region: separate fits, each region with its own W re-standardised.

This is how the seed study (and most applied work) estimates regional models: the sample is
split by region and the pooled model is fitted to each part, with W restricted to the region's
units and its rows standardised again (:func:`~bayes_sdm.regional.regions.select_region`), so
two-way fixed effects become region-specific unit and time effects.  It is the ML counterpart
of the Bayesian ``pooling="none"`` model with a block W; spillovers across regions are dropped
by construction.
"""

from __future__ import annotations

from .. import families
from ..errors import InputError
from ..families import Family
from ..ml import MLResult, fit_ml
from ..panel import Panel
from ..prepared import build
from ..weights import SpatialWeights
from .regions import align, make_regions, select_region


def ml_by_region(panel: Panel, w: SpatialWeights, regions, family: Family | str = "sdm",
                 fe: str = "twoway", correction: str = "transform",
                 lag_convention: str = "QWy", region_order=None, on_boundary: str = "warn"
                 ) -> dict[str, MLResult]:
    """ML fit of ``family`` to each region separately (module docstring).

    Parameters
    ----------
    panel, w : the full panel and W (units aligned by id)
    regions : per-unit region labels (as :func:`~bayes_sdm.regional.regions.make_regions`)
    family, fe, correction, lag_convention : as :func:`bayes_sdm.ml.fit_ml` /
        :func:`bayes_sdm.prepared.build`
    region_order : reporting order (default sorted)

    Returns
    -------
    dict region name -> :class:`~bayes_sdm.ml.MLResult`, in the reporting order.

    Raises
    ------
    InputError
        unknown or too small regions, a unit without a neighbour inside its region, a regressor
        absorbed by a region's fixed effects (the message names the region).
    """
    family = families.get(family)
    panel = align(panel, w)
    regs = make_regions(panel, regions, order=region_order)
    out: dict[str, MLResult] = {}
    for name in regs.names:
        try:
            p, wg = select_region(panel, w, regions, name)
            prep = build(p, wg, family, fe, correction, lag_convention)
            out[str(name)] = fit_ml(prep, correction, on_boundary=on_boundary)
        except InputError as err:
            raise InputError(f"region {name!r}: {err}") from err
    return out
