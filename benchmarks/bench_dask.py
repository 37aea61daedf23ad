"""Benchmark: the Dask scale-out (bayes_sdm.distributed) with 1 and 2 local workers.

* ``parquet``: a panel of N units x T periods (K regressors, an SDM with rho = 0.4 and unit
  effects) written as a Parquet dataset partitioned by period, with unit coordinates; then the
  whole out-of-core preparation on a ``LocalCluster`` of 1 and of 2 worker processes: W by
  blockwise k-NN (k = 6) from the coordinate columns, the Gram matrix as the per-period
  map-reduce, and the Chebyshev log-determinant with its node LUs as tasks (disk cache off);
  then the exact sampler (4 x 1000 draws) on the result.  Reported per stage: wall seconds,
  each worker's peak resident memory (``ru_maxrss`` read on the worker) and the client's; the
  log-determinant's speed-up 1 -> 2 workers and its per-node LU seconds on the workers.
* ``sbc``: SBC of the two-way SDM (N = 20, T = 5, K = 2, 2 x 200 draws) in process against
  2 workers, same seeds: wall seconds, simulations per second, ranks equal.

Usage: ``python benchmarks/bench_dask.py [--n 1000000] [--t 10] [--sims 200] [--workers 1,2]
[--json rows.json]``.  ``run_all.py --cluster local:2`` runs it with its defaults.  Every
configuration runs in this process one after the other; the machine's other load is reported
(the load average) because it moves every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def write_panel(folder: Path, n: int, t: int, k: int, seed: int = 1) -> dict:
    """An SDM panel (rho = 0.4, unit effects) as Parquet, one file per period."""
    from bayes_sdm.simulate import simulate_y
    from bayes_sdm.weights import knn

    rng = np.random.default_rng(seed)
    coords = rng.uniform(size=(n, 2))
    ids = np.arange(n)
    w = knn(coords, tuple(range(n)), 6)
    x = rng.standard_normal((t, n, k))
    y = simulate_y(w, x, "sdm", rho=0.4, beta=np.full(k, 0.5), theta=np.full(k, 0.2),
                   sigma=1.0, mu=rng.standard_normal(n), alpha=None, rng=rng)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(t):
        df = pd.DataFrame({"unit": ids, "year": 2000 + s, "y": y[s], "cx": coords[:, 0],
                           "cy": coords[:, 1]})
        for j in range(k):
            df[f"x{j + 1}"] = x[s, :, j]
        df.to_parquet(folder / f"year={2000 + s}.parquet", index=False)
    return {"bytes_in_memory": int(n * t * (3 + 2 + k) * 8)}


def _peak_gb() -> float:
    """This process's peak resident memory (GB): VmHWM where /proc has it.  ru_maxrss is not
    used for workers: Linux keeps it across execve, so a spawned worker reports its parent's
    high-water mark whenever its own is lower."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _worker_rss(client) -> dict:
    return client.run(_peak_gb)


def run_parquet(folder: Path, n: int, t: int, k: int, workers: int) -> dict:
    from bayes_sdm import api
    from bayes_sdm.design import Layout
    from bayes_sdm.distributed.cluster import connect
    from bayes_sdm.distributed.logdet import DaskChebyshevLogDet
    from bayes_sdm.distributed.parquet import resolve_source
    from bayes_sdm.distributed.stats import ParquetPanel, list_periods, parquet_stats
    from bayes_sdm.distributed.weights import load_weights
    from bayes_sdm.prepared import Prepared
    from bayes_sdm.spec import PriorSpec, SamplerSpec

    row = {"benchmark": "dask-parquet", "N": n, "T": t, "K": k, "workers": workers}
    x = tuple(f"x{j + 1}" for j in range(k))
    t0 = time.perf_counter()
    with connect(f"local:{workers}", memory_limit="10GB", quiet=True) as c:
        row["cluster_start_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        panel = ParquetPanel(str(folder), "unit", "year", "y", x)
        periods = tuple(list_periods(c, resolve_source(str(folder)), "year"))
        w, panel = load_weights(c, "knn:6:cx,cy", panel, True, periods)
        row["w_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        stats, meta = parquet_stats(c, panel, w, "twoway", layout=Layout.for_families(k),
                                    periods=periods)
        row["stats_s"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        ld = DaskChebyshevLogDet(w, c, cache=False)
        row["logdet_s"] = time.perf_counter() - t3
        row["logdet_degree"] = int(ld.degree)
        row["logdet_lu_s_mean"] = float(np.mean(ld.node_seconds))
        row["logdet_nodes"] = len(ld.node_seconds)
        rss = _worker_rss(c)
        row["worker_peak_gb"] = [round(v, 3) for v in rss.values()]
    # the stages so far, in case the fit fails (a long run should not lose them)
    print("[bench_dask] " + json.dumps(row), file=sys.stderr, flush=True)
    prep = Prepared(meta, w, stats, ld, __import__("bayes_sdm").families.get("sdm"), "twoway")
    t4 = time.perf_counter()
    res = api.fit(prep, sampler=SamplerSpec(kind="exact", draws=1000, chains=4, seed=1),
                  priors=PriorSpec.preset("flat"), progressbar=False)
    row["exact_s"] = time.perf_counter() - t4
    row["rho_mean"] = float(res.idata["posterior"]["rho"].mean())
    row["client_peak_gb"] = round(_maxrss_gb(), 3)
    row["total_s"] = time.perf_counter() - t0
    return row


def run_sbc(sims: int, workers: int) -> dict:
    from bayes_sdm.distributed.cluster import connect
    from bayes_sdm.sbc import SBCConfig
    from bayes_sdm.sbc import run_sbc as sbc

    cfg = SBCConfig(n_sims=sims, N=20, T=5, K=2, draws=200, tune=300, chains=2,
                    n_rank_draws=99, sampler="nutpie", seed=2018)
    t0 = time.perf_counter()
    a = sbc(cfg)
    t_in = time.perf_counter() - t0
    t1 = time.perf_counter()
    with connect(f"local:{workers}", quiet=True) as c:
        t_start = time.perf_counter() - t1
        b = sbc(cfg, client=c)
    t_cl = time.perf_counter() - t1
    return {"benchmark": "dask-sbc", "sims": sims, "workers": workers,
            "in_process_s": t_in, "cluster_s": t_cl, "cluster_start_s": t_start,
            "speedup": t_in / t_cl, "ranks_equal": bool(a.ranks.equals(b.ranks)),
            "in_process_compile_s": a.compile_s, "worker_compile_s": b.compile_s}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--t", type=int, default=10)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--skip", default="", help="comma list of parquet,sbc to skip")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    os.environ.setdefault("BAYES_SDM_CACHE", "0")
    rows = []
    skip = set(filter(None, a.skip.split(",")))
    if "parquet" not in skip:
        tmp = Path(tempfile.mkdtemp(prefix="bench_dask_"))
        try:
            t0 = time.perf_counter()
            info = write_panel(tmp / "panel", a.n, a.t, a.k)
            print(f"[bench_dask] wrote N={a.n} T={a.t} in {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
            for wk in [int(v) for v in a.workers.split(",")]:
                r = run_parquet(tmp / "panel", a.n, a.t, a.k, wk)
                r.update(info, load_average=os.getloadavg()[0])
                print(json.dumps(r), flush=True)
                rows.append(r)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        ones = [r for r in rows if r.get("workers") == 1]
        twos = [r for r in rows if r.get("workers") == 2]
        if ones and twos:
            twos[0]["logdet_speedup_vs_1"] = ones[0]["logdet_s"] / twos[0]["logdet_s"]
    if "sbc" not in skip:
        r = run_sbc(a.sims, 2)
        r["load_average"] = os.getloadavg()[0]
        print(json.dumps(r), flush=True)
        rows.append(r)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1, default=float))
    return rows


if __name__ == "__main__":
    main()
