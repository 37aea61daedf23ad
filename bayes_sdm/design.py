"""The design: fixed-effect transforms and the column layout, in numpy and PyTensor.

Every estimator evaluates the likelihood from the Gram matrix of the FE-transformed columns

    Z = [y, Wy, X, WX, W^2 X (, W^2 y)]

(:class:`Layout`; a family uses the blocks its flags switch on, :attr:`Family.blocks`).  This
module is the one place that builds these columns -- for the sufficient statistics, the
observed-y likelihood (symbolically), predictive simulation, residuals, residual Moran's I and the
regional models.

Fixed effects (Lee & Yu 2010, "Estimation of spatial autoregressive panel data models with fixed
effects", J. Econometrics 154:165-185): the spatial lags are formed from the raw data and then
demeaned ("lag then demean", ``QWy``, the transformation approach).  ``WQy`` (demean, then lag)
is the direct approach of splm, xsmle and Elhorst's MATLAB code; the two coincide under unit
effects only.

Durbin regressors under ``WQy``.  splm and Elhorst's demo scripts take W X as *ordinary
regressors*: W x is formed from the raw x period by period and then demeaned like any other
regressor, while W y (and the spatial-error filter) acts on the demeaned data.  With time
effects Q(W X) and W(Q X) differ by a period-specific constant.  A :class:`Layout` with
``durbin_raw=True`` builds its WX block as Q(W X_raw) (and W^2 X as W Q(W X_raw)) under ``WQy``;
:func:`durbin_raw_for` says when: Durbin families without an error term (SDM, SLX), which is
what :func:`bayes_sdm.prepared.build` uses, so ``lag_convention="WQy"`` reproduces splm's
published two-way SDM.  The SEM keeps W(Q X) (its error filter acts on the demeaned X, as in
splm).  The SDEM under ``WQy`` with time effects uses W(Q X) and W^2(Q X), i.e. demean-then-lag
of every column, which is R SDPDmod's ``blmpSDPD`` convention and also that of a layout without
``durbin_raw`` (the SDPDmod marginal-likelihood emulation); splm's SDEM with raw-lag ``w_x``
would need a fourth X block and is not reproduced.

Demeaning (:func:`demean`) is the orthogonal projection Q of the FE type: unit means (``unit``),
period means (``time``), both with the grand mean added back (``twoway``), nothing (``none``).
With F_{T,T-1} and F_{N,N-1} the orthonormal eigenvector bases of the demeaning matrices, Q is
F F', so the Gram matrix of QZ equals that of the Lee-Yu transformed data F'Z.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from .families import Family
    from .weights import SpatialWeights

FE_TYPES = ("twoway", "unit", "time", "none")
#: the transforms the numerics take: the FE types, and ``intercept`` -- no fixed effects but
#: one intercept (``fe="none"`` with an intercept; the grand mean removed, see :func:`demean`)
TRANSFORMS = (*FE_TYPES, "intercept")
LAG_CONVENTIONS = ("QWy", "WQy")

#: canonical block order; the power of W applied to y or to X in each block
BLOCK_ORDER = ("y", "Wy", "X", "WX", "WWX", "WWy")
Y_POWER = {"y": 0, "Wy": 1, "WWy": 2}
X_POWER = {"X": 0, "WX": 1, "WWX": 2}
#: the blocks of every layout (the static families without a lag *and* an error)
STANDARD_BLOCKS = ("y", "Wy", "X", "WX", "WWX")


def check_fe(fe: str) -> str:
    if fe not in TRANSFORMS:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {FE_TYPES}")
    return fe


def check_lag_convention(conv: str) -> str:
    if conv not in LAG_CONVENTIONS:
        raise InputError(f"unknown lag convention {conv!r}; choose from {LAG_CONVENTIONS}")
    return conv


@dataclass(frozen=True)
class Layout:
    """Positions of the blocks of Z for K regressors.

    ``blocks`` is a subsequence of :data:`BLOCK_ORDER`; y blocks have width 1, X blocks width K.
    """

    k: int
    blocks: tuple[str, ...] = STANDARD_BLOCKS
    #: under ``WQy``: WX = Q(W X_raw) (splm's Durbin regressors) instead of W(Q X)
    durbin_raw: bool = False

    def __post_init__(self):
        bad = [b for b in self.blocks if b not in BLOCK_ORDER]
        if bad or list(self.blocks) != sorted(self.blocks, key=BLOCK_ORDER.index):
            raise InputError(f"bad design blocks {self.blocks}; use a subsequence of "
                             f"{BLOCK_ORDER}")

    @classmethod
    def for_families(cls, k: int, *families: Family, durbin_raw: bool = False) -> Layout:
        """The standard blocks plus whatever ``families`` need."""
        need = set(STANDARD_BLOCKS).union(*(f.blocks for f in families))
        return cls(k, tuple(b for b in BLOCK_ORDER if b in need), durbin_raw)

    def width(self, block: str) -> int:
        return 1 if block in Y_POWER else self.k

    def slice(self, block: str) -> slice:
        """Column slice of ``block``."""
        start = 0
        for b in self.blocks:
            if b == block:
                return slice(start, start + self.width(b))
            start += self.width(b)
        raise InputError(f"the design has no block {block!r} (blocks {self.blocks})")

    def index(self, block: str) -> int:
        """Column of a y block."""
        return self.slice(block).start

    @property
    def ncol(self) -> int:
        return sum(self.width(b) for b in self.blocks)

    def has(self, block: str) -> bool:
        return block in self.blocks

    def regressors(self, family: Family) -> np.ndarray:
        """Column indices of the family's regressors: X, then WX for Durbin families."""
        cols = list(range(self.slice("X").start, self.slice("X").stop))
        if family.durbin:
            s = self.slice("WX")
            cols += list(range(s.start, s.stop))
        return np.array(cols)

    def check(self, family: Family) -> None:
        missing = [b for b in family.blocks if b not in self.blocks]
        if missing:
            raise InputError(f"the sufficient statistics lack the blocks {missing} that "
                             f"{family.name} needs (prepare the data for this model)")

    def x_block_names(self) -> list[str]:
        return [b for b in self.blocks if b in X_POWER]

    def y_block_names(self) -> list[str]:
        return [b for b in self.blocks if b in Y_POWER]


# ------------------------------------------------------------------------------- transforms
def demean(a, fe: str, xp=np):
    """Remove unit and/or time means from an array shaped (T, N, ...) (numpy or PyTensor).

    ``unit`` subtracts each unit's mean over time, ``time`` each period's mean over units,
    ``twoway`` both (adding the grand mean back), ``intercept`` the grand mean, ``none``
    returns a copy.

    ``intercept``: with a constant alpha in the model, the residual of every family is
    eps = Z c - alpha (1 - lambda) iota (W iota = iota for a row-standardised W, and for any W
    without an error term), so SSE = ||Q Z c||^2 + NT (zbar'c - (1 - lambda) alpha)^2 with Q
    the grand-mean projection: concentrating alpha out leaves the Gram matrix of the demeaned
    columns, and the second term (:attr:`~bayes_sdm.likelihood.SufficientStats.means`) gives
    alpha back (Anselin 1988, ch. 6: the intercept of the concentrated likelihood).
    """
    check_fe(fe)
    if xp is np:
        a = np.asarray(a, dtype=float)
        if fe == "none":
            return a.copy()
        out = a.copy()
    else:
        out = a
    if fe == "intercept":
        return out - a.mean(axis=(0, 1), keepdims=True)
    if fe in ("unit", "twoway"):
        out = out - a.mean(axis=0, keepdims=True)
    if fe in ("time", "twoway"):
        out = out - a.mean(axis=1, keepdims=True)
    if fe == "twoway":
        out = out + a.mean(axis=(0, 1), keepdims=True)
    return out


def lag_symbolic(w: SpatialWeights, y):
    """W y_t for every row t of a PyTensor (T, N) tensor."""
    import pytensor.sparse as ps
    import pytensor.tensor as pt

    if w.is_sparse:
        import scipy.sparse as sp

        wt = ps.as_sparse_variable(sp.csr_matrix(w.matrix.T))
        return ps.dot(y, wt)
    return pt.dot(y, pt.constant(np.ascontiguousarray(w.matrix.T)))


def durbin_raw_for(family: Family, lag_convention: str) -> bool:
    """Whether a model of ``family`` under ``lag_convention`` takes its WX block as Q(W X_raw)
    (module docstring): ``WQy`` and a Durbin family without an error term."""
    return lag_convention == "WQy" and family.durbin and not family.error


def _check_inputs(panel, w: SpatialWeights, fe: str, lag_convention: str) -> None:
    check_lag_convention(lag_convention)
    check_fe(fe)
    if fe in ("time", "twoway") and not w.row_standardized:
        raise InputError(
            f"fixed effects {fe!r} include time effects, which need a row-standardised W "
            "(the Lee-Yu Jacobian uses W's unit eigenvalue); row-standardise W or use fe='unit'"
        )
    if w.n != panel.N or tuple(w.ids) != tuple(panel.units):
        raise InputError("W and the panel list different units (or in a different order)")


def raw_columns(panel, w: SpatialWeights, layout: Layout | None = None) -> np.ndarray:
    """The untransformed columns of ``layout`` (T, N, ncol): lags of the raw y and X."""
    layout = layout or Layout(panel.K)
    y = np.asarray(panel.y, dtype=float)[:, :, None]
    x = np.asarray(panel.X, dtype=float)
    return _assemble(y, x, w, layout)


def _assemble(y: np.ndarray, x: np.ndarray, w: SpatialWeights, layout: Layout) -> np.ndarray:
    raw = np.concatenate([y, x], axis=2)
    lag1 = w.lag(raw)
    ys = {"y": y, "Wy": lag1[:, :, :1]}
    xs = {"X": x, "WX": lag1[:, :, 1:]}
    if layout.has("WWX") or layout.has("WWy"):
        need = [*( [lag1[:, :, :1]] if layout.has("WWy") else []),
                *([lag1[:, :, 1:]] if layout.has("WWX") else [])]
        lag2 = w.lag(np.concatenate(need, axis=2))
        if layout.has("WWy"):
            ys["WWy"], lag2 = lag2[:, :, :1], lag2[:, :, 1:]
        if layout.has("WWX"):
            xs["WWX"] = lag2
    parts = {**ys, **xs}
    return np.concatenate([parts[b] for b in layout.blocks], axis=2)


def transformed_columns(panel, w: SpatialWeights, fe: str, lag_convention: str = "QWy",
                        layout: Layout | None = None) -> np.ndarray:
    """The FE-transformed columns of ``layout`` (T, N, ncol).

    ``QWy`` (default, Lee & Yu 2010): lags from the raw data, then demean.
    ``WQy``: demean, then lag (splm, SDPDmod, xsmle); identical to QWy under unit FE.  With
    ``layout.durbin_raw`` the WX block is Q(W X_raw) and W^2 X is W Q(W X_raw) (splm's Durbin
    regressors; module docstring).
    """
    _check_inputs(panel, w, fe, lag_convention)
    layout = layout or Layout(panel.K)
    if lag_convention == "QWy" or fe == "intercept":  # an intercept: the two coincide
        return demean(raw_columns(panel, w, layout), fe)
    q = demean(np.concatenate([np.asarray(panel.y, float)[:, :, None],
                               np.asarray(panel.X, float)], axis=2), fe)
    z = _assemble(q[:, :, :1], q[:, :, 1:], w, layout)
    if layout.durbin_raw and layout.has("WX") and fe in ("time", "twoway"):
        wx = demean(w.lag(np.asarray(panel.X, float)), fe)
        z[:, :, layout.slice("WX")] = wx
        if layout.has("WWX"):
            z[:, :, layout.slice("WWX")] = w.lag(wx)
    return z


def y_columns(y, w: SpatialWeights, fe: str, lag_convention: str, layout: Layout, xp=np):
    """The transformed y blocks of ``layout`` ([y, Wy (, W^2 y)], shape (T, N, 1-3)) for a
    (T, N) y, in numpy or PyTensor (``observed_gram``; with a constant y PyTensor folds it)."""
    names = layout.y_block_names()
    if xp is np:
        y = np.asarray(y, dtype=float)

        def lag(v):
            return w.lag(v)

        stack = np.stack
    else:
        y = xp.as_tensor_variable(y)

        def lag(v):
            return lag_symbolic(w, v)

        stack = xp.stack
    if lag_convention == "QWy" or fe == "intercept":
        cols = [y]
        for _ in names[1:]:
            cols.append(lag(cols[-1]))
        return demean(stack(cols, axis=2), fe, xp=xp)
    q = demean(y[:, :, None], fe, xp=xp)[:, :, 0]
    cols = [q]
    for _ in names[1:]:
        cols.append(lag(cols[-1]))
    return stack(cols, axis=2)


def x_columns(panel, w: SpatialWeights, fe: str, lag_convention: str,
              layout: Layout) -> np.ndarray:
    """The transformed X blocks of ``layout`` (T, N, n_x) -- the part of Z that does not depend
    on y (constant in the observed-y likelihood)."""
    z = transformed_columns(panel, w, fe, lag_convention, layout)
    return np.concatenate([z[:, :, layout.slice(b)] for b in layout.x_block_names()], axis=2)


def join_blocks(layout: Layout, ycols, xcols, xp=np):
    """Z in ``layout`` order from its y blocks ``ycols`` (T, N, n_y; :func:`y_columns`) and its
    X blocks ``xcols`` (T, N, n_x; :func:`x_columns`), numpy or PyTensor."""
    parts, yi, xi = [], 0, 0
    for b in layout.blocks:
        wdt = layout.width(b)
        if b in Y_POWER:
            parts.append(ycols[:, :, yi:yi + 1])
            yi += 1
        else:
            parts.append(xcols[:, :, xi:xi + wdt])
            xi += wdt
    return xp.concatenate(parts, axis=2)


def fe_projection(panel, w: SpatialWeights, fe: str, layout: Layout | None = None) -> np.ndarray:
    """The projection of the raw columns onto the fixed-effect space, Z - QZ (T, N, ncol).

    ``fe_projection(...) @ c`` are the fixed-effect estimates given the coefficients c
    (:mod:`bayes_sdm.predictive`)."""
    z = raw_columns(panel, w, layout)
    return z - demean(z, fe)


def residuals(z: np.ndarray, c) -> np.ndarray:
    """Residuals Z c of the transformed columns (T, N, ncol) for one or many coefficient
    vectors c (..., ncol) -> (..., T, N)."""
    c = np.asarray(c, dtype=float)
    return np.einsum("tnc,...c->...tn", z, c)
