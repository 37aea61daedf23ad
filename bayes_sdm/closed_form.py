"""The pooled Gaussian posterior's log-density and gradient in closed form, compiled by numba.

For the pooled homoskedastic families with at most one spatial parameter s (rho or lambda;
SAR, SDM, SEM, SDEM, SLX) and any fixed-effects choice, the log-likelihood of
:mod:`bayes_sdm.likelihood` (Lee & Yu 2010, J. Econometrics 154:165-185) is

    l = -(n*/2) log(2 pi sigma^2) + a log|I - s W| - b log(1 - s) - SSE / (2 sigma^2),

with SSE = c'Gc, G the Gram matrix of :class:`~bayes_sdm.likelihood.SufficientStats` and c =
:func:`~bayes_sdm.likelihood.coef_vector`.  c is affine in p = (1, beta, theta) at fixed s and
affine in s at fixed p (lag families: c = (1, -rho, -beta, -theta); error families bilinear,
LeSage & Pace 2009, sec. 2.2), so c = (M0 + s M1) p and

    SSE = p' (Q0 + s Q1 + s^2 Q2) p,   Q0 = M0'GM0, Q1 = M0'GM1 + M1'GM0, Q2 = M1'GM1:

O(P^2) per evaluation (P = 2K + 1 for SDM), with its gradient 2 Q(s) p and p'(Q1 + 2 s Q2)p.
M0 and M1 are not written here: they are read off ``coef_vector`` itself
(:func:`~bayes_sdm.likelihood.coef_layout`, evaluated at basis vectors and s = 0, 1) and the
affinity is checked at random points when the model is built.  With ``fe="none"`` and an
intercept alpha, the SSE gains NT (zbar'c - (1 - lambda) alpha)^2
(:func:`~bayes_sdm.likelihood.intercept_sse`): one more row of c (affine in p = (1, beta, theta,
alpha) and in s), weighted NT, so the same Q form holds (checked against ``intercept_sse``).

The log-determinant is a sum of pieces: exact eigenvalues (sum log|1 - s lambda_i|, real or
complex; :class:`~bayes_sdm.logdet.eigen.EigenLogDet`) or the Chebyshev interpolant in the mapped
variable u = log(s + b) - log(b - s) evaluated as the PyTensor expression does (T_k(x) = cos(k
arccos x), x clipped to 1 - 1e-15; :class:`~bayes_sdm.logdet.interpolated.InterpolatedLogDet`);
:class:`~bayes_sdm.logdet.block.BlockLogDet` sums its blocks' pieces.

Priors and transforms are those of :func:`bayes_sdm.pymc_models.build_model`, term for term
(constants included), in the unconstrained coordinates PyMC samples: s by the interval
(log-odds) transform of its uniform prior, or the rescaled Beta's unit variable by log-odds;
beta, theta Normal(mu, scale * sd(y~)/sd(x~_k)) or flat; log sigma (half-normal, exponential),
log sigma^2 (Jeffreys: flat in log sigma^2; flat sigma^2: HalfFlat with the log transform); the
intercept's Normal or flat prior.  What this does not cover, :func:`unsupported` names, and the
caller keeps the PyMC model for it.

Everything the kernels need travels in one flat float64 buffer (:class:`ClosedFormModel`), so
the compiled code depends on no data and is cached on disk by numba (``cache=True``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import families
from .errors import InputError
from .likelihood import (
    coef_layout,
    coef_vector,
    intercept_prior_sd,
    intercept_sse,
    prior_scale_refs,
)

# header slots of the buffer
_NDIM, _P, _NS, _SKIND, _LO, _HI, _BA, _BB, _SCONST, _SIGKIND, _SIGSCALE, _NEFF, _JA, _JB, \
    _HASALPHA, _NEXP, _LDOFF, _NCOEF, _LEN = range(19)
_HEADER = 19
#: sigma prior codes
SIGMA_KINDS = {"halfnormal": 0, "exponential": 1, "jeffreys": 2, "flat_sigma2": 3}
_LOG_2PI = math.log(2.0 * math.pi)


def unsupported(stats, logdet, family, priors, *, variance: str = "homoskedastic",
                regional: bool = False) -> str | None:
    """Why the closed-form posterior does not cover this model, or None when it does."""
    family = families.get(family)
    if regional:
        return "regional models"
    if variance != "homoskedastic":
        return f"variance: {variance}"
    if not family.bayesian:
        return f"no Bayesian {family.name} model"
    if len(family.spatial_params) > 1:
        return f"{family.name} has two spatial parameters"
    if family.spatial_params and _logdet_pieces(logdet) is None:
        return f"the {getattr(logdet, 'method', type(logdet).__name__)} log-determinant"
    for name in ("rho", "beta", "theta", "sigma"):
        d = getattr(priors, name)
        known = {"rho": ("uniform", "beta"), "beta": ("normal", "flat"),
                 "theta": ("normal", "flat"), "sigma": tuple(SIGMA_KINDS)}[name]
        if d.get("dist") not in known:
            return f"the {name} prior {d!r}"
    return None


def _logdet_pieces(logdet):
    """The log-determinant as a list of (kind, arrays) pieces, or None when a method is not
    covered.  Kinds: 0 real eigenvalues, 1 complex eigenvalues, 2 Chebyshev interpolant."""
    from .logdet.block import BlockLogDet
    from .logdet.eigen import EigenLogDet
    from .logdet.interpolated import InterpolatedLogDet

    if isinstance(logdet, EigenLogDet) and type(logdet).symbolic is EigenLogDet.symbolic:
        if logdet._interp is not None:
            return _logdet_pieces(logdet._interp)
        if logdet.complex:
            return [(1, logdet.re, logdet.im)]
        return [(0, logdet.re)]
    if isinstance(logdet, InterpolatedLogDet) and \
            type(logdet).symbolic is InterpolatedLogDet.symbolic:
        return [(2, np.array([logdet.b, logdet._ulo, logdet._uhi]), logdet.coef)]
    if isinstance(logdet, BlockLogDet):
        parts = [_logdet_pieces(p) for p in logdet.parts]
        return None if any(p is None for p in parts) else [x for p in parts for x in p]
    return None


def fill_header(head, priors, logdet, ysd: float, terms) -> tuple[float, float]:
    """Write the spatial parameter's interval and prior, the sigma prior and the Lee-Yu terms
    (n*, a, b) into the header ``head``; returns the interval ((0, 1) without ``logdet``).
    Shared by every closed-form posterior (:mod:`bayes_sdm.regional.closed_form` too)."""
    lo, hi = (logdet.interval if logdet is not None else (0.0, 1.0))
    head[_LO], head[_HI] = lo, hi
    rp = priors.rho
    if rp["dist"] == "beta":
        a, b = float(rp.get("alpha", 1.01)), float(rp.get("beta", 1.01))
        head[_SKIND], head[_BA], head[_BB] = 1, a, b
        head[_SCONST] = -(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    sp = priors.sigma
    head[_SIGKIND] = SIGMA_KINDS[sp["dist"]]
    head[_SIGSCALE] = sp.get("scale", 1.0) * ysd
    head[_NEFF], head[_JA], head[_JB] = terms.n_eff, terms.a, terms.b
    return lo, hi


def logdet_buffer(logdet) -> np.ndarray:
    """The log-determinant's pieces (:func:`_logdet_pieces`) as the flat array that
    :func:`logdet_and_deriv` reads (no pieces without ``logdet``)."""
    pieces = _logdet_pieces(logdet) if logdet is not None else []
    ld = [float(len(pieces))]
    for kind, *arrays in pieces:
        ld += [float(kind), float(len(arrays[-1]))]
        for arr in arrays:
            ld += list(np.asarray(arr, dtype=float))
    return np.asarray(ld)


def spatial_sigma_names(family, priors) -> tuple[list[str], list[tuple]]:
    """Names and shapes of the spatial parameter (with the Beta prior's ``_unit``), sigma,
    sigma^2 and the sigma prior's auxiliary variable, in the order :func:`spatial_of` /
    :func:`sigma_extras` expand them (the PyMC model's names,
    :func:`bayes_sdm.pymc_models.spatial_prior` / ``sigma_prior``)."""
    names = []
    if family.spatial_params:
        names.append(family.spatial)
        if priors.rho["dist"] == "beta":
            names.append(f"{family.spatial}_unit")
    names += ["sigma", "sigma2"]
    extra = {"jeffreys": "log_sigma2", "flat_sigma2": "sigma2_flat"}.get(priors.sigma["dist"])
    if extra:
        names.append(extra)
    return names, [()] * len(names)


def spatial_sigma_support(buf) -> tuple[np.ndarray, float]:
    """PyMC's support points of the spatial parameter (0 or 1 entries: the logit of the Beta
    mean, 0 for the uniform) and of sigma's unconstrained variable (log of the half-normal's or
    exponential's scale, else 0)."""
    z = np.zeros(int(buf[_NS]))
    if z.size and int(buf[_SKIND]) == 1:
        z[0] = math.log(buf[_BA] / buf[_BB])  # logit of the mean a / (a + b)
    kind = int(buf[_SIGKIND])
    return z, (math.log(buf[_SIGSCALE]) if kind in (0, 1) else 0.0)


def _maps(stats, family):
    """(M0, M1, G) with c(s, p) = (M0 + s M1) p, p = (1, beta, theta[, alpha]), and SSE =
    c'Gc: M0, M1 from :func:`~bayes_sdm.likelihood.coef_layout`; with an intercept, c gains the
    row zbar'c - (1 - lambda) alpha and G the weight NT for it."""
    u0, u1, m0, m1 = coef_layout(stats.layout, family)
    big0 = np.column_stack([u0, m0])
    big1 = np.column_stack([u1, m1])
    gram = np.asarray(stats.gram, dtype=float)
    if stats.means is None:
        return big0, big1, gram
    zbar = np.asarray(stats.means, dtype=float)
    # d = zbar'c - (1 - lambda) alpha, alpha the last entry of p
    row0 = np.append(zbar @ big0, -1.0)
    row1 = np.append(zbar @ big1, 1.0 if family.error else 0.0)
    c = big0.shape[0]
    m0x = np.zeros((c + 1, big0.shape[1] + 1))
    m1x = np.zeros_like(m0x)
    m0x[:c, :-1], m1x[:c, :-1] = big0, big1
    m0x[c], m1x[c] = row0, row1
    gx = np.zeros((c + 1, c + 1))
    gx[:c, :c] = gram
    gx[c, c] = stats.N * stats.T
    return m0x, m1x, gx


def _check_affine(stats, family, m0, m1, gx, rng) -> None:
    """c and the SSE from the maps equal ``coef_vector`` / ``intercept_sse`` at random points.

    Raises
    ------
    RuntimeError
        when they do not (``coef_vector`` not affine in s and in p).
    """
    k = stats.K
    n_coef = family.n_coef(k)
    alpha_on = stats.means is not None
    for _ in range(3):
        s = rng.uniform(-0.9, 0.9) if family.spatial_params else 0.0
        b = rng.normal(size=n_coef)
        p = np.concatenate([[1.0], b, rng.normal(size=1) if alpha_on else []])
        c_ext = (m0 + s * m1) @ p
        c = np.asarray(coef_vector(stats.layout, family, s, b[:k],
                                   b[k:] if family.durbin else None), dtype=float)
        ok = np.allclose(c_ext[:c.size], c, rtol=1e-12, atol=1e-12)
        if alpha_on:
            ref = intercept_sse(stats, family, s, c, p[-1])
            ok = ok and np.isclose(gx[-1, -1] * c_ext[-1] ** 2, ref, rtol=1e-10, atol=1e-12)
        if not ok:
            raise RuntimeError(f"the residual of {family.name} is not affine in its spatial "
                               "parameter and coefficients: no closed-form posterior")


class ClosedFormModel:
    """The posterior of one pooled model as a flat buffer for the numba kernels.

    Parameters
    ----------
    stats : :class:`~bayes_sdm.likelihood.SufficientStats`
    logdet : the log-determinant (eigenvalues, a Chebyshev interpolant, or blocks of them)
    family : a :class:`~bayes_sdm.families.Family` (or its name)
    priors : an object with the prior mappings ``rho``, ``beta``, ``theta``, ``sigma``
        (:class:`~bayes_sdm.spec.PriorSpec`)

    Attributes
    ----------
    buffer : float64 array read by :func:`logp_grad` and :func:`expand`
    n_dim : length of the unconstrained vector (spatial, beta, theta, sigma, intercept)
    names, shapes, dims : the posterior variables the expansion writes, in its order
    coords : ``{"coef": regressor names}``

    Raises
    ------
    InputError
        a model :func:`unsupported` names.
    """

    def __init__(self, stats, logdet, family, priors):
        family = families.get(family)
        why = unsupported(stats, logdet, family, priors)
        if why is not None:
            raise InputError(f"the closed-form posterior does not cover {why}")
        self.family, self.stats = family, stats
        k = stats.K
        n_coef = family.n_coef(k)
        ns = len(family.spatial_params)
        alpha_on = stats.means is not None
        m0, m1, gx = _maps(stats, family)
        _check_affine(stats, family, m0, m1, gx, np.random.default_rng(1))
        q0 = m0.T @ gx @ m0
        q1 = m0.T @ gx @ m1
        q1 = q1 + q1.T
        q2 = m1.T @ gx @ m1
        npar = q0.shape[0]
        ysd, bref, tref = prior_scale_refs(stats)
        mu = np.zeros(npar - 1)
        sd = np.zeros(npar - 1)  # 0: flat
        for name, sl, ref in (("beta", slice(0, k), bref), ("theta", slice(k, n_coef), tref)):
            pr = getattr(priors, name)
            if sl.stop > sl.start and pr["dist"] == "normal":
                mu[sl] = pr.get("mu", 0.0)
                sd[sl] = pr.get("scale", 2.5) * ref
        if alpha_on and priors.beta["dist"] != "flat":
            sd[-1] = intercept_prior_sd(stats, priors.beta.get("scale", 2.5))
        head = np.zeros(_HEADER)
        self.n_dim = ns + n_coef + 1 + int(alpha_on)
        head[_NDIM], head[_P], head[_NS], head[_NCOEF] = self.n_dim, npar, ns, n_coef
        head[_HASALPHA] = float(alpha_on)
        fill_header(head, priors, logdet if ns else None, ysd, stats.terms)
        ld = logdet_buffer(logdet if ns else None)
        self._names_shapes(family, stats, priors, alpha_on)
        head[_NEXP] = sum(int(np.prod(s)) for s in self.shapes)
        head[_LDOFF] = _HEADER + 2 * (npar - 1) + 3 * npar * npar
        self.buffer = np.ascontiguousarray(np.concatenate(
            [head, mu, sd, q0.ravel(), q1.ravel(), q2.ravel(), np.asarray(ld)]))
        self.buffer[_LEN] = self.buffer.size
        self.buffer.setflags(write=False)
        self.n_expanded = int(head[_NEXP])
        self.support_point = self._support_point()

    def _names_shapes(self, family, stats, priors, alpha_on) -> None:
        """The expansion's variables (order of :func:`_expand_into`) with shapes and dims."""
        k = stats.K
        names, shapes = ["beta"], [(k,)]
        if family.durbin:
            names.append("theta")
            shapes.append((k,))
        if alpha_on:
            names.append("intercept")
            shapes.append(())
        sn, ss = spatial_sigma_names(family, priors)
        names += sn
        shapes += ss
        self.names, self.shapes = names, shapes
        self.dims = {n: ("coef",) for n in ("beta", "theta") if n in names}
        self.coords = {"coef": list(stats.x_names)}

    def _support_point(self) -> np.ndarray:
        """PyMC's initial point (the priors' support points) in the unconstrained space."""
        x = np.zeros(self.n_dim)
        ns = int(self.buffer[_NS])
        n_coef = int(self.buffer[_NCOEF])
        mu = self.buffer[_HEADER:_HEADER + n_coef]
        sdv = self.buffer[_HEADER + int(self.buffer[_P]) - 1:][:n_coef]
        x[ns:ns + n_coef] = np.where(sdv > 0, mu, 0.0)
        x[0:ns], x[ns + n_coef] = spatial_sigma_support(self.buffer)
        return x

    def initial_point(self, seed) -> np.ndarray:
        """The support point with U(-1, 1) jitter (as PyMC's ``jitter_rvs``)."""
        rng = np.random.default_rng(seed)
        return self.support_point + rng.uniform(-1.0, 1.0, self.n_dim)

    def logp_and_grad(self, x) -> tuple[float, np.ndarray]:
        """The log-density and its gradient at ``x`` (unconstrained)."""
        g = np.empty(self.n_dim)
        lp = logp_grad(np.ascontiguousarray(x, dtype=float), self.buffer, g)
        return float(lp), g

    def expand(self, x) -> dict[str, np.ndarray]:
        """The posterior variables at ``x`` (unconstrained) by name."""
        out = np.empty(self.n_expanded)
        expand_into(np.ascontiguousarray(x, dtype=float), self.buffer, out)
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


@numba.njit(cache=True, fastmath=False)
def softplus(z):
    """log(1 + e^z), stably."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@numba.njit(cache=True)
def logdet_and_deriv(s, buf, off):
    """log|I - s W| and its derivative from the pieces at ``buf[off:]`` (module docstring):
    eigenvalues (LeSage & Pace 2009, sec. 4.1) or the Chebyshev interpolant."""
    npieces = int(buf[off])
    off += 1
    val = 0.0
    der = 0.0
    for _ in range(npieces):
        kind = int(buf[off])
        n = int(buf[off + 1])
        off += 2
        if kind == 0:
            for i in range(n):
                lam = buf[off + i]
                a = 1.0 - s * lam
                val += math.log(a)
                der -= lam / a
            off += n
        elif kind == 1:
            for i in range(n):
                re = buf[off + i]
                im = buf[off + n + i]
                a = 1.0 - s * re
                b = s * im
                d = a * a + b * b
                val += 0.5 * math.log(d)
                der += (-a * re + b * im) / d
            off += 2 * n
        else:
            bb, ulo, uhi = buf[off], buf[off + 1], buf[off + 2]
            off += 3
            u = math.log(s + bb) - math.log(bb - s)
            x = (2.0 * u - (uhi + ulo)) / (uhi - ulo)
            x = min(max(x, -1.0 + 1e-15), 1.0 - 1e-15)
            th = math.acos(x)
            sth = math.sin(th)
            g = 0.0
            dg = 0.0
            for j in range(n):
                c = buf[off + j]
                g += c * math.cos(j * th)
                dg += c * j * math.sin(j * th)
            dg /= sth
            off += n
            val += g + math.log1p(-s / bb)
            der += dg * (2.0 / (uhi - ulo)) * (1.0 / (s + bb) + 1.0 / (bb - s)) \
                - 1.0 / (bb - s)
    return val, der


@numba.njit(cache=True)
def spatial_of(z, buf):
    """(s, ds/dz, prior + log-Jacobian, its z-derivative, unit value)."""
    lo, hi = buf[_LO], buf[_HI]
    if z >= 0:
        e = math.exp(-z)
        u = 1.0 / (1.0 + e)
    else:
        e = math.exp(z)
        u = e / (1.0 + e)
    s = u * hi + (1.0 - u) * lo
    ds = (hi - lo) * u * (1.0 - u)
    lj = -softplus(-z) - softplus(z)  # log u + log(1 - u)
    dlj = 1.0 - 2.0 * u
    if int(buf[_SKIND]) == 1:
        a, b = buf[_BA], buf[_BB]
        lp = buf[_SCONST] + (a - 1.0) * (-softplus(-z)) + (b - 1.0) * (-softplus(z)) + lj
        dlp = (a - 1.0) * (1.0 - u) - (b - 1.0) * u + dlj
    else:  # uniform: -log(hi - lo) + log(hi - lo) - 2 softplus(-z) - z
        lp = lj
        dlp = dlj
    return s, ds, lp, dlp, u


@numba.njit(cache=True)
def sigma_of(xs, buf):
    """(sigma^2, prior + log-Jacobian, its xs-derivative, d log sigma^2 / d xs) at the
    unconstrained ``xs``: log sigma (half-normal, exponential) or log sigma^2 (Jeffreys, flat
    sigma^2 with the HalfFlat's log-transform Jacobian), as :func:`bayes_sdm.pymc_models.sigma_prior`."""
    kind = int(buf[_SIGKIND])
    if kind <= 1:
        sigma = math.exp(xs)
        sc = buf[_SIGSCALE]
        if kind == 0:
            lp = 0.5 * math.log(2.0 / math.pi) - math.log(sc) - 0.5 * (sigma / sc) ** 2 + xs
            dlp = 1.0 - (sigma / sc) ** 2
        else:
            lp = -math.log(sc) - sigma / sc + xs
            dlp = 1.0 - sigma / sc
        return sigma * sigma, lp, dlp, 2.0
    if kind == 3:  # HalfFlat with the log transform: its Jacobian
        return math.exp(xs), xs, 1.0, 1.0
    return math.exp(xs), 0.0, 0.0, 1.0


@numba.njit(cache=True)
def sigma_extras(xs, buf, out, i):
    """Write sigma, sigma^2 and the prior's auxiliary variable (``log_sigma2`` or
    ``sigma2_flat``) of the unconstrained ``xs`` into ``out`` from ``i``; returns the next slot."""
    kind = int(buf[_SIGKIND])
    if kind <= 1:
        sigma = math.exp(xs)
    elif kind == 2:
        sigma = math.exp(0.5 * xs)
    else:
        sigma = math.sqrt(math.exp(xs))
    out[i] = sigma
    out[i + 1] = sigma * sigma
    i += 2
    if kind == 2:
        out[i] = xs
        i += 1
    elif kind == 3:
        out[i] = math.exp(xs)
        i += 1
    return i


@numba.njit(cache=True)
def logp_grad(x, buf, grad):
    """The log-density at the unconstrained ``x`` (priors, transforms' log-Jacobians and the
    Lee-Yu likelihood); its gradient is written into ``grad``."""
    ndim = int(buf[_NDIM])
    npar = int(buf[_P])
    ns = int(buf[_NS])
    ncoef = int(buf[_NCOEF])
    alpha_on = int(buf[_HASALPHA])
    mu0 = _HEADER
    sd0 = mu0 + npar - 1
    q0 = sd0 + npar - 1
    q1 = q0 + npar * npar
    q2 = q1 + npar * npar
    for i in range(ndim):
        grad[i] = 0.0
    p = np.empty(npar)
    p[0] = 1.0
    for j in range(ncoef):
        p[1 + j] = x[ns + j]
    isig = ns + ncoef
    if alpha_on:
        p[npar - 1] = x[isig + 1]
    lp = 0.0
    s = 0.0
    ds = 0.0
    if ns:
        s, ds, lps, dlps, _u = spatial_of(x[0], buf)
        lp += lps
        grad[0] += dlps
    # coefficient priors (Normal or flat)
    for j in range(npar - 1):
        sd = buf[sd0 + j]
        if sd > 0.0:
            r = (p[1 + j] - buf[mu0 + j]) / sd
            lp += -0.5 * r * r - math.log(sd) - 0.5 * _LOG_2PI
            gi = isig + 1 if (alpha_on and j == npar - 2) else ns + j
            grad[gi] -= r / sd
    # SSE = p'(Q0 + s Q1 + s^2 Q2)p and its gradient
    sse = 0.0
    dsse_ds = 0.0
    qp = np.empty(npar)
    for i in range(npar):
        acc = 0.0
        acc1 = 0.0
        for j in range(npar):
            q1ij = buf[q1 + i * npar + j]
            q2ij = buf[q2 + i * npar + j]
            acc += (buf[q0 + i * npar + j] + s * (q1ij + s * q2ij)) * p[j]
            acc1 += (q1ij + 2.0 * s * q2ij) * p[j]
        qp[i] = acc
        sse += p[i] * acc
        dsse_ds += p[i] * acc1
    sigma2, lps, dlps, dv = sigma_of(x[isig], buf)
    lp += lps
    grad[isig] += dlps
    neff = buf[_NEFF]
    lp += -0.5 * neff * (_LOG_2PI + math.log(sigma2)) - sse / (2.0 * sigma2)
    grad[isig] += dv * (-0.5 * neff + sse / (2.0 * sigma2))
    for j in range(npar - 1):
        gi = isig + 1 if (alpha_on and j == npar - 2) else ns + j
        grad[gi] -= qp[1 + j] / sigma2
    if ns:
        ja, jb = buf[_JA], buf[_JB]
        ld, dld = logdet_and_deriv(s, buf, int(buf[_LDOFF]))
        jac = ja * ld
        djac = ja * dld
        if jb != 0.0:
            jac -= jb * math.log1p(-s)
            djac += jb / (1.0 - s)
        lp += jac
        grad[0] += (djac - dsse_ds / (2.0 * sigma2)) * ds
    return lp


@numba.njit(cache=True)
def expand_into(x, buf, out):
    """The posterior variables at ``x`` in the order of ``ClosedFormModel.names``."""
    ns = int(buf[_NS])
    ncoef = int(buf[_NCOEF])
    alpha_on = int(buf[_HASALPHA])
    isig = ns + ncoef
    i = 0
    for j in range(ncoef):
        out[i] = x[ns + j]
        i += 1
    if alpha_on:
        out[i] = x[isig + 1]
        i += 1
    if ns:
        s, _ds, _lp, _dlp, u = spatial_of(x[0], buf)
        out[i] = s
        i += 1
        if int(buf[_SKIND]) == 1:
            out[i] = u
            i += 1
    sigma_extras(x[isig], buf, out, i)
    return 0


def logp_and_grad_at(x, buf) -> tuple[float, np.ndarray]:
    """(log-density, gradient) at ``x`` for a buffer (a convenience for tests)."""
    g = np.empty(int(buf[_NDIM]))
    return float(logp_grad(np.ascontiguousarray(x, dtype=float), buf, g)), g


# C callbacks for nutpie (bayes_sdm.closed_form_nuts): int64 f(dims, x, out, logp | out,
# user data); the user data is the buffer, whose length is its slot _LEN

def _c_logp(dim, x_, out_, logp_, data_):  # pragma: no cover - called from Rust
    buf = numba.carray(data_, (int(data_[_LEN]),))
    nd = int(buf[_NDIM])
    if dim != nd:
        return -1
    x = numba.carray(x_, (nd,))
    out = numba.carray(out_, (nd,))
    lp = logp_grad(x, buf, out)
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
    expand_into(x, buf, out)
    return 0


_CALLBACKS = None


def c_callbacks():
    """The numba ``cfunc`` s (log-density with gradient, expansion) nutpie calls with the buffer
    as user data; compiled once per machine (disk cache), loaded on first use per process."""
    global _CALLBACKS
    if _CALLBACKS is None:
        from numba import types

        dbl = types.CPointer(types.double)
        _CALLBACKS = (
            numba.cfunc(types.int64(types.uint64, dbl, dbl, dbl, dbl), cache=True)(_c_logp),
            numba.cfunc(types.int64(types.uint64, types.uint64, dbl, dbl, dbl),
                        cache=True)(_c_expand))
    return _CALLBACKS
