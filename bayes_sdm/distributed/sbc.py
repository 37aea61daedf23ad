"""Simulation-based calibration on a Dask cluster (:func:`bayes_sdm.sbc.run_sbc` with
``client=``).

The client draws the prior, the true quantities and every simulated panel exactly as the
in-process run does (one random stream, in order); each fit is a task.  A worker builds the
design and compiles the model once (:func:`~bayes_sdm.distributed.cluster.worker_cached`, keyed
by the configuration) and refits every simulation it is given with
:meth:`bayes_sdm.sampling.CompiledNUTS.sample` (``data=``), so a run compiles once per worker,
not once per simulation.  The fit of simulation i uses seed ``seed + 1000 + i``, as in process,
so the ranks are the in-process ranks.  Hierarchical runs rebuild their model per simulation
(as in process) and gain only the parallelism.  A simulation that fails is reported by name
and left out of the ranks; the others are kept.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

import numpy as np
import pandas as pd

from ..errors import NumericalError
from ..sbc.core import SBCConfig, draw_prior, make_design, quantities, sim_ranks, simulate_panel
from ..sbc.result import SBCResult
from .cluster import run_batch, worker_cached


def _key(cfg: SBCConfig) -> str:
    return json.dumps(asdict(cfg), sort_keys=True, default=str)


def _compiled(cfg: SBCConfig):
    from ..sbc.core import _Fitter

    def build():
        t0 = time.perf_counter()
        design = make_design(cfg)
        return design, _Fitter(design), time.perf_counter() - t0

    return worker_cached(("sbc", _key(cfg)), build)


def pooled_task(cfg: SBCConfig, y: np.ndarray, seed: int, truth: dict):
    """One pooled simulation on a worker: (ranks, divergences, build seconds of the worker's
    compiled model)."""
    design, fitter, build_s = _compiled(cfg)
    r, div = sim_ranks(design, fitter, y, seed, truth)
    return r, div, build_s


def hier_task(cfg: SBCConfig, one: dict, y: np.ndarray, seed: int):
    from ..sbc.hierarchical import hier_sim, make_hier_design

    d = worker_cached(("sbc-hier", _key(cfg)), lambda: make_hier_design(cfg))
    r, tv, div = hier_sim(d, one, y, seed)
    return r, tv, div, 0.0


def run_sbc_on(client, cfg: SBCConfig, progress: bool = False) -> SBCResult:
    """:func:`bayes_sdm.sbc.run_sbc` with the fits as tasks on ``client`` (module docstring).

    Raises
    ------
    NumericalError
        every simulation failed.
    """
    t0 = time.perf_counter()
    cfg = cfg.validate()
    names = [f"sim{i:05d}" for i in range(cfg.n_sims)]
    if cfg.hierarchical:
        from ..sbc.hierarchical import draw_hier_prior, make_hier_design, simulate_hier_all

        d = make_hier_design(cfg)
        prior = draw_hier_prior(d, cfg.n_sims, cfg.seed + 1)
        ys = simulate_hier_all(d, prior, cfg.n_sims, cfg.seed + 2)
        jobs = {n: (cfg, {k: v[i:i + 1] for k, v in prior.items()}, ys[i],
                    cfg.seed + 1000 + i) for i, n in enumerate(names)}
        batch = run_batch(client, hier_task, jobs, progress=progress, key_prefix="sbc-hier")
        true_q = None
    else:
        design = make_design(cfg)
        prior = draw_prior(design, cfg.n_sims, cfg.seed + 1)
        true_q = quantities(cfg, design.logdet, prior, design.x_names)
        rng = np.random.default_rng(cfg.seed + 2)
        jobs = {}
        for i, n in enumerate(names):
            y = simulate_panel(design, prior, i, rng)
            jobs[n] = (cfg, y, cfg.seed + 1000 + i, {q: v[i] for q, v in true_q.items()})
        batch = run_batch(client, pooled_task, jobs, progress=progress, key_prefix="sbc")
    if not batch.results:
        raise NumericalError(f"SBC {cfg.label}: every simulation failed; {batch.summary()}")
    for f in batch.failures.values():
        print(f"  [{cfg.label}] {f}", file=sys.stderr, flush=True)
    done = [i for i, n in enumerate(names) if n in batch.results]
    res = [batch.results[names[i]] for i in done]
    ranks = pd.DataFrame([r[0] for r in res], index=done)
    if cfg.hierarchical:
        truth = pd.DataFrame([r[1] for r in res], index=done)
        div = np.array([r[2] for r in res], dtype=int)
        build_s = 0.0
    else:
        truth = pd.DataFrame({q: v[done] for q, v in true_q.items()}, index=done)
        div = np.array([r[1] for r in res], dtype=int)
        build_s = max(r[2] for r in res)
    return SBCResult(cfg, ranks.reset_index(drop=True), truth.reset_index(drop=True), div,
                     build_s, time.perf_counter() - t0, failed=list(batch.failures))
