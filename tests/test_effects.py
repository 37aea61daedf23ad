"""Effects (LeSage & Pace 2009) from eigenvalue traces equal a dense-inverse computation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import random_panel

from bayes_sdm.api import effects_draws, prepare
from bayes_sdm.effects import dense_effects, lag_effects, local_effects
from bayes_sdm.logdet import make_logdet
from bayes_sdm.weights import make_weights


@pytest.mark.parametrize("symmetric", [True, False])
def test_lag_effects_equal_dense_inverse(symmetric):
    _, w = random_panel(n=25, seed=4, symmetric=symmetric)
    ld = make_logdet(w, "eigen")
    assert ld.complex != symmetric or symmetric  # general W has complex eigenvalues here
    rng = np.random.default_rng(0)
    rhos = rng.uniform(-0.5, 0.9, size=6)
    beta, theta = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    got = lag_effects(rhos, beta, theta, ld)
    for i in range(6):
        ref = dense_effects(rhos[i], beta[i], theta[i], w.matrix)
        np.testing.assert_allclose(got[i], ref, atol=1e-10, rtol=0)


def test_effects_non_row_standardised_w():
    panel, w0 = random_panel(n=12, seed=6)
    w = make_weights(w0.raw_base() * 0.2, w0.ids, standardize=False)
    prep = prepare(panel, w, model="sdm", fe="unit")
    rng = np.random.default_rng(1)
    rho = rng.uniform(-0.3, 0.3, size=(1, 3))
    beta, theta = rng.normal(size=(1, 3, 2)), rng.normal(size=(1, 3, 2))
    post = xr.Dataset({
        "rho": (("chain", "draw"), rho),
        "beta": (("chain", "draw", "coef"), beta),
        "theta": (("chain", "draw", "coef"), theta),
    }, coords={"chain": [0], "draw": [0, 1, 2], "coef": ["x0", "x1"]})
    eff = effects_draws(prep, post).values
    for d in range(3):
        ref = dense_effects(rho[0, d], beta[0, d], theta[0, d], w.matrix)
        np.testing.assert_allclose(eff[0, d], ref, atol=1e-10)


def test_local_effects():
    e = local_effects(np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    np.testing.assert_allclose(e, [[1, 2], [0.5, -1], [1.5, 1]])
    np.testing.assert_allclose(local_effects(np.array([1.0]))[1], [0.0])
