"""The CLI's input path at scale (CSV / Parquet -> frame -> k-NN W from coordinates -> Panel),
linear in N*T, and the pyarrow CSV reader giving the same table as pandas' C engine."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from bayes_sdm.errors import InputError
from bayes_sdm.inputs import load_inputs, read_table
from bayes_sdm.spec import DataSpec

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def long_table(n: int, t: int = 10, seed: int = 0) -> pa.Table:
    """A balanced long panel, unit-major rows, with per-unit coordinates ``px``, ``py``."""
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    unit = np.repeat(np.arange(n), t)
    year = np.tile(np.arange(2001, 2001 + t), n)
    cols = {"id": unit, "year": year, "px": xy[unit, 0], "py": xy[unit, 1]}
    for name in ("y", "x1", "x2", "x3"):
        cols[name] = rng.standard_normal(n * t)
    return pa.table(cols)


def spec(path, **kw) -> DataSpec:
    return DataSpec(dataset=None, path=str(path), unit="id", time="year", y="y",
                    x=["x1", "x2", "x3"], weights="knn:6:px,py", **kw)


def check_panel(inp, table: pa.Table, n: int, t: int) -> None:
    p = inp.panel
    assert p.y.shape == (t, n) and p.X.shape == (t, n, 3)
    assert inp.w.is_sparse and inp.w.n == n and inp.w.matrix.nnz == 6 * n
    assert p.units == inp.w.ids
    # spot checks against the table: cell (year, unit) of y and x2
    rng = np.random.default_rng(1)
    y = table.column("y").to_numpy()
    x2 = table.column("x2").to_numpy()
    pos = {u: i for i, u in enumerate(p.units)}
    for r in rng.integers(0, n * t, 50):
        u, s = int(r // t), int(r % t)
        assert p.y[s, pos[u]] == y[r] and p.X[s, pos[u], 1] == x2[r]
    # W's neighbours are the 6 nearest (spot check against a fresh tree)
    px = table.column("px").to_numpy()[::t]
    py = table.column("py").to_numpy()[::t]
    xy = np.column_stack([px, py])
    _, nb = cKDTree(xy).query(xy[:20], k=7)
    for i in range(20):
        row = inp.w.matrix[[pos[i]]].indices
        assert set(np.asarray(p.units)[row].tolist()) == set(nb[i, 1:].tolist())


def test_csv_100k_units_knn_from_coordinates(tmp_path):
    """10^5 units x 10 years from a CSV with a k-NN W from coordinate columns: the real input
    path (read, W, alignment, checks, wide arrays) in seconds; the quadratic one never ended."""
    n, t = 100_000, 10
    table = long_table(n, t)
    path = tmp_path / "panel.csv"
    pacsv.write_csv(table, path)
    t0 = time.perf_counter()
    inp = load_inputs(spec(path))
    elapsed = time.perf_counter() - t0
    check_panel(inp, table, n, t)
    # not a timing test: a regression to O(N^2) takes hours, this takes seconds
    assert elapsed < 300, elapsed


def test_parquet_input_path(tmp_path):
    n, t = 20_000, 10
    table = long_table(n, t, seed=2)
    path = tmp_path / "panel.parquet"
    pq.write_table(table, path)
    inp = load_inputs(spec(path))
    check_panel(inp, table, n, t)


def test_csv_rows_in_any_order_and_errors_named(tmp_path):
    n, t = 3_000, 5
    table = long_table(n, t, seed=3).to_pandas().sample(frac=1.0, random_state=0)
    path = tmp_path / "shuffled.csv"
    table.to_csv(path, index=False)
    inp = load_inputs(spec(path))
    check_panel(inp, pa.Table.from_pandas(table.sort_values(["id", "year"]),
                                          preserve_index=False), n, t)
    bad = table.copy()
    bad.loc[bad.index[7], "x3"] = np.nan
    bad.to_csv(path, index=False)
    u, s = bad.loc[bad.index[7], ["id", "year"]]
    with pytest.raises(InputError, match=rf"'x3'.*unit {u} period {s}"):
        load_inputs(spec(path))
    bad = table.drop(table.index[11])
    bad.to_csv(path, index=False)
    u, s = table.loc[table.index[11], ["id", "year"]]
    with pytest.raises(InputError, match=rf"unbalanced.*unit {u}, period {s}"):
        load_inputs(spec(path))
    bad = table.copy()
    bad.loc[bad.id == 5, "px"] = bad.loc[bad.id == 5, "px"] + np.arange(t) * 0.01
    bad.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"'px' varies over time for unit\(s\) \[5\]"):
        load_inputs(spec(path))


def test_pyarrow_csv_reader_matches_the_c_engine(tmp_path):
    """Dates, times, booleans, missing values, zero-padded codes, string ids: the same frame
    (dtypes included) from the pyarrow engine as from pandas' C engine."""
    path = tmp_path / "mixed.csv"
    path.write_text(
        "city,year,date,ts,y,x,flag,code,mixed,bnull\n"
        "u1,2001,2001-01-01,2001-01-01 10:00,1.5,2,True,007,a,True\n"
        "u2,2001,2001-02-01,2001-01-01 11:00,,3,False,010,1,\n"
        "u3,2002,2002-01-01,2001-01-01 12:00,2.5,,True,011,,False\n"
    )
    pd.testing.assert_frame_equal(read_table(path), pd.read_csv(path))


def test_csv_whose_column_changes_type_late(tmp_path):
    """A column that looks numeric for its first 400,000 rows and then holds text: every value
    kept, as text (pandas' C engine gives a mixed int/str column here)."""
    n = 400_000
    codes = np.arange(n).astype(str).astype(object)
    codes[-1] = "A1"
    df = pd.DataFrame({"code": codes, "v": np.arange(n, dtype=float)})
    path = tmp_path / "late.csv"
    df.to_csv(path, index=False)
    got = read_table(path)
    assert len(got) == n and got["code"].iloc[-1] == "A1" and got["code"].iloc[5] == "5"


def test_csv_falls_back_to_the_c_engine(tmp_path, monkeypatch):
    """A file the pyarrow engine cannot read is read by pandas' C engine."""
    path = tmp_path / "small.csv"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(path, index=False)
    real = pd.read_csv

    def no_arrow(*args, **kw):
        if kw.get("engine") == "pyarrow":
            raise pa.ArrowInvalid("simulated parse failure")
        return real(*args, **kw)

    monkeypatch.setattr(pd, "read_csv", no_arrow)
    pd.testing.assert_frame_equal(read_table(path), real(path))


def test_economic_distance_refused_above_available_memory(monkeypatch):
    import bayes_sdm.weights as wmod

    monkeypatch.setattr(wmod, "available_memory", lambda: 10**9)
    x = pd.Series(np.arange(1.0, 6001.0), index=range(6000))
    with pytest.raises(InputError, match=r"N=6,000 units is dense.*1\.2 GB.*limit here is "
                                         r"N = 5,590.*knn"):
        wmod.economic_distance(x)
    w = wmod.economic_distance(x.iloc[:500])  # small: built as before
    assert w.n == 500 and np.allclose(w.matrix.sum(axis=1), 1.0)


def test_knn_vectorised_matches_the_loop_with_duplicate_points():
    """Self is dropped wherever the tree puts it; with more than k copies of a point it may be
    missing from the k + 1 found, and the last is dropped (the former per-row loop)."""
    from bayes_sdm.weights import knn

    rng = np.random.default_rng(4)
    xy = rng.random((300, 2))
    xy[10:20] = xy[10]
    xy[40:42] = xy[41]
    k = 4
    w = knn(xy, tuple(range(300)), k, standardize=False)
    _, nb = cKDTree(xy).query(xy, k=k + 1)
    for i in range(300):
        ref = nb[i][nb[i] != i][:k]
        assert sorted(w.matrix[[i]].indices.tolist()) == sorted(ref.tolist())


@pytest.mark.parametrize("ids", [
    np.repeat(np.arange(50), 3),                                  # 0 .. N-1
    np.tile(np.arange(2001, 2011), 7),                            # years
    np.array([5, -3, 5, 12, -3, 0, 7], dtype=np.int32),           # negative, small int type
    np.array([3, 250, 3, 17], dtype=np.uint8),
    np.array([1, 10 ** 9, 5, 1]),                                 # sparse span: hashed
    np.array(["b", "a", "b", "c"], dtype=object),                 # not integers: hashed
])
def test_factorize_ids_is_sorted_factorize(ids):
    """The direct-addressing id codes equal pandas' sorted factorization (codes, uniques and
    their dtype)."""
    from bayes_sdm.panel import factorize_ids

    s = pd.Series(ids)
    codes, uniq = factorize_ids(s, sort=True)
    ref_codes, ref_uniq = pd.factorize(s, sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    np.testing.assert_array_equal(np.asarray(uniq), np.asarray(ref_uniq))
    assert np.asarray(uniq).dtype == np.asarray(ref_uniq).dtype


@pytest.mark.parametrize("order", ["unit-major", "period-major", "shuffled"])
@pytest.mark.parametrize("w_order", ["sorted", "reversed"])
def test_wide_arrays_the_same_for_every_row_order(order, w_order):
    """The transposed-copy (unit-major rows), plain-copy (period-major) and scattered paths of
    panel_from_frame give the same panel, cell by cell, checked against a dict lookup."""
    from bayes_sdm.panel import panel_from_frame

    n, t = 40, 4
    df = long_table(n, t, seed=3).to_pandas()
    df["id"] = df["id"] * 3 + 11  # integer ids that do not start at 0
    df["x2"] = df["x2"].round(1).astype(np.float32)  # a column that is not float64
    if order == "period-major":
        df = df.sort_values(["year", "id"]).reset_index(drop=True)
    elif order == "shuffled":
        df = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    units = sorted(df["id"].unique().tolist(), reverse=w_order == "reversed")
    p = panel_from_frame(df, "id", "year", "y", ["x1", "x2", "x3"], units=units)
    assert p.units == tuple(units) and p.times == tuple(range(2001, 2001 + t))
    look = df.set_index(["year", "id"])
    for ti, tt in enumerate(p.times):
        for ui, uu in enumerate(p.units):
            row = look.loc[(tt, uu)]
            assert p.y[ti, ui] == row["y"]
            assert list(p.X[ti, ui]) == [row["x1"], float(row["x2"]), row["x3"]]
