"""The regional coefficients and their common means integrated out analytically.

Given the spatial parameters, the error scales and the group scales, the regional
coefficients are jointly normal with the Gaussian likelihood (the SSE of each block is a
quadratic in them, :class:`QuadraticSSE`), so they can be integrated out exactly
(:meth:`CollapsedHierarchy.marginal_loglik`) and drawn afterwards from their exact conditional
(:meth:`CollapsedHierarchy.draw`).  NUTS then sees only rho, sigma and the group scales: no
funnel (see :mod:`bayes_sdm.regional`).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..families import Family
from ..likelihood import SufficientStats, coef_layout, gaussian_loglik, jacobian


class QuadraticSSE:
    """SSE of one likelihood block as a quadratic in its coefficients.

    For fixed rho the residual coefficient vector of :func:`~bayes_sdm.likelihood.coef_vector`
    is affine in gamma = (beta, theta): c = c0(rho) + M(rho) gamma, every entry of degree <= 1
    in rho (:func:`~bayes_sdm.likelihood.coef_layout`).  Hence

        SSE = c'Gc = a(rho) - 2 b(rho)'gamma + gamma'H(rho) gamma,

    a, b, H quadratic polynomials in rho computed once from the Gram matrix.  Stored in the
    scaled coordinates gamma~ = D gamma, D = sqrt(diag H(0)) (for conditioning only).
    """

    def __init__(self, stats: SufficientStats, family: Family):
        self.stats, self.family = stats, family
        self.durbin = family.durbin
        self.d = family.n_coef(stats.K)
        if len(family.spatial_params) > 1:
            raise InputError(f"{family.name}: the collapsed hierarchy covers one spatial "
                             "parameter")
        # c = u0 + rho u1 + (M0 + rho M1) gamma (likelihood.coef_layout)
        c00, c01, m0, m1 = coef_layout(stats.layout, family)
        g = stats.gram
        self.a = np.array([c00 @ g @ c00, 2.0 * c00 @ g @ c01, c01 @ g @ c01])
        b = np.stack([-m0.T @ g @ c00, -(m0.T @ g @ c01 + m1.T @ g @ c00), -m1.T @ g @ c01])
        h = np.stack([m0.T @ g @ m0, m0.T @ g @ m1 + m1.T @ g @ m0, m1.T @ g @ m1])
        h = 0.5 * (h + np.transpose(h, (0, 2, 1)))
        dg = np.sqrt(np.clip(np.diag(h[0]), 0.0, None))
        self.scale = np.where(dg > 0, dg, 1.0)
        self.b = b / self.scale
        self.h = h / np.outer(self.scale, self.scale)

    @staticmethod
    def poly(coef, rho):
        return coef[0] + rho * (coef[1] + rho * coef[2])


class CollapsedHierarchy:
    """The regional coefficients *and* their common means integrated out analytically.

    Blocks j (regions under the block W, or the whole panel under the full W) have
    SSE_j = a_j - 2 b_j'gamma_j + gamma_j'H_j gamma_j (:class:`QuadraticSSE`).  The
    coefficients gamma = (gamma_1, ...) (every region's beta and theta) are normal given the
    common means mu (``beta_mean``, ``theta_mean``) and group scales tau:

        gamma = A mu + delta,  delta ~ N(0, diag(tau[amap]^2)),  mu ~ N(m0, diag(s0^2))
        (or flat),

    A the 0/1 matrix sending each coefficient to its mean.  Given (rho_j, sigma_j^2, tau) the
    joint density of (gamma, mu) is normal with precision

        P = [[blockdiag(H_j / sigma_j^2) + T^-1,  -T^-1 A],
             [-A'T^-1,                   A'T^-1 A + S0^-1]],   T = diag(tau[amap]^2),

    (computed in the coordinates (delta, mu), delta = gamma - A mu, see :meth:`_system`), and
    integrating it out gives exactly (the normal-normal marginal, e.g. Gelman et al. 2013,
    BDA3 ch. 5.4 and 14.2)

        log p(y | rho, sigma, tau) = sum_j [-(n*_j/2) log(2 pi sigma_j^2) + J_j(rho_j)
                                              - SSE_j(g^_j) / (2 sigma_j^2)]
            - (1/2) sum((g^ - A mu^)/tau)^2 - (1/2) sum((mu^ - m0)/s0)^2
            - sum log tau[amap] - sum log s0 - (1/2) log|P|,

    (g^, mu^) = P^{-1} h the joint conditional mode (mean), h = (b_j / sigma_j^2, m0 / s0^2):
    the per-block terms are :func:`~bayes_sdm.likelihood.gaussian_loglik` with
    :func:`~bayes_sdm.likelihood.jacobian`.  (gamma, mu) | rest ~ N(P^{-1} h, P^{-1}) is drawn
    after sampling, draw by draw, so the posterior holds the regional coefficients and the
    means as usual.  Only rho, sigma and the group scales are sampled: no funnel between the
    scales and the coefficients or means (the source of divergences of the explicit
    hierarchical model when the regions' data are informative and of slow mixing of the
    means when they are not).
    """

    def __init__(self, parts: list[QuadraticSSE], amap: np.ndarray, n_mu: int):
        self.parts = parts
        self.amap = np.asarray(amap, dtype=int)
        self.n_mu = n_mu
        self.d = sum(p.d for p in parts)
        if self.amap.shape != (self.d,):
            raise ValueError("amap must give the mean of every coefficient")
        self.gscale = np.concatenate([p.scale for p in parts])
        # scale of each mean: rms of the scales of its coefficients
        cnt = np.bincount(self.amap, minlength=n_mu)
        ms = np.bincount(self.amap, weights=self.gscale**2, minlength=n_mu)
        self.mscale = np.sqrt(np.where(cnt > 0, ms / np.maximum(cnt, 1), 1.0))
        self.atil = self.gscale / self.mscale[self.amap]  # A~ = D A D_mu^-1 (one entry per row)
        self.a01 = np.zeros((self.d, n_mu))
        self.a01[np.arange(self.d), self.amap] = 1.0
        self.offsets = np.cumsum([0] + [p.d for p in parts])

    # -- the joint normal of (delta, mu), delta = gamma - A mu ----------------------------------
    def _system(self, xp, hms, bs, sigma2s, tau, m0, s0):
        """Precision P and linear term h of (delta~, mu~) in scaled coordinates, and tau~^2.

        Working with the deviations delta = gamma - A mu (unit Jacobian) instead of gamma
        keeps P well conditioned when a group scale is tiny: the delta block is then dominated
        by the diagonal tau~^-2 and the mu block needs no cancellation of O(tau^-2) terms.
            P = [[K + T^-1, K A], [A'K, A'K A + S0^-1]],  h = [k, A'k + S0^-1 m0],
        K = blockdiag(H_j / sigma_j^2), k = (b_j / sigma_j^2).

        ``xp`` is PyTensor (one parameter set) or NumPy, where every argument may carry a
        leading axis of S parameter sets: hms (S, d_j, d_j), bs (S, d_j), sigma2s (S, blocks),
        tau (S, n_mu); P is then (S, n, n).
        """
        amat = self.a01 * self.atil[:, None]  # A~ (d x n_mu)
        if xp is np:
            return self._system_np(hms, bs, sigma2s, tau, m0, s0, amat)
        kmat = xp.linalg.block_diag(*[hm / s2 for hm, s2 in zip(hms, sigma2s, strict=True)])
        kvec = xp.concatenate([b / s2 for b, s2 in zip(bs, sigma2s, strict=True)])
        amat = xp.constant(amat)
        tt2 = (xp.constant(self.gscale) * tau[self.amap]) ** 2
        ka = xp.dot(kmat, amat)
        bot = xp.dot(amat.T, ka)
        hmu = xp.dot(amat.T, kvec)
        if s0 is not None:
            s0t = self.mscale * np.asarray(s0, float)
            bot = bot + xp.diag(xp.constant(1.0 / s0t**2))
            hmu = hmu + xp.constant(self.mscale * np.asarray(m0, float) / s0t**2)
        prec = xp.concatenate([xp.concatenate([kmat + xp.diag(1.0 / tt2), ka], axis=1),
                               xp.concatenate([ka.T, bot], axis=1)], axis=0)
        return prec, xp.concatenate([kvec, hmu]), tt2, amat

    def _system_np(self, hms, bs, sigma2s, tau, m0, s0, amat):
        """:meth:`_system` in NumPy for a leading axis of S parameter sets."""
        sigma2s = np.asarray(sigma2s, dtype=float)
        tau = np.asarray(tau, dtype=float)
        n_s, d, nm = tau.shape[0], self.d, self.n_mu
        kmat = np.zeros((n_s, d, d))
        kvec = np.empty((n_s, d))
        for j, (hm, b) in enumerate(zip(hms, bs, strict=True)):
            lo, hi = self.offsets[j], self.offsets[j + 1]
            kmat[:, lo:hi, lo:hi] = hm / sigma2s[:, j, None, None]
            kvec[:, lo:hi] = b / sigma2s[:, j, None]
        tt2 = (self.gscale * tau[:, self.amap]) ** 2
        ka = kmat @ amat
        bot = amat.T @ ka
        hmu = kvec @ amat
        if s0 is not None:
            s0t = self.mscale * np.asarray(s0, float)
            bot[:, np.arange(nm), np.arange(nm)] += 1.0 / s0t**2
            hmu = hmu + self.mscale * np.asarray(m0, float) / s0t**2
        prec = np.empty((n_s, d + nm, d + nm))
        prec[:, :d, :d] = kmat
        prec[:, np.arange(d), np.arange(d)] += 1.0 / tt2
        prec[:, :d, d:] = ka
        prec[:, d:, :d] = np.transpose(ka, (0, 2, 1))
        prec[:, d:, d:] = bot
        return prec, np.concatenate([kvec, hmu], axis=1), tt2, amat

    def marginal_loglik(self, logdets, rhos, sigma2s, tau, m0=None, s0=None):
        """The collapsed log-likelihood (PyTensor).  rhos, sigma2s: one per block; tau: (n_mu,);
        m0, s0: prior means and sds of mu (arrays, constants) or s0=None for a flat prior."""
        import pytensor.tensor as pt

        bs = [QuadraticSSE.poly([pt.constant(v) for v in p.b], r)
              for p, r in zip(self.parts, rhos, strict=True)]
        hms = [QuadraticSSE.poly([pt.constant(v) for v in p.h], r)
               for p, r in zip(self.parts, rhos, strict=True)]
        prec, rhs, tt2, amat = self._system(pt, hms, bs, sigma2s, tau, m0, s0)
        chol = pt.linalg.cholesky(prec)
        x = pt.linalg.solve_triangular(chol.T, pt.linalg.solve_triangular(chol, rhs, lower=True),
                                       lower=False)
        dev, mu = x[:self.d], x[self.d:]
        gam = dev + pt.dot(amat, mu)
        total = 0.0
        for j, p in enumerate(self.parts):
            gj = gam[self.offsets[j]:self.offsets[j + 1]]
            a = QuadraticSSE.poly([pt.constant(v) for v in p.a], rhos[j])
            sse = a - 2.0 * pt.dot(bs[j], gj) + pt.dot(gj, pt.dot(hms[j], gj))
            if not p.family.has_jacobian or logdets[j] is None:
                jac = 0.0
            else:
                jac = jacobian(p.stats.terms, logdets[j].symbolic(rhos[j]), rhos[j], xp=pt)
            total = total + gaussian_loglik(p.stats.terms, sse, sigma2s[j], jac, xp=pt)
        total = total - 0.5 * pt.sum(dev**2 / tt2) - 0.5 * pt.sum(pt.log(tt2))
        if s0 is not None:
            s0t = pt.constant(self.mscale * np.asarray(s0, float))
            m0t = pt.constant(self.mscale * np.asarray(m0, float))
            total = total - 0.5 * pt.sum(((mu - m0t) / s0t) ** 2) - pt.sum(pt.log(s0t))
        return total - pt.sum(pt.log(pt.diag(chol)))

    def conditional(self, rhos, sigma2s, tau, m0=None, s0=None):
        """Mean and covariance of (gamma, mu) | y, rho, sigma, tau in the original coordinates
        (one parameter set; for tests and checks)."""
        hms = [QuadraticSSE.poly(p.h, r)[None] for p, r in zip(self.parts, rhos, strict=True)]
        bs = [QuadraticSSE.poly(p.b, r)[None] for p, r in zip(self.parts, rhos, strict=True)]
        prec, rhs, _, amat = self._system(np, hms, bs, np.asarray(sigma2s, float)[None],
                                          np.asarray(tau, float)[None], m0, s0)
        cov = np.linalg.inv(prec[0])
        j = np.block([[np.eye(self.d), amat], [np.zeros((self.n_mu, self.d)),
                                                np.eye(self.n_mu)]])
        sc = 1.0 / np.concatenate([self.gscale, self.mscale])
        mean = sc * (j @ (cov @ rhs[0]))
        return mean, sc[:, None] * (j @ cov @ j.T) * sc[None, :]

    # -- draws -----------------------------------------------------------------------------
    def draw(self, rhos, sigma2s, tau, m0, s0, rng: np.random.Generator, chunk: int = 512):
        """(gamma, mu) | rest for S draws: rhos, sigma2s (S, n_blocks); tau (S, n_mu).
        Returns gamma (S, d) and mu (S, n_mu) in the original coordinates.

        With P = L L' and z ~ N(0, I), x = L'^-1 (L^-1 h + z) ~ N(P^-1 h, P^-1); computed for
        ``chunk`` draws at a time with NumPy's stacked linear algebra."""
        rhos = np.asarray(rhos, dtype=float)
        sigma2s = np.asarray(sigma2s, dtype=float)
        tau = np.asarray(tau, dtype=float)
        n = rhos.shape[0]
        z = rng.standard_normal((n, self.d + self.n_mu))
        x = np.empty_like(z)
        for lo in range(0, n, chunk):
            sl = slice(lo, min(lo + chunk, n))
            hms = [QuadraticSSE.poly(p.h, rhos[sl, j, None, None])
                   for j, p in enumerate(self.parts)]
            bs = [QuadraticSSE.poly(p.b, rhos[sl, j, None]) for j, p in enumerate(self.parts)]
            prec, rhs, _, amat = self._system(np, hms, bs, sigma2s[sl], tau[sl], m0, s0)
            chol = np.linalg.cholesky(prec)
            y = np.linalg.solve(chol, rhs[..., None])[..., 0] + z[sl]
            x[sl] = np.linalg.solve(np.transpose(chol, (0, 2, 1)), y[..., None])[..., 0]
        mu_t = x[:, self.d:]
        gam = (x[:, :self.d] + mu_t @ amat.T) / self.gscale
        return gam, mu_t / self.mscale
