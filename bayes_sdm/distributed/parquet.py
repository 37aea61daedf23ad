"""Partitioned Parquet datasets read one period at a time (pyarrow; no Dask here).

A dataset is a Parquet file, a directory of Parquet files (any depth; hive directories such as
``year=2001/`` become columns) or a glob of files.  Every reader here touches one period, one
file or one block of units: what a single Dask task holds in memory is a period's rows, never
the panel.  Partitioning the files (or their row groups) by period makes a period's read touch
only its own files: pyarrow skips the others by their hive keys or row-group statistics.  Any
other layout is still correct; each period's read then scans the files' period column.

The checks are those of :func:`bayes_sdm.panel.panel_from_frame`, period by period: unknown
columns, missing ids, duplicate (unit, period) rows, NaN/inf or non-numeric values (naming the
column, units and period), units absent from W or missing from a period (an unbalanced panel).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_glob(source: str) -> bool:
    return any(c in str(source) for c in "*?[")


def is_parquet_source(source) -> bool:
    """A Parquet file, a directory holding Parquet files, or a glob of them."""
    if source is None:
        return False
    s = str(source)
    if is_glob(s):
        return any(m.lower().endswith(PARQUET_SUFFIXES) for m in glob.glob(s, recursive=True))
    p = Path(s)
    if p.is_dir():
        return any(True for _ in _walk_parquet(p))
    return p.suffix.lower() in PARQUET_SUFFIXES


def is_partitioned(source) -> bool:
    """A directory or a glob (not a single file): what only the out-of-core path reads."""
    s = str(source)
    return is_glob(s) or Path(s).is_dir()


def _walk_parquet(root: Path):
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for f in sorted(files):
            if f.lower().endswith(PARQUET_SUFFIXES) and not f.startswith((".", "_")):
                yield os.path.join(dirpath, f)


@dataclass(frozen=True)
class ParquetSource:
    """The files of a dataset and the folder that hive partition keys are relative to."""

    files: tuple[str, ...]
    base: str | None
    label: str

    def dataset(self):
        """A ``pyarrow.dataset.Dataset`` over the files (hive partitions as columns)."""
        import pyarrow.dataset as pds

        try:
            if self.base is not None:
                return pds.dataset(list(self.files), format="parquet", partitioning="hive",
                                   partition_base_dir=self.base)
            return pds.dataset(list(self.files), format="parquet")
        except Exception as err:  # noqa: BLE001 - pyarrow's errors name the bad file
            raise InputError(f"{self.label}: not a readable Parquet dataset ({err})") from err

    def columns(self) -> list[str]:
        return list(self.dataset().schema.names)


def resolve_source(source) -> ParquetSource:
    """The files of ``source`` (file, directory or glob).

    Raises
    ------
    InputError
        nothing matches, or no Parquet file is there.
    """
    s = str(source)
    if is_glob(s):
        files = sorted(m for m in glob.glob(s, recursive=True)
                       if m.lower().endswith(PARQUET_SUFFIXES) and os.path.isfile(m))
        if not files:
            raise InputError(f"--data {s}: no Parquet file matches")
        base = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
        return ParquetSource(tuple(files), base, Path(s.split("*")[0].rstrip("/") or ".").name)
    p = Path(s)
    if not p.exists():
        raise InputError(f"data file not found: {p}")
    if p.is_dir():
        files = tuple(_walk_parquet(p))
        if not files:
            raise InputError(f"--data {p}: the folder holds no Parquet file")
        return ParquetSource(files, str(p.resolve()), p.name)
    if p.suffix.lower() not in PARQUET_SUFFIXES:
        raise InputError(f"--data {p}: not a Parquet file (.parquet)")
    return ParquetSource((str(p),), None, p.stem)


def check_columns(src: ParquetSource, cols: Sequence[str]) -> None:
    have = src.columns()
    missing = [c for c in cols if c not in have]
    if missing:
        raise InputError(f"unknown column(s) {missing}; the table has columns {have}")


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


def read_period(src: ParquetSource, columns: Sequence[str], time: str, period) -> pd.DataFrame:
    """The rows of one period (only ``columns``), as pandas."""
    import pyarrow.compute as pc

    ds = src.dataset()
    field = pc.field(time)
    tab = ds.to_table(columns=list(dict.fromkeys([*columns, time])),
                      filter=field == _scalar(period))
    return tab.to_pandas()


def file_periods(src: ParquetSource, i: int, time: str) -> tuple[pd.Series, int]:
    """The distinct periods of the i-th file (its period column only) and its row count."""
    one = ParquetSource((src.files[i],), src.base, src.label)
    ds = one.dataset()
    if time not in ds.schema.names:
        raise InputError(f"unknown column(s) [{time!r}]; the table has columns "
                         f"{list(ds.schema.names)}")
    tab = ds.to_table(columns=[time])
    s = tab.column(time).to_pandas()
    if s.isna().any():
        raise InputError(f"missing time id in {int(s.isna().sum())} rows of {src.files[i]}")
    return pd.Series(pd.unique(s)), len(s)


def sorted_periods(parts: Sequence[pd.Series]) -> list:
    """The dataset's periods, sorted as :func:`~bayes_sdm.panel.panel_from_frame` sorts them."""
    allp = pd.unique(pd.concat(list(parts), ignore_index=True))
    return np.sort(allp).tolist()


def align_period(df: pd.DataFrame, unit: str, time: str, y: str, x: Sequence[str],
                 index: pd.Index, period) -> tuple[np.ndarray, np.ndarray]:
    """y (N,) and X (N, K) of one period in W's unit order (``index``), after the checks of
    :func:`~bayes_sdm.panel.panel_from_frame` (module docstring).

    Raises
    ------
    InputError
        naming the column, units and period of the problem.
    """
    n = len(index)
    if df[unit].isna().any():
        raise InputError(f"missing unit id in {int(df[unit].isna().sum())} rows of period "
                         f"{period!r}")
    dup = df[unit].duplicated(keep=False)
    if dup.any():
        us = pd.unique(df.loc[dup, unit])[:5]
        cells = ", ".join(f"({u!r}, {period!r})" for u in us)
        raise InputError(f"duplicate (unit, time) rows for {int(dup.sum())} rows, e.g. {cells}")
    pos = index.get_indexer(df[unit])
    if (pos < 0).any():
        extra = df.loc[pos < 0, unit].tolist()[:10]
        raise InputError(f"units in the data but not in W: {extra} (period {period!r})")
    if len(df) != n:
        have = np.zeros(n, dtype=bool)
        have[pos] = True
        miss = [index[i] for i in np.nonzero(~have)[0][:5]]
        cells = ", ".join(f"(unit {u!r}, period {period!r})" for u in miss)
        raise InputError(f"unbalanced panel: period {period!r} has {len(df)} rows for {n} "
                         f"units; missing e.g. {cells}")
    cols = {}
    for c in [y, *x]:
        vals = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(vals)
        if bad.any():
            us = df.loc[bad, unit].head(5).tolist()
            where = ", ".join(f"unit {u!r} period {period!r}" for u in us)
            raise InputError(f"column {c!r} has {int(bad.sum())} NaN/inf or non-numeric "
                             f"value(s): {where}")
        out = np.empty(n)
        out[pos] = vals
        cols[c] = out
    yy = cols[y]
    xx = np.stack([cols[c] for c in x], axis=-1)
    return yy, xx


def check_constant(df: pd.DataFrame, unit: str, cols: Sequence[str], index: pd.Index,
                   ref: np.ndarray, period) -> None:
    """Refuse coordinate columns that differ from the reference period's (k-NN W needs each
    unit's coordinates constant over time)."""
    pos = index.get_indexer(df[unit])
    for j, c in enumerate(cols):
        vals = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(vals)):
            us = df.loc[~np.isfinite(vals), unit].head(5).tolist()
            raise InputError(f"column {c!r} has NaN/non-numeric values for unit(s) {us}")
        bad = vals != ref[pos, j]
        if bad.any():
            us = df.loc[bad, unit].head(5).tolist()
            raise InputError(f"coordinate column {c!r} varies over time for unit(s) {us} "
                             f"(period {period!r})")
