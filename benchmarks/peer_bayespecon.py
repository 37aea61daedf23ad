"""Whole-process benchmark against the peer, bayespecon (benchmark environment only).

Each fit is timed as a user meets it: one process, imports, reading the CSV, building W,
compiling and sampling included, measured from outside with ``/usr/bin/time -v`` (wall, user +
sys CPU, and the peak resident memory of the largest single process: sampler worker processes
are separate processes).  Commands of a case run in turn in the same session so that their
ratios share the machine's load.

Rows (two-way fixed-effects SDM, 4 chains x 1,000 draws after 1,000 tuning; data written by
``peer_data.py``):

* ``cigar``     N = 46, T = 30 (Baltagi), the bundled usa46 W;
* ``econ3000``  N = 3,000, T = 10, K = 6, dense inverse economic-distance W;
* ``knn3000``   N = 3,000, T = 10, K = 6, k-NN W (k = 6) from coordinates;
* ``knn30000``  N = 30,000, T = 10, K = 6, k-NN W (k = 6).

Commands per row:

``bayespecon``   ``SDMPanelFE(formula, data, W, effects="two_way").fit(draws=1000, tune=1000,
                 chains=4, sampler="nuts")`` -- its defaults otherwise (priors, log-determinant
                 choice, ``pm.sample``), run by this file's ``peer`` sub-command in the peer's own
                 virtual environment (``benchmarks/_work/venv``; see ``--peer-python``);
``bayes_sdm``    ``scripts/fit_region.py`` on the same CSV (``--weights economic-distance:gdp`` or
                 ``knn:6:px,py``; cigar as ``--dataset cigar``), default NUTS sampler and the
                 seed-study priors, 4 x 1,000 after 1,000;
``bayes_sdm exact``  the same with ``--sampler exact --priors flat`` (independent draws).

Caches: ``cold`` runs get empty PyTensor compile directories and an empty bayes_sdm cache (and
an empty user cache directory for the peer); ``warm`` runs reuse the directories a cold run of
the same command filled.  Order per row: cold peer, cold ours, then ``--repeats`` warm pairs
(peer, ours, ours exact).

Setting up the peer (never a test or CI dependency; done once by hand)::

    apt-get install -y libsuitesparse-dev            # SuiteSparse 5 headers (Debian 12)
    git clone <bayespecon snapshot> benchmarks/_work/bayespecon
    #   (or, from a bare mirror: git --git-dir=<mirror> archive HEAD | tar -x -C <that folder>;
    #    measured at knaaptime/bayespecon 7b2ff12, 2026-07-20)
    python3.12 -m venv benchmarks/_work/venv
    benchmarks/_work/venv/bin/pip install -c constraints.txt pymc==6.4.0 pytensor arviz \\
        libpysal formulaic lazy_loader numpy scipy pandas polyagamma psutil "scikit-sparse<0.5"
    SETUPTOOLS_SCM_PRETEND_VERSION=0.0.0 benchmarks/_work/venv/bin/pip install --no-deps \\
        -e benchmarks/_work/bayespecon

(bayespecon asks for scikit-sparse >= 0.5, which needs SuiteSparse 7 and does not build against
Debian 12's SuiteSparse 5; with 0.4 its KLU/UMFPACK paths fall back to scipy's SuperLU, as they
do without scikit-sparse.)

Usage::

    python benchmarks/peer_data.py                          # the CSVs, once
    python benchmarks/peer_bayespecon.py [--cases cigar,knn3000] [--repeats 1]
        -> benchmarks/peer_results.md, peer_results.json
    benchmarks/_work/venv/bin/python benchmarks/peer_bayespecon.py peer knn3000   # one peer fit

The dynamic SDM against bayespecon's ``SDMUPanelDynamic`` uses the same environment:
``peer_dynamic.py`` (``peer_dynamic.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work" / "peer"
PEER_PY = HERE / "_work" / "venv" / "bin" / "python"
CASES = ("cigar", "econ3000", "knn3000", "knn30000")
XS = ["x1", "x2", "x3", "x4", "x5", "x6"]


# ------------------------------------------------------------------------- the peer's process
def peer_fit(case: str, draws: int = 1000, tune: int = 1000, chains: int = 4) -> dict:
    """One bayespecon fit, as a user writes it (runs in the peer's environment)."""
    t0 = time.perf_counter()
    # arviz first: imported lazily (lazy_loader 0.6) it is first touched while arviz_base is
    # half-initialised when the draws are converted, and the fit dies with a circular-import
    # ImportError after sampling (bayespecon at 7b2ff12, arviz 1.3, PyMC 6.4)
    import arviz  # noqa: F401
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from bayespecon.models import SDMPanelFE

    t_import = time.perf_counter() - t0
    if case == "cigar":
        meta = json.loads((WORK / "cigar.json").read_text())
        df = pd.read_csv(WORK / "cigar.csv")
        wdf = pd.read_csv(WORK / "cigar_w.csv", index_col=0)
        unit, time_col, y, xs = meta["unit"], meta["time"], meta["y"], meta["x"]
        order = sorted(df[unit].unique())
        w = sp.csr_matrix(wdf.loc[order, order].to_numpy())
    else:
        df = pd.read_csv(WORK / f"{case}.csv")
        unit, time_col, y, xs = "id", "year", "y", XS
        units = np.sort(df[unit].unique())
        per_unit = df.groupby(unit).first().loc[units]
        n = len(units)
        if case.startswith("econ"):
            g = df.groupby(unit)["gdp"].mean().loc[units].to_numpy()
            c = np.abs(g[:, None] - g[None, :])
            np.fill_diagonal(c, np.inf)
            c = 1.0 / c
            w = sp.csr_matrix(c / c.sum(axis=1, keepdims=True))
        else:
            from scipy.spatial import cKDTree

            xy = per_unit[["px", "py"]].to_numpy()
            _, nb = cKDTree(xy).query(xy, k=7)
            w = sp.csr_matrix((np.full(n * 6, 1 / 6), (np.repeat(np.arange(n), 6),
                                                        nb[:, 1:].ravel())), shape=(n, n))
    formula = f"{y} ~ " + " + ".join(xs)
    model = SDMPanelFE(formula=formula, data=df, W=w, unit_col=unit, time_col=time_col,
                       effects="two_way")
    idata = model.fit(draws=draws, tune=tune, chains=chains, sampler="nuts", progressbar=False,
                      random_seed=20260101)
    rho = idata.posterior["rho"].values
    return {"tool": "bayespecon", "case": case, "import_s": round(t_import, 2),
            "total_in_process_s": round(time.perf_counter() - t0, 2),
            "rho_mean": float(rho.mean()), "rho_sd": float(rho.std()),
            # the method its auto-selection resolved (``logdet_method`` is the argument, None)
            "logdet_method": str(getattr(model, "_resolved_logdet_method", None)
                                 or getattr(model, "logdet_method", None))}


# ------------------------------------------------------------------------- commands and timing
def ours_cmd(case: str, out: Path, exact: bool = False) -> list[str]:
    cmd = [sys.executable, str(ROOT / "scripts" / "fit_region.py")]
    if case == "cigar":
        cmd += ["--dataset", "cigar"]
    else:
        weights = "economic-distance:gdp" if case.startswith("econ") else "knn:6:px,py"
        cmd += ["--data", str(WORK / f"{case}.csv"), "--unit", "id", "--time", "year",
                "--y", "y", "--x", *XS, "--weights", weights]
    cmd += ["--model", "sdm", "--fe", "twoway", "--draws", "1000", "--tune", "1000",
            "--chains", "4", "--out", str(out), "--no-progress", "--quiet"]
    if exact:
        cmd += ["--sampler", "exact", "--priors", "flat"]
    return cmd


def peer_cmd(case: str, python: Path) -> list[str]:
    return [str(python), str(Path(__file__).resolve()), "peer", case]


def _parse_time_v(text: str) -> dict:
    def grab(label):
        m = re.search(rf"{re.escape(label)}:\s*(.+)", text)
        return m.group(1).strip() if m else None

    wall = grab("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    secs = None
    if wall:
        parts = [float(p) for p in wall.split(":")]
        secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    rss = grab("Maximum resident set size (kbytes)")
    user, sys_ = grab("User time (seconds)"), grab("System time (seconds)")
    return {"wall_s": secs, "cpu_s": (float(user) + float(sys_)) if user and sys_ else None,
            "peak_mb": int(rss) / 1024 if rss else None}


def timed(cmd: list[str], env: dict, timeout: float) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``; wall, CPU, peak memory, exit code, output tail."""
    t0 = time.perf_counter()
    try:
        out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                             env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"rc": "timeout", "wall_s": time.perf_counter() - t0}
    rec = _parse_time_v(out.stderr)
    rec["rc"] = out.returncode
    tail = (out.stdout + "\n" + out.stderr.split("\tCommand being timed")[0]).strip()
    rec["tail"] = tail[-600:]
    for line in out.stdout.splitlines()[::-1]:
        if line.startswith("{") and '"tool"' in line:
            rec.update({k: v for k, v in json.loads(line).items() if k not in ("tool", "case")})
            break
    return rec


def _rho_from_summary(out: Path) -> dict:
    try:
        import csv

        with open(out / "summary.csv") as fh:
            for row in csv.DictReader(fh):
                name = row.get("") or row.get("param") or row.get("parameter") or \
                    next(iter(row.values()))
                if name == "rho":
                    return {"rho_mean": float(row["mean"]), "rho_sd": float(row["sd"])}
    except (OSError, KeyError, ValueError, StopIteration):
        pass
    return {}


def tool_env(d: Path, ours: bool = True) -> dict:
    """The environment of one tool's processes: every cache (PyTensor's compile dir,
    bayes_sdm's, numba's -- the closed-form sampler --, XDG) in the folder ``d``, so that "cold"
    is cold; bytecode written as a user's Python does (this sandbox sets
    PYTHONDONTWRITEBYTECODE, which would recompile every module in every run); bayes_sdm from
    this checkout (``ours``)."""
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={d / 'pytensor'}",
               BAYES_SDM_CACHE=str(d / "bayes_sdm"), XDG_CACHE_HOME=str(d / "xdg"),
               NUMBA_CACHE_DIR=str(d / "numba"), MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not ours:
        env.pop("PYTHONPATH")
    return env


def run_case(case: str, repeats: int, peer_python: Path, timeout: float, skip_peer: bool,
             log) -> list[dict]:
    rows = []
    base = Path(tempfile.mkdtemp(prefix=f"peer-{case}-"))
    dirs = {tool: base / tool for tool in ("peer", "ours")}
    for d in dirs.values():
        d.mkdir()

    def env_for(tool):
        return tool_env(dirs[tool], ours=tool != "peer")

    plan = []
    if not skip_peer:
        plan.append(("bayespecon", "cold", lambda: peer_cmd(case, peer_python), "peer"))
    plan.append(("bayes_sdm", "cold", lambda: ours_cmd(case, base / "out-nuts"), "ours"))
    for _ in range(repeats):
        if not skip_peer:
            plan.append(("bayespecon", "warm", lambda: peer_cmd(case, peer_python), "peer"))
        plan.append(("bayes_sdm", "warm", lambda: ours_cmd(case, base / "out-nuts"), "ours"))
        plan.append(("bayes_sdm exact", "warm",
                     lambda: ours_cmd(case, base / "out-exact", exact=True), "ours"))
    for tool, caches, make, who in plan:
        rec = {"case": case, "tool": tool, "caches": caches}
        rec.update(timed(make(), env_for(who), timeout))
        if tool.startswith("bayes_sdm"):
            rec.update(_rho_from_summary(base / ("out-exact" if "exact" in tool else "out-nuts")))
        rec["load"] = os.getloadavg()[0]
        log(rec)
        rows.append(rec)
    shutil.rmtree(base, ignore_errors=True)
    return rows


def _med(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None


def render(rows: list[dict], info: dict) -> str:
    out = ["# Whole process: bayes_sdm CLI vs bayespecon (two-way SDM, NUTS 4 x 1,000 after "
           "1,000)", "",
           f"Machine: {info['machine']}; {info['cpus']} CPUs; load average at start "
           f"{info['load_start']}, at end {info['load_end']}; {info['date']}.  Each cell is one "
           "process timed with /usr/bin/time -v (median over the warm repeats); peak = the "
           "largest single process's resident high-water mark.  Ratio = bayes_sdm / bayespecon "
           "wall time in the same run.", "",
           "| case | caches | bayespecon wall s (CPU s) | bayespecon peak MB | bayes_sdm NUTS wall s "
           "(CPU s) | bayes_sdm peak MB | ratio wall (CPU) | bayes_sdm exact wall s (CPU s) | "
           "rho: bayespecon / bayes_sdm |",
           "|---|---|---|---|---|---|---|---|---|"]
    for case in dict.fromkeys(r["case"] for r in rows):
        for caches in ("cold", "warm"):
            sel = [r for r in rows if r["case"] == case and r["caches"] == caches]
            if not sel:
                continue

            def pick(tool, key, sel=sel):
                return _med([r.get(key) for r in sel if r["tool"] == tool and r.get("rc") == 0])

            def fails(tool, sel=sel):
                bad = [str(r.get("rc")) for r in sel if r["tool"] == tool and r.get("rc") != 0]
                return f" (failed: rc {', '.join(bad)})" if bad else ""

            pw, ow, ew = pick("bayespecon", "wall_s"), pick("bayes_sdm", "wall_s"), \
                pick("bayes_sdm exact", "wall_s")
            pc, oc, ec = pick("bayespecon", "cpu_s"), pick("bayes_sdm", "cpu_s"), \
                pick("bayes_sdm exact", "cpu_s")
            def r(v):  # three decimals below 0.1 (N = 30,000: about 0.01)
                return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"

            ratio = f"{r(ow / pw)} ({r(oc / pc)})" if pw and ow and pc and oc else "—"

            def f(v, d=1):
                return "—" if v is None else f"{v:.{d}f}"

            rho = f"{f(pick('bayespecon', 'rho_mean'), 3)} / {f(pick('bayes_sdm', 'rho_mean'), 3)}"
            out.append(f"| {case} | {caches} | {f(pw)} ({f(pc)}){fails('bayespecon')} | "
                       f"{f(pick('bayespecon', 'peak_mb'), 0)} | {f(ow)} ({f(oc)})"
                       f"{fails('bayes_sdm')} | {f(pick('bayes_sdm', 'peak_mb'), 0)} | {ratio} | "
                       f"{f(ew)} ({f(ec)}) | {rho} |")
    out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["peer"]:
        print(json.dumps(peer_fit(argv[1])), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--peer-python", default=str(PEER_PY))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--skip-peer", action="store_true", help="bayes_sdm only")
    ap.add_argument("--out", default=str(HERE / "peer_results.md"))
    ap.add_argument("--json", default=str(HERE / "peer_results.json"))
    ap.add_argument("--render", nargs="+", metavar="JSON",
                   help="only render --out from these result files (runs nothing)")
    a = ap.parse_args(argv)
    if a.render:
        parts = [json.loads(Path(f).read_text()) for f in a.render]
        info = dict(parts[0]["info"])
        info["load_end"] = parts[-1]["info"].get("load_end", info.get("load_end", "?"))
        Path(a.out).write_text(render([r for d in parts for r in d["rows"]], info))
        print(Path(a.out).read_text())
        return 0
    peer_python = Path(a.peer_python)
    skip_peer = a.skip_peer
    if not skip_peer and not peer_python.exists():
        print(f"peer environment not found ({peer_python}); see this file's docstring. "
              "Measuring bayes_sdm only.", file=sys.stderr)
        skip_peer = True
    cases = a.cases.split(",")
    subprocess.run([sys.executable, str(HERE / "peer_data.py"), "--cases", ",".join(cases)],
                   check=True)
    info = {"machine": platform.platform(), "cpus": os.cpu_count(),
            "load_start": ", ".join(f"{v:.1f}" for v in os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    rows, done = [], []
    jpath = Path(a.json)

    def log(rec):  # every finished run is in the JSON at once (a long run may be cut short)
        print(json.dumps({k: v for k, v in rec.items() if k != "tail"}), flush=True)
        if rec.get("rc") != 0:
            print(rec.get("tail", ""), file=sys.stderr, flush=True)
        done.append(rec)
        jpath.write_text(json.dumps({"info": info, "rows": done}, indent=1))

    for case in cases:
        rows += run_case(case, a.repeats, peer_python, a.timeout, skip_peer, log)
    info["load_end"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    jpath.write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    Path(a.out).write_text(render(rows, info))
    print(Path(a.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
