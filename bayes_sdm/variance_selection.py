"""Do the data prefer period-specific error variances?  ``select_model.py --variance period``.

Fits the spec's model twice with NUTS -- one sigma^2, and sigma_t^2 for every period
(:mod:`bayes_sdm.variances`) -- and compares them by PSIS-LOO on the exact leave-one-out
conditionals of each likelihood (:mod:`bayes_sdm.elpd`, :func:`bayes_sdm.variances.
period_pointwise_loglik`), with ArviZ's ``compare`` (elpd difference and its standard error).
The verdict: the period model is preferred when its ELPD exceeds the homoskedastic one's by more
than twice the standard error of the difference; the homoskedastic model when the reverse holds
or the difference is within that noise (the simpler model).
"""

from __future__ import annotations

import pandas as pd

from .errors import InputError


def compare_variances(panel, w, spec, progressbar: bool = False):
    """(table, sentence): ArviZ's comparison of the homoskedastic and the period-variance fits
    of ``spec``'s model on (panel, W)."""
    from .api import fit, prepare
    from .elpd import compare
    from .variances import add_period_log_likelihood

    if spec.dynamic or spec.hierarchy is not None:
        raise InputError("not implemented yet: the variance comparison of a dynamic or "
                         "regional model")
    prep = prepare(panel, w, spec.model, spec.fe, spec.correction, spec.lag_convention,
                   spec.logdet)
    s0 = spec.copy()
    s0.variance = "homoskedastic"
    s1 = spec.copy()
    s1.variance = "period"
    f0 = fit(prep, s0, progressbar=progressbar)
    f1 = fit(prep, s1, progressbar=progressbar)
    add_period_log_likelihood(f1)
    tab = compare({"homoskedastic": f0, "period": f1})
    tab = pd.DataFrame(tab).reset_index().rename(columns={"index": "model"})
    if "model" not in tab.columns:
        tab.insert(0, "model", list(tab.index))
    return tab, verdict(tab)


def verdict(tab: pd.DataFrame) -> str:
    """One sentence from the comparison table (module docstring)."""
    best = str(tab.iloc[0]["model"])
    diff = abs(float(tab.iloc[1]["elpd_diff"]))  # ArviZ 1.x: negative for the worse model
    dse = float(tab.iloc[1]["dse"])
    strong = diff > 2 * dse
    if best == "period" and strong:
        return (f"The data prefer period-specific variances: ELPD higher by {diff:.1f} "
                f"(se of the difference {dse:.1f}).")
    if best == "period":
        return (f"Period-specific variances do not improve the ELPD beyond its noise "
                f"(difference {diff:.1f}, se {dse:.1f}); the homoskedastic model is kept.")
    return (f"The homoskedastic model has the higher ELPD (by {diff:.1f}, se {dse:.1f}); "
            "period-specific variances are not supported.")
