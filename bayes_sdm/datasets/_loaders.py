"""Loaders of the bundled datasets (files under ``bayes_sdm/datasets/data``; never downloaded)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from ..errors import InputError
from ..indices import csv_read_options, employment_to_long
from ..panel import Panel, panel_from_frame
from ..weights import SpatialWeights, economic_distance, make_weights

_DEFAULT = object()  # "use the dataset's own region column"


@dataclass(frozen=True)
class Dataset:
    """A bundled panel with its weight matrix and metadata.

    Attributes
    ----------
    name : dataset name (as given to :func:`load_dataset`)
    frame : long table, one row per unit and period
    weights : row-standardised :class:`~bayes_sdm.weights.SpatialWeights`; its ``ids`` give the
        unit order used by :meth:`panel`
    unit, time : names of the unit-id and period columns of ``frame`` (``time`` None: a
        cross-section, T = 1)
    y : default dependent variable
    x : default regressors
    region_col : column of ``frame`` holding each unit's region (time-invariant), or None
    truth : the data-generating parameters and true effects (synthetic data), else None
    description : one paragraph on the data and its source
    synthetic : True for simulated data
    """

    name: str
    frame: pd.DataFrame
    weights: SpatialWeights
    unit: str
    time: str | None
    y: str
    x: tuple[str, ...]
    region_col: str | None
    truth: dict | None
    description: str
    synthetic: bool

    def panel(self, y: str | None = None, x: Sequence[str] | None = None,
              region_col=_DEFAULT) -> Panel:
        """The balanced :class:`~bayes_sdm.panel.Panel` in W's unit order.

        ``y`` and ``x`` default to the dataset's model; ``region_col`` defaults to the
        dataset's region column and is kept in ``panel.unit_info`` (pass None to drop it).
        """
        rc = self.region_col if region_col is _DEFAULT else region_col
        unit_cols = [rc] if rc is not None else []
        return panel_from_frame(self.frame, self.unit, self.time, y or self.y,
                                list(x) if x is not None else list(self.x),
                                units=self.weights.ids, unit_cols=unit_cols)

    def __repr__(self) -> str:
        t = self.frame[self.time].nunique() if self.time is not None else 1
        return (f"Dataset({self.name!r}, N={self.weights.n}, "
                f"T={t}, y={self.y!r}, x={list(self.x)}, "
                f"region_col={self.region_col!r}, synthetic={self.synthetic})")


# --------------------------------------------------------------------------- file access
def data_file(*parts: str):
    """A Traversable for a file under ``bayes_sdm/datasets/data``."""
    return resources.files("bayes_sdm.datasets").joinpath("data", *parts)


def read_csv(*parts: str, **kw) -> pd.DataFrame:
    """Read a bundled CSV exactly (floats round-trip; :func:`bayes_sdm.indices.csv_read_options`)."""
    with data_file(*parts).open("rb") as fh:
        return pd.read_csv(fh, **csv_read_options(), **kw)


def read_text(*parts: str) -> str:
    return data_file(*parts).read_text(encoding="utf-8")


def _binary_weights(*parts: str, name: str) -> SpatialWeights:
    df = read_csv(*parts, index_col=0)
    if [str(c) for c in df.columns] != [str(r) for r in df.index]:
        raise InputError(f"bundled W {parts[-1]}: header and index differ")  # pragma: no cover
    return make_weights(df.to_numpy(dtype=float), tuple(str(r) for r in df.index),
                        standardize=True, name=name)


# --------------------------------------------------------------------------- cigar
CENSUS_REGIONS = {1: "Northeast", 2: "Midwest", 3: "South", 4: "West"}
CENSUS_DIVISIONS = {1: "New England", 2: "Middle Atlantic", 3: "East North Central",
                    4: "West North Central", 5: "South Atlantic", 6: "East South Central",
                    7: "West South Central", 8: "Mountain", 9: "Pacific"}


def _load_cigar() -> Dataset:
    frame = read_csv("cigar", "cigar_panel.csv")
    frame["census_region"] = frame["census_region4"].map(CENSUS_REGIONS)
    w = _binary_weights("cigar", "usa46_W_binary.csv",
                        name="usa46 contiguity (row-standardised)")
    return Dataset(
        name="cigar", frame=frame, weights=w, unit="state_name", time="year", y="logc",
        x=("logp", "logy"), region_col="census_region", truth=None, synthetic=False,
        description=(
            "Cigarette demand (Baltagi & Levin 1992), 46 US states x 30 years (1963-1992), "
            "public data from the R package plm (Cigar) with the 46-state binary contiguity "
            "matrix usa46 (R package SDPDmod), row-standardised. Model: logc on logp and logy."),
    )


# --------------------------------------------------------------------------- columbus
def _load_columbus() -> Dataset:
    frame = read_csv("columbus", "columbus.csv")
    w = _binary_weights("columbus", "columbus_W_binary.csv",
                        name="columbus queen contiguity (libpysal GAL, row-standardised)")
    frame["id"] = frame["id"].astype(str)
    return Dataset(
        name="columbus", frame=frame, weights=w, unit="id", time=None, y="CRIME",
        x=("INC", "HOVAL"), region_col=None, truth=None, synthetic=False,
        description=(
            "Columbus (Ohio) crime, 49 neighbourhoods in 1980 -- a cross-section (Anselin "
            "1988, Table 12.1), from PySAL's libpysal example, with its queen contiguity "
            "(columbus.gal, 236 links), row-standardised. Model: CRIME on INC and HOVAL with "
            "an intercept."),
    )


# --------------------------------------------------------------------------- produc
def _load_produc() -> Dataset:
    frame = read_csv("produc", "produc_model.csv")
    frame["census_division"] = frame["region"].map(CENSUS_DIVISIONS)
    w = _binary_weights("produc", "usaww_W_binary.csv",
                        name="usaww queen contiguity (row-standardised)")
    return Dataset(
        name="produc", frame=frame, weights=w, unit="state", time="year", y="lgsp",
        x=("lpcap", "lpc", "lemp", "unemp"), region_col="census_division", truth=None,
        synthetic=False,
        description=(
            "Public capital productivity (Munnell 1990), 48 contiguous US states x 17 years "
            "(1970-1986), public data from the R package plm (Produc) with the queen "
            "contiguity matrix usaww (R package splm), row-standardised. Model: lgsp on lpcap, "
            "lpc, lemp, unemp (Millo & Piras 2012)."),
    )


# --------------------------------------------------------------------------- synthetic_ua
SYNTHETIC_DIR = "synthetic_ua"
SYNTHETIC_PANEL = "synthetic_ua.csv"
SYNTHETIC_TRUTH = "synthetic_ua_truth.json"
RAW_FILES = {
    "employment": "employment_wide.csv",
    "national_employment": "national_employment.csv",
    "city_series": "city_series.csv",
    "national_series": "national_series.csv",
    "industries": "industries.csv",
    "cities": "cities.csv",
}


def synthetic_weights(frame: pd.DataFrame, unit: str = "city",
                      var: str = "gdp_pc") -> SpatialWeights:
    """The seed study's W for a panel: inverse economic distance of the units' mean ``var``.

    Units in order of first appearance in ``frame``; ``w_ij = 1/|xbar_i - xbar_j|``,
    row-standardised (:func:`bayes_sdm.weights.economic_distance`, ties refused).
    """
    order = list(pd.unique(frame[unit]))
    means = frame.groupby(unit, sort=False)[var].mean().loc[order]
    w = economic_distance(means, standardize=True, tie="error")
    return w


def _load_synthetic_ua() -> Dataset:
    frame = read_csv(SYNTHETIC_DIR, SYNTHETIC_PANEL)
    truth = json.loads(read_text(SYNTHETIC_DIR, SYNTHETIC_TRUTH))
    w = synthetic_weights(frame)
    w = SpatialWeights(w.matrix, w.ids, w.row_standardized, w.sym_scale,
                       name="inverse economic distance of mean gdp_pc (row-standardised)")
    dm = truth["default_model"]
    return Dataset(
        name="synthetic_ua", frame=frame, weights=w, unit="city", time="year", y=dm["y"],
        x=tuple(dm["x"]), region_col="region", truth=truth, synthetic=True,
        description=(
            "SYNTHETIC data shaped like the seed study (not real data): 176 prefecture-level "
            "cities in China's 18 urban agglomerations, 2003-2018, east/central/west by "
            "province. The index columns are built (bayes_sdm.indices.build_panel, "
            "scripts/build_indices.py) from simulated yearbook-style raw tables; the city growth "
            "series behind resi are generated forward from a two-way fixed-effects SDM with "
            "region-specific coefficients on the inverse economic-distance W, calibrated so "
            "that the true pooled effects are the study's. See the truth dict and "
            "bayes_sdm/datasets/data/synthetic_ua/README.md."),
    )


_REGISTRY: dict[str, Callable[[], Dataset]] = {
    "cigar": _load_cigar,
    "columbus": _load_columbus,
    "produc": _load_produc,
    "synthetic_ua": _load_synthetic_ua,
}


def list_datasets() -> list[str]:
    """Names of the bundled datasets."""
    return sorted(_REGISTRY)


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name (see :func:`list_datasets`).

    Raises
    ------
    InputError
        an unknown name (the message lists the available ones).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(f"unknown dataset {name!r}; available: {list_datasets()}")
    return _REGISTRY[name]()


def load_raw_tables(name: str) -> dict[str, pd.DataFrame]:
    """The raw tables behind a dataset's index columns (only ``synthetic_ua`` has them).

    Returns a dict of DataFrames:

    * ``employment`` -- long (city, year, industry, employment), persons, 2003-2018
    * ``national_employment`` -- long (year, industry, employment), persons, 2003-2018
    * ``city_series`` -- city, year, gdp_growth (real, %), gdp, telecom (10,000 yuan),
      road_area (10,000 m^2), built_up_area (km^2), fdi_usd (10,000 USD), science_exp,
      budget_exp (10,000 yuan), gdp_pc (real, yuan); 2002-2018, the 2002 rows hold the growth
      rate only (the first-year rule of :mod:`bayes_sdm.indices`)
    * ``national_series`` -- year, gdp_growth (%), rmb_per_usd, 2002-2018
    * ``industries`` -- code, name (the 19 sections of GB/T 4754-2002)
    * ``cities`` -- city, province, agglomeration, region

    ``bayes_sdm.indices.build_panel(t["employment"], t["city_series"], t["national_series"],
    t["cities"], national_employment=t["national_employment"])`` reproduces the panel exactly
    (``scripts/build_indices.py`` with its defaults does the same from the files).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(f"unknown dataset {name!r}; available: {list_datasets()}")
    if name != "synthetic_ua":
        have = ["synthetic_ua"]
        raise InputError(f"dataset {name!r} has no raw tables; datasets with raw tables: {have}")
    out = {k: read_csv(SYNTHETIC_DIR, "raw", f) for k, f in RAW_FILES.items()}
    wide = out["employment"]
    codes = [c for c in wide.columns if c not in ("city", "year")]
    out["employment"] = employment_long(wide, codes)
    return out


def employment_long(wide: pd.DataFrame, codes: Sequence[str]) -> pd.DataFrame:
    """(city, year, industry, employment) from the stored wide table, city-year-industry order
    (:func:`bayes_sdm.indices.employment_to_long`)."""
    return employment_to_long(wide, codes)
