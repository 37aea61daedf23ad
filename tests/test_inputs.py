"""Bad input: every case fails with a clear message naming what and where; nothing dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ring_plus_random

from bayes_sdm.api import prepare
from bayes_sdm.errors import InputError
from bayes_sdm.panel import demean, panel_from_frame
from bayes_sdm.weights import economic_distance, make_weights, read_weights


def long_frame(n=6, t=4, seed=0):
    rng = np.random.default_rng(seed)
    rows = [{"u": f"u{i}", "t": 2000 + s, "y": rng.normal(), "a": rng.normal(),
             "b": rng.normal()} for s in range(t) for i in range(n)]
    return pd.DataFrame(rows)


def weights_for(n=6, seed=0):
    c = ring_plus_random(n, np.random.default_rng(seed))
    return make_weights(c, [f"u{i}" for i in range(n)])


def build(df, w=None, x=("a", "b")):
    w = w or weights_for()
    return panel_from_frame(df, "u", "t", "y", list(x), units=w.ids)


def test_valid_panel_layout():
    df = long_frame()
    p = build(df)
    assert p.y.shape == (4, 6) and p.X.shape == (4, 6, 2)
    row = df[(df.u == "u3") & (df.t == 2002)].iloc[0]
    assert p.y[2, 3] == row.y and p.X[2, 3, 1] == row.b


@pytest.mark.parametrize("val", [np.nan, np.inf])
def test_nan_inf_named_with_column_unit_period(val):
    df = long_frame()
    df.loc[(df.u == "u2") & (df.t == 2001), "a"] = val
    with pytest.raises(InputError, match=r"'a'.*unit 'u2' period 2001"):
        build(df)


def test_duplicate_rows():
    df = long_frame()
    df = pd.concat([df, df.iloc[[3]]])
    with pytest.raises(InputError, match=r"duplicate \(unit, time\).*'u3', 2000"):
        build(df)


def test_unbalanced_panel():
    df = long_frame()
    df = df[~((df.u == "u4") & (df.t == 2003))]
    with pytest.raises(InputError, match=r"unbalanced.*unit 'u4', period 2003"):
        build(df)


def test_units_in_w_not_in_data_and_reverse():
    df = long_frame()
    with pytest.raises(InputError, match=r"units in W but not in the data: \['u5'\]"):
        build(df[df.u != "u5"])
    w = make_weights(ring_plus_random(5, np.random.default_rng(0)), [f"u{i}" for i in range(5)])
    with pytest.raises(InputError, match=r"units in the data but not in W: \['u5'\]"):
        build(df, w)


def test_non_square_w_and_id_mismatch():
    with pytest.raises(InputError, match="square"):
        make_weights(np.ones((3, 4)), ["a", "b", "c"])
    with pytest.raises(InputError, match="3 rows but 2 unit ids"):
        make_weights(np.ones((3, 3)) - np.eye(3), ["a", "b"])


def test_island():
    c = ring_plus_random(6, np.random.default_rng(0))
    c[2, :] = c[:, 2] = 0
    with pytest.raises(InputError, match=r"no neighbours.*'u2'"):
        make_weights(c, [f"u{i}" for i in range(6)])


def test_negative_weights():
    c = ring_plus_random(6, np.random.default_rng(0))
    c[1, 3] = -0.5
    with pytest.raises(InputError, match=r"negative weights.*'u1'"):
        make_weights(c, [f"u{i}" for i in range(6)])


def test_nonzero_diagonal():
    c = ring_plus_random(6, np.random.default_rng(0))
    c[4, 4] = 1
    with pytest.raises(InputError, match=r"diagonal.*'u4'"):
        make_weights(c, [f"u{i}" for i in range(6)])


def test_regressor_absorbed_by_fixed_effects():
    df = long_frame()
    df["const_in_time"] = df.u.str[1:].astype(float)  # time-invariant
    df["same_across_units"] = df.t * 0.1  # unit-invariant
    w = weights_for()
    p = panel_from_frame(df, "u", "t", "y", ["a", "const_in_time"], units=w.ids)
    with pytest.raises(InputError, match=r"'const_in_time' is time-invariant.*unit fixed"):
        prepare(p, w, fe="unit")
    prepare(p, w, fe="time")  # fine under time effects only
    p2 = panel_from_frame(df, "u", "t", "y", ["a", "same_across_units"], units=w.ids)
    with pytest.raises(InputError, match=r"'same_across_units' does not vary across units"):
        prepare(p2, w, fe="time")
    with pytest.raises(InputError, match="absorbed"):
        prepare(p2, w, fe="twoway")


def test_fewer_than_two_periods():
    df = long_frame(t=1)
    with pytest.raises(InputError, match="at least 2 periods"):
        build(df)


def test_unknown_column():
    with pytest.raises(InputError, match=r"unknown column\(s\) \['zz'\]"):
        build(long_frame(), x=("a", "zz"))


def test_demean_two_way_removes_both_means():
    a = np.random.default_rng(0).normal(size=(5, 7))
    d = demean(a, "twoway")
    np.testing.assert_allclose(d.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(d.mean(axis=1), 0, atol=1e-12)


def test_economic_distance_and_ties():
    s = pd.Series([1.0, 2.0, 4.0], index=["a", "b", "c"])
    w = economic_distance(s)
    # raw: a-b 1, a-c 1/3 -> row a = (0, 0.75, 0.25)
    np.testing.assert_allclose(w.matrix[0], [0, 0.75, 0.25])
    assert w.sym_scale is not None
    tie = pd.Series([1.0, 1.0, 3.0], index=["a", "b", "c"])
    with pytest.raises(InputError, match=r"'a' and 'b' have equal"):
        economic_distance(tie)
    w2 = economic_distance(tie, tie="nearest")
    # tied distance replaced by the smallest positive one (2): a-b weight 1/2, a-c 1/2
    np.testing.assert_allclose(w2.matrix[0], [0, 0.5, 0.5])


def test_read_csv_weights_header_must_match(tmp_path):
    m = pd.DataFrame([[0, 1], [1, 0]], index=["a", "b"], columns=["a", "c"])
    m.to_csv(tmp_path / "w.csv")
    with pytest.raises(InputError, match="header and the index"):
        read_weights(tmp_path / "w.csv")


def test_region_subset_restandardises():
    w = weights_for(8)
    sub = w.subset(["u0", "u1", "u2", "u3"])
    np.testing.assert_allclose(sub.matrix.sum(axis=1), 1.0)
    assert sub.ids == ("u0", "u1", "u2", "u3")


def test_knn_weights_deterministic_and_exact():
    from scipy.spatial.distance import cdist

    from bayes_sdm.weights import knn

    rng = np.random.default_rng(3)
    xy = rng.random((40, 2))
    w = knn(xy, range(40), 4)
    d = cdist(xy, xy)
    np.fill_diagonal(d, np.inf)
    ref = np.argsort(d, axis=1)[:, :4]
    m = w.matrix.toarray()
    for i in range(40):
        assert set(np.nonzero(m[i])[0]) == set(ref[i])
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    assert w.sym_scale is None and w.is_sparse
