"""ML with unit variances sigma_i^2 (bayes_sdm.variance_unit_ml): the maximum against the dense
multivariate-normal likelihood written in test_variances (value and vanishing gradient), the
closed form without time effects, recovery of noisy units, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_variances import _dense_unit_loglik

from bayes_sdm.api import prepare
from bayes_sdm.panel import Panel
from bayes_sdm.sbc.core import lattice_weights
from bayes_sdm.variance_unit_ml import fit_unit_ml


def _panel(n=9, t=8, seed=4):
    w = lattice_weights(n)
    rng = np.random.default_rng(seed)
    wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
    scale = np.where(np.arange(n) % 2 == 0, 0.5, 1.5)
    x = rng.normal(size=(t, n, 1))
    s_inv = np.linalg.inv(np.eye(n) - 0.4 * wm)
    mu, al = rng.normal(size=n), rng.normal(size=t)
    y = np.stack([s_inv @ (x[k] @ [1.0] + wm @ (x[k] @ [0.5]) + mu + al[k]
                           + scale * rng.normal(size=n)) for k in range(t)])
    return Panel(y, x, tuple(w.ids), tuple(range(t)), "y", ("x1",)), w


@pytest.mark.parametrize("fe", ["twoway", "unit"])
def test_unit_ml_is_the_maximum_of_the_dense_likelihood(fe):
    panel, w = _panel()
    r = fit_unit_ml(prepare(panel, w, "sdm", fe))
    v = r.params.to_numpy()

    def dense(vec):
        return _dense_unit_loglik(panel, w, fe, vec[0], vec[1:2], vec[2:3], 1.0, vec[3:])

    assert r.loglik == pytest.approx(dense(v), rel=1e-10)
    grad = np.empty(v.size)
    for i in range(v.size):
        e = np.zeros(v.size)
        e[i] = 1e-6 * max(1.0, abs(v[i]))
        grad[i] = (dense(v + e) - dense(v - e)) / (2 * e[i])
    assert np.abs(grad * np.maximum(np.abs(v), 1e-2)).max() < 1e-4, grad
    assert np.isfinite(r.se).all() and (r.se > 0).all()
    if fe == "unit":  # closed form sigma_i^2 = sum_t e~_it^2 / (T - 1)
        wm = np.asarray(w.matrix.toarray() if w.is_sparse else w.matrix)
        e = (panel.y @ (np.eye(9) - v[0] * wm).T - panel.X[:, :, 0] * v[1]
             - (panel.X[:, :, 0] @ wm.T) * v[2])
        e = e - e.mean(axis=0)
        np.testing.assert_allclose(v[3:], (e**2).sum(axis=0) / 7, rtol=1e-6)


def test_unit_ml_separates_noisy_units():
    panel, w = _panel(n=36, t=12, seed=9)
    r = fit_unit_ml(prepare(panel, w, "sdm", "twoway"))
    s2 = r.params.filter(like="sigma2[").to_numpy()
    assert s2[1::2].mean() / s2[0::2].mean() > 4.0
    assert r.params["rho"] == pytest.approx(0.4, abs=0.1)


def test_cli_variance_unit_ml_only(tmp_path):
    from bayes_sdm.cli import main

    out = tmp_path / "u"
    rc = main(["--dataset", "cigar", "--model", "sar", "--fe", "twoway", "--variance", "unit",
               "--ml-only", "--quiet", "--out", str(out)])
    assert rc == 0
    ml = pd.read_csv(out / "ml.csv")
    assert (ml.parameter.str.startswith("sigma2[")).sum() == 46
