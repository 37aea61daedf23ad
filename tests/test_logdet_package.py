"""The logdet package's interface: every method answers ``eigenvalues`` (None unless it holds
them), and the package layout has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial import cKDTree

from bayes_sdm.logdet import (
    BlockLogDet,
    ChebyshevLogDet,
    EigenLogDet,
    LogDet,
    StochasticLogDet,
    block_logdet,
    eigenvalues,
)
from bayes_sdm.weights import make_weights

PKG = Path(__file__).resolve().parent.parent / "bayes_sdm" / "logdet"


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("BAYES_SDM_CACHE", "0")


def knn_w(n: int, k: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    m = sp.csr_array((np.ones(n * k), (np.repeat(np.arange(n), k), idx[:, 1:].ravel())),
                     shape=(n, n))
    return make_weights(m, tuple(range(n)))


def test_eigenvalues_property_on_every_method():
    w = knn_w(200)
    lam = eigenvalues(w, cache=False)
    e = EigenLogDet(lam)
    np.testing.assert_array_equal(np.sort_complex(e.eigenvalues), np.sort_complex(lam))
    assert LogDet().eigenvalues is None
    assert ChebyshevLogDet(w, degree=16, cache=False).eigenvalues is None
    assert StochasticLogDet(w, probes=4, terms=20).eigenvalues is None
    # the interpolant built from exact eigenvalues is an InterpolatedLogDet: no eigenvalues
    assert e.interpolant().eigenvalues is None


def test_no_import_cycle_and_small_modules():
    """Inside bayes_sdm.logdet the modules import one another without a cycle, and none is
    longer than about 500 lines."""
    graph = {}
    for f in PKG.glob("*.py"):
        mod = f.stem
        tree = ast.parse(f.read_text())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                deps.add(node.module.split(".")[0])
        graph[mod] = deps - {mod}
        assert len(f.read_text().splitlines()) <= 520, f
    graph.pop("__init__")
    done = set()

    def visit(m, stack):
        assert m not in stack, f"import cycle {stack + [m]}"
        if m in done:
            return
        for d in graph.get(m, ()):
            visit(d, stack + [m])
        done.add(m)

    for m in graph:
        visit(m, [])


def test_block_logdet_sums_the_blocks():
    """A block-diagonal W's log-determinant from its blocks: the concatenated spectrum when every
    block has eigenvalues (exact, as before), else the sum of the blocks' methods."""
    import pytensor
    import pytensor.tensor as pt

    w1, w2 = knn_w(150, seed=1), knn_w(250, seed=2)
    full = make_weights(sp.block_diag([w1.matrix, w2.matrix], format="csr"), tuple(range(400)))
    exact = EigenLogDet(eigenvalues(full, cache=False))
    e1, e2 = EigenLogDet(eigenvalues(w1, cache=False)), EigenLogDet(eigenvalues(w2, cache=False))
    be = block_logdet([e1, e2])
    assert isinstance(be, EigenLogDet) and be.n == 400
    rho = np.linspace(-0.9, 0.99, 21)
    np.testing.assert_allclose(be.value(rho), exact.value(rho), rtol=1e-10, atol=1e-8)
    c1 = ChebyshevLogDet(w1, cache=False)
    bc = block_logdet([c1, e2])
    assert isinstance(bc, BlockLogDet) and bc.eigenvalues is None
    assert bc.interval == (max(c1.interval[0], e2.interval[0]), min(c1.interval[1],
                                                                    e2.interval[1]))
    np.testing.assert_allclose(bc.value(rho), exact.value(rho), atol=1e-7)
    np.testing.assert_allclose(bc.deriv(rho), exact.deriv(rho), atol=1e-6 * 400)
    for a, b in zip(bc.traces(rho), exact.traces(rho)):
        np.testing.assert_allclose(a, b, rtol=1e-8)
    assert bc.slope_error_bound() == c1.slope_error_bound() + e2.slope_error_bound()
    r = pt.dscalar("r")
    f = pytensor.function([r], bc.symbolic(r))
    assert float(f(0.4)) == pytest.approx(float(exact.value(0.4)), abs=1e-7)


def test_auto_rule_by_symmetry_and_size(monkeypatch):
    """``auto``: eigenvalues for a dense W, and for a sparse W up to the measured crossover of
    its kind (symmetric similar form or not); the Chebyshev interpolant of sparse LUs above."""
    import bayes_sdm.logdet as L

    assert L.AUTO_EIGEN_MAX_N_SYM >= L.AUTO_EIGEN_MAX_N >= 300
    monkeypatch.setattr(L, "AUTO_EIGEN_MAX_N", 50)
    monkeypatch.setattr(L, "AUTO_EIGEN_MAX_N_SYM", 100)

    def sym(n):
        rng = np.random.default_rng(n)
        xy = rng.random((n, 2))
        _, idx = cKDTree(xy).query(xy, k=5)
        m = sp.csr_array((np.ones(n * 4), (np.repeat(np.arange(n), 4), idx[:, 1:].ravel())),
                         shape=(n, n))
        return make_weights(sp.csr_array(((m + m.T) > 0).astype(float)), tuple(range(n)))

    assert L.make_logdet(knn_w(40)).method == "eigen"
    assert L.make_logdet(knn_w(60, k=4), cache=False).method == "chebyshev"
    w80 = sym(80)
    assert w80.sym_scale is not None and L.make_logdet(w80).method == "eigen"
    assert L.make_logdet(sym(120), cache=False).method == "chebyshev"
    dense = make_weights(sym(120).raw_base().toarray(), tuple(range(120)))
    assert not dense.is_sparse and L.make_logdet(dense).method == "eigen"
