"""Benchmark: how bayes_sdm scales with N (wall time, peak memory, ESS per second).

For each N (default 176, 3,000, 30,000, 300,000, 1,000,000), T = 10, K = 6, data are drawn from an SDM
with unit effects (rho = 0.4), fitted as a two-way fixed-effects SDM, with

* N <= 3,000: the seed study's inverse economic-distance W (dense by nature; eigenvalue
  log-determinant),
* N > 3,000: a k-nearest-neighbour W (k = 6, random coordinates; sparse; the Chebyshev
  log-determinant of sparse LU factorisations, :class:`bayes_sdm.logdet.ChebyshevLogDet`).

Stages, each timed and with its own peak resident memory (the kernel's high-water mark reset
through ``/proc/self/clear_refs`` before each stage; every N runs in a fresh process):

``setup``     W built from the unit data (``setup_w_s``) and the sufficient statistics
              (``setup_stats_s``); simulating y is reported apart (``simulate_s``).
``logdet``    ``make_logdet(w, "auto")`` with the on-disk cache off (the cold cost); its
              accuracy: the adaptive fit's estimate of the largest slope error over the whole
              domain, and the measured slope error against exact LU log-determinants at test
              points around the posterior, turned into the contract's posterior shift
              (T-1) * |slope error| * sd(rho) (in posterior sds; must be <= 0.01).
``exact``     :func:`bayes_sdm.exact.sample_exact`, 4 x 1000 independent draws (ESS = draws),
              timed after a first call that pays the imports (``exact_first_call_s``).
``nuts``      :func:`bayes_sdm.pymc_models.build_model` + :func:`bayes_sdm.sampling.sample_nuts`
              (default sampler, 4 chains x 1000 draws after 1000 tuning steps, target_accept
              0.9, flat priors; for
              the dense W at N >= 1000 ``auto`` gives the sampler the Chebyshev interpolant of
              the exact eigenvalue log-determinant, ``symbolic="chebyshev"``, its slope error
              measured exactly and reported), bulk ESS of rho per second of wall time
              (compilation included) and per second of sampling alone (the sampler's own
              ``sampling_time``, tuning included); ``nuts_fit_total_s`` = W + sufficient
              statistics + cold log-determinant + model, compilation and sampling (the whole
              fit, set-up included; simulating y apart).
``ml``        :func:`bayes_sdm.ml.fit_ml` (two-way SDM), up to ``--ml-max-n``.
``spreg``     ``spreg.ML_LagFE(slx_lags=1)`` (unit FE, direct approach: its own model) on the same
              data, up to ``--spreg-max-n`` (it refactors a sparse LU of I - rho W at every
              likelihood evaluation and its information matrix is dense; skipped above, and said
              so in the table).

Run ``python benchmarks/bench_scale.py --max-n 30000`` (or ``--n 176,3000``); ``run_all.py``
calls :func:`run` and writes ``results.csv`` / ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_NS = (176, 3000, 30000, 300000, 1000000)
DENSE_MAX = 3000


# ------------------------------------------------------------------------------- memory
def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class Stage:
    """Context manager timing a stage and recording its peak resident memory."""

    def __init__(self, rec: dict, name: str):
        self.rec, self.name = rec, name

    def __enter__(self):
        _reset_peak()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.rec[f"{self.name}_s"] = round(time.perf_counter() - self.t0, 3)
        self.rec[f"{self.name}_peak_gb"] = round(_peak_bytes() / 1e9, 3)
        return False


# ------------------------------------------------------------------------------- data
def make_weights_for(n: int, rng: np.random.Generator, knn_k: int = 6):
    from bayes_sdm.weights import economic_distance, knn

    ids = tuple(range(n))
    if n <= DENSE_MAX:
        return economic_distance(rng.uniform(1.0, 100.0, size=n), ids=ids), "economic-distance"
    return knn(rng.random((n, 2)), ids, knn_k), f"knn:{knn_k}"


def one(n: int, t: int = 10, k: int = 6, seed: int = 2026, draws: int = 1000, tune: int = 1000,
        chains: int = 4, nuts_sampler: str = "auto", ml_max_n: int = 300000,
        spreg_max_n: int = 3000, nuts_max_n: int = 10**7, accuracy_points: int | None = None,
        compare_chebyshev: bool = True) -> dict:
    """Run every stage for one N in this process; return one result row."""
    os.environ["BAYES_SDM_CACHE"] = "0"
    from bayes_sdm.exact import sample_exact
    from bayes_sdm.likelihood import sufficient_stats
    from bayes_sdm.logdet import ChebyshevLogDet, make_logdet
    from bayes_sdm.panel import Panel
    from bayes_sdm.simulate import simulate_y

    rng = np.random.default_rng(seed + n)
    rec: dict = {"benchmark": "scale", "N": n, "T": t, "K": k, "NT": n * t, "status": "ok"}
    with Stage(rec, "setup_w"):
        w, wname = make_weights_for(n, rng)
    rec["W"] = wname
    rec["W_nnz"] = int(w.matrix.nnz) if w.is_sparse else n * (n - 1)
    x = rng.standard_normal((t, n, k))
    beta = np.linspace(1.0, -1.0, k)
    theta = np.linspace(-0.5, 0.5, k)
    rho_true = 0.4
    with Stage(rec, "simulate"):
        # unit effects only, so that spreg's unit-FE ML_LagFE estimates the same rho
        y = simulate_y(w, x, "sdm", rho_true, beta, theta, sigma=1.0,
                       mu=rng.standard_normal(n), rng=rng)
    panel = Panel(y, x, tuple(range(n)), tuple(range(t)), "y", tuple(f"x{i}" for i in range(k)))
    del y
    with Stage(rec, "setup_stats"):
        stats = sufficient_stats(panel, w, "twoway")
    rec["setup_s"] = round(rec["setup_w_s"] + rec["setup_stats_s"], 3)

    with Stage(rec, "logdet"):
        ld = make_logdet(w, "auto")
    d = ld.describe()
    rec["logdet_method"] = d["method"]
    rec["logdet_degree"] = d.get("degree", "")
    rec["logdet_factorisations"] = d.get("n_factorisations", "")
    rec["slope_error_estimate"] = d.get("slope_error_estimate", 0.0)
    rec["rho_interval"] = f"({ld.interval[0]:.4g}, {ld.interval[1]:.4g})"

    t0 = time.perf_counter()
    sample_exact(stats, ld, "sdm", draws=10, chains=1, seed=seed)  # imports, first call
    rec["exact_first_call_s"] = round(time.perf_counter() - t0, 3)
    with Stage(rec, "exact"):
        ex = sample_exact(stats, ld, "sdm", draws=draws, chains=chains, seed=seed)
    rho_ex = ex.posterior["rho"].values
    rec["exact_draws"] = int(rho_ex.size)
    rec["exact_ess_per_s"] = round(rho_ex.size / max(rec["exact_s"], 1e-9), 1)
    rec["rho_mean_exact"] = float(rho_ex.mean())
    rec["rho_sd_exact"] = float(rho_ex.std())
    rec["rho_true"] = rho_true
    a_jac = stats.terms.a  # T - 1 for two-way effects

    # accuracy of the log-determinant's slope
    if ld.eigenvalues is not None:
        rec["slope_error_max"] = 0.0
        rec["slope_error_where"] = "exact (eigenvalues)"
    else:
        with Stage(rec, "accuracy"):
            m, s = rec["rho_mean_exact"], rec["rho_sd_exact"]
            pts = [m - 3 * s, m, m + 3 * s]
            n_pts = accuracy_points if accuracy_points is not None else (5 if n < 300000 else 3)
            if n_pts >= 5:
                pts += [-0.5, 0.9]
            lo, hi = ld.interval
            pts = np.clip(np.array(pts[:max(n_pts, 1)]), lo + 1e-6, hi - 1e-6)
            acc = ld.accuracy(test_points=pts)
        rec["slope_error_max"] = acc["max_slope_error"]
        rec["value_error_max"] = acc["max_value_error"]
        rec["slope_error_where"] = "rho=" + ",".join(f"{p:.3f}" for p in pts)
    rec["posterior_shift_measured"] = a_jac * rec["slope_error_max"] * rec["rho_sd_exact"]
    rec["posterior_shift_bound"] = a_jac * rec["slope_error_estimate"] * rec["rho_sd_exact"]
    rec["contract_ok"] = bool(rec["posterior_shift_measured"] <= 0.01)

    # Chebyshev against the exact eigenvalue path where both run (N = 3000)
    if compare_chebyshev and ld.eigenvalues is not None and n >= 1000:
        with Stage(rec, "cheb_compare"):
            ch = ChebyshevLogDet(w, cache=False)
            grid = np.linspace(*ch.interval, 4001)
            err = np.max(np.abs(ch.deriv(grid) - ld.deriv(grid)))
            exc = sample_exact(stats, ch, "sdm", draws=draws, chains=chains, seed=seed)
        rc = exc.posterior["rho"].values
        rec["cheb_vs_eigen_slope_error"] = float(err)
        rec["cheb_vs_eigen_rho_mean_diff_sd"] = float(abs(rc.mean() - rho_ex.mean()) / rho_ex.std())
        rec["cheb_build_s"] = round(ch.build_seconds, 3)

    if n <= nuts_max_n:
        if ld.eigenvalues is not None and ld.symbolic_method == "chebyshev":
            rec["nuts_symbolic_slope_error"] = ld.describe()["symbolic_slope_error"]
            rec["nuts_logdet"] = "eigen+chebyshev"
        else:
            rec["nuts_logdet"] = ld.method
        _nuts(rec, stats, ld, draws, tune, chains, nuts_sampler, seed)
        # the whole fit a user waits for, set-up included: W + sufficient statistics +
        # log-determinant (cold) + model, compilation and sampling
        rec["nuts_fit_total_s"] = round(rec["setup_s"] + rec["logdet_s"] + rec["nuts_s"], 3)
    else:
        rec["nuts_note"] = f"skipped (N > {nuts_max_n})"
    if n <= ml_max_n:
        from bayes_sdm.api import prepare
        from bayes_sdm.ml import fit_ml

        with Stage(rec, "ml"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_ml(prepare(panel, w, "sdm", "twoway", logdet=ld))
        rec["rho_ml"] = float(res.params["rho"])
    else:
        rec["ml_note"] = f"skipped (N > {ml_max_n})"
    if n <= spreg_max_n:
        _spreg(rec, panel, w, k)
    else:
        rec["spreg_note"] = f"skipped (N > {spreg_max_n}: dense information matrix, LU per step)"
    return rec


def _nuts(rec, stats, ld, draws, tune, chains, nuts_sampler, seed):
    import arviz as az

    from bayes_sdm.pymc_models import build_model
    from bayes_sdm.sampling import resolve_sampler, sample_nuts
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    sampler = resolve_sampler(nuts_sampler)
    rec["nuts_sampler"] = sampler
    spec = SamplerSpec(draws=draws, tune=tune, chains=chains, seed=seed, target_accept=0.9,
                       nuts_sampler=sampler)
    with Stage(rec, "nuts"):
        t0 = time.perf_counter()
        model = build_model(stats, ld, "sdm", PriorSpec.preset("flat"))
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = sample_nuts(model, spec)
        t2 = time.perf_counter()
    rec["nuts_build_s"] = round(t1 - t0, 3)
    rec["nuts_sample_s"] = round(t2 - t1, 3)
    attrs = idata["posterior"].attrs
    if "sampling_time" in attrs:
        rec["nuts_sampling_only_s"] = round(float(attrs["sampling_time"]), 3)
    ess = float(az.ess(idata, var_names=["rho"])["rho"])
    rec["nuts_ess_rho"] = round(ess, 1)
    rec["nuts_ess_per_s"] = round(ess / rec["nuts_sample_s"], 1)
    if "nuts_sampling_only_s" in rec:
        rec["nuts_ess_per_sampling_s"] = round(ess / max(rec["nuts_sampling_only_s"], 1e-9), 1)
    rec["nuts_divergences"] = int(idata["sample_stats"]["diverging"].sum())
    rec["rho_mean_nuts"] = float(idata.posterior["rho"].mean())
    rec["rho_sd_nuts"] = float(idata.posterior["rho"].std())


def _spreg(rec, panel, w, k):
    import libpysal
    import scipy.sparse as sp
    import spreg

    m = w.matrix if w.is_sparse else sp.csr_matrix(np.asarray(w.matrix))
    lw = libpysal.weights.WSP(sp.csr_matrix(m), id_order=list(range(w.n))).to_W(
        silence_warnings=True)
    with Stage(rec, "spreg"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = spreg.ML_LagFE(panel.y.reshape(-1, 1), panel.X.reshape(-1, k), lw, slx_lags=1,
                             spat_impacts=None)
    rec["rho_spreg"] = float(np.asarray(ref.betas).ravel()[-1])


def cigar_case(samplers=None, draws: int = 1000, tune: int = 1000,
               chains: int = 4, seed: int = 2026) -> dict:
    """The small-panel target: cigar (N = 46, T = 30), two-way SDM, default priors, NUTS
    4 x 1000 with each sampler through the user's path (``prepare`` + ``fit``: sufficient
    statistics, log-determinant, model, compilation, sampling, effects), timed after import and
    run twice in the process (the second run shows what in-process caching saves; PyTensor's
    and the eigenvalues' on-disk caches are warm for both once the benchmark has run before),
    and the exact sampler (flat priors)."""
    import importlib
    import importlib.util

    import arviz as az

    from bayes_sdm.api import fit, prepare
    from bayes_sdm.datasets import load_dataset
    from bayes_sdm.sampling import SAMPLER_PACKAGE
    from bayes_sdm.spec import DataSpec, ModelSpec, PriorSpec, SamplerSpec

    if samplers is None:  # every installed one
        samplers = [s for s in ("nutpie-pyfunc", "nutpie", "pymc", "numpyro")
                    if importlib.util.find_spec(SAMPLER_PACKAGE[s])]
    for sampler in samplers:  # "after import": the samplers' packages are imported untimed
        importlib.import_module(SAMPLER_PACKAGE[sampler])
    rec: dict = {"benchmark": "cigar", "N": 46, "T": 30, "K": 2, "status": "ok"}
    ds = load_dataset("cigar")
    panel, w = ds.panel(), ds.weights
    t0 = time.perf_counter()
    prepare(panel, w, "sdm", "twoway")
    rec["setup_s"] = round(time.perf_counter() - t0, 3)
    for sampler in samplers:
        spec = ModelSpec(data=DataSpec(dataset=None),
                         sampler=SamplerSpec(draws=draws, tune=tune, chains=chains, seed=seed,
                                             nuts_sampler=sampler))
        for attempt in (1, 2):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit(prepare(panel, w, "sdm", "twoway"), spec, progressbar=False)
            rec[f"nuts_{sampler}_run{attempt}_s"] = round(time.perf_counter() - t0, 3)
            attrs = res.idata["posterior"].attrs
            if "sampling_time" in attrs:
                rec[f"nuts_{sampler}_sampling_only_s"] = round(float(attrs["sampling_time"]), 3)
        post = res.idata["posterior"]
        rec[f"nuts_{sampler}_ess_rho"] = round(float(az.ess(res.idata, var_names=["rho"])["rho"]),
                                               1)
        rec[f"nuts_{sampler}_divergences"] = int(res.idata["sample_stats"]["diverging"].sum())
        rec[f"rho_mean_{sampler}"] = float(post["rho"].mean())
    flat = ModelSpec(data=DataSpec(dataset=None), priors=PriorSpec.preset("flat"),
                     sampler=SamplerSpec(draws=draws, chains=chains, seed=seed,
                                         nuts_sampler="exact"))
    fit(prepare(panel, w, "sdm", "twoway"), flat, progressbar=False)  # first call: imports
    t0 = time.perf_counter()
    ex = fit(prepare(panel, w, "sdm", "twoway"), flat, progressbar=False)
    rec["exact_s"] = round(time.perf_counter() - t0, 3)
    rec["rho_mean_exact"] = float(ex.idata["posterior"]["rho"].mean())
    return rec


# ------------------------------------------------------------------------------- driver
def run(ns=DEFAULT_NS, max_n: int | None = None, timeout: float = 1800, verbose: bool = True,
        **kwargs) -> list[dict]:
    """Run :func:`one` for each N in a fresh process (clean memory peaks); return the rows.
    An N that fails or runs past ``timeout`` seconds gets a row with its status."""
    rows = []
    ns = [n for n in ns if max_n is None or n <= max_n]
    for n in ns:
        args = [sys.executable, str(Path(__file__).resolve()), "--one", str(n)]
        for key, val in kwargs.items():
            args += [f"--{key.replace('_', '-')}", str(val)]
        env = dict(os.environ, BAYES_SDM_CACHE="0", PYTHONPATH=str(ROOT) + os.pathsep +
                   os.environ.get("PYTHONPATH", ""))
        t0 = time.perf_counter()
        if verbose:
            print(f"[bench_scale] N={n} ...", file=sys.stderr, flush=True)
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                                 check=False)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            if out.returncode == 0 and lines:
                row = json.loads(lines[-1])
            else:
                row = {"benchmark": "scale", "N": n, "status": f"failed (rc={out.returncode})",
                       "error": out.stderr.strip().splitlines()[-1][:300] if out.stderr else ""}
        except subprocess.TimeoutExpired:
            row = {"benchmark": "scale", "N": n, "status": f"timeout ({timeout:.0f} s)"}
        row["process_wall_s"] = round(time.perf_counter() - t0, 1)
        if verbose:
            print(f"[bench_scale] N={n}: {row.get('status')} in {row['process_wall_s']} s",
                  file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", default=",".join(map(str, DEFAULT_NS)), help="comma-separated N list")
    p.add_argument("--max-n", type=int, default=None, help="drop N above this")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--t", type=int, default=10)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--nuts-sampler", default="auto")
    p.add_argument("--ml-max-n", type=int, default=300000)
    p.add_argument("--spreg-max-n", type=int, default=3000)
    p.add_argument("--nuts-max-n", type=int, default=10**7)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--cigar", action="store_true", help="run the cigar small-panel case only")
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    a = p.parse_args(argv)
    opts = {"t": a.t, "k": a.k, "draws": a.draws, "tune": a.tune, "chains": a.chains,
            "nuts_sampler": a.nuts_sampler, "ml_max_n": a.ml_max_n, "spreg_max_n": a.spreg_max_n,
            "nuts_max_n": a.nuts_max_n}
    if a.cigar:
        print(json.dumps(cigar_case(draws=a.draws, tune=a.tune, chains=a.chains), default=float))
        return
    if a.one is not None:
        row = one(a.one, **opts)
        print(json.dumps(row, default=float))
        return
    rows = run([int(v) for v in a.n.split(",")], max_n=a.max_n, timeout=a.timeout, **opts)
    for r in rows:
        print(json.dumps(r, default=float))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
