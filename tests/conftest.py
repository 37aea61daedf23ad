"""Shared fixtures: small simulated panels and the cigar reference panel (bundled in the
package, see bayes_sdm/datasets)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from bayes_sdm.panel import Panel  # noqa: E402
from bayes_sdm.weights import make_weights  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def ring_plus_random(n: int, rng: np.random.Generator, p: float = 0.1) -> np.ndarray:
    """A symmetric binary contiguity-like matrix with no islands."""
    c = (rng.random((n, n)) < p).astype(float)
    c = np.triu(c, 1)
    c = c + c.T
    for i in range(n):
        c[i, (i + 1) % n] = c[(i + 1) % n, i] = 1.0
    np.fill_diagonal(c, 0.0)
    return c


def random_panel(n=12, t=5, k=2, seed=0, symmetric=True):
    """(Panel, SpatialWeights) with random data (not from the model)."""
    rng = np.random.default_rng(seed)
    if symmetric:
        c = ring_plus_random(n, rng)
    else:
        c = ring_plus_random(n, rng) * rng.uniform(0.5, 2.0, size=(n, n))
    w = make_weights(c, tuple(range(n)))
    y = rng.standard_normal((t, n))
    x = rng.standard_normal((t, n, k))
    names = tuple(f"x{i}" for i in range(k))
    return Panel(y, x, tuple(range(n)), tuple(range(t)), "y", names), w


@pytest.fixture(scope="session")
def cigar():
    """(Panel, W) of the bundled cigar panel: logc on logp, logy; W = usa46 row-standardised."""
    from bayes_sdm.datasets import load_dataset

    ds = load_dataset("cigar")
    return ds.panel(), ds.weights


def ml_fit(panel, w, model="sdm", fe="twoway", correction="transform", lag_convention="QWy",
           logdet="auto", x_names=None, **kw):
    """ML of (panel, W) in one call: :func:`bayes_sdm.prepare` then
    :func:`bayes_sdm.ml.fit_ml` (the package takes a prepared model)."""
    from bayes_sdm.api import prepare
    from bayes_sdm.ml import fit_ml

    if x_names is not None:
        panel = panel.select_x(x_names)
    prep = prepare(panel, w, model, fe, lag_convention=lag_convention, logdet=logdet)
    return fit_ml(prep, correction, **kw)


def regional_model(panel, w, regions, model="sdm", fe="twoway", pooling="partial",
                   regional_w="block", correction="transform", lag_convention="QWy",
                   region_order=None, **model_kw):
    """A built (not sampled) regional model: prepare_regional, then build_regional_model."""
    from bayes_sdm.regional import build_regional_model, prepare_regional

    data = prepare_regional(panel, w, regions, model, fe, pooling, regional_w, correction,
                            lag_convention, region_order)
    return build_regional_model(data, **model_kw)


def regional_fit(panel, w, regions, *, sampler=None, priors=None, model="sdm", fe="twoway",
                 correction="transform", lag_convention="QWy", progressbar=False, **hier):
    """A regional fit through the user layer: prepare(..., regions, hierarchy) then fit."""
    from bayes_sdm.api import fit, prepare
    from bayes_sdm.spec import HierarchySpec

    prep = prepare(panel, w, model, fe, correction, lag_convention, regions=regions,
                   hierarchy=HierarchySpec(**hier))
    return fit(prep, priors=priors, sampler=sampler, progressbar=progressbar)
