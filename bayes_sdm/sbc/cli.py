"""Rank-ECDF plots and the ``python -m bayes_sdm.sbc`` command (see :mod:`bayes_sdm.sbc`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .core import SBCConfig
from .runner import run_sbc


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bayes_sdm.sbc",
                                description="Simulation-based calibration of the two-way SDM "
                                            "(and of a deliberately broken likelihood).")
    p.add_argument("--sims", type=int, default=200, help="simulations per run (default 200)")
    p.add_argument("--N", type=int, default=20)
    p.add_argument("--T", type=int, default=5)
    p.add_argument("--K", type=int, default=2)
    p.add_argument("--model", default="sdm", choices=["sdm", "sar", "sem", "sdem", "sac", "slx"])
    p.add_argument("--fe", default="twoway", choices=["twoway", "unit", "time", "none"])
    p.add_argument("--which", default="all",
                   choices=["all", "both", "correct", "broken", "hierarchical", "dynamic",
                            "variance"],
                   help="all: the two-way SDM, the broken (uncorrected) likelihood and the "
                        "hierarchical regional model; both: the first two; dynamic: the "
                        "Bayesian dynamic SDM (correlated random effects) and its wrong within "
                        "version (bayes_sdm.sbc.dynamic; --sims, --N, --T, --K, --draws, "
                        "--tune, --chains, --rank-draws, --seed apply); variance: the period- "
                        "and unit-variance SDMs and the wrong ordinary-within period "
                        "likelihood (bayes_sdm.sbc.variance; the same options apply)")
    p.add_argument("--draws", type=int, default=200, help="posterior draws per chain")
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--rank-draws", type=int, default=99, help="thinned draws L for the ranks")
    p.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc"])
    p.add_argument("--seed", type=int, default=2018)
    p.add_argument("--out", default="runs/sbc")
    p.add_argument("--no-plots", action="store_true")
    from ..commands import add_cluster_argument

    add_cluster_argument(p)
    h = p.add_argument_group("hierarchical run (full-W partially pooled regional SDM; the "
                             "model is rebuilt and recompiled per simulation)")
    h.add_argument("--hier-N", type=int, default=12, help="units (default 12)")
    h.add_argument("--hier-K", type=int, default=1, help="regressors (default 1)")
    h.add_argument("--hier-regions", type=int, default=3, help="regions (default 3)")
    h.add_argument("--hier-draws", type=int, default=100, help="draws per chain (default 100)")
    h.add_argument("--hier-tune", type=int, default=200)
    return p


def _config(a: argparse.Namespace, which: str) -> SBCConfig:
    if which == "hierarchical":
        return SBCConfig(n_sims=a.sims, N=a.hier_N, T=a.T, K=a.hier_K, model=a.model, fe=a.fe,
                         draws=a.hier_draws, tune=a.hier_tune, chains=a.chains,
                         n_rank_draws=a.rank_draws, sampler="pymc", seed=a.seed,
                         hierarchical=True, regions=a.hier_regions)
    return SBCConfig(n_sims=a.sims, N=a.N, T=a.T, K=a.K, model=a.model, fe=a.fe,
                     correction="none" if which == "broken" else "transform",
                     draws=a.draws, tune=a.tune, chains=a.chains,
                     n_rank_draws=a.rank_draws, sampler=a.sampler, seed=a.seed)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when the correct models are calibrated and the broken one is not (a ``broken``
    run alone: 0 when it fails); 1 otherwise; 2 on bad input; 3 failure; 130 interrupted."""
    from ..commands import run_command

    return run_command(_run, argv, "sbc")


def _run(argv: list[str] | None = None) -> int:
    import logging

    a = build_parser().parse_args(argv)
    logging.getLogger("pymc").setLevel(logging.ERROR)
    if a.which == "dynamic":
        if a.cluster:
            raise InputError("the dynamic SBC runs in this process (no --cluster)")
        return _run_dynamic(a)
    if a.which == "variance":
        if a.cluster:
            raise InputError("the variance SBC runs in this process (no --cluster)")
        return _run_variance(a)
    runs = {"all": ["correct", "broken", "hierarchical"], "both": ["correct", "broken"],
            "correct": ["correct"], "broken": ["broken"],
            "hierarchical": ["hierarchical"]}[a.which]
    from ..commands import cluster_session

    with cluster_session(a.cluster) as client:
        return _run_all(a, runs, client)


def _run_all(a, runs, client) -> int:
    results = {}
    for which in runs:
        cfg = _config(a, which)
        if which == "broken" and a.fe == "none":
            raise InputError("the broken model needs fixed effects (--fe twoway)")
        print(f"SBC {cfg.label}: {cfg.n_sims} simulations, N={cfg.N}, T={cfg.T}, K={cfg.K}, "
              f"{cfg.chains}x{cfg.draws} draws ({cfg.sampler})", flush=True)
        res = run_sbc(cfg, progress=True, client=client)
        results[which] = _report(res, Path(a.out) / cfg.label, plots=not a.no_plots)
    ok = (results.get("correct", True) and results.get("hierarchical", True)
          and not results.get("broken", False))
    return 0 if ok else 1


def _report(res, out: Path, plots: bool) -> bool:
    """Write a run's files (:meth:`SBCResult.write`), print its uniformity table and verdict;
    returns whether it is calibrated."""
    res.write(out, plots=plots)
    u = res.uniformity()
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(u[["quantity", "mean_rank", "chi2", "p_chi2", "p_ecdf", "p_pot_c",
                 "passed"]].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    d = res.to_dict()
    print(f"{res.config.label}: {'calibrated' if res.passed else 'NOT calibrated'} "
          f"(min p = {d['min_p']:.3g}); wall {res.wall_s:.1f} s (compile "
          f"{res.compile_s:.1f} s, {d['s_per_sim']:.3f} s/simulation); "
          f"{d['sims_with_divergences']} simulations with divergences; wrote {out}/",
          flush=True)
    return res.passed


def _run_variance(a) -> int:
    """The period- and unit-variance SDMs' SBC and the wrong ordinary-within period likelihood
    (:mod:`bayes_sdm.sbc.variance`): exit 0 when the first two are calibrated and the third
    is not."""
    from .variance import VarianceSBCConfig, run_variance_sbc

    results = {}
    for variance, wrong in (("period", False), ("unit", False), ("period", True)):
        cfg = VarianceSBCConfig(n_sims=a.sims, variance=variance, wrong=wrong, N=a.N, T=a.T,
                                K=a.K, draws=a.draws, tune=a.tune, chains=a.chains,
                                n_rank_draws=a.rank_draws, sampler=a.sampler, seed=a.seed)
        print(f"SBC {cfg.label}: {cfg.n_sims} simulations, N={cfg.N}, T={cfg.T}, K={cfg.K}, "
              f"{cfg.chains}x{cfg.draws} draws ({cfg.sampler})", flush=True)
        res = run_variance_sbc(cfg, progress=True)
        results[cfg.label] = _report(res, Path(a.out) / cfg.label, plots=not a.no_plots)
    ok = (results["variance-period"] and results["variance-unit"]
          and not results["variance-period-within"])
    return 0 if ok else 1


def _run_dynamic(a) -> int:
    """The dynamic SDM's SBC (correlated random effects) and the wrong within version: exit 0
    when the first is calibrated and the second is not."""
    from .dynamic import DynamicSBCConfig, run_dynamic_sbc

    results = {}
    for mu in ("cre", "fixed"):
        cfg = DynamicSBCConfig(n_sims=a.sims, N=a.N, T=a.T, K=a.K, mu=mu, draws=a.draws,
                               tune=a.tune, chains=a.chains, n_rank_draws=a.rank_draws,
                               seed=a.seed)
        label = f"dynamic-sdm-{mu}"
        print(f"SBC {label}: {cfg.n_sims} simulations, N={cfg.N}, T={cfg.T}, K={cfg.K}, "
              f"{cfg.chains}x{cfg.draws} draws", flush=True)
        ranks, table, info = run_dynamic_sbc(cfg, progress=True)
        out = Path(a.out) / label
        out.mkdir(parents=True, exist_ok=True)
        ranks.to_csv(out / "ranks.csv", index=False)
        table.to_csv(out / "uniformity.csv", index=False)
        with pd.option_context("display.width", 140, "display.max_columns", 20):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        print(f"{label}: {'calibrated' if info['passed'] else 'NOT calibrated'}; wall "
              f"{info['wall_s']:.1f} s; {info['divergences']} divergent transitions; wrote "
              f"{out}/", flush=True)
        results[mu] = info["passed"]
    return 0 if results["cre"] and not results["fixed"] else 1


if __name__ == "__main__":
    sys.exit(main())
