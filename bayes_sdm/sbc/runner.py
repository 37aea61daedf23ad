"""Running SBC: prior draw -> simulate -> fit -> ranks (pooled and hierarchical runs)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .core import (
    SBCConfig,
    _Fitter,
    draw_prior,
    make_design,
    quantities,
    sim_ranks,
    simulate_panel,
)
from .result import SBCResult


def run_sbc(cfg: SBCConfig | None = None, progress: bool = False, client=None) -> SBCResult:
    """Run SBC: prior draw -> simulate -> fit -> ranks, ``cfg.n_sims`` times.

    ``client`` (a Dask ``distributed.Client``): the fits run as tasks on its workers, each
    worker compiling the model once (:mod:`bayes_sdm.distributed.sbc`); the same seeds give
    the same ranks."""
    cfg = (cfg or SBCConfig()).validate()
    if client is not None:
        from ..distributed.sbc import run_sbc_on

        return run_sbc_on(client, cfg, progress)
    if cfg.hierarchical:
        from .hierarchical import run_hierarchical

        return run_hierarchical(cfg, progress)
    t0 = time.perf_counter()
    design = make_design(cfg)
    fitter = _Fitter(design)
    t_compile = time.perf_counter() - t0
    prior = draw_prior(design, cfg.n_sims, cfg.seed + 1)
    true_q = quantities(cfg, design.logdet, prior, design.x_names)
    rng = np.random.default_rng(cfg.seed + 2)
    ranks = {q: np.empty(cfg.n_sims, dtype=int) for q in true_q}
    div = np.zeros(cfg.n_sims, dtype=int)
    for i in range(cfg.n_sims):
        y = simulate_panel(design, prior, i, rng)
        r, div[i] = sim_ranks(design, fitter, y, cfg.seed + 1000 + i,
                              {q: v[i] for q, v in true_q.items()})
        for q in true_q:
            ranks[q][i] = r[q]
        if progress and ((i + 1) % max(cfg.n_sims // 10, 1) == 0 or i + 1 == cfg.n_sims):
            el = time.perf_counter() - t0
            print(f"  [{cfg.label}] {i + 1}/{cfg.n_sims} simulations, {el:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    return SBCResult(cfg, pd.DataFrame(ranks), pd.DataFrame(true_q), div, t_compile, wall)
