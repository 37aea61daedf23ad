"""Log-determinant methods: eigenvalues (exact), Chebyshev interpolation of sparse LU
log-determinants, the stochastic (Hutchinson-Taylor) method, and the automatic choice.

References are numpy's slogdet and dense inverses on small W."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.sparse as sp
from conftest import ring_plus_random
from scipy.spatial import cKDTree

from bayes_sdm.errors import InputError
from bayes_sdm.logdet import (
    ChebyshevLogDet,
    EigenLogDet,
    SparseFactor,
    StochasticLogDet,
    eigenvalues,
    lambda_max,
    lambda_min,
    make_logdet,
)
from bayes_sdm.weights import make_weights


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("BAYES_SDM_CACHE", "0")


def knn_w(n: int, k: int = 6, seed: int = 0, symmetric: bool = False):
    """Deterministic k-NN W (cKDTree; no jitter), sparse, row-standardised."""
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    m = sp.csr_array((np.ones(n * k), (np.repeat(np.arange(n), k), idx[:, 1:].ravel())),
                     shape=(n, n))
    if symmetric:
        m = sp.csr_array(((m + m.T) > 0).astype(float))
    return make_weights(m, tuple(range(n)))


def sym_w(n=40, seed=1):
    """Row-standardised W from a symmetric C (symmetric similar form, real eigenvalues)."""
    rng = np.random.default_rng(seed)
    return make_weights(ring_plus_random(n, rng, p=0.15), tuple(range(n)))


def dense(w):
    return w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)


def slogdet_grid(w, rho):
    m = dense(w)
    eye = np.eye(w.n)
    return np.array([np.linalg.slogdet(eye - r * m)[1] for r in rho])


def test_eigen_symmetric_value_matches_slogdet():
    w = sym_w()
    ld = EigenLogDet(eigenvalues(w, cache=False))
    assert not ld.complex
    lo, hi = ld.interval
    rho = np.linspace(lo + 1e-3, hi - 1e-3, 41)
    np.testing.assert_allclose(ld.value(rho), slogdet_grid(w, rho), rtol=1e-10, atol=1e-9)


def test_eigen_knn_complex_value_matches_slogdet():
    w = knn_w(60, k=4)
    lam = eigenvalues(w, cache=False)
    ld = EigenLogDet(lam)
    assert ld.complex, "k-NN W should have complex eigenvalues"
    lo, hi = ld.interval
    rho = np.linspace(lo + 1e-3, hi - 1e-3, 41)
    np.testing.assert_allclose(ld.value(rho), slogdet_grid(w, rho), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("kind", ["sym", "knn"])
def test_eigen_deriv_matches_finite_differences(kind):
    w = sym_w() if kind == "sym" else knn_w(60, k=4)
    ld = EigenLogDet(eigenvalues(w, cache=False))
    rho = np.linspace(-0.8, 0.95, 15)
    h = 1e-6
    fd = (ld.value(rho + h) - ld.value(rho - h)) / (2 * h)
    np.testing.assert_allclose(ld.deriv(rho), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["sym", "knn"])
def test_eigen_symbolic_value_and_gradient(kind):
    w = sym_w() if kind == "sym" else knn_w(60, k=4)
    ld = EigenLogDet(eigenvalues(w, cache=False))
    r = pt.dscalar("r")
    expr = ld.symbolic(r)
    f = pytensor.function([r], [expr, pytensor.grad(expr, r)])
    for rho in (-0.7, 0.0, 0.4, 0.93):
        v, g = f(rho)
        assert v == pytest.approx(float(ld.value(rho)), rel=1e-12, abs=1e-10)
        assert g == pytest.approx(float(ld.deriv(rho)), rel=1e-10, abs=1e-9)


@pytest.mark.parametrize("kind", ["sym", "knn"])
def test_eigen_traces_match_dense_inverse(kind):
    w = sym_w() if kind == "sym" else knn_w(60, k=4)
    m = dense(w)
    ld = EigenLogDet(eigenvalues(w, cache=False))
    for rho in (-0.5, 0.3, 0.9):
        inv = np.linalg.inv(np.eye(w.n) - rho * m)
        tr_inv, tr_inv_w = ld.traces(np.array([rho]))
        assert tr_inv[0] == pytest.approx(np.trace(inv), rel=1e-10)
        assert tr_inv_w[0] == pytest.approx(np.trace(inv @ m), rel=1e-10)
        # the default (derivative-based) traces agree with the exact ones
        d_inv, d_inv_w = LogDetDefaultTraces(ld).traces(np.array([rho]))
        assert d_inv[0] == pytest.approx(tr_inv[0], rel=1e-10)
        assert d_inv_w[0] == pytest.approx(tr_inv_w[0], rel=1e-10)


class LogDetDefaultTraces:
    """Wraps a LogDet to use the base-class traces (from the derivative)."""

    def __init__(self, ld):
        self.ld = ld
        self.n = ld.n

    def deriv(self, rho):
        return self.ld.deriv(rho)

    def traces(self, rho):
        from bayes_sdm.logdet import LogDet

        return LogDet.traces(self, rho)


@pytest.mark.parametrize("kind", ["sym", "knn"])
def test_eigen_interval_is_bounded_by_the_real_extreme_eigenvalues(kind):
    w = sym_w() if kind == "sym" else knn_w(60, k=4)
    lam = np.linalg.eigvals(dense(w))
    real = lam.real[np.abs(lam.imag) < 1e-9]
    ld = EigenLogDet(eigenvalues(w, cache=False))
    assert ld.interval[0] == pytest.approx(1 / real.min(), rel=1e-9)
    assert ld.interval[1] == pytest.approx(1.0, rel=1e-12)
    lo, hi = ld.interval
    # I - rho W is singular at both ends and not inside
    eye = np.eye(w.n)
    assert abs(np.linalg.det(eye - lo * dense(w))) < 1e-8
    assert abs(np.linalg.det(eye - hi * dense(w))) < 1e-8
    s = np.linalg.slogdet(eye - 0.5 * (lo + hi) * dense(w))
    assert s[0] > 0


def test_lambda_min_max_match_dense():
    for w in (sym_w(80), knn_w(80, k=5)):
        lam = np.linalg.eigvals(dense(w))
        real = lam.real[np.abs(lam.imag) < 1e-9]
        assert lambda_max(w) == 1.0
        assert lambda_min(w) == pytest.approx(real.min(), rel=1e-8)
    # the ARPACK branch (N > 500), symmetric form
    w = knn_w(800, symmetric=True)
    lam = np.linalg.eigvalsh(w.symmetric_form().toarray())
    assert lambda_min(w) == pytest.approx(lam.min(), rel=1e-7)
    # a W that is not row-standardised: the Perron root
    c = ring_plus_random(30, np.random.default_rng(3))
    wr = make_weights(c, tuple(range(30)), standardize=False)
    assert lambda_max(wr) == pytest.approx(np.linalg.eigvalsh(c).max(), rel=1e-10)


def test_sparse_factor_matches_slogdet_and_dense_lu():
    w = knn_w(300, k=6)
    f = SparseFactor(w)
    rho = np.array([-0.9, -0.3, 0.2, 0.7, 0.99])
    np.testing.assert_allclose(f(rho), slogdet_grid(w, rho), rtol=1e-11, atol=1e-9)
    assert f.fill_nnz > 0
    ws = knn_w(300, k=6, symmetric=True)
    fs = SparseFactor(ws)
    assert fs.symmetric
    np.testing.assert_allclose(fs(rho), slogdet_grid(ws, rho), rtol=1e-11, atol=1e-9)
    wd = make_weights(dense(ws), tuple(range(300)))
    fd = SparseFactor(wd)
    assert fd.dense
    np.testing.assert_allclose(fd(rho), slogdet_grid(ws, rho), rtol=1e-11, atol=1e-9)


@pytest.mark.parametrize("symmetric", [False, True])
def test_chebyshev_matches_eigen(symmetric):
    w = knn_w(1200, k=6, symmetric=symmetric)
    e = EigenLogDet(eigenvalues(w, cache=False))
    c = ChebyshevLogDet(w, cache=False)
    assert c.uses_symmetric_form is symmetric
    lo, hi = c.interval
    assert lo == pytest.approx(-0.99) and hi == pytest.approx(0.999)
    assert e.interval[0] < lo and hi < e.interval[1]
    rho = np.linspace(lo, hi, 4001)
    assert np.max(np.abs(c.value(rho) - e.value(rho))) < 1e-8
    slope_err = np.max(np.abs(c.deriv(rho) - e.deriv(rho)))
    # the estimate is an upper bound and below the tolerance 1e-6 N
    assert slope_err <= c.slope_error_estimate <= 1e-6 * w.n
    # posterior-shift contract for a T = 10 panel with sd(rho) = 1/sqrt(NT)
    assert c.posterior_shift(10, 1 / np.sqrt(10 * w.n), slope_err) < 0.01
    # traces (effects) from the interpolant against the exact eigenvalue traces
    for a, b in zip(c.traces(rho[::100]), e.traces(rho[::100])):
        np.testing.assert_allclose(a, b, rtol=1e-9)


def test_chebyshev_accuracy_report_against_exact_lu():
    w = knn_w(1000, k=6)
    e = EigenLogDet(eigenvalues(w, cache=False))
    c = ChebyshevLogDet(w, cache=False)
    acc = c.accuracy(T=10, sd_rho=0.01)
    # exact slopes by finite differences of LU log-determinants agree with the eigenvalues
    np.testing.assert_allclose(acc["slope_exact"], e.deriv(acc["rho"]), rtol=1e-8, atol=1e-4)
    assert acc["max_value_error"] < 1e-8
    assert acc["max_slope_error"] < 1e-3
    assert acc["posterior_shift"] == pytest.approx(10 * acc["max_slope_error"] * 0.01)
    with pytest.raises(InputError):
        c.accuracy(test_points=[0.9995])


def test_chebyshev_symbolic_and_gradient_match_numpy():
    w = knn_w(500, k=6)
    c = ChebyshevLogDet(w, cache=False)
    r = pt.dscalar("r")
    expr = c.symbolic(r)
    f = pytensor.function([r], [expr, pytensor.grad(expr, r)])
    for rho in (-0.98, -0.3, 0.0, 0.5, 0.95, 0.9985):
        v, g = f(rho)
        assert v == pytest.approx(float(c.value(rho)), rel=1e-12, abs=1e-9)
        assert g == pytest.approx(float(c.deriv(rho)), rel=1e-9, abs=1e-7)
    # outside the domain the numpy values are NaN (never silently extrapolated)
    assert np.isnan(c.value(0.9999)) and np.isnan(c.deriv(-0.995))


def test_chebyshev_fixed_degree_converges():
    w = knn_w(800, k=6)
    e = EigenLogDet(eigenvalues(w, cache=False))
    errs = []
    for deg in (16, 32, 64):
        c = ChebyshevLogDet(w, degree=deg, cache=False)
        rho = np.linspace(*c.interval, 2001)
        errs.append(np.max(np.abs(c.deriv(rho) - e.deriv(rho))))
        assert c.degree == deg
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-3
    with pytest.raises(InputError):
        ChebyshevLogDet(w, degree=7, cache=False)


def test_chebyshev_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_SDM_CACHE", str(tmp_path))
    w = knn_w(400, k=6)
    c1 = ChebyshevLogDet(w)
    c2 = ChebyshevLogDet(w)
    assert not c1.from_cache and c2.from_cache
    assert c2.n_factorisations == 0
    np.testing.assert_array_equal(c1.coef, c2.coef)


def test_chebyshev_not_row_standardised_w():
    rng = np.random.default_rng(5)
    c = ring_plus_random(300, rng, p=0.02)
    w = make_weights(sp.csr_array(c), tuple(range(300)), standardize=False)
    lam = np.linalg.eigvalsh(c)
    e = EigenLogDet(lam)
    ld = ChebyshevLogDet(w, cache=False)
    assert ld.b == pytest.approx(1 / lam.max(), rel=1e-9)
    rho = np.linspace(*ld.interval, 1001)
    np.testing.assert_allclose(ld.value(rho), e.value(rho), atol=1e-8)
    np.testing.assert_allclose(ld.deriv(rho), e.deriv(rho), atol=1e-6 * w.n)


def test_stochastic_is_deterministic_and_close():
    w = knn_w(1500, k=6)
    e = EigenLogDet(eigenvalues(w, cache=False))
    s1 = StochasticLogDet(w, probes=32, terms=200, seed=7)
    s2 = StochasticLogDet(w, probes=32, terms=200, seed=7)
    np.testing.assert_array_equal(s1.coef, s2.coef)
    s3 = StochasticLogDet(w, probes=32, terms=200, seed=8)
    assert not np.array_equal(s1.coef, s3.coef)
    lo, hi = s1.interval
    assert -1 < lo < 0 < hi < 1
    rho = np.linspace(-0.5, 0.8, 27)
    err = s1.deriv(rho) - e.deriv(rho)
    # Monte Carlo error within 5 standard errors (se from the spread of the probes)
    se = np.interp(rho, s1.se_slope_rho[::-1], s1.se_slope[::-1])
    assert np.all(np.abs(err) <= 5 * se + 1e-6 * w.n)
    # exact low-order traces: tr(W) = 0 and tr(W^2) exact
    m = w.matrix
    assert s1.trace_estimates[0] == pytest.approx(0.0)
    assert s1.trace_estimates[1] == pytest.approx(float(m.multiply(m.T).sum()))
    # values within a few units of the exact log-determinant (which is about -N rho^2/12)
    assert np.max(np.abs(s1.value(rho) - e.value(rho))) < 5.0
    r = pt.dscalar("r")
    f = pytensor.function([r], s1.symbolic(r))
    assert float(f(0.4)) == pytest.approx(float(s1.value(0.4)), rel=1e-12)


def test_make_logdet_choices(capsys):
    small = knn_w(300, k=6)
    assert make_logdet(small).method == "eigen"
    assert make_logdet(small, "chebyshev", cache=False).method == "chebyshev"
    assert make_logdet(small, "stochastic", probes=8, terms=50).method == "stochastic"
    big = knn_w(3500, k=6)
    ld = make_logdet(big, cache=False)
    assert ld.method == "chebyshev"
    with pytest.raises(InputError, match="unknown log-determinant method"):
        make_logdet(small, "lu")
    with pytest.raises(InputError, match="only the option"):
        make_logdet(small, "eigen", degree=8)
    with pytest.raises(InputError):
        make_logdet(np.eye(3))


def test_eigen_cost_message_for_large_sparse(capsys, monkeypatch):
    import bayes_sdm.logdet as L

    monkeypatch.setattr(L, "AUTO_EIGEN_MAX_N", 100)
    w = knn_w(150, k=4)
    L.make_logdet(w, "eigen")
    assert "O(N^3)" in capsys.readouterr().err


def test_eigen_with_chebyshev_symbolic():
    w = sym_w(300, seed=4)
    exact = EigenLogDet(eigenvalues(w, cache=False))
    ld = make_logdet(w, "eigen", symbolic="chebyshev")
    d = ld.describe()
    assert d["symbolic"] == "chebyshev"
    assert d["symbolic_slope_error"] < 1e-6 * w.n
    assert ld.interval == pytest.approx((-0.99, 0.999))
    # numpy values, derivatives and traces stay exact
    np.testing.assert_array_equal(ld.deriv(np.array([0.3])), exact.deriv(np.array([0.3])))
    r = pt.dscalar("r")
    expr = ld.symbolic(r)
    f = pytensor.function([r], [expr, pytensor.grad(expr, r)])
    for rho in (-0.9, 0.2, 0.99):
        v, g = f(rho)
        assert v == pytest.approx(float(exact.value(rho)), abs=1e-8)
        assert g == pytest.approx(float(exact.deriv(rho)), abs=d["symbolic_slope_error"] + 1e-9)
    with pytest.raises(InputError):
        EigenLogDet(eigenvalues(w, cache=False), symbolic="fast")


def test_auto_switches_to_stochastic_when_the_lu_fills_in(monkeypatch, capsys):
    import bayes_sdm.logdet as L

    monkeypatch.setattr(L, "AUTO_EIGEN_MAX_N", 100)
    monkeypatch.setattr(L, "AUTO_MAX_FILL_NNZ", 10)
    w = knn_w(400, k=4)
    ld = L.make_logdet(w, probes=8, terms=40)
    assert ld.method == "stochastic"
    assert "stochastic" in capsys.readouterr().err


def test_chebyshev_pickles():
    import pickle

    w = knn_w(300, k=6)
    c = ChebyshevLogDet(w, degree=16, cache=False)
    c2 = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(c2.value(np.array([0.1, 0.5])), c.value(np.array([0.1, 0.5])))
    # the unpickled object still has its exact factoriser
    acc2 = c2.accuracy(test_points=[0.2])
    acc = c.accuracy(test_points=[0.2])
    assert acc2["max_value_error"] == pytest.approx(acc["max_value_error"], rel=1e-6, abs=1e-9)


def test_chebyshev_in_worker_processes_equals_serial():
    w = knn_w(2000, k=6)
    serial = ChebyshevLogDet(w, degree=16, cache=False, workers=1)
    par = ChebyshevLogDet(w, degree=16, cache=False, workers=2)
    np.testing.assert_allclose(par.node_values, serial.node_values, rtol=1e-13)
    assert par.n_factorisations == 17


def test_slope_error_bounds_cover_the_measured_errors():
    """slope_error_bound (used for the posterior-shift diagnostic) is 0 for exact eigenvalues,
    the exact interpolation error for symbolic="chebyshev", and an upper estimate of the
    measured error for the Chebyshev and stochastic methods."""
    w = knn_w(1500, k=6)
    e = EigenLogDet(eigenvalues(w, cache=False))
    assert e.slope_error_bound() == 0.0
    ec = EigenLogDet(e.eigenvalues, symbolic="chebyshev")
    assert ec.slope_error_bound() == ec.describe()["symbolic_slope_error"] > 0
    grid = np.linspace(-0.5, 0.9, 57)
    ch = ChebyshevLogDet(w, cache=False)
    assert np.max(np.abs(ch.deriv(grid) - e.deriv(grid))) <= ch.slope_error_bound()
    st = StochasticLogDet(w, probes=32, terms=200, seed=7)
    for lo, hi in ((0.2, 0.5), (0.6, 0.8), (-0.4, 0.0)):
        g = np.linspace(lo, hi, 15)
        assert np.max(np.abs(st.deriv(g) - e.deriv(g))) <= 2.5 * st.slope_error_bound(lo, hi)
    # the Monte Carlo part grows towards the upper end of the domain
    assert st.slope_error_bound(0.6, 0.8) > st.slope_error_bound(0.2, 0.4)
    # posterior shift = a * bound * sd over mean +- 4 sd
    draws = np.random.default_rng(0).normal(0.4, 0.01, 4000)
    sd = draws.std()
    assert st.posterior_shift_bound(9, draws) == pytest.approx(
        9 * st.slope_error_bound(draws.mean() - 4 * sd, draws.mean() + 4 * sd) * sd)
    assert e.posterior_shift_bound(9, draws) == 0.0


def test_jax_eigenvalue_path_in_float64():
    """The GPU eigenvalue path's JAX code (float64 eigvalsh of the symmetric form), run on the
    device JAX has here (skipped without JAX: an optional extra, never needed by CI)."""
    pytest.importorskip("jax")
    from bayes_sdm.logdet import _jax_gpu_eigvalsh

    w = sym_w(200, seed=3)
    s = w.symmetric_form()
    s = s.toarray() if sp.issparse(s) else np.asarray(s)
    lam = _jax_gpu_eigvalsh(s, require_gpu=False)
    assert lam is not None and lam.dtype == np.float64
    np.testing.assert_allclose(np.sort(lam), np.sort(eigenvalues(w, cache=False, backend="cpu")),
                               atol=1e-12)
