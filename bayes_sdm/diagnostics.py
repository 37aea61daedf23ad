"""Convergence diagnostics with thresholds and a pass/fail per parameter (ArviZ).

Per scalar parameter (rho | lambda, beta[k], theta[k], sigma2 and every effect, which are
functions of the parameters and must mix too): rank-normalised split r_hat, bulk and tail
effective sample sizes and the Monte Carlo standard errors of the mean and sd (Vehtari, Gelman,
Simpson, Carpenter & Buerkner 2021, "Rank-normalization, folding, and localization: an improved
R-hat", Bayesian Analysis 16:667-718).  Sampler checks of Hamiltonian Monte Carlo (Betancourt
2016, "Diagnosing suboptimal cotangent disintegrations in HMC", arXiv:1604.00695; Betancourt 2017,
"A conceptual introduction to HMC", arXiv:1701.02434): divergent transitions, saturation of the
maximum tree depth and the energy Bayesian fraction of missing information (E-BFMI) per chain.

Thresholds (:class:`Thresholds`):

===========================  ==========  =============================================
check                        threshold   effect
===========================  ==========  =============================================
r_hat                        <= 1.01     a parameter fails (not available with one chain)
ess_bulk, ess_tail           >= 400      a parameter fails (100 per chain for 4 chains)
divergent transitions        0           the fit fails
E-BFMI (each chain)          >= 0.3      the fit fails
tree-depth saturation        <= 1%       a warning (efficiency, not validity)
log-determinant shift        <= 0.01     the fit fails
===========================  ==========  =============================================

The log-determinant check: an approximate log|I - rho W| (Chebyshev interpolation, stochastic
traces) has a slope error delta; it tilts the log-posterior of rho by a * delta * rho (a = T - 1
for two-way effects) and moves the posterior by about a * delta * sd(rho) posterior standard
deviations.  :func:`bayes_sdm.api.fit` records the bound over the posterior mean +- 4 sd in the
attribute ``logdet_posterior_shift`` (:meth:`bayes_sdm.logdet.LogDet.posterior_shift_bound`);
exact methods record 0.

A draw set without sample statistics (the exact grid sampler) is judged on the per-parameter
checks alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DiagnosticsFailed
from .reporting import PARAMETER_VARS, flat_summary, is_regional, summary_vars

PER_PARAMETER_COLUMNS = ["parameter", "r_hat", "ess_bulk", "ess_tail", "mcse_mean", "mcse_sd",
                         "r_hat_ok", "ess_bulk_ok", "ess_tail_ok", "passed"]


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail thresholds (see the module docstring)."""

    r_hat: float = 1.01
    ess_bulk: float = 400.0
    ess_tail: float = 400.0
    divergences: int = 0
    ebfmi: float = 0.3
    treedepth_fraction: float = 0.01
    logdet_shift: float = 0.01

    def to_dict(self) -> dict:
        return {"r_hat": self.r_hat, "ess_bulk": self.ess_bulk, "ess_tail": self.ess_tail,
                "divergences": self.divergences, "ebfmi": self.ebfmi,
                "treedepth_fraction": self.treedepth_fraction, "logdet_shift": self.logdet_shift}


@dataclass
class Diagnostics:
    """Result of :func:`diagnose`.

    Attributes
    ----------
    per_parameter : DataFrame with :data:`PER_PARAMETER_COLUMNS`
    divergences : number of divergent transitions (post-warm-up, all chains)
    treedepth_saturated : number of transitions that hit the maximum tree depth
    ebfmi : E-BFMI per chain (empty without energy statistics)
    n_draws : chains x draws
    max_treedepth : the largest tree depth reached (None when not recorded)
    has_sampler_stats : whether HMC sample statistics were available
    logdet_shift : the log-determinant's bound on the shift of the posterior of rho, in
        posterior sds (None when not recorded)
    summary : the :func:`~bayes_sdm.reporting.flat_summary` the checks were made on (means,
        sds and HDIs too; :func:`~bayes_sdm.reporting.summary_table` takes its rows)
    """

    per_parameter: pd.DataFrame
    divergences: int
    treedepth_saturated: int
    ebfmi: list[float]
    n_draws: int
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_treedepth: int | None = None
    has_sampler_stats: bool = True
    logdet_shift: float | None = None
    summary: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def treedepth_fraction(self) -> float:
        return self.treedepth_saturated / self.n_draws if self.n_draws else 0.0

    @property
    def ebfmi_ok(self) -> bool:
        return all(e >= self.thresholds.ebfmi for e in self.ebfmi if np.isfinite(e))

    @property
    def passed(self) -> bool:
        t = self.thresholds
        return bool(self.per_parameter["passed"].all() and self.divergences <= t.divergences
                    and self.ebfmi_ok and self.logdet_ok)

    @property
    def logdet_ok(self) -> bool:
        return self.logdet_shift is None or self.logdet_shift <= self.thresholds.logdet_shift

    def failures(self) -> list[str]:
        """One line per failed check (empty when :attr:`passed`)."""
        t = self.thresholds
        out = []
        for r in self.per_parameter[~self.per_parameter["passed"]].itertuples():
            why = []
            if not r.r_hat_ok:
                why.append(f"r_hat={r.r_hat:.3f} > {t.r_hat}")
            if not r.ess_bulk_ok:
                why.append(f"ess_bulk={r.ess_bulk:.0f} < {t.ess_bulk:.0f}")
            if not r.ess_tail_ok:
                why.append(f"ess_tail={r.ess_tail:.0f} < {t.ess_tail:.0f}")
            out.append(f"{r.parameter}: " + ", ".join(why))
        if self.divergences > t.divergences:
            out.append(f"{self.divergences} divergent transitions (allowed {t.divergences}); "
                       "raise target_accept or reparameterise")
        out += [f"chain {i}: E-BFMI {e:.2f} < {t.ebfmi}" for i, e in enumerate(self.ebfmi)
                if np.isfinite(e) and e < t.ebfmi]
        if not self.logdet_ok:
            out.append(f"the log-determinant's approximation can shift the posterior of rho by "
                       f"{self.logdet_shift:.3g} posterior sd (> {t.logdet_shift}); use "
                       "logdet 'eigen' or 'chebyshev' (or more probes for 'stochastic')")
        return out

    def raise_if_failed(self) -> None:
        """Raise :class:`~bayes_sdm.errors.DiagnosticsFailed` (CLI exit 1) naming every failed
        check; do nothing when :attr:`passed`."""
        if not self.passed:
            raise DiagnosticsFailed("diagnostics failed: " + "; ".join(self.failures()), self)

    def warnings(self) -> list[str]:
        """Advisory findings that do not fail the fit (tree-depth saturation)."""
        t = self.thresholds
        out = []
        if self.treedepth_fraction > t.treedepth_fraction:
            out.append(f"{self.treedepth_saturated} transitions ({100 * self.treedepth_fraction:.1f}%)"
                       f" hit the maximum tree depth (> {100 * t.treedepth_fraction:.0f}%): "
                       "sampling is inefficient; consider a larger max_treedepth")
        if not self.has_sampler_stats:
            out.append("no HMC sample statistics (divergences, tree depth, E-BFMI not checked)")
        if self.n_draws and self.per_parameter["r_hat"].isna().all():
            out.append("r_hat is not available with one chain (run 2 or more chains to compare "
                       "them); the ESS, MCSE and sampler checks still apply")
        return out

    def table(self) -> pd.DataFrame:
        """The per-parameter table (a copy)."""
        return self.per_parameter.copy()

    def to_dict(self) -> dict:
        """JSON-ready dict (the ``diagnostics.json`` format): passed, max_r_hat, min_ess_bulk,
        min_ess_tail, divergences, treedepth_saturated, ebfmi, ..., failures, warnings,
        parameters (per-parameter records)."""
        p = self.per_parameter

        def num(v):
            v = float(v)
            return v if np.isfinite(v) else None

        records = []
        for r in p.to_dict(orient="records"):
            records.append({k: (num(v) if isinstance(v, float | np.floating) else
                                bool(v) if isinstance(v, bool | np.bool_) else v)
                            for k, v in r.items()})
        return {
            "passed": self.passed,
            "max_r_hat": num(p["r_hat"].max()),
            "min_ess_bulk": num(p["ess_bulk"].min()),
            "min_ess_tail": num(p["ess_tail"].min()),
            "max_mcse_mean": num(p["mcse_mean"].max()),
            "divergences": int(self.divergences),
            "treedepth_saturated": int(self.treedepth_saturated),
            "treedepth_fraction": float(self.treedepth_fraction),
            "max_treedepth": self.max_treedepth,
            "ebfmi": [float(e) for e in self.ebfmi],
            "min_ebfmi": float(min(self.ebfmi)) if self.ebfmi else None,
            "n_draws": int(self.n_draws),
            "n_parameters": int(len(p)),
            "n_parameters_failed": int((~p["passed"]).sum()),
            "logdet_posterior_shift": self.logdet_shift,
            "thresholds": self.thresholds.to_dict(),
            "failures": self.failures(),
            "warnings": self.warnings(),
            "parameters": records,
        }


def _stat(ss, *names):
    for n in names:
        if n in ss:
            return np.asarray(ss[n].values)
    return None


def _ebfmi(idata) -> list[float]:
    """E-BFMI per chain: sum (E_n - E_{n-1})^2 / sum (E_n - mean E)^2 (Betancourt 2016)."""
    try:
        energy = np.asarray(idata["sample_stats"]["energy"].transpose("chain", "draw").values,
                            dtype=float)
    except (KeyError, ValueError):
        return []
    if energy.shape[1] < 2:
        return []
    num = np.square(np.diff(energy, axis=1)).sum(axis=1)
    den = np.square(energy - energy.mean(axis=1, keepdims=True)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return [float(v) for v in num / den]


def diagnose(idata, var_names=None, thresholds: Thresholds | None = None) -> Diagnostics:
    """r_hat, ess_bulk, ess_tail, MCSE and pass/fail per scalar parameter, plus sampler checks.

    Parameters
    ----------
    idata : ArviZ DataTree with a ``posterior`` (and, for HMC, ``sample_stats``)
    var_names : posterior variables to check (default: rho/lambda, beta, theta, sigma2 and
        effects; for regional fits the reported parameters and hyper-parameters
        (:func:`bayes_sdm.reporting.summary_vars`) and the region effects)
    thresholds : :class:`Thresholds`
    """
    t = thresholds or Thresholds()
    post = idata["posterior"]
    if var_names is None and is_regional(idata):
        var_names = [v for v in summary_vars(post) if v in post.data_vars] + ["effects"]
    elif var_names is None:
        var_names = [v for v in (*PARAMETER_VARS, "effects") if v in post.data_vars]
    tab = flat_summary(idata, var_names)
    per = tab[["parameter", "r_hat", "ess_bulk", "ess_tail", "mcse_mean", "mcse_sd"]].copy()
    single_chain = int(post.sizes["chain"]) < 2
    # one chain: r_hat compares chains and is not available (NaN); the other checks apply
    per["r_hat_ok"] = True if single_chain else per["r_hat"] <= t.r_hat
    per["ess_bulk_ok"] = per["ess_bulk"] >= t.ess_bulk
    per["ess_tail_ok"] = per["ess_tail"] >= t.ess_tail
    per["passed"] = per["r_hat_ok"] & per["ess_bulk_ok"] & per["ess_tail_ok"]
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    div = sat = 0
    depth = None
    ebfmi: list[float] = []
    has_ss = "sample_stats" in idata.children
    if has_ss:
        ss = idata["sample_stats"]
        d = _stat(ss, "diverging")
        div = int(d.sum()) if d is not None else 0
        s = _stat(ss, "reached_max_treedepth", "maxdepth_reached")
        sat = int(s.sum()) if s is not None else 0
        dd = _stat(ss, "tree_depth", "depth")
        depth = int(dd.max()) if dd is not None and dd.size else None
        ebfmi = _ebfmi(idata)
        has_ss = d is not None or "energy" in ss
    shift = idata.attrs.get("logdet_posterior_shift")
    return Diagnostics(per[PER_PARAMETER_COLUMNS].reset_index(drop=True), div, sat, ebfmi,
                       n_draws, t, depth, has_ss,
                       None if shift is None else float(shift), tab)
