"""The collapsed regional hierarchy's log-density and gradient in closed form, compiled by numba.

For partial pooling under the full W with the regional coefficients integrated out
(:class:`~bayes_sdm.regional.collapsed.CollapsedHierarchy`, the ``make run`` model), NUTS sees
only the spatial parameter s (rho or lambda), sigma and the group scales tau.  Given them, the
deviations and means x = (delta, mu) are jointly normal with precision P and linear term h
(``CollapsedHierarchy._system``): P = E'KE + diag(T^-1, S0^-1), E = [I, A], K = H(s) / sigma^2,
h = E'b(s) / sigma^2 + (0, S0^-1 m0), with a(s), b(s), H(s) the quadratic polynomials of
:class:`~bayes_sdm.regional.collapsed.QuadraticSSE`.  The log-density the PyMC model's
``Potential`` evaluates (``CollapsedHierarchy.marginal_loglik``) is F(x^; theta) - (1/2)
log|P|, with F the joint log-density of (y, x), quadratic in x with Hessian -P, and
x^ = P^-1 h its maximiser.  Hence (envelope theorem; derivative of a log-determinant, e.g.
Petersen & Pedersen, *The Matrix Cookbook*, eqs. 41 and 59), with C = P^-1 and
V = E C E' the conditional covariance of the coefficients,

    d/ds       = J'(s) - SSE_s(g^) / (2 sigma^2) - tr(V H'(s)) / (2 sigma^2),
    d/dlog s2  = -n*/2 + SSE(g^) / (2 sigma^2) + tr(V H(s)) / (2 sigma^2),
    d/dlog tau_m = sum_{i in m} (delta^_i^2 / t_i^2 - 1 + C_ii / t_i^2),

g^ = delta^ + A mu^ and t_i^2 the prior variance of delta_i: O(D^3) per evaluation for
D = d + n_mu (48 for the study's SDM with 3 regions and 6 regressors) plus the log-determinant,
with no dependence on N.  The priors (the spatial parameter's, sigma's and the group scales'
half-normals, with the transforms' log-Jacobians) are those of the PyMC model
(:func:`bayes_sdm.regional.model._build_full_regional`), term for term; the shared pieces
(spatial parameter, sigma, log-determinant) are :mod:`bayes_sdm.closed_form`'s.  The
coefficients are drawn after sampling from their exact conditional, as for the PyMC model
(:func:`bayes_sdm.regional.effects.draw_collapsed`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..closed_form import (
    _HEADER,
    _JA,
    _JB,
    _LDOFF,
    _LEN,
    _NDIM,
    _NEFF,
    _NEXP,
    _NS,
    _SKIND,
    fill_header,
    logdet_and_deriv,
    logdet_buffer,
    sigma_extras,
    sigma_of,
    spatial_of,
    spatial_sigma_names,
    spatial_sigma_support,
    unsupported,
)
from ..errors import InputError

# slots after the shared header: d, n_mu, flat means prior (1) or normal (0)
_RD, _RNMU, _RFLAT = _HEADER, _HEADER + 1, _HEADER + 2
_RHEAD = _HEADER + 3
_LOG_2PI = math.log(2.0 * math.pi)


def regional_unsupported(rm, priors=None) -> str | None:
    """Why the closed-form collapsed posterior does not cover the regional model ``rm``
    (:class:`~bayes_sdm.regional.model.RegionalModel`), or None when it does."""
    if rm.pooling != "partial" or rm.regional_w != "full" or not rm.marginalize:
        return (f"{rm.pooling} pooling under the {rm.regional_w} W"
                + ("" if rm.marginalize else " with the coefficients sampled"))
    b = rm.blocks[0]
    return unsupported(b.stats, b.logdet, rm.family, priors or rm.priors)


def _offsets(d: int, nm: int) -> dict[str, int]:
    sizes = (("a", 3), ("b", 3 * d), ("h", 3 * d * d), ("amap", d), ("atil", d),
             ("gscale", d), ("m0", nm), ("s0", nm), ("tfix", nm), ("tsc", nm))
    out, off = {}, _RHEAD
    for name, n in sizes:
        out[name] = off
        off += n
    out["end"] = off
    return out


class CollapsedClosedForm:
    """The collapsed regional posterior as a flat buffer for the numba kernels (the interface
    of :class:`~bayes_sdm.closed_form.ClosedFormModel`: ``buffer``, ``n_dim``, ``names``,
    ``shapes``, ``dims``, ``coords``, ``initial_point``, ``logp_and_grad``, ``expand``).

    Parameters
    ----------
    rm : a partial-pooling, full-W, collapsed :class:`~bayes_sdm.regional.model.RegionalModel`

    Raises
    ------
    InputError
        a model :func:`regional_unsupported` names.
    """

    def __init__(self, rm):
        from .model import collapsed_hyper_numbers

        why = regional_unsupported(rm)
        if why is not None:
            raise InputError(f"the closed-form regional posterior does not cover {why}")
        col = rm.collapsed
        (part,) = col.parts
        block = rm.blocks[0]
        family, priors = rm.family, rm.priors
        ns = len(family.spatial_params)
        learned, tau_fixed, tau_scale, m0, s0 = collapsed_hyper_numbers(rm)
        d, nm = col.d, col.n_mu
        head = np.zeros(_RHEAD)
        jac_on = ns and family.has_jacobian and block.logdet is not None
        ysd = max(rm.pooled_stats.y_sd, 1e-12)
        fill_header(head, priors, block.logdet if ns else None, ysd, part.stats.terms)
        if not jac_on:  # SLX: no Jacobian
            head[_JA] = head[_JB] = 0.0
        head[_NS] = ns
        head[_RD], head[_RNMU], head[_RFLAT] = d, nm, float(s0 is None)
        self.n_dim = ns + 1 + int(np.sum(learned))
        head[_NDIM] = self.n_dim
        off = _offsets(d, nm)
        body = np.zeros(off["end"] - _RHEAD)

        def put(name, arr):
            arr = np.ravel(np.asarray(arr, dtype=float))
            body[off[name] - _RHEAD:off[name] - _RHEAD + arr.size] = arr

        put("a", part.a)
        put("b", part.b)
        put("h", part.h)
        put("amap", col.amap)
        put("atil", col.atil)
        put("gscale", col.gscale)
        if s0 is not None:
            put("m0", col.mscale * m0)
            put("s0", col.mscale * s0)
        put("tfix", np.where(learned, 0.0, tau_fixed))
        put("tsc", tau_scale)
        ld = logdet_buffer(block.logdet if jac_on else None)
        head[_LDOFF] = off["end"]
        self.names, self.shapes = spatial_sigma_names(family, priors)
        self.dims = {}
        k = rm.panel.K
        groups = ["beta", "theta"] if family.durbin else ["beta"]
        for g, name in enumerate(groups):
            if learned[g * k]:
                self.names.append(f"{name}_tau")
                self.shapes.append((k,))
                self.dims[f"{name}_tau"] = ("coef",)
        self.coords = {"coef": list(rm.panel.x_names)}
        self.n_expanded = int(sum(int(np.prod(s)) for s in self.shapes))
        head[_NEXP] = self.n_expanded
        self.buffer = np.ascontiguousarray(np.concatenate([head, body, ld]))
        self.buffer[_LEN] = self.buffer.size
        self.buffer.setflags(write=False)
        z, xs = spatial_sigma_support(self.buffer)
        self.support_point = np.concatenate(
            [z, [xs], np.log(np.asarray(tau_scale)[np.asarray(learned, bool)])])

    def initial_point(self, seed) -> np.ndarray:
        """The support point with U(-1, 1) jitter (as PyMC's ``jitter_rvs``)."""
        rng = np.random.default_rng(seed)
        return self.support_point + rng.uniform(-1.0, 1.0, self.n_dim)

    def logp_and_grad(self, x) -> tuple[float, np.ndarray]:
        """The log-density and its gradient at ``x`` (unconstrained)."""
        g = np.empty(self.n_dim)
        lp = collapsed_logp_grad(np.ascontiguousarray(x, dtype=float), self.buffer, g)
        return float(lp), g

    def expand(self, x) -> dict[str, np.ndarray]:
        """The posterior variables at ``x`` (unconstrained) by name."""
        out = np.empty(self.n_expanded)
        collapsed_expand_into(np.ascontiguousarray(x, dtype=float), self.buffer, out)
        res, i = {}, 0
        for n, s in zip(self.names, self.shapes, strict=True):
            m = int(np.prod(s))
            res[n] = out[i:i + m].reshape(s)
            i += m
        return res

    @staticmethod
    def callbacks():
        """The numba C callbacks nutpie calls (:mod:`bayes_sdm.closed_form_nuts`)."""
        return c_callbacks()


# ---------------------------------------------------------------------------------------------
# numba kernels (compiled on first use, cached on disk)
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _taus(x, buf, grad, first, nm, tfix, tsc, tau):
    """The group scales (fixed, or exp of the unconstrained entries from ``first``), their
    half-normal priors with the log-transform Jacobian and those terms' gradients."""
    lp = 0.0
    j = first
    for m in range(nm):
        tf = buf[tfix + m]
        if tf > 0.0:
            tau[m] = tf
        else:
            lt = x[j]
            t = math.exp(lt)
            sc = buf[tsc + m]
            tau[m] = t
            lp += 0.5 * math.log(2.0 / math.pi) - math.log(sc) - 0.5 * (t / sc) ** 2 + lt
            grad[j] += 1.0 - (t / sc) ** 2
            j += 1
    return lp


#: floating-point reassociation only (vectorised dot products; NaN and inf keep their
#: meaning, which the positive-definiteness check needs)
_FAST = {"reassoc", "contract"}


@numba.njit(cache=True, fastmath=_FAST)
def _cholesky(p, n):
    """Lower Cholesky factor of the symmetric positive definite ``p`` (n x n); NaN when
    ``p`` is not positive definite (inner products over contiguous rows of L)."""
    low = np.zeros((n, n))
    for j in range(n):
        acc = p[j, j]
        for k in range(j):
            acc -= low[j, k] * low[j, k]
        if not acc > 0.0:
            low[0, 0] = math.nan
            return low
        ljj = math.sqrt(acc)
        low[j, j] = ljj
        for i in range(j + 1, n):
            acc = p[i, j]
            for k in range(j):
                acc -= low[i, k] * low[j, k]
            low[i, j] = acc / ljj
    return low


@numba.njit(cache=True, fastmath=_FAST)
def _inverse_from_cholesky(low, n):
    """(L L')^-1 from the lower factor L: X = L^-1 row by row (forward substitution), then
    X'X, both as rank-one updates over contiguous rows."""
    x = np.zeros((n, n))
    for i in range(n):
        for k in range(i):
            lik = low[i, k]
            for j in range(k + 1):
                x[i, j] -= lik * x[k, j]
        x[i, i] += 1.0
        inv = 1.0 / low[i, i]
        for j in range(i + 1):
            x[i, j] *= inv
    out = np.zeros((n, n))
    for k in range(n):
        for i in range(k + 1):
            xki = x[k, i]
            for j in range(i + 1):
                out[i, j] += xki * x[k, j]
    for i in range(n):
        for j in range(i):
            out[j, i] = out[i, j]
    return out


@numba.njit(cache=True)
def collapsed_logp_grad(x, buf, grad):
    """The log-density of the collapsed regional posterior at the unconstrained ``x``
    (spatial parameter, sigma, learned log group scales); the gradient goes into ``grad``
    (module docstring)."""
    ndim = int(buf[_NDIM])
    ns = int(buf[_NS])
    d = int(buf[_RD])
    nm = int(buf[_RNMU])
    flat = buf[_RFLAT] > 0.5
    # offsets of _offsets()
    oa = _RHEAD
    ob = oa + 3
    oh = ob + 3 * d
    oamap = oh + 3 * d * d
    oatil = oamap + d
    ogs = oatil + d
    om0 = ogs + d
    os0 = om0 + nm
    otf = os0 + nm
    otsc = otf + nm
    for i in range(ndim):
        grad[i] = 0.0
    lp = 0.0
    s = 0.0
    ds = 0.0
    if ns:
        s, ds, lps, dlps, _u = spatial_of(x[0], buf)
        lp += lps
        grad[0] += dlps
    isig = ns
    sigma2, lps, dlps, dv = sigma_of(x[isig], buf)
    lp += lps
    grad[isig] += dlps
    tau = np.empty(nm)
    lp += _taus(x, buf, grad, isig + 1, nm, otf, otsc, tau)
    # b(s), b'(s), H(s), H'(s); t_i^2; the system P x = h
    n = d + nm
    bv = np.empty(d)
    dbv = np.empty(d)
    hm = np.empty((d, d))
    dhm = np.empty((d, d))
    for i in range(d):
        bv[i] = buf[ob + i] + s * (buf[ob + d + i] + s * buf[ob + 2 * d + i])
        dbv[i] = buf[ob + d + i] + 2.0 * s * buf[ob + 2 * d + i]
        for j in range(d):
            k0 = oh + i * d + j
            h1 = buf[k0 + d * d]
            h2 = buf[k0 + 2 * d * d]
            hm[i, j] = buf[k0] + s * (h1 + s * h2)
            dhm[i, j] = h1 + 2.0 * s * h2
    amap = np.empty(d, dtype=np.int64)
    atil = np.empty(d)
    tt2 = np.empty(d)
    for i in range(d):
        amap[i] = int(buf[oamap + i])
        atil[i] = buf[oatil + i]
        t = buf[ogs + i] * tau[amap[i]]
        tt2[i] = t * t
    p = np.zeros((n, n))
    rhs = np.zeros(n)
    for i in range(d):
        for j in range(d):
            p[i, j] = hm[i, j] / sigma2
        p[i, i] += 1.0 / tt2[i]
        rhs[i] = bv[i] / sigma2
    for i in range(d):  # K A and A'K A
        for j in range(d):
            kij = hm[i, j] / sigma2
            p[i, d + amap[j]] += kij * atil[j]
            p[d + amap[i], d + amap[j]] += atil[i] * kij * atil[j]
        rhs[d + amap[i]] += atil[i] * rhs[i]
    for i in range(d):
        for m in range(nm):
            p[d + m, i] = p[i, d + m]
    if not flat:
        for m in range(nm):
            s0 = buf[os0 + m]
            p[d + m, d + m] += 1.0 / (s0 * s0)
            rhs[d + m] += buf[om0 + m] / (s0 * s0)
    low = _cholesky(p, n)
    if not math.isfinite(low[0, 0]):
        return -math.inf
    # x^ = P^-1 h by two triangular solves
    y = np.empty(n)
    for i in range(n):
        acc = rhs[i]
        for k in range(i):
            acc -= low[i, k] * y[k]
        y[i] = acc / low[i, i]
    xh = np.empty(n)
    for i in range(n - 1, -1, -1):
        acc = y[i]
        for k in range(i + 1, n):
            acc -= low[k, i] * xh[k]
        xh[i] = acc / low[i, i]
    cov = _inverse_from_cholesky(low, n)
    gam = np.empty(d)
    for i in range(d):
        gam[i] = xh[i] + atil[i] * xh[d + amap[i]]
    a = buf[oa] + s * (buf[oa + 1] + s * buf[oa + 2])
    da = buf[oa + 1] + 2.0 * s * buf[oa + 2]
    sse = a
    dsse = da
    trvh = 0.0
    trvdh = 0.0
    for i in range(d):
        sse -= 2.0 * bv[i] * gam[i]
        dsse -= 2.0 * dbv[i] * gam[i]
        mi = d + amap[i]
        for j in range(d):
            mj = d + amap[j]
            sse += gam[i] * hm[i, j] * gam[j]
            dsse += gam[i] * dhm[i, j] * gam[j]
            vij = (cov[i, j] + atil[j] * cov[i, mj] + atil[i] * cov[mi, j]
                   + atil[i] * atil[j] * cov[mi, mj])
            trvh += vij * hm[i, j]
            trvdh += vij * dhm[i, j]
    neff = buf[_NEFF]
    lp += -0.5 * neff * (_LOG_2PI + math.log(sigma2)) - sse / (2.0 * sigma2)
    grad[isig] += dv * (-0.5 * neff + (sse + trvh) / (2.0 * sigma2))
    for i in range(d):
        lp += -0.5 * xh[i] * xh[i] / tt2[i] - 0.5 * math.log(tt2[i])
    if not flat:
        for m in range(nm):
            s0 = buf[os0 + m]
            r = (xh[d + m] - buf[om0 + m]) / s0
            lp += -0.5 * r * r - math.log(s0)
    for i in range(n):
        lp -= math.log(low[i, i])
    # group scales: d/dlog tau_m
    j = isig + 1
    for m in range(nm):
        if buf[otf + m] > 0.0:
            continue
        acc = 0.0
        for i in range(d):
            if amap[i] == m:
                acc += (xh[i] * xh[i] + cov[i, i]) / tt2[i] - 1.0
        grad[j] += acc
        j += 1
    if ns:
        ja, jb = buf[_JA], buf[_JB]
        jac = 0.0
        djac = 0.0
        if ja != 0.0:
            ld, dld = logdet_and_deriv(s, buf, int(buf[_LDOFF]))
            jac = ja * ld
            djac = ja * dld
        if jb != 0.0:
            jac -= jb * math.log1p(-s)
            djac += jb / (1.0 - s)
        lp += jac
        grad[0] += (djac - (dsse + trvdh) / (2.0 * sigma2)) * ds
    return lp


@numba.njit(cache=True)
def collapsed_expand_into(x, buf, out):
    """The posterior variables at ``x`` in the order of ``CollapsedClosedForm.names``."""
    ns = int(buf[_NS])
    nm = int(buf[_RNMU])
    d = int(buf[_RD])
    otf = _RHEAD + 3 + 3 * d + 3 * d * d + 3 * d + 2 * nm
    i = 0
    if ns:
        s, _ds, _lp, _dlp, u = spatial_of(x[0], buf)
        out[i] = s
        i += 1
        if int(buf[_SKIND]) == 1:
            out[i] = u
            i += 1
    i = sigma_extras(x[ns], buf, out, i)
    j = ns + 1
    for m in range(nm):
        if buf[otf + m] <= 0.0:
            out[i] = math.exp(x[j])
            i += 1
            j += 1
    return 0


# C callbacks for nutpie (as bayes_sdm.closed_form's, over the collapsed kernels).  They are
# written again here rather than shared from a factory: numba's disk cache is invalidated by
# the timestamp of the file that defines the cached function, so a callback must live in the
# file of the kernels it inlines, or a change there would leave a stale callback on disk.

def _c_logp(dim, x_, out_, logp_, data_):  # pragma: no cover - called from Rust
    buf = numba.carray(data_, (int(data_[_LEN]),))
    nd = int(buf[_NDIM])
    if dim != nd:
        return -1
    x = numba.carray(x_, (nd,))
    out = numba.carray(out_, (nd,))
    lp = collapsed_logp_grad(x, buf, out)
    logp_[0] = lp
    for i in range(nd):
        if not np.isfinite(out[i]):
            return 3
    if not np.isfinite(lp):
        return 4
    return 0


def _c_expand(dim, expanded, x_, out_, data_):  # pragma: no cover - called from Rust
    buf = numba.carray(data_, (int(data_[_LEN]),))
    nd = int(buf[_NDIM])
    ne = int(buf[_NEXP])
    if dim != nd or expanded != ne:
        return -1
    x = numba.carray(x_, (nd,))
    out = numba.carray(out_, (ne,))
    collapsed_expand_into(x, buf, out)
    return 0


_CALLBACKS = None


def c_callbacks():
    """The numba ``cfunc`` s of the collapsed kernels (compiled once per machine, disk cache)."""
    global _CALLBACKS
    if _CALLBACKS is None:
        from numba import types

        dbl = types.CPointer(types.double)
        _CALLBACKS = (
            numba.cfunc(types.int64(types.uint64, dbl, dbl, dbl, dbl), cache=True)(_c_logp),
            numba.cfunc(types.int64(types.uint64, types.uint64, dbl, dbl, dbl),
                        cache=True)(_c_expand))
    return _CALLBACKS
