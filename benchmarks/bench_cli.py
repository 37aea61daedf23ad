"""Benchmark: the whole command-line run as a user meets it, from a CSV or Parquet file.

For each (format, N) one panel of N units x 10 years is written beforehand (not timed): unit
coordinates ``px``, ``py`` uniform on the unit square, three regressors, and y drawn from the
two-way SDM y_t = rho W y_t + X_t beta + W X_t theta + mu + alpha_t + eps_t on the k-NN (k = 6)
W of those coordinates (rho = 0.4; (I - rho W)^-1 by its Neumann series to 1e-16).  Then

    fit_region.py --data FILE --unit id --time year --y y --x x1 x2 x3 --weights knn:6:px,py
                  --model sdm --fe twoway   (NUTS 4 x 1,000 after 1,000; --sampler exact too)

runs in fresh processes under ``/usr/bin/time -v``: first with empty caches (``BAYES_SDM_CACHE``,
numba's, PyTensor's: the first run on a new machine or a new W), then ``--repeats`` times warm.
Each row gives wall, CPU, peak resident memory and the posterior mean of rho.

Usage::

    python benchmarks/bench_cli.py                      # N = 3,000, 10^4, 10^5 from CSV
    python benchmarks/bench_cli.py --n 1000000 --formats parquet --no-exact

Targets (issue 14): from a CSV at N = 10^5, NUTS whole process <= 3x the N = 3,000 one and
<= 120 s; from Parquet at N = 10^6, <= 8 min and <= 12 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_input import write_table  # noqa: E402
from peer_bayespecon import _rho_from_summary, timed, tool_env  # noqa: E402

WORK = HERE / "_work" / "cli"
T, K, RHO = 10, 6, 0.4
BETA, THETA = np.array([1.0, -0.5, 0.3]), np.array([0.5, 0.2, -0.2])


def write_panel(n: int, fmt: str, work: Path = WORK, seed: int = 0) -> Path:
    """The SDM panel of the module docstring (written once, reused)."""
    import pyarrow as pa

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"sdm_{n}x{T}.{fmt}"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT))
    from bayes_sdm.weights import knn

    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    w = knn(xy, np.arange(n), K).matrix.tocsr()
    mu = rng.standard_normal(n)
    ys, xs = [], []
    for t in range(T):
        x = rng.standard_normal((n, 3))
        b = x @ BETA + (w @ x) @ THETA + mu + 0.1 * t + rng.standard_normal(n)
        y, term = b.copy(), b
        while np.abs(term).max() > 1e-16 * max(1.0, np.abs(y).max()):
            term = RHO * (w @ term)
            y += term
        ys.append(y)
        xs.append(x)
    unit = np.tile(np.arange(n), T)
    cols = {"id": unit, "year": np.repeat(np.arange(2001, 2001 + T), n),
            "px": xy[unit, 0], "py": xy[unit, 1], "y": np.concatenate(ys)}
    xall = np.concatenate(xs)
    for j in range(3):
        cols[f"x{j + 1}"] = xall[:, j]
    return write_table(pa.table(cols), path, fmt)


def cli_cmd(path: Path, out: Path, exact: bool) -> list[str]:
    cmd = [sys.executable, str(ROOT / "scripts" / "fit_region.py"), "--data", str(path),
           "--unit", "id", "--time", "year", "--y", "y", "--x", "x1", "x2", "x3",
           "--weights", f"knn:{K}:px,py", "--model", "sdm", "--fe", "twoway", "--draws", "1000",
           "--tune", "1000", "--chains", "4", "--out", str(out), "--no-progress", "--quiet"]
    if exact:
        cmd += ["--sampler", "exact", "--priors", "flat"]
    return cmd


def run(n: int, fmt: str, repeats: int, exact: bool, timeout: float, work: Path, log) -> None:
    path = write_panel(n, fmt, work)
    base = Path(tempfile.mkdtemp(prefix=f"cli-{n}-"))
    env = tool_env(base)  # every cache in this run's folder; bytecode as a user's Python
    plan = [("nuts", "cold", False)] + [("nuts", "warm", False)] * repeats
    if exact:
        plan += [("exact", "warm", True)] * repeats
    for sampler, caches, ex in plan:
        out = base / f"out-{sampler}"
        rec = {"n": n, "format": fmt, "file_mb": path.stat().st_size / 2**20,
               "sampler": sampler, "caches": caches}
        rec.update(timed(cli_cmd(path, out, ex), env, timeout))
        rec.update(_rho_from_summary(out))
        rec["load"] = os.getloadavg()[0]
        log(rec)
    shutil.rmtree(base, ignore_errors=True)


def render(rows: list[dict], info: dict) -> str:
    out = ["# Whole command-line run from a file: k-NN W from coordinates, two-way SDM", "",
           f"Machine: {info['machine']}; {info['cpus']} CPUs; load average at start "
           f"{info['load_start']}, at end {info.get('load_end', '?')}; {info['date']}.  "
           f"T = {T}, 3 regressors, k = {K}; NUTS 4 x 1,000 after 1,000 (closed-form sampler), "
           "exact = the exact sampler under flat priors.  One fresh process per row, timed with "
           "/usr/bin/time -v (imports, compilation, reading, W, fit, outputs).", "",
           "| format | N | file MB | sampler | caches | wall s | CPU s | peak MB | rho mean (sd) "
           "| load | exit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rho = (f"{r['rho_mean']:.4f} ({r['rho_sd']:.4f})" if "rho_mean" in r else "—")
        out.append(f"| {r['format']} | {r['n']:,} | {r['file_mb']:.0f} | {r['sampler']} | "
                   f"{r['caches']} | {r.get('wall_s') or 0:.1f} | {r.get('cpu_s') or 0:.1f} | "
                   f"{r.get('peak_mb') or 0:.0f} | {rho} | {r['load']:.1f} | {r['rc']} |")
    out.append("")
    warm = {(r["format"], r["n"]): r["wall_s"] for r in rows
            if r["sampler"] == "nuts" and r["caches"] == "warm" and r.get("rc") == 0}
    ref = warm.get(("csv", 3000))
    if ref and ("csv", 100_000) in warm:
        out.append(f"- CSV, NUTS warm: N = 10^5 / N = 3,000 = "
                   f"{warm[('csv', 100_000)] / ref:.2f} (target <= 3; and <= 120 s)")
    out.append("- rho's truth is 0.4.")
    out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="3000,10000,100000")
    ap.add_argument("--formats", default="csv")
    ap.add_argument("--repeats", type=int, default=1, help="warm runs per row")
    ap.add_argument("--no-exact", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--work", default=str(WORK))
    ap.add_argument("--out", default=str(HERE / "cli_results.md"))
    ap.add_argument("--json", default=str(HERE / "cli_results.json"))
    a = ap.parse_args(argv)
    info = {"machine": platform.platform(), "cpus": os.cpu_count(),
            "load_start": ", ".join(f"{v:.1f}" for v in os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    rows: list[dict] = []

    def log(rec):  # every finished run is in the JSON at once
        print(json.dumps({k: v for k, v in rec.items() if k != "tail"}), flush=True)
        if rec.get("rc") != 0:
            print(rec.get("tail", ""), file=sys.stderr, flush=True)
        rows.append(rec)
        Path(a.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))

    for fmt in a.formats.split(","):
        for n in (int(v) for v in a.n.split(",")):
            run(n, fmt, a.repeats, not a.no_exact, a.timeout, Path(a.work), log)
    info["load_end"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    Path(a.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    Path(a.out).write_text(render(rows, info))
    print(Path(a.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
