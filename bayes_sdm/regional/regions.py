"""Region membership: validated per-unit region labels, one region's sub-panel and W.

The regional models (:mod:`bayes_sdm.regional`) need every unit's region (east / central / west,
US Census regions, ...): :func:`make_regions` validates the labels and fixes the reporting order;
:func:`select_region` is what fitting one region alone means (``--region NAME``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..panel import Panel
from ..weights import SpatialWeights


@dataclass(frozen=True)
class Regions:
    """Region membership of the panel's units.

    Attributes
    ----------
    names : region names (strings) in reporting order
    index : ndarray (N,), the position in ``names`` of each unit's region (panel unit order)
    units : the panel's unit ids
    """

    names: tuple[str, ...]
    index: np.ndarray
    units: tuple

    @property
    def G(self) -> int:  # noqa: N802
        return len(self.names)

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.index, minlength=self.G)

    def positions(self, g: int) -> np.ndarray:
        return np.nonzero(self.index == g)[0]

    def members(self, g: int) -> tuple:
        return tuple(self.units[i] for i in self.positions(g))

    def indicator(self) -> np.ndarray:
        """The N x G 0/1 matrix R with R[i, g] = 1 when unit i is in region g."""
        r = np.zeros((len(self.units), self.G))
        r[np.arange(len(self.units)), self.index] = 1.0
        return r

    def position_of(self, name) -> int:
        name = label(name)
        if name not in self.names:
            raise InputError(f"region {name!r} does not exist; regions: {list(self.names)}")
        return self.names.index(name)


def _missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def label(v) -> str:
    """Region labels as strings (netCDF coordinates); 3.0 -> '3'."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def make_regions(panel: Panel, regions, order: Sequence | None = None,
                 min_units: int = 2, min_regions: int = 2) -> Regions:
    """Validate per-unit region labels and fix the region order.

    Parameters
    ----------
    panel : the panel (its unit order is used)
    regions : a column name of ``panel.unit_info``; a ``pd.Series`` or mapping from unit id to
        label; or a sequence of N labels in the panel's unit order
    order : region names in reporting order (default: sorted labels); every name must exist and
        every region must be listed
    min_units : the smallest admissible region size

    Raises
    ------
    InputError
        unknown region column, a label missing for some unit (names them), a wrong number of
        labels, a region in ``order`` that does not exist, fewer than 2 regions, a region with
        fewer than ``min_units`` units.
    """
    units = list(panel.units)
    n = len(units)
    if isinstance(regions, str):
        info = panel.unit_info
        if info is None or regions not in info.columns:
            have = [] if info is None else list(info.columns)
            raise InputError(f"region column {regions!r} is not a unit attribute of the panel "
                             f"(attributes: {have}); pass it in unit_cols when building the "
                             "panel")
        labels = list(info[regions].reindex(units))
    elif isinstance(regions, pd.Series):
        if not set(units) & set(regions.index):
            raise InputError("the region Series is indexed by unit id, but none of the panel's "
                             f"units are in its index (e.g. {units[:3]})")
        labels = list(regions.reindex(units))
    elif isinstance(regions, Mapping):
        labels = [regions.get(u) for u in units]
    else:
        labels = list(regions)
        if len(labels) != n:
            raise InputError(f"{len(labels)} region labels for {n} units; give one label per "
                             "unit in the panel's unit order (or a Series indexed by unit id)")
    missing = [u for u, v in zip(units, labels, strict=True) if _missing(v)]
    if missing:
        raise InputError(f"region label missing for {len(missing)} unit(s): {missing[:10]}"
                         + (" ..." if len(missing) > 10 else ""))
    labels = [label(v) for v in labels]
    present = sorted(set(labels))
    if order is None:
        names = present
    else:
        names = [label(v) for v in order]
        unknown = [r for r in names if r not in present]
        if unknown:
            raise InputError(f"region(s) {unknown} do not exist; regions in the data: {present}")
        if len(set(names)) != len(names):
            raise InputError(f"duplicate region names in the order {names}")
        left = [r for r in present if r not in names]
        if left:
            raise InputError(f"region order {names} omits region(s) {left}")
    if len(names) < min_regions:
        raise InputError(f"regional models need at least {min_regions} regions; found {names}")
    pos = {r: i for i, r in enumerate(names)}
    index = np.array([pos[v] for v in labels], dtype=int)
    sizes = np.bincount(index, minlength=len(names))
    small = [(names[g], int(s)) for g, s in enumerate(sizes) if s < min_units]
    if small:
        raise InputError("region(s) with fewer than "
                         f"{min_units} units: " + ", ".join(f"{r!r} ({s} unit)" for r, s in small))
    return Regions(tuple(names), index, tuple(units))


def check_block_neighbours(w: SpatialWeights, regs: Regions, only: int | None = None) -> None:
    """Every unit needs a neighbour inside its own region under the block-diagonal W."""
    base = w.raw_base()
    for g, name in enumerate(regs.names):
        if only is not None and g != only:
            continue
        idx = regs.positions(g)
        sub = base[idx][:, idx] if w.is_sparse else base[np.ix_(idx, idx)]
        rs = np.asarray(sub.sum(axis=1)).ravel()
        lonely = [regs.units[idx[i]] for i in np.nonzero(rs <= 0)[0]]
        if lonely:
            raise InputError(
                f"region {name!r}: {len(lonely)} unit(s) have no neighbours inside the region "
                f"under the block-diagonal W: {lonely[:10]}; use regional_w='full' or a W that "
                "connects them within the region"
            )


def select_region(panel: Panel, w: SpatialWeights, regions, name,
                  standardize: bool = True) -> tuple[Panel, SpatialWeights]:
    """The sub-panel and re-row-standardised W of one region (``--region NAME``).

    Raises InputError when the region does not exist, has fewer than 2 units, or has units
    without a neighbour inside it.
    """
    panel = align(panel, w)
    regs = make_regions(panel, regions, min_units=1, min_regions=1)
    g = regs.position_of(name)
    if regs.sizes[g] < 2:
        raise InputError(f"region {regs.names[g]!r} has {regs.sizes[g]} unit; a regional fit "
                         "needs at least 2")
    check_block_neighbours(w, regs, only=g)
    ids = regs.members(g)
    return panel.subset_units(ids), w.subset(ids, standardize=standardize)


def align(panel: Panel, w: SpatialWeights) -> Panel:
    if tuple(w.ids) == tuple(panel.units):
        return panel
    if set(w.ids) != set(panel.units):
        a = [u for u in w.ids if u not in set(panel.units)][:10]
        b = [u for u in panel.units if u not in set(w.ids)][:10]
        raise InputError(f"W/unit mismatch: units in W but not in the data: {a}; "
                         f"units in the data but not in W: {b}")
    return panel.subset_units(w.ids)
