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
    ChebyshevLogDet,
    EigenLogDet,
    LogDet,
    StochasticLogDet,
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
