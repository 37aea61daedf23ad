"""Benchmark: the CLI's input stage at 10^4, 10^5 and 10^6 units x 10 years (CSV and Parquet).

The input stage is what ``fit_region.py --data FILE --weights knn:6:px,py`` does before any
numerics: :func:`bayes_sdm.inputs.load_inputs` -- read the file (pandas' pyarrow engine for CSV,
pyarrow for Parquet), build the k-NN W (k = 6) from the per-unit coordinate columns (cKDTree),
align the ids with W, check duplicates, balance and NaN/inf, and form the wide (T, N) / (T, N, K)
arrays.  Each (format, N) runs in a fresh process (imports excluded from the stage times, peak
resident memory of the whole process reported), on a file written beforehand by this script
into ``--work`` (default ``benchmarks/_work/input/``, git-ignored; rows unit-major, 4 numeric
columns besides the ids and coordinates; all files are written and flushed before the first
timing), the fastest of ``--repeats`` (default 2) runs per row.

Usage::

    python benchmarks/bench_input.py                 # 10^4, 10^5, 10^6 -> input_stage.md
    python benchmarks/bench_input.py --n 10000,100000 --formats csv

The table reports read / W / panel / total seconds, peak memory, and the ratio of the total at
10^6 to that at 10^5 (linear growth gives 10; the target is <= 12).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work" / "input"
DEFAULT_NS = (10_000, 100_000, 1_000_000)
T = 10


def write_panel(n: int, fmt: str, t: int = T, seed: int = 0, work: Path = WORK) -> Path:
    """A balanced long panel with per-unit coordinates ``px``, ``py`` (written once, reused)."""
    import pyarrow as pa

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"panel_{n}x{t}.{fmt}"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2))
    unit = np.repeat(np.arange(n), t)
    cols = {"id": unit, "year": np.tile(np.arange(2001, 2001 + t), n),
            "px": xy[unit, 0], "py": xy[unit, 1]}
    for name in ("y", "x1", "x2", "x3"):
        cols[name] = rng.standard_normal(n * t)
    return write_table(pa.table(cols), path, fmt)


def write_table(table, path: Path, fmt: str) -> Path:
    """Write a pyarrow table as CSV or Parquet, complete or not at all (temporary + rename)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, tmp)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def run_stage(path: str) -> dict:
    """The input stage in this process, stage by stage (what ``load_inputs`` does)."""
    t0 = time.perf_counter()
    import pyarrow  # noqa: F401 - imported by the readers on first use: counted as import
    import scipy.spatial  # noqa: F401 - likewise (cKDTree)

    from bayes_sdm.inputs import build_weights, read_table
    from bayes_sdm.panel import panel_from_frame

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    rec = {"import_s": time.perf_counter() - t0}
    c0, t0 = cpu(), time.perf_counter()
    frame = read_table(path)
    c1, t1 = cpu(), time.perf_counter()
    w = build_weights("knn:6:px,py", frame, "id")
    c2, t2 = cpu(), time.perf_counter()
    panel = panel_from_frame(frame, "id", "year", "y", ["x1", "x2", "x3"], units=w.ids)
    c3, t3 = cpu(), time.perf_counter()
    assert panel.y.shape == (T, w.n) and w.matrix.nnz == 6 * w.n
    rec.update(read_s=t1 - t0, w_s=t2 - t1, panel_s=t3 - t2, total_s=t3 - t0,
               read_cpu_s=c1 - c0, w_cpu_s=c2 - c1, panel_cpu_s=c3 - c2, total_cpu_s=c3 - c0,
               rows=len(frame), peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               load=os.getloadavg()[0])
    return rec


def _child(path: Path, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", str(path)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                             check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout} s"}
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(rows: list[dict], info: dict) -> str:
    out = ["# Input stage: file -> k-NN W from coordinates -> aligned, checked panel", "",
           f"Machine: {info['machine']}; {info['cpus']} CPUs; load average at start "
           f"{info['load_start']}, at end {info['load_end']}; {info['date']}.  T = {T}, k = 6, "
           "3 regressors; fresh processes, the fastest of "
           f"{info.get('repeats', 1)} runs per row (all totals in the last column; imports "
           "excluded; peak = the process's resident high-water mark, imports included).", "",
           "| format | N units | rows | file MB | read s | W s | panel s | total s | total CPU s "
           "| peak MB | totals s (all runs) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['format']} | {r['n']:,} | — | — | {r['error']} | | | | |")
            continue
        out.append(f"| {r['format']} | {r['n']:,} | {r['rows']:,} | {r['file_mb']:.0f} | "
                   f"{r['read_s']:.2f} | {r['w_s']:.2f} | {r['panel_s']:.2f} | "
                   f"{r['total_s']:.2f} | {r['total_cpu_s']:.2f} | {r['peak_mb']:.0f} | "
                   f"{', '.join(map(str, r.get('totals_s', [])))} |")
    out.append("")
    for fmt in ("csv", "parquet"):
        by = {r["n"]: r for r in rows if r["format"] == fmt and "total_s" in r}
        if 100_000 in by and 1_000_000 in by:
            out.append(f"- {fmt}: total at 10^6 / total at 10^5 = "
                       f"{by[1_000_000]['total_s'] / by[100_000]['total_s']:.1f} wall, "
                       f"{by[1_000_000]['total_cpu_s'] / by[100_000]['total_cpu_s']:.1f} CPU "
                       "(linear = 10; target <= 12)")
    out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--n", default=",".join(map(str, DEFAULT_NS)))
    ap.add_argument("--formats", default="csv,parquet")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--repeats", type=int, default=2, help="runs per row; the fastest is shown")
    ap.add_argument("--work", default=str(WORK),
                    help="folder of the panel files (kept for the next run; e.g. under /tmp)")
    ap.add_argument("--out", default=str(HERE / "input_stage.md"))
    ap.add_argument("--json", default=str(HERE / "input_stage.json"))
    a = ap.parse_args(argv)
    if a.stage:
        print(json.dumps(run_stage(a.stage)))
        return 0
    info = {"machine": platform.platform(), "cpus": os.cpu_count(), "repeats": a.repeats,
            "load_start": ", ".join(f"{v:.1f}" for v in os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    rows = []
    ns, fmts = [int(v) for v in a.n.split(",")], a.formats.split(",")
    # every file first, flushed to disk: a read right after a 1.3 GB write competes with its
    # write-back
    paths = {(n, fmt): write_panel(n, fmt, work=Path(a.work)) for n in ns for fmt in fmts}
    os.sync()
    runs = {key: [] for key in paths}
    for _ in range(a.repeats):  # interleaved, so that each size sees the machine's load alike
        for key, path in paths.items():
            x = _child(path, a.timeout)
            print(json.dumps({"format": key[1], "n": key[0], **x}), flush=True)
            runs[key].append(x)
    for (n, fmt), path in paths.items():
        r = {"format": fmt, "n": n, "file_mb": path.stat().st_size / 1e6}
        ok = [x for x in runs[n, fmt] if "total_s" in x]
        r.update(min(ok, key=lambda x: x["total_s"]) if ok else runs[n, fmt][-1])
        r["totals_s"] = [round(x["total_s"], 2) for x in ok]
        rows.append(r)
    info["load_end"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    Path(a.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    Path(a.out).write_text(render(rows, info))
    print(Path(a.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
