"""Convergence diagnostics with thresholds and a pass/fail per parameter (ArviZ).

Thresholds (Vehtari et al. 2021, "Rank-normalization, folding, and localization", Bayesian
Analysis 16:667-718): r_hat <= 1.01, ess_bulk >= 400 and ess_tail >= 400 (for 4 chains), zero
divergences; tree-depth saturation and E-BFMI (< 0.3 flags, Betancourt 2016) are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .reporting import PARAMETER_VARS, flat_summary


@dataclass(frozen=True)
class Thresholds:
    r_hat: float = 1.01
    ess_bulk: float = 400.0
    ess_tail: float = 400.0
    divergences: int = 0
    ebfmi: float = 0.3
    treedepth_fraction: float = 0.01


@dataclass
class Diagnostics:
    """Result of :func:`diagnose`."""

    per_parameter: pd.DataFrame
    divergences: int
    treedepth_saturated: int
    ebfmi: list[float]
    n_draws: int
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def passed(self) -> bool:
        t = self.thresholds
        return bool(self.per_parameter["passed"].all() and self.divergences <= t.divergences
                    and all(e >= t.ebfmi for e in self.ebfmi if np.isfinite(e)))

    def failures(self) -> list[str]:
        t = self.thresholds
        out = [f"{r.parameter}: r_hat={r.r_hat:.3f}, ess_bulk={r.ess_bulk:.0f}, "
               f"ess_tail={r.ess_tail:.0f}" for r in
               self.per_parameter[~self.per_parameter["passed"]].itertuples()]
        if self.divergences > t.divergences:
            out.append(f"{self.divergences} divergent transitions")
        out += [f"chain {i}: E-BFMI {e:.2f} < {t.ebfmi}" for i, e in enumerate(self.ebfmi)
                if np.isfinite(e) and e < t.ebfmi]
        return out

    def to_dict(self) -> dict:
        p = self.per_parameter
        t = self.thresholds
        return {
            "passed": self.passed,
            "max_r_hat": float(p["r_hat"].max()),
            "min_ess_bulk": float(p["ess_bulk"].min()),
            "min_ess_tail": float(p["ess_tail"].min()),
            "divergences": int(self.divergences),
            "treedepth_saturated": int(self.treedepth_saturated),
            "ebfmi": [float(e) for e in self.ebfmi],
            "n_draws": int(self.n_draws),
            "thresholds": {"r_hat": t.r_hat, "ess_bulk": t.ess_bulk, "ess_tail": t.ess_tail,
                           "divergences": t.divergences, "ebfmi": t.ebfmi},
            "failures": self.failures(),
            "parameters": p.to_dict(orient="records"),
        }


def _stat(ss, *names):
    for n in names:
        if n in ss:
            return np.asarray(ss[n].values)
    return None


def diagnose(idata, model: str | None = None, var_names=None,
             thresholds: Thresholds | None = None) -> Diagnostics:
    """r_hat, ess_bulk, ess_tail, MCSE and pass/fail per scalar parameter, plus sampler checks.

    Effects are included (they are functions of the parameters and must mix too).
    """
    import arviz as az

    t = thresholds or Thresholds()
    post = idata["posterior"]
    var_names = var_names or [v for v in (*PARAMETER_VARS, "effects") if v in post.data_vars]
    tab = flat_summary(idata, var_names)
    per = tab[["parameter", "r_hat", "ess_bulk", "ess_tail", "mcse_mean"]].copy()
    per["passed"] = ((per["r_hat"] <= t.r_hat) & (per["ess_bulk"] >= t.ess_bulk)
                     & (per["ess_tail"] >= t.ess_tail))
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    div = sat = 0
    ebfmi: list[float] = []
    if "sample_stats" in idata.children:
        ss = idata["sample_stats"]
        d = _stat(ss, "diverging")
        div = int(d.sum()) if d is not None else 0
        s = _stat(ss, "reached_max_treedepth", "maxdepth_reached")
        sat = int(s.sum()) if s is not None else 0
        if "energy" in ss:
            try:
                e = az.bfmi(idata)
                e = e["energy"].values if hasattr(e, "__getitem__") and not isinstance(
                    e, np.ndarray) else e
                ebfmi = [float(v) for v in np.atleast_1d(np.asarray(e))]
            except Exception:  # noqa: BLE001 - E-BFMI is advisory
                ebfmi = []
    return Diagnostics(per.reset_index(drop=True), div, sat, ebfmi, n_draws, t)
