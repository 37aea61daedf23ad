"""Benchmark: what ``make run`` runs, as a user waits for it.

``scripts/fit_region.py --spec models/seed_study_regional.yaml`` (the seed study's hierarchical
regional SDM: 176 cities, 3 regions, partial pooling on the full inverse economic-distance W,
NUTS 4 x 1,000 after 1,000) in fresh processes under ``/usr/bin/time -v``: first with every
cache empty (bayes_sdm's, numba's -- the closed-form sampler's callbacks --, PyTensor's: the
first run on a new machine), then ``--repeats`` times warm.  Each row gives the whole process
(wall, CPU, peak memory) beside the fit as the CLI reports it after imports (``done: fit X s
(sampling Y s)``), and the load average when it ran.

Targets (issue 14): fit <= 10 s warm on an idle machine; a cold first run adds <= 15 s.

Usage: ``python benchmarks/bench_make_run.py [--repeats 3]`` (``make bench
ARGS=--make-run``); writes ``make_run_results.json`` and ``make_run_results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from peer_bayespecon import _parse_time_v, tool_env  # noqa: E402

SPEC = ROOT / "models" / "seed_study_regional.yaml"
DONE = re.compile(r"done: fit ([\d.]+) s \(sampling ([\d.]+) s\)")
STAGE = re.compile(r"^\s*(compiling|sampling)[^.]*\.\.\. ([\d.]+) s", re.M)


def make_run_cmd(out: Path) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "fit_region.py"), "--spec", str(SPEC),
            "--out", str(out)]


def parse(text: str) -> dict:
    """The fit's and the stages' times from the CLI's output."""
    rec = {}
    m = DONE.search(text)
    if m:
        rec["fit_s"], rec["sampling_s"] = float(m.group(1)), float(m.group(2))
    for name, sec in STAGE.findall(text):
        rec[f"{name}_stage_s"] = float(sec)
    return rec


def run(repeats: int, timeout: float) -> list[dict]:
    base = Path(tempfile.mkdtemp(prefix="make-run-"))
    env = tool_env(base)
    rows = []
    for caches in ["cold"] + ["warm"] * repeats:
        out = base / "out"
        rec = {"caches": caches, "load": os.getloadavg()[0]}
        try:
            res = subprocess.run(["/usr/bin/time", "-v", *make_run_cmd(out)],
                                 capture_output=True, text=True, env=env, timeout=timeout,
                                 check=False)
        except subprocess.TimeoutExpired:
            rec["rc"] = "timeout"
        else:
            rec.update(_parse_time_v(res.stderr), rc=res.returncode)
            rec.update(parse(res.stdout + "\n" + res.stderr))
        rows.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
    shutil.rmtree(base, ignore_errors=True)
    return rows


def render(rows: list[dict], info: dict) -> str:
    out = ["# `make run` as a user waits for it", "",
           f"{info['date']}, commit {info['commit']}, {info['cpus']} CPUs; "
           "whole process under `/usr/bin/time -v`, fit as the CLI reports it after imports.",
           "", "| caches | load | whole process | CPU | peak | fit (after import) | "
           "compiling | sampling | exit |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        nan = float("nan")
        out.append(f"| {r['caches']} | {r['load']:.1f} | {r.get('wall_s') or nan:.1f} s "
                   f"| {r.get('cpu_s') or nan:.1f} s | {r.get('peak_mb') or nan:.0f} MB "
                   f"| {r.get('fit_s', nan):.1f} s | {r.get('compiling_stage_s', nan):.1f} s "
                   f"| {r.get('sampling_stage_s', nan):.1f} s | {r.get('rc')} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="warm runs after the cold one")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--json", default=str(HERE / "make_run_results.json"))
    p.add_argument("--md", default=str(HERE / "make_run_results.md"))
    a = p.parse_args(argv)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "cpus": os.cpu_count()}
    rows = run(a.repeats, a.timeout)
    Path(a.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    Path(a.md).write_text(render(rows, info))
    print(render(rows, info))
    return 0 if all(r.get("rc") == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
