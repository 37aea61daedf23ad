"""Benchmark: where the eigenvalue log-determinant stops paying (the ``auto`` crossover).

For each kind of W and each N, in a fresh process per (kind, method, N) so that peak memory is
the method's own, the cold cost (on-disk cache off) of

``eigen``      ``make_logdet(w, "eigen")``: the eigenvalues of W (symmetric LAPACK solver on the
               similar symmetric form D^{1/2} W D^{-1/2} when W has one, general solver
               otherwise; dense N x N), plus, from N = 1,000, the Chebyshev interpolant of the
               exact values that the sampler uses (``symbolic="chebyshev"``, as ``auto`` does);
``chebyshev``  ``ChebyshevLogDet(w)``: sparse (or dense) LU log-determinants of I - rho W at
               nested Chebyshev-Lobatto nodes, adaptive degree (8, 16, ..., 128) until the
               estimated slope error is below 1e-6 N; its slope error is then measured against
               the eigenvalues where they were computed in the same run (saved by the ``eigen``
               case), else against exact LU finite differences at 9 test points.

Kinds of W (all row-standardised, 2-D random points, seed 0):

``sym``      symmetrised k-NN (k = 6): C = 1[i in knn(j) or j in knn(i)], W = D^{-1} C, which is
             similar to a symmetric matrix (real spectrum, symmetric solver);
``lattice``  rook contiguity on a sqrt(N) x sqrt(N) grid (symmetric similar form);
``knn``      k-NN (k = 6), not symmetric: complex spectrum, general solver;
``dense``    the seed study's inverse economic distance 1/|x_i - x_j| (dense, symmetric similar
             form);
``dense-asym`` the same with each column scaled by a random factor in (0.5, 2) (dense, no
             symmetric similar form, general solver).

BLAS runs with ``--blas-threads`` threads (default 1).  On a shared machine multi-threaded
OpenBLAS makes the dense eigen-solvers erratic (threads spinning at barriers while descheduled:
a 200 x 200 general eigenproblem measured 0.1-4.4 s with 2 threads at load 8, 0.11 s with one),
while SuperLU is single-threaded; with one BLAS thread both sides are measured alike.  Two idle
cores can at best halve the eigen times, which the crossover allows for (``auto`` keeps the
eigenvalues up to where they cost at most twice the Chebyshev path, see
:mod:`bayes_sdm.logdet`).

Reported per case: wall seconds, CPU seconds (user + sys of the process: less sensitive to other
load on a shared machine than wall time), peak resident memory of the process (``ru_maxrss``;
the imports alone take ``baseline`` MB, measured by a case that builds nothing), the degree and
the number of LU factorisations, the estimated and the measured slope error, and the shift of
the posterior of rho the measured error can cause for T = 10 and sd(rho) = 1/sqrt(N T)
(contract: <= 0.01 sd).

Usage::

    python benchmarks/bench_logdet.py                    # the default grid -> logdet_crossover.md
    python benchmarks/bench_logdet.py --n 500,1000 --kinds knn --methods eigen,chebyshev
    python benchmarks/bench_logdet.py --case knn chebyshev 3000   # one case, JSON on stdout

Eigenvalues above ``--eigen-general-max-n`` (default 3,000) / ``--eigen-sym-max-n`` (5,000) and dense LU
interpolation above ``--dense-cheb-max-n`` (default 3,000) are not run (minutes each, and never
the cheaper choice in the measured range); the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("sym", "lattice", "knn", "dense", "dense-asym")
METHODS = ("eigen", "chebyshev")
DEFAULT_NS = (200, 300, 400, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000)
DENSE_NS = (300, 500, 1000, 2000, 3000)


def build_w(kind: str, n: int):
    """The W of one case (see module docstring)."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    from bayes_sdm.weights import economic_distance, make_weights

    rng = np.random.default_rng(0)
    ids = tuple(range(n))
    if kind in ("sym", "knn"):
        xy = rng.random((n, 2))
        _, idx = cKDTree(xy).query(xy, k=7)
        m = sp.csr_array((np.ones(n * 6), (np.repeat(np.arange(n), 6), idx[:, 1:].ravel())),
                         shape=(n, n))
        if kind == "sym":
            m = sp.csr_array(((m + m.T) > 0).astype(float))
        return make_weights(m, ids)
    if kind == "lattice":
        side = int(np.ceil(np.sqrt(n)))
        r, c = np.divmod(np.arange(n), side)
        pos = {(a, b): i for i, (a, b) in enumerate(zip(r.tolist(), c.tolist()))}
        rows, cols = [], []
        for i, (a, b) in enumerate(zip(r.tolist(), c.tolist())):
            for d in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                j = pos.get((a + d[0], b + d[1]))
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        m = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        return make_weights(m, ids)
    if kind in ("dense", "dense-asym"):
        x = rng.lognormal(10.0, 0.5, n)
        w = economic_distance(x, ids)
        if kind == "dense":
            return w
        raw = w.raw_base() * rng.uniform(0.5, 2.0, n)[None, :]
        return make_weights(raw, ids, symmetric=False)
    raise SystemExit(f"unknown kind {kind!r}")


def run_case(kind: str, method: str, n: int, eig_dir: str | None) -> dict:
    """One case in this process (called in a fresh subprocess by :func:`main`)."""
    os.environ["BAYES_SDM_CACHE"] = "0"
    from bayes_sdm.logdet import ChebyshevLogDet, EigenLogDet, make_logdet

    rec = {"kind": kind, "method": method, "n": n}
    if method == "baseline":
        rec.update(peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return rec
    w = build_w(kind, n)
    rec["nnz"] = int(w.matrix.nnz) if w.is_sparse else n * n
    rec["symmetric_form"] = w.symmetric_form() is not None
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if method == "eigen":
        ld = make_logdet(w, "eigen", symbolic="chebyshev" if n >= 1000 else "exact")
    else:
        ld = ChebyshevLogDet(w, cache=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    rec.update(wall_s=wall, cpu_s=(r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
               peak_mb=r1.ru_maxrss / 1024)
    path = Path(eig_dir) / f"eig-{kind}-{n}.npy" if eig_dir else None
    if method == "eigen":
        d = ld.describe()
        rec.update(symbolic_degree=d.get("degree"),
                   slope_error=d.get("symbolic_slope_error", 0.0), degree=d.get("degree"))
        if path is not None:
            np.save(path, ld.eigenvalues)
    else:
        rec.update(degree=int(ld.degree), factorisations=int(ld.n_factorisations),
                   fill_nnz=ld.fill_nnz, slope_error_estimate=float(ld.slope_error_estimate))
        if path is not None and path.exists():
            e = EigenLogDet(np.load(path))
            grid = np.linspace(*ld.interval, 4001)
            rec["slope_error"] = float(np.max(np.abs(ld.deriv(grid) - e.deriv(grid))))
            rec["value_error"] = float(np.max(np.abs(ld.value(grid) - e.value(grid))))
            rec["error_against"] = "eigenvalues (4001 points)"
        else:
            acc = ld.accuracy()
            rec["slope_error"] = acc["max_slope_error"]
            rec["value_error"] = acc["max_value_error"]
            rec["error_against"] = "LU finite differences (9 points)"
    sd = 1.0 / np.sqrt(10 * n)
    rec["posterior_shift_T10"] = float(10 * rec.get("slope_error", 0.0) * sd)
    return rec


def _child(kind, method, n, eig_dir, timeout, threads=1) -> dict:
    env = dict(os.environ, BAYES_SDM_CACHE="0", OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", kind, method, str(n)]
    if eig_dir:
        cmd += ["--eig-dir", eig_dir]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                             check=False)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "method": method, "n": n, "error": f"timeout {timeout} s"}
    if out.returncode != 0:
        return {"kind": kind, "method": method, "n": n,
                "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else
                f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(v, digits=2):
    if v is None:
        return "—"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e5):
            return f"{v:.1e}"
        return f"{v:.{digits}f}"
    return str(v)


def render(rows: list[dict], info: dict) -> str:
    base = next((r["peak_mb"] for r in rows if r["method"] == "baseline"), None)
    out = ["# Log-determinant crossover: eigenvalues vs Chebyshev interpolation of exact LUs", "",
           f"Machine: {info['machine']}; {info['cpus']} CPUs, BLAS threads "
           f"{info.get('blas_threads', '?')}; load average at start "
           f"{info['load_start']}, at end {info['load_end']}; {info['date']}.  Cold costs (cache "
           "off), one fresh process per cell.  Peak = the process's resident high-water mark "
           f"(imports alone: {_fmt(base, 0)} MB).  Slope error of the Chebyshev path against "
           "the eigenvalues where both ran (else LU finite differences); posterior shift = "
           "T |slope error| sd(rho) for T = 10, sd(rho) = 1/sqrt(NT) (contract <= 0.01).", "",
           "| W | N | eigen wall s | eigen CPU s | eigen peak MB | Chebyshev wall s | "
           "Chebyshev CPU s | Chebyshev peak MB | degree (LUs) | slope error | posterior shift | "
           "cheaper |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by = {(r["kind"], r["method"], r["n"]): r for r in rows}
    kinds = [k for k in KINDS if any(r["kind"] == k for r in rows)]
    for k in kinds:
        ns = sorted({r["n"] for r in rows if r["kind"] == k and r["method"] != "baseline"})
        for n in ns:
            e, c = by.get((k, "eigen", n), {}), by.get((k, "chebyshev", n), {})

            def cell(r, key):
                if not r:
                    return "not run"
                if "error" in r:
                    return r["error"]
                return _fmt(r.get(key), 0 if key == "peak_mb" else 2)

            cheaper = "—"
            if "cpu_s" in e and "cpu_s" in c:
                cheaper = "eigen" if e["cpu_s"] <= c["cpu_s"] else "Chebyshev"
            elif "cpu_s" in c and not e:
                cheaper = "Chebyshev (eigen not run)"
            elif "cpu_s" in e and not c:
                cheaper = "eigen (Chebyshev not run)"
            deg = f"{c['degree']} ({c['factorisations']})" if "degree" in c and c.get(
                "factorisations") is not None else "—"
            out.append(f"| {k} | {n:,} | {cell(e, 'wall_s')} | {cell(e, 'cpu_s')} | "
                       f"{cell(e, 'peak_mb')} | {cell(c, 'wall_s')} | {cell(c, 'cpu_s')} | "
                       f"{cell(c, 'peak_mb')} | {deg} | {_fmt(c.get('slope_error'))} | "
                       f"{_fmt(c.get('posterior_shift_T10'))} | {cheaper} |")
    out += ["", "Kinds: " + "; ".join([
        "sym = symmetrised k-NN (k = 6)", "lattice = rook grid", "knn = k-NN (k = 6, not "
        "symmetric)", "dense = inverse economic distance", "dense-asym = the same, columns "
        "rescaled (no symmetric form)"]) + ".", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", nargs=3, metavar=("KIND", "METHOD", "N"))
    ap.add_argument("--eig-dir")
    ap.add_argument("--n", default=",".join(map(str, DEFAULT_NS)))
    ap.add_argument("--dense-n", default=",".join(map(str, DENSE_NS)))
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--eigen-general-max-n", type=int, default=3000)
    ap.add_argument("--eigen-sym-max-n", type=int, default=5000)
    ap.add_argument("--dense-cheb-max-n", type=int, default=3000)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "logdet_crossover.md"))
    ap.add_argument("--json", default=str(HERE / "logdet_crossover.json"))
    a = ap.parse_args(argv)
    if a.case:
        kind, method, n = a.case
        print(json.dumps(run_case(kind, method, int(n), a.eig_dir)))
        return 0
    ns = [int(v) for v in a.n.split(",")]
    dense_ns = [int(v) for v in a.dense_n.split(",")]
    kinds = a.kinds.split(",")
    methods = a.methods.split(",")
    info = {"machine": platform.platform(), "cpus": os.cpu_count(),
            "blas_threads": a.blas_threads,
            "load_start": ", ".join(f"{v:.1f}" for v in os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    rows = [_child("sym", "baseline", 10, None, 120)]
    with tempfile.TemporaryDirectory() as eig_dir:
        for kind in kinds:
            for n in (dense_ns if kind.startswith("dense") else ns):
                for method in methods:
                    general = kind in ("knn", "dense-asym")
                    if method == "eigen" and general and n > a.eigen_general_max_n:
                        continue
                    if method == "chebyshev" and kind.startswith("dense") and \
                            n > a.dense_cheb_max_n:
                        continue
                    if method == "eigen" and not general and n > a.eigen_sym_max_n:
                        continue
                    r = _child(kind, method, n, eig_dir, a.timeout, a.blas_threads)
                    print(json.dumps(r), flush=True)
                    rows.append(r)
    info["load_end"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    Path(a.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    Path(a.out).write_text(render(rows, info))
    print(Path(a.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
