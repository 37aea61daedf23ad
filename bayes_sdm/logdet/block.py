"""log|I - rho W| of a block-diagonal W from its blocks' log-determinants.

For W = diag(W_1, ..., W_G), log|I - rho W| = sum_g log|I - rho W_g|, and so are its derivative,
its PyTensor expression and (through the derivative) the traces used for effects.  The regional
model with a block W pools its regions this way; :func:`block_logdet` keeps the exact eigenvalue
method when every block has its eigenvalues (the concatenated spectrum) and otherwise sums
whatever methods the blocks have (e.g. Chebyshev interpolants for large sparse regions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .base import LogDet
from .eigen import EigenLogDet


class BlockLogDet(LogDet):
    """Sum of the blocks' log-determinants (module docstring).

    ``interval`` is the intersection of the blocks' intervals; the slope-error bound is the sum
    of theirs (errors of the blocks add in the slope of the sum)."""

    method = "block"

    def __init__(self, parts: Sequence[LogDet]):
        parts = list(parts)
        if not parts:
            raise InputError("a block log-determinant needs at least one block")
        self.parts = parts
        self.n = int(sum(p.n for p in parts))
        lo = max(float(p.interval[0]) for p in parts)
        hi = min(float(p.interval[1]) for p in parts)
        if not lo < hi:
            raise InputError(f"the blocks' rho intervals do not overlap ({lo:.6g} >= {hi:.6g})")
        self.interval = (lo, hi)

    def value(self, rho):
        return sum(p.value(rho) for p in self.parts)

    def deriv(self, rho):
        return sum(p.deriv(rho) for p in self.parts)

    def symbolic(self, rho):
        out = self.parts[0].symbolic(rho)
        for p in self.parts[1:]:
            out = out + p.symbolic(rho)
        return out

    def traces(self, rho):
        trs = [p.traces(rho) for p in self.parts]
        return sum(t[0] for t in trs), sum(t[1] for t in trs)

    @property
    def eigenvalues(self) -> np.ndarray | None:
        lams = [p.eigenvalues for p in self.parts]
        return None if any(lam is None for lam in lams) else np.concatenate(lams)

    def slope_error_bound(self, lo=None, hi=None) -> float:
        return float(sum(p.slope_error_bound(lo, hi) for p in self.parts))

    def describe(self) -> dict:
        d = super().describe()
        d["blocks"] = [p.describe() for p in self.parts]
        return d


def block_logdet(parts: Sequence[LogDet]) -> LogDet:
    """The log-determinant of the block-diagonal W: the exact :class:`EigenLogDet` of the
    concatenated spectrum when every block holds its eigenvalues (as the regional block model has
    always done), else a :class:`BlockLogDet` summing the blocks' methods."""
    lams = [p.eigenvalues for p in parts]
    if lams and all(lam is not None for lam in lams):
        return EigenLogDet(np.concatenate(lams))
    return BlockLogDet(parts)
