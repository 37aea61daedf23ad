"""Global Moran's I by variable and year, and a posterior predictive check on residuals.

Moran's I of a cross-section x (N units) under weights W (Moran 1950; Cliff & Ord 1981, ch. 2):

    I = (N / S0) z'Wz / z'z,       z = x - mean(x),   S0 = sum_ij w_ij

Under the null of no spatial autocorrelation E[I] = -1/(N-1); Var[I] is given under

* **normality** (x i.i.d. normal; Cliff & Ord 1981, eq. 2.35), the assumption of the seed
  study's tables, whose z = (I - E[I]) / sqrt(Var[I]) is referred to the standard normal;
* **randomisation** (the permutation distribution of the observed values; Cliff & Ord 1981,
  eq. 2.36), which also uses the sample kurtosis.

with S1 = 1/2 sum_ij (w_ij + w_ji)^2 and S2 = sum_i (w_i. + w_.i)^2.

:func:`moran_table` computes the study's table (variable, year, I, expected, variance, z, p)
with ``esda.Moran`` on a ``libpysal.graph.Graph`` built from the sparse form of W (W is used
exactly as given: ``transformation="O"``).  :func:`moran_arrays` is the same statistic written
directly in numpy and vectorised over leading axes (used by the tests and by the posterior
predictive check, where esda would be called thousands of times).

:func:`residual_moran` is a posterior predictive check (Gelman, Meng & Stern 1996, realised
discrepancies): for every posterior draw it computes Moran's I of the model's innovations in each
year and Moran's I of replicated innovations drawn from the model, and reports the posterior
predictive p-value P(I_rep >= I_obs | y) per year.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from . import families
from .design import FE_TYPES, Layout, demean, durbin_raw_for, residuals, transformed_columns
from .errors import InputError
from .families import Family
from .likelihood import coef_vectors
from .panel import Panel
from .weights import SpatialWeights

ASSUMPTIONS = ("normality", "randomization")
MORAN_COLUMNS = ["variable", "year", "I", "expected", "variance", "z", "p"]


# ----------------------------------------------------------------------------- numerics
def weight_sums(w) -> tuple[float, float, float]:
    """S0, S1, S2 of a (dense or sparse) weight matrix (Cliff & Ord 1981, p. 21)."""
    if isinstance(w, SpatialWeights):
        w = w.matrix
    if sp.issparse(w):
        m = sp.csr_array(w)
        s0 = float(m.sum())
        sym = m + m.T
        s1 = 0.5 * float((sym.multiply(sym)).sum())
        rs = np.asarray(m.sum(axis=1)).ravel()
        cs = np.asarray(m.sum(axis=0)).ravel()
    else:
        m = np.asarray(w, dtype=float)
        s0 = float(m.sum())
        s1 = 0.5 * float(((m + m.T) ** 2).sum())
        rs = m.sum(axis=1)
        cs = m.sum(axis=0)
    s2 = float(((rs + cs) ** 2).sum())
    return s0, s1, s2


def _lag_last(w, z: np.ndarray) -> np.ndarray:
    """W applied along the last axis of z (shape (..., N))."""
    flat = z.reshape(-1, z.shape[-1])
    out = np.asarray(w @ flat.T).T
    return out.reshape(z.shape)


def moran_i(x: np.ndarray, w) -> np.ndarray:
    """Moran's I along the last axis of ``x`` (shape (..., N)); ``w`` dense or sparse (N, N).

    Pure numerics, no validation: a constant cross-section gives NaN.
    """
    m = w.matrix if isinstance(w, SpatialWeights) else w
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    s0 = float(m.sum())
    z = x - x.mean(axis=-1, keepdims=True)
    num = (z * _lag_last(m, z)).sum(axis=-1)
    den = (z * z).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n / s0) * num / den


def moran_arrays(x: np.ndarray, w, assumption: str = "normality",
                 two_tailed: bool = True) -> dict[str, np.ndarray]:
    """Moran's I with its moments, z and p along the last axis of ``x`` (direct numpy).

    Returns a dict of arrays of shape ``x.shape[:-1]``: ``I``, ``expected``, ``variance``,
    ``z``, ``p`` (normal approximation; two-sided unless ``two_tailed=False``, then the tail in
    the direction of the observed z, as esda does).
    """
    if assumption not in ASSUMPTIONS:
        raise InputError(f"unknown Moran assumption {assumption!r}; choose from {ASSUMPTIONS}")
    m = w.matrix if isinstance(w, SpatialWeights) else w
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    s0, s1, s2 = weight_sums(m)
    i_val = moran_i(x, m)
    ei = -1.0 / (n - 1)
    if assumption == "normality":
        var = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n - 1) * (n + 1) * s0 * s0) - ei * ei
        var = np.broadcast_to(var, i_val.shape).astype(float)
    else:
        z = x - x.mean(axis=-1, keepdims=True)
        k = (z**4).mean(axis=-1) / ((z**2).mean(axis=-1)) ** 2
        a = n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s0 * s0)
        b = k * ((n * n - n) * s1 - 2 * n * s2 + 6 * s0 * s0)
        var = (a - b) / ((n - 1) * (n - 2) * (n - 3) * s0 * s0) - ei * ei
    zval = (i_val - ei) / np.sqrt(var)
    p = stats.norm.sf(np.abs(zval))
    if two_tailed:
        p = 2.0 * p
    return {"I": i_val, "expected": np.full(i_val.shape, ei), "variance": var, "z": zval, "p": p}


# ----------------------------------------------------------------------------- esda layer
_GRAPH_CLASS = None


def _graph_class():
    """A ``libpysal.graph.Graph`` subclass whose summary (S0, S1, S2, ...) is computed once.

    ``esda.Moran`` calls ``w.transform(...)`` and ``w.summary()`` for every statistic; on a
    dense economic-distance W that dominates the cost of a variable-by-year table.  The
    weights are not changed: the identity transformation returns the graph itself.
    """
    global _GRAPH_CLASS
    if _GRAPH_CLASS is None:
        from libpysal.graph import Graph

        class CachedSummaryGraph(Graph):
            def transform(self, transformation):
                if isinstance(transformation, str) and \
                        transformation.upper() == self.transformation:
                    return self
                return super().transform(transformation)

            def summary(self, asymmetries=False):
                cache = self.__dict__.setdefault("_bayes_sdm_summary", {})
                key = bool(asymmetries)
                if key not in cache:
                    cache[key] = super().summary(asymmetries)
                return cache[key]

        _GRAPH_CLASS = CachedSummaryGraph
    return _GRAPH_CLASS


def to_graph(w: SpatialWeights):
    """A ``libpysal.graph.Graph`` with W's weights (kept sparse; ids in W's order; the
    transformation is "O", i.e. W exactly as given)."""
    m = sp.csr_array(w.matrix)
    return _graph_class().from_sparse(m, ids=list(w.ids))


def _panel_arrays(data, w: SpatialWeights, variables, unit, time):
    """(names, times, array (V, T, N)) from a Panel or a long DataFrame, in W's unit order."""
    if isinstance(data, Panel):
        if tuple(data.units) != tuple(w.ids):
            raise InputError("the panel's units and W's ids differ (or are in a different order)")
        avail = {data.y_name: data.y}
        for k, nm in enumerate(data.x_names):
            avail[nm] = data.X[:, :, k]
        if variables is None:
            variables = list(avail)
        missing = [v for v in variables if v not in avail]
        if missing:
            raise InputError(f"unknown variable(s) {missing}; the panel has {list(avail)}")
        return list(variables), list(data.times), np.stack([avail[v] for v in variables])
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"moran_table needs a Panel or a DataFrame, got {type(data).__name__}")
    if unit is None or time is None:
        raise InputError("moran_table on a DataFrame needs the unit= and time= column names")
    for c in (unit, time):
        if c not in data.columns:
            raise InputError(f"unknown column {c!r}; the table has {list(data.columns)}")
    if variables is None:
        raise InputError("moran_table on a DataFrame needs the list of variables")
    variables = list(variables)
    missing = [v for v in variables if v not in data.columns]
    if missing:
        raise InputError(f"unknown column(s) {missing}; the table has {list(data.columns)}")
    if data.duplicated([unit, time]).any():
        raise InputError(f"duplicate ({unit}, {time}) rows in the table")
    ids = list(w.ids)
    extra = sorted(set(data[unit]) - set(ids), key=str)
    if extra:
        raise InputError(f"units in the data but not in W: {extra[:10]}")
    times = sorted(pd.unique(data[time]))
    wide = data.set_index([time, unit])
    idx = pd.MultiIndex.from_product([times, ids])
    arrs = []
    for v in variables:
        vals = pd.to_numeric(wide[v], errors="coerce").reindex(idx).to_numpy(dtype=float)
        vals = vals.reshape(len(times), len(ids))
        bad = ~np.isfinite(vals)
        if bad.any():
            t, i = np.argwhere(bad)[0]
            raise InputError(f"variable {v!r} is missing or not finite for unit {ids[i]!r} in "
                             f"year {times[t]!r} ({int(bad.sum())} cell(s) in all); Moran's I "
                             "needs every unit of W in every year")
        arrs.append(vals)
    return variables, times, np.stack(arrs)


def moran_table(data, w: SpatialWeights, variables: Sequence[str] | None = None, *,
                unit: str | None = None, time: str | None = None,
                assumption: str = "normality", two_tailed: bool = True,
                method: str = "esda") -> pd.DataFrame:
    """Global Moran's I of each variable in each year (the seed study's table).

    Parameters
    ----------
    data : a :class:`~bayes_sdm.panel.Panel` (variables = y and the regressors by default) or a
        long DataFrame with ``unit`` and ``time`` columns
    w : the weights, used exactly as given (row-standardised or not)
    variables : names to test
    assumption : ``"normality"`` (default, the study's tables) or ``"randomization"``; sets
        ``variance`` and hence ``z`` and ``p``
    two_tailed : two-sided p-value of the standard normal approximation (default)
    method : ``"esda"`` (default, ``esda.Moran``) or ``"numpy"`` (:func:`moran_arrays`)

    Returns
    -------
    DataFrame with columns variable, year, I, expected, variance, z, p.

    Raises
    ------
    InputError
        unknown variables or columns, missing cells, a variable constant across units in a year.
    """
    if assumption not in ASSUMPTIONS:
        raise InputError(f"unknown Moran assumption {assumption!r}; choose from {ASSUMPTIONS}")
    if method not in ("esda", "numpy"):
        raise InputError(f"unknown Moran method {method!r}; use 'esda' or 'numpy'")
    names, times, arr = _panel_arrays(data, w, variables, unit, time)
    v_n, t_n, _ = arr.shape
    flat_sd = arr.std(axis=2)
    scale = np.maximum(np.abs(arr).max(axis=2), 1.0)
    const = flat_sd <= 1e-12 * scale
    if const.any():
        v, t = np.argwhere(const)[0]
        raise InputError(f"variable {names[v]!r} is constant across units in year {times[t]!r}; "
                         "Moran's I is undefined")
    rows = []
    if method == "numpy":
        res = moran_arrays(arr, w, assumption, two_tailed)
        for v in range(v_n):
            for t in range(t_n):
                rows.append([names[v], times[t]] + [float(res[c][v, t]) for c in MORAN_COLUMNS[2:]])
        return pd.DataFrame(rows, columns=MORAN_COLUMNS)
    import esda

    g = to_graph(w)
    for v in range(v_n):
        for t in range(t_n):
            mi = esda.Moran(arr[v, t], g, transformation="O", permutations=0,
                            two_tailed=two_tailed)
            if assumption == "normality":
                var, z, p = mi.VI_norm, mi.z_norm, mi.p_norm
            else:
                var, z, p = mi.VI_rand, mi.z_rand, mi.p_rand
            rows.append([names[v], times[t], float(mi.I), float(mi.EI), float(var), float(z),
                         float(p)])
    return pd.DataFrame(rows, columns=MORAN_COLUMNS)


# ----------------------------------------------------------------------------- PPC
def innovations(z: np.ndarray, model: Family | str, rho, beta, theta=None,
                layout: Layout | None = None) -> np.ndarray:
    """Model innovations in the transformed space, per draw: array (S, T, N).

    ``z`` is the (T, N, ncol) array of transformed columns of ``layout`` (default: the standard
    [y, Wy, X, WX, W^2 X]; :func:`bayes_sdm.design.transformed_columns`); the innovation of
    each draw is Z c with c = :func:`bayes_sdm.likelihood.coef_vector` (lag models: y - rho Wy -
    X beta - WX theta; error models: (I - lambda W)(y - X beta - WX theta)).
    """
    family = families.get(model)
    beta = np.atleast_2d(np.asarray(beta, dtype=float))
    s, k = beta.shape
    layout = layout or Layout(k)
    if z.shape[2] != layout.ncol:
        raise InputError(f"z has {z.shape[2]} columns but the layout {layout.blocks} for "
                         f"K={k} has {layout.ncol}")
    if theta is not None:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.shape != (s, k):
            raise InputError(f"theta must have shape ({s}, {k}), got {theta.shape}")
    cs = coef_vectors(layout, family, rho, beta, theta)
    return residuals(z, cs)


def residual_moran(z: np.ndarray, w: SpatialWeights, model: Family | str, rho, beta,
                   theta=None,
                   fe: str = "twoway", times: Sequence | None = None,
                   rng: np.random.Generator | int | None = None) -> pd.DataFrame:
    """Posterior predictive check of residual spatial autocorrelation, year by year.

    For each posterior draw s and year t: I_obs[s, t] = Moran's I of the innovations of the
    observed (transformed) data under draw s; I_rep[s, t] = Moran's I of replicated innovations
    Q eps, eps ~ N(0, sigma^2 I_NT), Q the FE transform (demeaning).  Because the replicated
    data y_rep are generated by the model at the same draw, their innovations are exactly
    Q eps, so no (I - rho W)^{-1} solve is needed; Moran's I is scale-free, so sigma^2 drops out.

    Parameters
    ----------
    z : transformed columns (T, N, 2 + 3K) from :func:`bayes_sdm.design.transformed_columns`
    w : the weights of the model (also used for Moran's I)
    model : a :class:`~bayes_sdm.families.Family` or its name
    rho : (S,) draws of rho (lambda for error models; zeros for SLX/OLS)
    beta, theta : (S, K) draws (theta only for Durbin models)
    fe : the fixed effects used to build ``z`` (sets the demeaning of the replicated errors)
    times : labels of the T years

    Returns
    -------
    DataFrame with columns year, I_obs (posterior mean of the realised I), I_rep_mean,
    I_rep_sd, ppp (posterior predictive p-value P(I_rep >= I_obs)), ppp_two_sided
    (2 min(ppp, 1 - ppp)).
    """
    if fe not in FE_TYPES:
        raise InputError(f"unknown fixed effects {fe!r}; choose from {FE_TYPES}")
    z = np.asarray(z, dtype=float)
    if z.ndim != 3 or z.shape[1] != w.n:
        raise InputError(f"z must have shape (T, N={w.n}, 2+3K), got {z.shape}")
    t_n, n = z.shape[:2]
    times = list(range(t_n)) if times is None else list(times)
    if len(times) != t_n:
        raise InputError(f"{len(times)} year labels for T={t_n} periods")
    e = innovations(z, model, rho, beta, theta)  # (S, T, N)
    i_obs = moran_i(e, w.matrix)
    rng = np.random.default_rng(rng)
    eps = rng.standard_normal(e.shape)
    eps = demean(eps.transpose(1, 2, 0), fe).transpose(2, 0, 1)
    i_rep = moran_i(eps, w.matrix)
    ppp = (i_rep >= i_obs).mean(axis=0)
    return pd.DataFrame({
        "year": times,
        "I_obs": i_obs.mean(axis=0),
        "I_rep_mean": i_rep.mean(axis=0),
        "I_rep_sd": i_rep.std(axis=0),
        "ppp": ppp,
        "ppp_two_sided": 2.0 * np.minimum(ppp, 1.0 - ppp),
    })


def residual_moran_idata(idata, panel: Panel, w: SpatialWeights, model: Family | str,
                         fe: str = "twoway", lag_convention: str = "QWy",
                         max_draws: int | None = 1000,
                         rng: np.random.Generator | int | None = None) -> pd.DataFrame:
    """:func:`residual_moran` from a fit's posterior (``idata.posterior`` with rho or lambda,
    beta[coef], theta[coef]); at most ``max_draws`` draws, thinned evenly."""
    from .draws import parameter_draws

    family = families.get(model)
    post = idata.posterior if hasattr(idata, "posterior") else idata["posterior"]
    d = parameter_draws(post, family, max_draws)
    lay = Layout(panel.K, durbin_raw=durbin_raw_for(family, lag_convention))
    z = transformed_columns(panel, w, fe, lag_convention, lay)
    return residual_moran(z, w, family, d.spatial, d.beta, d.theta, fe=fe, times=panel.times,
                          rng=rng)
