"""Region-level effects, spillover matrices and the posterior of a regional model.

Effects by region (LeSage & Pace 2009, ch. 2.7; LeSage & Chih 2016, Economics Letters
142:1-5 for heterogeneous coefficients) and the spillover matrix are defined in
:mod:`bayes_sdm.regional`; everything comes exactly from one eigendecomposition of W
(:class:`RegionalDecomposition`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..effects import EFFECTS, family_effects
from ..errors import InputError
from ..weights import SpatialWeights
from .data import PERSPECTIVES, scale_refs
from .model import RegionalModel, _mean_prior
from .regions import Regions


class RegionalDecomposition:
    """One eigendecomposition of W and the region aggregates built from it.

    With S_k = A (B_k + Theta_k W), A = (I - rho W)^{-1}, B_k = diag(beta_k(i)),
    Theta_k = diag(theta_k(i)) = sum_g theta_gk D_g, and W = V diag(lam) U (U = V^{-1}),
    A = V diag(f(rho)) U with f = 1 / (1 - rho lam).  For regions a, b, g (R the N x G
    indicator matrix, r_b its columns):

    * sum_{i in b} A_ii              = (R'P)_b f,          P_im = V_im U_mi;
    * sum_{i in b} (A D_g W)_ii      = (R'P_g)_b f,        P_g[i, m] = V_im (U D_g W)_mi;
    * r_b' A r_a                     = (R'V)_b diag(f) (U R)_a;
    * r_b' A D_g W r_a               = (R'V)_b diag(f) (U D_g W R)_a.

    Everything after the O(N^3) decomposition is O(N G^3) per draw.
    """

    def __init__(self, w: SpatialWeights, regs: Regions, cond_max: float = 1e8):
        m = w.matrix.toarray() if w.is_sparse else np.asarray(w.matrix, dtype=float)
        self.n = m.shape[0]
        self.regs = regs
        r = regs.indicator()
        self.r = r
        self.sizes = r.sum(axis=0)
        self.dense = None
        sym = w.symmetric_form()
        if sym is not None:
            sm = sym.toarray() if hasattr(sym, "toarray") else np.asarray(sym)
            lam, q = np.linalg.eigh(sm)
            sq = np.sqrt(w.sym_scale)
            v = q / sq[:, None]  # D^{-1/2} Q
            u = q.T * sq[None, :]  # Q' D^{1/2}
        else:
            lam, v = np.linalg.eig(m)
            cond = np.linalg.cond(v)
            if not np.isfinite(cond) or cond > cond_max:
                warnings.warn(f"W's eigenvectors are ill-conditioned (cond {cond:.2g}); "
                              "region effects use a dense solve per draw", stacklevel=2)
                self.dense = m
                return
            u = np.linalg.inv(v)
            if np.abs((v * lam) @ u - m).max() > 1e-8 * max(1.0, np.abs(m).max()):
                self.dense = m
                return
        self.lam = lam
        self.rp = r.T @ (v * u.T)  # (G, N)
        self.rv = r.T @ v  # (G, N)
        self.ur = u @ r  # (N, G)
        self.rpg = np.empty((regs.G, regs.G, self.n), dtype=v.dtype)  # [g, b, m]
        self.udwr = np.empty((regs.G, self.n, regs.G), dtype=v.dtype)  # [g, m, a]
        for g in range(regs.G):
            udw = (u * r[:, g][None, :]) @ m  # U D_g W
            self.rpg[g] = r.T @ (v * udw.T)
            self.udwr[g] = udw @ r

    def aggregates(self, rho: np.ndarray):
        """For draws rho (S,): dA (S, b), dAW (S, g, b) (sums over region b of the diagonals
        of A and A D_g W) and SA (S, b, a), SAW (S, g, b, a) (block sums r_b' A r_a and
        r_b' A D_g W r_a)."""
        rho = np.asarray(rho, dtype=float).reshape(-1)
        if self.dense is not None:
            return self._dense_aggregates(rho)
        f = 1.0 / (1.0 - rho[:, None] * self.lam[None, :])  # (S, N)
        d_a = np.real(f @ self.rp.T)
        d_aw = np.real(np.einsum("gbm,sm->sgb", self.rpg, f, optimize=True))
        s_a = np.real(np.einsum("bm,sm,ma->sba", self.rv, f, self.ur, optimize=True))
        s_aw = np.real(np.einsum("bm,sm,gma->sgba", self.rv, f, self.udwr, optimize=True))
        return d_a, d_aw, s_a, s_aw

    def _dense_aggregates(self, rho):
        m, r = self.dense, self.r
        n, g_count = m.shape[0], r.shape[1]
        d_a = np.empty((rho.size, g_count))
        d_aw = np.empty((rho.size, g_count, g_count))
        s_a = np.empty((rho.size, g_count, g_count))
        s_aw = np.empty((rho.size, g_count, g_count, g_count))
        for s, rs in enumerate(rho):
            a = np.linalg.inv(np.eye(n) - rs * m)
            d_a[s] = r.T @ np.diag(a)
            s_a[s] = r.T @ a @ r
            for g in range(g_count):
                adw = (a * r[:, g][None, :]) @ m
                d_aw[s, g] = r.T @ np.diag(adw)
                s_aw[s, g] = r.T @ adw @ r
        return d_a, d_aw, s_a, s_aw

    def effects(self, rho, beta, theta=None, perspective: str = "origin"):
        """Region effects and spillover matrices for draws.

        Parameters
        ----------
        rho : (S,) (zeros for SLX / error models: S_k = B_k + Theta_k W)
        beta, theta : (S, G, K) region coefficients (theta None for SAR / SEM)

        Returns
        -------
        effects : (S, G, 3, K) direct, indirect, total by region
        spill : (S, G_from, G_to, K), M[a -> b] = (1/N_b) sum_{i in b} sum_{j in a} S[i, j]
        """
        if perspective not in PERSPECTIVES:
            raise InputError(f"perspective must be one of {PERSPECTIVES}, got {perspective!r}")
        beta = np.asarray(beta, dtype=float)
        theta = np.zeros_like(beta) if theta is None else np.asarray(theta, dtype=float)
        d_a, d_aw, s_a, s_aw = self.aggregates(rho)
        n_b = self.sizes[None, :, None]
        direct = (beta * d_a[..., None] + np.einsum("sgk,sgb->sbk", theta, d_aw)) / n_b
        # block sums of S_k: [s, b, a, k] = beta_ak SA[b, a] + sum_g theta_gk SAW_g[b, a]
        blk = (beta[:, None, :, :] * s_a[..., None]
               + np.einsum("sgk,sgba->sbak", theta, s_aw, optimize=True))
        spill = np.transpose(blk / self.sizes[None, :, None, None], (0, 2, 1, 3))
        if perspective == "origin":
            total = blk.sum(axis=1) / n_b
        else:
            total = blk.sum(axis=2) / n_b
        return np.stack([direct, total - direct, total], axis=2), spill


def decomposition(data) -> RegionalDecomposition:
    """The eigendecomposition of the full W of a :class:`~bayes_sdm.regional.data.RegionalData`
    used for region-level effects (computed once, cached on it)."""
    if data._decomp is None:
        data._decomp = RegionalDecomposition(data.w, data.regions)
    return data._decomp


def dense_regional_effects(rho: float, beta_units: np.ndarray, theta_units: np.ndarray | None,
                           w: np.ndarray, index: np.ndarray, perspective: str = "origin"):
    """Brute-force region effects and spillovers from the dense
    S_k = (I - rho W)^{-1} (diag(beta_k) + diag(theta_k) W) (reference for tests; O(N^3)).

    beta_units, theta_units : (N, K) per-unit coefficients; index : (N,) region of each unit.
    Returns (effects (G, 3, K), spill (G_from, G_to, K)).
    """
    n = w.shape[0]
    g_count = int(index.max()) + 1
    beta_units = np.atleast_2d(beta_units)
    k = beta_units.shape[1]
    theta_units = np.zeros_like(beta_units) if theta_units is None else theta_units
    inv = np.linalg.inv(np.eye(n) - rho * w)
    eff = np.empty((g_count, 3, k))
    spill = np.empty((g_count, g_count, k))
    for kk in range(k):
        s = inv @ (np.diag(beta_units[:, kk]) + np.diag(theta_units[:, kk]) @ w)
        for a in range(g_count):
            ia = index == a
            d = np.diag(s)[ia].mean()
            t = s[:, ia].sum() / ia.sum() if perspective == "origin" else s[ia].sum() / ia.sum()
            eff[a, :, kk] = (d, t - d, t)
            for b in range(g_count):
                ib = index == b
                spill[a, b, kk] = s[np.ix_(ib, ia)].sum() / ib.sum()
    return eff, spill


def _draws(post: xr.Dataset, name: str, dims: tuple[str, ...]) -> np.ndarray | None:
    if name not in post:
        return None
    return post[name].transpose("chain", "draw", *dims).values


def regional_effects_draws(rm: RegionalModel, post: xr.Dataset, perspective: str = "origin"):
    """Region effects (chain, draw, region, effect, coef), overall effects (chain, draw,
    effect, coef) and, for the full W, spillovers (chain, draw, from_region, to_region, coef)."""
    regs, k = rm.regions, rm.panel.K
    family = rm.family
    sname = family.spatial
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    by_region = "region" in post["beta"].dims
    bdims = ("region", "coef") if by_region else ("coef",)
    beta = _draws(post, "beta", bdims)
    theta = _draws(post, "theta", bdims)
    if not by_region:
        beta = np.broadcast_to(beta[:, :, None, :], (nc, nd, regs.G, k))
        theta = None if theta is None else np.broadcast_to(theta[:, :, None, :],
                                                           (nc, nd, regs.G, k))
    rho = None
    if sname:
        rho = post[sname].values
        if rho.ndim == 2:
            rho = np.broadcast_to(rho[..., None], (nc, nd, regs.G))
        else:
            rho = post[sname].transpose("chain", "draw", "region").values
    spill = None
    if rm.regional_w == "block":
        eff = np.empty((nc, nd, regs.G, 3, k))
        for g, b in enumerate(rm.blocks):
            th = None if theta is None else theta[:, :, g]
            eff[:, :, g] = family_effects(family, rho[:, :, g] if family.lag else None,
                                          beta[:, :, g], th, b.logdet, b.w.row_standardized)
    else:
        dec = decomposition(rm.data if isinstance(rm, RegionalModel) else rm)
        r = (rho[:, :, 0] if family.lag else np.zeros((nc, nd))).reshape(-1)
        bb = beta.reshape(nc * nd, regs.G, k)
        tt = None if theta is None else theta.reshape(nc * nd, regs.G, k)
        eff_parts, sp_parts = [], []
        for lo in range(0, r.size, 1000):
            e, s = dec.effects(r[lo:lo + 1000], bb[lo:lo + 1000],
                               None if tt is None else tt[lo:lo + 1000], perspective)
            eff_parts.append(e)
            sp_parts.append(s)
        eff = np.concatenate(eff_parts).reshape(nc, nd, regs.G, 3, k)
        spill = np.concatenate(sp_parts).reshape(nc, nd, regs.G, regs.G, k)
    wts = regs.sizes / regs.sizes.sum()
    overall = np.einsum("cdgek,g->cdek", eff, wts)
    coords = {"chain": post["chain"].values, "draw": post["draw"].values,
              "region": list(regs.names), "effect": list(EFFECTS),
              "coef": list(rm.panel.x_names)}
    out = {
        "effects": xr.DataArray(eff, dims=("chain", "draw", "region", "effect", "coef"),
                                coords=coords),
        "effects_overall": xr.DataArray(overall, dims=("chain", "draw", "effect", "coef"),
                                        coords={c: coords[c] for c in
                                                ("chain", "draw", "effect", "coef")}),
    }
    if spill is not None:
        out["spillovers"] = xr.DataArray(
            spill, dims=("chain", "draw", "from_region", "to_region", "coef"),
            coords={"chain": coords["chain"], "draw": coords["draw"],
                    "from_region": list(regs.names), "to_region": list(regs.names),
                    "coef": list(rm.panel.x_names)})
    return out


def draw_collapsed(rm: RegionalModel, post: xr.Dataset, seed: int) -> xr.Dataset:
    """Add beta, theta (chain, draw, region, coef) and beta_mean, theta_mean (chain, draw,
    coef) to a collapsed model's posterior, drawn from their exact conditional normal."""
    rng = np.random.default_rng(seed)
    g_count, k = rm.regions.G, rm.panel.K
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    s = nc * nd
    sname = rm.spatial_name
    _, sx, swx = scale_refs(rm.pooled_stats)
    durbin = rm.family.durbin
    taus, m0s, s0s = [], [], []
    for name, prior, ref in (("beta", rm.priors.beta, sx), ("theta", rm.priors.theta, swx)):
        if name == "theta" and not durbin:
            continue
        if f"{name}_tau" in post:
            taus.append(post[f"{name}_tau"].transpose("chain", "draw", "coef").values
                        .reshape(s, k))
        else:
            taus.append(np.broadcast_to(rm.tau[name] * ref, (s, k)))
        m0, s0 = _mean_prior(prior, ref)
        m0s.append(m0)
        s0s.append(s0)
    tau = np.concatenate(taus, axis=1)
    m0 = None if s0s[0] is None else np.concatenate(m0s)
    s0 = None if s0s[0] is None else np.concatenate(s0s)
    if rm.regional_w == "block":
        rho = (post[sname].transpose("chain", "draw", "region").values.reshape(s, g_count)
               if sname else np.zeros((s, g_count)))
        sig2 = post["sigma2"].transpose("chain", "draw", "region").values.reshape(s, g_count)
    else:
        rho = (post[sname].values.reshape(s, 1) if sname else np.zeros((s, 1)))
        sig2 = post["sigma2"].values.reshape(s, 1)
    gam, mu = rm.collapsed.draw(rho, sig2, tau, m0, s0, rng)
    if rm.regional_w == "block":
        per = gam.reshape(s, g_count, -1)
        beta = per[:, :, :k]
        theta = per[:, :, k:] if durbin else None
    else:
        beta = gam[:, :g_count * k].reshape(s, g_count, k)
        theta = gam[:, g_count * k:].reshape(s, g_count, k) if durbin else None
    dims = ("chain", "draw", "region", "coef")
    coords = {"chain": post["chain"].values, "draw": post["draw"].values,
              "region": list(rm.regions.names), "coef": list(rm.panel.x_names)}
    mcoords = {c: coords[c] for c in ("chain", "draw", "coef")}
    post = post.copy()
    post["beta"] = xr.DataArray(beta.reshape(nc, nd, g_count, k), dims=dims, coords=coords)
    post["beta_mean"] = xr.DataArray(mu[:, :k].reshape(nc, nd, k),
                                     dims=("chain", "draw", "coef"), coords=mcoords)
    if durbin:
        post["theta"] = xr.DataArray(theta.reshape(nc, nd, g_count, k), dims=dims,
                                     coords=coords)
        post["theta_mean"] = xr.DataArray(mu[:, k:].reshape(nc, nd, k),
                                          dims=("chain", "draw", "coef"), coords=mcoords)
    return post



def stack_regions(idatas: dict, names: Sequence[str]):
    """Stack independent per-region fits along a ``region`` dimension."""
    idx = pd.Index(list(names), name="region")
    groups = {}
    for grp in ("posterior", "sample_stats"):
        dss = [idatas[n][grp].to_dataset() for n in names if grp in idatas[n].children]
        if len(dss) != len(names):
            continue
        ds = xr.concat(dss, dim=idx, coords="minimal", compat="override",
                       join="override", combine_attrs="drop_conflicts")
        order = ["chain", "draw", "region"]
        groups[grp] = ds.transpose(*order, ...)
    return xr.DataTree.from_dict({k: xr.DataTree(v) for k, v in groups.items()})



def finish_posterior(rm: RegionalModel, idata, seed: int, perspective: str = "origin"):
    """After sampling: the collapsed coefficients drawn from their exact conditional (partial
    pooling, ``marginalize``), then region effects, overall effects and (full W) spillovers
    added to the posterior; the model's attributes recorded.  Returns the DataTree."""
    if perspective not in PERSPECTIVES:
        raise InputError(f"perspective must be one of {PERSPECTIVES}, got {perspective!r}")
    post = idata["posterior"].to_dataset()
    if rm.marginalize:
        post = draw_collapsed(rm, post, seed + 1)
    for k, v in regional_effects_draws(rm, post, perspective).items():
        post[k] = v
    idata["posterior"] = xr.DataTree(post)
    idata.attrs.update(rm.attrs())
    idata.attrs["perspective"] = perspective
    return idata
