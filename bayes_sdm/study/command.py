"""``replicate_study``: the seed study's five tables in one command (``main(argv) -> exit
code``; ``scripts/replicate_study.py`` is a thin wrapper).

Writes ``--out`` (default ``runs/study-<dataset>``) atomically (:class:`~bayes_sdm.commands.
RunFolder`): ``tables/table{1..5}_*.{csv,md,tex}`` and ``tables/README.md``.  Exit codes
(:mod:`bayes_sdm.commands`): 0 ok; 1 the tables were written but a Bayesian fit's convergence
diagnostics failed (raise ``--draws``); 2 bad input; 3 numerical failure; 130 interrupted.
``--cluster local:K|tcp://...`` runs the three Bayesian fits as Dask tasks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..commands import (
    RunFolder,
    add_cluster_argument,
    add_data_arguments,
    cluster_session,
    load_data,
    run_command,
    spec_from_args,
)
from ..design import LAG_CONVENTIONS
from ..errors import EXIT_DIAGNOSTICS, EXIT_OK, InputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="replicate_study.py",
        description="The seed study's tables (Moran's I, specification tests, SLM/SEM/SDM, "
                    "effects, regions) as CSV, Markdown and LaTeX; default data: the bundled "
                    "synthetic study panel (simulated, not real data).")
    add_data_arguments(p)
    p.add_argument("--spec", help="YAML spec (models/*.yaml) for the data and priors; default "
                   "the seed study's")
    p.add_argument("--out", help="output folder (default runs/study-<dataset>)")
    p.add_argument("--draws", type=int, default=1000,
                   help="posterior draws per chain of each Bayesian fit (default 1000, as "
                        "fit_region; 500 missed the r_hat threshold now and then)")
    p.add_argument("--tune", type=int, help="tuning steps per chain (default: --draws)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--correction", choices=["transform", "none", "bias"],
                   help="ML likelihood convention (default: the spec's, Lee-Yu transform)")
    p.add_argument("--lag-convention", choices=list(LAG_CONVENTIONS),
                   help="QWy: lag then demean (Lee-Yu, default); WQy: demean then lag (splm, "
                        "xsmle)")
    p.add_argument("--moran-assumption", choices=["normality", "randomization"],
                   default="normality")
    p.add_argument("--ml-only", action="store_true",
                   help="skip the Bayesian fits (tables 4 and 5 with the ML columns only; "
                        "seconds)")
    p.add_argument("--quiet", action="store_true")
    add_cluster_argument(p)
    return p


def run(argv: list[str] | None = None) -> int:
    from ..progress import Stages
    from . import write_study

    a = build_parser().parse_args(argv)
    if a.draws < 10 or a.chains < 1 or (a.tune is not None and a.tune < 0):
        raise InputError(f"--draws must be >= 10 and --chains >= 1 (got {a.draws}, {a.chains})")
    spec = spec_from_args(a)
    if a.correction:
        spec.correction = a.correction
    if a.lag_convention:
        spec.lag_convention = a.lag_convention
    spec.validate()
    out = Path(a.out) if a.out else None
    if out is not None:
        RunFolder(out)  # refuse an unwritable --out before any work
    stages = Stages(quiet=a.quiet)
    inputs = load_data(spec.data, need_regions=True, progress=stages)
    out = out or Path("runs") / f"study-{inputs.label}"
    with cluster_session(a.cluster or spec.cluster, a.quiet) as client, RunFolder(out) as tmp:
        res = write_study(inputs, spec, tmp, draws=a.draws,
                          tune=a.draws if a.tune is None else a.tune, chains=a.chains,
                          seed=a.seed, assumption=a.moran_assumption, progress=stages,
                          bayes=not a.ml_only, client=client,
                          command=" ".join(["replicate_study.py", *(argv or [])]))
    failed = {k: d.failures() for k, d in res.bayes.diagnostics.items() if not d.passed}
    stages.finish(f"wrote {out}/tables/")
    if failed:
        for k, f in failed.items():
            print(f"  diagnostics ({k}): {'; '.join(f[:3])}", file=sys.stderr)
        print("convergence diagnostics failed for the Bayesian fits above: the tables are "
              "written; raise --draws", file=sys.stderr)
        return EXIT_DIAGNOSTICS
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv, "replicate_study")
