"""Same-run benchmark of the dynamic spatial Durbin panel against bayespecon (issue 16).

One simulated panel (:func:`bayes_sdm.dynamic.simulate_dynamic`: unit and time effects, X
correlated with the unit effects, 50 burn-in periods) on a k-NN (k = 6) W of random
coordinates, written as CSV files (``dyn<N>.csv``: ``id``, ``year``, ``y``, ``x1`` .. ``x3``;
``dyn<N>_w.csv``: W dense, header and index = ids; ``dyn<N>.json``: the truth) into
``benchmarks/_work/peer/`` (git-ignored).  Truth: tau = 0.4, rho = 0.3, eta = -0.1 (unrestricted),
beta = (1, -0.5, 0.25), theta = (0.4, 0.2, -0.2), sigma = 1, T = 10.

Three whole processes, each timed from outside with ``/usr/bin/time -v`` (wall, user + sys CPU,
peak resident memory of the largest process), in turn in the same session:

``bayespecon``         ``SDMUPanelDynamic(formula, data, W, effects="two_way")`` (unrestricted:
                       phi = tau, theta = eta) ``.fit(draws=1000, tune=1000, chains=4)``, its
                       defaults otherwise (priors, ``target_accept=0.9``, log-determinant choice);
                       it within-transforms all T periods and conditions on the first, so tau
                       carries the O(1/T) Nickell bias (its docstring says so);
``bayes_sdm``          ``scripts/fit_region.py --dynamic --model sdm --fe twoway`` (unrestricted,
                       correlated random effects for the unit effects; default priors and NUTS,
                       4 x 1,000 after 1,000);
``bayes_sdm ML``       the same with ``--ml-only`` (Yu, de Jong & Lee 2008 with their bias
                       correction).

Caches: the first run of each command is ``cold`` (empty PyTensor compile directory, empty
bayes_sdm cache, empty user cache for the peer); ``--repeats`` ``warm`` runs reuse them.

Usage (the peer environment as in ``peer_bayespecon.py``'s docstring)::

    python benchmarks/peer_dynamic.py [--n 200] [--repeats 1]
        -> benchmarks/peer_dynamic.md, peer_dynamic.json
    benchmarks/_work/venv/bin/python benchmarks/peer_dynamic.py peer dyn200     # one peer fit
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work" / "peer"
PEER_PY = HERE / "_work" / "venv" / "bin" / "python"
T = 10
TRUTH = {"tau": 0.4, "rho": 0.3, "eta": -0.1, "beta": [1.0, -0.5, 0.25],
         "theta": [0.4, 0.2, -0.2], "sigma": 1.0}
XS = [f"x{j + 1}" for j in range(len(TRUTH["beta"]))]
PARAMS = ("tau", "rho", "eta")


# ------------------------------------------------------------------------------------ data
def write_data(n: int, seed: int = 2026) -> str:
    """Simulate the panel and write ``dyn<n>.csv``, ``dyn<n>_w.csv``, ``dyn<n>.json``."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from bayes_sdm.dynamic import simulate_dynamic
    from bayes_sdm.weights import knn

    name = f"dyn{n}"
    WORK.mkdir(parents=True, exist_ok=True)
    if (WORK / f"{name}.csv").exists():
        return name
    rng = np.random.default_rng(seed + n)
    ids = tuple(range(n))
    xy = rng.random((n, 2))
    w = knn(xy, ids, 6)
    panel = simulate_dynamic(w, T, tau=TRUTH["tau"], rho=TRUTH["rho"], eta=TRUTH["eta"],
                             beta=TRUTH["beta"], theta=TRUTH["theta"], sigma=TRUTH["sigma"],
                             seed=seed + n)
    unit = np.repeat(np.arange(n), T)
    df = pd.DataFrame({"id": unit, "year": np.tile(np.arange(2001, 2001 + T), n),
                       "y": panel.y.T.ravel()})
    for j, c in enumerate(XS):
        df[c] = panel.X[:, :, j].T.ravel()
    df.to_csv(WORK / f"{name}.csv", index=False)
    m = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix)
    pd.DataFrame(m, index=list(ids), columns=list(ids)).to_csv(WORK / f"{name}_w.csv")
    (WORK / f"{name}.json").write_text(json.dumps({"n": n, "T": T, "seed": seed + n, **TRUTH}))
    return name


# ------------------------------------------------------------------------- the peer's process
def peer_fit(name: str, draws: int = 1000, tune: int = 1000, chains: int = 4) -> dict:
    """One bayespecon dynamic SDM fit, as a user writes it (runs in the peer's environment)."""
    t0 = time.perf_counter()
    import arviz  # noqa: F401  (first: see peer_bayespecon.peer_fit)
    import pandas as pd
    import scipy.sparse as sp
    from bayespecon.models import SDMUPanelDynamic

    t_import = time.perf_counter() - t0
    df = pd.read_csv(WORK / f"{name}.csv")
    wdf = pd.read_csv(WORK / f"{name}_w.csv", index_col=0)
    wdf.columns = wdf.columns.astype(wdf.index.dtype)
    order = sorted(df["id"].unique())  # the peer sorts the rows by (time, unit)
    w = sp.csr_matrix(wdf.loc[order, order].to_numpy())
    model = SDMUPanelDynamic(formula="y ~ " + " + ".join(XS), data=df, W=w, unit_col="id",
                             time_col="year", effects="two_way")
    idata = model.fit(draws=draws, tune=tune, chains=chains, progressbar=False,
                      random_seed=20260101)
    post = idata.posterior
    rec = {"tool": "bayespecon", "case": name, "import_s": round(t_import, 2),
           "total_in_process_s": round(time.perf_counter() - t0, 2),
           "logdet_method": str(getattr(model, "logdet_method", None))}
    for ours, theirs in (("tau", "phi"), ("rho", "rho"), ("eta", "theta")):
        v = post[theirs].values
        rec[f"{ours}_mean"], rec[f"{ours}_sd"] = float(v.mean()), float(v.std())
    return rec


# ------------------------------------------------------------------------------- commands
def ours_cmd(name: str, out: Path, ml: bool) -> list[str]:
    cmd = [sys.executable, str(ROOT / "scripts" / "fit_region.py"),
           "--data", str(WORK / f"{name}.csv"), "--unit", "id", "--time", "year", "--y", "y",
           "--x", *XS, "--weights", str(WORK / f"{name}_w.csv"), "--model", "sdm",
           "--fe", "twoway", "--dynamic", "--dynamic-form", "unrestricted",
           "--out", str(out), "--no-progress", "--quiet"]
    if ml:
        return cmd + ["--ml-only"]
    return cmd + ["--draws", "1000", "--tune", "1000", "--chains", "4"]


def _estimates(path: Path, mean: str, sd: str) -> dict:
    """tau, rho, eta (mean, sd) from a run folder's summary.csv or ml.csv."""
    rec = {}
    try:
        with open(path) as fh:
            for row in csv.DictReader(fh):
                name = next(iter(row.values()))
                for key in ("param", "parameter", "name", "term"):
                    name = row.get(key) or name
                if name in PARAMS:
                    rec[f"{name}_mean"], rec[f"{name}_sd"] = float(row[mean]), float(row[sd])
    except (OSError, KeyError, ValueError):
        pass
    return rec


def run(name: str, repeats: int, peer_python: Path, timeout: float, skip_peer: bool,
        log) -> list[dict]:
    from peer_bayespecon import timed, tool_env

    base = Path(tempfile.mkdtemp(prefix=f"peer-{name}-"))
    dirs = {tool: base / tool for tool in ("peer", "ours")}
    for d in dirs.values():
        d.mkdir()

    def env_for(who):
        return tool_env(dirs[who], ours=who != "peer")

    peer = [str(peer_python), str(Path(__file__).resolve()), "peer", name]
    plan = []
    for caches in ["cold"] + ["warm"] * repeats:
        if not skip_peer:
            plan.append(("bayespecon", caches, peer, "peer", None))
        plan.append(("bayes_sdm", caches, ours_cmd(name, base / "out-bayes", False), "ours",
                     (base / "out-bayes" / "summary.csv", "mean", "sd")))
        plan.append(("bayes_sdm ML", caches, ours_cmd(name, base / "out-ml", True), "ours",
                     (base / "out-ml" / "ml.csv", "estimate", "se")))
    rows = []
    for tool, caches, cmd, who, est in plan:
        rec = {"case": name, "tool": tool, "caches": caches, "load_before": os.getloadavg()[0]}
        rec.update(timed(cmd, env_for(who), timeout))
        if est is not None:
            rec.update(_estimates(*est))
        rec["load"] = os.getloadavg()[0]
        log(rec)
        rows.append(rec)
    shutil.rmtree(base, ignore_errors=True)
    return rows


# ------------------------------------------------------------------------------- report
def _med(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None


def render(rows: list[dict], info: dict) -> str:
    truth = info["truth"]
    out = ["# Dynamic SDM (two-way effects): bayes_sdm CLI vs bayespecon, same simulated panel",
           "",
           f"Panel: N = {info['n']}, T = {T}, K = {len(XS)}, k-NN (k = 6) W; truth tau = "
           f"{truth['tau']}, rho = {truth['rho']}, eta = {truth['eta']} (unrestricted).  "
           f"Machine: {info['machine']}; {info['cpus']} CPUs; load average at start "
           f"{info['load_start']}, at end {info['load_end']}; {info['date']}.  Each cell is one "
           "process timed with /usr/bin/time -v (median over the runs of that row); peak = the "
           "largest single process's resident high-water mark.  Estimates: posterior mean (sd) "
           "for the Bayesian fits, estimate (se) for ML.  bayespecon: `SDMUPanelDynamic`, "
           "two-way within transform, NUTS 4 x 1,000 after 1,000, its defaults; bayes_sdm: "
           "`fit_region.py --dynamic` (correlated random effects, NUTS 4 x 1,000 after 1,000) "
           "and `--dynamic --ml-only` (Yu-de Jong-Lee, bias-corrected).", "",
           "| tool | caches | wall s | CPU s | peak MB | load | tau | rho | eta |",
           "|---|---|---|---|---|---|---|---|---|",
           f"| truth | | | | | | {truth['tau']} | {truth['rho']} | {truth['eta']} |"]

    def f(v, d=1):
        return "—" if v is None else f"{v:.{d}f}"

    for tool in dict.fromkeys(r["tool"] for r in rows):
        for caches in ("cold", "warm"):
            sel = [r for r in rows if r["tool"] == tool and r["caches"] == caches]
            if not sel:
                continue
            ok = [r for r in sel if r.get("rc") == 0]
            bad = [str(r.get("rc")) for r in sel if r.get("rc") != 0]

            def pick(key, ok=ok):
                return _med([r.get(key) for r in ok])

            ests = " | ".join(f"{f(pick(p + '_mean'), 3)} ({f(pick(p + '_sd'), 3)})"
                              for p in PARAMS)
            fail = f" (failed: rc {', '.join(bad)})" if bad else ""
            out.append(f"| {tool}{fail} | {caches} | {f(pick('wall_s'))} | {f(pick('cpu_s'))} | "
                       f"{f(pick('peak_mb'), 0)} | {f(pick('load'))} | {ests} |")
    out += ["", "Notes:", "",
            "- bayespecon within-transforms all T periods and conditions on the first, so its tau "
            "carries the O(1/T) incidental-parameter (Nickell) bias; bayes_sdm's Bayesian fit "
            "models the unit effects as correlated random effects given the first period and the "
            "X means (Wooldridge 2005), its ML fit applies Yu, de Jong & Lee's (2008) correction.",
            "- load: the 1-minute load average when the run ended (the CPU column is the less "
            "load-sensitive one)."]
    if info.get("note"):
        out.append(f"- {info['note']}")
    out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["peer"]:
        print(json.dumps(peer_fit(argv[1])), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="units (T = 10)")
    ap.add_argument("--repeats", type=int, default=1, help="warm runs of each command")
    ap.add_argument("--peer-python", default=str(PEER_PY))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--skip-peer", action="store_true", help="bayes_sdm only")
    ap.add_argument("--out", default=str(HERE / "peer_dynamic.md"))
    ap.add_argument("--json", default=str(HERE / "peer_dynamic.json"))
    ap.add_argument("--note", help="a line for the table's notes (e.g. what else ran)")
    ap.add_argument("--render", nargs="+", metavar="JSON",
                    help="only render --out (and merge into --json) from these result files "
                         "(e.g. a peer run and a --skip-peer run); runs nothing")
    a = ap.parse_args(argv)
    if a.render:
        parts = [json.loads(Path(f).read_text()) for f in a.render]
        info = dict(parts[0]["info"])
        info["load_end"] = parts[-1]["info"].get("load_end", info.get("load_end", "?"))
        if a.note:
            info["note"] = a.note
        rows = [r for d in parts for r in d["rows"]]
        Path(a.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))
        Path(a.out).write_text(render(rows, info))
        print(Path(a.out).read_text())
        return 0
    peer_python = Path(a.peer_python)
    skip_peer = a.skip_peer
    if not skip_peer and not peer_python.exists():
        print(f"peer environment not found ({peer_python}); see peer_bayespecon.py's "
              "docstring. Measuring bayes_sdm only.", file=sys.stderr)
        skip_peer = True
    name = write_data(a.n)
    info = {"machine": platform.platform(), "cpus": os.cpu_count(), "n": a.n, "truth": TRUTH,
            "note": a.note,
            "load_start": ", ".join(f"{v:.1f}" for v in os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    done = []
    jpath = Path(a.json)

    def log(rec):  # every finished run is in the JSON at once
        print(json.dumps({k: v for k, v in rec.items() if k != "tail"}), flush=True)
        if rec.get("rc") != 0:
            print(rec.get("tail", ""), file=sys.stderr, flush=True)
        done.append(rec)
        jpath.write_text(json.dumps({"info": info, "rows": done}, indent=1))

    rows = run(name, a.repeats, peer_python, a.timeout, skip_peer, log)
    info["load_end"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    jpath.write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    Path(a.out).write_text(render(rows, info))
    print(Path(a.out).read_text())
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
