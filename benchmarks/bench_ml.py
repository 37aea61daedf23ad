"""Benchmark: ML of a spatial Durbin panel, bayes_sdm against spreg, on the same data and run.

N units x T periods, K regressors, a dense inverse economic-distance W (the seed study's W,
``w_ij = 1/|xbar_i - xbar_j|`` from random unit values, row-standardised), data drawn from the SDM
with unit effects.  Both estimate the same model: unit fixed effects, the direct approach
(``correction="none"``; spreg's ``ML_LagFE`` demeans by unit and uses NT observations), SDM via
``slx_lags=1``.  Times cover the estimation from the weights object: for bayes_sdm the eigenvalues
of W (symmetric solver, the on-disk cache bypassed), the concentrated-likelihood search and the
information matrix (one dense inverse); for spreg the ``ML_LagFE`` call (a sparse LU of I - rho W
per likelihood evaluation, a dense inverse for the information matrix).  Also reported: the
time with the eigenvalues already known (``ratio_eigenvalues_cached``: bayes_sdm caches them on
disk, keyed by W, so a second fit on the same W skips the O(N^3) step) and process CPU times
(less sensitive to other load on a shared machine; BLAS threads included).  Converting W to a
libpysal ``W`` for spreg is timed separately and not counted.

Run: ``python benchmarks/bench_ml.py [N T K [BLAS_THREADS]]`` or ``make bench`` (calls :func:`run`).
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np


def make_data(n: int, t: int, k: int, seed: int = 12345):
    """(Panel, SpatialWeights, truth) drawn from the SDM with unit effects."""
    from bayes_sdm.panel import Panel
    from bayes_sdm.simulate import simulate_y
    from bayes_sdm.weights import economic_distance

    rng = np.random.default_rng(seed)
    w = economic_distance(rng.uniform(1.0, 100.0, size=n), ids=tuple(range(n)))
    x = rng.standard_normal((t, n, k))
    beta = np.linspace(1.0, -1.0, k)
    theta = np.linspace(-0.5, 0.5, k)
    rho = 0.4
    y = simulate_y(w, x, "sdm", rho, beta, theta, sigma=1.0, mu=rng.standard_normal(n), rng=rng)
    panel = Panel(y, x, tuple(range(n)), tuple(range(t)), "y", tuple(f"x{i}" for i in range(k)))
    return panel, w, {"rho": rho, "beta": beta, "theta": theta}


def run(n: int = 3000, t: int = 10, k: int = 6, seed: int = 12345, spreg: bool = True,
        blas_threads: int | None = None) -> dict:
    """Time bayes_sdm.fit_ml and spreg.ML_LagFE(slx_lags=1) on the same data; return a dict with
    both times (s), their ratio, and the largest parameter difference.

    ``blas_threads`` limits the BLAS threads of both (threadpoolctl) for the timed part; on a
    shared machine whose cores are busy, multithreaded OpenBLAS stalls at every synchronisation
    of the (BLAS-2 heavy) eigenvalue reduction, and one thread is much faster.
    """
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=blas_threads, user_api="blas"):
            out = run(n, t, k, seed, spreg, None)
        out["blas_threads"] = blas_threads
        return out
    from bayes_sdm.api import prepare
    from bayes_sdm.logdet import EigenLogDet, eigenvalues
    from bayes_sdm.ml import fit_ml

    panel, w, truth = make_data(n, t, k, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    ld = EigenLogDet(eigenvalues(w, cache=False))
    t_eig = time.perf_counter() - t0
    res = fit_ml(prepare(panel, w, "sdm", "unit", logdet=ld), "none")
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    out = {"benchmark": "ml_sdm_unit_fe", "N": n, "T": t, "K": k,
           "bayes_sdm_s": round(t_ours, 3), "bayes_sdm_eigen_s": round(t_eig, 3),
           "bayes_sdm_fit_only_s": round(t_ours - t_eig, 3), "bayes_sdm_cpu_s": round(c_ours, 3),
           "rho": float(res.params["rho"]), "rho_true": truth["rho"]}
    if spreg:
        import libpysal
        import scipy.sparse as sp
        import spreg as _spreg

        t1 = time.perf_counter()
        lw = libpysal.weights.WSP(sp.csr_matrix(np.asarray(w.matrix)),
                                  id_order=list(range(n))).to_W(silence_warnings=True)
        t_conv = time.perf_counter() - t1
        t1, c1 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = _spreg.ML_LagFE(panel.y.reshape(-1, 1), panel.X.reshape(-1, k), lw,
                                  slx_lags=1, spat_impacts=None)
        t_spreg, c_spreg = time.perf_counter() - t1, time.process_time() - c1
        b = ref.betas.ravel()
        ref_params = np.r_[b[-1], b[:-1]]
        out.update(spreg_s=round(t_spreg, 3), spreg_cpu_s=round(c_spreg, 3),
                   spreg_w_conversion_s=round(t_conv, 3), ratio=round(t_spreg / t_ours, 2),
                   ratio_cpu=round(c_spreg / c_ours, 2),
                   ratio_eigenvalues_cached=round(t_spreg / (t_ours - t_eig), 2),
                   max_abs_param_diff=float(np.abs(res.params.to_numpy()[:-1] - ref_params).max()),
                   loglik_diff=float(res.loglik - ref.logll))
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else None
    r = run(*args, blas_threads=threads)
    for key, val in r.items():
        print(f"{key:>24}: {val}")
    if "ratio" in r:
        print(f"bayes_sdm {r['bayes_sdm_s']:.2f} s vs spreg {r['spreg_s']:.2f} s: "
              f"{r['ratio']:.1f}x faster")
