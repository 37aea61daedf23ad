"""The sparse W path end to end: no dense N x N array, effects from the interpolant."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial import cKDTree

from bayes_sdm.effects import dense_effects, lag_effects
from bayes_sdm.logdet import ChebyshevLogDet, EigenLogDet, eigenvalues
from bayes_sdm.weights import make_weights

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    import numpy as np
    tracemalloc.start()
    from bayes_sdm.likelihood import sufficient_stats, profile_lag
    from bayes_sdm.logdet import make_logdet
    from bayes_sdm.panel import Panel
    from bayes_sdm.weights import knn
    n, t, k = int(sys.argv[1]), 3, 2
    rng = np.random.default_rng(0)
    xy = rng.random((n, 2))
    t0 = time.perf_counter()
    w = knn(xy, tuple(range(n)), 6)
    assert w.is_sparse
    x = rng.standard_normal((t, n, k))
    y = rng.standard_normal((t, n)) + x @ np.array([1.0, -0.5])
    panel = Panel(y, x, tuple(range(n)), tuple(range(t)), "y", ("x0", "x1"))
    stats = sufficient_stats(panel, w, "twoway")
    ld = make_logdet(w, "auto", degree=16)
    grid = np.linspace(*ld.interval, 101)[1:-1]
    _, s = profile_lag(stats, "sdm", grid)
    lp = stats.terms.a * ld.value(grid) - 0.5 * stats.terms.n_eff * np.log(s)
    assert np.all(np.isfinite(lp))
    _, peak = tracemalloc.get_traced_memory()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"method": ld.method, "peak": peak, "maxrss": rss,
                      "seconds": time.perf_counter() - t0}))
""")


def test_sparse_path_memory_ceiling_n100k(tmp_path):
    """N = 100,000, k-NN (k = 6) W: W, the sufficient statistics and the Chebyshev
    log-determinant (degree 16 here to keep the test short) in well under 2 GB; a dense N x N
    float64 array alone would take 80 GB."""
    script = tmp_path / "sparse_mem.py"
    script.write_text(SCRIPT)
    env = {"BAYES_SDM_CACHE": "0", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, str(script), "100000"], capture_output=True,
                         text=True, env=env, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    assert rec["method"] == "chebyshev"
    assert rec["peak"] < 2e9, rec  # Python/numpy allocations (tracemalloc)
    assert rec["maxrss"] < 2e9, rec  # the whole process, SuperLU included


def knn_w(n, k=6, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    m = sp.csr_array((np.ones(n * k), (np.repeat(np.arange(n), k), idx[:, 1:].ravel())),
                     shape=(n, n))
    return make_weights(m, tuple(range(n)))


def test_effects_from_interpolant_match_eigen_and_dense():
    """Direct/indirect/total effects at scale come from the interpolant's slope:
    tr((I - rho W)^{-1} W) = -d/drho log|I - rho W|, tr((I - rho W)^{-1}) = N + rho * that."""
    w = knn_w(1500)
    e = EigenLogDet(eigenvalues(w, cache=False))
    c = ChebyshevLogDet(w, cache=False)
    rng = np.random.default_rng(2)
    rho = rng.uniform(-0.5, 0.95, size=200)
    beta = rng.normal(size=(200, 3))
    theta = rng.normal(size=(200, 3))
    fc = lag_effects(rho, beta, theta, c)
    fe = lag_effects(rho, beta, theta, e)
    np.testing.assert_allclose(fc, fe, rtol=1e-9, atol=1e-10)
    # one draw against the brute-force dense inverse
    r0, b0, t0 = 0.6, np.array([1.0, -2.0]), np.array([0.5, 0.3])
    ref = dense_effects(r0, b0, t0, w.matrix.toarray())
    got = lag_effects(np.array(r0), b0, t0, c)
    np.testing.assert_allclose(got, ref, rtol=1e-9)


@pytest.mark.slow
def test_chebyshev_posterior_equals_eigen_at_n3000():
    """Posterior of rho (flat priors, exact sampler) with the Chebyshev and the eigenvalue
    log-determinants at N = 3000: means equal within 0.05 posterior sd."""
    from bayes_sdm.exact import sample_exact
    from bayes_sdm.likelihood import sufficient_stats
    from bayes_sdm.panel import Panel
    from bayes_sdm.simulate import simulate_y

    n, t, k = 3000, 10, 3
    w = knn_w(n)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((t, n, k))
    y = simulate_y(w, x, "sdm", rho=0.4, beta=np.ones(k), theta=0.5 * np.ones(k), sigma=1.0,
                   rng=4)
    panel = Panel(y, x, tuple(range(n)), tuple(range(t)), "y", tuple(f"x{i}" for i in range(k)))
    stats = sufficient_stats(panel, w, "twoway")
    e = EigenLogDet(eigenvalues(w, cache=False))
    c = ChebyshevLogDet(w, cache=False)
    pe = sample_exact(stats, e, "sdm", draws=4000, chains=1, seed=1)
    pc = sample_exact(stats, c, "sdm", draws=4000, chains=1, seed=1)
    re, rc = pe.posterior["rho"].values.ravel(), pc.posterior["rho"].values.ravel()
    assert abs(re.mean() - rc.mean()) < 0.05 * re.std()
    assert abs(re.std() - rc.std()) < 0.05 * re.std()
