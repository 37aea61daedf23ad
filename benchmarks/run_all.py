"""Run the benchmarks and write ``benchmarks/results.csv`` and ``benchmarks/results.md``.

* :mod:`bench_scale` -- wall time, peak memory and ESS per second of the set-up, the
  log-determinant, the exact sampler, NUTS, ML and spreg for N in {176, 3,000, 30,000, 300,000,
  1,000,000} (T = 10, K = 6), each N in a fresh process, plus the cigar small-panel case;
* :mod:`bench_ml` (when present) -- bayes_sdm ML against ``spreg.ML_LagFE`` on the same model.

The machine (platform, CPU count, memory) and the package versions are written with the tables.

Usage: ``python benchmarks/run_all.py [--max-n 30000] [--n 176,3000] [--draws 1000]
[--no-cigar] [--no-ml-bench]`` (``make bench`` calls it without options).

Separate modes (``make bench ARGS="--whole-process"``, each instead of the above):
``--whole-process [--cases cigar,knn3000] [--repeats 1]`` -- :mod:`peer_bayespecon`, the CLI as
a user runs it (one process per fit, cold and warm caches) against bayespecon's NUTS in the same
run (``peer_results.md``); ``--logdet-crossover`` -- :mod:`bench_logdet`
(``logdet_crossover.md``); ``--input-stage`` -- :mod:`bench_input` (``input_stage.md``);
``--make-run`` -- :mod:`bench_make_run`, what ``make run`` runs, whole process, cold and
warm (``make_run_results.md``); ``--dynamic-peer`` -- :mod:`peer_dynamic`, the dynamic SDM against bayespecon's
``SDMUPanelDynamic`` on one simulated panel (``peer_dynamic.md``).  Rows of a separate
``bench_scale.py --n 1000000 --json rows.json`` run can be merged afterwards with
``run_all.py --add-rows rows.json`` (re-renders from ``results.json``; runs nothing).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

PACKAGES = ("bayes_sdm", "numpy", "scipy", "pymc", "pytensor", "arviz", "nutpie", "numpyro",
            "jax", "spreg", "libpysal", "pandas")


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 1e9, 1)
        info["load_average"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except (ImportError, OSError):
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
        info["gpu"] = out.stdout.strip() or "none"
    except (OSError, subprocess.SubprocessError):
        info["gpu"] = "none"
    return info


def versions() -> dict:
    import importlib.metadata as md

    out = {}
    for p in PACKAGES:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _subprocess_json(args: list[str], timeout: float) -> dict | None:
    env = dict(os.environ, BAYES_SDM_CACHE="0",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        out = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                             timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"timeout ({timeout:.0f} s)"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode == 0 and lines:
        return json.loads(lines[-1])
    return {"status": f"failed (rc={out.returncode})",
            "error": (out.stderr.strip().splitlines() or [""])[-1][:300]}


def run_ml_bench() -> list[dict]:
    path = HERE / "bench_ml.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location("bench_ml", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
        if not hasattr(mod, "run"):
            return []
        res = mod.run()
    except Exception as err:  # noqa: BLE001 - a failing peer benchmark is reported, not fatal
        return [{"benchmark": "ml", "status": f"failed: {type(err).__name__}: {err}"[:300]}]
    rows = res if isinstance(res, list) else [res]
    out = []
    for r in rows:
        r = dict(r)
        r.setdefault("status", "ok")
        r["benchmark"] = "ml:" + str(r.get("benchmark", "bench_ml"))
        out.append(r)
    return out


def _fmt(v, nd=2):
    if v is None or v == "" or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1000 or abs(v) < 1e-2:
            return f"{v:.2e}"
        return f"{v:.{nd}f}"
    return str(v)


SCALE_COLS = [
    ("N", "N"), ("W", "W"), ("setup_s", "set-up s"), ("simulate_s", "simulate s"),
    ("logdet_method", "log-det"), ("logdet_degree", "degree"), ("logdet_s", "log-det s"),
    ("slope_error_max", "max slope err (measured)"),
    ("slope_error_estimate", "slope err bound (domain)"),
    ("posterior_shift_measured", "(T-1) err sd(rho)"), ("contract_ok", "<= 0.01"),
    ("exact_s", "exact s"), ("exact_ess_per_s", "exact ESS/s"),
    ("nuts_sampler", "NUTS"), ("nuts_logdet", "NUTS log-det"),
    ("nuts_sample_s", "NUTS s (total)"), ("nuts_fit_total_s", "fit s (set-up+log-det+NUTS)"),
    ("nuts_sampling_only_s", "NUTS sampling s"), ("nuts_ess_rho", "ESS rho"),
    ("nuts_ess_per_s", "ESS/s (total)"), ("nuts_ess_per_sampling_s", "ESS/s (sampling)"),
    ("ml_s", "ML s"), ("spreg_s", "spreg s"), ("peak_gb", "peak GB"),
    ("process_wall_s", "process s"),
]


def targets(rows: list[dict]) -> list[tuple[str, str, str]]:
    """The issue's speed and memory targets against this run's figures."""
    by_n = {r.get("N"): r for r in rows if r.get("benchmark") == "scale" and r.get("status") == "ok"}
    cig = next((r for r in rows if r.get("benchmark") == "cigar"), {})
    out = []

    def add(text, value, limit, unit="s", fmt="{:.2f}", higher=False):
        if value is None or value == "":
            out.append((text, "not run", ""))
            return
        ok = value >= limit if higher else value <= limit
        out.append((text, fmt.format(value) + (f" {unit}" if unit else ""), "yes" if ok else "NO"))

    default = next((k[5:-7] for k in cig if k.startswith("nuts_") and k.endswith("_run1_s")), None)
    if default:
        add(f"cigar NUTS 4 x 1000 ({default}), fit after import < 2.5 s",
            cig.get(f"nuts_{default}_run1_s"), 2.5)
    add("cigar exact sampler < 0.6 s", cig.get("exact_s"), 0.6)
    r3, r300, r1m = by_n.get(3000, {}), by_n.get(300000, {}), by_n.get(1000000, {})
    add("N = 3,000 dense W: whole NUTS fit < 10 s", r3.get("nuts_fit_total_s"), 10)
    add("N = 3,000: exact sampler 4,000 draws < 1 s", r3.get("exact_s"), 1)
    add("N = 300,000: NUTS fit, set-up included, < 120 s", r300.get("nuts_fit_total_s"), 120)
    for r, n, gb in ((r300, "300,000", 8), (r1m, "1,000,000", 16)):
        peaks = [v for k, v in r.items() if k.endswith("_peak_gb") and isinstance(v, int | float)]
        add(f"N = {n}: peak memory < {gb} GB", max(peaks) if peaks else None, gb, "GB")
    add("N = 1,000,000: NUTS fit, set-up included, < 600 s", r1m.get("nuts_fit_total_s"), 600)
    a, b = r3.get("nuts_sampling_only_s"), r300.get("nuts_sampling_only_s")
    if a and b:
        add("sampling time N = 300,000 / N = 3,000 within 2x", max(a, b) / min(a, b), 2, "",
            "{:.2f}x")
    ml = next((r for r in rows if str(r.get("benchmark", "")).startswith("ml")
               and r.get("ratio")), None)
    add("ML N = 3,000: >= 20x faster than spreg ML_LagFE", ml.get("ratio") if ml else None, 20,
        "", "{:.1f}x", higher=True)
    return out


def write_md(path: Path, rows: list[dict], mach: dict, vers: dict, args) -> None:
    scale = [r for r in rows if r.get("benchmark") == "scale"]
    lines = ["# Benchmarks", "",
             f"Generated by `python benchmarks/run_all.py` on {time.strftime('%Y-%m-%d %H:%M')} "
             f"(options: {' '.join(sys.argv[1:]) or 'none'}).", "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in mach.items()]
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in vers.items()), ""]
    lines += ["## Scaling (bench_scale.py)", "",
              f"T = {args.t}, K = {args.k}; SDM with two-way fixed effects; data drawn with "
              "rho = 0.4; NUTS and the exact sampler draw "
              f"{args.chains} chains x {args.draws} (NUTS after {args.tune} tuning steps).  "
              "N <= 3,000: dense inverse economic-distance W (eigenvalues); above: k-NN (k = 6) "
              "sparse W (Chebyshev interpolation of sparse LU log-determinants).  Peak GB is "
              "the largest per-stage resident high-water mark of the process.", ""]
    lines.append("| " + " | ".join(h for _, h in SCALE_COLS) + " |")
    lines.append("|" + "---|" * len(SCALE_COLS))
    for r in scale:
        r = dict(r)
        peaks = [v for k, v in r.items() if k.endswith("_peak_gb") and isinstance(v, int | float)]
        r["peak_gb"] = max(peaks) if peaks else ""
        if r.get("status") != "ok":
            lines.append(f"| {r['N']} | {r.get('status')} {r.get('error', '')} |" +
                         " |" * (len(SCALE_COLS) - 2))
            continue
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c, _ in SCALE_COLS) + " |")
    notes = []
    for r in scale:
        for key in ("nuts_note", "ml_note", "spreg_note"):
            if r.get(key):
                notes.append(f"- N={r['N']}: {key.split('_')[0]} {r[key]}")
        if "nuts_symbolic_slope_error" in r:
            notes.append(f"- N={r['N']}: NUTS used the Chebyshev interpolant of the eigenvalue "
                         f"log-determinant (max slope error "
                         f"{_fmt(r['nuts_symbolic_slope_error'])}, measured exactly)")
        if "cheb_vs_eigen_slope_error" in r:
            notes.append(f"- N={r['N']}: Chebyshev (dense LU, {_fmt(r.get('cheb_build_s'))} s) "
                         f"against the eigenvalues: max slope error "
                         f"{_fmt(r['cheb_vs_eigen_slope_error'])} over the domain; posterior "
                         f"mean of rho differs by {_fmt(r['cheb_vs_eigen_rho_mean_diff_sd'], 3)} "
                         "posterior sd (contract: < 0.05)")
        if r.get("status") == "ok":
            notes.append(f"- N={r['N']}: posterior mean of rho: exact "
                         f"{_fmt(r.get('rho_mean_exact'), 4)} (sd {_fmt(r.get('rho_sd_exact'), 4)})"
                         f", NUTS {_fmt(r.get('rho_mean_nuts'), 4)}, ML "
                         f"{_fmt(r.get('rho_ml'), 4)}, spreg (unit FE) "
                         f"{_fmt(r.get('rho_spreg'), 4)}")
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += ["", "Columns: *set-up s* = building W + the sufficient statistics (simulating y "
              "apart); *log-det s* = `make_logdet(w, 'auto')` cold (cache off); *max slope err "
              "(measured)* = largest absolute error of d/drho log det(I - rho W) against exact LU at test "
              "points around the posterior (and -0.5, 0.9 below N = 300,000); *slope err bound* "
              "= the adaptive fit's over-estimate over the whole domain; *(T-1) err sd(rho)* = "
              "the resulting shift of the posterior of rho in posterior sds; *NUTS s (total)* = "
              "model + compilation + sampling (`sampling.sample_nuts`, target_accept 0.9, flat "
              "priors); *fit s* = set-up + log-det + NUTS, the whole fit; *NUTS sampling s* = "
              "the sampler's own sampling time; ESS is the bulk ESS of rho."]
    lines += ["", "## Targets (issue 6)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {ok} |" for t, m, ok in targets(rows)]
    cig = [r for r in rows if r.get("benchmark") == "cigar"]
    if cig:
        lines += ["", "## Small panel: cigar (N = 46, T = 30), two-way SDM", ""]
        lines += [f"- {k}: {_fmt(v, 3)}" for k, v in cig[0].items() if k != "benchmark"]
    ml = [r for r in rows if str(r.get("benchmark", "")).startswith("ml")]
    if ml:
        lines += ["", "## ML against spreg (bench_ml.py)", ""]
        for r in ml:
            lines += [f"- {k}: {_fmt(v, 3)}" for k, v in r.items()]
            lines.append("")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description="run the bayes_sdm benchmarks")
    p.add_argument("--n", default=None, help="comma-separated N list (default all five)")
    p.add_argument("--max-n", type=int, default=None)
    p.add_argument("--t", type=int, default=10)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--nuts-sampler", default="auto")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per N")
    p.add_argument("--no-cigar", action="store_true")
    p.add_argument("--no-ml-bench", action="store_true")
    p.add_argument("--out", default=str(HERE), help="folder for results.csv / results.md")
    p.add_argument("--add-rows", default=None,
                   help="JSON list of bench_scale rows (bench_scale.py --json) to merge into "
                        "the saved results.json and re-render, without running anything")
    p.add_argument("--cluster", default=None,
                   help="also run bench_dask.py (the Dask scale-out: Parquet panel out of core "
                        "with 1 and K workers, SBC in process vs K workers); local:K")
    p.add_argument("--whole-process", action="store_true",
                   help="instead: whole-process timings of the CLI against bayespecon "
                        "(peer_bayespecon.py -> peer_results.md; the peer's environment is "
                        "set up by hand, see that file)")
    p.add_argument("--cases", default=None,
                   help="with --whole-process: comma-separated cases (default all four)")
    p.add_argument("--repeats", type=int, default=1, help="with --whole-process: warm repeats")
    p.add_argument("--logdet-crossover", action="store_true",
                   help="instead: the eigen / Chebyshev crossover (bench_logdet.py -> "
                        "logdet_crossover.md)")
    p.add_argument("--input-stage", action="store_true",
                   help="instead: the CLI input stage at 10^4-10^6 units (bench_input.py -> "
                        "input_stage.md)")
    p.add_argument("--make-run", action="store_true",
                   help="instead: what make run runs, whole process, cold and warm "
                        "(bench_make_run.py -> make_run_results.md)")
    p.add_argument("--dynamic-peer", action="store_true",
                   help="instead: the dynamic SDM against bayespecon on one simulated panel "
                        "(peer_dynamic.py -> peer_dynamic.md)")
    args = p.parse_args(argv)
    if args.cluster:
        import bench_dask

        if not args.cluster.startswith("local:"):
            p.error("--cluster: the benchmark starts its own LocalClusters; give local:K")
        k = args.cluster.split(":", 1)[1]
        bench_dask.main(["--workers", f"1,{k}", "--json", str(HERE / "dask_results.json")])
    extra = []
    if args.whole_process:
        extra.append(["peer_bayespecon.py", "--repeats", str(args.repeats)]
                     + (["--cases", args.cases] if args.cases else []))
    if args.logdet_crossover:
        extra.append(["bench_logdet.py"])
    if args.input_stage:
        extra.append(["bench_input.py"])
    if args.dynamic_peer:
        extra.append(["peer_dynamic.py", "--repeats", str(args.repeats)])
    if args.make_run:
        extra.append(["bench_make_run.py", "--repeats", str(max(args.repeats, 3))])
    if extra:
        rc = 0
        for cmd in extra:
            print(f"[run_all] {' '.join(cmd)} ...", file=sys.stderr, flush=True)
            rc |= subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]],
                                 check=False).returncode
        return rc
    import bench_scale
    import pandas as pd

    out = Path(args.out)
    if args.add_rows:
        saved = json.loads((out / "results.json").read_text())
        extra = json.loads(Path(args.add_rows).read_text())
        keep = [r for r in saved["rows"] if not (r.get("benchmark") == "scale" and
                                                 r.get("N") in {e.get("N") for e in extra})]
        rows = keep + extra
        rows.sort(key=lambda r: (r.get("benchmark") != "cigar", r.get("benchmark") != "scale",
                                 r.get("N") or 0))
        _write(out, rows, saved["machine"], saved["versions"], args, pd)
        return
    ns = [int(v) for v in args.n.split(",")] if args.n else list(bench_scale.DEFAULT_NS)
    mach, vers = machine(), versions()
    rows = []
    if not args.no_cigar:
        print("[run_all] cigar ...", file=sys.stderr, flush=True)
        r = _subprocess_json([str(HERE / "bench_scale.py"), "--cigar", "--draws", str(args.draws),
                              "--tune", str(args.tune), "--chains", str(args.chains)],
                             args.timeout) or {}
        r.setdefault("benchmark", "cigar")
        rows.append(r)
    rows += bench_scale.run(ns, max_n=args.max_n, timeout=args.timeout, t=args.t, k=args.k,
                            draws=args.draws, tune=args.tune, chains=args.chains,
                            nuts_sampler=args.nuts_sampler)
    if not args.no_ml_bench:
        print("[run_all] bench_ml ...", file=sys.stderr, flush=True)
        rows += run_ml_bench()
    _write(out, rows, mach, vers, args, pd)


def _write(out: Path, rows, mach, vers, args, pd) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(
        {"rows": rows, "machine": mach, "versions": vers}, indent=1, default=float))
    df = pd.DataFrame(rows)
    for k, v in mach.items():
        df[f"machine_{k}"] = v
    for k, v in vers.items():
        df[f"version_{k}"] = v
    df.to_csv(out / "results.csv", index=False)
    write_md(out / "results.md", rows, mach, vers, args)
    print(f"wrote {out / 'results.csv'} and {out / 'results.md'}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
