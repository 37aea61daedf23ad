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
