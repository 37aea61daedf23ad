"""Reading the input tables from files (used by ``scripts/build_indices.py``).

See :mod:`bayes_sdm.indices` for the definitions and references.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .schema import _require


def employment_to_long(wide: pd.DataFrame, codes: Sequence[str] | None = None, *,
                       keys: Sequence[str] = ("city", "year"),
                       value_col: str = "employment") -> pd.DataFrame:
    """A wide employment table (one column per industry) as long rows.

    Parameters
    ----------
    wide : ``keys`` and one column per industry
    codes : the industry columns (default: every column other than ``keys``)
    keys, value_col : column names

    Returns
    -------
    DataFrame (keys..., industry, ``value_col``) in row-then-industry order.
    """
    keys = list(keys)
    codes = [c for c in wide.columns if c not in keys] if codes is None else list(codes)
    vals = wide[codes].to_numpy()
    n = len(wide)
    out = {k: np.repeat(wide[k].to_numpy(), len(codes)) for k in keys}
    out["industry"] = np.tile(np.asarray(codes, dtype=object), n)
    out[value_col] = vals.reshape(-1)
    return pd.DataFrame(out)


def csv_read_options() -> dict:
    """``pd.read_csv`` options that read floats back exactly (pandas < 3 needs
    ``float_precision='round_trip'``; pandas 3 parses exactly by default and deprecates it)."""
    major = int(pd.__version__.split(".")[0])
    return {} if major >= 3 else {"float_precision": "round_trip"}


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """A CSV (UTF-8, a BOM allowed) read exactly (floats round-trip).

    Parameters
    ----------
    path : the file
    what : the table's name in error messages

    Returns
    -------
    DataFrame.

    Raises
    ------
    InputError
        a missing, empty or unparsable file (named).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what}: file {str(p)!r} not found")
    try:
        return pd.read_csv(p, encoding="utf-8-sig", **csv_read_options())
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{what}: cannot read {str(p)!r} as UTF-8 CSV ({err})") from None


def long_employment(df: pd.DataFrame, keys: Sequence[str], what: str) -> pd.DataFrame:
    """An employment table in either layout as long (keys..., industry, employment).

    Long layout: columns ``keys``, ``industry``, ``employment``.  Wide layout: ``keys`` and one
    numeric column per industry (blank = missing; write 0 for no employment).

    Parameters
    ----------
    df : the table as read
    keys : identifier columns, e.g. ("city", "year") or ("year",)
    what : the table's name in error messages

    Returns
    -------
    The long table (``df`` itself when already long).

    Raises
    ------
    InputError
        missing key columns, a wide table without industry columns.
    """
    keys = list(keys)
    _require(df, keys, what)
    if {"industry", "employment"} <= set(df.columns):
        return df
    codes = [c for c in df.columns if c not in keys]
    if not codes:
        raise InputError(f"{what}: neither long (columns {keys + ['industry', 'employment']}) "
                         f"nor wide (columns {keys} and one per industry)")
    return employment_to_long(df, codes, keys=keys)
