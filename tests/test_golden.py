"""Refactorings change no number: the golden snapshot (``tests/golden_numbers.py``) recomputed
and compared to 1e-10 relative -- cigar's two-way ML, exact draws and PyMC log-densities in the
default tier, all 383 entries in the slow tier."""

from __future__ import annotations

import json

import pytest
from golden_numbers import GOLDEN, compare, compute


def _check(vals):
    ref = json.loads(GOLDEN.read_text())
    ref = {k: v for k, v in ref.items() if k in vals}
    assert ref, "no golden entries computed"
    bad = compare(ref, vals)
    assert not bad, "\n".join(bad)


def test_golden_numbers_quick():
    _check(compute(quick=True))


@pytest.mark.slow
def test_golden_numbers_all():
    vals = compute()
    assert set(json.loads(GOLDEN.read_text())) <= set(vals)
    _check(vals)
