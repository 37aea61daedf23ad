"""Goodness of fit of an ML spatial panel fit, as the study's model table reports it.

Two R² are reported, because spatial-econometrics software prints different ones:

* **within R²** (the "R-sq within" of Stata's xsmle for fixed-effects models): the squared
  correlation between the FE-transformed y and the reduced-form prediction from the
  transformed regressors, (I - rho W)^{-1} (X~ beta + WX~ theta) period by period (X~ beta for
  the error models, whose prediction of y does not involve lambda);
* **corr² (fitted, observed)**: the squared correlation between the transformed y and the
  model's fitted values y~ - eps, eps the model's innovations (rho W y~ included for lag
  models; lambda W (y~ - X~ beta) for error models).

``MLResult.r2`` (1 - SSE / total sum of squares of the raw y, SDPDmod's ``rsqr``) is a third
definition and is not used in the table.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..design import residuals, transformed_columns
from ..likelihood import coef_vector


def _corr2(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    return float((a @ b / den) ** 2) if den > 0 else float("nan")


def _solve_lag(w, rho: float, rhs: np.ndarray) -> np.ndarray:
    """(I - rho W)^{-1} rhs_t for every period t of a (T, N) array (one factorisation)."""
    n = w.n
    if w.is_sparse:
        a = (sp.identity(n, format="csc") - rho * sp.csc_matrix(w.matrix))
        return spla.splu(a).solve(np.ascontiguousarray(rhs.T)).T
    a = np.eye(n) - rho * np.asarray(w.matrix)
    return np.linalg.solve(a, rhs.T).T


def r2_measures(prep, res) -> dict[str, float]:
    """``{"r2_within": ..., "r2_corr": ...}`` of an ML fit ``res`` of ``prep`` (module
    docstring)."""
    fam = prep.family
    lay = prep.stats.layout
    z = transformed_columns(prep.panel, prep.w, prep.fe, prep.lag_convention, lay)
    xs = list(res.x_names)
    beta = res.params[[f"beta[{x}]" for x in xs]].to_numpy(float)
    theta = res.params[[f"theta[{x}]" for x in xs]].to_numpy(float) if fam.durbin else None
    spatial = float(res.params[fam.spatial]) if fam.spatial else 0.0
    y = z[:, :, lay.index("y")]
    eps = residuals(z, coef_vector(lay, fam, spatial, beta, theta))
    xb = z[:, :, lay.slice("X")] @ beta
    if theta is not None:
        xb = xb + z[:, :, lay.slice("WX")] @ theta
    pred = _solve_lag(prep.w, spatial, xb) if fam.lag else xb
    return {"r2_within": _corr2(y, pred), "r2_corr": _corr2(y, y - eps)}
