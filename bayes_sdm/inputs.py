"""From a :class:`~bayes_sdm.spec.DataSpec` (CLI arguments or a YAML spec) to a panel and W.

Resolves a bundled dataset or a CSV/Parquet file, the weights argument, and a single region:

* ``weights``: a file (``.csv`` dense with ids as header/index, ``.gal``, ``.gwt``, ``.npz`` with
  its id list), ``economic-distance:COL`` (the seed study's inverse economic distance from each
  unit's mean of COL over the sample), or ``knn:K:XCOL,YCOL`` (k nearest neighbours from
  coordinate columns, sparse).  W is row-standardised unless ``standardize_w`` is false.
* ``region``: fit one region alone -- the panel restricted to the units whose ``region_col`` equals
  it, and W restricted to them and row-standardised again (neighbours outside the region are
  dropped; every remaining unit must keep at least one neighbour).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .panel import Panel, factorize_ids, panel_from_frame
from .spec import DataSpec
from .weights import SpatialWeights, economic_distance, knn, read_weights


@dataclass
class Inputs:
    """A resolved data set: the long frame, the panel, W and the per-unit regions (if any)."""

    frame: pd.DataFrame
    panel: Panel
    w: SpatialWeights
    label: str
    regions: pd.Series | None = None
    truth: dict | None = None


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a long table from CSV or Parquet.

    CSV: pandas with the pyarrow engine when pyarrow is installed (multi-threaded, several times
    faster on large files), else pandas' C engine.  The pyarrow reader infers dates and times
    where the C engine keeps text; such columns are read again as text, so both engines give the
    same table (a test checks them against each other).  A file pyarrow cannot parse (e.g. a
    column whose type changes after its first block) falls back to the C engine.
    Parquet: pyarrow (``pip install pyarrow``).

    Raises
    ------
    InputError
        a missing, empty, malformed or unsupported file (naming it).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"data file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt"):
        raise InputError(f"unsupported data file {p}: use .csv or .parquet")
    try:
        if suffix in (".parquet", ".pq"):
            try:
                df = pd.read_parquet(p, engine="pyarrow", **_parquet_options())
            except ImportError as err:
                raise InputError(f"reading {p} needs pyarrow (pip install pyarrow)") from err
        else:
            df = _read_csv(p)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"data file {p} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
        raise InputError(f"data file {p} cannot be read: {err}") from None
    except Exception as err:  # noqa: BLE001 - pyarrow raises its own types for a bad Parquet file
        raise InputError(f"data file {p} cannot be read: {type(err).__name__}: {err}") from None
    if df.empty or len(df.columns) == 0:
        raise InputError(f"data file {p} has no rows or no columns")
    return df


def _parquet_options() -> dict:
    """pyarrow's conversion without consolidating the columns into 2-D blocks and freeing each
    Arrow column once converted (one copy of the table in memory instead of two, and no
    consolidation copy: at 10^7 rows 2x less CPU and 0.4 GB less peak); pandas >= 3.0 only."""
    import inspect

    if "to_pandas_kwargs" in inspect.signature(pd.read_parquet).parameters:
        return {"to_pandas_kwargs": {"split_blocks": True, "self_destruct": True}}
    return {}


def _read_csv(p: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return pd.read_csv(p)
    try:
        df = pd.read_csv(p, engine="pyarrow")
        temporal = [c for c in df.columns if _is_temporal(df[c])]
        if temporal:
            df = pd.read_csv(p, engine="pyarrow", dtype={c: "str" for c in temporal})
        return df
    except Exception:  # noqa: BLE001 - any pyarrow parse failure: the C engine decides
        return pd.read_csv(p)


def _is_temporal(s: pd.Series) -> bool:
    """A column pyarrow parsed as a date, time or timestamp (the C engine keeps text)."""
    import datetime as dt

    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        return True
    if s.dtype == object:
        first = s.dropna().head(1)
        return bool(len(first)) and isinstance(first.iloc[0], (dt.date, dt.time))
    return False


def _unit_constant(frame: pd.DataFrame, unit: str, col: str, how: str = "first",
                   codes: dict | None = None) -> pd.Series:
    """Each unit's value of ``col`` (its mean over time with ``how="mean"``), indexed by the
    sorted unit ids; with ``how="first"`` the column must not vary within a unit.  ``codes``:
    a dict that keeps the unit column's sorted codes between calls on the same frame."""
    if col not in frame.columns:
        raise InputError(f"unknown column {col!r}; the table has columns {list(frame.columns)}")
    vals = frame[col]
    if vals.dtype != np.float64:  # a float64 column is used in place (no copy)
        vals = pd.to_numeric(vals, errors="coerce")
    if vals.isna().any():
        u = frame.loc[vals.isna(), unit].unique()[:5].tolist()
        raise InputError(f"column {col!r} has NaN/non-numeric values for unit(s) {u}")
    if how == "mean":
        return vals.groupby(frame[unit]).mean()
    # each unit's first value, by unit codes in sorted order (the groupby's index), and every
    # row compared with it: one pass over the ids and O(rows) array work
    cache = {} if codes is None else codes
    if "unit" not in cache:
        cache["unit"] = factorize_ids(frame[unit], sort=True)
    codes, uniq = cache["unit"]
    v = vals.to_numpy(dtype=float)
    first = np.empty(len(uniq))
    first[codes[::-1]] = v[::-1]  # the last write wins: each unit's first row
    varies = np.zeros(len(uniq), dtype=bool)
    varies[codes[v != first[codes]]] = True
    if varies.any():
        bad = uniq[varies][:5].tolist()
        raise InputError(f"coordinate column {col!r} varies over time for unit(s) {bad}")
    return pd.Series(first, index=pd.Index(uniq, name=unit), name=col)


def build_weights(arg: str, frame: pd.DataFrame, unit: str,
                  standardize: bool = True, tie: str = "error") -> SpatialWeights:
    """Resolve a ``--weights`` argument (see module docstring); ``tie`` is the
    economic-distance tie rule (:func:`~bayes_sdm.weights.economic_distance`)."""
    if arg.startswith("economic-distance:"):
        col = arg.split(":", 1)[1]
        return economic_distance(_unit_constant(frame, unit, col, "mean"),
                                 standardize=standardize, tie=tie)
    if arg.startswith("knn:"):
        parts = arg.split(":")
        if len(parts) != 3 or "," not in parts[2]:
            raise InputError(f"--weights {arg!r}: use knn:K:XCOL,YCOL")
        try:
            k = int(parts[1])
        except ValueError as err:
            raise InputError(f"--weights {arg!r}: K must be an integer") from err
        xc, yc = parts[2].split(",", 1)
        codes = {}  # one factorization of the unit column for both coordinates
        xs = _unit_constant(frame, unit, xc, codes=codes)
        ys = _unit_constant(frame, unit, yc, codes=codes)  # the same sorted index as xs
        return knn(np.column_stack([xs.to_numpy(), ys.to_numpy()]), tuple(xs.index.tolist()),
                   k, standardize)
    return read_weights(arg, standardize=standardize)


def load_inputs(d: DataSpec, need_regions: bool = False, progress=None) -> Inputs:
    """Resolve a data spec into an :class:`Inputs` (validated panel aligned with W).

    ``need_regions``: use the bundled dataset's region column when none is given.
    ``progress``: a :class:`~bayes_sdm.progress.Stages` reporter (reading, W, the panel).
    """
    from .progress import as_stages

    stages = as_stages(progress)
    truth = None
    if d.path:
        with stages.stage(f"reading {d.path}"):
            frame = read_table(d.path)
        # no time column: a cross-section (T = 1)
        missing = [n for n in ("unit", "y", "x", "weights") if not getattr(d, n)]
        if missing:
            raise InputError(f"--data needs --{' --'.join(missing)}")
        unit, time, y, x = d.unit, d.time, d.y, list(d.x)
        with stages.stage(f"W: {d.weights}"):
            w = build_weights(d.weights, frame, unit, d.standardize_w, d.ties)
        label = Path(d.path).stem
    else:
        from .datasets import load_dataset

        with stages.stage(f"reading the bundled dataset {d.dataset or 'synthetic_ua'}"):
            ds = load_dataset(d.dataset or "synthetic_ua")
            frame = ds.frame
        unit, time = d.unit or ds.unit, d.time or ds.time
        y, x = d.y or ds.y, list(d.x or ds.x)
        if d.weights:
            with stages.stage(f"W: {d.weights}"):
                w = build_weights(d.weights, frame, unit, d.standardize_w, d.ties)
        else:
            w = ds.weights
        label = ds.name
        truth = ds.truth
        if d.region_col is None and ds.region_col and (d.region or need_regions):
            d.region_col = ds.region_col
    regions = None
    unit_cols = [d.region_col] if d.region_col else []
    if d.region is not None:
        if not d.region_col:
            raise InputError("--region needs --region-col (the column naming each unit's region)")
        rc = d.region_col
        if rc not in frame.columns:
            raise InputError(f"unknown region column {rc!r}")
        labels = frame[rc].astype(str)
        if d.region not in set(labels):
            raise InputError(f"region {d.region!r} does not exist in column {rc!r}; regions: "
                             f"{sorted(set(labels))}")
        units_in = frame.loc[labels == d.region, unit].unique().tolist()
        in_region, in_w = set(units_in), set(w.ids)
        order = [u for u in w.ids if u in in_region]
        extra = [u for u in units_in if u not in in_w]
        if extra:
            raise InputError(f"units in the data but not in W: {extra[:10]}")
        if len(order) < 2:
            raise InputError(f"region {d.region!r} has fewer than 2 units")
        frame = frame[labels == d.region]
        try:
            w = w.subset(order, standardize=d.standardize_w)
        except InputError as err:
            raise InputError(f"region {d.region!r}: {err}") from err
        label = f"{label}-{d.region}"
    with stages.stage("panel (balanced, aligned with W)"):
        panel = panel_from_frame(frame, unit, time, y, x, units=w.ids, unit_cols=unit_cols)
    if d.region_col:
        col = panel.unit_info[d.region_col]
        if col.isna().any():
            bad = col.index[col.isna()].tolist()[:10]
            raise InputError(f"region label missing in column {d.region_col!r} for units {bad}")
        regions = col.astype(str)
    return Inputs(frame, panel, w, label, regions, truth)
