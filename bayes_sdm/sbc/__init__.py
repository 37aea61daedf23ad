"""Simulation-based calibration (SBC) of the Bayesian spatial panel models.

Talts, Betancourt, Simpson, Vehtari & Gelman (2018), "Validating Bayesian inference algorithms
with simulation-based calibration", arXiv:1804.06788; Modrak, Moon, Kim, Burkner, Huurre,
Faltejskova, Gelman & Vehtari (2023), "Simulation-based calibration checking for Bayesian
computation: the choice of test quantities shapes sensitivity", Bayesian Analysis.

For s = 1..S: draw parameters from the prior, simulate a panel from the model
(:func:`bayes_sdm.simulate.simulate_y`, with unit and time effects mu_i, alpha_t ~ N(0, 1) that the
Lee-Yu transform must remove), fit it, and record the rank of each true quantity among L
(thinned, near-independent) posterior draws.  If the fitted posterior is the exact posterior of
the simulating model, every rank is discrete-uniform on {0, ..., L}.  Quantities: rho, sigma2,
every beta_k, theta_k and every direct / indirect / total effect (functions of the parameters;
Modrak et al. recommend such derived quantities as extra test quantities).

Uniformity tests per quantity (ranks turned into PIT values u = (r + U(0,1)) / (L + 1), exactly
uniform under calibration):

* chi^2 over ``bins`` equal-probability bins of the ranks;
* the ECDF test of Saeilynoja, Burkner & Vehtari (2022), "Graphical test for discrete uniformity
  and its applications in goodness-of-fit evaluation and multiple sample comparison", Statistics
  and Computing 32:32: simultaneous 1 - alpha bands for the ECDF (adjusted pointwise binomial
  level, by simulation) and the p-value of the observed ECDF's smallest pointwise tail probability;
* ``pot_c`` of ``arviz_stats`` (Tesso & Vehtari) where available.

The verdict of a run: calibrated unless some quantity's smallest p-value falls below
alpha / (number of quantities) (Bonferroni).

The fitted model is :func:`bayes_sdm.pymc_models.build_model` with y held in ``pm.Data`` and
compiled once (nutpie's ``with_data``, or PyMC's NUTS with the step reused).  Its priors are the
default families with fixed scales: they are set once from a reference panel (y standard
normal), so that the prior does not depend on the simulated data (a data-dependent prior would
break SBC).  The deliberately broken variant fits the uncorrected "direct approach" likelihood
(``correction="none"``: NT observations and T log|I - rho W|) to data with two-way effects, and
must fail (sigma2 is shrunk by (N-1)(T-1)/(NT)).

Command line (``make sbc ARGS="..."``)::

    python -m bayes_sdm.sbc [--sims 200] [--N 20] [--T 5]
                            [--which all|both|correct|broken|hierarchical]
                            [--sampler nutpie|pymc] [--out runs/sbc]

writes per run ``ranks.csv``, ``uniformity.csv``, ``sbc.json`` and ``rank_ecdf_<q>.png`` (one
rank-ECDF-difference plot per quantity) plus ``rank_ecdf_all.png``; exit code 0 when the
correct models pass and the broken one fails.

Hierarchical regional model
---------------------------
The full-W partially pooled regional SDM of :mod:`bayes_sdm.regional` (one rho and sigma,
beta_g = beta_mean + beta_tau z_g, theta likewise, coefficients integrated out as the module
does) on a rook lattice split into equal regions (default N = 12, 3 regions, K = 1, T = 5).
Its priors are scaled by sd(y~) inside the hierarchy, so each simulation's model is built with
scales divided by that simulation's sd(y~): the effective priors are then fixed
(:data:`HIER_SCALES` over sd(x~) / sd(Wx~)), as SBC requires.  Data follow the hierarchy's
convention that every unit's equation carries its own region's beta and theta (columns D_g X
and D_g WX), which is simulate_y with per-unit coefficients (:func:`simulate_hier_y`).  The model is rebuilt and recompiled per simulation (the hierarchy
holds the data as constants), so this run costs seconds per simulation.  Quantities: rho,
sigma2, beta_mean, beta_tau, theta_mean, theta_tau, every beta_g, theta_g and every regional
direct / indirect / total effect (origin perspective).
"""

from .cli import main
from .core import (
    SBCConfig,
    SBCDesign,
    draw_prior,
    lattice_weights,
    make_design,
    quantities,
    sbc_priors,
    simulate_panel,
)
from .hierarchical import (
    HIER_SCALES,
    build_hier_model,
    draw_hier_prior,
    hier_quantities,
    make_hier_design,
    simulate_hier_y,
)
from .plots import plot_rank_ecdf
from .result import SBCResult
from .runner import run_sbc
from .uniformity import (
    ECDFBand,
    chi2_uniformity,
    ecdf_band,
    ecdf_test,
    pit_values,
    pot_c_pvalue,
    uniformity_table,
)

__all__ = [
    "ECDFBand", "HIER_SCALES", "SBCConfig", "SBCDesign", "SBCResult", "build_hier_model",
    "chi2_uniformity", "draw_hier_prior", "draw_prior", "ecdf_band", "ecdf_test",
    "hier_quantities", "lattice_weights", "main", "make_design", "make_hier_design",
    "pit_values", "plot_rank_ecdf", "pot_c_pvalue", "quantities", "run_sbc", "sbc_priors",
    "simulate_hier_y", "simulate_panel", "uniformity_table",
]
