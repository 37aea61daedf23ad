"""Sandwich (heteroskedasticity-robust) standard errors of the static ML (bayes_sdm.robust),
judged by a small Monte Carlo: the sd of the estimates across replications."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_sdm.api import prepare
from bayes_sdm.errors import InputError
from bayes_sdm.ml import fit_ml
from bayes_sdm.panel import Panel
from bayes_sdm.robust import sandwich
from bayes_sdm.sbc.core import lattice_weights


def _sim(seed, het, n=49, t=6, rho=0.4):
    w = lattice_weights(n)
    rng = np.random.default_rng(seed)
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    x = rng.normal(size=(t, n, 2))
    mu, al = rng.normal(size=n), rng.normal(size=t)
    sinv = np.linalg.inv(np.eye(n) - rho * wm)
    sd = (0.2 + 1.5 * np.abs(x[:, :, 0])) if het else np.ones((t, n))  # variance depends on x1
    y = np.stack([sinv @ (x[k] @ [1, -.5] + wm @ (x[k] @ [.5, .2]) + mu + al[k]
                          + sd[k] * rng.normal(size=n)) for k in range(t)])
    return Panel(y, x, tuple(w.ids), tuple(range(t)), "y", ("x1", "x2")), w


def _mc(het, reps=30):
    est, se_c, se_r = [], [], []
    for r in range(reps):
        p, w = _sim(r, het)
        prep = prepare(p, w, "sdm", "twoway")
        m = fit_ml(prep)
        s = sandwich(prep, m)
        assert s.se_method == "sandwich" and (s.params == m.params).all()
        est.append(m.params.to_numpy())
        se_c.append(m.se.to_numpy())
        se_r.append(s.se.to_numpy())
    return np.std(est, axis=0, ddof=1), np.mean(se_c, axis=0), np.mean(se_r, axis=0)


def test_sandwich_close_to_classical_when_homoskedastic():
    _, c, r = _mc(False, 12)
    assert np.all((r / c > 0.85) & (r / c < 1.2)), r / c


def test_sandwich_tracks_monte_carlo_sd_under_heteroskedasticity():
    """Error sd proportional to |x1|: the classical se of beta[x1] and sigma2 is far too small;
    the sandwich is within 25% of the Monte Carlo sd for beta[x1] (30 replications, N = 49,
    T = 6; the MC sd itself is +-13%).  For sigma2 it is larger than the classical se (measured:
    sandwich 0.43, classical 0.25, MC sd 0.33: the fourth moments are noisy at this size)."""
    mc, c, r = _mc(True, 30)
    for i in (1, 5):  # beta[x1], sigma2
        assert c[i] / mc[i] < 0.75
        assert r[i] > c[i]
    assert abs(r[1] / mc[1] - 1) < 0.25, (r[1], mc[1])


def test_sandwich_refuses_error_families():
    p, w = _sim(0, False, n=16, t=4)
    prep = prepare(p, w, "sem", "twoway")
    with pytest.raises(InputError, match="not implemented yet"):
        sandwich(prep, fit_ml(prep))
