"""Regions of cities: east / central / west belts, NBS four regions, agglomerations.

See :mod:`bayes_sdm.indices` for the definitions and references.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from .schema import (
    _ZH_SUFFIX,
    PROVINCE_BELT,
    PROVINCE_NBS4,
    PROVINCE_ZH,
    REGION_SCHEMES,
    _no_duplicates,
    _no_missing_keys,
    _py,
    _require,
)


def province_name(p) -> str | None:
    """The English name of a province given in English (any case) or Chinese (with or without
    省/市/自治区).

    Parameters
    ----------
    p : the name as written in a table

    Returns
    -------
    The key of :data:`PROVINCE_BELT`, or None when unknown.
    """
    if not isinstance(p, str):
        return None
    s = p.strip()
    zh = _ZH_SUFFIX.sub("", s)
    if zh in PROVINCE_ZH:
        return PROVINCE_ZH[zh]
    low = {k.lower(): k for k in PROVINCE_BELT}
    return low.get(s.lower())


def assign_regions(cities: pd.DataFrame, scheme: str = "belt", *, city_col: str = "city",
                   what: str = "city table") -> pd.DataFrame:
    """One row per city with its ``region`` (and province/agglomeration when given).

    Parameters
    ----------
    cities : table with ``city_col`` and ``province`` (schemes ``belt``, ``nbs4``) or
        ``agglomeration`` (scheme ``agglomeration``)
    scheme : ``belt`` -- the NBS east/central/west belt of the province (:data:`PROVINCE_BELT`,
        the seed study's split); ``nbs4`` -- the NBS four regions (east, central, west,
        northeast); ``agglomeration`` -- the city's urban agglomeration
    what : the table's name in error messages

    Returns
    -------
    DataFrame with ``city_col``, then ``agglomeration`` and ``province`` when present, then
    ``region``.

    Raises
    ------
    InputError
        unknown scheme, missing columns or values, duplicate cities, unknown provinces (named).
    """
    if scheme not in REGION_SCHEMES or scheme == "none":
        raise InputError(f"unknown region scheme {scheme!r}; choose from "
                         f"{[s for s in REGION_SCHEMES if s != 'none']}")
    need = "agglomeration" if scheme == "agglomeration" else "province"
    _require(cities, [city_col, need], what)
    _no_missing_keys(cities, [city_col], what)
    _no_duplicates(cities, [city_col], what)
    cols = [city_col] + [c for c in ("agglomeration", "province") if c in cities.columns]
    out = cities[cols].copy().reset_index(drop=True)
    blank = out[need].isna()
    if blank.any():
        raise InputError(f"{what}: column {need!r} is missing for city "
                         f"{_py(out.loc[blank, city_col].iloc[0])!r}")
    if scheme == "agglomeration":
        out["region"] = out["agglomeration"].astype(str)
        return out
    table = PROVINCE_BELT if scheme == "belt" else PROVINCE_NBS4
    names = out["province"].map(province_name)
    unknown = names.isna()
    if unknown.any():
        i = int(np.nonzero(unknown.to_numpy())[0][0])
        raise InputError(f"{what}: unknown province {_py(out['province'].iloc[i])!r} of city "
                         f"{_py(out[city_col].iloc[i])!r}; use the English names of "
                         f"{sorted(PROVINCE_BELT)} or their Chinese names")
    out["region"] = names.map(table).to_numpy()
    return out
